//! One frame decoded: link → network → transport → application hint.
//!
//! [`decode`] never fails and never panics. L2–L4 come from etherparse's lax slicer (it decodes a
//! truncated frame as far as the bytes go); the link header is stripped by [`crate::link`] and the
//! application hints come from this crate's own zero-copy views. Everything borrows the frame: a
//! [`Packet`] is a few words of metadata plus slices, built on the stack with no allocation.

use core::net::{IpAddr, Ipv4Addr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

use crate::dns::{self, DnsSummary};
use crate::fast;
use crate::http::{self, HttpSummary};
use crate::link::{self, LinkType, Mac, Next};
use crate::services::L4;
use crate::text::{self, FtpCommand};
use crate::tls::{self, TlsSummary};

/// EtherTypes we name ourselves (IEEE registry).
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_RARP: u16 = 0x8035;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// The layer at which decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Network,
    Transport,
}

/// Why decoding stopped before the end of the frame's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stop {
    /// The captured bytes end inside a header (snaplen or a cut packet).
    Truncated(Layer),
    /// A header's fields contradict each other (bad version, length smaller than the header...).
    Malformed(Layer),
}

/// Which fragment of an IP datagram a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fragment {
    /// Not fragmented.
    Whole,
    /// Offset 0 with more fragments: carries the transport header and ports.
    First,
    /// Offset > 0: only payload bytes, no transport header.
    Later,
}

/// An IPv4 or IPv6 header, reduced to what netlens shows and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (v4) or hop limit (v6).
    pub ttl: u8,
    /// Identification (v4) or flow label (v6).
    pub id: u32,
    /// The protocol of the payload: after IPv6 extension headers, the first non-extension one.
    pub protocol: u8,
    pub fragment: Fragment,
}

/// An ARP packet for IPv4 over Ethernet (RFC 826); other hardware/protocol pairs are `Net::Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// 1 = request, 2 = reply (RFC 826); others (RARP 3/4, InARP 8/9) kept as numbers.
    pub operation: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// The outermost network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    Ipv4(Ip),
    Ipv6(Ip),
    /// An IPv4/IPv6 EtherType (or raw-IP link) whose header could not be decoded: the version
    /// the link layer `claimed` and the version `nibble` the header actually starts with.
    BadIp {
        claimed: u8,
        nibble: u8,
    },
    Arp(Arp),
    /// Some other EtherType (IPX, LLDP, ...), or an ARP for other address families.
    Other {
        ethertype: u16,
    },
    /// No network layer at all: 802.11 management, STP/CDP over LLC, unsupported link types.
    None,
}

/// TCP flags, as the low 8 bits of the header's flag byte (CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// tcpdump's notation: `S`, `S.`, `P.`, `F.`, `R`, `.`; `none` when no flag is set.
    pub fn tcpdump_letters(self) -> TcpFlagLetters {
        let mut buf = [0u8; 8];
        let mut n = 0;
        for (flag, letter) in [
            (Self::FIN, b'F'),
            (Self::SYN, b'S'),
            (Self::RST, b'R'),
            (Self::PSH, b'P'),
            (Self::URG, b'U'),
            (Self::ECE, b'E'),
            (Self::CWR, b'W'),
            (Self::ACK, b'.'),
        ] {
            if self.has(flag) {
                if let Some(slot) = buf.get_mut(n) {
                    *slot = letter;
                    n += 1;
                }
            }
        }
        TcpFlagLetters { buf, len: n }
    }
}

/// Flag letters without allocating; see [`TcpFlags::tcpdump_letters`].
#[derive(Debug, Clone, Copy)]
pub struct TcpFlagLetters {
    buf: [u8; 8],
    len: usize,
}

