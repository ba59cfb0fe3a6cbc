//! The flow table: finds each packet's flow, expires flows by packet time as flow exporters do
//! (idle, TCP closed, active timeouts), evicts the idlest flow when full, and turns every ended
//! flow into a [`FlowRecord`].
//!
//! Open and finished flows (TCP closed or reset, DNS and ICMP echo exchanges with every request
//! answered) live in two recency-ordered maps, because their timeouts differ (60 s vs 5 s by
//! default): expiry then only ever looks at the oldest entry of each map, so its cost is
//! proportional to what expires, not to the table size.

use std::time::Duration;

use wire::packet::Fragment;
use wire::Packet;

use super::flow::{EndReason, Flow, FlowKey, FlowRecord};
use super::hello::{Hellos, Step};
use super::lru::LruMap;
use crate::capture::IfaceId;
use crate::time::Timestamp;

/// Timeouts and bounds of the flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    pub idle: Duration,
    pub tcp_closed: Duration,
    pub active: Duration,
    pub max_flows: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle: Duration::from_secs(60),
            tcp_closed: Duration::from_secs(5),
            active: Duration::from_secs(30 * 60),
            max_flows: 1_000_000,
        }
    }
}

/// Fragment reassembly is not needed to count: later fragments only need the ports of their
/// first fragment. Remembered per (source, destination, protocol, IP id), bounded.
const MAX_FRAGMENT_KEYS: usize = 65_536;

type FragmentKey = (std::net::IpAddr, std::net::IpAddr, u8, u32);

/// What happened to a packet in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The packet opened a new flow.
    pub new_flow: bool,
    /// The key of its flow.
    pub key: FlowKey,
    /// The packet's sender initiated the flow.
    pub from_initiator: bool,
    /// The packet completed a TLS hello gathered over several segments, revealing the flow's
    /// server name (now in the flow's `name`).
    pub named: bool,
    /// The packet shows MAC addresses other than the flow's first ones.
    pub other_macs: bool,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct FlowCounts {
    /// Flows created.
    pub total: u64,
    /// Flows ended by a timeout (idle or TCP closed).
    pub expired: u64,
    /// Flows pushed out because the table was full.
    pub evicted: u64,
    /// Records cut by the active timeout.
    pub active_slices: u64,
}

pub struct FlowTable {
    config: FlowConfig,
    /// `config.active` in nanoseconds: compared on every packet, so kept as an integer.
    active_ns: i64,
    open: LruMap<FlowKey, Flow>,
    finished: LruMap<FlowKey, Flow>,
    fragments: LruMap<FragmentKey, (u16, u16)>,
    pub hellos: Hellos,
    pub counts: FlowCounts,
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> Self {
        let hasher = hashbrown::DefaultHashBuilder::default();
        FlowTable {
            config,
            active_ns: i64::try_from(config.active.as_nanos()).unwrap_or(i64::MAX),
            // One hasher for both: a packet's key is hashed once for both lookups and a move.
            open: LruMap::with_hasher(hasher.clone()),
            finished: LruMap::with_hasher(hasher),
            fragments: LruMap::new(),
            hellos: Hellos::default(),
            counts: FlowCounts::default(),
        }
    }

    /// Adds another shard's counters (its flows must have been flushed).
    pub fn merge_counts(&mut self, other: &FlowTable) {
        self.counts.total += other.counts.total;
        self.counts.expired += other.counts.expired;
        self.counts.evicted += other.counts.evicted;
        self.counts.active_slices += other.counts.active_slices;
    }

    pub fn active(&self) -> usize {
        self.open.len() + self.finished.len()
    }

