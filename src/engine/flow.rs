//! One flow: both directions of a (VLAN, protocol, address pair, port pair) conversation, with
//! per-direction counters, TCP state, the application label and the finished-flow record.
//!
//! The key is canonical (the smaller endpoint first) so both directions find the same entry;
//! counters are indexed by direction relative to that order. ICMP echo uses the identifier as
//! the "port" of both ends, as flow exporters do, so each ping session is its own flow.

use std::net::IpAddr;

use serde::Serialize;
use wire::link::Mac;
use wire::packet::{App, Icmp, TcpFlags, Transport, PROTO_ICMP, PROTO_ICMPV6};
use wire::services::{self, L4};
use wire::Packet;

use super::stats::{Counter, ServicePort};
use crate::capture::IfaceId;
use crate::time::Timestamp;

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

/// Canonical flow key: `lo` sorts before `hi`.
///
/// The addresses are kept as numbers ([`addr_bits`]) rather than as `IpAddr`s. The flow table
/// builds a key for every packet and compares it with the one in the table; an `IpAddr` is
/// written as a tag byte and four or sixteen address bytes, and the comparison's wider reads of
/// a key written that way just before had to wait for the stores to reach the cache. Whole
/// words are written and read whole.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo_bits: Halves,
    hi_bits: Halves,
    lo_port: u16,
    hi_port: u16,
    /// 802.1Q VLAN id, 0 when untagged.
    pub vlan: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
    pub proto: u8,
    v6: bool,
}

/// A `u128` as two `u64`s: a `u128` field would align the key to 16 bytes, 8 more per flow.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Halves([u64; 2]);

impl Halves {
    fn of(bits: u128) -> Halves {
        Halves([(bits >> 64) as u64, bits as u64])
    }

    fn get(self) -> u128 {
        u128::from(self.0[0]) << 64 | u128::from(self.0[1])
    }
}

/// Direction of a packet relative to the key: from `lo` to `hi`, or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    LoToHi,
    HiToLo,
}

impl Dir {
    pub fn index(self) -> usize {
        match self {
            Dir::LoToHi => 0,
            Dir::HiToLo => 1,
        }
    }

    pub fn reverse(self) -> Dir {
        match self {
            Dir::LoToHi => Dir::HiToLo,
            Dir::HiToLo => Dir::LoToHi,
        }
    }
}

/// An address as one number, for hashing: an IPv4 address and the IPv6 address with the same
/// low bits hash alike (their keys still differ).
pub fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// Three writes where a derived hash of two `Endpoint`s would make eight: the flow table
/// hashes a key on every packet.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let rest = key_rest(self.lo_port, self.hi_port, self.vlan, self.proto);
        hash_parts(state, self.lo_bits.get(), self.hi_bits.get(), rest);
    }
}

/// The key's ports, VLAN and protocol as one number.
#[inline]
fn key_rest(lo_port: u16, hi_port: u16, vlan: u16, proto: u8) -> u64 {
    u64::from(lo_port) | u64::from(hi_port) << 16 | u64::from(vlan) << 32 | u64::from(proto) << 48
}

/// What a key's hash is made of, in order: [`FlowKey::of`] hashes the parts before they are a
/// key.
#[inline]
fn hash_parts<H: std::hash::Hasher>(state: &mut H, lo_bits: u128, hi_bits: u128, rest: u64) {
    state.write_u128(lo_bits);
    state.write_u128(hi_bits);
    state.write_u64(rest);
}

/// The order of (VLAN, protocol, `lo`, `hi`), addresses ordered as `IpAddr` orders them.
impl Ord for FlowKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.vlan, self.proto, self.lo(), self.hi()).cmp(&(
            other.vlan,
            other.proto,
            other.lo(),
            other.hi(),
        ))
    }
}

impl PartialOrd for FlowKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowKey")
            .field("vlan", &self.vlan)
            .field("proto", &self.proto)
            .field("lo", &self.lo())
            .field("hi", &self.hi())
            .finish()
    }
}

