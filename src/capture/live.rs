//! Live capture through libpcap: one capture thread per interface, each handing batches of
//! frames to the processing thread over a bounded channel.
//!
//! Why batches: one channel operation per packet costs more than decoding it. A batch is one
//! byte arena plus an index, recycled through a return channel, so steady-state capture does not
//! allocate. When the processing thread falls behind and the channel is full, the whole batch is
//! counted as an internal drop instead of blocking libpcap (which would turn into silent kernel
//! drops). Kernel and interface drop counters come from `pcap_stats` and are published through
//! atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use pcap::{Active, Capture};
use serde::Serialize;
use wire::LinkType;

use super::filter::pcap_message;
use super::{Frame, IfaceId};
use crate::time::Timestamp;

/// Frames per batch before it is sent.
pub(super) const BATCH_FRAMES: usize = 256;
/// A partial batch is sent after this long, so a quiet link still shows up promptly.
pub(super) const BATCH_MAX_AGE: Duration = Duration::from_millis(50);
/// libpcap packet-buffer timeout: how long the kernel may hold packets before waking us.
const READ_TIMEOUT_MS: i32 = 50;
/// Longest sleep in poll() before the capture thread looks at the stop flag again.
const POLL_INTERVAL_MS: i32 = 50;
/// Batches in flight per interface; beyond this the processing thread is too slow.
const CHANNEL_BATCHES: usize = 64;

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub snaplen: i32,
    pub buffer_kib: Option<u32>,
    pub promisc: bool,
    pub immediate: bool,
    pub filter: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("no permission to capture on {iface}: netlens needs the CAP_NET_RAW and CAP_NET_ADMIN capabilities. Run it with sudo, or grant them once with: sudo setcap cap_net_raw,cap_net_admin=eip {exe}")]
    Permission { iface: String, exe: String },
    #[error("cannot capture on {iface}: {message}")]
    Open { iface: String, message: String },
    #[error("invalid filter '{expr}': {message}")]
    Filter { expr: String, message: String },
}

/// Drop counters of one interface, updated by its capture thread.
#[derive(Debug, Default)]
pub struct DropCounters {
    /// Packets the kernel dropped because the ring was full (`ps_drop`).
    pub kernel: AtomicU64,
    /// Packets the interface or driver dropped (`ps_ifdrop`).
    pub interface: AtomicU64,
    /// Packets netlens dropped because processing could not keep up.
    pub internal: AtomicU64,
}

/// A batch of frames from one interface.
pub struct Batch {
    pub iface: IfaceId,
    pub link: LinkType,
    arena: Vec<u8>,
    /// (timestamp, original length, start in arena, captured length)
    index: Vec<(Timestamp, u32, usize, usize)>,
}

impl Batch {
    pub(super) fn new(iface: IfaceId, link: LinkType) -> Self {
        Batch {
            iface,
            link,
            arena: Vec::with_capacity(BATCH_FRAMES * 256),
            index: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.index.clear();
    }

    /// Empties the batch for reuse by `iface`.
    pub(super) fn reset(&mut self, iface: IfaceId, link: LinkType) {
        self.clear();
        self.iface = iface;
        self.link = link;
    }

    /// Appends a copy of one frame.
    pub(super) fn push(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(data);
        self.index.push((ts, orig_len, start, data.len()));
    }

    /// Appends a copy of one Ethernet frame with an 802.1Q tag (TPID, TCI) put back after the
    /// MAC addresses: the NIC took it out and the kernel handed it over on the side.
    pub(super) fn push_with_vlan(
        &mut self,
        ts: Timestamp,
        orig_len: u32,
        data: &[u8],
        (tpid, tci): (u16, u16),
    ) {
        let Some((macs, rest)) = data.split_at_checked(12) else {
            return self.push(ts, orig_len, data);
        };
        let start = self.arena.len();
        self.arena.extend_from_slice(macs);
        self.arena.extend_from_slice(&tpid.to_be_bytes());
        self.arena.extend_from_slice(&tci.to_be_bytes());
        self.arena.extend_from_slice(rest);
        self.index
            .push((ts, orig_len.saturating_add(4), start, data.len() + 4));
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.index
            .iter()
            .map(move |&(ts, orig_len, start, len)| Frame {
                ts,
                orig_len,
                link: self.link,
                iface: self.iface,
                data: self.arena.get(start..start + len).unwrap_or(&[]),
            })
    }
}

/// An opened interface, ready to start.
pub struct Opened {
    pub name: String,
    pub link: LinkType,
    capture: Capture<Active>,
}

/// Opens `name` with `opts`; errors say what to do (permissions) or what libpcap said.
pub fn open(name: &str, opts: &LiveOptions) -> Result<Opened, LiveError> {
    let open_err = |e: pcap::Error| classify(name, e);
    let mut inactive = Capture::from_device(name)
        .map_err(open_err)?
        .promisc(opts.promisc)
        .snaplen(opts.snaplen)
        .immediate_mode(opts.immediate)
        .timeout(READ_TIMEOUT_MS);
    if let Some(kib) = opts.buffer_kib {
        inactive = inactive.buffer_size(kib.saturating_mul(1024).min(i32::MAX as u32) as i32);
    }
    let mut capture = inactive.open().map_err(open_err)?;
    if let Some(expr) = &opts.filter {
        capture.filter(expr, true).map_err(|e| LiveError::Filter {
            expr: expr.clone(),
            message: pcap_message(e),
        })?;
    }
    let link = LinkType::from_dlt(capture.get_datalink().0 as u32);
    Ok(Opened {
        name: name.to_string(),
        link,
        capture,
    })
}

fn classify(iface: &str, e: pcap::Error) -> LiveError {
    let message = pcap_message(e);
    let lower = message.to_lowercase();
    if lower.contains("permission") || lower.contains("operation not permitted") {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "netlens".to_string());
        LiveError::Permission {
            iface: iface.to_string(),
            exe,
        }
    } else if lower.contains("not up") {
        LiveError::Open {
            iface: iface.to_string(),
            message: format!("the interface is down; bring it up first (ip link set {iface} up)"),
        }
    } else {
        LiveError::Open {
            iface: iface.to_string(),
            message,
        }
    }
}

