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
        }
    }

    /// The interests `packet` meets, as bits.
    fn of(packet: &Packet<'_>) -> u8 {
        let mut bits = 0;
        if packet.ip().is_some() {
            bits |= Interest::Ip.bit();
        }
        if let wire::packet::Transport::Tcp(_) = packet.transport {
            bits |= Interest::Tcp.bit();
            if !packet.payload.is_empty() {
                bits |= Interest::TcpData.bit();
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
    /// The packet-time second of the last [`Detector::tick`].
    tick_sec: Option<i64>,
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
        let sec = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
        let tick = self.tick_sec.is_none_or(|t| sec > t);
        if tick {
            self.tick_sec = Some(sec);
            for (_, d) in &mut self.detectors {
                d.tick(ts, &mut self.raised);
            }
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