impl FlowKey {
    /// The key and direction of `packet`, for IP packets, and the key's hash by `hasher`.
    /// `ports` overrides the packet's own ports (later fragments borrow the ports of their first
    /// fragment).
    ///
    /// The hash is made from the values that make the key, before the key is in memory: hashing
    /// the key itself read it back while its stores were still on their way, and waited for
    /// them (a quarter of the flow lookup's samples in a one-worker profile). Inlined for the
    /// same reason: returned through the stack, the key was written field by field and read
    /// back at once with wider loads.
    #[inline]
    pub fn of(
        packet: &Packet<'_>,
        ports: Option<(u16, u16)>,
        hasher: &impl std::hash::BuildHasher,
    ) -> Option<(FlowKey, Dir, u64)> {
        let ip = packet.ip()?;
        let echo_id = match packet.transport {
            Transport::Icmp(Icmp {
                echo: Some((id, _)),
                ..
            })
            | Transport::Icmpv6(Icmp {
                echo: Some((id, _)),
                ..
            }) => (id, id),
            _ => (0, 0),
        };
        let (sp, dp) = ports.or(packet.ports()).unwrap_or(echo_id);
        // One header's addresses are of one family, so their bits order them as `IpAddr` does.
        // Comparing numbers rather than two `Endpoint`s built on the stack: the flow table keys
        // every packet by this, and the stack copies cost more than the comparison.
        let (src, dst) = (addr_bits(ip.src), addr_bits(ip.dst));
        let dir = if (src, sp) <= (dst, dp) {
            Dir::LoToHi
        } else {
            Dir::HiToLo
        };
        let ((lo_bits, lo_port), (hi_bits, hi_port)) = match dir {
            Dir::LoToHi => ((src, sp), (dst, dp)),
            Dir::HiToLo => ((dst, dp), (src, sp)),
        };
        let (vlan, proto) = (packet.vlan.unwrap_or(0), ip.protocol);
        let mut state = hasher.build_hasher();
        hash_parts(
            &mut state,
            lo_bits,
            hi_bits,
            key_rest(lo_port, hi_port, vlan, proto),
        );
        let key = FlowKey {
            lo_bits: Halves::of(lo_bits),
            hi_bits: Halves::of(hi_bits),
            lo_port,
            hi_port,
            vlan,
            proto,
            v6: ip.src.is_ipv6(),
        };
        Some((key, dir, std::hash::Hasher::finish(&state)))
    }

    fn endpoint(&self, bits: u128, port: u16) -> Endpoint {
        let addr = if self.v6 {
            IpAddr::V6(std::net::Ipv6Addr::from_bits(bits))
        } else {
            IpAddr::V4(std::net::Ipv4Addr::from_bits(bits as u32))
        };
        Endpoint { addr, port }
    }

    /// The end that sorts first.
    pub fn lo(&self) -> Endpoint {
        self.endpoint(self.lo_bits.get(), self.lo_port)
    }

    /// The end that sorts last.
    pub fn hi(&self) -> Endpoint {
        self.endpoint(self.hi_bits.get(), self.hi_port)
    }

    /// The endpoint that sends in direction `dir`.
    pub fn sender(&self, dir: Dir) -> Endpoint {
        match dir {
            Dir::LoToHi => self.lo(),
            Dir::HiToLo => self.hi(),
        }
    }

    /// The (source, destination) addresses of a packet sent in direction `dir`.
    pub fn addrs(&self, dir: Dir) -> (IpAddr, IpAddr) {
        (self.sender(dir).addr, self.sender(dir.reverse()).addr)
    }
}

/// TCP connection state as a monitor can see it (RFC 9293 §3.3.2, simplified to what both
/// directions' flags reveal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// Not TCP, or no handshake seen (the capture started mid-connection).
    #[default]
    None,
    SynSent,
    SynReceived,
    Established,
    /// One side sent FIN.
    Closing,
    /// Both sides sent FIN.
    Closed,
    /// A RST ended it.
    Reset,
}

impl TcpState {
    pub fn is_finished(self) -> bool {
        matches!(self, TcpState::Closed | TcpState::Reset)
    }
}

/// What the flow carries, from the port and refined by what the packets said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppLabel {
    #[default]
    Unknown,
    /// Only the port says so.
    Service(services::Service),
    /// The payload said so.
    Dns,
    Http,
    Tls,
    Quic,
    Ssh,
    Ftp,
}

