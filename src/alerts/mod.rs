//! Security alerts: detectors that watch every decoded packet and raise [`Alert`]s.
//!
//! The pipeline thread calls [`AlertEngine::inspect`] once per frame with the frame's packet
//! time, before the frame is accounted, so detectors see the whole traffic whatever the number
//! of `--workers`. Each detector is its own module behind the [`Detector`] trait and keeps its
//! state in capped tables ([`bounded::Bounded`]): a flood of new addresses evicts old state
//! (counted), it never grows memory without limit.
//!
//! Detectors raise an alert when a threshold is crossed, then reset what they counted, so a
//! long attack raises again once per window, not once per packet. Raising is the only place
//! that allocates (the summary and the evidence); the per-packet checks allocate nothing.
//! [`AlertEngine`] merges raises with the same key (detector, kind, source, target) into one
//! alert with a count and a last-seen time.

pub mod alert;
pub mod bounded;
pub mod config;
pub mod console;
pub mod report;
mod window;

mod arp;
mod cleartext;
mod dns;
mod external;
mod portscan;
mod rate;
mod synflood;

use hashbrown::HashMap;
use wire::packet::TcpFlags;
use wire::Packet;

pub use alert::{Alert, Raise, Severity};
pub use config::AlertsConfig;

use crate::engine::hosts::HomeNet;
use crate::time::Timestamp;

/// One packet as detectors see it: the decoded view, its packet time and its length on the wire.
#[derive(Clone, Copy)]
pub struct Seen<'p, 'a> {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub packet: &'p Packet<'a>,
}

/// Which packets a detector looks at. The engine calls a detector only for these, so a
/// packet costs nothing in the detectors that would ignore it anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Every packet.
    All,
    /// IPv4 and IPv6 packets.
    Ip,
    /// TCP segments.
    Tcp,
    /// TCP segments that carry data.
    TcpData,
    /// TCP segments that open, refuse or probe a connection: SYN or RST set, or ACK clear.
    TcpSetup,
    /// [`Interest::TcpSetup`] segments and bare ACKs (no data, no SYN, RST or FIN): all a
    /// handshake is made of.
    TcpHandshake,
    /// ARP packets.
    Arp,
    /// DNS messages.
    Dns,
}

impl Interest {
    fn bit(self) -> u8 {
        match self {
            Interest::All => u8::MAX,
            Interest::Ip => 1,
            Interest::Tcp => 2,
            Interest::TcpData => 4,
            Interest::Arp => 8,
            Interest::Dns => 16,
            Interest::TcpSetup => 32,
            Interest::TcpHandshake => 64,
        }
    }

    /// The interests `packet` meets, as bits.
    fn of(packet: &Packet<'_>) -> u8 {
        let mut bits = 0;
        if packet.ip().is_some() {
            bits |= Interest::Ip.bit();
        }
        if let wire::packet::Transport::Tcp(tcp) = packet.transport {
            bits |= Interest::Tcp.bit();
            if !packet.payload.is_empty() {
                bits |= Interest::TcpData.bit();
            }
            let f = tcp.flags;
            if f.has(TcpFlags::SYN) || f.has(TcpFlags::RST) || !f.has(TcpFlags::ACK) {
                bits |= Interest::TcpSetup.bit() | Interest::TcpHandshake.bit();
            } else if !f.has(TcpFlags::FIN) && packet.payload.is_empty() {
                bits |= Interest::TcpHandshake.bit();
            }
        }
        if let wire::packet::Net::Arp(_) = packet.net {
            bits |= Interest::Arp.bit();
        }
        if let wire::packet::App::Dns(_) = packet.app {
            bits |= Interest::Dns.bit();
        }
        bits
    }
}

/// A detector: looks at each packet and pushes an alert into `out` when it sees a cause.
pub trait Detector {
    /// The detector's name in alerts (`port_scan`, `arp_spoof`, ...).
    fn name(&self) -> &'static str;
    /// The packets [`Detector::inspect`] is called for; it may ignore others.
    fn interest(&self) -> Interest {
        Interest::All
    }
    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>);
    /// State entries dropped because a table was full (reported, so a flood is visible).
    fn evictions(&self) -> u64;
    /// The capture ended: raise the final words on causes still in progress (a scan's last
    /// ports). Most detectors have none.
    fn finish(&mut self, _out: &mut Vec<Raise>) {}
    /// Packet time entered a new second (and at the first packet): drop state that can no
    /// longer matter. Called whatever the detector's [`Interest`].
    fn tick(&mut self, _now: Timestamp, _out: &mut Vec<Raise>) {}
}

/// Most distinct alerts kept. Past it a new cause is counted in `dropped` instead of stored:
/// a hostile capture must not grow the alert list (and the report) without bound.
pub const MAX_ALERTS: usize = 10_000;

