//! The last decoded packets as compact log lines (no colors), for the recent-packets table.
//!
//! The ring keeps the last frames' bytes, not their text: copying a frame into a reused buffer
//! costs the capture path far less than formatting a line, and only the few frames still in
//! the ring at a publication are decoded and formatted, once a second.

use std::collections::VecDeque;

use wire::packet::Stop;
use wire::LinkType;

use crate::capture::Frame;
use crate::engine::snapshot::PacketLine;
use crate::time::Timestamp;
use crate::ui::console::fragments::{app, endpoints, hint, proto_label};
use crate::ui::console::style::Palette;

/// Lines kept: enough to fill the table and filter it, small enough to send every second.
pub const KEPT: usize = 200;

/// One kept frame; its buffer is reused when the ring wraps.
struct Kept {
    ts: Timestamp,
    orig_len: u32,
    link: LinkType,
    data: Vec<u8>,
}

#[derive(Default)]
pub struct RecentPackets {
    frames: VecDeque<Kept>,
}

impl RecentPackets {
    pub fn push(&mut self, frame: &Frame<'_>) {
        let mut kept = if self.frames.len() >= KEPT {
            self.frames.pop_front()
        } else {
            None
        }
        .unwrap_or_else(|| Kept {
            ts: frame.ts,
            orig_len: 0,
            link: frame.link,
            data: Vec::new(),
        });
        kept.ts = frame.ts;
        kept.orig_len = frame.orig_len;
        kept.link = frame.link;
        kept.data.clear();
        kept.data.extend_from_slice(frame.data);
        self.frames.push_back(kept);
    }

    /// The kept frames as log lines, oldest first.
    pub fn lines(&self) -> Vec<PacketLine> {
        let p = Palette::new(false);
        let mut buf = Vec::with_capacity(256);
        self.frames
            .iter()
            .map(|k| {
                let packet = wire::decode(k.link, &k.data);
                buf.clear();
                // Writing into a Vec cannot fail; a failure would only shorten the line.
                let _ = endpoints(&mut buf, &packet, &p, true)
                    .and_then(|()| hint(&mut buf, &packet, &p))
                    .and_then(|()| app(&mut buf, &packet.app, &p));
                match packet.stop {
                    Some(Stop::Truncated(_)) => buf.extend_from_slice(b" [truncated]"),
                    Some(Stop::Malformed(_)) => buf.extend_from_slice(b" [malformed]"),
                    None => {}
                }
                PacketLine {
                    ts: k.ts.as_secs_f64(),
                    proto: proto_label(&packet, &p).0,
                    len: k.orig_len,
                    summary: String::from_utf8_lossy(&buf).trim_start().to_string(),
                }
            })
            .collect()
    }
}
