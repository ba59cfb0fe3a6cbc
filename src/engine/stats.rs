//! Traffic counters: totals, protocol mix, applications, ports and IP pairs. (Per-host
//! counters live in [`super::hosts`].) Ports and IP pairs are counted per flow record, when a
//! flow ends, like the hosts: see [`super::Engine::pairs_now`] for the live view.
//!
//! Every frame is counted once in `packets`/`bytes` (original length, as tshark's `frame.len`),
//! once by its outermost network layer and, for IP, once by the transport directly inside it —
//! the rule of the corpus's EXPECTED_OUTER.tsv. Tables keyed by address are bounded (a
//! random-source flood must not take the machine down): the IP pairs' counters are a summary of
//! fixed size that keeps the largest pairs, and the set of pairs that talked stops growing at
//! its bound, counting what it could not note.

use std::net::IpAddr;

use hashbrown::HashMap;
use serde::Serialize;
use wire::packet::{App, L3Class, L4Class, Stop};
use wire::services::L4;
use wire::{LinkType, Packet};

use crate::capture::Frame;
use crate::time::Timestamp;

/// Packets and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

impl Counter {
    pub fn merge(&mut self, other: Counter) {
        self.packets += other.packets;
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// The network-layer classes, in report order.
pub const L3_NAMES: [&str; 4] = ["ipv4", "ipv6", "arp", "other_l3"];
/// The transport classes, in report order.
pub const L4_NAMES: [&str; 5] = ["tcp", "udp", "icmp", "icmpv6", "other_l4"];
/// Application protocols recognised from payloads, in report order.
pub const APP_NAMES: [&str; 5] = ["dns", "http", "tls", "ftp", "ssh"];

fn l3_index(c: L3Class) -> usize {
    match c {
        L3Class::Ipv4 => 0,
        L3Class::Ipv6 => 1,
        L3Class::Arp => 2,
        L3Class::Other => 3,
    }
}

pub fn l4_index(c: L4Class) -> usize {
    match c {
        L4Class::Tcp => 0,
        L4Class::Udp => 1,
        L4Class::Icmp => 2,
        L4Class::Icmpv6 => 3,
        L4Class::Other => 4,
    }
}

/// The position of `app.name()` in [`APP_NAMES`], without comparing strings.
fn app_index(app: &App<'_>) -> Option<usize> {
    match app {
        App::Dns(_) => Some(0),
        App::Http(_) => Some(1),
        App::Tls(_) => Some(2),
        App::Ftp(_) | App::FtpReply(..) => Some(3),
        App::Ssh(_) => Some(4),
        App::None => None,
    }
}

/// A port on which a service was seen, with its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePort {
    pub l4: L4,
    pub port: u16,
}

/// All counters of a run.
#[derive(Debug, Clone)]
pub struct Stats {
    pub total: Counter,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub l3: [Counter; 4],
    pub l4: [Counter; 5],
    pub apps: [Counter; 5],
    pub ports: HashMap<ServicePort, Counter>,
    /// The top connections (a bounded summary: see [`super::pairs`]).
    pub pairs: super::pairs::Pairs,
    /// Which address pairs have talked, for the hosts' peer counts.
    pub talked: super::pairs::Talked,
    /// Frames whose headers stopped early because the capture cut them (snaplen, damage).
    pub truncated: u64,
    /// Frames whose headers contradict themselves.
    pub malformed: u64,
    /// IP fragments (first and later).
    pub fragments: u64,
    /// Frames per link type (a capture has one or a few: a list beats a hash per packet).
    pub links: Vec<(LinkType, u64)>,
}

impl Stats {
    pub fn new(max_keys: usize) -> Self {
        Stats {
            total: Counter::default(),
            first_ts: None,
            last_ts: None,
            l3: Default::default(),
            l4: Default::default(),
            apps: Default::default(),
            ports: HashMap::new(),
            pairs: Default::default(),
            talked: super::pairs::Talked::new(max_keys),
            truncated: 0,
            malformed: 0,
            fragments: 0,
            links: Vec::new(),
        }
    }

    fn count_link(&mut self, link: LinkType, frames: u64) {
        match self.links.iter_mut().find(|(l, _)| *l == link) {
            Some((_, n)) => *n += frames,
            None => self.links.push((link, frames)),
        }
    }

    /// Counts one decoded frame. (IP pairs are counted per flow record: [`Stats::add_pairs`].)
    pub fn add(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) {
        let bytes = u64::from(frame.orig_len);
        self.total.add(bytes);
        self.first_ts = Some(self.first_ts.map_or(frame.ts, |t| t.min(frame.ts)));
        self.last_ts = Some(self.last_ts.map_or(frame.ts, |t| t.max(frame.ts)));
        self.count_link(frame.link, 1);

        if let Some(l3) = self.l3.get_mut(l3_index(packet.l3_class())) {
            l3.add(bytes);
        }
        if let Some(class) = packet.l4_class() {
            if let Some(l4) = self.l4.get_mut(l4_index(class)) {
                l4.add(bytes);
            }
        }
        if let Some(i) = app_index(&packet.app) {
            if let Some(app) = self.apps.get_mut(i) {
                app.add(bytes);
            }
        }
        match packet.stop {
            Some(Stop::Truncated(_)) => self.truncated += 1,
            Some(Stop::Malformed(_)) => self.malformed += 1,
            None => {}
        }

        let Some(ip) = packet.ip() else {
            return;
        };
        if ip.fragment != wire::packet::Fragment::Whole {
            self.fragments += 1;
        }
    }