impl TcpFlagLetters {
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        match core::str::from_utf8(bytes) {
            Ok("") | Err(_) => "none",
            Ok(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    pub ty: u8,
    pub code: u8,
    /// Echo identifier and sequence number, for echo request/reply only.
    pub echo: Option<(u16, u16)>,
}

/// The transport header, when it could be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp(Tcp),
    Udp(Udp),
    Icmp(Icmp),
    Icmpv6(Icmp),
    /// Not decoded: another protocol, a later fragment, or a truncated header.
    None,
}

/// What the payload says, when netlens recognises it.
#[derive(Debug, Clone, Copy)]
pub enum App<'a> {
    Dns(DnsSummary<'a>),
    Http(HttpSummary<'a>),
    Tls(TlsSummary<'a>),
    Ftp(FtpCommand<'a>),
    FtpReply(u16, &'a str),
    Ssh(&'a str),
    None,
}

/// Which application parsers a decode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apps {
    /// All of them: the packet says all netlens can tell.
    All,
    /// Those the alert detectors read: DNS, FTP, HTTP requests, and everything on Telnet's
    /// port. TLS, SSH and HTTP responses elsewhere are left as [`App::None`]. A
    /// [`Layout`](crate::Layout) made from such a packet tries them when it is put back
    /// together, so the packet it gives is the one [`Apps::All`] gives.
    Alerts,
}

/// Telnet: the alert detectors look for its password prompt in payloads no parser recognised.
const TELNET: u16 = 23;

/// Which [`App`] a payload was recognised as, without what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    None,
    /// Not recognised by an [`Apps::Alerts`] decode: the parsers it skipped are still to try.
    Rest,
    Dns,
    Http,
    Tls,
    Ftp,
    FtpReply,
    Ssh,
}

impl App<'_> {
    pub fn kind(&self) -> AppKind {
        match self {
            App::Dns(_) => AppKind::Dns,
            App::Http(_) => AppKind::Http,
            App::Tls(_) => AppKind::Tls,
            App::Ftp(_) => AppKind::Ftp,
            App::FtpReply(..) => AppKind::FtpReply,
            App::Ssh(_) => AppKind::Ssh,
            App::None => AppKind::None,
        }
    }

    /// Short protocol name used in counters and the packet log.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            App::Dns(_) => Some("dns"),
            App::Http(_) => Some("http"),
            App::Tls(_) => Some("tls"),
            App::Ftp(_) | App::FtpReply(..) => Some("ftp"),
            App::Ssh(_) => Some("ssh"),
            App::None => None,
        }
    }
}

/// Counting class of a packet's outermost network layer (the `protocols` keys of the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L3Class {
    Ipv4,
    Ipv6,
    Arp,
    Other,
}

/// Counting class of the transport directly inside the outermost IP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Class {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Other,
}

/// A decoded frame. All slices borrow the frame.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    /// Outermost 802.1Q VLAN id, if tagged.
    pub vlan: Option<u16>,
    pub net: Net,
    pub transport: Transport,
    /// Transport payload (TCP/UDP data, ICMP body), or the IP payload when the transport was not
    /// decoded. Empty when there is none.
    pub payload: &'a [u8],
    pub app: App<'a>,
    pub stop: Option<Stop>,
}

impl<'a> Packet<'a> {
    /// A packet with nothing decoded: what [`decode_apps_into`] fills.
    pub fn empty() -> Self {
        Packet {
            src_mac: None,
            dst_mac: None,
            vlan: None,
            net: Net::None,
            transport: Transport::None,
            payload: &[],
            app: App::None,
            stop: None,
        }
    }

    pub fn ip(&self) -> Option<&Ip> {
        match &self.net {
            Net::Ipv4(ip) | Net::Ipv6(ip) => Some(ip),
            _ => None,
        }
    }

    /// Source and destination ports, for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }

    pub fn l3_class(&self) -> L3Class {
        match self.net {
            Net::Ipv4(_) => L3Class::Ipv4,
            Net::Ipv6(_) => L3Class::Ipv6,
            // tshark keeps a broken IPv4 header as IPv4, but shows an IPv6 EtherType whose
            // header is not version 6 as undissected data.
            Net::BadIp { claimed: 4, .. } => L3Class::Ipv4,
            Net::BadIp {
                claimed: 6,
                nibble: 6,
            } => L3Class::Ipv6,
            // An ARP EtherType is ARP even when the body is cut or uses other address sizes.
            // RARP (0x8035, RFC 903) shares ARP's format, and tshark counts it as ARP.
            Net::Arp(_)
            | Net::Other {
                ethertype: ETHERTYPE_ARP | ETHERTYPE_RARP,
            } => L3Class::Arp,
            Net::BadIp { .. } | Net::Other { .. } | Net::None => L3Class::Other,
        }
    }

    /// The transport class directly inside the outermost IP header, by its protocol number: a
    /// first fragment or a truncated TCP header still counts as TCP; a later fragment (no transport
    /// header at all) or an IP header too broken to trust counts as other.
    pub fn l4_class(&self) -> Option<L4Class> {
        match self.l3_class() {
            L3Class::Ipv4 | L3Class::Ipv6 => {}
            L3Class::Arp | L3Class::Other => return None,
        }
        match self.net {
            Net::Ipv4(ip) | Net::Ipv6(ip) => Some(
                if ip.fragment == Fragment::Later
                    || self.stop == Some(Stop::Malformed(Layer::Network))
                {
                    L4Class::Other
                } else {
                    match ip.protocol {
                        PROTO_TCP => L4Class::Tcp,
                        PROTO_UDP => L4Class::Udp,
                        PROTO_ICMP => L4Class::Icmp,
                        PROTO_ICMPV6 => L4Class::Icmpv6,
                        _ => L4Class::Other,
                    }
                },
            ),
            _ => Some(L4Class::Other),
        }
    }
}