impl AppLabel {
    pub fn name(self) -> &'static str {
        match self {
            AppLabel::Unknown => "unknown",
            AppLabel::Service(s) => s.name(),
            AppLabel::Dns => "DNS",
            AppLabel::Http => "HTTP",
            AppLabel::Tls => "TLS",
            AppLabel::Quic => "QUIC",
            AppLabel::Ssh => "SSH",
            AppLabel::Ftp => "FTP",
        }
    }

    /// Payload evidence beats the port; the first payload evidence stays.
    fn refine(&mut self, app: &App<'_>) {
        let seen = match app {
            App::Dns(_) => AppLabel::Dns,
            App::Http(_) => AppLabel::Http,
            App::Tls(_) => AppLabel::Tls,
            App::Ftp(_) | App::FtpReply(..) => AppLabel::Ftp,
            App::Ssh(_) => AppLabel::Ssh,
            App::None => return,
        };
        if matches!(self, AppLabel::Unknown | AppLabel::Service(_)) {
            *self = seen;
        }
    }
}

/// NTP's port (RFC 5905).
const NTP: u16 = 123;

/// Why a flow record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet for the idle timeout.
    Idle,
    /// TCP closed (FIN both ways or RST) and quiet for the closed timeout.
    TcpClosed,
    /// A DNS exchange over UDP whose every query was answered, quiet for the closed timeout.
    DnsAnswered,
    /// ICMP echo (ping) whose every request was answered, quiet for the closed timeout.
    EchoAnswered,
    /// NTP whose every client request was answered, quiet for the closed timeout.
    NtpAnswered,
    /// ICMP error messages only (destination unreachable, time exceeded, ...), quiet for the
    /// closed timeout.
    IcmpError,
    /// Still running after the active timeout: this record covers a slice of it.
    Active,
    /// The flow table was full and this was the idlest flow.
    Evicted,
    /// The run ended with the flow still open.
    Shutdown,
}

/// Per-flow state in the flow table. The key lives in the table.
#[derive(Debug, Clone)]
pub struct Flow {
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// The run's clock (latest packet time seen anywhere) when this flow last saw a packet.
    /// Unlike `last_ts` it never goes backwards, which keeps the recency order of the flow
    /// table sorted by it, so expiry can stop at the first flow that is still fresh.
    pub touched: Timestamp,
    /// Start of the current record (differs from `first_ts` after an active timeout).
    pub record_start: Timestamp,
    /// The earliest packet time of the current record: before `record_start` when the capture
    /// goes back in time (the hosts' first-seen times take it).
    pub earliest: Timestamp,
    /// Direction of the first packet, or the SYN's direction.
    pub initiator: Dir,
    /// Counters by direction: `[lo→hi, hi→lo]`.
    pub counters: [Counter; 2],
    pub tcp: TcpState,
    /// Union of TCP flags seen, per direction.
    pub flags: [u8; 2],
    /// Highest sequence number end seen per direction (for retransmission counting), once
    /// `seq_known` says that direction sent a segment with a length. Apart, not an
    /// `[Option<u32>; 2]`: the flags fit where the struct had padding, eight bytes a flow.
    seq_end: [u32; 2],
    seq_known: [bool; 2],
    pub retransmissions: u32,
    pub app: AppLabel,
    /// A name the flow revealed: TLS SNI, HTTP Host, DNS question.
    pub name: Option<Box<str>>,
    pub iface: IfaceId,
    /// The client's TLS hello spans segments and is being gathered (`hello.rs`).
    pub hello_pending: bool,
    /// A client datagram that looked like a QUIC Initial failed to open: not QUIC (or not a
    /// version we know), so later ones are not tried (each try costs a key derivation).
    pub quic_failed: bool,
    /// The flow carried ICMP error messages (each counts as a request with its answer).
    icmp_errors: bool,
    /// The sequence number of the latest ICMP echo request.
    echo_seq: u16,
    /// Requests and answers of a request-answer exchange (saturating): DNS queries and
    /// responses on a UDP flow to or from port 53, NTP client requests and server responses
    /// (port 123), or ICMP echo requests and replies. Other ICMP messages count as requests:
    /// an error as a request with its answer (it answers nothing and nothing answers it), any
    /// other as a request without one (router and neighbour discovery wait the idle timeout).
    requests: u16,
    answers: u16,
    /// The MAC addresses of the first packet, by side (`[lo, hi]`), seen at packet `first_seq`:
    /// what the flow tells its hosts when its record ends. A packet with other MACs says so
    /// from [`Flow::update`], and the engine gives those to the hosts at once.
    pub macs: SideMacs,
}

