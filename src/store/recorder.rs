//! The recorder: turns a running [`Engine`] into [`StoreMsg`] batches for the [`StoreWriter`].
//! Files ([`super::ingest_file`]) and live capture use it the same way:
//!
//! ```text
//! let mut rec = Recorder::start(writer, &mut engine, capture_row, options);
//! for each frame: rec.process(frame, &packet, &mut engine);   // calls engine.process
//! at the end:     rec.finish(&mut engine, drops)?;
//! ```
//!
//! Packet time drives it, like the engine. When packet time enters a new second it sends the
//! flow records ended so far and the series points that changed — before the new frame goes
//! into the engine, so every interval is complete and none has left the engine's window yet. A
//! late packet that changes an old interval makes that point be sent again, and the writer's
//! upsert replaces it. Host-minute rows are counted here from each packet, per (minute,
//! address), and sent when packet time enters a new minute: exact per minute, and independent
//! of the engine's host-table evictions. Names and the local flag come from the engine's host
//! table when the minute is sent.

use std::net::IpAddr;

use hashbrown::HashMap;
use wire::Packet;

use super::writer::{
    AlertRow, CaptureEnd, CaptureRow, HostMinute, PacketRow, Resolution, StoreMsg, StoreWriter,
    WriterSummary,
};
use super::StoreError;
use crate::capture::Frame;
use crate::engine::series::{Point, Ring};
use crate::engine::Engine;
use crate::time::Timestamp;
use crate::ui::console::report::Drops;

/// Rows per batch: large enough that a transaction's fixed cost is amortised, small enough
/// that a dropped batch loses little and a batch is ready several times per second.
pub const BATCH: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
pub struct RecorderOptions {
    /// One `packets` row per frame (`--store-packets`).
    pub store_packets: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct HostCounts {
    packets_in: u64,
    bytes_in: u64,
    packets_out: u64,
    bytes_out: u64,
}

pub struct Recorder {
    writer: StoreWriter,
    store_packets: bool,
    packets: Vec<PacketRow>,
    /// Packet-time second and minute of the newest frame seen.
    second: Option<i64>,
    minute: Option<i64>,
    /// Frames since records were last taken from the engine.
    since_take: usize,
    /// The last version of each series point sent, per resolution, to send only changes.
    sent: [HashMap<i64, Point>; 2],
    /// Host counters of the minutes not yet sent.
    hosts: HashMap<(i64, IpAddr), HostCounts>,
}

impl Recorder {
    /// Starts recording a run: asks the engine to keep its flow records for us and writes the
    /// run's `captures` row.
    pub fn start(
        writer: StoreWriter,
        engine: &mut Engine,
        capture: CaptureRow,
        options: RecorderOptions,
    ) -> Recorder {
        engine.keep_records();
        writer.send(StoreMsg::CaptureStart(capture));
        Recorder {
            writer,
            store_packets: options.store_packets,
            packets: Vec::new(),
            second: None,
            minute: None,
            since_take: 0,
            sent: [HashMap::new(), HashMap::new()],
            hosts: HashMap::new(),
        }
    }

    /// Accounts one frame in the engine ([`Engine::process`]) and records it. Use this instead
    /// of calling `engine.process` directly: what the engine is about to forget has to be sent
    /// first. When packet time enters a new second, the engine's series rings drop the
    /// intervals that leave their window — after a jump in time (captures do jump), that
    /// includes the interval that just ended — so the changed points are sent before the frame
    /// goes in, while they are complete and still there.
    pub fn process(&mut self, frame: &Frame<'_>, packet: &Packet<'_>, engine: &mut Engine) {
        let sec = frame.ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
        let minute = sec.div_euclid(60) * 60;
        if self.second.is_some_and(|s| sec > s) {
            self.take_records(engine);
            self.send_series(Resolution::Second, &engine.series.per_second);
            if self.minute.is_some_and(|m| minute > m) {
                self.send_series(Resolution::Minute, &engine.series.per_minute);
                self.send_hosts(engine);
            }
        }
        if self.second.is_none_or(|s| sec > s) {
            self.second = Some(sec);
            self.minute = Some(minute);
        }
        engine.process(frame, packet);
        if let Some(ip) = packet.ip() {
            let bytes = u64::from(frame.orig_len);
            let out = self.hosts.entry((minute, ip.src)).or_default();
            out.packets_out += 1;
            out.bytes_out = out.bytes_out.saturating_add(bytes);
            let inc = self.hosts.entry((minute, ip.dst)).or_default();
            inc.packets_in += 1;
            inc.bytes_in = inc.bytes_in.saturating_add(bytes);
        }
        if self.store_packets {
            self.packets.push(PacketRow::new(frame, packet));
            if self.packets.len() >= BATCH {
                let batch = std::mem::replace(&mut self.packets, Vec::with_capacity(BATCH));
                self.writer.send(StoreMsg::Packets(batch));
            }
        }
        // A burst of ended flows within one second (a scan, a flood) must not pile up.
        self.since_take += 1;
        if self.since_take >= BATCH {
            self.take_records(engine);
        }
    }

