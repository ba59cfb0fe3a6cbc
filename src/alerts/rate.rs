//! Rate thresholds: packets or bits per second above a limit, on the whole capture and per
//! host (sender or receiver), counted in whole seconds of packet time (one alert per second at
//! most, merged into one alert per host).

use std::net::IpAddr;

use hashbrown::HashMap;
use serde_json::json;

use super::config::RateConfig;
use super::{Detector, Raise, Seen, Severity};
use crate::time::Timestamp;

/// Packets and bytes of one second, and whether this second already raised.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    packets: u64,
    bytes: u64,
    raised: bool,
}

impl Second {
    /// Counts one packet; returns (packets, bits) so far in the second.
    fn add(&mut self, len: u32) -> (u64, u64) {
        self.packets += 1;
        self.bytes = self.bytes.saturating_add(u64::from(len));
        (self.packets, self.bytes.saturating_mul(8))
    }
}

/// Counts per whole second of packet time. Per-host counts live in a plain map emptied at
/// each new second (its capacity stays, so no allocation once warm): cheaper per packet than
/// an LRU, and bounded by `max_tracked` hosts per second — hosts past that in one second are
/// not counted (and counted as evictions).
pub struct Rate {
    c: RateConfig,
    second: Option<i64>,
    global: Second,
    hosts: HashMap<IpAddr, Second>,
    /// This second's packets (source, destination, bytes) in arrival order, while no host can be
    /// over its limit yet: one host's count never exceeds the global count, so per-host
    /// counting (two hash updates a packet) starts only once the global count reaches a host
    /// limit; then these are replayed into `hosts`, and the counts are exactly what counting
    /// from the start gives.
    pending: Deferred,
    /// `hosts` is being counted directly for the rest of this second.
    counting: bool,
    max_hosts: usize,
    untracked: u64,
}

/// Most deferred packets per second (8.4 MB of IPv4, 19 MB of IPv6); past it counting starts
/// anyway (memory stays bounded when only a bit-rate limit is set and packets are small).
const MAX_PENDING: usize = 1 << 19;

/// Packets (source, destination if not the source, length) kept in arrival order, packed in
/// 32-bit words: a tag that says which addresses follow and of which family, the addresses (one
/// word for IPv4, four for IPv6), the length. An IPv4 packet takes 16 bytes where a
/// `(IpAddr, Option<IpAddr>, u32)` takes 40: at 100,000 packets a second, 2.1 MB instead of 5.2.
///
/// The words are gathered in a cache line and written to the list a whole line at a time with
/// non-temporal stores, which go to memory without taking a cache line: the second's 1–2 MB of
/// records would otherwise push the flow table out of the cache, which cost more than writing
/// them. They are read back only when per-host counting starts, which is rare.
#[derive(Debug, Default)]
struct Deferred {
    lines: Vec<Line>,
    /// The words not yet in `lines`: the first `staged_len` of this line.
    staged: Line,
    staged_len: usize,
    packets: usize,
}

const LINE_WORDS: usize = 16;

/// One cache line of words, aligned as one.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C, align(64))]
struct Line([u32; LINE_WORDS]);

/// Tag bits of a deferred packet.
const SRC_V6: u32 = 1;
const HAS_DST: u32 = 2;
const DST_V6: u32 = 4;

impl Deferred {
    fn push(&mut self, src: IpAddr, dst: Option<IpAddr>, len: u32) {
        self.packets += 1;
        if let (IpAddr::V4(s), Some(IpAddr::V4(d))) = (src, dst) {
            // Most packets: four words.
            self.append(&[HAS_DST, u32::from(s), u32::from(d), len]);
            return;
        }
        let v6 = |addr: IpAddr, bit| if addr.is_ipv6() { bit } else { 0 };
        let mut record = [0u32; 10];
        record[0] = v6(src, SRC_V6) | dst.map_or(0, |d| HAS_DST | v6(d, DST_V6));
        let mut n = 1 + put(&mut record[1..], src);
        if let Some(dst) = dst {
            n += record.get_mut(n..).map_or(0, |rest| put(rest, dst));
        }
        if let Some(w) = record.get_mut(n) {
            *w = len;
            n += 1;
        }
        self.append(record.get(..n).unwrap_or(&record));
    }

    fn append(&mut self, words: &[u32]) {
        for &w in words {
            if let Some(slot) = self.staged.0.get_mut(self.staged_len) {
                *slot = w;
                self.staged_len += 1;
            }
            if self.staged_len == LINE_WORDS {
                self.write_staged();
            }
        }
    }

