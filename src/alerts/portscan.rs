//! Port scans: vertical (one source probes many ports of one target), horizontal (one source
//! probes one port on many targets), and the flag patterns of SYN, FIN, NULL and XMAS scans.
//!
//! A probe is a TCP segment without ACK that opens (SYN) or pokes (FIN, none, FIN+PSH+URG) a
//! port. What tells a scan from a busy client is that its probes fail: a probe counts as failed
//! when the target refuses it (RST) or leaves it unanswered for [`ANSWER_GRACE_SECS`]; a SYN-ACK
//! means the connection worked, and takes the probe out. A window raises when it holds
//! `vertical_ports` failed probes (or `horizontal_hosts`), and most of the source's attempts in
//! the window failed — a proxy opening thousands of connections meets some dead servers too.
//! Counts are distinct ports (or targets) within a sliding window of packet time. ACK and UDP
//! scans are not detected (an ACK probe looks like any segment of a flow midway).

use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::DefaultHashBuilder;

use serde_json::json;
use wire::packet::{TcpFlags, Transport};

use super::bounded::Bounded;
use super::config::PortScanConfig;
use super::window::{secs_ns, Distinct, SlidingCounts};
use super::{Detector, Interest, Raise, Seen, Severity};
use crate::engine::flow::addr_bits;
use crate::time::Timestamp;

/// The flag pattern of a probe (nmap's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Syn,
    Fin,
    Null,
    Xmas,
}

impl Probe {
    /// Flags that decide the pattern; ECE/CWR (ECN set-up) are ignored.
    const MASK: u8 = TcpFlags::FIN
        | TcpFlags::SYN
        | TcpFlags::RST
        | TcpFlags::PSH
        | TcpFlags::ACK
        | TcpFlags::URG;

    fn of(flags: TcpFlags) -> Option<Probe> {
        match flags.0 & Self::MASK {
            TcpFlags::SYN => Some(Probe::Syn),
            TcpFlags::FIN => Some(Probe::Fin),
            0 => Some(Probe::Null),
            f if f == TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG => Some(Probe::Xmas),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Probe::Syn => "SYN",
            Probe::Fin => "FIN",
            Probe::Null => "NULL",
            Probe::Xmas => "XMAS",
        }
    }

    fn is_stealth(self) -> bool {
        self != Probe::Syn
    }
}

/// Unanswered this long, a probe has failed: answers come within a round trip, and even a
/// satellite link's is under a second and a half.
pub const ANSWER_GRACE_SECS: u64 = 3;

/// Ports or targets listed in an alert's evidence, at most.
const LATEST: usize = 32;

/// What is known of one probe.
#[derive(Debug, Clone, Copy)]
struct Tag {
    probe: Probe,
    /// The target answered with a RST: the port is closed.
    refused: bool,
}

/// Probes of one source toward one target (vertical) or one port (horizontal) that wait for
/// their answer or failed. A window that holds neither is dropped (see [`Probes::can_go`]): the
/// probes answered with a SYN-ACK are counted in [`PortScan::opened`], 13 bytes a window key
/// instead of a window.
struct Probes<T> {
    window: Distinct<T, Tag>,
    /// Set once the window raised (most never do, so it is boxed: 8 bytes a window, not 24).
    episode: Option<Box<Episode>>,
    /// The last probe or answer seen: a window quiet for its whole length holds nothing that
    /// can count again, and is dropped at the next tick (see [`PortScan::tick`]).
    last: Timestamp,
}

impl<T: PartialEq + Copy + Ord> Probes<T> {
    /// The ports (or targets) in the window, sorted, as a sample for the evidence.
    fn latest(&self) -> Vec<T> {
        let mut v: Vec<T> = self.window.items().map(|e| e.0).collect();
        v.sort_unstable();
        v.truncate(LATEST);
        v
    }

    /// Holds twice the threshold, so fresh probes still waiting for their answer leave room
    /// for failed ones. Probes past that (a fast scan outrunning its answers) are counted in
    /// the window's overflow, which joins the totals once the window raises. Worst case, every
    /// one of `max_tracked` windows full: 40 × 24 B vertical, 60 × 40 B horizontal, about
    /// 200 MB with the defaults.
    fn new(threshold: usize) -> Self {
        Probes {
            window: Distinct::new(threshold.saturating_mul(2)),
            episode: None,
            last: Timestamp(i64::MIN),
        }
    }

