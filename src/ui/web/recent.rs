//! The last decoded packets as compact log lines (no colors), for the recent-packets table.
//!
//! A fixed ring whose strings are reused: once warm, recording a packet allocates nothing, so
//! keeping the ring costs the capture path one formatted line per packet and no more.

use std::collections::VecDeque;

use wire::packet::Stop;
use wire::Packet;

use crate::capture::Frame;
use crate::engine::snapshot::PacketLine;
use crate::ui::console::fragments::{app, endpoints, hint, proto_label};
use crate::ui::console::style::Palette;

/// Lines kept: enough to fill the table and filter it, small enough to send every second.
pub const KEPT: usize = 200;

pub struct RecentPackets {
    lines: VecDeque<PacketLine>,
    /// Reused for formatting: the fragments write bytes.
    buf: Vec<u8>,
    palette: Palette,
}

impl Default for RecentPackets {
    fn default() -> Self {
        RecentPackets {
            lines: VecDeque::with_capacity(KEPT),
            buf: Vec::with_capacity(256),
            palette: Palette::new(false),
        }
    }
}

impl RecentPackets {
    pub fn push(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) {
        let p = self.palette;
        self.buf.clear();
        // Writing into a Vec cannot fail; a failure would only shorten the line.
        let _ = endpoints(&mut self.buf, packet, &p, true)
            .and_then(|()| hint(&mut self.buf, packet, &p))
            .and_then(|()| app(&mut self.buf, &packet.app, &p));
        match packet.stop {
            Some(Stop::Truncated(_)) => self.buf.extend_from_slice(b" [truncated]"),
            Some(Stop::Malformed(_)) => self.buf.extend_from_slice(b" [malformed]"),
            None => {}
        }
        let mut line = if self.lines.len() >= KEPT {
            self.lines.pop_front().unwrap_or_else(empty_line)
        } else {
            empty_line()
        };
        line.ts = frame.ts.as_secs_f64();
        line.proto = proto_label(packet, &p).0;
        line.len = frame.orig_len;
        line.summary.clear();
        line.summary
            .push_str(String::from_utf8_lossy(&self.buf).trim_start());
        self.lines.push_back(line);
    }

    /// A copy of the ring, oldest first.
    pub fn lines(&self) -> Vec<PacketLine> {
        self.lines.iter().cloned().collect()
    }
}

fn empty_line() -> PacketLine {
    PacketLine {
        ts: 0.0,
        proto: "",
        len: 0,
        summary: String::new(),
    }
}
