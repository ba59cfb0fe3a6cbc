//! The engine: everything netlens knows about the traffic. Decoded packets go in; counters,
//! flows, hosts, time series and finished flow records come out.
//!
//! Packet time drives everything here — expiry, rates, series — never the wall clock, so a file
//! gives the same numbers on every run and live capture shares the same code. Expiry runs when
//! packet time enters a new second, which makes it independent of how packets are batched.

pub mod flow;
pub mod flows;
pub mod hello;
pub mod hosts;
pub mod lru;
pub mod pairs;
pub mod quic;
pub mod series;
pub mod shards;
pub mod snapshot;
pub mod stats;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use wire::Packet;

use self::flow::{Dir, FlowRecord};
use self::flows::{FlowConfig, FlowTable};
use self::hosts::{HomeNet, Host, Hosts};
use self::series::Series;
use self::stats::{Counter, Stats};
use crate::capture::Frame;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub flows: FlowConfig,
    pub max_hosts: usize,
    pub home: HomeNet,
    /// How many of the largest flow records to keep for the report.
    pub top: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flows: FlowConfig::default(),
            max_hosts: 1_000_000,
            home: HomeNet::new(HomeNet::default_nets()),
            top: 10,
        }
    }
}

pub struct Engine {
    pub stats: Stats,
    pub flows: FlowTable,
    pub hosts: Hosts,
    pub series: Series,
    /// Records ended since the last [`Engine::take_records`] (only kept when an output takes
    /// them; otherwise dropped once counted, so memory stays bounded).
    records: Vec<FlowRecord>,
    /// How many of `records` have been counted.
    noted: usize,
    keep_records: bool,
    /// The largest records so far, by bytes (bounded by `top`): a min-heap, so the smallest
    /// kept record is the one to drop.
    top_records: BinaryHeap<Reverse<Ranked>>,
    top: usize,
    /// Flow records emitted in total.
    pub records_total: u64,
    /// The packet-time second at which expiry last ran.
    tick: Option<i64>,
    /// Packets seen by [`Engine::process`] (its sequence numbers).
    seq: u64,
    /// The latest packet time seen by [`Engine::process`].
    clock: Timestamp,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            stats: Stats::new(config.flows.max_flows.max(config.max_hosts)),
            flows: FlowTable::new(config.flows),
            hosts: Hosts::new(config.home, config.max_hosts),
            series: Series::default(),
            records: Vec::new(),
            noted: 0,
            keep_records: false,
            top_records: BinaryHeap::new(),
            top: config.top.max(1),
            records_total: 0,
            tick: None,
            seq: 0,
            clock: Timestamp(i64::MIN),
        }
    }

    /// Accounts one decoded frame: the whole-stream path (one engine sees every packet).
    pub fn process(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) {
        self.tick(frame.ts);
        let seq = self.seq;
        self.seq += 1;
        self.clock = self.clock.max(frame.ts);
        self.process_seq(frame, packet, seq, self.clock);
    }

    /// Accounts one decoded frame with its position `seq` in the whole stream. A shard sees only
    /// part of the stream, so its packet time advances only through [`Engine::tick`], which the
    /// dispatcher sends to every shard at the same points a single engine would have ticked.
    /// `clock` is the latest packet time of the whole stream so far.
    pub fn process_seq(
        &mut self,
        frame: &Frame<'_>,
        packet: &Packet<'_>,
        seq: u64,
        clock: Timestamp,
    ) {
        let ts = frame.ts;
        let bytes = u64::from(frame.orig_len);
        self.stats.add(frame, packet);
        let mut new_flow = false;
        if let Some(ip) = packet.ip() {
            // Hosts and IP pairs count this packet when its flow's record ends (`fold`).
            self.hosts.learn_names(packet, seq);
            if let Some(obs) = self.flows.observe(
                packet,
                ts,
                clock,
                seq,
                bytes,
                frame.iface,
                &mut self.records,
            ) {
                if obs.new_flow {
                    new_flow = true;
                    let (client, server) = if obs.from_initiator {
                        (ip.src, ip.dst)
                    } else {
                        (ip.dst, ip.src)
                    };
                    self.hosts.new_flow(client, server, ts);
                    if self.stats.open_pair(ip.src, ip.dst) {
                        self.hosts.new_peers(ip.src, ip.dst, ts);
                    }
                }
                if obs.other_macs {
                    self.hosts.add_macs(packet, ts, seq);
                }
                if obs.named {
                    if let Some(name) = self.flows.name(&obs.key) {
                        self.hosts.learn_name(ip.dst, name, seq);
                    }
                }
            }
        }
        self.series.add(ts, bytes, packet.l4_class(), new_flow);
        if self.records.len() > self.noted {
            self.note_records();
        }
    }

    /// Runs expiry when packet time enters a new second.
    pub fn tick(&mut self, ts: Timestamp) {
        let sec = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
        if self.tick.is_some_and(|t| sec <= t) {
            return;
        }
        self.tick = Some(sec);
        self.flows.expire(ts, &mut self.records);
        self.note_records();
    }

    /// Ends every open flow (end of file, Ctrl-C): each becomes a record, nothing is lost.
    pub fn finish(&mut self) {
        while self.finish_some(4096) {}
    }

    /// Ends up to `n` open flows; returns whether more remain. Outputs that keep records take
    /// them between calls, so ending a million flows never holds a million records at once.
    pub fn finish_some(&mut self, n: usize) -> bool {
        let more = self.flows.flush_some(&mut self.records, n);
        self.note_records();
        more
    }

    /// Counts records that just ended: in the totals, the top list, and in their hosts, IP
    /// pairs and service ports, which learn of a flow's packets only now (see
    /// [`Engine::hosts_now`]).
    fn note_records(&mut self) {
        for r in self.records.get(self.noted..).unwrap_or(&[]) {
            self.records_total += 1;
            self.hosts
                .fold(&r.key, &r.counters, (r.earliest, r.end), &r.macs);
            if let Some(port) = r.service_port() {
                self.stats.add_port(port, r.total());
            }
            self.stats.add_pairs(r.key.addrs(Dir::LoToHi), r.counters);
            let rank = Ranked::rank_of(r);
            let smallest = self.top_records.peek().map(|Reverse(t)| t.rank);
            if self.top_records.len() < self.top || smallest.is_some_and(|s| rank > s) {
                self.top_records.push(Reverse(Ranked {
                    rank,
                    record: r.clone(),
                }));
                if self.top_records.len() > self.top {
                    self.top_records.pop();
                }
            }
        }
        self.noted = self.records.len();
        if !self.keep_records {
            self.records.clear();
            self.noted = 0;
        }
    }

    /// Adds a finished shard's results to this (finished) engine.
    pub fn merge(&mut self, other: Engine) {
        self.stats.merge(other.stats);
        self.flows.merge_counts(&other.flows);
        self.hosts.merge(other.hosts);
        self.series.merge(&other.series);
        self.records_total += other.records_total;
        for Reverse(r) in other.top_records {
            self.top_records.push(Reverse(r));
            if self.top_records.len() > self.top {
                self.top_records.pop();
            }
        }
    }

    /// Keep ended records for [`Engine::take_records`] (an output will store or export them).
    pub fn keep_records(&mut self) {
        self.keep_records = true;
    }

    /// Whether records ended since the last [`Engine::take_records`] (only with
    /// [`Engine::keep_records`]).
    pub fn has_records(&self) -> bool {
        !self.records.is_empty()
    }

    /// Records ended since the last call, for outputs that store or export them.
    pub fn take_records(&mut self) -> Vec<FlowRecord> {
        self.noted = 0;
        std::mem::take(&mut self.records)
    }

    /// Every host with what it has sent and received so far: ended flows' records plus the
    /// open flows (hosts count per record, so the table alone lags behind live traffic).
    pub fn hosts_now(&self) -> Vec<(IpAddr, Host)> {
        self.hosts.with_open(self.flows.iter())
    }

    /// Every directed IP pair with what it has carried so far, open flows included.
    pub fn pairs_now(&self) -> hashbrown::HashMap<(IpAddr, IpAddr), Counter> {
        let mut all: hashbrown::HashMap<(IpAddr, IpAddr), Counter> =
            self.stats.pairs.floors().collect();
        for (key, flow) in self.flows.iter() {
            for dir in [Dir::LoToHi, Dir::HiToLo] {
                let sent = flow.counters[dir.index()];
                if sent.packets > 0 {
                    all.entry(key.addrs(dir)).or_default().merge(sent);
                }
            }
        }
        all
    }

    /// The largest flow records, biggest first.
    pub fn top_records(&self) -> Vec<&FlowRecord> {
        let mut v: Vec<&Ranked> = self.top_records.iter().map(|Reverse(r)| r).collect();
        v.sort_by_key(|r| Reverse(r.rank));
        v.into_iter().map(|r| &r.record).collect()
    }
}

/// A record with its place in the top list: more bytes first, then earlier start, then key, so
/// the list is the same on every run.
#[derive(Debug)]
struct Ranked {
    rank: Rank,
    record: FlowRecord,
}

/// Bytes, then earlier start, then key, then end and how it ended: two records that tie on all
/// of these print the same, so the list is identical however the records were produced.
type Rank = (
    u64,
    Reverse<Timestamp>,
    Reverse<flow::FlowKey>,
    Reverse<Timestamp>,
    Reverse<u8>,
);

impl Ranked {
    fn rank_of(r: &FlowRecord) -> Rank {
        (
            r.total().bytes,
            Reverse(r.start),
            Reverse(r.key),
            Reverse(r.end),
            Reverse(r.reason as u8),
        )
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank == other.rank
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank.cmp(&other.rank)
    }
}