    /// Accounts `packet` to its flow; ended flows go to `out`.
    /// `clock` is the latest packet time of the whole run so far (≥ `ts`); `seq` is the
    /// packet's position in the run.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        packet: &Packet<'_>,
        ts: Timestamp,
        clock: Timestamp,
        seq: u64,
        bytes: u64,
        iface: IfaceId,
        out: &mut Vec<FlowRecord>,
    ) -> Option<Observed> {
        let ports = self.fragment_ports(packet);
        let (key, dir, hash) = FlowKey::of(packet, ports, self.open.hasher())?;

        let mut new_flow = false;
        let flow = if let Some(f) = self.open.touch_hashed(hash, &key) {
            f
        } else if let Some(f) = self.finished.touch_hashed(hash, &key) {
            f
        } else {
            if self.active() >= self.config.max_flows.max(1) {
                self.evict_one(out);
            }
            new_flow = true;
            self.counts.total += 1;
            self.open
                .insert_absent_hashed(hash, key, Flow::new(&key, packet, dir, ts, seq, iface))
        };
        // NetFlow-style active timeout: a long flow is reported in slices.
        if !new_flow && ts.0.saturating_sub(flow.record_start.0) >= self.active_ns {
            out.push(flow.record(&key, EndReason::Active));
            flow.restart_record(ts);
            self.counts.active_slices += 1;
        }
        let was_finished = flow.is_done();
        let other_macs = flow.update(packet, dir, ts, bytes);
        flow.touched = clock;
        let from_initiator = flow.initiator == dir;
        let named = from_initiator && gather_hello(&mut self.hellos, flow, &key, packet);
        let now_finished = flow.is_done();
        // Move between the open and finished maps when the flow ends or starts again (a new SYN
        // on a closed 5-tuple, a new query on an answered one, reopens it).
        if now_finished && !was_finished {
            if let Some(f) = self.open.remove_hashed(hash, &key) {
                self.finished.insert_absent_hashed(hash, key, f);
            }
        } else if !now_finished && was_finished {
            if let Some(f) = self.finished.remove_hashed(hash, &key) {
                self.open.insert_absent_hashed(hash, key, f);
            }
        }
        Some(Observed {
            new_flow,
            key,
            from_initiator,
            named,
            other_macs,
        })
    }

    /// The flow's name, if it has one (for a name learned by [`Observed::named`]).
    pub fn name(&self, key: &FlowKey) -> Option<&str> {
        self.open
            .get(key)
            .or_else(|| self.finished.get(key))
            .and_then(|f| f.name.as_deref())
    }

    /// Later fragments carry no ports: give them the ports their first fragment had.
    fn fragment_ports(&mut self, packet: &Packet<'_>) -> Option<(u16, u16)> {
        let ip = packet.ip()?;
        let key = (ip.src, ip.dst, ip.protocol, ip.id);
        match ip.fragment {
            Fragment::Whole => None,
            Fragment::First => {
                let ports = packet.ports()?;
                if self.fragments.len() >= MAX_FRAGMENT_KEYS {
                    self.fragments.pop_oldest();
                }
                self.fragments.insert(key, ports);
                None
            }
            Fragment::Later => self.fragments.get(&key).copied(),
        }
    }

    fn evict_one(&mut self, out: &mut Vec<FlowRecord>) {
        // Finished TCP flows go first: they are over anyway.
        let victim = self
            .finished
            .pop_oldest()
            .or_else(|| self.open.pop_oldest());
        if let Some((key, flow)) = victim {
            if flow.hello_pending {
                self.hellos.give_up(&key);
            }
            out.push(flow.record(&key, EndReason::Evicted));
            self.counts.evicted += 1;
        }
    }

    /// Ends every flow whose timeout has passed at packet time `now`.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<FlowRecord>) {
        let idle = self.config.idle.as_secs_f64();
        let closed = self.config.tcp_closed.as_secs_f64();
        for (map, timeout, finished) in [
            (&mut self.open, idle, false),
            (&mut self.finished, closed, true),
        ] {
            while let Some((_, flow)) = map.oldest() {
                if now.secs_since(flow.touched) < timeout {
                    break;
                }
                if let Some((key, flow)) = map.pop_oldest() {
                    if flow.hello_pending {
                        self.hellos.give_up(&key);
                    }
                    let reason = if finished {
                        flow.done_reason(&key)
                    } else {
                        EndReason::Idle
                    };
                    out.push(flow.record(&key, reason));
                    self.counts.expired += 1;
                }
            }
        }
    }

    /// Ends up to `n` flows (shutdown), finished TCP flows first, each oldest first; returns
    /// whether flows remain. Called until it says none do, nothing counted is lost — and the
    /// caller can hand each chunk on, so a million open flows never become a million records at
    /// once in memory.
    pub fn flush_some(&mut self, out: &mut Vec<FlowRecord>, n: usize) -> bool {
        for _ in 0..n {
            let Some((key, flow)) = self
                .finished
                .pop_oldest()
                .or_else(|| self.open.pop_oldest())
            else {
                return false;
            };
            if flow.hello_pending {
                self.hellos.give_up(&key);
            }
            out.push(flow.record(&key, EndReason::Shutdown));
        }
        self.active() > 0
    }

    /// Active flows, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&FlowKey, &Flow)> {
        self.finished.iter().chain(self.open.iter())
    }

    /// Memory held per tracked flow: key and state in the slab, key and slot in the index.
    pub fn bytes_per_flow() -> usize {
        std::mem::size_of::<FlowKey>()
            + std::mem::size_of::<Flow>()
            + 2 * std::mem::size_of::<u32>()
            + LruMap::<FlowKey, Flow>::overhead_per_entry()
    }
}

/// Feeds a client segment to the hello gatherer when the flow's TLS ClientHello did not fit its
/// first segment. Returns whether the flow has just been named by it.
fn gather_hello(hellos: &mut Hellos, flow: &mut Flow, key: &FlowKey, packet: &Packet<'_>) -> bool {
    if packet.payload.is_empty() || flow.name.is_some() {
        return false;
    }
    let tcp = match packet.transport {
        wire::packet::Transport::Tcp(tcp) => tcp,
        wire::packet::Transport::Udp(_) => return gather_quic_hello(hellos, flow, key, packet),
        _ => return false,
    };
    if !flow.hello_pending {
        if let wire::packet::App::Tls(t) = &packet.app {
            if t.kind == wire::tls::TlsKind::ClientHello && t.incomplete && t.sni.is_none() {
                hellos.start(*key, tcp.seq, packet.payload);
                flow.hello_pending = true;
            }
        }
        return false;
    }
    match hellos.segment(key, tcp.seq, packet.payload) {
        Step::More => false,
        Step::None => {
            // Pushed out of the bounded set by newer hellos.
            flow.hello_pending = false;
            false
        }
        Step::Done(name) => {
            flow.hello_pending = false;
            flow.name = name;
            flow.name.is_some()
        }
    }
}

/// Client datagrams that open a QUIC connection are tried as Initials; only the first few of a
/// flow, since the hello comes first (this bounds the decryption work per flow).
fn gather_quic_hello(
    hellos: &mut Hellos,
    flow: &mut Flow,
    key: &FlowKey,
    packet: &Packet<'_>,
) -> bool {
    const TRIES: u64 = 4;
    let sent = flow.counters[flow.initiator.index()].packets;
    if sent > TRIES || flow.quic_failed || !super::quic::looks_like_initial(packet.payload) {
        return false;
    }
    match hellos.quic_datagram(key, packet.payload) {
        Step::None => {
            flow.quic_failed = true;
            false
        }
        Step::More => {
            flow.app = super::flow::AppLabel::Quic;
            flow.hello_pending = true;
            false
        }
        Step::Done(name) => {
            flow.app = super::flow::AppLabel::Quic;
            flow.hello_pending = false;
            flow.name = name;
            flow.name.is_some()
        }
    }
}