/// How the capture ran, for the report's `capture` object.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CaptureReport {
    /// "libpcap" or "afpacket".
    pub method: &'static str,
    /// One entry per AF_PACKET fanout ring (empty for libpcap).
    pub rings: Vec<RingReport>,
    /// Flows whose packets reached more than one ring: 0 when the kernel's fanout hash kept
    /// both directions of every flow together (None for libpcap).
    pub flows_split: Option<u64>,
}

/// What one fanout ring captured.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RingReport {
    pub packets: u64,
    pub kernel_drops: u64,
    /// Distinct flows (either direction) seen in this ring.
    pub flows: u64,
    /// True when the ring saw more flows than it remembers (then `flows` is a lower bound).
    pub flows_capped: bool,
}

/// Running capture threads and the channel they feed.
pub struct LiveCapture {
    pub batches: Receiver<Batch>,
    recycle: Sender<Batch>,
    stop: Arc<AtomicBool>,
    breakers: Vec<pcap::BreakLoop>,
    threads: Vec<JoinHandle<()>>,
    pub drops: Vec<Arc<DropCounters>>,
    #[cfg(target_os = "linux")]
    rings: Vec<Arc<super::afpacket::RingStats>>,
}

impl LiveCapture {
    /// Starts one thread per opened interface; `IfaceId(i)` is the position in `opened`.
    pub fn start(opened: Vec<Opened>, stop: Arc<AtomicBool>) -> Self {
        let capacity = CHANNEL_BATCHES * opened.len().max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(capacity);
        let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Batch>(capacity);
        let mut breakers = Vec::new();
        let mut threads = Vec::new();
        let mut drops = Vec::new();
        for (i, mut o) in opened.into_iter().enumerate() {
            breakers.push(o.capture.breakloop_handle());
            let counters = Arc::new(DropCounters::default());
            drops.push(Arc::clone(&counters));
            let worker = Worker {
                iface: IfaceId(i as u32),
                link: o.link,
                tx: tx.clone(),
                recycle: recycle_rx.clone(),
                stop: Arc::clone(&stop),
                drops: counters,
            };
            let handle = std::thread::Builder::new()
                .name(format!("capture-{}", o.name))
                .spawn(move || worker.run(o.capture));
            if let Ok(h) = handle {
                threads.push(h);
            }
        }
        LiveCapture {
            batches: rx,
            recycle: recycle_tx,
            stop,
            breakers,
            threads,
            drops,
            #[cfg(target_os = "linux")]
            rings: Vec::new(),
        }
    }

    /// Starts one thread per AF_PACKET fanout ring of interface `name` (`IfaceId(0)`).
    #[cfg(target_os = "linux")]
    pub fn start_afpacket(
        name: &str,
        rings: Vec<super::afpacket::Ring>,
        opts: &LiveOptions,
        stop: Arc<AtomicBool>,
    ) -> Self {
        use super::afpacket::{RingStats, RingWorker};
        let capacity = CHANNEL_BATCHES * rings.len().max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Batch>(capacity);
        let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Batch>(capacity);
        let mut threads = Vec::new();
        let mut drops = Vec::new();
        let mut stats = Vec::new();
        for (i, ring) in rings.into_iter().enumerate() {
            let counters = Arc::new(DropCounters::default());
            drops.push(Arc::clone(&counters));
            let ring_stats = Arc::new(RingStats::default());
            stats.push(Arc::clone(&ring_stats));
            let worker = RingWorker {
                iface: IfaceId(0),
                snaplen: usize::try_from(opts.snaplen).unwrap_or(usize::MAX),
                tx: tx.clone(),
                recycle: recycle_rx.clone(),
                stop: Arc::clone(&stop),
                drops: counters,
                stats: ring_stats,
                // The interface's own counter is per interface, so one ring reads it.
                interface_drops: (i == 0).then(|| name.to_string()),
            };
            let handle = std::thread::Builder::new()
                .name(format!("ring{i}-{name}"))
                .spawn(move || worker.run(ring));
            if let Ok(h) = handle {
                threads.push(h);
            }
        }
        LiveCapture {
            batches: rx,
            recycle: recycle_tx,
            stop,
            breakers: Vec::new(),
            threads,
            drops,
            rings: stats,
        }
    }

