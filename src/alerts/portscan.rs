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

use std::net::IpAddr;

use serde_json::json;
use wire::packet::{TcpFlags, Transport};

use super::bounded::Bounded;
use super::config::PortScanConfig;
use super::window::{secs_ns, Distinct, Sliding};
use super::{Detector, Interest, Raise, Seen, Severity};
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

/// Probes of one source toward one target (vertical) or one port (horizontal).
struct Probes<T> {
    window: Distinct<T, Tag>,
    /// Probes answered with a SYN-ACK in about the last window.
    opened: Sliding,
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
            opened: Sliding::default(),
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
    /// stealth ones), and at least two thirds of the attempts failed.
    fn ready(&self, now: Timestamp, scan: &PortScan, threshold: usize) -> Option<usize> {
        let (failed, stealth) = self.failed(now, scan.grace_ns);
        let enough = failed >= threshold || stealth >= scan.stealth_probes;
        let mostly_failed = failed as u64 >= 2 * self.opened.at(now, scan.window_ns);
        (enough && mostly_failed).then_some(failed)
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
        self.opened.reset();
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
            if let Some(failed) = v.ready(now, self, self.vertical_ports) {
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
            if let Some(failed) = h.ready(now, self, self.horizontal_hosts) {
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
        Interest::Tcp
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
            if let Some(p) = self.vertical.get_mut(&(ip.dst, ip.src)) {
                p.window.remove(tcp.src_port);
                p.opened.add(now, w);
                p.last = now;
            }
            if let Some(p) = self.horizontal.get_mut(&(ip.dst, tcp.src_port)) {
                p.window.remove(ip.src);
                p.opened.add(now, w);
                p.last = now;
            }
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
        self.vertical.evicted + self.horizontal.evicted
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