/// The MAC address of each side of a flow (`[lo, hi]`) as its first packet showed them, and
/// that packet's sequence number and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideMacs {
    mac: [Mac; 2],
    /// Whether the first packet had a MAC for that side (not every link type has MACs).
    has: [bool; 2],
    /// The direction of that packet: its sender's MAC counts as seen first (it matters only
    /// when both sides are one address, whose MACs then share `first_seq`).
    pub first_dir: Dir,
    pub first_seq: u64,
}

impl SideMacs {
    fn of(packet: &Packet<'_>, dir: Dir, seq: u64) -> SideMacs {
        let (src, dst) = (packet.src_mac, packet.dst_mac);
        let (lo, hi) = match dir {
            Dir::LoToHi => (src, dst),
            Dir::HiToLo => (dst, src),
        };
        SideMacs {
            mac: [lo.unwrap_or_default(), hi.unwrap_or_default()],
            has: [lo.is_some(), hi.is_some()],
            first_dir: dir,
            first_seq: seq,
        }
    }

    /// Whether `packet`, sent in direction `dir`, shows a MAC address these do not hold.
    fn differ(&self, packet: &Packet<'_>, dir: Dir) -> bool {
        let (s, r) = match dir {
            Dir::LoToHi => (0, 1),
            Dir::HiToLo => (1, 0),
        };
        let other = |seen: Option<Mac>, side: usize| {
            seen.is_some_and(|m| !self.has[side] || m != self.mac[side])
        };
        other(packet.src_mac, s) || other(packet.dst_mac, r)
    }

    /// The MAC address of `side` (0 = the key's `lo` end), if the first packet had one.
    pub fn side(&self, side: usize) -> Option<Mac> {
        match self.has.get(side) {
            Some(true) => self.mac.get(side).copied(),
            _ => None,
        }
    }
}

impl Flow {
    pub fn new(
        key: &FlowKey,
        packet: &Packet<'_>,
        dir: Dir,
        ts: Timestamp,
        seq: u64,
        iface: IfaceId,
    ) -> Self {
        let service = match key.proto {
            6 | 17 => {
                let l4 = if key.proto == 6 { L4::Tcp } else { L4::Udp };
                let (sp, dp) = match dir {
                    Dir::LoToHi => (key.lo_port, key.hi_port),
                    Dir::HiToLo => (key.hi_port, key.lo_port),
                };
                services::service_side(sp, dp, l4)
                    .1
                    .map_or(AppLabel::Unknown, AppLabel::Service)
            }
            _ => AppLabel::Unknown,
        };
        // A SYN-ACK as the first packet means the other side initiated.
        let initiator = match packet.transport {
            Transport::Tcp(t) if t.flags.has(TcpFlags::SYN) && t.flags.has(TcpFlags::ACK) => {
                dir.reverse()
            }
            _ => dir,
        };
        Flow {
            first_ts: ts,
            last_ts: ts,
            touched: ts,
            record_start: ts,
            earliest: ts,
            initiator,
            counters: [Counter::default(); 2],
            tcp: TcpState::None,
            flags: [0; 2],
            seq_end: [0; 2],
            seq_known: [false; 2],
            retransmissions: 0,
            app: service,
            name: None,
            iface,
            hello_pending: false,
            quic_failed: false,
            icmp_errors: false,
            echo_seq: 0,
            requests: 0,
            answers: 0,
            macs: SideMacs::of(packet, dir, seq),
        }
    }

