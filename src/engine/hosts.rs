//! Hosts: per IP address, what it sent and received, the flows it started and accepted, how
//! many peers it talked to, when it was seen, its MAC addresses, whether it is local, and the
//! names it is known by — learned passively from DNS answers, TLS SNI and HTTP Host headers,
//! never by sending a query.
//!
//! Counted per flow record, not per packet: a host entry is made (or touched) when one of its
//! flows starts, and a flow's packets and bytes reach its two hosts when its record ends —
//! one pair of lookups per record instead of per packet, in a table too large for the cache.
//! Live views add the open flows ([`Hosts::with_open`]).
//!
//! Bounded: when `max_hosts` is reached the idlest host is evicted (and counted). Names live in
//! their own bounded table so a DNS answer can name an address before it sends any traffic.

use std::fmt::Write as _;
use std::net::IpAddr;

use arrayvec::ArrayVec;
use ipnet::IpNet;
use serde::Serialize;
use wire::dns::RData;
use wire::http::HttpSummary;
use wire::link::Mac;
use wire::packet::App;
use wire::Packet;

use super::flow::{Dir, Flow, FlowKey, SideMacs};
use super::lru::LruMap;
use super::stats::Counter;
use crate::time::Timestamp;

/// Names kept per address; the first ones seen win.
const MAX_NAMES: usize = 4;
/// The names an address is known by, first seen first.
pub type Names = FirstSeen<Box<str>, MAX_NAMES>;
/// MAC addresses kept per host (a router's IP behind several MACs is itself a finding).
const MAX_MACS: usize = 4;
/// Longest name kept (DNS names are at most 253 characters: RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Host {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub flows_initiated: u64,
    pub flows_accepted: u64,
    pub peers: u64,
    #[serde(skip)]
    pub first_ts: Timestamp,
    #[serde(skip)]
    pub last_ts: Timestamp,
    #[serde(skip)]
    pub macs: FirstSeen<Mac, MAX_MACS>,
    pub local: bool,
}

/// The first few distinct values seen, by packet sequence number. Ordering by sequence (not by
/// arrival in this table) keeps the choice the same however packets were spread over shards.
/// Kept inline, sorted by sequence: a host's MACs are checked on every packet, and a separate
/// allocation would cost a cache miss each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstSeen<T, const N: usize> {
    items: ArrayVec<(u64, T), N>,
}

impl<T, const N: usize> Default for FirstSeen<T, N> {
    fn default() -> Self {
        FirstSeen {
            items: ArrayVec::new(),
        }
    }
}

impl<T: PartialEq, const N: usize> FirstSeen<T, N> {
    pub fn add(&mut self, seq: u64, item: T) {
        if let Some(pos) = self.items.iter().position(|(_, x)| *x == item) {
            // Known: only an earlier sighting (from another shard) changes anything.
            match self.items.get(pos) {
                Some((s, _)) if seq < *s => {
                    self.items.remove(pos);
                }
                _ => return,
            }
        }
        let at = self.items.iter().position(|(s, _)| *s > seq);
        let at = match at {
            Some(at) => at,
            None if self.items.is_full() => return,
            None => self.items.len(),
        };
        if self.items.is_full() {
            self.items.pop();
        }
        self.items.insert(at, (seq, item));
    }

    pub fn merge(&mut self, other: FirstSeen<T, N>) {
        for (seq, item) in other.items {
            self.add(seq, item);
        }
    }

    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, x)| x)
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= N
    }
}

impl Host {
    /// Adds what `other` counted for the same address (another shard, or open flows).
    pub fn add(&mut self, other: Host) {
        self.packets_out += other.packets_out;
        self.bytes_out = self.bytes_out.saturating_add(other.bytes_out);
        self.packets_in += other.packets_in;
        self.bytes_in = self.bytes_in.saturating_add(other.bytes_in);
        self.flows_initiated += other.flows_initiated;
        self.flows_accepted += other.flows_accepted;
        self.peers += other.peers;
        self.first_ts = self.first_ts.min(other.first_ts);
        self.last_ts = self.last_ts.max(other.last_ts);
        self.macs.merge(other.macs);
    }