    /// How the capture ran; complete once the threads are joined.
    pub fn report(&self) -> CaptureReport {
        #[cfg(target_os = "linux")]
        if !self.rings.is_empty() {
            return super::afpacket::report(&self.rings, &self.drops);
        }
        CaptureReport {
            method: "libpcap",
            ..CaptureReport::default()
        }
    }

    /// Hands a processed batch back for reuse.
    pub fn recycle(&self, mut batch: Batch) {
        batch.clear();
        let _ = self.recycle.try_send(batch);
    }

    /// Asks every capture thread to stop, even one blocked inside libpcap.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for b in &self.breakers {
            b.breakloop();
        }
    }

    /// Waits for the capture threads after [`request_stop`](Self::request_stop).
    pub fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Sum of drops over all interfaces: (kernel, interface, internal).
    pub fn drop_totals(&self) -> (u64, u64, u64) {
        self.drops.iter().fold((0, 0, 0), |acc, d| {
            (
                acc.0 + d.kernel.load(Ordering::Relaxed),
                acc.1 + d.interface.load(Ordering::Relaxed),
                acc.2 + d.internal.load(Ordering::Relaxed),
            )
        })
    }
}

struct Worker {
    iface: IfaceId,
    link: LinkType,
    tx: Sender<Batch>,
    recycle: Receiver<Batch>,
    stop: Arc<AtomicBool>,
    drops: Arc<DropCounters>,
}

impl Worker {
    fn run(self, capture: Capture<Active>) {
        // Non-blocking reads plus our own poll(): libpcap's blocking read with TPACKET_V3 may
        // never return on a quiet link (libpcap#572), which would hold a partial batch — and a
        // `-c` count or a stop request — hostage until the next packet arrives.
        let mut capture = match capture.setnonblock() {
            Ok(c) => c,
            Err(_) => return,
        };
        let mut batch = self.fresh_batch();
        let mut batch_started = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            match capture.next_packet() {
                Ok(packet) => {
                    if batch.is_empty() {
                        batch_started = Instant::now();
                    }
                    let h = packet.header;
                    let ts =
                        Timestamp::from_parts(h.ts.tv_sec, h.ts.tv_usec.max(0) as u64, 1_000_000);
                    batch.push(ts, h.len, packet.data);
                    if batch.len() >= BATCH_FRAMES || batch_started.elapsed() >= BATCH_MAX_AGE {
                        batch = self.send(batch, &mut capture);
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // Nothing to read right now: hand over what we have, then sleep until the
                    // socket is readable or the poll interval passes (to notice `stop`).
                    if !batch.is_empty() {
                        batch = self.send(batch, &mut capture);
                    } else {
                        self.read_stats(&mut capture);
                    }
                    wait_readable(&capture, POLL_INTERVAL_MS);
                }
                // breakloop, or the interface went away: either way this thread is done.
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let _ = self.send(batch, &mut capture);
        }
        self.read_stats(&mut capture);
    }

    fn fresh_batch(&self) -> Batch {
        match self.recycle.try_recv() {
            Ok(mut b) => {
                b.reset(self.iface, self.link);
                b
            }
            Err(_) => Batch::new(self.iface, self.link),
        }
    }

    /// Sends `batch`, or counts it as dropped when the processing side is full; returns the
    /// batch to fill next.
    fn send(&self, batch: Batch, capture: &mut Capture<Active>) -> Batch {
        self.read_stats(capture);
        match self.tx.try_send(batch) {
            Ok(()) => self.fresh_batch(),
            Err(TrySendError::Full(mut b)) => {
                self.drops
                    .internal
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                b.clear();
                b
            }
            Err(TrySendError::Disconnected(mut b)) => {
                self.stop.store(true, Ordering::Relaxed);
                b.clear();
                b
            }
        }
    }

    fn read_stats(&self, capture: &mut Capture<Active>) {
        if let Ok(s) = capture.stats() {
            self.drops
                .kernel
                .store(u64::from(s.dropped), Ordering::Relaxed);
            self.drops
                .interface
                .store(u64::from(s.if_dropped), Ordering::Relaxed);
        }
    }
}

/// Sleeps until the capture socket has data or `timeout_ms` passes.
#[allow(unsafe_code)]
fn wait_readable(capture: &Capture<Active>, timeout_ms: i32) {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: capture.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid, initialised pollfd that lives across the call, and we pass a
    // count of exactly one; the fd stays open because `capture` is borrowed for the duration.
    let _ = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
}