    /// The conversation is over by its own protocol: TCP closed or reset, a DNS, NTP or ICMP
    /// echo exchange whose every request has its answer, or ICMP errors alone. Such a flow only
    /// waits the short closed timeout for stragglers (a retransmitted FIN, a duplicate answer)
    /// instead of the idle timeout: DNS clients take a fresh source port per query (RFC 5452
    /// §9.2), ping a fresh identifier per run, NTP clients poll every 64 s or more, and an ICMP
    /// error reports on one packet and expects nothing back, so holding these for a minute only
    /// holds memory — on busy links most open flows would be these. A ping that goes on sends
    /// its next request within the closed timeout and stays one flow; so does a burst of
    /// errors (traceroute's time-exceeded replies, a host refusing datagram after datagram).
    pub fn is_done(&self) -> bool {
        self.tcp.is_finished() || (self.requests > 0 && self.answers >= self.requests)
    }

    /// Why a flow with key `key` that [`Flow::is_done`] ended.
    pub fn done_reason(&self, key: &FlowKey) -> EndReason {
        if self.tcp.is_finished() {
            EndReason::TcpClosed
        } else if self.icmp_errors {
            EndReason::IcmpError
        } else if matches!(key.proto, PROTO_ICMP | PROTO_ICMPV6) {
            EndReason::EchoAnswered
        } else if key.lo_port == NTP || key.hi_port == NTP {
            EndReason::NtpAnswered
        } else {
            EndReason::DnsAnswered
        }
    }

    /// Accounts one packet of `bytes` wire bytes in direction `dir`. Returns true when the
    /// packet shows MAC addresses other than the flow's first ones (see [`Flow::macs`]).
    pub fn update(&mut self, packet: &Packet<'_>, dir: Dir, ts: Timestamp, bytes: u64) -> bool {
        self.last_ts = self.last_ts.max(ts);
        self.earliest = self.earliest.min(ts);
        if let Some(c) = self.counters.get_mut(dir.index()) {
            c.packets += 1;
            c.bytes = c.bytes.saturating_add(bytes);
        }
        match (packet.transport, &packet.app) {
            (Transport::Tcp(t), _) => self.track_tcp(t.flags, t.seq, packet.payload.len(), dir),
            (Transport::Udp(u), App::Dns(d)) if u.src_port == 53 || u.dst_port == 53 => {
                self.exchange(d.is_response);
            }
            // NTP: a client request is mode 3, the server's response mode 4 (RFC 5905 §7.3,
            // the low three bits of the first byte); 48 bytes is the header.
            (Transport::Udp(u), _)
                if (u.src_port == NTP || u.dst_port == NTP) && packet.payload.len() >= 48 =>
            {
                match packet.payload.first().map(|b| b & 7) {
                    Some(3) => self.exchange(false),
                    Some(4) => self.exchange(true),
                    _ => {}
                }
            }
            // Echo request and reply: ICMP types 8 and 0 (RFC 792), ICMPv6 128 and 129
            // (RFC 4443); the decoder gives `echo` for these only.
            (
                Transport::Icmp(Icmp {
                    ty,
                    echo: Some((_, seq)),
                    ..
                }),
                _,
            ) => self.echo(ty == 0, seq),
            (
                Transport::Icmpv6(Icmp {
                    ty,
                    echo: Some((_, seq)),
                    ..
                }),
                _,
            ) => self.echo(ty == 129, seq),
            (Transport::Icmp(Icmp { ty, .. }), _) => self.icmp_message(is_icmp_error(ty)),
            (Transport::Icmpv6(Icmp { ty, .. }), _) => self.icmp_message(is_icmpv6_error(ty)),
            _ => {}
        }
        self.app.refine(&packet.app);
        if self.name.is_none() {
            self.name = flow_name(&packet.app);
        }
        self.macs.differ(packet, dir)
    }

    /// Counts an echo request or reply with sequence number `seq`. Ping never sends a request
    /// again: once the latest request has its reply, a lost reply before it is given up, and
    /// the exchange is over until the next request.
    fn echo(&mut self, reply: bool, seq: u16) {
        if !reply {
            self.echo_seq = seq;
            self.exchange(false);
        } else if seq == self.echo_seq && self.requests > 0 {
            self.answers = self.answers.max(self.requests);
        } else {
            self.exchange(true);
        }
    }

