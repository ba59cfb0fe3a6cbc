//! Recording a run to the history database.
//!
//! - [`Recording`] is the run: it owns the [`StoreWriter`], writes the run's `captures` row
//!   when it starts and completes it (totals, drops) when it ends, and stores the alerts.
//! - [`Recorder`] turns one running [`Engine`] into [`StoreMsg`] batches. A run has one per
//!   engine: one, or one per `--workers` shard, each on its shard's thread. What a recorder
//!   sends adds to what the others sent (flows, host-minutes, and series points, which are
//!   sent as changes), so the shards' rows need no merging before they reach the database.
//!
//! Files ([`super::ingest_file`]) and live capture use them the same way:
//!
//! ```text
//! let run = Recording::start(writer, capture_row);
//! let mut rec = Recorder::start(sender, &mut engine, options);
//! for each frame: rec.process(frame, &packet, &mut engine);   // calls engine.process
//! at the end:     rec.flush(&mut engine); run.finish(&engine.stats, drops)?;
//! ```
//!
//! Packet time drives it, like the engine. When packet time enters a new second it sends the
//! flow records ended so far and the series points that changed — before the new frame goes
//! into the engine, so every interval is complete and none has left the engine's window yet. A
//! late packet that changes an old interval makes that point's change be sent, which the
//! writer adds to the row. Host-minute rows are counted here from each packet, per (minute,
//! address), and sent when packet time enters a new minute: exact per minute, and independent
//! of the engine's host-table evictions. Names and the local flag come from the engine's host
//! table when the minute is sent.

use std::net::IpAddr;

use hashbrown::HashMap;
use wire::Packet;

use super::writer::{
    AlertRow, CaptureEnd, CaptureRow, HostMinute, PacketRow, Resolution, StoreMsg, StoreSender,
    StoreWriter, WriterSummary,
};
use super::StoreError;
use crate::capture::Frame;
use crate::engine::flow::FlowRecord;
use crate::engine::hosts::Hosts;
use crate::engine::series::{Point, Ring};
use crate::engine::stats::Stats;
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

/// A run being recorded: the writer and the run's `captures` row.
pub struct Recording {
    writer: StoreWriter,
}

impl Recording {
    /// Writes the run's `captures` row; rows sent from now on belong to this run.
    pub fn start(writer: StoreWriter, capture: CaptureRow) -> Recording {
        writer.send(StoreMsg::CaptureStart(capture));
        Recording { writer }
    }

    /// A handle for a [`Recorder`].
    pub fn sender(&self) -> StoreSender {
        self.writer.sender()
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

    /// Gives every `hosts` row of the run the names `hosts` knows for its address. A sharded
    /// run calls this with the merged engine's table: a shard knows only the names it saw, and
    /// a DNS answer and the traffic it names are often in different shards.
    pub fn name_all_rows(&self, hosts: &Hosts) {
        let named: Vec<(IpAddr, String)> = hosts
            .named()
            .filter(|(_, names)| !names.is_empty())
            .map(|(ip, names)| (*ip, names.join(",")))
            .collect();
        for chunk in named.chunks(BATCH) {
            self.writer.send(StoreMsg::Names(chunk.to_vec()));
        }
    }

    /// Ends the run: completes the `captures` row with the totals of `stats` (all engines'
    /// merged) and waits for the writer to commit everything. Every [`Recorder`] of the run
    /// must have been flushed first.
    pub fn finish(self, stats: &Stats, drops: Drops) -> Result<WriterSummary, StoreError> {
        self.writer.send(StoreMsg::CaptureEnd(CaptureEnd {
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
            packets: stats.total.packets,
            bytes: stats.total.bytes,
            drops,
        }));
        self.writer.finish()
    }
}

pub struct Recorder {
    out: StoreSender,
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
    /// Where records also go (a shard's records, streamed as JSON lines by the dispatcher).
    forward: Option<crossbeam_channel::Sender<Vec<FlowRecord>>>,
}

impl Recorder {
    /// Starts recording `engine` through `out`; the engine keeps its flow records for us.
    pub fn start(out: StoreSender, engine: &mut Engine, options: RecorderOptions) -> Recorder {
        engine.keep_records();
        Recorder {
            out,
            store_packets: options.store_packets,
            packets: Vec::new(),
            second: None,
            minute: None,
            since_take: 0,
            sent: [HashMap::new(), HashMap::new()],
            hosts: HashMap::new(),
            forward: None,
        }
    }