    /// Ends the run: flushes the engine (ending every open flow, as at the end of a file or on
    /// Ctrl-C; calling [`Engine::finish`] before is fine too), sends everything still held,
    /// closes the `captures` row and waits for the writer to commit it all.
    pub fn finish(
        mut self,
        engine: &mut Engine,
        drops: Drops,
    ) -> Result<WriterSummary, StoreError> {
        while engine.finish_some(BATCH) {
            self.take_records(engine);
        }
        self.take_records(engine);
        if !self.packets.is_empty() {
            let batch = std::mem::take(&mut self.packets);
            self.writer.send(StoreMsg::Packets(batch));
        }
        self.send_series(Resolution::Second, &engine.series.per_second);
        self.send_series(Resolution::Minute, &engine.series.per_minute);
        self.send_hosts(engine);
        let stats = &engine.stats;
        self.writer.send(StoreMsg::CaptureEnd(CaptureEnd {
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
            packets: stats.total.packets,
            bytes: stats.total.bytes,
            drops,
        }));
        self.writer.finish()
    }

    /// Writes `alerts` to the `alerts` table, one row per merged alert (its count and last
    /// time in the row), in batches.
    pub fn record_alerts(&self, alerts: &[crate::alerts::Alert]) {
        for chunk in alerts.chunks(BATCH) {
            let rows = chunk
                .iter()
                .map(|a| {
                    let mut evidence = a.evidence.clone();
                    if let serde_json::Value::Object(m) = &mut evidence {
                        m.insert("kind".into(), a.kind.into());
                        m.insert("last_ts".into(), a.last_ts.as_secs_f64().into());
                    }
                    AlertRow {
                        ts: a.first_ts,
                        detector: a.detector.to_string(),
                        severity: a.severity.as_str().to_string(),
                        src: a.src.clone(),
                        dst: a.dst.clone(),
                        summary: a.summary.clone(),
                        count: a.count,
                        evidence,
                    }
                })
                .collect();
            self.writer.send(StoreMsg::Alerts(rows));
        }
    }

    /// Rows dropped so far because the writer fell behind (for live statistics).
    pub fn dropped_rows(&self) -> u64 {
        self.writer.dropped_rows()
    }

    fn take_records(&mut self, engine: &mut Engine) {
        self.since_take = 0;
        self.send_records(engine.take_records());
    }

    /// Stores records another output took from the engine first (`--jsonl` streams them too).
    pub fn send_records(&mut self, records: Vec<crate::engine::flow::FlowRecord>) {
        if !records.is_empty() {
            self.writer.send(StoreMsg::Flows(records));
        }
    }

    /// Sends the points of `ring` that changed since they were last sent.
    fn send_series(&mut self, resolution: Resolution, ring: &Ring) {
        let sent = match resolution {
            Resolution::Second => &mut self.sent[0],
            Resolution::Minute => &mut self.sent[1],
        };
        let mut changed = Vec::new();
        let mut oldest = None;
        for p in ring.points() {
            oldest.get_or_insert(p.t);
            if sent.get(&p.t) != Some(p) {
                sent.insert(p.t, *p);
                changed.push(*p);
            }
        }
        // Points that left the ring can no longer change.
        if let Some(oldest) = oldest {
            sent.retain(|t, _| *t >= oldest);
        }
        for points in changed.chunks(BATCH) {
            self.writer.send(StoreMsg::Series {
                resolution,
                points: points.to_vec(),
            });
        }
    }

    /// Sends every host-minute counted so far.
    fn send_hosts(&mut self, engine: &Engine) {
        let mut batch = Vec::with_capacity(self.hosts.len().min(BATCH));
        for ((minute, ip), c) in self.hosts.drain() {
            let names = engine.hosts.names(&ip);
            batch.push(HostMinute {
                minute,
                ip,
                packets_in: c.packets_in,
                bytes_in: c.bytes_in,
                packets_out: c.packets_out,
                bytes_out: c.bytes_out,
                names: (!names.is_empty()).then(|| names.join(",")),
                local: engine.hosts.is_local(&ip),
            });
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                self.writer.send(StoreMsg::Hosts(full));
            }
        }
        if !batch.is_empty() {
            self.writer.send(StoreMsg::Hosts(batch));
        }
    }
}