/// How many encapsulations (MPLS, PPPoE, NSH, PKTAP) one frame may nest before we stop looking:
/// real traffic uses one or two; hostile input must not make the work unbounded.
const MAX_DEPTH: u8 = 4;

/// Where a nested decode is: how many encapsulations deep, and whether the fast path is on.
#[derive(Debug, Clone, Copy)]
struct Walk {
    depth: u8,
    fast: bool,
}

impl Walk {
    fn deeper(self) -> Walk {
        Walk {
            depth: self.depth + 1,
            ..self
        }
    }
}

/// Decodes one frame captured with link type `link`.
pub fn decode(link: LinkType, frame: &[u8]) -> Packet<'_> {
    decode_with(link, frame, true, Apps::All)
}

/// [`decode`] running only the application parsers `apps` names.
pub fn decode_apps(link: LinkType, frame: &[u8], apps: Apps) -> Packet<'_> {
    decode_with(link, frame, true, apps)
}

/// [`decode_apps`] into `packet`, which must be fresh from [`Packet::empty`]. For the hot
/// path: a packet returned from a call is built in the callee's frame and then copied out, 176
/// bytes read back with wide loads right after the narrow stores that built them (a
/// store-forwarding stall); built here, it stays where the caller keeps it.
#[inline]
pub fn decode_apps_into<'a>(packet: &mut Packet<'a>, link: LinkType, frame: &'a [u8], apps: Apps) {
    debug_assert!(
        packet.src_mac.is_none()
            && packet.dst_mac.is_none()
            && packet.vlan.is_none()
            && matches!(
                (&packet.net, &packet.transport, &packet.app),
                (Net::None, Transport::None, App::None)
            )
            && packet.payload.is_empty()
            && packet.stop.is_none(),
        "decode_apps_into takes an empty packet"
    );
    decode_fields(packet, link, frame, true, apps);
}

/// [`decode`] without the fast path for common frames: every frame through etherparse. Only
/// for tests and fuzzing, which check that both give the same packet.
#[doc(hidden)]
pub fn decode_general(link: LinkType, frame: &[u8]) -> Packet<'_> {
    decode_with(link, frame, false, Apps::All)
}

fn decode_with(link: LinkType, frame: &[u8], fast_path: bool, apps: Apps) -> Packet<'_> {
    let mut packet = Packet::empty();
    decode_fields(&mut packet, link, frame, fast_path, apps);
    packet
}

#[inline]
fn decode_fields<'a>(
    packet: &mut Packet<'a>,
    link: LinkType,
    frame: &'a [u8],
    fast_path: bool,
    apps: Apps,
) {
    let walk = Walk {
        depth: 0,
        fast: fast_path,
    };
    decode_link(packet, link, frame, walk);
    packet.app = app_hint(packet, apps);
}

fn apply<'a>(packet: &mut Packet<'a>, fast: fast::Fast<'a>) {
    packet.net = fast.net;
    packet.transport = fast.transport;
    packet.payload = fast.payload;
}

// Out of line: `decode_fields` is inlined where the packet lives, and this is the decoder.
#[inline(never)]
fn decode_link<'a>(packet: &mut Packet<'a>, link: LinkType, frame: &'a [u8], walk: Walk) {
    if let Some((inner, rest)) = pktap(link, frame) {
        if walk.depth < MAX_DEPTH {
            decode_link(packet, inner, rest, walk.deeper());
        }
        return;
    }
    // Nearly every frame: Ethernet with IP inside. The fast path reads the MACs and EtherType
    // itself, so the general link layer below would only be read twice.
    let tried_fast = walk.fast && link == LinkType::Ethernet;
    if tried_fast && fast_ethernet(packet, frame) {
        return;
    }
    let stripped = link::strip(link, frame);
    packet.src_mac = stripped.src_mac;
    packet.dst_mac = stripped.dst_mac;
    match stripped.next {
        // The same frame the fast path just declined: straight to the general decoder.
        Next::Ethernet(bytes) if tried_fast => general_ethernet(packet, bytes, walk),
        Next::Ethernet(bytes) => from_ethernet(packet, bytes, walk),
        Next::EtherType(ethertype, bytes) => from_ethertype(packet, ethertype, bytes, walk),
        // A link type that names the IP version is believed over the version nibble, as tshark does.
        Next::Ip(bytes) => match link {
            LinkType::Ipv4 => from_ethertype(packet, ETHERTYPE_IPV4, bytes, walk),
            LinkType::Ipv6 => from_ethertype(packet, ETHERTYPE_IPV6, bytes, walk),
            _ => from_ip(packet, bytes, walk),
        },
        Next::Truncated => packet.stop = Some(Stop::Truncated(Layer::Link)),
        Next::NoNetwork | Next::Unsupported => {}
    }
}