    pub fn packets(&self) -> u64 {
        self.packets_out + self.packets_in
    }
    pub fn bytes(&self) -> u64 {
        self.bytes_out.saturating_add(self.bytes_in)
    }
}

/// The `n` of `hosts` with the most packets (ties by bytes, then address).
pub fn top<H: std::borrow::Borrow<Host>>(
    hosts: impl Iterator<Item = (IpAddr, H)>,
    n: usize,
) -> Vec<(IpAddr, H)> {
    super::stats::top_by(hosts, n, |(ip, h)| {
        let h = h.borrow();
        (h.packets(), h.bytes(), *ip)
    })
}

/// A flow's sides (0 = the key's `lo` end) with their addresses, the sender of its first
/// packet first.
fn sides(key: &FlowKey, macs: &SideMacs) -> [(usize, IpAddr); 2] {
    let (lo, hi) = ((0, key.lo().addr), (1, key.hi().addr));
    match macs.first_dir {
        Dir::LoToHi => [lo, hi],
        Dir::HiToLo => [hi, lo],
    }
}

/// Adds one side of a flow's counters (`side` 0 is the key's `lo` end) to that side's host.
fn fold_side(
    h: &mut Host,
    side: usize,
    counters: &[Counter; 2],
    (start, end): (Timestamp, Timestamp),
    macs: &SideMacs,
) {
    let (sent, received) = if side == 0 {
        (counters[0], counters[1])
    } else {
        (counters[1], counters[0])
    };
    h.packets_out += sent.packets;
    h.bytes_out = h.bytes_out.saturating_add(sent.bytes);
    h.packets_in += received.packets;
    h.bytes_in = h.bytes_in.saturating_add(received.bytes);
    h.first_ts = h.first_ts.min(start);
    h.last_ts = h.last_ts.max(end);
    if let Some(mac) = macs.side(side) {
        h.macs.add(macs.first_seq, mac);
    }
}

/// Which addresses are "ours": `--home-net`, by default the private and link-local ranges.
#[derive(Debug, Clone)]
pub struct HomeNet {
    nets: Vec<IpNet>,
}

