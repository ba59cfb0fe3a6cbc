//! Rate thresholds: packets or bits per second above a limit, on the whole capture and per
//! host (sender or receiver), counted in whole seconds of packet time.

use std::net::IpAddr;

use serde_json::json;

use super::bounded::Bounded;
use super::config::RateConfig;
use super::window::Tally;
use super::{Detector, Raise, Seen, Severity};
use crate::time::Timestamp;

const SECOND: i64 = Timestamp::NANOS_PER_SEC;

/// Packets and bytes of one second, and whether this second already raised.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    packets: Tally,
    bytes: Tally,
    raised: bool,
}

impl Second {
    /// Counts one packet; returns (packets, bits) of the current second, and true when this
    /// packet started a new second.
    fn add(&mut self, now: Timestamp, len: u32) -> (u64, u64) {
        let packets = self.packets.add(now, 1, SECOND);
        if packets == 1 {
            self.raised = false;
            self.bytes.reset();
        }
        let bytes = self.bytes.add(now, u64::from(len), SECOND);
        (packets, bytes.saturating_mul(8))
    }
}

pub struct Rate {
    c: RateConfig,
    global: Second,
    hosts: Bounded<IpAddr, Second>,
}

impl Rate {
    pub fn new(c: &RateConfig, max_tracked: usize) -> Self {
        Rate {
            c: c.clone(),
            global: Second::default(),
            hosts: Bounded::new(max_tracked),
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
        let (pps, bps) = self.global.add(now, seen.wire_len);
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
        // A packet to itself (loopback) is one host's packet, counted once.
        let dst = (ip.dst != ip.src).then_some(ip.dst);
        for host in std::iter::once(ip.src).chain(dst) {
            let s = self.hosts.entry(host, Second::default);
            let (pps, bps) = s.add(now, seen.wire_len);
            if !s.raised {
                if let Some(what) = over(pps, bps, self.c.host_pps, self.c.host_bps) {
                    s.raised = true;
                    out.push(raise(now, Some(host), what));
                }
            }
        }
    }

    fn evictions(&self) -> u64 {
        self.hosts.evicted
    }
}