/// Apple's PKTAP (LINKTYPE_PKTAP 258; written as DLT_USER2 149 by macOS): a header whose first
/// word is its own length and third word the link type of the frame that follows (little-endian,
/// as written on macOS; libpcap `pcap/pktap.h`).
fn pktap(link: LinkType, frame: &[u8]) -> Option<(LinkType, &[u8])> {
    if !matches!(link.to_dlt(), 149 | 258) {
        return None;
    }
    let word = |i: usize| -> Option<u32> {
        let b = frame.get(i..i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let len = usize::try_from(word(0)?).ok()?;
    let inner = word(8)?;
    // sizeof(struct pktap_header) is 108; a smaller length or a PKTAP inside PKTAP is not PKTAP.
    if len < 108 || matches!(inner, 149 | 258) {
        return None;
    }
    Some((LinkType::from_dlt(inner), frame.get(len..)?))
}

/// Decodes `bytes` (an Ethernet II frame) by the fast path if it can; false if it cannot.
fn fast_ethernet<'a>(packet: &mut Packet<'a>, bytes: &'a [u8]) -> bool {
    let Some((dst, src, vlan, fast)) = fast::ethernet(bytes) else {
        return false;
    };
    packet.dst_mac = Some(dst);
    packet.src_mac = Some(src);
    if packet.vlan.is_none() {
        packet.vlan = vlan;
    }
    apply(packet, fast);
    true
}

fn from_ethernet<'a>(packet: &mut Packet<'a>, bytes: &'a [u8], walk: Walk) {
    if walk.fast && fast_ethernet(packet, bytes) {
        return;
    }
    general_ethernet(packet, bytes, walk);
}

/// An Ethernet II frame through etherparse.
fn general_ethernet<'a>(packet: &mut Packet<'a>, bytes: &'a [u8], walk: Walk) {
    match LaxSlicedPacket::from_ethernet(bytes) {
        Ok(sliced) => fill(packet, &sliced, None, walk),
        Err(_) => packet.stop = Some(Stop::Truncated(Layer::Link)),
    }
}

fn from_ethertype<'a>(packet: &mut Packet<'a>, ethertype: u16, bytes: &'a [u8], walk: Walk) {
    if walk.fast {
        if let Some(fast) = fast::ip(ethertype, bytes) {
            return apply(packet, fast);
        }
    }
    let sliced = LaxSlicedPacket::from_ether_type(EtherType(ethertype), bytes);
    fill(packet, &sliced, Some(ethertype), walk);
}

fn from_ip<'a>(packet: &mut Packet<'a>, bytes: &'a [u8], walk: Walk) {
    if walk.fast {
        let ethertype = match bytes.first().map(|b| b >> 4) {
            Some(4) => ETHERTYPE_IPV4,
            Some(6) => ETHERTYPE_IPV6,
            _ => 0,
        };
        if let Some(fast) = fast::ip(ethertype, bytes) {
            return apply(packet, fast);
        }
    }
    match LaxSlicedPacket::from_ip(bytes) {
        Ok(sliced) => fill(packet, &sliced, None, walk),
        Err(_) => {
            // The version nibble is all a raw IP packet has to say what it was.
            let nibble = bytes.first().map_or(0, |b| b >> 4);
            packet.net = Net::BadIp {
                claimed: nibble,
                nibble,
            };
            packet.stop = Some(if bytes.len() < 20 {
                Stop::Truncated(Layer::Network)
            } else {
                Stop::Malformed(Layer::Network)
            });
        }
    }
}