    /// At the end of the capture, for a scan that raised: its last raise time, pattern and
    /// total with every probe still unanswered counted as failed.
    fn at_end(&self) -> Option<(Timestamp, Probe, u64)> {
        let e = self.episode.as_ref()?;
        let failed = self.window.items().count() as u64 + u64::from(self.window.overflow);
        (failed > 0).then(|| (e.last_raise, self.pattern(), e.reported + failed))
    }

    /// Failed probes in the window, and how many of them were stealth probes.
    fn failed(&self, now: Timestamp, grace_ns: i64) -> (usize, usize) {
        let mut failed = 0;
        let mut stealth = 0;
        for (_, t, tag) in self.window.items() {
            if tag.refused || now.0.saturating_sub(t.0) >= grace_ns {
                failed += 1;
                if tag.probe.is_stealth() {
                    stealth += 1;
                }
            }
        }
        (failed, stealth)
    }

    /// The pattern most probes had.
    fn pattern(&self) -> Probe {
        let mut counts = [0usize; 4];
        for e in self.window.items() {
            if let Some(c) = counts.get_mut(e.2.probe as usize) {
                *c += 1;
            }
        }
        let order = [Probe::Syn, Probe::Fin, Probe::Null, Probe::Xmas];
        order
            .into_iter()
            .max_by_key(|p| (counts.get(*p as usize).copied(), p.is_stealth()))
            .unwrap_or(Probe::Syn)
    }

    /// Failed probes to raise on, if this window should raise: enough of them (or enough
    /// stealth ones), and at least two thirds of the attempts failed. `key` gives the window's
    /// key in [`PortScan::opened`]; it is hashed only when there are enough failures, which
    /// is rare, not on every probe.
    fn ready(
        &self,
        now: Timestamp,
        scan: &PortScan,
        threshold: usize,
        key: impl FnOnce() -> u64,
    ) -> Option<usize> {
        let (failed, stealth) = self.failed(now, scan.grace_ns);
        let enough = failed >= threshold || stealth >= scan.stealth_probes;
        let mostly_failed = || failed as u64 >= 2 * scan.opened.at(key(), now, scan.window_ns);
        (enough && mostly_failed()).then_some(failed)
    }

    /// Nothing waits for an answer, nothing failed, nothing was reported, and the window owns
    /// no heap: it can go. A window that needed the heap (a source with several probes in
    /// flight) stays until it is quiet, so its next probes reuse the heap instead of asking
    /// for it again on every connection.
    fn can_go(&self) -> bool {
        self.window.items().next().is_none()
            && self.window.overflow == 0
            && self.episode.is_none()
            && !self.window.on_heap()
    }

    /// Starts the next window after a raise: the failed probes (and the overflow) are counted
    /// and forgotten, probes still waiting for an answer stay. Raises that follow each other
    /// within the window are one episode, whose total grows; a quiet window starts a new one.
    fn roll(&mut self, now: Timestamp, failed: usize, grace_ns: i64, window_ns: i64) -> u64 {
        let continuing = self
            .episode
            .as_ref()
            .is_some_and(|e| now.0.saturating_sub(e.last_raise.0) < window_ns);
        let e = self.episode.get_or_insert_with(|| {
            Box::new(Episode {
                reported: 0,
                last_raise: now,
            })
        });
        if !continuing {
            e.reported = 0;
        }
        e.reported += failed as u64 + u64::from(self.window.overflow);
        e.last_raise = now;
        let total = e.reported;
        self.window.overflow = 0;
        self.window
            .remove_where(|(_, t, tag)| tag.refused || now.0.saturating_sub(t.0) >= grace_ns);
        total
    }
}

/// The alerts a window has raised: raises that follow each other within the window are one
/// episode (see [`Probes::roll`]).
struct Episode {
    /// Failed probes counted into this episode's alerts so far.
    reported: u64,
    last_raise: Timestamp,
}