    /// Also hands every batch of records taken from the engine to `to`.
    pub fn forwarding(mut self, to: crossbeam_channel::Sender<Vec<FlowRecord>>) -> Recorder {
        self.forward = Some(to);
        self
    }

    /// Accounts one frame in the engine ([`Engine::process`]) and records it. Use this instead
    /// of calling `engine.process` directly: what the engine is about to forget has to be sent
    /// first (see [`Recorder::on_time`]).
    pub fn process(&mut self, frame: &Frame<'_>, packet: &Packet<'_>, engine: &mut Engine) {
        self.on_time(frame.ts, engine);
        engine.process(frame, packet);
        self.count(frame, packet, engine);
    }

    /// Packet time reached `ts`. When that is a new second, the engine's series rings are
    /// about to drop the intervals that leave their window — after a jump in time (captures
    /// do jump), that includes the interval that just ended — so the changed points are sent
    /// now, while they are complete and still there, with the records ended so far. A shard
    /// calls this on each tick, before [`Engine::tick`].
    pub fn on_time(&mut self, ts: Timestamp, engine: &mut Engine) {
        let sec = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
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
    }

    /// Records a frame the engine has just accounted: its host-minutes and its packet row.
    pub fn count(&mut self, frame: &Frame<'_>, packet: &Packet<'_>, engine: &mut Engine) {
        // The frame's own minute: a late frame counts in the minute it was captured in.
        let minute = frame.ts.0.div_euclid(Timestamp::NANOS_PER_SEC * 60) * 60;
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
                self.out.send(StoreMsg::Packets(batch));
            }
        }
        // A burst of ended flows within one second (a scan, a flood) must not pile up.
        self.since_take += 1;
        if self.since_take >= BATCH {
            self.take_records(engine);
        }
    }

    /// Ends recording this engine: ends every open flow (as at the end of a file or on
    /// Ctrl-C; calling [`Engine::finish`] before is fine too) and sends everything still held.
    pub fn flush(mut self, engine: &mut Engine) {
        while engine.finish_some(BATCH) {
            self.take_records(engine);
        }
        self.take_records(engine);
        if !self.packets.is_empty() {
            let batch = std::mem::take(&mut self.packets);
            self.out.send(StoreMsg::Packets(batch));
        }
        self.send_series(Resolution::Second, &engine.series.per_second);
        self.send_series(Resolution::Minute, &engine.series.per_minute);
        self.send_hosts(engine);
    }

    fn take_records(&mut self, engine: &mut Engine) {
        self.since_take = 0;
        let records = engine.take_records();
        if let Some(to) = &self.forward {
            if !records.is_empty() {
                let _ = to.send(records.clone());
            }
        }
        self.send_records(records);
    }

    /// Stores records another output took from the engine first (`--jsonl` streams them too).
    pub fn send_records(&mut self, records: Vec<FlowRecord>) {
        if !records.is_empty() {
            self.out.send(StoreMsg::Flows(records));
        }
    }

    /// Sends what each point of `ring` gained since it was last sent: the writer adds it to
    /// the row, which then holds the sum over every recorder of the run.
    fn send_series(&mut self, resolution: Resolution, ring: &Ring) {
        let sent = match resolution {
            Resolution::Second => &mut self.sent[0],
            Resolution::Minute => &mut self.sent[1],
        };
        let mut changed = Vec::new();
        let mut oldest = None;
        for p in ring.points() {
            oldest.get_or_insert(p.t);
            let before = sent.get(&p.t).copied().unwrap_or_default();
            if before != *p {
                sent.insert(p.t, *p);
                changed.push(p.since(&before));
            }
        }
        // Points that left the ring can no longer change.
        if let Some(oldest) = oldest {
            sent.retain(|t, _| *t >= oldest);
        }
        for points in changed.chunks(BATCH) {
            self.out.send(StoreMsg::Series {
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
                self.out.send(StoreMsg::Hosts(full));
            }
        }
        if !batch.is_empty() {
            self.out.send(StoreMsg::Hosts(batch));
        }
    }
}