/// Where an encapsulation that etherparse does not open leads.
enum Inner<'a> {
    Ip(&'a [u8]),
    EtherType(u16, &'a [u8]),
    Ethernet(&'a [u8]),
}

/// MPLS (RFC 3032), PPPoE sessions (RFC 2516) and NSH (RFC 8300) carry IP (or Ethernet) inside;
/// tshark counts the IP inside as the network layer, and so do we.
fn inner_of(ethertype: u16, payload: &[u8]) -> Option<Inner<'_>> {
    match ethertype {
        // MPLS unicast/multicast: 4-byte label entries until the bottom-of-stack bit; then IP,
        // known by its version nibble (anything else is a pseudowire we do not open).
        0x8847 | 0x8848 => {
            let mut rest = payload;
            loop {
                let (entry, tail) = rest.split_at_checked(4)?;
                rest = tail;
                if entry.get(2).is_some_and(|b| b & 1 == 1) {
                    break;
                }
            }
            match rest.first().map(|b| b >> 4) {
                Some(4 | 6) => Some(Inner::Ip(rest)),
                _ => None,
            }
        }
        // PPPoE session: 6-byte header, then the PPP protocol (0x0021 IPv4, 0x0057 IPv6).
        0x8864 => {
            let (_, ppp) = payload.split_at_checked(6)?;
            let (proto, rest) = ppp.split_at_checked(2)?;
            match proto {
                [0x00, 0x21] => Some(Inner::EtherType(ETHERTYPE_IPV4, rest)),
                [0x00, 0x57] => Some(Inner::EtherType(ETHERTYPE_IPV6, rest)),
                _ => None,
            }
        }
        // NSH: length in 4-byte words in the low 6 bits of byte 1; next protocol in byte 3.
        0x894F => {
            let words = usize::from(payload.get(1)? & 0x3F);
            let rest = payload.get(words * 4..)?;
            match payload.get(3)? {
                1 => Some(Inner::EtherType(ETHERTYPE_IPV4, rest)),
                2 => Some(Inner::EtherType(ETHERTYPE_IPV6, rest)),
                3 => Some(Inner::Ethernet(rest)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Copies what etherparse found into `packet`. `outer_ethertype` is the EtherType the link layer
/// announced when etherparse was started below Ethernet.
fn fill<'a>(
    packet: &mut Packet<'a>,
    sliced: &LaxSlicedPacket<'a>,
    outer_ethertype: Option<u16>,
    walk: Walk,
) {
    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        packet.src_mac = Some(eth.source());
        packet.dst_mac = Some(eth.destination());
    }
    if packet.vlan.is_none() {
        packet.vlan = sliced.vlan_ids().first().map(|id| id.value());
    }

    if let Some((err, layer)) = &sliced.stop_err {
        packet.stop = Some(stop_of(err, *layer));
    }

    let ether_payload = sliced.ether_payload();
    let ethertype = ether_payload
        .as_ref()
        .map(|p| p.ether_type.0)
        .or(outer_ethertype);

    match &sliced.net {
        // The EtherType said IPv6 but the header is IPv4 (or the reverse): a broken packet of
        // the announced kind, as tshark sees it.
        Some(LaxNetSlice::Ipv4(_)) if ethertype == Some(ETHERTYPE_IPV6) => {
            packet.net = Net::BadIp {
                claimed: 6,
                nibble: 4,
            };
            packet.stop = Some(Stop::Malformed(Layer::Network));
        }
        Some(LaxNetSlice::Ipv6(_)) if ethertype == Some(ETHERTYPE_IPV4) => {
            packet.net = Net::BadIp {
                claimed: 4,
                nibble: 6,
            };
            packet.stop = Some(Stop::Malformed(Layer::Network));
        }
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let fragment = fragment_of(h.more_fragments(), h.fragments_offset().value());
            packet.net = Net::Ipv4(Ip {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                ttl: h.ttl(),
                id: u32::from(h.identification()),
                protocol: v4.payload().ip_number.0,
                fragment,
            });
            // A total length shorter than the header itself (0 aside, which TCP segmentation
            // offload writes) leaves no payload to trust: RFC 791 §3.1.
            let total = h.total_len();
            if total != 0 && usize::from(total) < usize::from(h.ihl()) * 4 {
                packet.stop = Some(Stop::Malformed(Layer::Network));
                return;
            }
            fill_transport(packet, sliced, v4.payload().payload, fragment);
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let fragment = if v6.payload().fragmented {
                ipv6_fragment(v6)
            } else {
                Fragment::Whole
            };
            packet.net = Net::Ipv6(Ip {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                ttl: h.hop_limit(),
                id: h.flow_label().value(),
                protocol: v6.payload().ip_number.0,
                fragment,
            });
            fill_transport(packet, sliced, v6.payload().payload, fragment);
        }
        Some(LaxNetSlice::Arp(arp)) => {
            packet.net = arp_of(arp).map_or(
                Net::Other {
                    ethertype: ETHERTYPE_ARP,
                },
                Net::Arp,
            );
        }
        None => {
            if walk.depth < MAX_DEPTH {
                if let (Some(et), Some(p)) = (ethertype, &ether_payload) {
                    match inner_of(et, p.payload) {
                        Some(Inner::Ip(b)) => return from_ip(packet, b, walk.deeper()),
                        Some(Inner::EtherType(t, b)) => {
                            return from_ethertype(packet, t, b, walk.deeper())
                        }
                        Some(Inner::Ethernet(b)) => return from_ethernet(packet, b, walk.deeper()),
                        None => {}
                    }
                }
            }
            packet.net = match ethertype {
                // etherparse stopped inside an IP header: still an IP packet of the kind the
                // EtherType announced, as tshark counts it.
                Some(ETHERTYPE_IPV4) | Some(ETHERTYPE_IPV6) => {
                    let claimed = if ethertype == Some(ETHERTYPE_IPV4) {
                        4
                    } else {
                        6
                    };
                    let nibble = ether_payload
                        .as_ref()
                        .and_then(|p| p.payload.first())
                        .map_or(claimed, |b| b >> 4);
                    Net::BadIp { claimed, nibble }
                }
                Some(ethertype) => Net::Other { ethertype },
                None => Net::None,
            };
        }
    }
}

fn fragment_of(more_fragments: bool, offset: u16) -> Fragment {
    match (more_fragments, offset) {
        (false, 0) => Fragment::Whole,
        (true, 0) => Fragment::First,
        _ => Fragment::Later,
    }
}

fn ipv6_fragment(v6: &etherparse::LaxIpv6Slice<'_>) -> Fragment {
    // The fragment header is one of the few extension headers etherparse already bounded.
    for ext in v6.extensions().clone() {
        if let etherparse::Ipv6ExtensionSlice::Fragment(frag) = ext {
            return fragment_of(frag.more_fragments(), frag.fragment_offset().value());
        }
    }
    Fragment::Later
}

fn stop_of(err: &etherparse::err::packet::SliceError, layer: etherparse::err::Layer) -> Stop {
    use etherparse::err::packet::SliceError;
    use etherparse::err::Layer as L;
    let our_layer = match layer {
        L::LinuxSllHeader
        | L::Ethernet2Header
        | L::EtherPayload
        | L::VlanHeader
        | L::MacsecHeader
        | L::MacsecPacket => Layer::Link,
        L::IpHeader
        | L::Ipv4Header
        | L::Ipv4Packet
        | L::IpAuthHeader
        | L::Ipv6Header
        | L::Ipv6Packet
        | L::Ipv6ExtHeader
        | L::Ipv6HopByHopHeader
        | L::Ipv6DestOptionsHeader
        | L::Ipv6RouteHeader
        | L::Ipv6FragHeader
        | L::Arp => Layer::Network,
        _ => Layer::Transport,
    };
    match err {
        SliceError::Len(_) => Stop::Truncated(our_layer),
        _ => Stop::Malformed(our_layer),
    }
}

fn arp_of(arp: &etherparse::ArpPacketSlice<'_>) -> Option<Arp> {
    // Only Ethernet/IPv4 ARP has the 6+4 byte addresses we keep (RFC 826 with hlen 6, plen 4).
    let mac = |s: &[u8]| -> Option<Mac> { s.try_into().ok() };
    let ip = |s: &[u8]| -> Option<Ipv4Addr> {
        let b: [u8; 4] = s.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    Some(Arp {
        operation: arp.operation().0,
        sender_mac: mac(arp.sender_hw_addr())?,
        sender_ip: ip(arp.sender_protocol_addr())?,
        target_mac: mac(arp.target_hw_addr())?,
        target_ip: ip(arp.target_protocol_addr())?,
    })
}

fn fill_transport<'a>(
    packet: &mut Packet<'a>,
    sliced: &LaxSlicedPacket<'a>,
    ip_payload: &'a [u8],
    fragment: Fragment,
) {
    packet.payload = ip_payload;
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            packet.transport = Transport::Tcp(tcp_of(tcp));
            packet.payload = tcp.payload();
        }
        Some(TransportSlice::Udp(udp)) => {
            packet.transport = Transport::Udp(Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
            });
            packet.payload = udp.payload();
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            let (ty, code) = (icmp.type_u8(), icmp.code_u8());
            let echo = matches!(ty, 0 | 8).then(|| echo_of(icmp.bytes5to8()));
            packet.transport = Transport::Icmp(Icmp { ty, code, echo });
            packet.payload = icmp.payload();
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            let (ty, code) = (icmp.type_u8(), icmp.code_u8());
            let echo = matches!(ty, 128 | 129).then(|| echo_of(icmp.bytes5to8()));
            packet.transport = Transport::Icmpv6(Icmp { ty, code, echo });
            packet.payload = icmp.payload();
        }
        Some(TransportSlice::Igmp(_)) | None => {
            // etherparse does not decode the transport of any fragment; the first fragment still
            // starts with the transport header, so read its ports ourselves.
            if fragment == Fragment::First {
                first_fragment_transport(packet, ip_payload);
            }
        }
    }
}