    /// Counts an ICMP message other than echo: an error as a request with its answer, anything
    /// else as a request that keeps the flow waiting.
    fn icmp_message(&mut self, error: bool) {
        self.exchange(false);
        if error {
            self.icmp_errors = true;
            self.exchange(true);
        }
    }

    /// Counts a request, or an answer, of a request-answer exchange.
    fn exchange(&mut self, answer: bool) {
        let n = if answer {
            &mut self.answers
        } else {
            &mut self.requests
        };
        *n = n.saturating_add(1);
    }

    fn track_tcp(&mut self, flags: TcpFlags, seq: u32, len: usize, dir: Dir) {
        let i = dir.index();
        if let Some(f) = self.flags.get_mut(i) {
            *f |= flags.0;
        }
        let syn = flags.has(TcpFlags::SYN);
        let ack = flags.has(TcpFlags::ACK);
        self.tcp = if flags.has(TcpFlags::RST) {
            TcpState::Reset
        } else if syn && !ack {
            if dir == self.initiator || self.tcp == TcpState::None {
                self.initiator = dir;
                TcpState::SynSent
            } else {
                self.tcp
            }
        } else if syn && ack {
            TcpState::SynReceived
        } else {
            let fin_lo = self.flags[0] & TcpFlags::FIN != 0;
            let fin_hi = self.flags[1] & TcpFlags::FIN != 0;
            match (fin_lo, fin_hi, self.tcp) {
                (true, true, _) => TcpState::Closed,
                (true, false, _) | (false, true, _) => TcpState::Closing,
                (false, false, TcpState::SynReceived) if ack => TcpState::Established,
                (false, false, s) => s,
            }
        };
        // A segment carrying data that ends at or before what this side already sent is a
        // retransmission (sequence arithmetic is modulo 2^32: RFC 9293 §3.4).
        let seg_len = len as u32 + u32::from(syn) + u32::from(flags.has(TcpFlags::FIN));
        if seg_len == 0 {
            return;
        }
        let end = seq.wrapping_add(seg_len);
        if let (Some(slot), Some(known)) = (self.seq_end.get_mut(i), self.seq_known.get_mut(i)) {
            let prev = known.then_some(*slot);
            match prev {
                Some(prev) if (end.wrapping_sub(prev) as i32) <= 0 && len > 0 => {
                    self.retransmissions += 1;
                }
                Some(prev) if (end.wrapping_sub(prev) as i32) > 0 => *slot = end,
                Some(_) => {}
                None => (*slot, *known) = (end, true),
            }
        }
    }

    /// Starts a new record after an active timeout: counters restart, state stays.
    pub fn restart_record(&mut self, ts: Timestamp) {
        self.record_start = ts;
        self.earliest = ts;
        self.counters = [Counter::default(); 2];
        self.retransmissions = 0;
    }

    pub fn total(&self) -> Counter {
        both_ways(&self.counters)
    }

    pub fn record(&self, key: &FlowKey, reason: EndReason) -> FlowRecord {
        FlowRecord {
            key: *key,
            start: self.record_start,
            earliest: self.earliest,
            end: self.last_ts,
            initiator: self.initiator,
            counters: self.counters,
            tcp: self.tcp,
            flags: self.flags,
            retransmissions: self.retransmissions,
            app: self.app,
            name: self.name.clone(),
            iface: self.iface,
            reason,
            macs: self.macs,
        }
    }
}

/// ICMP error messages (RFC 792, RFC 1812 §4.3.2.1): destination unreachable, source quench,
/// redirect, time exceeded, parameter problem.
fn is_icmp_error(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 5 | 11 | 12)
}

/// ICMPv6 error messages are types 0 to 127 (RFC 4443 §2.1).
fn is_icmpv6_error(ty: u8) -> bool {
    ty < 128
}

/// Names worth keeping from a payload: the TLS server name, the HTTP host, the DNS question.
fn flow_name(app: &App<'_>) -> Option<Box<str>> {
    match app {
        App::Tls(t) => t.sni.map(Box::from),
        App::Http(wire::http::HttpSummary::Request { host: Some(h), .. }) => Some(Box::from(*h)),
        App::Dns(d) => d.question.map(|(n, _)| n.to_string().into_boxed_str()),
        _ => None,
    }
}