/// Every enabled detector plus the merged alert list.
pub struct AlertEngine {
    /// Each detector with its [`Interest`] bits.
    detectors: Vec<(u8, Box<dyn Detector + Send>)>,
    alerts: Vec<Alert>,
    index: HashMap<alert::Key, usize>,
    /// Raises of the current packet; reused so a quiet packet allocates nothing.
    raised: Vec<Raise>,
    /// Indices of alerts raised for the first time since [`AlertEngine::take_new`].
    fresh: Vec<usize>,
    /// Distinct alerts not kept because [`MAX_ALERTS`] was reached.
    pub dropped: u64,
    /// The packet-time second of the last [`Detector::tick`], and where the next one starts
    /// (in nanoseconds).
    tick_sec: Option<i64>,
    next_tick: i64,
}

impl AlertEngine {
    pub fn new(config: &AlertsConfig, home: &HomeNet) -> Self {
        let mut detectors: Vec<Box<dyn Detector + Send>> = Vec::new();
        let c = config;
        if c.port_scan.enabled {
            detectors.push(Box::new(portscan::PortScan::new(
                &c.port_scan,
                c.max_tracked,
            )));
        }
        if c.syn_flood.enabled {
            detectors.push(Box::new(synflood::SynFlood::new(
                &c.syn_flood,
                c.max_tracked,
            )));
        }
        if c.rate.enabled {
            detectors.push(Box::new(rate::Rate::new(&c.rate, c.max_tracked)));
        }
        if c.external.enabled() {
            detectors.push(Box::new(external::External::new(
                &c.external,
                home.clone(),
                c.max_tracked,
            )));
        }
        if c.arp.enabled {
            detectors.push(Box::new(arp::ArpWatch::new(&c.arp, c.max_tracked)));
        }
        if c.dns.enabled {
            detectors.push(Box::new(dns::DnsAnomaly::new(&c.dns, c.max_tracked)));
        }
        if c.cleartext.enabled {
            detectors.push(Box::new(cleartext::Cleartext::new(c.max_tracked)));
        }
        AlertEngine {
            detectors: detectors
                .into_iter()
                .map(|d| (d.interest().bit(), d))
                .collect(),
            alerts: Vec::new(),
            index: HashMap::new(),
            raised: Vec::new(),
            fresh: Vec::new(),
            dropped: 0,
            tick_sec: None,
            next_tick: i64::MIN,
        }
    }

    /// Names of the detectors that run.
    pub fn detector_names(&self) -> Vec<&'static str> {
        self.detectors.iter().map(|(_, d)| d.name()).collect()
    }

    /// Runs every detector on one packet and merges what they raise.
    pub fn inspect(&mut self, ts: Timestamp, wire_len: u32, packet: &Packet<'_>) {
        let seen = Seen {
            ts,
            wire_len,
            packet,
        };
        // Most packets are in the second of the last tick: one comparison, not a division.
        if ts.0 >= self.next_tick {
            let sec = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
            if self.tick_sec.is_none_or(|t| sec > t) {
                self.tick_sec = Some(sec);
                for (_, d) in &mut self.detectors {
                    d.tick(ts, &mut self.raised);
                }
            }
            // Saturated in the last second of `i64` time, whose packets then divide again.
            self.next_tick = sec
                .saturating_add(1)
                .saturating_mul(Timestamp::NANOS_PER_SEC);
        }
        let bits = Interest::of(packet);
        for (wants, d) in &mut self.detectors {
            if bits & *wants != 0 {
                d.inspect(&seen, &mut self.raised);
            }
        }
        if self.raised.is_empty() {
            return;
        }
        let mut raised = std::mem::take(&mut self.raised);
        for r in raised.drain(..) {
            self.merge(r);
        }
        self.raised = raised;
    }

    fn merge(&mut self, r: Raise) {
        let key = r.key();
        if let Some(&i) = self.index.get(&key) {
            if let Some(a) = self.alerts.get_mut(i) {
                a.repeat(r);
            }
            return;
        }
        if self.alerts.len() >= MAX_ALERTS {
            self.dropped += 1;
            return;
        }
        self.index.insert(key, self.alerts.len());
        self.fresh.push(self.alerts.len());
        self.alerts.push(Alert::from(r));
    }

    /// Alerts raised for the first time since the last call (for the console).
    pub fn take_new(&mut self) -> impl Iterator<Item = &Alert> + '_ {
        let fresh = std::mem::take(&mut self.fresh);
        fresh.into_iter().filter_map(|i| self.alerts.get(i))
    }

    /// True when some alert was raised for the first time since [`AlertEngine::take_new`].
    pub fn has_new(&self) -> bool {
        !self.fresh.is_empty()
    }

    /// The merged alerts, in the order they were first raised.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// State entries evicted by every detector together.
    pub fn evictions(&self) -> u64 {
        self.detectors.iter().map(|(_, d)| d.evictions()).sum()
    }

    /// What the run leaves: the alert list and the counters that say what was not tracked.
    pub fn finish(mut self) -> AlertSummary {
        let mut raised = std::mem::take(&mut self.raised);
        for (_, d) in &mut self.detectors {
            d.finish(&mut raised);
        }
        for r in raised {
            self.merge(r);
        }
        AlertSummary {
            evicted: self.evictions(),
            dropped: self.dropped,
            detectors: self.detector_names(),
            alerts: self.alerts,
        }
    }
}