pub struct PortScan {
    window_ns: i64,
    grace_ns: i64,
    window_secs: u64,
    vertical_ports: usize,
    horizontal_hosts: usize,
    stealth_probes: usize,
    vertical: Bounded<(IpAddr, IpAddr), Probes<u16>>,
    horizontal: Bounded<(IpAddr, u16), Probes<IpAddr>>,
    /// Probes answered with a SYN-ACK in about the last window, per window key (hashed with
    /// `keys`). Kept apart from the windows because most windows are a client's connections
    /// that worked: they need a count, not a window.
    opened: SlidingCounts,
    keys: DefaultHashBuilder,
}

impl PortScan {
    pub fn new(c: &PortScanConfig, max_tracked: usize) -> Self {
        PortScan {
            window_ns: secs_ns(c.window_secs),
            grace_ns: secs_ns(ANSWER_GRACE_SECS),
            window_secs: c.window_secs,
            vertical_ports: c.vertical_ports.max(1),
            horizontal_hosts: c.horizontal_hosts.max(1),
            stealth_probes: c.stealth_probes.max(1),
            vertical: Bounded::new(max_tracked),
            horizontal: Bounded::new(max_tracked),
            // A key's counts take 13 bytes, a window's probes up to 3 KB: room for more.
            opened: SlidingCounts::new(max_tracked.saturating_mul(4)),
            keys: DefaultHashBuilder::default(),
        }
    }

    /// The key of a vertical window in `opened`. The tags keep a vertical window apart from a
    /// horizontal one, and an IPv4 address from the IPv6 address with the same bits.
    fn vertical_key(&self, scanner: IpAddr, target: IpAddr) -> u64 {
        let kinds = u8::from(scanner.is_ipv4()) << 1 | u8::from(target.is_ipv4());
        self.keys
            .hash_one((0u8, kinds, addr_bits(scanner), addr_bits(target)))
    }

    /// The key of a horizontal window in `opened`.
    fn horizontal_key(&self, scanner: IpAddr, port: u16) -> u64 {
        self.keys
            .hash_one((1u8, u8::from(scanner.is_ipv4()), addr_bits(scanner), port))
    }

    /// A probe of `scanner` toward `target`'s `port` worked: it counts as opened, and leaves
    /// its windows (which go when nothing else is in them).
    fn answered(&mut self, now: Timestamp, scanner: IpAddr, target: IpAddr, port: u16) {
        let w = self.window_ns;
        let (vk, hk) = (
            self.vertical_key(scanner, target),
            self.horizontal_key(scanner, port),
        );
        self.opened.add(vk, now, w);
        self.opened.add(hk, now, w);
        if let Some(p) = self.vertical.get_mut(&(scanner, target)) {
            p.window.remove(port);
            p.last = now;
            if p.can_go() {
                self.vertical.remove(&(scanner, target));
            }
        }
        if let Some(p) = self.horizontal.get_mut(&(scanner, port)) {
            p.window.remove(target);
            p.last = now;
            if p.can_go() {
                self.horizontal.remove(&(scanner, port));
            }
        }
    }
}

impl PortScan {
    /// Raises for the windows of `scanner` toward `target` and toward `port`, if ready.
    fn check(
        &mut self,
        now: Timestamp,
        scanner: IpAddr,
        target: IpAddr,
        port: u16,
        out: &mut Vec<Raise>,
    ) {
        let (w, grace) = (self.window_ns, self.grace_ns);
        if let Some(v) = self.vertical.get(&(scanner, target)) {
            let key = || self.vertical_key(scanner, target);
            if let Some(failed) = v.ready(now, self, self.vertical_ports, key) {
                let key = self.vertical_key(scanner, target);
                self.opened.remove(key);
                let (pattern, ports) = (v.pattern(), v.latest());
                let total = self
                    .vertical
                    .get_mut(&(scanner, target))
                    .map_or(failed as u64, |v| v.roll(now, failed, grace, w));
                out.push(vertical_raise(
                    now,
                    scanner,
                    target,
                    pattern,
                    total,
                    self.window_secs,
                    ports,
                ));
            }
        }
        if let Some(h) = self.horizontal.get(&(scanner, port)) {
            let key = || self.horizontal_key(scanner, port);
            if let Some(failed) = h.ready(now, self, self.horizontal_hosts, key) {
                let key = self.horizontal_key(scanner, port);
                self.opened.remove(key);
                let (pattern, hosts) = (h.pattern(), h.latest());
                let total = self
                    .horizontal
                    .get_mut(&(scanner, port))
                    .map_or(failed as u64, |h| h.roll(now, failed, grace, w));
                out.push(horizontal_raise(
                    now,
                    scanner,
                    port,
                    pattern,
                    total,
                    self.window_secs,
                    hosts,
                ));
            }
        }
    }
}