impl HomeNet {
    /// RFC 1918, RFC 4193 (unique local), link-local (RFC 3927, RFC 4291), loopback.
    pub const DEFAULT: [&'static str; 8] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "127.0.0.0/8",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    ];

    pub fn new(nets: Vec<IpNet>) -> Self {
        HomeNet { nets }
    }

    pub fn default_nets() -> Vec<IpNet> {
        Self::DEFAULT
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(addr))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct HostCounts {
    pub evicted: u64,
}

pub struct Hosts {
    table: LruMap<IpAddr, Host>,
    names: LruMap<IpAddr, Names>,
    home: HomeNet,
    max_hosts: usize,
    pub counts: HostCounts,
}

impl Hosts {
    pub fn new(home: HomeNet, max_hosts: usize) -> Self {
        Hosts {
            table: LruMap::new(),
            names: LruMap::new(),
            home,
            max_hosts: max_hosts.max(1),
            counts: HostCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn entry(&mut self, addr: IpAddr, ts: Timestamp) -> &mut Host {
        if self.table.len() >= self.max_hosts && self.table.get(&addr).is_none() {
            self.table.pop_oldest();
            self.counts.evicted += 1;
        }
        let local = &self.home;
        self.table.touch_or_insert_with(addr, || Host {
            first_ts: ts,
            last_ts: ts,
            local: local.contains(&addr),
            ..Host::default()
        })
    }

    /// Adds what a flow record carried to its two hosts: each direction's packets and bytes
    /// out of its sender and into its receiver, the record's times, the flow's first MAC
    /// addresses. Hosts are counted per flow record, not per packet: one pair of lookups per
    /// record instead of per packet (live views add the open flows: [`Hosts::with_open`]).
    pub fn fold(
        &mut self,
        key: &FlowKey,
        counters: &[Counter; 2],
        times: (Timestamp, Timestamp),
        macs: &SideMacs,
    ) {
        for (side, addr) in sides(key, macs) {
            let h = self.entry(addr, times.0);
            fold_side(h, side, counters, times, macs);
        }
    }

    /// Gives a packet's MAC addresses to its hosts at once: used for packets whose MACs differ
    /// from their flow's first ones (which reach the hosts with the flow's record).
    pub fn add_macs(&mut self, packet: &Packet<'_>, ts: Timestamp, seq: u64) {
        let Some(ip) = packet.ip() else { return };
        for (addr, mac) in [(ip.src, packet.src_mac), (ip.dst, packet.dst_mac)] {
            if let Some(mac) = mac {
                self.entry(addr, ts).macs.add(seq, mac);
            }
        }
    }

    /// Every host as it stands now, open flows included: the hosts' own counters (from ended
    /// flow records) plus what `open` flows have counted so far.
    pub fn with_open<'a>(
        &self,
        open: impl Iterator<Item = (&'a FlowKey, &'a Flow)>,
    ) -> Vec<(IpAddr, Host)> {
        // What the open flows add, per address: a few addresses per open flow, not a copy of
        // the whole table (which can hold a million hosts).
        let mut open_hosts: hashbrown::HashMap<IpAddr, Host> = hashbrown::HashMap::new();
        for (key, flow) in open {
            let times = (flow.earliest, flow.last_ts);
            for (side, addr) in sides(key, &flow.macs) {
                let h = open_hosts.entry(addr).or_insert_with(|| Host {
                    first_ts: times.0,
                    last_ts: times.1,
                    local: self.home.contains(&addr),
                    ..Host::default()
                });
                fold_side(h, side, &flow.counters, times, &flow.macs);
            }
        }
        let mut all = Vec::with_capacity(self.table.len());
        for (addr, h) in self.table.iter() {
            let mut h = h.clone();
            if let Some(more) = open_hosts.remove(addr) {
                h.add(more);
            }
            all.push((*addr, h));
        }
        // Hosts evicted from the table while a flow of theirs is still open.
        all.extend(open_hosts);
        all
    }

    /// A new flow from `client` to `server`.
    pub fn new_flow(&mut self, client: IpAddr, server: IpAddr, ts: Timestamp) {
        self.entry(client, ts).flows_initiated += 1;
        self.entry(server, ts).flows_accepted += 1;
    }

    /// `a` and `b` talked for the first time.
    pub fn new_peers(&mut self, a: IpAddr, b: IpAddr, ts: Timestamp) {
        self.entry(a, ts).peers += 1;
        if a != b {
            self.entry(b, ts).peers += 1;
        }
    }

    /// Names an IP packet reveals: DNS answers, TLS SNI, HTTP Host.
    pub fn learn_names(&mut self, packet: &Packet<'_>, seq: u64) {
        let Some(ip) = packet.ip() else { return };
        match &packet.app {
            App::Dns(d) if d.is_response && d.rcode == 0 => {
                let Some((question, _)) = d.question else {
                    return;
                };
                let mut name = NameBuf::default();
                if question.write_to(&mut name).is_err() || name.is_empty() {
                    return;
                }
                for answer in d.answers() {
                    match answer.data {
                        RData::A(v4) => self.add_name(IpAddr::V4(v4), name.as_str(), seq),
                        RData::Aaaa(v6) => self.add_name(IpAddr::V6(v6), name.as_str(), seq),
                        RData::Name(_) | RData::Other => {}
                    }
                }
            }
            App::Tls(t) => {
                if let Some(sni) = t.sni {
                    self.add_name(ip.dst, sni, seq);
                }
            }
            App::Http(HttpSummary::Request { host: Some(h), .. }) => {
                // "example.com:8080" names the host example.com.
                let host = h.rsplit_once(':').map_or(*h, |(name, port)| {
                    if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') {
                        name
                    } else {
                        h
                    }
                });
                self.add_name(ip.dst, host, seq);
            }
            _ => {}
        }
    }

    /// A name for `addr` found outside a single packet (a TLS hello over several segments).
    pub fn learn_name(&mut self, addr: IpAddr, name: &str, seq: u64) {
        self.add_name(addr, name, seq);
    }

    fn add_name(&mut self, addr: IpAddr, name: &str, seq: u64) {
        let name = name.trim_end_matches('.');
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return;
        }
        if let Some(names) = self.names.touch(&addr) {
            // Compare before copying: a known name costs no allocation.
            if !names.items().any(|n| n.eq_ignore_ascii_case(name)) && !names.is_full() {
                names.add(seq, Box::from(name));
            }
            return;
        }
        if self.names.len() >= self.max_hosts {
            self.names.pop_oldest();
        }
        let mut names = FirstSeen::default();
        names.add(seq, Box::from(name));
        self.names.insert(addr, names);
    }

    /// Adds another shard's hosts and names to these.
    pub fn merge(&mut self, mut other: Hosts) {
        for (addr, h) in other.table.drain() {
            let mine = self.table.touch_or_insert_with(addr, || Host {
                first_ts: h.first_ts,
                last_ts: h.last_ts,
                local: h.local,
                ..Host::default()
            });
            mine.add(h);
        }
        for (addr, names) in other.names.drain() {
            match self.names.touch(&addr) {
                Some(mine) => mine.merge(names),
                None => {
                    self.names.insert(addr, names);
                }
            }
        }
        self.counts.evicted += other.counts.evicted;
    }

    pub fn get(&self, addr: &IpAddr) -> Option<&Host> {
        self.table.get(addr)
    }

    /// The names `addr` is known by, first seen first.
    pub fn names(&self, addr: &IpAddr) -> Vec<&str> {
        self.names
            .get(addr)
            .map_or_else(Vec::new, |v| v.items().map(|n| &**n).collect())
    }

    /// The names of `addr` with the packets that showed them (to merge shards' names).
    pub fn names_of(&self, addr: &IpAddr) -> Option<&Names> {
        self.names.get(addr)
    }

    /// Every named address with its names, first seen first.
    pub fn named(&self) -> impl Iterator<Item = (&IpAddr, Vec<&str>)> {
        self.names
            .iter()
            .map(|(addr, v)| (addr, v.items().map(|n| &**n).collect()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &Host)> {
        self.table.iter()
    }

    /// The `n` hosts with the most packets (ties by bytes, then address).
    pub fn top(&self, n: usize) -> Vec<(IpAddr, &Host)> {
        top(self.table.iter().map(|(k, v)| (*k, v)), n)
    }

    pub fn is_local(&self, addr: &IpAddr) -> bool {
        self.home.contains(addr)
    }
}

/// A name formatted on the stack, so checking whether a name is already known allocates
/// nothing; it is copied to the heap only when kept.
struct NameBuf {
    buf: [u8; 256],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl NameBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Write for NameBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &Mac) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::FirstSeen;

    fn items(f: &FirstSeen<char, 3>) -> String {
        f.items().collect()
    }

    #[test]
    fn first_seen_keeps_the_earliest_by_sequence() {
        let mut f = FirstSeen::<char, 3>::default();
        for (seq, c) in [(5, 'e'), (2, 'b'), (5, 'e'), (9, 'x'), (7, 'g')] {
            f.add(seq, c);
        }
        assert_eq!(items(&f), "beg", "full: later items are not kept");
        f.add(1, 'a');
        assert_eq!(items(&f), "abe", "an earlier item pushes out the latest");
        f.add(0, 'e');
        assert_eq!(
            items(&f),
            "eab",
            "an earlier sighting of a known item moves it"
        );
        // Merging shards in any order gives the same result.
        let (mut x, mut y) = (FirstSeen::<char, 3>::default(), FirstSeen::default());
        for (seq, c) in [(4, 'd'), (3, 'c')] {
            x.add(seq, c);
        }
        for (seq, c) in [(1, 'a'), (6, 'f'), (3, 'c')] {
            y.add(seq, c);
        }
        let mut xy = x.clone();
        xy.merge(y.clone());
        y.merge(x);
        assert_eq!(items(&xy), "acd");
        assert_eq!(xy, y);
    }
}