fn first_fragment_transport<'a>(packet: &mut Packet<'a>, ip_payload: &'a [u8]) {
    let Some(ip) = packet.ip() else { return };
    match ip.protocol {
        PROTO_TCP => {
            if let Ok(tcp) = etherparse::TcpSlice::from_slice(ip_payload) {
                packet.transport = Transport::Tcp(tcp_of(&tcp));
                packet.payload = tcp.payload();
            }
        }
        PROTO_UDP => {
            if let Some((header, rest)) = ip_payload.split_at_checked(8) {
                let port = |i: usize| {
                    u16::from_be_bytes([
                        header.get(i).copied().unwrap_or(0),
                        header.get(i + 1).copied().unwrap_or(0),
                    ])
                };
                packet.transport = Transport::Udp(Udp {
                    src_port: port(0),
                    dst_port: port(2),
                });
                packet.payload = rest;
            }
        }
        _ => {}
    }
}

fn tcp_of(tcp: &etherparse::TcpSlice<'_>) -> Tcp {
    let header = tcp.header_slice();
    // Byte 13 of the TCP header holds CWR..FIN (RFC 9293 §3.1).
    let flags = TcpFlags(header.get(13).copied().unwrap_or(0));
    Tcp {
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags,
        window: tcp.window_size(),
    }
}

