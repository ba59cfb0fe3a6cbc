//! ARP watch: an IP address whose MAC changes (spoofing, or a replaced device), storms of
//! gratuitous ARP, and new devices (MACs) on the LAN.
//!
//! Only what hosts say about themselves counts: the sender fields of requests and replies
//! (RFC 826). A probe (sender IP 0.0.0.0, RFC 5227) claims no address. Gratuitous ARP is a
//! packet whose sender and target IP are the same (RFC 5227 announcements, RFC 5944 §4.6).

use std::net::Ipv4Addr;

use serde_json::json;
use wire::link::Mac;
use wire::packet::Net;

use super::bounded::Bounded;
use super::config::ArpConfig;
use super::window::{secs_ns, Tally};
use super::{Detector, Interest, Raise, Seen, Severity};
use crate::engine::hosts::format_mac;
use crate::time::Timestamp;

pub struct ArpWatch {
    gratuitous_limit: u64,
    window_ns: i64,
    window_secs: u64,
    new_device: bool,
    learn_ns: i64,
    /// The MAC each IP last claimed.
    owners: Bounded<Ipv4Addr, Mac>,
    /// Gratuitous ARPs per sender MAC in the current window.
    gratuitous: Bounded<Mac, Tally>,
    /// MACs seen in ARP.
    devices: Bounded<Mac, ()>,
    /// Packet time of the first packet of the capture: learning ends `learn_secs` after it.
    first: Option<Timestamp>,
}

impl ArpWatch {
    pub fn new(c: &ArpConfig, max_tracked: usize) -> Self {
        ArpWatch {
            gratuitous_limit: c.gratuitous.max(1),
            window_ns: secs_ns(c.window_secs),
            window_secs: c.window_secs,
            new_device: c.new_device,
            learn_ns: secs_ns(c.learn_secs),
            owners: Bounded::new(max_tracked),
            gratuitous: Bounded::new(max_tracked),
            devices: Bounded::new(max_tracked),
            first: None,
        }
    }
}

/// Broadcast, all-zero (unknown) and multicast MACs name no device.
fn is_device(mac: &Mac) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

impl Detector for ArpWatch {
    fn name(&self) -> &'static str {
        "arp"
    }

    fn interest(&self) -> Interest {
        Interest::Arp
    }

    /// The first tick comes with the capture's first packet, ARP or not: learning starts there.
    fn tick(&mut self, now: Timestamp, _out: &mut Vec<Raise>) {
        self.first.get_or_insert(now);
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let now = seen.ts;
        let first = self.first.unwrap_or(now);
        let Net::Arp(arp) = seen.packet.net else {
            return;
        };
        let mac = arp.sender_mac;
        if !is_device(&mac) {
            return;
        }
        if self.new_device && self.devices.get(&mac).is_none() {
            self.devices.entry(mac, || ());
            if now.0.saturating_sub(first.0) >= self.learn_ns {
                out.push(Raise {
                    ts: now,
                    detector: "new_device",
                    kind: "mac",
                    severity: Severity::Info,
                    src: Some(format_mac(&mac)),
                    dst: None,
                    summary: format!(
                        "new device on the LAN: {} (claims {})",
                        format_mac(&mac),
                        arp.sender_ip
                    ),
                    evidence: json!({ "ip": arp.sender_ip.to_string() }),
                });
            }
        }
        if arp.sender_ip.is_unspecified() {
            return;
        }
        let owner = self.owners.entry(arp.sender_ip, || mac);
        if *owner != mac {
            let old = std::mem::replace(owner, mac);
            out.push(Raise {
                ts: now,
                detector: "arp_spoof",
                kind: "mac_change",
                severity: Severity::High,
                // Merged per address: every later change of the same IP counts up this alert.
                src: None,
                dst: Some(arp.sender_ip.to_string()),
                summary: format!(
                    "ARP: {} moved from {} to {} (spoofing, or a replaced device)",
                    arp.sender_ip,
                    format_mac(&old),
                    format_mac(&mac)
                ),
                evidence: json!({
                    "ip": arp.sender_ip.to_string(),
                    "old_mac": format_mac(&old),
                    "new_mac": format_mac(&mac),
                    "operation": arp.operation,
                }),
            });
        }
        if arp.sender_ip == arp.target_ip {
            let tally = self.gratuitous.entry(mac, Tally::default);
            let n = tally.add(now, 1, self.window_ns);
            if n >= self.gratuitous_limit {
                tally.reset();
                out.push(Raise {
                    ts: now,
                    detector: "arp_spoof",
                    kind: "gratuitous_storm",
                    severity: Severity::High,
                    src: Some(format_mac(&mac)),
                    dst: None,
                    summary: format!(
                        "gratuitous ARP storm: {} sent {n} within {} s (latest for {})",
                        format_mac(&mac),
                        self.window_secs,
                        arp.sender_ip
                    ),
                    evidence: json!({
                        "gratuitous": n,
                        "window_secs": self.window_secs,
                        "latest_ip": arp.sender_ip.to_string(),
                    }),
                });
            }
        }
    }

    fn evictions(&self) -> u64 {
        self.owners.evicted + self.gratuitous.evicted + self.devices.evicted
    }
}
