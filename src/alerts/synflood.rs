//! SYN flood: many half-open connections to one target port within a second.
//!
//! A connection is half-open from the client's SYN until the client's first ACK (the third
//! step of the handshake). Each SYN is remembered by its four-tuple until the client's ACK
//! takes it back, or for 64 s (a retransmitted SYN is the same attempt, and clients have given
//! up by then). What stays counted in the current second are attempts that never completed, which is
//! what a flood (often from spoofed sources) leaves. A busy server's completed connections
//! do not count, and a port scan touches each port once or twice, so neither raises this.

use std::net::IpAddr;

use serde_json::json;
use wire::packet::{TcpFlags, Transport};

use super::bounded::Bounded;
use super::config::SynFloodConfig;
use super::window::Tally;
use super::{Detector, Interest, Raise, Seen, Severity};
use crate::time::Timestamp;

/// (client, client port, server, server port).
type Conn = (IpAddr, u16, IpAddr, u16);

pub struct SynFlood {
    limit: u64,
    /// Connections whose SYN was seen and whose handshake has not completed, with the time of
    /// that SYN.
    pending: Bounded<Conn, Timestamp>,
    /// Half-open attempts per target port in the current second.
    targets: Bounded<(IpAddr, u16), Tally>,
}

const SECOND: i64 = 1_000_000_000;

/// A SYN unanswered this long is forgotten: clients stop retransmitting it by then (Linux's
/// last retry goes 63 s after the first SYN, Windows' after 9 s), so its four-tuple would only
/// hold memory. Its second was over long before.
const SYN_RETRIES_NS: i64 = 64 * SECOND;

impl SynFlood {
    pub fn new(c: &SynFloodConfig, max_tracked: usize) -> Self {
        SynFlood {
            limit: c.half_open_per_sec.max(1),
            pending: Bounded::new(max_tracked),
            targets: Bounded::new(max_tracked),
        }
    }
}

impl Detector for SynFlood {
    fn name(&self) -> &'static str {
        "syn_flood"
    }

    fn interest(&self) -> Interest {
        Interest::TcpHandshake
    }

    fn inspect(&mut self, seen: &Seen<'_, '_>, out: &mut Vec<Raise>) {
        let Transport::Tcp(tcp) = seen.packet.transport else {
            return;
        };
        let Some(ip) = seen.packet.ip() else {
            return;
        };
        let f = tcp.flags;
        let now = seen.ts;
        if f.has(TcpFlags::SYN) && !f.has(TcpFlags::ACK) && !f.has(TcpFlags::RST) {
            let conn = (ip.src, tcp.src_port, ip.dst, tcp.dst_port);
            if !self.pending.insert_new(conn, now) {
                // A retransmitted SYN is the same attempt.
                return;
            }
            let tally = self.targets.entry((ip.dst, tcp.dst_port), Tally::default);
            let half_open = tally.add(now, 1, SECOND);
            if half_open >= self.limit {
                tally.reset();
                out.push(Raise {
                    ts: now,
                    detector: "syn_flood",
                    kind: "half_open",
                    severity: Severity::High,
                    src: None,
                    dst: Some(endpoint(ip.dst, tcp.dst_port)),
                    summary: format!(
                        "SYN flood: {half_open} half-open connections to {} within 1 s",
                        endpoint(ip.dst, tcp.dst_port)
                    ),
                    evidence: json!({
                        "half_open": half_open,
                        "window_secs": 1,
                        "latest_source": ip.src.to_string(),
                    }),
                });
            }
        } else if f.0 & (TcpFlags::ACK | TcpFlags::SYN | TcpFlags::RST | TcpFlags::FIN)
            == TcpFlags::ACK
            && seen.packet.payload.is_empty()
        {
            // The client's ACK completes its handshake: a bare ACK (only it is looked up, which
            // keeps a hash lookup off most packets; a handshake completed by a data segment
            // stays counted, which only makes a busy server's count a bit high).
            let conn = (ip.src, tcp.src_port, ip.dst, tcp.dst_port);
            if self.pending.remove(&conn).is_some() {
                if let Some(t) = self.targets.get_mut(&(ip.dst, tcp.dst_port)) {
                    t.sub(now, 1, SECOND);
                }
            }
        }
    }

    fn evictions(&self) -> u64 {
        self.pending.evicted + self.targets.evicted
    }

    /// Drops what can no longer count: SYNs past their retransmissions, and targets whose
    /// second is over (a new SYN starts a new tally either way).
    fn tick(&mut self, now: Timestamp, _out: &mut Vec<Raise>) {
        while self
            .pending
            .pop_oldest_if(|syn| now.0.saturating_sub(syn.0) >= SYN_RETRIES_NS)
            .is_some()
        {}
        while self
            .targets
            .pop_oldest_if(|t| t.is_over(now, SECOND))
            .is_some()
        {}
    }
}

/// `addr:port`, with brackets for IPv6.
pub fn endpoint(addr: IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}
