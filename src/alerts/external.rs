//! Traffic that leaves the home network: connections to remote addresses outside an
//! allow-list, and first contact with a remote host never seen before in this run.
//!
//! Both are off by default (see [`super::config::ExternalConfig`]): on an ordinary network
//! every web page opens such connections. "Home" is the engine's `--home-net`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::json;
use wire::packet::{TcpFlags, Transport};

use super::bounded::Bounded;
use super::config::ExternalConfig;
use super::window::secs_ns;
use super::{Detector, Interest, Raise, Seen, Severity};
use crate::engine::hosts::HomeNet;
use crate::time::Timestamp;

/// One leaving alert per (local, remote) pair at most this often, so a chatty UDP exchange or a
/// burst of connections counts up one alert instead of raising on every packet.
const REPEAT_SECS: u64 = 60;

pub struct External {
    home: HomeNet,
    allow: Vec<IpNet>,
    leaving: bool,
    new_remote: bool,
    /// When each (local, remote) pair last raised.
    recent: Bounded<(IpAddr, IpAddr), Timestamp>,
    /// Remote hosts seen so far.
    seen: Bounded<IpAddr, ()>,
}

impl External {
    pub fn new(c: &ExternalConfig, home: HomeNet, max_tracked: usize) -> Self {
        External {
            home,
            allow: c.allow.clone(),
            leaving: c.leaving_enabled(),
            new_remote: c.new_remote,
            recent: Bounded::new(max_tracked),
            seen: Bounded::new(max_tracked),
        }
    }

    /// A packet that starts something: a TCP SYN, or any UDP/ICMP packet (they have no
    /// handshake; the pair's repeat limit keeps it to one alert a minute).
    fn opens(transport: &Transport) -> bool {
        match transport {
            Transport::Tcp(t) => t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK),
            Transport::Udp(_) | Transport::Icmp(_) | Transport::Icmpv6(_) => true,
            Transport::None => false,
        }
    }
}

impl Detector for External {
    fn name(&self) -> &'static str {
        "external"
    }

    fn interest(&self) -> Interest {
        Interest::Ip
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let Some(ip) = seen.packet.ip() else {
            return;
        };
        let now = seen.ts;
        let src_home = self.home.contains(&ip.src);
        let dst_home = self.home.contains(&ip.dst);
        if src_home == dst_home {
            return;
        }
        let (local, remote) = if src_home {
            (ip.src, ip.dst)
        } else {
            (ip.dst, ip.src)
        };
        if self.new_remote && self.seen.get(&remote).is_none() {
            self.seen.entry(remote, || ());
            out.push(Raise {
                ts: now,
                detector: "new_remote",
                kind: "first_contact",
                severity: Severity::Info,
                src: Some(local.to_string()),
                dst: Some(remote.to_string()),
                summary: format!("first contact with remote host {remote} (from {local})"),
                evidence: json!({ "initiated_by_local": src_home }),
            });
        }
        if !self.leaving || !src_home || !Self::opens(&seen.packet.transport) {
            return;
        }
        if self.allow.iter().any(|n| n.contains(&remote)) {
            return;
        }
        let last = self.recent.entry((local, remote), || Timestamp(i64::MIN));
        if last.0 != i64::MIN && now.0.saturating_sub(last.0) < secs_ns(REPEAT_SECS) {
            return;
        }
        *last = now;
        let port = seen.packet.ports().map(|p| p.1);
        out.push(Raise {
            ts: now,
            detector: "external",
            kind: "leaving_home",
            severity: Severity::Medium,
            src: Some(local.to_string()),
            dst: Some(remote.to_string()),
            summary: format!(
                "{local} connects to {remote}{} outside the home network and the allow-list",
                port.map(|p| format!(" port {p}")).unwrap_or_default()
            ),
            evidence: json!({ "port": port, "protocol": ip.protocol }),
        });
    }

    fn evictions(&self) -> u64 {
        self.recent.evicted + self.seen.evicted
    }
}