fn echo_of(b: [u8; 4]) -> (u16, u16) {
    (
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    )
}

/// Well-known ports of DNS, mDNS and LLMNR, which all share the DNS wire format.
fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 5353 | 5355)
}

/// Recognises the application protocol of the payload: by port where the protocol has one
/// (DNS, FTP), by content where it announces itself (HTTP, TLS, SSH on any port).
fn app_hint<'a>(packet: &Packet<'a>, apps: Apps) -> App<'a> {
    if packet.payload.is_empty() {
        return App::None;
    }
    let t = match packet.transport {
        Transport::Udp(u) if is_dns_port(u.src_port) || is_dns_port(u.dst_port) => {
            return app_of(&packet.transport, packet.payload, AppKind::Dns);
        }
        Transport::Tcp(t) => t,
        _ => return App::None,
    };
    let by_port = [
        (t.src_port == 53 || t.dst_port == 53, AppKind::Dns),
        (t.dst_port == 21, AppKind::Ftp),
        (t.src_port == 21, AppKind::FtpReply),
    ];
    let kinds = by_port.iter().filter(|(on, _)| *on).map(|&(_, kind)| kind);
    if let Some(app) = first_of(&packet.transport, packet.payload, kinds) {
        return app;
    }
    if apps == Apps::Alerts && t.src_port != TELNET && t.dst_port != TELNET {
        // A TLS record cannot start like a request (its first byte is 20 to 24), so
        // skipping TLS does not change what a request is taken for.
        return http::parse_request_only(packet.payload).map_or(App::None, App::Http);
    }
    content_hint(&packet.transport, packet.payload)
}

/// The parsers that recognise a TCP payload by its content, in their order.
fn content_hint<'a>(transport: &Transport, payload: &'a [u8]) -> App<'a> {
    first_of(
        transport,
        payload,
        [AppKind::Tls, AppKind::Http, AppKind::Ssh],
    )
    .unwrap_or(App::None)
}

/// What the first of `kinds` whose parser recognises the payload gives.
fn first_of<'a>(
    transport: &Transport,
    payload: &'a [u8],
    kinds: impl IntoIterator<Item = AppKind>,
) -> Option<App<'a>> {
    kinds
        .into_iter()
        .map(|kind| app_of(transport, payload, kind))
        .find(|app| !matches!(app, App::None))
}

/// The parser of `kind` on a packet's `payload` ([`App::None`] if it does not recognise it). Also
/// what [`app_hint`] gave when an earlier decode of the same bytes found the payload to be
/// `kind`: only that one parser runs again (the parsers it tried first had failed).
pub(crate) fn app_of<'a>(transport: &Transport, payload: &'a [u8], kind: AppKind) -> App<'a> {
    // `Rest` comes only from a TCP payload that an `Apps::Alerts` decode did not recognise.
    match (kind, transport) {
        (AppKind::Dns, Transport::Udp(_)) => dns::parse_udp(payload).map_or(App::None, App::Dns),
        (AppKind::Dns, Transport::Tcp(_)) => dns::parse_tcp(payload).map_or(App::None, App::Dns),
        (AppKind::Ftp, _) => text::ftp_command(payload).map_or(App::None, App::Ftp),
        (AppKind::FtpReply, _) => {
            text::ftp_reply(payload).map_or(App::None, |(code, msg)| App::FtpReply(code, msg))
        }
        (AppKind::Tls, _) => tls::parse(payload).map_or(App::None, App::Tls),
        (AppKind::Http, _) => http::parse(payload).map_or(App::None, App::Http),
        (AppKind::Ssh, _) => text::ssh_banner(payload).map_or(App::None, App::Ssh),
        // DNS and FTP were tried (and failed); so was an HTTP request, which a TLS record
        // cannot be taken for. The content parsers give what they would have.
        (AppKind::Rest, _) => content_hint(transport, payload),
        _ => App::None,
    }
}