impl Detector for PortScan {
    fn name(&self) -> &'static str {
        "port_scan"
    }

    fn interest(&self) -> Interest {
        Interest::TcpSetup
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let Transport::Tcp(tcp) = seen.packet.transport else {
            return;
        };
        let Some(ip) = seen.packet.ip() else {
            return;
        };
        let now = seen.ts;
        let flags = tcp.flags;
        let w = self.window_ns;
        if flags.has(TcpFlags::SYN) && flags.has(TcpFlags::ACK) {
            // The connection worked: not scan evidence.
            self.answered(now, ip.dst, ip.src, tcp.src_port);
            return;
        }
        if flags.has(TcpFlags::RST) {
            // The port is closed: the probe failed now, not after the grace time.
            if let Some(p) = self.vertical.get_mut(&(ip.dst, ip.src)) {
                p.last = now;
                if let Some(tag) = p.window.tag_mut(tcp.src_port) {
                    tag.refused = true;
                }
            }
            if let Some(p) = self.horizontal.get_mut(&(ip.dst, tcp.src_port)) {
                p.last = now;
                if let Some(tag) = p.window.tag_mut(ip.src) {
                    tag.refused = true;
                }
            }
            self.check(now, ip.dst, ip.src, tcp.src_port, out);
            return;
        }
        let Some(probe) = Probe::of(flags) else {
            return;
        };
        let tag = Tag {
            probe,
            refused: false,
        };
        let v = self.vertical_ports;
        let probes = self.vertical.entry((ip.src, ip.dst), || Probes::new(v));
        probes.window.add(tcp.dst_port, tag, now, w);
        probes.last = now;
        let h = self.horizontal_hosts;
        let probes = self
            .horizontal
            .entry((ip.src, tcp.dst_port), || Probes::new(h));
        probes.window.add(ip.dst, tag, now, w);
        probes.last = now;
        self.check(now, ip.src, ip.dst, tcp.dst_port, out);
    }

    fn evictions(&self) -> u64 {
        self.vertical.evicted + self.horizontal.evicted + self.opened.untracked
    }

    /// Windows quiet for a whole window length are dropped: a probe after that finds every
    /// item expired and starts afresh, so keeping them only holds memory (on a busy network,
    /// one entry per client and server that ever spoke). A scan that raised says its final
    /// words first, as at the end of the capture.
    fn tick(&mut self, now: Timestamp, out: &mut Vec<Raise>) {
        let quiet = |last: Timestamp| now.0.saturating_sub(last.0) >= self.window_ns;
        let window_secs = self.window_secs;
        while let Some(((scanner, target), v)) = self.vertical.pop_oldest_if(|v| quiet(v.last)) {
            final_vertical(window_secs, scanner, target, &v, out);
        }
        while let Some(((scanner, port), h)) = self.horizontal.pop_oldest_if(|h| quiet(h.last)) {
            final_horizontal(window_secs, scanner, port, &h, out);
        }
    }

    /// A scan that already raised gets its last probes added, so the alert's totals are the
    /// scan's. A window that never raised stays quiet: the end of a capture is no evidence.
    fn finish(&mut self, out: &mut Vec<Raise>) {
        let window_secs = self.window_secs;
        for ((scanner, target), v) in self.vertical.drain() {
            final_vertical(window_secs, scanner, target, &v, out);
        }
        for ((scanner, port), h) in self.horizontal.drain() {
            final_horizontal(window_secs, scanner, port, &h, out);
        }
    }
}

/// A scan's final words: a window that raised gets its last probes added to the alert.
fn final_vertical(
    window_secs: u64,
    scanner: IpAddr,
    target: IpAddr,
    v: &Probes<u16>,
    out: &mut Vec<Raise>,
) {
    if let Some((last, pattern, total)) = v.at_end() {
        let ports = v.latest();
        out.push(vertical_raise(
            last,
            scanner,
            target,
            pattern,
            total,
            window_secs,
            ports,
        ));
    }
}