/// The alerts of a finished run, for the reports, the history database and (later) the web
/// dashboard: plain data, `Clone` and `Serialize`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AlertSummary {
    pub alerts: Vec<Alert>,
    /// Detectors that ran.
    pub detectors: Vec<&'static str>,
    /// Detector state entries evicted because a table was full.
    pub evicted: u64,
    /// Distinct alerts not kept because the list was full.
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An IPv4 TCP segment with `flags` (the checksum is not redone: nothing here checks it).
    fn tcp_frame(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1, 1024)
            .write(&mut frame, payload)
            .unwrap();
        // The flags byte of a TCP header after Ethernet and an IPv4 header without options.
        frame[14 + 20 + 13] = flags;
        frame
    }

    /// The interests a TCP segment meets follow its flags: set-up, refusal and probes are
    /// `TcpSetup`; those and bare ACKs are `TcpHandshake`; data and closing ACKs are neither.
    #[test]
    fn tcp_interests_follow_the_flags() {
        let (syn, ack, rst, fin, psh, urg) = (
            TcpFlags::SYN,
            TcpFlags::ACK,
            TcpFlags::RST,
            TcpFlags::FIN,
            TcpFlags::PSH,
            TcpFlags::URG,
        );
        let setup = Interest::TcpSetup.bit() | Interest::TcpHandshake.bit();
        let handshake = Interest::TcpHandshake.bit();
        let cases: [(u8, &[u8], u8); 10] = [
            (syn, b"", setup),
            (syn | ack, b"", setup),
            (rst, b"", setup),
            (rst | ack, b"", setup),
            (fin, b"", setup),
            (0, b"", setup),
            (fin | psh | urg, b"", setup),
            (ack, b"", handshake),
            (ack | psh, b"data", 0),
            (fin | ack, b"", 0),
        ];
        for (flags, payload, expected) in cases {
            let frame = tcp_frame(flags, payload);
            let packet = wire::decode(wire::LinkType::Ethernet, &frame);
            let bits = Interest::of(&packet);
            assert_ne!(bits & Interest::Tcp.bit(), 0, "flags {flags:#04x}");
            assert_eq!(bits & setup, expected, "flags {flags:#04x}");
        }
    }

    /// Notes the times it is ticked at.
    struct Ticks(Arc<Mutex<Vec<i64>>>);

    impl Detector for Ticks {
        fn name(&self) -> &'static str {
            "ticks"
        }
        fn inspect(&mut self, _: &Seen<'_, '_>, _: &mut Vec<Raise>) {}
        fn evictions(&self) -> u64 {
            0
        }
        fn tick(&mut self, now: Timestamp, _: &mut Vec<Raise>) {
            self.0.lock().unwrap().push(now.0);
        }
    }

    /// Detectors are ticked at the first packet and when packet time enters a later second,
    /// never when it goes back, at the ends of `i64` time too.
    #[test]
    fn ticks_come_once_a_second_of_packet_time() {
        let ticked = Arc::new(Mutex::new(Vec::new()));
        let config = AlertsConfig::default();
        let home = HomeNet::new(HomeNet::default_nets());
        let mut engine = AlertEngine::new(&config, &home);
        engine.detectors = vec![(Interest::All.bit(), Box::new(Ticks(Arc::clone(&ticked))))];
        let frame = tcp_frame(TcpFlags::ACK, b"");
        let packet = wire::decode(wire::LinkType::Ethernet, &frame);
        let second = Timestamp::NANOS_PER_SEC;
        let times = [
            -1,
            0,
            second / 2,
            second - 1,
            second,
            3 * second + 7,
            2 * second,
            3 * second + second / 2,
            i64::MAX - 1,
            i64::MAX,
        ];
        for ts in times {
            engine.inspect(Timestamp(ts), 60, &packet);
        }
        let expected = vec![-1, 0, second, 3 * second + 7, i64::MAX - 1];
        assert_eq!(*ticked.lock().unwrap(), expected);
    }
}