    /// Moves the full staged line to the end of `lines`.
    #[allow(unsafe_code)]
    fn write_staged(&mut self) {
        self.staged_len = 0;
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{__m128i, _mm_load_si128, _mm_stream_si128};
            self.lines.reserve(1);
            let Some(slot) = self.lines.spare_capacity_mut().first_mut() else {
                return;
            };
            let to = slot.as_mut_ptr().cast::<__m128i>();
            let from = std::ptr::from_ref(&self.staged).cast::<__m128i>();
            for i in 0..LINE_WORDS / 4 {
                // SAFETY: both are 64-byte-aligned lines of four 16-byte parts; `to` is spare
                // capacity of `lines`, `from` the staged line. (The reads that replay the list
                // run on this thread, which sees its own non-temporal stores.)
                unsafe { _mm_stream_si128(to.add(i), _mm_load_si128(from.add(i))) };
            }
            // SAFETY: the first spare line was just written whole.
            unsafe { self.lines.set_len(self.lines.len() + 1) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.lines.push(self.staged);
    }

    fn len(&self) -> usize {
        self.packets
    }

    fn clear(&mut self) {
        self.lines.clear();
        self.staged_len = 0;
        self.packets = 0;
    }

    /// The words pushed, in order.
    fn words(&self) -> impl Iterator<Item = u32> + '_ {
        let staged = self.staged.0.get(..self.staged_len).unwrap_or(&[]);
        self.lines
            .iter()
            .flat_map(|line| line.0.iter())
            .chain(staged)
            .copied()
    }

    /// The packets in the order they were pushed.
    fn iter(&self) -> impl Iterator<Item = (IpAddr, Option<IpAddr>, u32)> + '_ {
        let mut words = self.words();
        std::iter::from_fn(move || {
            let tag = words.next()?;
            let src = take_addr(&mut words, tag & SRC_V6 != 0)?;
            let dst = match tag & HAS_DST {
                0 => None,
                _ => Some(take_addr(&mut words, tag & DST_V6 != 0)?),
            };
            Some((src, dst, words.next()?))
        })
    }
}

/// Writes `addr` at the start of `out` (one word for IPv4, four for IPv6); the words written.
fn put(out: &mut [u32], addr: IpAddr) -> usize {
    let words = match addr {
        IpAddr::V4(a) => {
            return out.first_mut().map_or(0, |w| {
                *w = u32::from(a);
                1
            })
        }
        IpAddr::V6(a) => {
            let b = a.to_bits();
            [
                (b >> 96) as u32,
                (b >> 64) as u32,
                (b >> 32) as u32,
                b as u32,
            ]
        }
    };
    match out.get_mut(..4) {
        Some(slot) => {
            slot.copy_from_slice(&words);
            4
        }
        None => 0,
    }
}

/// The next address in `words`.
fn take_addr(words: &mut impl Iterator<Item = u32>, v6: bool) -> Option<IpAddr> {
    if v6 {
        let mut bits = 0u128;
        for _ in 0..4 {
            bits = bits << 32 | u128::from(words.next()?);
        }
        Some(IpAddr::from(std::net::Ipv6Addr::from_bits(bits)))
    } else {
        Some(IpAddr::from(std::net::Ipv4Addr::from(words.next()?)))
    }
}

impl Rate {
    pub fn new(c: &RateConfig, max_tracked: usize) -> Self {
        Rate {
            c: c.clone(),
            second: None,
            global: Second::default(),
            hosts: HashMap::new(),
            pending: Deferred::default(),
            counting: false,
            max_hosts: max_tracked.max(1),
            untracked: 0,
        }
    }
}

/// The limit that `(pps, bps)` passes, if any (0 = no limit).
fn over(pps: u64, bps: u64, max_pps: u64, max_bps: u64) -> Option<(&'static str, u64, u64)> {
    if max_pps > 0 && pps > max_pps {
        Some(("pps", pps, max_pps))
    } else if max_bps > 0 && bps > max_bps {
        Some(("bps", bps, max_bps))
    } else {
        None
    }
}