/// [`final_vertical`] for a horizontal window.
fn final_horizontal(
    window_secs: u64,
    scanner: IpAddr,
    port: u16,
    h: &Probes<IpAddr>,
    out: &mut Vec<Raise>,
) {
    if let Some((last, pattern, total)) = h.at_end() {
        let hosts = h.latest();
        out.push(horizontal_raise(
            last,
            scanner,
            port,
            pattern,
            total,
            window_secs,
            hosts,
        ));
    }
}

fn vertical_raise(
    now: Timestamp,
    scanner: IpAddr,
    target: IpAddr,
    pattern: Probe,
    total: u64,
    window_secs: u64,
    latest_ports: Vec<u16>,
) -> Raise {
    Raise {
        ts: now,
        detector: "port_scan",
        kind: "vertical",
        severity: Severity::High,
        src: Some(scanner.to_string()),
        dst: Some(target.to_string()),
        summary: format!(
            "vertical {} scan: {scanner} probed {total} ports of {target} (refused or unanswered, windows of {window_secs} s)",
            pattern.name(),
        ),
        evidence: json!({
            "scan": pattern.name(),
            "ports": total,
            "window_secs": window_secs,
            "latest_ports": latest_ports,
        }),
    }
}

fn horizontal_raise(
    now: Timestamp,
    scanner: IpAddr,
    port: u16,
    pattern: Probe,
    total: u64,
    window_secs: u64,
    latest_hosts: Vec<IpAddr>,
) -> Raise {
    Raise {
        ts: now,
        detector: "port_scan",
        kind: "horizontal",
        severity: Severity::High,
        src: Some(scanner.to_string()),
        dst: Some(format!("*:{port}")),
        summary: format!(
            "horizontal {} scan: {scanner} probed port {port} on {total} hosts (refused or unanswered, windows of {window_secs} s)",
            pattern.name(),
        ),
        evidence: json!({
            "scan": pattern.name(),
            "port": port,
            "hosts": total,
            "window_secs": window_secs,
            "latest_hosts": latest_hosts,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::alerts::config::AlertsConfig;

    fn segment(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, syn_ack: bool) -> Vec<u8> {
        let mut frame = Vec::new();
        let b = etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 1, 1024)
            .syn();
        let b = if syn_ack { b.ack(1) } else { b };
        b.write(&mut frame, &[]).unwrap();
        frame
    }

    fn inspect(scan: &mut PortScan, ts: i64, frame: &[u8]) -> Vec<Raise> {
        let packet = wire::decode(wire::LinkType::Ethernet, frame);
        let seen = Seen {
            ts: Timestamp(ts),
            wire_len: frame.len() as u32,
            packet: &packet,
        };
        let mut out = Vec::new();
        scan.inspect(&seen, &mut out);
        out
    }

    /// A busy network is mostly connections that work: they leave a count, not a window.
    #[test]
    fn answered_probes_leave_no_window() {
        let c = AlertsConfig::default();
        let mut scan = PortScan::new(&c.port_scan, c.max_tracked);
        let mut ts = 0;
        for i in 0..2000u16 {
            let client = [10, 0, (i >> 8) as u8, i as u8];
            let server = [192, 0, 2, (i % 200) as u8];
            ts += 1_000_000;
            assert!(
                inspect(&mut scan, ts, &segment(client, 40_000, server, 443, false)).is_empty()
            );
            assert!(inspect(
                &mut scan,
                ts + 1000,
                &segment(server, 443, client, 40_000, true)
            )
            .is_empty());
        }
        assert_eq!((scan.vertical.len(), scan.horizontal.len()), (0, 0));
        assert_eq!(
            scan.opened.len(),
            4000,
            "a vertical and a horizontal key each"
        );
        // A probe still waiting for its answer keeps its windows.
        inspect(
            &mut scan,
            ts,
            &segment([10, 9, 9, 9], 40_000, [192, 0, 2, 1], 22, false),
        );
        assert_eq!((scan.vertical.len(), scan.horizontal.len()), (1, 1));
    }
}
