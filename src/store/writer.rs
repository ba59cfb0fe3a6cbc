//! The store writer: one thread that owns the database connection and commits the rows it
//! receives, in batches, over a bounded channel.
//!
//! Capture must never wait for the disk: in [`Backpressure::Drop`] mode (live capture) a full
//! channel drops the batch and counts its rows. Files have no real-time source to lose, so
//! [`Backpressure::Block`] waits instead and nothing is dropped. Each received batch — plus any
//! others already queued, up to [`COALESCE`] — is committed in one transaction, which is what
//! makes SQLite fast (one WAL append per commit instead of per row). Retention runs in the same
//! thread between batches, so there is only ever one writing connection.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;
use wire::packet::{Net, TcpFlags, Transport};
use wire::services::{self, L4};
use wire::Packet;

use super::{open_writer, retention, StoreError, WriterLock};
use crate::capture::Frame;
use crate::engine::flow::{EndReason, FlowRecord, TcpState};
use crate::engine::series::Point;
use crate::time::Timestamp;
use crate::ui::console::fragments::ip_proto_name;
use crate::ui::console::put;
use crate::ui::console::report::Drops;

/// Batches waiting in the channel. With batches of a few thousand rows this is a few seconds of
/// a busy link: enough to ride out a slow commit, small enough to bound memory.
pub const QUEUE: usize = 64;
/// Most queued batches merged into one transaction (bounds the time one commit holds the lock).
pub const COALESCE: usize = 32;
/// How often retention runs, by the wall clock (deleting is cheap but not free).
pub const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// Rows retention deletes per table and round, so a large backlog never stalls writing.
pub const RETENTION_CHUNK: usize = 10_000;

/// Series resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Second,
    Minute,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Second => "second",
            Resolution::Minute => "minute",
        }
    }

    pub fn step(self) -> i64 {
        match self {
            Resolution::Second => 1,
            Resolution::Minute => 60,
        }
    }
}

/// One packet summary (`--store-packets`). Plain owned data: addresses stay binary here and
/// become text in the writer thread, so the capture side formats nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRow {
    pub ts: Timestamp,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub protocol: &'static str,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Length on the wire.
    pub length: u32,
    /// TCP flags.
    pub flags: Option<u8>,
    /// What the payload was recognised as (`dns`, `http`, `tls`, `ftp`, `ssh`).
    pub app: Option<&'static str>,
}

impl PacketRow {
    pub fn new(frame: &Frame<'_>, packet: &Packet<'_>) -> Self {
        let (src, dst) = match &packet.net {
            Net::Ipv4(ip) | Net::Ipv6(ip) => (Some(ip.src), Some(ip.dst)),
            Net::Arp(arp) => (
                Some(IpAddr::V4(arp.sender_ip)),
                Some(IpAddr::V4(arp.target_ip)),
            ),
            _ => (None, None),
        };
        let (src_port, dst_port) = packet.ports().unzip();
        let flags = match packet.transport {
            Transport::Tcp(t) => Some(t.flags.0),
            _ => None,
        };
        PacketRow {
            ts: frame.ts,
            src,
            dst,
            protocol: protocol_name(packet),
            src_port,
            dst_port,
            length: frame.orig_len,
            flags,
            app: packet.app.name(),
        }
    }
}

/// The transport of a packet, else its network layer: the protocol column of `packets`.
fn protocol_name(packet: &Packet<'_>) -> &'static str {
    match packet.transport {
        Transport::Tcp(_) => "TCP",
        Transport::Udp(_) => "UDP",
        Transport::Icmp(_) => "ICMP",
        Transport::Icmpv6(_) => "ICMP6",
        Transport::None => match packet.net {
            Net::Ipv4(ip) | Net::Ipv6(ip) => ip_proto_name(ip.protocol),
            Net::BadIp { claimed: 6, .. } => "IPv6",
            Net::BadIp { .. } => "IPv4",
            Net::Arp(_) | Net::Other { ethertype: 0x0806 } => "ARP",
            Net::Other { .. } => "ETHER",
            Net::None => "LINK",
        },
    }
}

/// One host's traffic in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMinute {
    /// Minute start, seconds since the epoch.
    pub minute: i64,
    pub ip: IpAddr,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Names learned passively so far, comma-separated.
    pub names: Option<String>,
    pub local: bool,
}