fn raise(now: Timestamp, host: Option<IpAddr>, what: (&'static str, u64, u64)) -> Raise {
    let (unit, value, limit) = what;
    let who = host.map_or_else(|| "all traffic".to_string(), |h| h.to_string());
    let words = if unit == "pps" { "packets/s" } else { "bits/s" };
    Raise {
        ts: now,
        detector: "rate",
        kind: if host.is_some() { "host" } else { "global" },
        severity: Severity::Medium,
        src: host.map(|h| h.to_string()),
        dst: None,
        summary: format!("high rate: {who} above {limit} {words} ({value} in one second)"),
        evidence: json!({ "unit": unit, "value": value, "limit": limit, "window_secs": 1 }),
    }
}

impl Detector for Rate {
    fn name(&self) -> &'static str {
        "rate"
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let now = seen.ts;
        let sec = now.0.div_euclid(Timestamp::NANOS_PER_SEC);
        if self.second != Some(sec) {
            self.second = Some(sec);
            self.global = Second::default();
            self.hosts.clear();
            self.pending.clear();
            self.counting = false;
        }
        let (pps, bps) = self.global.add(seen.wire_len);
        if !self.global.raised {
            if let Some(what) = over(pps, bps, self.c.global_pps, self.c.global_bps) {
                self.global.raised = true;
                out.push(raise(now, None, what));
            }
        }
        if self.c.host_pps == 0 && self.c.host_bps == 0 {
            return;
        }
        let Some(ip) = seen.packet.ip() else {
            return;
        };
        let dst = (ip.dst != ip.src).then_some(ip.dst);
        if !self.counting {
            self.pending.push(ip.src, dst, seen.wire_len);
            // Could any host be over a limit now? Not while everything together is not.
            let reachable = (self.c.host_pps > 0 && pps > self.c.host_pps)
                || (self.c.host_bps > 0 && bps > self.c.host_bps);
            if !reachable && self.pending.len() < MAX_PENDING {
                return;
            }
            self.counting = true;
            let pending = std::mem::take(&mut self.pending);
            for (src, dst, len) in pending.iter() {
                for host in std::iter::once(src).chain(dst) {
                    self.count(now, host, len, out);
                }
            }
            self.pending = pending;
            self.pending.clear();
            return;
        }
        for host in std::iter::once(ip.src).chain(dst) {
            self.count(now, host, seen.wire_len, out);
        }
    }

    fn evictions(&self) -> u64 {
        self.untracked
    }
}