/// The L4 protocol as the services table names it.
pub fn services_l4(transport: &Transport) -> Option<L4> {
    match transport {
        Transport::Tcp(_) => Some(L4::Tcp),
        Transport::Udp(_) => Some(L4::Udp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Ethernet + IPv4 + UDP 53 query for example.com A, built by hand.
    fn dns_query_frame() -> Vec<u8> {
        let mut f = vec![
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, // ethernet
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, 17, 0, 0, 192, 168, 1, 2, 8, 8, 8, 8, // ipv4
            0xc0, 0x01, 0, 53, 0, 0, 0, 0, // udp
        ];
        let dns = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l',
            b'e', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        f.extend_from_slice(&dns);
        let ip_len = (f.len() - 14) as u16;
        f[16..18].copy_from_slice(&ip_len.to_be_bytes());
        let udp_len = (f.len() - 34) as u16;
        f[38..40].copy_from_slice(&udp_len.to_be_bytes());
        f
    }

    #[test]
    fn decodes_udp_over_ipv4() {
        let frame = dns_query_frame();
        let p = decode(LinkType::Ethernet, &frame);
        assert_eq!(p.l3_class(), L3Class::Ipv4);
        assert_eq!(p.l4_class(), Some(L4Class::Udp));
        assert_eq!(p.ports(), Some((0xc001, 53)));
        assert_eq!(p.src_mac, Some([6, 7, 8, 9, 10, 11]));
        assert!(p.stop.is_none());
    }

    #[test]
    fn every_prefix_decodes_without_panic() {
        let frame = dns_query_frame();
        for n in 0..=frame.len() {
            let p = decode(LinkType::Ethernet, &frame[..n]);
            if n >= 34 {
                assert_eq!(p.l3_class(), L3Class::Ipv4, "prefix {n}");
            }
        }
    }

    /// Raw IPv6 whose payload is a chain of 8-byte extension headers, each naming `next` as the
    /// one after it, filling a maximum-size payload: the chain never reaches a transport.
    fn ipv6_extension_chain(first: u8, next: u8) -> Vec<u8> {
        let mut f = vec![0x60, 0, 0, 0, 0xff, 0xff, first, 64];
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        while f.len() + 8 <= 40 + usize::from(u16::MAX) {
            f.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]); // PadN options
        }
        f
    }

    #[test]
    fn endless_ipv6_extension_chain_is_bounded() {
        // Destination options after destination options, 8 191 of them; then hop-by-hop
        // repeated (only allowed first); then routing headers.
        for (first, next) in [(60, 60), (0, 0), (43, 43), (0, 60)] {
            let frame = ipv6_extension_chain(first, next);
            let p = decode(LinkType::Raw, &frame);
            assert_eq!(p.l3_class(), L3Class::Ipv6, "{first}/{next}");
            assert!(matches!(p.transport, Transport::None), "{first}/{next}");
            assert!(p.ports().is_none());
            // Every prefix ends as well, and in the same class.
            for cut in [41, 48, 100, 4096] {
                let p = decode(LinkType::Raw, &frame[..cut]);
                assert_eq!(p.l3_class(), L3Class::Ipv6, "{first}/{next} cut {cut}");
            }
        }
    }

    #[test]
    fn truncated_ip_header_still_counts_as_ipv4() {
        let frame = dns_query_frame();
        let p = decode(LinkType::Ethernet, &frame[..20]);
        assert_eq!(p.l3_class(), L3Class::Ipv4);
        assert_eq!(p.l4_class(), Some(L4Class::Other));
        assert!(matches!(p.stop, Some(Stop::Truncated(_))));
    }

    #[test]
    fn later_fragment_has_no_ports_first_has() {
        let mut frame = dns_query_frame();
        // More-fragments bit, offset 0: first fragment keeps its UDP ports.
        frame[20] = 0x20;
        let p = decode(LinkType::Ethernet, &frame);
        assert_eq!(p.ip().unwrap().fragment, Fragment::First);
        assert_eq!(p.ports(), Some((0xc001, 53)));
        // Offset 8 (in 8-byte units = 1): a later fragment.
        frame[20] = 0x00;
        frame[21] = 0x01;
        let p = decode(LinkType::Ethernet, &frame);
        assert_eq!(p.ip().unwrap().fragment, Fragment::Later);
        assert_eq!(p.ports(), None);
        assert_eq!(p.l4_class(), Some(L4Class::Other));
    }

    #[test]
    fn flag_letters_follow_tcpdump() {
        assert_eq!(TcpFlags(0x02).tcpdump_letters().as_str(), "S");
        assert_eq!(TcpFlags(0x12).tcpdump_letters().as_str(), "S.");
        assert_eq!(TcpFlags(0x18).tcpdump_letters().as_str(), "P.");
        assert_eq!(TcpFlags(0).tcpdump_letters().as_str(), "none");
    }
}