/// One alert (the detectors fill these).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub ts: Timestamp,
    pub detector: String,
    pub severity: String,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub summary: String,
    pub count: u64,
    pub evidence: serde_json::Value,
}

/// The start of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureRow {
    /// The file path, or `live: eth0, wlan0`.
    pub source: String,
    pub filter: Option<String>,
    /// Interface names by [`crate::capture::IfaceId`] (live capture); empty for files.
    pub interfaces: Vec<String>,
}

/// The end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CaptureEnd {
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub packets: u64,
    pub bytes: u64,
    pub drops: Drops,
}

/// What the writer thread is sent. Rows arriving before any `CaptureStart` are filed under
/// capture 0.
#[derive(Debug)]
pub enum StoreMsg {
    Flows(Vec<FlowRecord>),
    Packets(Vec<PacketRow>),
    /// Points add to the row of the same interval: a recorder sends what an interval gained
    /// since it last sent it, and every shard of a run sends its own share.
    Series {
        resolution: Resolution,
        points: Vec<Point>,
    },
    /// Rows for the same (minute, host) add up.
    Hosts(Vec<HostMinute>),
    Alerts(Vec<AlertRow>),
    /// Names (comma-separated) for every `hosts` row of the run with that address: a sharded
    /// run's rows were sent with their own shard's names only.
    Names(Vec<(IpAddr, String)>),
    CaptureStart(CaptureRow),
    CaptureEnd(CaptureEnd),
}

impl StoreMsg {
    fn rows(&self) -> u64 {
        (match self {
            StoreMsg::Flows(v) => v.len(),
            StoreMsg::Packets(v) => v.len(),
            StoreMsg::Series { points, .. } => points.len(),
            StoreMsg::Hosts(v) => v.len(),
            StoreMsg::Alerts(v) => v.len(),
            StoreMsg::Names(v) => v.len(),
            StoreMsg::CaptureStart(_) | StoreMsg::CaptureEnd(_) => 1,
        }) as u64
    }
}

/// What to do when the writer falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Drop the batch and count its rows (live capture: never block capture).
    #[default]
    Drop,
    /// Wait (files: there is nothing to lose by waiting).
    Block,
}

#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub backpressure: Backpressure,
    /// Delete rows older than this before the newest stored traffic (`--retention`).
    pub retention: Option<Duration>,
    /// How often retention runs.
    pub retention_every: Duration,
    /// Channel capacity in batches.
    pub queue: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            backpressure: Backpressure::Drop,
            retention: None,
            retention_every: RETENTION_EVERY,
            queue: QUEUE,
        }
    }
}

/// Rows written, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub captures: u64,
    pub flows: u64,
    pub packets: u64,
    /// Series points written (an interval sent again as it filled counts each time).
    pub traffic: u64,
    pub hosts: u64,
    pub alerts: u64,
    /// Rows deleted by retention.
    pub expired: u64,
}

/// What the writer did, returned by [`StoreWriter::finish`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriterSummary {
    pub rows: RowCounts,
    /// Rows (and batches) dropped because the writer fell behind.
    pub dropped_rows: u64,
    pub dropped_batches: u64,
}

#[derive(Debug, Default)]
struct DropCounter {
    rows: AtomicU64,
    batches: AtomicU64,
}

/// The writer: owns one thread and the channel to it. Dropping it without [`finish`] still
/// drains and joins, so no accepted row is lost.
///
/// [`finish`]: StoreWriter::finish
pub struct StoreWriter {
    /// Replaced by a handle on a dead channel when the writer is joined, which closes ours.
    tx: StoreSender,
    thread: Option<JoinHandle<Result<RowCounts, String>>>,
    path: PathBuf,
    // Released after the thread is joined (field order: dropped last).
    _lock: WriterLock,
}