impl Rate {
    /// One packet of `len` bytes to or from `host` in the current second.
    fn count(&mut self, now: Timestamp, host: IpAddr, len: u32, out: &mut Vec<Raise>) {
        let s = if self.hosts.len() < self.max_hosts {
            self.hosts.entry(host).or_default()
        } else if let Some(s) = self.hosts.get_mut(&host) {
            s
        } else {
            self.untracked += 1;
            return;
        };
        let (pps, bps) = s.add(len);
        if !s.raised {
            if let Some(what) = over(pps, bps, self.c.host_pps, self.c.host_bps) {
                s.raised = true;
                out.push(raise(now, Some(host), what));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deferred_packets_come_back_as_they_went_in() {
        let v4 = |a, b, c, d| IpAddr::from([a, b, c, d]);
        let v6 = |last| {
            IpAddr::from([
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
            ])
        };
        let packets = [
            (v4(10, 0, 0, 1), Some(v4(10, 0, 0, 2)), 60),
            (v6(1), Some(v6(2)), 1500),
            (v4(10, 0, 0, 1), None, 0),
            (v6(3), None, u32::MAX),
            (v4(192, 168, 0, 1), Some(v6(4)), 7),
            (v6(5), Some(v4(172, 16, 0, 1)), 9000),
        ];
        let mut d = Deferred::default();
        for _ in 0..2 {
            for &(src, dst, len) in &packets {
                d.push(src, dst, len);
            }
            assert_eq!(d.len(), packets.len());
            assert_eq!(d.iter().collect::<Vec<_>>(), packets);
            assert_eq!(d.words().count(), 4 + 10 + 3 + 6 + 7 + 7);
            d.clear();
            assert_eq!(d.iter().count(), 0);
        }
        // Many lines, records across their ends, the list emptied and filled again.
        for round in 0..3 {
            let many: Vec<_> = (0..1000 + round)
                .map(|i| {
                    let (src, dst, len) = packets[i % packets.len()];
                    (src, dst, len ^ i as u32)
                })
                .collect();
            for &(src, dst, len) in &many {
                d.push(src, dst, len);
            }
            assert_eq!(d.iter().collect::<Vec<_>>(), many);
            d.clear();
        }
    }

    /// A second is whole seconds of packet time, negative times and the ends of `i64` included:
    /// the global limit of one packet a second raises exactly when a second holds two.
    #[test]
    fn seconds_are_whole_seconds_of_packet_time() {
        let config = RateConfig {
            enabled: true,
            global_pps: 1,
            global_bps: 0,
            host_pps: 0,
            host_bps: 0,
        };
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 2000)
            .write(&mut frame, &[])
            .unwrap();
        let packet = wire::decode(wire::LinkType::Ethernet, &frame);
        let second = Timestamp::NANOS_PER_SEC;
        // (packet time, whether it raises: the second packet of a second does)
        let times = [
            (-1, false),
            (0, false),
            (second - 1, true),
            (second, false),
            (-second - 1, false),
            (-second, false),
            (i64::MAX, false),
            (i64::MAX - 1, true),
            (i64::MIN, false),
            (i64::MIN + 1, true),
            // i64::MIN lies 145,224,192 ns into its second, the next starts 854,775,808 ns
            // later; a second raises once.
            (i64::MIN + 854_775_807, false),
            (i64::MIN + 854_775_808, false),
            (i64::MIN + 854_775_809, true),
        ];
        let mut rate = Rate::new(&config, 16);
        for (ts, raises) in times {
            let mut out = Vec::new();
            let seen = Seen {
                ts: Timestamp(ts),
                wire_len: frame.len() as u32,
                packet: &packet,
            };
            rate.inspect(&seen, &mut out);
            assert_eq!(out.len(), usize::from(raises), "packet at {ts} ns");
        }
    }

    /// Counting per host only once the global count could reach a host limit raises exactly
    /// what counting every packet from the start raises: same hosts, same times, same values.
    #[test]
    fn deferred_counting_equals_counting_everything() {
        let mut state = 0x2545_f491u32;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for (host_pps, host_bps) in [(30, 0), (0, 30_000), (25, 20_000), (1, 0)] {
            let config = RateConfig {
                enabled: true,
                global_pps: 0,
                global_bps: 0,
                host_pps,
                host_bps,
            };
            let mut rate = Rate::new(&config, 1000);
            let mut raised = Vec::new();
            // The reference: every packet counted per host and second.
            let mut reference: HashMap<(i64, IpAddr), (u64, u64, bool)> = HashMap::new();
            let mut expected = Vec::new();
            for i in 0..3000u32 {
                let r = rand();
                // A third of the hosts speak IPv6 (the deferred packets pack both families).
                let (s, d) = ((r % 6) as u8, ((r >> 8) % 4) as u8);
                let ip = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6]);
                let (ip, src, dst) = if s % 3 == 0 {
                    let (src, dst) = (
                        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, s],
                        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, d],
                    );
                    (ip.ipv6(src, dst, 64), IpAddr::from(src), IpAddr::from(dst))
                } else {
                    let (src, dst) = ([10, 0, 0, s], [10, 0, 1, d]);
                    (ip.ipv4(src, dst, 64), IpAddr::from(src), IpAddr::from(dst))
                };
                let payload = vec![0u8; (r >> 16) as usize % 400];
                let mut frame = Vec::new();
                ip.udp(1000, 2000).write(&mut frame, &payload).unwrap();
                let packet = wire::decode(wire::LinkType::Ethernet, &frame);
                // 3000 packets over 20 seconds, bursty.
                let ts = Timestamp(i64::from(i / 150) * Timestamp::NANOS_PER_SEC + i64::from(i));
                let seen = Seen {
                    ts,
                    wire_len: frame.len() as u32,
                    packet: &packet,
                };
                rate.inspect(&seen, &mut raised);
                let sec = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
                for host in [src, dst] {
                    let e = reference.entry((sec, host)).or_default();
                    e.0 += 1;
                    e.1 += frame.len() as u64 * 8;
                    if !e.2 {
                        if let Some(what) = over(e.0, e.1, host_pps, host_bps) {
                            e.2 = true;
                            expected.push((ts, host.to_string(), what.1));
                        }
                    }
                }
            }
            let got: Vec<(Timestamp, String, u64)> = raised
                .iter()
                .map(|r| {
                    (
                        r.ts,
                        r.src.clone().unwrap(),
                        r.evidence["value"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert!(
                !expected.is_empty(),
                "the limits must be crossed: {host_pps} pps, {host_bps} bit/s"
            );
            assert_eq!(got, expected, "limits {host_pps} pps, {host_bps} bit/s");
        }
    }
}