/// A finished (or sliced, or flushed) flow: what outputs store and export.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The earliest packet time in the record (see [`Flow::earliest`]).
    pub earliest: Timestamp,
    pub initiator: Dir,
    pub counters: [Counter; 2],
    pub tcp: TcpState,
    pub flags: [u8; 2],
    pub retransmissions: u32,
    pub app: AppLabel,
    pub name: Option<Box<str>>,
    pub iface: IfaceId,
    pub reason: EndReason,
    /// The flow's first MAC addresses, for its hosts.
    pub macs: SideMacs,
}

impl FlowRecord {
    pub fn total(&self) -> Counter {
        both_ways(&self.counters)
    }

    /// The service side of a TCP or UDP flow (see [`services::service_port`]); none for other
    /// protocols, or when no packet of the flow showed its ports (a cut transport header).
    pub fn service_port(&self) -> Option<ServicePort> {
        let l4 = match self.key.proto {
            6 => L4::Tcp,
            17 => L4::Udp,
            _ => return None,
        };
        let (a, b) = (self.key.lo_port, self.key.hi_port);
        (a, b).ne(&(0, 0)).then(|| ServicePort {
            l4,
            port: services::service_port(a, b, l4),
        })
    }

    /// (client, server): the initiator first.
    pub fn client_server(&self) -> (Endpoint, Endpoint) {
        let c = self.key.sender(self.initiator);
        let s = self.key.sender(self.initiator.reverse());
        (c, s)
    }

    /// Counters as (client→server, server→client).
    pub fn client_server_counters(&self) -> (Counter, Counter) {
        let i = self.initiator.index();
        (self.counters[i], self.counters[1 - i])
    }
}

/// Both directions' counters added.
fn both_ways(counters: &[Counter; 2]) -> Counter {
    let mut total = counters[0];
    total.merge(counters[1]);
    total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::hash::BuildHasher;
    use wire::LinkType;

    /// An Ethernet frame with a UDP datagram from `src`:`sp` to `dst`:`dp` (both of one family).
    fn udp(src: IpAddr, sp: u16, dst: IpAddr, dp: u16) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        let l4 = [
            sp.to_be_bytes(),
            dp.to_be_bytes(),
            8u16.to_be_bytes(),
            [0, 0],
        ]
        .concat();
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => unreachable!("one family"),
        }
        f.extend_from_slice(&l4);
        f
    }

    #[test]
    fn keys_order_endpoints_as_ip_addr_and_port_do() {
        let v4: [IpAddr; 4] =
            ["10.0.0.1", "10.0.0.2", "9.255.255.255", "200.1.2.3"].map(|a| a.parse().unwrap());
        let v6: [IpAddr; 4] =
            ["::1", "fe80::1", "2001:db8::1", "2001:db8::1:0"].map(|a| a.parse().unwrap());
        let ports = [0u16, 53, 443, 40000];
        let hasher = hashbrown::DefaultHashBuilder::default();
        let mut checked = 0;
        for family in [v4, v6] {
            for (s, d) in family
                .iter()
                .flat_map(|s| family.iter().map(move |d| (*s, *d)))
            {
                for (sp, dp) in ports
                    .iter()
                    .flat_map(|a| ports.iter().map(move |b| (*a, *b)))
                {
                    let frame = udp(s, sp, d, dp);
                    let packet = wire::decode(LinkType::Ethernet, &frame);
                    let (key, dir, hash) = FlowKey::of(&packet, None, &hasher).expect("a UDP key");
                    // The flow table's index rehashes keys as it grows: the hash made from the
                    // parts must be the key's own.
                    assert_eq!(hash, hasher.hash_one(key), "{s}:{sp} → {d}:{dp}");
                    assert_eq!(key.v6, s.is_ipv6());
                    let src = Endpoint { addr: s, port: sp };
                    let dst = Endpoint { addr: d, port: dp };
                    let want = if src <= dst {
                        (src, dst, Dir::LoToHi)
                    } else {
                        (dst, src, Dir::HiToLo)
                    };
                    assert_eq!((key.lo(), key.hi(), dir), want, "{s}:{sp} → {d}:{dp}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 2 * 16 * 16);
    }
}