    /// A flow's first packet went from `src` to `dst`, so peers are known as soon as they talk
    /// (its packets arrive with the flow's record: [`Stats::add_pairs`]). Returns true when the
    /// two addresses talk for the first time, in either direction, so the engine can count
    /// peers. A host talking to itself is its own peer.
    pub fn open_pair(&mut self, src: IpAddr, dst: IpAddr) -> bool {
        self.talked.first_contact(src, dst)
    }

    /// Adds a TCP or UDP flow record's packets to its service port. Counted per record, like
    /// the IP pairs: every packet of the flow counts, later IP fragments included (they carry
    /// no ports, but their flow knows them).
    pub fn add_port(&mut self, port: ServicePort, c: Counter) {
        if c.packets > 0 {
            self.ports.entry(port).or_default().merge(c);
        }
    }

    /// Adds what one flow record carried each way between `a` and `b` (`sent[0]` from `a`) to
    /// their two directed pairs.
    pub fn add_pairs(&mut self, (a, b): (IpAddr, IpAddr), sent: [Counter; 2]) {
        let firsts = self.talked.first_records(a, b, sent.map(|c| c.packets > 0));
        for ((src, dst), sent, first) in
            [((a, b), sent[0], firsts[0]), ((b, a), sent[1], firsts[1])]
        {
            if sent.packets > 0 {
                self.pairs.add(src, dst, sent, first);
            }
        }
    }

    /// Adds another shard's counters. Each IP pair lives in one shard, so pair counters and
    /// the peer counts derived from them are what one engine would have.
    pub fn merge(&mut self, other: Stats) {
        self.total.merge(other.total);
        self.first_ts = match (self.first_ts, other.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = match (self.last_ts, other.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (mine, theirs) in self.l3.iter_mut().zip(other.l3) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.l4.iter_mut().zip(other.l4) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.apps.iter_mut().zip(other.apps) {
            mine.merge(theirs);
        }
        for (k, v) in other.ports {
            self.ports.entry(k).or_default().merge(v);
        }
        self.pairs.merge(other.pairs);
        self.talked.merge(other.talked);
        for (k, v) in other.links {
            self.count_link(k, v);
        }
        self.truncated += other.truncated;
        self.malformed += other.malformed;
        self.fragments += other.fragments;
    }

    /// Seconds between the first and last packet.
    pub fn duration_secs(&self) -> f64 {
        span_secs(self.first_ts, self.last_ts)
    }

    pub fn top_ports(&self, n: usize) -> Vec<(ServicePort, Counter)> {
        top_by(self.ports.iter().map(|(k, v)| (*k, *v)), n, |(p, c)| {
            (c.packets, c.bytes, *p)
        })
    }

    /// The `n` pairs that surely carried the most packets, with what they surely carried and
    /// whether that is exact (see [`super::pairs`]).
    pub fn top_pairs(&self, n: usize) -> Vec<((IpAddr, IpAddr), Counter, bool)> {
        let floors = self.pairs.iter().map(|(p, c)| (p, c.floor(), c.is_exact()));
        top_by(floors, n, |(p, c, _)| (c.packets, c.bytes, *p))
    }
}

/// The `n` largest items by `key` (descending counts, ascending identity on ties).
pub fn top_by<T, K: TieBreak>(
    items: impl Iterator<Item = T>,
    n: usize,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut all: Vec<T> = items.collect();
    all.sort_by(|a, b| key(a).order(&key(b)));
    all.truncate(n);
    all
}

/// Seconds from the first packet to the last (0 without packets).
pub fn span_secs(first: Option<Timestamp>, last: Option<Timestamp>) -> f64 {
    match (first, last) {
        (Some(a), Some(b)) => b.secs_since(a),
        _ => 0.0,
    }
}

/// Orders (count, bytes, id) keys: larger counts first, then smaller ids.
pub trait TieBreak {
    fn order(&self, other: &Self) -> std::cmp::Ordering;
}

impl<I: Ord> TieBreak for (u64, u64, I) {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        other
            .0
            .cmp(&self.0)
            .then(other.1.cmp(&self.1))
            .then(self.2.cmp(&other.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet, IPv4 and UDP headers from port 40000 to `port`, then `payload`.
    fn udp_frame(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (20 + 8 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&port.to_be_bytes());
        f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn app_index_is_the_position_of_the_name() {
        let dns = udp_frame(
            53,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x07example\x00\x00\x01\x00\x01",
        );
        let dns = wire::decode(LinkType::Ethernet, &dns);
        assert!(
            matches!(dns.app, App::Dns(_)),
            "the DNS frame decodes as DNS"
        );
        let apps = [
            dns.app,
            App::Http(wire::http::HttpSummary::Response {
                status: 200,
                reason: "",
            }),
            App::FtpReply(220, ""),
            App::Ssh(""),
            App::None,
        ];
        for app in &apps {
            let by_name = app
                .name()
                .and_then(|n| APP_NAMES.iter().position(|x| *x == n));
            assert_eq!(app_index(app), by_name, "{:?}", app.name());
        }
    }
}