impl StoreWriter {
    /// Opens `path` for writing (see [`super::open_writer`]) and starts the writer thread.
    pub fn open(path: &Path, options: WriterOptions) -> Result<StoreWriter, StoreError> {
        let (conn, lock) = open_writer(path)?;
        let (tx, rx) = crossbeam_channel::bounded(options.queue.max(1));
        let dropped = Arc::new(DropCounter::default());
        let mut thread = WriterThread {
            conn,
            capture_id: 0,
            interfaces: Vec::new(),
            counts: RowCounts::default(),
            dropped: Arc::clone(&dropped),
            newest: None,
            retention: options.retention,
            retention_every: options.retention_every,
        };
        thread.newest = thread.stored_newest();
        let handle = std::thread::Builder::new()
            .name("netlens-store".into())
            .spawn(move || thread.run(rx))
            .map_err(|e| StoreError::Write {
                path: path.display().to_string(),
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(StoreWriter {
            tx: StoreSender {
                tx,
                dropped,
                backpressure: options.backpressure,
            },
            thread: Some(handle),
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Hands a batch to the writer (see [`StoreSender::send`]).
    pub fn send(&self, msg: StoreMsg) -> bool {
        self.tx.send(msg)
    }

    /// Another handle on the channel, for threads that record their own share of a run (the
    /// `--workers` shards). Every handle must be dropped before [`StoreWriter::finish`] can
    /// return.
    pub fn sender(&self) -> StoreSender {
        self.tx.clone()
    }

    /// Rows dropped so far.
    pub fn dropped_rows(&self) -> u64 {
        self.tx.dropped_rows()
    }

    /// Closes the channel, waits until every queued batch is committed, and returns the counts.
    pub fn finish(mut self) -> Result<WriterSummary, StoreError> {
        self.join()
    }

    fn join(&mut self) -> Result<WriterSummary, StoreError> {
        let dead = StoreSender {
            tx: crossbeam_channel::bounded(0).0,
            dropped: Arc::new(DropCounter::default()),
            backpressure: self.tx.backpressure,
        };
        let dropped = std::mem::replace(&mut self.tx, dead).dropped;
        let path = self.path.display().to_string();
        let rows = match self.thread.take() {
            None => RowCounts::default(),
            Some(handle) => match handle.join() {
                Ok(Ok(rows)) => rows,
                Ok(Err(message)) => return Err(StoreError::Write { path, message }),
                Err(_) => return Err(StoreError::WriterPanicked { path }),
            },
        };
        Ok(WriterSummary {
            rows,
            dropped_rows: dropped.rows.load(Ordering::Relaxed),
            dropped_batches: dropped.batches.load(Ordering::Relaxed),
        })
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

/// A handle on the writer's channel. Cloned for each thread that sends rows.
#[derive(Clone)]
pub struct StoreSender {
    tx: Sender<StoreMsg>,
    dropped: Arc<DropCounter>,
    backpressure: Backpressure,
}

impl StoreSender {
    /// Hands a batch to the writer. In `Drop` mode a full channel drops it (counted) and this
    /// returns false; in `Block` mode it waits. Empty batches are not sent.
    pub fn send(&self, msg: StoreMsg) -> bool {
        let rows = msg.rows();
        if rows == 0 {
            return true;
        }
        let tx = &self.tx;
        let control = matches!(
            msg,
            StoreMsg::CaptureStart(_) | StoreMsg::CaptureEnd(_) | StoreMsg::Names(_)
        );
        let sent = if self.backpressure == Backpressure::Block || control {
            // Run boundaries are two rows per run and say what the data belongs to, and names
            // come once, after capture has stopped: wait.
            tx.send(msg).is_ok()
        } else {
            match tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            }
        };
        if !sent {
            self.dropped.rows.fetch_add(rows, Ordering::Relaxed);
            self.dropped.batches.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Rows dropped so far, by every handle.
    pub fn dropped_rows(&self) -> u64 {
        self.dropped.rows.load(Ordering::Relaxed)
    }
}

struct WriterThread {
    conn: Connection,
    capture_id: i64,
    interfaces: Vec<String>,
    counts: RowCounts,
    dropped: Arc<DropCounter>,
    /// Newest packet time stored, in seconds: "now" for retention (packet time, like
    /// everything else, so a replayed file keeps its own history).
    newest: Option<f64>,
    retention: Option<Duration>,
    retention_every: Duration,
}

impl WriterThread {
    fn run(mut self, rx: Receiver<StoreMsg>) -> Result<RowCounts, String> {
        let mut first_error: Option<String> = None;
        let mut last_sweep: Option<Instant> = None;
        let mut batch = Vec::with_capacity(COALESCE);
        loop {
            let wait = self.retention_every.min(Duration::from_secs(1));
            let done = match rx.recv_timeout(wait) {
                Ok(msg) => {
                    batch.push(msg);
                    while batch.len() < COALESCE {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    false
                }
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => true,
            };
            if !batch.is_empty() {
                if first_error.is_some() {
                    // After a failure (disk full...) keep draining so capture never blocks,
                    // and count what could not be written.
                    for m in batch.drain(..) {
                        self.dropped.rows.fetch_add(m.rows(), Ordering::Relaxed);
                        self.dropped.batches.fetch_add(1, Ordering::Relaxed);
                    }
                } else if let Err(e) = self.write(&batch) {
                    first_error = Some(e.to_string());
                    for m in batch.drain(..) {
                        self.dropped.rows.fetch_add(m.rows(), Ordering::Relaxed);
                        self.dropped.batches.fetch_add(1, Ordering::Relaxed);
                    }
                }
                batch.clear();
            }
            let due = last_sweep.is_none_or(|t| t.elapsed() >= self.retention_every);
            if first_error.is_none() && (due || done) {
                last_sweep = Some(Instant::now());
                // At the end, sweep until nothing is left; between batches, one chunk per table.
                if let Err(e) = self.sweep(done) {
                    first_error = Some(format!("retention: {e}"));
                }
            }
            if done {
                break;
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.counts),
        }
    }

    fn sweep(&mut self, until_done: bool) -> rusqlite::Result<()> {
        let (Some(window), Some(newest)) = (self.retention, self.newest) else {
            return Ok(());
        };
        let cutoff = newest - window.as_secs_f64();
        loop {
            let (deleted, more) = retention::sweep(&self.conn, cutoff, RETENTION_CHUNK)?;
            self.counts.expired += deleted;
            if !more || !until_done {
                return Ok(());
            }
        }
    }

    /// The newest packet time already in the database (retention's "now" before new data).
    fn stored_newest(&self) -> Option<f64> {
        super::query::newest(&self.conn).ok().flatten()
    }

    fn note_time(&mut self, ts: f64) {
        if self.newest.is_none_or(|n| ts > n) {
            self.newest = Some(ts);
        }
    }

    fn write(&mut self, batch: &[StoreMsg]) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut newest = f64::NEG_INFINITY;
        for msg in batch {
            match msg {
                StoreMsg::Flows(v) => {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO flows (capture_id, start_ts, end_ts, protocol, ip_proto, vlan,
                         client_ip, client_port, server_ip, server_port, service_port, app, name,
                         client_packets, client_bytes, server_packets, server_bytes, packets, bytes,
                         tcp_state, client_flags, server_flags, retransmissions, end_reason, iface)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                         ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
                    )?;
                    for r in v {
                        let (c, s) = r.client_server();
                        let (up, down) = r.client_server_counters();
                        let total = r.total();
                        let l4 = match r.key.proto {
                            6 => Some(L4::Tcp),
                            17 => Some(L4::Udp),
                            _ => None,
                        };
                        let service_port =
                            l4.map(|l4| services::service_side(c.port, s.port, l4).0);
                        let (cf, sf) = if r.key.proto == 6 {
                            let i = r.initiator.index();
                            let f = |d: usize| {
                                r.flags
                                    .get(d)
                                    .map(|f| TcpFlags(*f).tcpdump_letters().as_str().to_string())
                            };
                            (f(i), f(1 - i))
                        } else {
                            (None, None)
                        };
                        let iface = match self.interfaces.get(r.iface.0 as usize) {
                            Some(name) => name.clone(),
                            None => r.iface.0.to_string(),
                        };
                        let end = secs(r.end);
                        newest = newest.max(end);
                        st.execute(params![
                            self.capture_id,
                            secs(r.start),
                            end,
                            ip_proto_name(r.key.proto),
                            r.key.proto,
                            r.key.vlan,
                            put::IpText::new(c.addr).as_str(),
                            c.port,
                            put::IpText::new(s.addr).as_str(),
                            s.port,
                            service_port,
                            r.app.name(),
                            r.name.as_deref(),
                            sql_u64(up.packets),
                            sql_u64(up.bytes),
                            sql_u64(down.packets),
                            sql_u64(down.bytes),
                            sql_u64(total.packets),
                            sql_u64(total.bytes),
                            tcp_state_name(r.tcp),
                            cf,
                            sf,
                            r.retransmissions,
                            end_reason_name(r.reason),
                            iface,
                        ])?;
                        self.counts.flows += 1;
                    }
                }
                StoreMsg::Packets(v) => {
                    // Many rows per INSERT: per-statement overhead (step, reset, bind checks)
                    // is most of the cost of a row this small.
                    let mut many = tx.prepare_cached(&PACKETS_INSERT_MANY)?;
                    let mut one = tx.prepare_cached(&packets_insert(1))?;
                    for chunk in v.chunks(PACKETS_PER_INSERT) {
                        let st = if chunk.len() == PACKETS_PER_INSERT {
                            &mut many
                        } else {
                            &mut one
                        };
                        for (j, row) in chunk.iter().enumerate() {
                            if chunk.len() < PACKETS_PER_INSERT {
                                bind_packet(st, 1, self.capture_id, row)?;
                                st.raw_execute()?;
                            } else {
                                bind_packet(st, j * 10 + 1, self.capture_id, row)?;
                            }
                            newest = newest.max(secs(row.ts));
                        }
                        if chunk.len() == PACKETS_PER_INSERT {
                            st.raw_execute()?;
                        }
                        self.counts.packets += chunk.len() as u64;
                    }
                }
                StoreMsg::Series { resolution, points } => {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO traffic (capture_id, resolution, t, packets, bytes, new_flows,
                         tcp, udp, icmp, other) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (resolution, t, capture_id) DO UPDATE SET
                         packets = packets + excluded.packets, bytes = bytes + excluded.bytes,
                         new_flows = new_flows + excluded.new_flows, tcp = tcp + excluded.tcp,
                         udp = udp + excluded.udp, icmp = icmp + excluded.icmp,
                         other = other + excluded.other",
                    )?;
                    for p in points {
                        newest = newest.max(p.t as f64);
                        st.execute(params![
                            self.capture_id,
                            resolution.as_str(),
                            p.t,
                            sql_u64(p.packets),
                            sql_u64(p.bytes),
                            sql_u64(p.new_flows),
                            sql_u64(p.tcp),
                            sql_u64(p.udp),
                            sql_u64(p.icmp),
                            sql_u64(p.other),
                        ])?;
                        self.counts.traffic += 1;
                    }
                }
                StoreMsg::Hosts(v) => {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO hosts (capture_id, minute, ip, packets_in, bytes_in,
                         packets_out, bytes_out, names, local)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (minute, ip, capture_id) DO UPDATE SET
                         packets_in = packets_in + excluded.packets_in,
                         bytes_in = bytes_in + excluded.bytes_in,
                         packets_out = packets_out + excluded.packets_out,
                         bytes_out = bytes_out + excluded.bytes_out,
                         names = coalesce(excluded.names, names)",
                    )?;
                    for h in v {
                        st.execute(params![
                            self.capture_id,
                            h.minute,
                            put::IpText::new(h.ip).as_str(),
                            sql_u64(h.packets_in),
                            sql_u64(h.bytes_in),
                            sql_u64(h.packets_out),
                            sql_u64(h.bytes_out),
                            h.names,
                            h.local,
                        ])?;
                        self.counts.hosts += 1;
                    }
                }
                StoreMsg::Names(v) => {
                    let mut st = tx.prepare_cached(
                        "UPDATE hosts SET names = ?1 WHERE ip = ?2 AND capture_id = ?3",
                    )?;
                    for (ip, names) in v {
                        let ip = put::IpText::new(*ip);
                        st.execute(params![names, ip.as_str(), self.capture_id])?;
                    }
                }
                StoreMsg::Alerts(v) => {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO alerts (capture_id, ts, detector, severity, src, dst, summary,
                         count, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )?;
                    for a in v {
                        st.execute(params![
                            self.capture_id,
                            secs(a.ts),
                            a.detector,
                            a.severity,
                            a.src,
                            a.dst,
                            a.summary,
                            sql_u64(a.count),
                            a.evidence.to_string(),
                        ])?;
                        self.counts.alerts += 1;
                    }
                }
                StoreMsg::CaptureStart(c) => {
                    tx.execute(
                        "INSERT INTO captures (source, filter, interfaces, started_at,
                         netlens_version) VALUES (?1, ?2, ?3, unixepoch('subsec'), ?4)",
                        params![
                            c.source,
                            c.filter,
                            (!c.interfaces.is_empty()).then(|| c.interfaces.join(",")),
                            env!("CARGO_PKG_VERSION"),
                        ],
                    )?;
                    self.capture_id = tx.last_insert_rowid();
                    self.interfaces = c.interfaces.clone();
                    self.counts.captures += 1;
                }
                StoreMsg::CaptureEnd(e) => {
                    tx.execute(
                        "UPDATE captures SET ended_at = unixepoch('subsec'), first_ts = ?2,
                         last_ts = ?3, packets = ?4, bytes = ?5, drops_kernel = ?6,
                         drops_interface = ?7, drops_internal = ?8, store_dropped = ?9
                         WHERE id = ?1",
                        params![
                            self.capture_id,
                            e.first_ts.map(secs),
                            e.last_ts.map(secs),
                            sql_u64(e.packets),
                            sql_u64(e.bytes),
                            sql_u64(e.drops.kernel),
                            sql_u64(e.drops.interface),
                            sql_u64(e.drops.internal),
                            sql_u64(self.dropped.rows.load(Ordering::Relaxed)),
                        ],
                    )?;
                }
            }
        }
        tx.commit()?;
        if newest.is_finite() {
            self.note_time(newest);
        }
        Ok(())
    }
}

/// Packet rows per multi-row INSERT (10 parameters each; SQLite allows 32 766).
const PACKETS_PER_INSERT: usize = 32;

static PACKETS_INSERT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| packets_insert(PACKETS_PER_INSERT));

/// `INSERT INTO packets ... VALUES (...), (...)` for `rows` rows.
fn packets_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO packets (capture_id, timestamp, src_ip, dst_ip, protocol, src_port, \
         dst_port, length, flags, app) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

/// Binds one packet row at parameters `first..first + 10`. No row allocates: addresses are
/// written on the stack (`put::IpText`; `IpAddr`'s `Display` was a fifth of this thread's
/// instructions) and SQLite copies bound text.
fn bind_packet(
    st: &mut rusqlite::Statement<'_>,
    first: usize,
    capture_id: i64,
    p: &PacketRow,
) -> rusqlite::Result<()> {
    st.raw_bind_parameter(first, capture_id)?;
    st.raw_bind_parameter(first + 1, secs(p.ts))?;
    for (i, addr) in [(first + 2, p.src), (first + 3, p.dst)] {
        match addr {
            Some(a) => st.raw_bind_parameter(i, put::IpText::new(a).as_str())?,
            None => st.raw_bind_parameter(i, rusqlite::types::Null)?,
        }
    }
    st.raw_bind_parameter(first + 4, p.protocol)?;
    st.raw_bind_parameter(first + 5, p.src_port)?;
    st.raw_bind_parameter(first + 6, p.dst_port)?;
    st.raw_bind_parameter(first + 7, p.length)?;
    match p.flags {
        Some(f) => st.raw_bind_parameter(first + 8, TcpFlags(f).tcpdump_letters().as_str())?,
        None => st.raw_bind_parameter(first + 8, rusqlite::types::Null)?,
    }
    st.raw_bind_parameter(first + 9, p.app)
}

/// Packet time as REAL seconds.
pub fn secs(ts: Timestamp) -> f64 {
    ts.as_secs_f64()
}

/// SQLite integers are signed 64-bit; counters saturate there rather than wrap negative.
fn sql_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub fn tcp_state_name(s: TcpState) -> &'static str {
    match s {
        TcpState::None => "none",
        TcpState::SynSent => "syn_sent",
        TcpState::SynReceived => "syn_received",
        TcpState::Established => "established",
        TcpState::Closing => "closing",
        TcpState::Closed => "closed",
        TcpState::Reset => "reset",
    }
}

pub fn end_reason_name(r: EndReason) -> &'static str {
    match r {
        EndReason::Idle => "idle",
        EndReason::TcpClosed => "tcp_closed",
        EndReason::DnsAnswered => "dns_answered",
        EndReason::EchoAnswered => "echo_answered",
        EndReason::IcmpError => "icmp_error",
        EndReason::NtpAnswered => "ntp_answered",
        EndReason::Active => "active",
        EndReason::Evicted => "evicted",
        EndReason::Shutdown => "shutdown",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn point(t: i64, packets: u64) -> Point {
        Point {
            t,
            packets,
            bytes: packets * 100,
            tcp: packets,
            ..Point::default()
        }
    }

    #[test]
    fn series_points_and_hosts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = StoreWriter::open(
            &path,
            WriterOptions {
                backpressure: Backpressure::Block,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        w.send(StoreMsg::CaptureStart(CaptureRow {
            source: "test".into(),
            ..CaptureRow::default()
        }));
        // What an interval gained, sent twice (as it filled, or by two shards).
        for n in [1, 4] {
            w.send(StoreMsg::Series {
                resolution: Resolution::Second,
                points: vec![point(100, n)],
            });
        }
        let host = HostMinute {
            minute: 60,
            ip: "10.0.0.1".parse().unwrap(),
            packets_in: 1,
            bytes_in: 10,
            packets_out: 2,
            bytes_out: 20,
            names: None,
            local: true,
        };
        w.send(StoreMsg::Hosts(vec![host.clone(), host]));
        let s = w.finish().unwrap();
        assert_eq!((s.rows.captures, s.rows.traffic, s.rows.hosts), (1, 2, 2));
        let conn = Connection::open(&path).unwrap();
        let (p, b): (i64, i64) = conn
            .query_row("SELECT packets, bytes FROM traffic", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((p, b), (5, 500));
        let (pi, bo): (i64, i64) = conn
            .query_row("SELECT packets_in, bytes_out FROM hosts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((pi, bo), (2, 40));
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let w = StoreWriter::open(
            &path,
            WriterOptions {
                queue: 1,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        // Another connection holds the write lock, as a stalled disk would: the writer thread
        // waits on its first batch, the queue of one fills, and the rest is dropped at once.
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        // More batches than the thread can hold (COALESCE) plus the queue (one).
        let (batches, rows) = (COALESCE as u64 + 20, 5);
        let mut sent = 0;
        for i in 0..batches as i64 {
            let points = (0..rows)
                .map(|j| point(i * rows + j, 1))
                .collect::<Vec<_>>();
            if w.send(StoreMsg::Series {
                resolution: Resolution::Second,
                points,
            }) {
                sent += rows as u64;
            }
        }
        let total = batches * rows as u64;
        assert!(
            sent <= (COALESCE as u64 + 1) * rows as u64,
            "{sent} rows accepted"
        );
        assert_eq!(w.dropped_rows(), total - sent);
        blocker.execute_batch("COMMIT").unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.rows.traffic, sent);
        assert_eq!(s.dropped_rows, total - sent);
        assert_eq!(s.dropped_batches, (total - sent) / rows as u64);
    }
}
