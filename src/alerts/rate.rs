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
    max_hosts: usize,
    untracked: u64,
}

impl Rate {
    pub fn new(c: &RateConfig, max_tracked: usize) -> Self {
        Rate {
            c: c.clone(),
            second: None,
            global: Second::default(),
            hosts: HashMap::new(),
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
        // A packet to itself (loopback) is one host's packet, counted once.
        let dst = (ip.dst != ip.src).then_some(ip.dst);
        for host in std::iter::once(ip.src).chain(dst) {
            let s = if self.hosts.len() < self.max_hosts {
                self.hosts.entry(host).or_default()
            } else if let Some(s) = self.hosts.get_mut(&host) {
                s
            } else {
                self.untracked += 1;
                continue;
            };
            let (pps, bps) = s.add(seen.wire_len);
            if !s.raised {
                if let Some(what) = over(pps, bps, self.c.host_pps, self.c.host_bps) {
                    s.raised = true;
                    out.push(raise(now, Some(host), what));
                }
            }
        }
    }

    fn evictions(&self) -> u64 {
        self.untracked
    }
}
