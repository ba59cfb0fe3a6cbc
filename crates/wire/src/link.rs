//! Link layers: which link type (pcap `LINKTYPE_`/DLT) a capture uses, and how to get from one
//! frame's link header to its network layer.
//!
//! Invariants:
//! - [`strip`] never panics and never allocates: every read goes through `get`/`split_*_checked`
//!   and every result borrows from the input frame.
//! - A header cut short yields [`Next::Truncated`]; a well-formed header that carries no network
//!   layer (control protocols, 802.11 management, encrypted bodies, ...) yields
//!   [`Next::NoNetwork`]. Nothing here validates the network layer itself: `Next::Ip` only says
//!   "an IP packet should start here", the caller checks the version nibble.
//! - MAC addresses are reported only where the link header really carries them (Ethernet,
//!   802.11, Linux cooked captures of Ethernet devices, bridged Ethernet inside frame relay).
//!
//! The header layouts follow the tcpdump.org link-layer header type registry
//! (<https://www.tcpdump.org/linktypes.html>) and the specs cited at each decoder.

use crate::bytes::{be16, le16, le32};

/// A capture's link type (pcap `LINKTYPE_` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1): Ethernet II or IEEE 802.3.
    Ethernet,
    /// `LINKTYPE_NULL` (0): BSD loopback, 4-byte address family in the writer's byte order.
    Null,
    /// `LINKTYPE_LOOP` (108): OpenBSD loopback, 4-byte address family, big-endian.
    Loop,
    /// `LINKTYPE_RAW` (101; DLT 12 or 14 depending on the OS): raw IPv4 or IPv6.
    Raw,
    /// `LINKTYPE_IPV4` (228): raw IPv4.
    Ipv4,
    /// `LINKTYPE_IPV6` (229): raw IPv6.
    Ipv6,
    /// `LINKTYPE_LINUX_SLL` (113): Linux cooked capture v1, 16-byte header.
    LinuxSll,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2,
    /// `LINKTYPE_PPP` (9): PPP, optionally with HDLC-like address/control (RFC 1661, RFC 1662).
    Ppp,
    /// `LINKTYPE_PPP_HDLC` (50): PPP in HDLC-like framing (RFC 1662).
    PppHdlc,
    /// `LINKTYPE_PPP_ETHER` (51): PPPoE session header without the Ethernet header (RFC 2516).
    PppEther,
    /// `LINKTYPE_C_HDLC` (104; also NetBSD's `LINKTYPE_NETBSD_HDLC` 112): Cisco HDLC.
    CHdlc,
    /// `LINKTYPE_IEEE802_11` (105): 802.11 frames without a radio header.
    Ieee80211,
    /// `LINKTYPE_IEEE802_11_RADIOTAP` (127): radiotap header, then an 802.11 frame.
    Radiotap,
    /// `LINKTYPE_SLIP` (8): BSD SLIP, 16-byte pseudo-header then IP.
    Slip,
    /// `LINKTYPE_NFLOG` (239): Linux netfilter NFLOG messages.
    Nflog,
    /// `LINKTYPE_IPNET` (226): Solaris ipnet, 24-byte header.
    Ipnet,
    /// `LINKTYPE_FRELAY` (107): frame relay (Q.922 address, then RFC 2427 or Cisco encapsulation).
    FrameRelay,
    /// Any other link type, by its (masked) number.
    Other(u32),
}

impl LinkType {
    /// Every link type [`strip`] decodes, in `LINKTYPE_` order of appearance above.
    pub const SUPPORTED: [LinkType; 18] = [
        LinkType::Ethernet,
        LinkType::Null,
        LinkType::Loop,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Ppp,
        LinkType::PppHdlc,
        LinkType::PppEther,
        LinkType::CHdlc,
        LinkType::Ieee80211,
        LinkType::Radiotap,
        LinkType::Slip,
        LinkType::Nflog,
        LinkType::Ipnet,
        LinkType::FrameRelay,
    ];

    /// The link type of a pcap file header / pcapng IDB `LinkType` field.
    pub fn from_dlt(dlt: u32) -> Self {
        // pcap-savefile(5): the upper bits of the link-type field carry the FCS length
        // (bits 28-31) and a reserved field; only the low 26 bits are the LINKTYPE_ value.
        match dlt & 0x03FF_FFFF {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            8 => LinkType::Slip,
            9 => LinkType::Ppp,
            // DLT_RAW is 12 on most systems and 14 on OpenBSD; libpcap writes 101 to files, but
            // files written by other tools sometimes carry the raw DLT_ value.
            12 | 14 | 101 => LinkType::Raw,
            50 => LinkType::PppHdlc,
            51 => LinkType::PppEther,
            // 112 is LINKTYPE_NETBSD_HDLC, which is Cisco HDLC framing (tcpdump and Wireshark
            // both hand it to their C-HDLC dissectors).
            104 | 112 => LinkType::CHdlc,
            105 => LinkType::Ieee80211,
            107 => LinkType::FrameRelay,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            127 => LinkType::Radiotap,
            226 => LinkType::Ipnet,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            239 => LinkType::Nflog,
            276 => LinkType::LinuxSll2,
            n => LinkType::Other(n),
        }
    }

    /// The `LINKTYPE_` number to write in a pcap header (the canonical one where several DLTs
    /// map to one variant).
    pub fn to_dlt(&self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Slip => 8,
            LinkType::Ppp => 9,
            LinkType::PppHdlc => 50,
            LinkType::PppEther => 51,
            LinkType::Raw => 101,
            LinkType::CHdlc => 104,
            LinkType::Ieee80211 => 105,
            LinkType::FrameRelay => 107,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Radiotap => 127,
            LinkType::Ipnet => 226,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Nflog => 239,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(n) => *n,
        }
    }

    /// Short lowercase name, as Wireshark's encapsulation names (`capinfos`, `editcap -T`).
    pub fn name(&self) -> &'static str {
        match self {
            LinkType::Ethernet => "ether",
            LinkType::Null => "null",
            LinkType::Loop => "loop",
            LinkType::Raw => "rawip",
            LinkType::Ipv4 => "rawip4",
            LinkType::Ipv6 => "rawip6",
            LinkType::LinuxSll => "linux-sll",
            LinkType::LinuxSll2 => "linux-sll2",
            LinkType::Ppp => "ppp",
            LinkType::PppHdlc => "ppp-hdlc",
            LinkType::PppEther => "pppoes",
            LinkType::CHdlc => "chdlc",
            LinkType::Ieee80211 => "ieee-802-11",
            LinkType::Radiotap => "ieee-802-11-radiotap",
            LinkType::Slip => "slip",
            LinkType::Nflog => "nflog",
            LinkType::Ipnet => "ipnet",
            LinkType::FrameRelay => "frelay",
            LinkType::Other(_) => "unsupported",
        }
    }

    /// Whether [`strip`] decodes this link type.
    pub fn is_supported(&self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// MAC addresses as 6 bytes.
pub type Mac = [u8; 6];

/// What a link header leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next<'a> {
    /// A whole Ethernet II frame (etherparse decodes MACs and VLAN tags itself).
    Ethernet(&'a [u8]),
    /// A payload identified by an EtherType (after SLL, 802.11 LLC/SNAP, PPP mapped, ...).
    EtherType(u16, &'a [u8]),
    /// A raw IP packet; the version nibble decides v4 or v6.
    Ip(&'a [u8]),
    /// A frame with no network layer: 802.11 management/control, STP/CDP over LLC, ...
    NoNetwork,
    /// The link header itself was cut short.
    Truncated,
    /// A link type we do not decode.
    Unsupported,
}

/// The link layer of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub src_mac: Option<Mac>,
    pub dst_mac: Option<Mac>,
    pub next: Next<'a>,
}

impl<'a> Link<'a> {
    /// A link header without MAC addresses.
    const fn bare(next: Next<'a>) -> Self {
        Link {
            src_mac: None,
            dst_mac: None,
            next,
        }
    }
}

/// Strip the link header of `frame` captured with `link`.
pub fn strip(link: LinkType, frame: &[u8]) -> Link<'_> {
    match link {
        LinkType::Ethernet => ethernet(frame),
        LinkType::Null => Link::bare(loopback(frame, true)),
        LinkType::Loop => Link::bare(loopback(frame, false)),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Link::bare(Next::Ip(frame)),
        LinkType::LinuxSll => sll(frame),
        LinkType::LinuxSll2 => sll2(frame),
        LinkType::Ppp | LinkType::PppHdlc => Link::bare(ppp_hdlc(frame)),
        LinkType::PppEther => Link::bare(pppoe_session(frame)),
        LinkType::CHdlc => Link::bare(chdlc(frame)),
        LinkType::Ieee80211 => ieee80211(frame, false),
        LinkType::Radiotap => radiotap(frame),
        LinkType::Slip => Link::bare(slip(frame)),
        LinkType::Nflog => Link::bare(nflog(frame)),
        LinkType::Ipnet => Link::bare(ipnet(frame)),
        LinkType::FrameRelay => frame_relay(frame),
        LinkType::Other(_) => Link::bare(Next::Unsupported),
    }
}

// ---------------------------------------------------------------------------------------------
// MAC and FCS helpers (integer reads are in crate::bytes): bounds-checked, None past the end.

fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    b.get(at..)?.first_chunk::<6>().copied()
}

/// `b` without its last 4 bytes (a trailing FCS), or `b` unchanged if it is shorter than that.
fn trim_fcs(b: &[u8]) -> &[u8] {
    b.len().checked_sub(4).and_then(|n| b.get(..n)).unwrap_or(b)
}

/// The smallest EtherType value: IEEE 802.3 §3.2.6 uses 0x0600 and up as types, and values up
/// to 1500 (0x05DC) as a length.
const MIN_ETHERTYPE: u16 = 0x0600;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MCAST: u16 = 0x8848;
const ETHERTYPE_IPX: u16 = 0x8137;
const ETHERTYPE_ATALK: u16 = 0x809B;

/// An EtherType-or-not protocol field: values below 0x0600 are not EtherTypes.
fn ethertype(ty: u16, rest: &[u8]) -> Next<'_> {
    if ty < MIN_ETHERTYPE {
        Next::NoNetwork
    } else {
        Next::EtherType(ty, rest)
    }
}

// ---------------------------------------------------------------------------------------------
// Ethernet and IEEE 802.2 LLC / SNAP

/// Ethernet II or IEEE 802.3 (IEEE 802.3-2018 §3.2): destination, source, then a field that is
/// an EtherType when ≥ 0x0600 and a payload length when ≤ 1500 (then an 802.2 LLC header).
fn ethernet(frame: &[u8]) -> Link<'_> {
    let dst_mac = mac_at(frame, 0);
    let src_mac = mac_at(frame, 6);
    let next = match frame.split_first_chunk::<14>() {
        None => Next::Truncated,
        Some((&[.., t0, t1], payload)) => {
            let type_len = u16::from_be_bytes([t0, t1]);
            if type_len <= 1500 {
                // Trust the length to cut Ethernet padding, unless the capture holds less.
                llc(payload.get(..usize::from(type_len)).unwrap_or(payload))
            } else {
                // EtherType (and the invalid 1501..=1535, which etherparse reports itself).
                Next::Ethernet(frame)
            }
        }
    };
    Link {
        src_mac,
        dst_mac,
        next,
    }
}

/// An IEEE 802.2 LLC PDU: DSAP, SSAP, control. Only SNAP (DSAP = SSAP = 0xAA, UI control 0x03;
/// IEEE 802-2014 §10.3, RFC 1042) carries an EtherType; anything else (STP, IS-IS, NetBIOS...)
/// has no network layer we decode.
fn llc(p: &[u8]) -> Next<'_> {
    match p {
        [] => Next::NoNetwork,
        // Novell "raw 802.3": the IPX checksum (always 0xFFFF) sits where LLC would be.
        [0xFF, 0xFF, ..] => Next::NoNetwork,
        [0xAA, 0xAA, 0x03, rest @ ..] => snap(rest),
        p if p.len() < 3 => Next::Truncated,
        _ => Next::NoNetwork,
    }
}

/// A SNAP header (OUI, protocol id) after LLC or after frame relay NLPID 0x80.
fn snap(p: &[u8]) -> Next<'_> {
    let Some((&[o0, o1, o2, p0, p1], rest)) = p.split_first_chunk::<5>() else {
        return Next::Truncated;
    };
    match ([o0, o1, o2], u16::from_be_bytes([p0, p1])) {
        // OUI 00-80-C2 is IEEE 802.1: PID 0x0001 / 0x0007 are bridged 802.3 with / without the
        // preserved FCS (RFC 2427 §4.2, RFC 2684 §5.2). Other 802.1 PIDs (BPDUs...) are not
        // a network layer.
        ([0x00, 0x80, 0xC2], 0x0001) => Next::Ethernet(trim_fcs(rest)),
        ([0x00, 0x80, 0xC2], 0x0007) => Next::Ethernet(rest),
        ([0x00, 0x80, 0xC2], _) => Next::NoNetwork,
        // OUI 00-00-00 (RFC 1042) and 00-00-F8 (IEEE 802.1H) make the PID an EtherType; other
        // OUIs (Cisco 00-00-0C: CDP 0x2000, ...) use EtherType-like PIDs the caller reports as
        // "other network layer". PIDs below 0x0600 are not EtherTypes (PVST+ 0x010B...).
        (_, pid) => ethertype(pid, rest),
    }
}

// ---------------------------------------------------------------------------------------------
// Loopback, raw-ish encapsulations

const AF_INET: u32 = 2;

/// Whether `af` is AF_INET or one of the operating systems' AF_INET6 values (tcpdump.org
/// LINKTYPE_NULL: 24 NetBSD/OpenBSD/BSD/OS, 28 FreeBSD/DragonFly, 30 macOS/iOS, 10 Linux).
fn is_ip_af(af: u32) -> bool {
    matches!(af, AF_INET | 10 | 24 | 28 | 30)
}

/// BSD loopback: a 4-byte address family. `either_order`: LINKTYPE_NULL stores it in the
/// writing host's byte order, which a reader cannot know, so accept whichever order gives a
/// known value; LINKTYPE_LOOP is always big-endian.
fn loopback(frame: &[u8], either_order: bool) -> Next<'_> {
    let Some((af, rest)) = frame.split_first_chunk::<4>() else {
        return Next::Truncated;
    };
    let ok =
        is_ip_af(u32::from_be_bytes(*af)) || (either_order && is_ip_af(u32::from_le_bytes(*af)));
    if ok {
        Next::Ip(rest)
    } else {
        Next::NoNetwork
    }
}

/// BSD SLIP (tcpdump.org LINKTYPE_SLIP): 16 bytes of pseudo-header (direction, then the CSLIP
/// compressed-header info), then the (uncompressed) IP packet.
fn slip(frame: &[u8]) -> Next<'_> {
    match frame.split_first_chunk::<16>() {
        Some((_, ip)) => Next::Ip(ip),
        None => Next::Truncated,
    }
}

/// Solaris ipnet (libpcap `pcap/ipnet.h`, `dl_ipnetinfo_t`): version, family, htype, pktlen,
/// ifindex, grifindex, zsrc, zdst: 24 bytes, then IP.
fn ipnet(frame: &[u8]) -> Next<'_> {
    // IPH_AF_INET = 2, IPH_AF_INET6 = 26 (Solaris's AF_ values).
    match frame.split_first_chunk::<24>() {
        Some((&[_, 2 | 26, ..], ip)) => Next::Ip(ip),
        Some(_) => Next::NoNetwork,
        None => Next::Truncated,
    }
}

/// Linux NFLOG (tcpdump.org LINKTYPE_NFLOG, libpcap `pcap/nflog.h`): family, version,
/// resource id (4 bytes), then TLVs of (u16 length incl. the 4-byte TLV header, u16 type),
/// each padded to 4 bytes. NFULA_PAYLOAD (9) holds the packet from the network layer on.
fn nflog(frame: &[u8]) -> Next<'_> {
    const NFPROTO_IPV4: u8 = 2;
    const NFPROTO_IPV6: u8 = 10;
    let Some((&[family, ..], tlvs)) = frame.split_first_chunk::<4>() else {
        return Next::Truncated;
    };
    // The TLV header fields are in the capturing host's byte order (little-endian in practice;
    // libpcap byte-swaps them when reading a file from the other order). Try LE, then BE.
    let walked =
        nflog_tlvs(tlvs, u16::from_le_bytes).or_else(|| nflog_tlvs(tlvs, u16::from_be_bytes));
    match walked {
        None => Next::Truncated,
        Some((_, None)) => Next::NoNetwork,
        Some((_, Some(p))) if family == NFPROTO_IPV4 || family == NFPROTO_IPV6 => Next::Ip(p),
        // Other families (bridge, ARP): NFULA_PACKET_HDR's hw_protocol is the EtherType.
        Some((Some(hw), Some(p))) => ethertype(hw, p),
        Some((None, Some(_))) => Next::NoNetwork,
    }
}

/// Walk NFLOG TLVs with `u16_of` decoding their header fields. Returns the hardware protocol
/// from NFULA_PACKET_HDR and the NFULA_PAYLOAD value, or None if the TLV chain does not parse
/// in this byte order.
fn nflog_tlvs(mut rest: &[u8], u16_of: fn([u8; 2]) -> u16) -> Option<(Option<u16>, Option<&[u8]>)> {
    const NFULA_PACKET_HDR: u16 = 1;
    const NFULA_PAYLOAD: u16 = 9;
    let mut hw_protocol = None;
    while !rest.is_empty() {
        let &[l0, l1, t0, t1] = rest.first_chunk::<4>()?;
        let len = usize::from(u16_of([l0, l1]));
        // Netlink attribute types may carry NLA_F_NESTED / NLA_F_NET_BYTEORDER in the top bits.
        let ty = u16_of([t0, t1]) & 0x3FFF;
        if len < 4 {
            return None;
        }
        if ty == NFULA_PAYLOAD {
            // The payload is usually last and often cut by the snap length: take what is there.
            let end = len.min(rest.len());
            return Some((hw_protocol, rest.get(4..end)));
        }
        let value = rest.get(4..len)?;
        if ty == NFULA_PACKET_HDR {
            // nflog_packet_hdr_t: hw_protocol is big-endian (network order) in any case.
            hw_protocol = be16(value, 0);
        }
        let padded = len.checked_add(3)? & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Some((hw_protocol, None))
}

// ---------------------------------------------------------------------------------------------
// Linux cooked captures

/// ARPHRD_ETHER: the SLL address is an Ethernet MAC.
const ARPHRD_ETHER: u16 = 1;
/// ARPHRD_NETLINK: the "protocol" is the netlink family, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// The SLL/SLL2 protocol field (tcpdump.org LINKTYPE_LINUX_SLL): an EtherType, except the
/// Linux `ETH_P_` pseudo-types below 0x0600.
fn sll_protocol(arphrd: u16, protocol: u16, rest: &[u8]) -> Next<'_> {
    const LINUX_SLL_P_802_2: u16 = 0x0004;
    if arphrd == ARPHRD_NETLINK {
        return Next::NoNetwork;
    }
    match protocol {
        // 802.2 LLC frame: SNAP may carry an EtherType.
        LINUX_SLL_P_802_2 => llc(rest),
        // Novell 802.3 (0x0001), CAN (0x000C/0x000D), ...: no network layer we decode.
        p => ethertype(p, rest),
    }
}

/// Linux cooked v1: pkttype u16, ARPHRD u16, address length u16, 8 address bytes, protocol u16
/// (all big-endian); the address is the sender's link-layer address.
fn sll(frame: &[u8]) -> Link<'_> {
    let Some((&[_, _, h0, h1, a0, a1, _, _, _, _, _, _, _, _, p0, p1], rest)) =
        frame.split_first_chunk::<16>()
    else {
        return Link::bare(Next::Truncated);
    };
    let arphrd = u16::from_be_bytes([h0, h1]);
    let src_mac = (arphrd == ARPHRD_ETHER && u16::from_be_bytes([a0, a1]) == 6)
        .then(|| mac_at(frame, 6))
        .flatten();
    Link {
        src_mac,
        dst_mac: None,
        next: sll_protocol(arphrd, u16::from_be_bytes([p0, p1]), rest),
    }
}

/// Linux cooked v2: protocol u16, reserved u16, ifindex u32, ARPHRD u16, pkttype u8,
/// address length u8, 8 address bytes.
fn sll2(frame: &[u8]) -> Link<'_> {
    let Some((&[p0, p1, _, _, _, _, _, _, h0, h1, _, alen, ..], rest)) =
        frame.split_first_chunk::<20>()
    else {
        return Link::bare(Next::Truncated);
    };
    let arphrd = u16::from_be_bytes([h0, h1]);
    let src_mac = (arphrd == ARPHRD_ETHER && alen == 6)
        .then(|| mac_at(frame, 12))
        .flatten();
    Link {
        src_mac,
        dst_mac: None,
        next: sll_protocol(arphrd, u16::from_be_bytes([p0, p1]), rest),
    }
}

// ---------------------------------------------------------------------------------------------
// PPP, PPPoE, Cisco HDLC, frame relay

/// PPP as captured with LINKTYPE_PPP / LINKTYPE_PPP_HDLC: optional HDLC-like address 0xFF and
/// control 0x03 (absent with RFC 1661 §6.6 address/control field compression), or a Cisco HDLC
/// frame (address 0x0F / 0x8F), which both tcpdump and Wireshark accept under these types.
fn ppp_hdlc(frame: &[u8]) -> Next<'_> {
    match frame {
        [0xFF, 0x03, rest @ ..] => ppp_protocol(rest),
        [0x0F | 0x8F, ..] => chdlc(frame),
        _ => ppp_protocol(frame),
    }
}

/// A PPP protocol field and what follows. RFC 1661 §2: protocol numbers have an odd low byte
/// and an even high byte, so a first byte with the low bit set is a one-byte protocol field
/// (protocol field compression, §6.5).
fn ppp_protocol(p: &[u8]) -> Next<'_> {
    let (proto, rest) = match p {
        [] => return Next::Truncated,
        [b, rest @ ..] if b & 1 == 1 => (u16::from(*b), rest),
        [b0, b1, rest @ ..] => (u16::from_be_bytes([*b0, *b1]), rest),
        [_] => return Next::Truncated,
    };
    // PPP DLL protocol numbers (IANA ppp-numbers), mapped to the EtherType of the same protocol.
    let ty = match proto {
        0x0021 => ETHERTYPE_IPV4,
        0x0057 => ETHERTYPE_IPV6,
        0x0281 => ETHERTYPE_MPLS,       // RFC 3032 §4.3
        0x0283 => ETHERTYPE_MPLS_MCAST, // RFC 3032 §4.3
        0x002B => ETHERTYPE_IPX,
        0x0029 => ETHERTYPE_ATALK,
        // LCP/NCPs/auth (0x8xxx, 0xCxxx), VJ-compressed TCP, multilink, compressed datagrams...
        _ => return Next::NoNetwork,
    };
    Next::EtherType(ty, rest)
}

/// PPPoE session stage without its Ethernet header (RFC 2516 §4): ver/type 0x11, code, session
/// id, length, then PPP protocol and payload. Code 0 is session data; others are discovery.
fn pppoe_session(frame: &[u8]) -> Next<'_> {
    let Some((&[ver_type, code, _, _, l0, l1], rest)) = frame.split_first_chunk::<6>() else {
        return Next::Truncated;
    };
    if ver_type != 0x11 || code != 0 {
        return Next::NoNetwork;
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    ppp_protocol(rest.get(..len).unwrap_or(rest))
}

/// Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control 0x00, then an EtherType.
fn chdlc(frame: &[u8]) -> Next<'_> {
    // Cisco reuses 0x8035 for SLARP keepalives and uses 0xFEFE for OSI (IS-IS, CLNP), which
    // has no EtherType; neither is a network layer we decode.
    const CHDLC_SLARP: u16 = 0x8035;
    const CHDLC_OSI: u16 = 0xFEFE;
    match frame.split_first_chunk::<4>() {
        None => Next::Truncated,
        Some((&[_, _, p0, p1], rest)) => match u16::from_be_bytes([p0, p1]) {
            CHDLC_SLARP | CHDLC_OSI => Next::NoNetwork,
            ty => ethertype(ty, rest),
        },
    }
}

/// Frame relay: a 2- to 4-byte Q.922 address (ITU-T Q.922 §3.3; EA bit 0x01 ends it), then
/// either RFC 2427 multiprotocol encapsulation (control 0x03 UI, optional 0x00 pad, NLPID) or
/// Cisco's encapsulation (a 2-byte EtherType straight after the address), as tcpdump decodes.
fn frame_relay(frame: &[u8]) -> Link<'_> {
    let addr_len = match frame {
        [] | [_] => return Link::bare(Next::Truncated),
        // EA set in the first octet: not a Q.922 address.
        [a0, ..] if a0 & 1 == 1 => return Link::bare(Next::NoNetwork),
        [_, a1, ..] if a1 & 1 == 1 => 2,
        [_, _] => return Link::bare(Next::Truncated),
        [_, _, a2, ..] if a2 & 1 == 1 => 3,
        [_, _, _] => return Link::bare(Next::Truncated),
        [_, _, _, a3, ..] if a3 & 1 == 1 => 4,
        _ => return Link::bare(Next::NoNetwork),
    };
    let Some((_, rest)) = frame.split_at_checked(addr_len) else {
        return Link::bare(Next::Truncated);
    };
    let next = match rest {
        [] | [0x03] | [0x03, 0x00] => Next::Truncated,
        // RFC 2427 §2.1: UI control 0x03, a pad octet 0x00 when needed for alignment, then
        // the ISO/IEC TR 9577 NLPID.
        [0x03, 0x00, nlpid, payload @ ..] | [0x03, nlpid, payload @ ..] => {
            frame_relay_nlpid(*nlpid, payload)
        }
        [t0, t1, payload @ ..] => ethertype(u16::from_be_bytes([*t0, *t1]), payload),
        [_] => Next::Truncated,
    };
    // Bridged Ethernet (RFC 2427 §4.2): report the inner frame's MACs.
    let (dst_mac, src_mac) = match next {
        Next::Ethernet(inner) => (mac_at(inner, 0), mac_at(inner, 6)),
        _ => (None, None),
    };
    Link {
        src_mac,
        dst_mac,
        next,
    }
}

/// Dispatch on an NLPID (ISO/IEC TR 9577) in RFC 2427 encapsulation.
fn frame_relay_nlpid(nlpid: u8, payload: &[u8]) -> Next<'_> {
    match nlpid {
        0xCC => Next::Ip(payload),     // IPv4
        0x8E => Next::Ip(payload),     // IPv6
        0x80 => snap(payload),         // SNAP: OUI + PID follow (RFC 2427 §4)
        0xCF => ppp_protocol(payload), // PPP in frame relay (RFC 1973)
        // Q.933 signalling (0x08), OSI CLNP/ES-IS/IS-IS (0x81-0x83), FRF.15/16 MFR...
        _ => Next::NoNetwork,
    }
}

// ---------------------------------------------------------------------------------------------
// IEEE 802.11 and radiotap

/// IEEE 802.11-2020 §9.2.4.1 frame control, first octet: protocol version (bits 0-1),
/// type (2-3), subtype (4-7); second octet: flags.
const WLAN_TYPE_MGMT: u8 = 0;
const WLAN_TYPE_CTRL: u8 = 1;
const WLAN_TYPE_DATA: u8 = 2;
const WLAN_TO_DS: u8 = 0x01;
const WLAN_FROM_DS: u8 = 0x02;
const WLAN_PROTECTED: u8 = 0x40;
/// +HTC/Order: in QoS data frames, a 4-byte HT Control field follows QoS Control (§9.2.4.1.10).
const WLAN_ORDER: u8 = 0x80;
/// Data subtype bit 3: QoS subtypes carry a 2-byte QoS Control field (§9.2.4.1.3, Table 9-1).
const WLAN_SUBTYPE_QOS: u8 = 0x08;
/// Data subtype bit 2: the "no data" subtypes (Null, QoS Null, CF-Ack/Poll without data).
const WLAN_SUBTYPE_NODATA: u8 = 0x04;
/// QoS Control bit 7: A-MSDU Present (§9.2.4.5.1): the body is a list of subframes.
const WLAN_QOS_AMSDU: u8 = 0x80;

/// An 802.11 MAC frame. `data_pad`: radiotap says the header is padded to a 4-byte boundary.
fn ieee80211(frame: &[u8], data_pad: bool) -> Link<'_> {
    let Some(&[fc0, flags]) = frame.first_chunk::<2>() else {
        return Link::bare(Next::Truncated);
    };
    // Protocol version 0 is the only layout decoded here (PV1 is 802.11ah's short header).
    if fc0 & 0b11 != 0 {
        return Link::bare(Next::NoNetwork);
    }
    let ftype = (fc0 >> 2) & 0b11;
    let subtype = fc0 >> 4;
    let a1 = mac_at(frame, 4);
    let a2 = mac_at(frame, 10);
    match ftype {
        // Management frames (§9.3.3.2): A1 = DA, A2 = SA; 24-byte header.
        WLAN_TYPE_MGMT => Link {
            dst_mac: a1,
            src_mac: a2,
            next: if frame.len() < 24 {
                Next::Truncated
            } else {
                Next::NoNetwork
            },
        },
        // Control frames (§9.3.1): A1 = RA always; A2 (TA) only in some subtypes.
        WLAN_TYPE_CTRL => Link {
            dst_mac: a1,
            src_mac: None,
            next: if frame.len() < 10 {
                Next::Truncated
            } else {
                Next::NoNetwork
            },
        },
        WLAN_TYPE_DATA => ieee80211_data(frame, flags, subtype, data_pad),
        // Extension frames (DMG / S1G beacons): no network layer.
        _ => Link::bare(Next::NoNetwork),
    }
}

/// An 802.11 data frame (§9.3.2.1): FC, duration, A1, A2, A3, sequence control, [A4],
/// [QoS control], [HT control], body.
fn ieee80211_data(frame: &[u8], flags: u8, subtype: u8, data_pad: bool) -> Link<'_> {
    let to_ds = flags & WLAN_TO_DS != 0;
    let from_ds = flags & WLAN_FROM_DS != 0;
    let qos = subtype & WLAN_SUBTYPE_QOS != 0;
    let addr_end: usize = if to_ds && from_ds { 30 } else { 24 };
    // Table 9-26 (address field contents): which address is DA and which is SA.
    let (dst_mac, src_mac) = match (to_ds, from_ds) {
        (false, false) => (mac_at(frame, 4), mac_at(frame, 10)),
        (false, true) => (mac_at(frame, 4), mac_at(frame, 16)),
        (true, false) => (mac_at(frame, 16), mac_at(frame, 10)),
        (true, true) => (mac_at(frame, 16), mac_at(frame, 24)),
    };
    let link = |next| Link {
        src_mac,
        dst_mac,
        next,
    };
    let mut hdr_len = addr_end;
    if qos {
        hdr_len += 2;
        if flags & WLAN_ORDER != 0 {
            hdr_len += 4;
        }
    }
    if frame.len() < hdr_len {
        return link(Next::Truncated);
    }
    if subtype & WLAN_SUBTYPE_NODATA != 0 {
        return link(Next::NoNetwork);
    }
    // The body is encrypted (WEP/TKIP/CCMP/GCMP): nothing readable.
    if flags & WLAN_PROTECTED != 0 {
        return link(Next::NoNetwork);
    }
    // Sequence Control (§9.2.4.4): fragment number in the low 4 bits. Only fragment 0 starts
    // with the LLC header.
    if le16(frame, 22).is_some_and(|sc| sc & 0x000F != 0) {
        return link(Next::NoNetwork);
    }
    if qos
        && frame
            .get(addr_end)
            .is_some_and(|qc| qc & WLAN_QOS_AMSDU != 0)
    {
        return link(Next::NoNetwork);
    }
    if data_pad {
        hdr_len = hdr_len.next_multiple_of(4);
    }
    match frame.get(hdr_len..) {
        Some(body) => link(llc(body)),
        None => link(Next::Truncated),
    }
}

/// Radiotap flags (field 1): the 802.11 frame ends with a 4-byte FCS.
const RADIOTAP_F_FCS: u8 = 0x10;
/// Radiotap flags: padding between the 802.11 header and its body, to a 32-bit boundary.
const RADIOTAP_F_DATAPAD: u8 = 0x20;

/// Radiotap (<https://www.radiotap.org/>): version 0, pad, length u16 LE, present u32 LE, more
/// present words while bit 31 is set, then the fields, each aligned to its natural size
/// relative to the start of the header. Then the 802.11 frame.
fn radiotap(frame: &[u8]) -> Link<'_> {
    let Some(&[version, _, l0, l1, ..]) = frame.first_chunk::<8>() else {
        return Link::bare(Next::Truncated);
    };
    let len = usize::from(u16::from_le_bytes([l0, l1]));
    if version != 0 || len < 8 {
        return Link::bare(Next::NoNetwork);
    }
    let Some((header, mut wlan)) = frame.split_at_checked(len) else {
        return Link::bare(Next::Truncated);
    };
    // If the flags field cannot be located, assume no FCS and no padding.
    let flags = radiotap_flags(header).unwrap_or(0);
    if flags & RADIOTAP_F_FCS != 0 {
        wlan = trim_fcs(wlan);
    }
    ieee80211(wlan, flags & RADIOTAP_F_DATAPAD != 0)
}

/// The radiotap Flags field, if present. It is field 1, preceded only by TSFT (field 0, u64
/// aligned to 8), both in the first present word; extended present words (bit 31) come before
/// any field.
fn radiotap_flags(header: &[u8]) -> Option<u8> {
    let first = le32(header, 4)?;
    let mut word = first;
    let mut off = 4usize;
    while word & 0x8000_0000 != 0 {
        off += 4;
        word = le32(header, off)?;
    }
    off += 4;
    if first & 0b10 == 0 {
        return None;
    }
    if first & 0b01 != 0 {
        off = off.next_multiple_of(8) + 8;
    }
    header.get(off).copied()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const IP4: [u8; 20] = [
        0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn dlt_numbers_round_trip() {
        for lt in LinkType::SUPPORTED {
            assert_eq!(LinkType::from_dlt(lt.to_dlt()), lt, "{lt:?}");
            assert!(lt.is_supported());
            assert_ne!(lt.name(), "unsupported");
        }
        assert_eq!(LinkType::from_dlt(0x3000_007F), LinkType::Radiotap);
        assert_eq!(LinkType::from_dlt(0x0400_0001), LinkType::Ethernet);
        assert_eq!(LinkType::from_dlt(12), LinkType::Raw);
        assert_eq!(LinkType::from_dlt(14), LinkType::Raw);
        assert_eq!(LinkType::from_dlt(112), LinkType::CHdlc);
        assert_eq!(LinkType::from_dlt(195), LinkType::Other(195));
        assert_eq!(LinkType::Other(195).to_dlt(), 195);
        assert_eq!(LinkType::Other(195).name(), "unsupported");
        assert!(!LinkType::Other(195).is_supported());
        assert_eq!(LinkType::Ethernet.name(), "ether");
        assert_eq!(LinkType::Radiotap.name(), "ieee-802-11-radiotap");
        assert_eq!(strip(LinkType::Other(195), &IP4).next, Next::Unsupported);
    }

    #[test]
    fn ethernet_ii() {
        let f = cat(&[
            &[1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x08, 0x00],
            &IP4,
        ]);
        let l = strip(LinkType::Ethernet, &f);
        assert_eq!(l.dst_mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(l.src_mac, Some([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]));
        assert_eq!(l.next, Next::Ethernet(&f));
        // 12 bytes: MACs but no type field.
        let l = strip(LinkType::Ethernet, &f[..12]);
        assert_eq!(l.next, Next::Truncated);
        assert!(l.src_mac.is_some() && l.dst_mac.is_some());
        let l = strip(LinkType::Ethernet, &f[..11]);
        assert_eq!((l.next, l.src_mac), (Next::Truncated, None));
    }

    #[test]
    fn ethernet_802_3_llc() {
        let macs = [1u8, 0x80, 0xc2, 0, 0, 0, 2, 2, 2, 2, 2, 2];
        // STP BPDU: DSAP 0x42.
        let stp = cat(&[&macs, &[0, 7, 0x42, 0x42, 0x03, 0, 0, 0, 0]]);
        assert_eq!(strip(LinkType::Ethernet, &stp).next, Next::NoNetwork);
        // SNAP, RFC 1042, IPv4; the length (8 + 20) cuts the 6 bytes of padding.
        let snap4 = cat(&[
            &macs,
            &[0, 28, 0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00],
            &IP4,
            &[0; 6],
        ]);
        assert_eq!(
            strip(LinkType::Ethernet, &snap4).next,
            Next::EtherType(0x0800, &IP4)
        );
        // CDP: SNAP with Cisco OUI, PID 0x2000.
        let cdp = cat(&[
            &macs,
            &[0, 10, 0xAA, 0xAA, 0x03, 0, 0, 0x0c, 0x20, 0x00, 2, 180],
        ]);
        assert_eq!(
            strip(LinkType::Ethernet, &cdp).next,
            Next::EtherType(0x2000, &[2, 180])
        );
        // PVST+: Cisco OUI, PID 0x010B: not an EtherType.
        let pvst = cat(&[&macs, &[0, 8, 0xAA, 0xAA, 0x03, 0, 0, 0x0c, 0x01, 0x0b]]);
        assert_eq!(strip(LinkType::Ethernet, &pvst).next, Next::NoNetwork);
        // Novell raw 802.3.
        let ipx = cat(&[&macs, &[0, 30, 0xFF, 0xFF, 0, 30]]);
        assert_eq!(strip(LinkType::Ethernet, &ipx).next, Next::NoNetwork);
        // SNAP header cut short.
        let cut = cat(&[&macs, &[0, 8, 0xAA, 0xAA, 0x03, 0]]);
        assert_eq!(strip(LinkType::Ethernet, &cut).next, Next::Truncated);
        assert_eq!(strip(LinkType::Ethernet, &cut).src_mac, Some([2; 6]));
    }

    #[test]
    fn null_and_loop() {
        let le = cat(&[&[2, 0, 0, 0], &IP4]);
        let be = cat(&[&[0, 0, 0, 2], &IP4]);
        assert_eq!(strip(LinkType::Null, &le).next, Next::Ip(&IP4));
        assert_eq!(strip(LinkType::Null, &be).next, Next::Ip(&IP4));
        for af6 in [10u8, 24, 28, 30] {
            let f = [af6, 0, 0, 0, 0x60];
            assert_eq!(strip(LinkType::Null, &f).next, Next::Ip(&[0x60]));
            let f = [0, 0, 0, af6, 0x60];
            assert_eq!(strip(LinkType::Null, &f).next, Next::Ip(&[0x60]));
            assert_eq!(strip(LinkType::Loop, &f).next, Next::Ip(&[0x60]));
        }
        // OpenBSD loop is big-endian only.
        assert_eq!(strip(LinkType::Loop, &be).next, Next::Ip(&IP4));
        assert_eq!(strip(LinkType::Loop, &le).next, Next::NoNetwork);
        // AF_APPLETALK (16 on BSD), AF_IPX...
        assert_eq!(
            strip(LinkType::Null, &[16, 0, 0, 0, 1]).next,
            Next::NoNetwork
        );
        assert_eq!(strip(LinkType::Null, &[2, 0, 0]).next, Next::Truncated);
    }

    #[test]
    fn raw_ip() {
        for lt in [LinkType::Raw, LinkType::Ipv4, LinkType::Ipv6] {
            let l = strip(lt, &IP4);
            assert_eq!(l, Link::bare(Next::Ip(&IP4)));
        }
    }

    #[test]
    fn linux_sll() {
        // Incoming (0), ARPHRD_ETHER, 6-byte address, 2 bytes padding, IPv4.
        let f = cat(&[
            &[
                0, 0, 0, 1, 0, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 0, 0x08, 0x00,
            ],
            &IP4,
        ]);
        let l = strip(LinkType::LinuxSll, &f);
        assert_eq!(l.src_mac, Some([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]));
        assert_eq!(l.dst_mac, None);
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        // Loopback device (ARPHRD_LOOPBACK 772): no MAC reported.
        let f = cat(&[
            &[0, 4, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd],
            &[0x60],
        ]);
        let l = strip(LinkType::LinuxSll, &f);
        assert_eq!(
            (l.src_mac, l.next),
            (None, Next::EtherType(0x86dd, &[0x60]))
        );
        // 802.2 LLC with SNAP.
        let f = cat(&[
            &[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x00, 0x04],
            &[0xAA, 0xAA, 3, 0, 0, 0, 0x08, 0x06, 9],
        ]);
        assert_eq!(
            strip(LinkType::LinuxSll, &f).next,
            Next::EtherType(0x0806, &[9])
        );
        // 802.2 LLC, not SNAP; Novell 802.3; netlink.
        let f = [
            0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x00, 0x04, 0x42, 0x42, 3,
        ];
        assert_eq!(strip(LinkType::LinuxSll, &f).next, Next::NoNetwork);
        let f = [
            0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x00, 0x01, 0xFF, 0xFF,
        ];
        assert_eq!(strip(LinkType::LinuxSll, &f).next, Next::NoNetwork);
        let f = [
            0, 4, 0x03, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 1,
        ];
        assert_eq!(strip(LinkType::LinuxSll, &f).next, Next::NoNetwork);
        assert_eq!(strip(LinkType::LinuxSll, &f[..15]).next, Next::Truncated);
    }

    #[test]
    fn linux_sll2() {
        let f = cat(&[
            &[0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6],
            &[0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0, 0],
            &[0x60, 0],
        ]);
        let l = strip(LinkType::LinuxSll2, &f);
        assert_eq!(l.src_mac, Some([0xa, 0xb, 0xc, 0xd, 0xe, 0xf]));
        assert_eq!(l.next, Next::EtherType(0x86dd, &[0x60, 0]));
        // Address length 0 (e.g. a tun device, ARPHRD_NONE 0xFFFE): no MAC.
        let f = cat(&[
            &[0x08, 0x00, 0, 0, 0, 0, 0, 9, 0xff, 0xfe, 0, 0],
            &[0; 8],
            &IP4,
        ]);
        let l = strip(LinkType::LinuxSll2, &f);
        assert_eq!((l.src_mac, l.next), (None, Next::EtherType(0x0800, &IP4)));
        assert_eq!(strip(LinkType::LinuxSll2, &f[..19]).next, Next::Truncated);
    }

    #[test]
    fn ppp() {
        let hdlc = cat(&[&[0xFF, 0x03, 0x00, 0x21], &IP4]);
        let bare = cat(&[&[0x00, 0x21], &IP4]);
        let pfc = cat(&[&[0x21], &IP4]);
        for lt in [LinkType::Ppp, LinkType::PppHdlc] {
            for f in [&hdlc, &bare, &pfc] {
                assert_eq!(strip(lt, f).next, Next::EtherType(0x0800, &IP4));
            }
            assert_eq!(
                strip(lt, &[0xFF, 0x03, 0x00, 0x57, 0x60]).next,
                Next::EtherType(0x86DD, &[0x60])
            );
            assert_eq!(
                strip(lt, &[0xFF, 0x03, 0x02, 0x81, 1]).next,
                Next::EtherType(0x8847, &[1])
            );
            // LCP, IPCP, CHAP.
            assert_eq!(
                strip(lt, &[0xFF, 0x03, 0xC0, 0x21, 1]).next,
                Next::NoNetwork
            );
            assert_eq!(strip(lt, &[0x80, 0x21, 1]).next, Next::NoNetwork);
            assert_eq!(strip(lt, &[0xC2, 0x23]).next, Next::NoNetwork);
            assert_eq!(strip(lt, &[0xFF, 0x03, 0x00]).next, Next::Truncated);
            assert_eq!(strip(lt, &[]).next, Next::Truncated);
            // Cisco HDLC under a PPP link type.
            assert_eq!(
                strip(lt, &[0x0F, 0x00, 0x08, 0x00, 0x45]).next,
                Next::EtherType(0x0800, &[0x45])
            );
        }
    }

    #[test]
    fn pppoe_session() {
        // Session data, length 2 + 20, then 3 bytes of trailing junk the length cuts off.
        let f = cat(&[
            &[0x11, 0x00, 0x12, 0x34, 0, 22, 0x00, 0x21],
            &IP4,
            &[1, 2, 3],
        ]);
        assert_eq!(
            strip(LinkType::PppEther, &f).next,
            Next::EtherType(0x0800, &IP4)
        );
        // PADI (discovery).
        let f = [0x11, 0x09, 0, 0, 0, 0];
        assert_eq!(strip(LinkType::PppEther, &f).next, Next::NoNetwork);
        assert_eq!(strip(LinkType::PppEther, &f[..5]).next, Next::Truncated);
    }

    #[test]
    fn cisco_hdlc() {
        let f = cat(&[&[0x0F, 0x00, 0x08, 0x00], &IP4]);
        assert_eq!(
            strip(LinkType::CHdlc, &f).next,
            Next::EtherType(0x0800, &IP4)
        );
        let slarp = [0x8F, 0x00, 0x80, 0x35, 0, 0, 0, 2];
        assert_eq!(strip(LinkType::CHdlc, &slarp).next, Next::NoNetwork);
        let osi = [0x0F, 0x00, 0xFE, 0xFE, 0x83];
        assert_eq!(strip(LinkType::CHdlc, &osi).next, Next::NoNetwork);
        let cdp = [0x8F, 0x00, 0x20, 0x00, 2];
        assert_eq!(
            strip(LinkType::CHdlc, &cdp).next,
            Next::EtherType(0x2000, &[2])
        );
        assert_eq!(strip(LinkType::CHdlc, &[0x0F, 0, 8]).next, Next::Truncated);
    }

    #[test]
    fn slip_ipnet_nflog() {
        let f = cat(&[&[0u8; 16], &IP4]);
        assert_eq!(strip(LinkType::Slip, &f).next, Next::Ip(&IP4));
        assert_eq!(strip(LinkType::Slip, &f[..15]).next, Next::Truncated);

        let mut ipnet = [0u8; 24];
        ipnet[0] = 1;
        ipnet[1] = 2;
        let f = cat(&[&ipnet, &IP4]);
        assert_eq!(strip(LinkType::Ipnet, &f).next, Next::Ip(&IP4));
        ipnet[1] = 26;
        assert_eq!(strip(LinkType::Ipnet, &ipnet).next, Next::Ip(&[]));
        ipnet[1] = 3;
        assert_eq!(strip(LinkType::Ipnet, &ipnet).next, Next::NoNetwork);
        assert_eq!(strip(LinkType::Ipnet, &ipnet[..23]).next, Next::Truncated);

        // NFLOG: AF_INET, v0, res id 20 (BE); PACKET_HDR (len 8: hw 0x0800, hook 1, pad),
        // PREFIX "ab\0" (len 7, padded to 8), PAYLOAD (len 4 + 20).
        let nf = cat(&[
            &[2, 0, 0, 20],
            &[8, 0, 1, 0, 0x08, 0x00, 1, 0],
            &[7, 0, 10, 0, b'a', b'b', 0, 0],
            &[24, 0, 9, 0],
            &IP4,
        ]);
        assert_eq!(strip(LinkType::Nflog, &nf).next, Next::Ip(&IP4));
        // Payload cut by the snap length: what is there is returned.
        assert_eq!(
            strip(LinkType::Nflog, &nf[..nf.len() - 5]).next,
            Next::Ip(&IP4[..15])
        );
        // The same written by a big-endian host.
        let nf_be = cat(&[
            &[2, 0, 0, 20],
            &[0, 8, 0, 1, 0x08, 0x00, 1, 0],
            &[0, 24, 0, 9],
            &IP4,
        ]);
        assert_eq!(strip(LinkType::Nflog, &nf_be).next, Next::Ip(&IP4));
        // Bridge family (7): the EtherType comes from NFULA_PACKET_HDR.
        let br = cat(&[
            &[7, 0, 0, 1],
            &[8, 0, 1, 0, 0x86, 0xdd, 1, 0],
            &[5, 0, 9, 0, 0x60],
        ]);
        assert_eq!(
            strip(LinkType::Nflog, &br).next,
            Next::EtherType(0x86dd, &[0x60])
        );
        // No payload TLV; broken TLV chain; short header.
        let none = [2, 0, 0, 1, 8, 0, 1, 0, 0x08, 0x00, 1, 0];
        assert_eq!(strip(LinkType::Nflog, &none).next, Next::NoNetwork);
        let broken = [2, 0, 0, 1, 2, 0, 1, 0, 0x08, 0x00, 1, 0];
        assert_eq!(strip(LinkType::Nflog, &broken).next, Next::Truncated);
        assert_eq!(strip(LinkType::Nflog, &[2, 0, 0]).next, Next::Truncated);
    }

    #[test]
    fn frame_relay() {
        // DLCI 302 Cisco encapsulation (from OSPFv3_NBMA_adjacencies.pcap).
        let f = [0x48, 0xe1, 0x86, 0xdd, 0x6e, 0];
        assert_eq!(
            strip(LinkType::FrameRelay, &f).next,
            Next::EtherType(0x86dd, &[0x6e, 0])
        );
        // RFC 2427 routed IPv4 and IPv6, with a 2-byte address.
        let f = cat(&[&[0x18, 0x41, 0x03, 0xCC], &IP4]);
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::Ip(&IP4));
        let f = [0x18, 0x41, 0x03, 0x8E, 0x60];
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::Ip(&[0x60]));
        // 3-byte address with pad.
        let f = cat(&[&[0x18, 0x40, 0x01, 0x03, 0x00, 0xCC], &IP4]);
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::Ip(&IP4));
        // SNAP-routed ARP; bridged Ethernet without FCS; with FCS (trimmed).
        let f = [0x18, 0x41, 0x03, 0x00, 0x80, 0, 0, 0, 0x08, 0x06, 7];
        assert_eq!(
            strip(LinkType::FrameRelay, &f).next,
            Next::EtherType(0x0806, &[7])
        );
        let eth = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00];
        let f = cat(&[
            &[0x18, 0x41, 0x03, 0x00, 0x80, 0x00, 0x80, 0xC2, 0x00, 0x07],
            &eth,
        ]);
        let l = strip(LinkType::FrameRelay, &f);
        assert_eq!(l.next, Next::Ethernet(&eth));
        assert_eq!(l.dst_mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(l.src_mac, Some([7, 8, 9, 10, 11, 12]));
        let f = cat(&[
            &[0x18, 0x41, 0x03, 0x00, 0x80, 0x00, 0x80, 0xC2, 0x00, 0x01],
            &eth,
            &[0xde, 0xad, 0xbe, 0xef],
        ]);
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::Ethernet(&eth));
        // Q.933 signalling; IS-IS; PPP in FR.
        let f = [0x00, 0x01, 0x03, 0x08, 0x00, 0x75];
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::NoNetwork);
        let f = [0x18, 0x41, 0x03, 0x83, 0x1b];
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::NoNetwork);
        let f = [0x18, 0x41, 0x03, 0xCF, 0x00, 0x21, 0x45];
        assert_eq!(
            strip(LinkType::FrameRelay, &f).next,
            Next::EtherType(0x0800, &[0x45])
        );
        // Bad address (EA on the first octet), 5-byte address, cut-short headers.
        let f = [0x19, 0x41, 0x03, 0xCC];
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::NoNetwork);
        let f = [0x18, 0x40, 0x00, 0x00, 0x01, 0x03, 0xCC];
        assert_eq!(strip(LinkType::FrameRelay, &f).next, Next::NoNetwork);
        for f in [
            &[0x18][..],
            &[0x18, 0x41],
            &[0x18, 0x41, 0x03],
            &[0x18, 0x40, 0x00],
        ] {
            assert_eq!(
                strip(LinkType::FrameRelay, f).next,
                Next::Truncated,
                "{f:?}"
            );
        }
    }

    const AP: Mac = [0xA0; 6];
    const STA: Mac = [0x5A; 6];
    const HOST: Mac = [0xD0; 6];
    const LLC_IP4: [u8; 8] = [0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00];

    /// An 802.11 data header: FC, duration, three addresses, sequence control.
    fn wlan_hdr(fc0: u8, fc1: u8, a: [Mac; 3], seq: u16) -> Vec<u8> {
        cat(&[&[fc0, fc1, 0, 0], &a[0], &a[1], &a[2], &seq.to_le_bytes()])
    }

    #[test]
    fn wlan_data_from_ds() {
        // Data (type 2, subtype 0), FromDS: A1 = DA, A2 = BSSID, A3 = SA.
        let f = cat(&[&wlan_hdr(0x08, 0x02, [STA, AP, HOST], 0x10), &LLC_IP4, &IP4]);
        let l = strip(LinkType::Ieee80211, &f);
        assert_eq!(l.dst_mac, Some(STA));
        assert_eq!(l.src_mac, Some(HOST));
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        // Header cut short; LLC cut short.
        assert_eq!(strip(LinkType::Ieee80211, &f[..23]).next, Next::Truncated);
        assert_eq!(strip(LinkType::Ieee80211, &f[..28]).next, Next::Truncated);
        // Non-first fragment.
        let f = cat(&[&wlan_hdr(0x08, 0x02, [STA, AP, HOST], 0x11), &IP4]);
        assert_eq!(strip(LinkType::Ieee80211, &f).next, Next::NoNetwork);
    }

    #[test]
    fn wlan_data_to_ds_qos_htc() {
        // QoS data (subtype 8), ToDS + Order: A1 = BSSID, A2 = SA, A3 = DA; QoS 2 + HTC 4.
        let f = cat(&[
            &wlan_hdr(0x88, 0x81, [AP, STA, HOST], 0),
            &[0x00, 0x00],
            &[0, 0, 0, 0],
            &LLC_IP4,
            &IP4,
        ]);
        let l = strip(LinkType::Ieee80211, &f);
        assert_eq!((l.dst_mac, l.src_mac), (Some(HOST), Some(STA)));
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        // Same without Order: no HTC field.
        let f = cat(&[
            &wlan_hdr(0x88, 0x01, [AP, STA, HOST], 0),
            &[0, 0],
            &LLC_IP4,
            &IP4,
        ]);
        assert_eq!(
            strip(LinkType::Ieee80211, &f).next,
            Next::EtherType(0x0800, &IP4)
        );
        // A-MSDU present.
        let f = cat(&[
            &wlan_hdr(0x88, 0x01, [AP, STA, HOST], 0),
            &[0x80, 0],
            &LLC_IP4,
        ]);
        assert_eq!(strip(LinkType::Ieee80211, &f).next, Next::NoNetwork);
        // QoS Null (subtype 12), Null (subtype 4).
        let f = cat(&[&wlan_hdr(0xC8, 0x01, [AP, STA, AP], 0), &[0, 0]]);
        assert_eq!(strip(LinkType::Ieee80211, &f).next, Next::NoNetwork);
        let f = wlan_hdr(0x48, 0x01, [AP, STA, AP], 0);
        assert_eq!(strip(LinkType::Ieee80211, &f).next, Next::NoNetwork);
        // Protected.
        let f = cat(&[&wlan_hdr(0x88, 0x41, [AP, STA, HOST], 0), &[0, 0], &[0; 16]]);
        let l = strip(LinkType::Ieee80211, &f);
        assert_eq!((l.next, l.src_mac), (Next::NoNetwork, Some(STA)));
    }

    #[test]
    fn wlan_four_address() {
        let sa = [0x11; 6];
        let f = cat(&[
            &wlan_hdr(0x08, 0x03, [AP, STA, HOST], 0),
            &sa,
            &LLC_IP4,
            &IP4,
        ]);
        let l = strip(LinkType::Ieee80211, &f);
        assert_eq!((l.dst_mac, l.src_mac), (Some(HOST), Some(sa)));
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        assert_eq!(strip(LinkType::Ieee80211, &f[..29]).next, Next::Truncated);
    }

    #[test]
    fn wlan_management_and_control() {
        // Beacon: A1 = broadcast DA, A2 = SA.
        let f = cat(&[&wlan_hdr(0x80, 0x00, [[0xff; 6], AP, AP], 0), &[0; 12]]);
        let l = strip(LinkType::Ieee80211, &f);
        assert_eq!(
            (l.dst_mac, l.src_mac, l.next),
            (Some([0xff; 6]), Some(AP), Next::NoNetwork)
        );
        assert_eq!(strip(LinkType::Ieee80211, &f[..20]).next, Next::Truncated);
        // ACK (control, subtype 13): FC, duration, RA.
        let ack = cat(&[&[0xD4, 0x00, 0, 0], &STA]);
        let l = strip(LinkType::Ieee80211, &ack);
        assert_eq!(
            (l.dst_mac, l.src_mac, l.next),
            (Some(STA), None, Next::NoNetwork)
        );
        // Protocol version 1; extension type.
        assert_eq!(
            strip(LinkType::Ieee80211, &[0x09, 0, 0, 0]).next,
            Next::NoNetwork
        );
        assert_eq!(
            strip(LinkType::Ieee80211, &[0x0C, 0, 0, 0]).next,
            Next::NoNetwork
        );
        assert_eq!(strip(LinkType::Ieee80211, &[0x08]).next, Next::Truncated);
    }

    fn data_frame() -> Vec<u8> {
        cat(&[&wlan_hdr(0x08, 0x02, [STA, AP, HOST], 0), &LLC_IP4, &IP4])
    }

    #[test]
    fn radiotap_plain_and_fcs() {
        // present = Flags only; flags = FCS.
        let rt = [0, 0, 9, 0, 0x02, 0, 0, 0, RADIOTAP_F_FCS];
        let f = cat(&[&rt, &data_frame(), &[1, 2, 3, 4]]);
        let l = strip(LinkType::Radiotap, &f);
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        assert_eq!(l.src_mac, Some(HOST));
        // Same without the FCS flag: the 4 bytes stay.
        let rt = [0, 0, 9, 0, 0x02, 0, 0, 0, 0x40];
        let f = cat(&[&rt, &data_frame(), &[1, 2, 3, 4]]);
        let Next::EtherType(0x0800, ip) = strip(LinkType::Radiotap, &f).next else {
            panic!("not IPv4")
        };
        assert_eq!(ip.len(), 24);
        // No present bits at all.
        let f = cat(&[&[0, 0, 8, 0, 0, 0, 0, 0], &data_frame()]);
        assert_eq!(
            strip(LinkType::Radiotap, &f).next,
            Next::EtherType(0x0800, &IP4)
        );
    }

    #[test]
    fn radiotap_tsft_ext_and_datapad() {
        // Two present words (bit 31 in the first), TSFT at 16 (aligned to 8), flags at 24 with
        // FCS + data pad; a QoS data frame (26-byte header) padded to 28.
        let mut rt = vec![0u8, 0, 0, 0];
        rt.extend_from_slice(&(0x8000_0003u32).to_le_bytes());
        rt.extend_from_slice(&(0x0000_0000u32).to_le_bytes());
        rt.extend_from_slice(&[0; 4]); // alignment padding before TSFT
        rt.extend_from_slice(&[9; 8]); // TSFT
        rt.push(RADIOTAP_F_FCS | RADIOTAP_F_DATAPAD);
        rt.push(0); // padding at the end of the header
        let len = u16::try_from(rt.len()).unwrap();
        rt[2..4].copy_from_slice(&len.to_le_bytes());
        let f = cat(&[
            &rt,
            &wlan_hdr(0x88, 0x02, [STA, AP, HOST], 0),
            &[0, 0, 0xEE, 0xEE],
            &LLC_IP4,
            &IP4,
            &[0xF, 0xC, 0x5, 0x5],
        ]);
        let l = strip(LinkType::Radiotap, &f);
        assert_eq!(l.next, Next::EtherType(0x0800, &IP4));
        assert_eq!((l.dst_mac, l.src_mac), (Some(STA), Some(HOST)));
    }

    #[test]
    fn radiotap_malformed() {
        // Length beyond the frame; below 8; version 1; present words running off the header.
        let f = cat(&[&[0, 0, 200, 0, 0, 0, 0, 0], &data_frame()]);
        assert_eq!(strip(LinkType::Radiotap, &f).next, Next::Truncated);
        let f = cat(&[&[0, 0, 4, 0, 0, 0, 0, 0], &data_frame()]);
        assert_eq!(strip(LinkType::Radiotap, &f).next, Next::NoNetwork);
        let f = cat(&[&[1, 0, 8, 0, 0, 0, 0, 0], &data_frame()]);
        assert_eq!(strip(LinkType::Radiotap, &f).next, Next::NoNetwork);
        // Bits 31 and 1 set but the header ends: flags not found, nothing trimmed.
        let f = cat(&[&[0, 0, 8, 0, 0x02, 0, 0, 0x80], &data_frame()]);
        assert_eq!(
            strip(LinkType::Radiotap, &f).next,
            Next::EtherType(0x0800, &IP4)
        );
        assert_eq!(strip(LinkType::Radiotap, &[0, 0, 8]).next, Next::Truncated);
    }

    // -----------------------------------------------------------------------------------------
    // No panics on any input.

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn all_types() -> impl Iterator<Item = LinkType> {
        LinkType::SUPPORTED.into_iter().chain([LinkType::Other(7)])
    }

    /// The slices in `next` must lie inside `frame`.
    fn check_within(frame: &[u8], l: &Link<'_>) {
        let inner = match l.next {
            Next::Ethernet(b) | Next::EtherType(_, b) | Next::Ip(b) => b,
            _ => return,
        };
        let (f0, f1) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let (i0, i1) = (
            inner.as_ptr() as usize,
            inner.as_ptr() as usize + inner.len(),
        );
        assert!(inner.is_empty() || (f0 <= i0 && i1 <= f1));
    }

    #[test]
    fn no_panic_on_prefixes() {
        let mut rt = vec![0u8, 0, 0, 0];
        rt.extend_from_slice(&(0x8000_0003u32).to_le_bytes());
        rt.extend_from_slice(&[0; 8]);
        rt.extend_from_slice(&[9; 8]);
        rt.extend_from_slice(&[0x30, 0]);
        let rt_len = u16::try_from(rt.len()).unwrap();
        rt[2..4].copy_from_slice(&rt_len.to_le_bytes());
        let samples: Vec<Vec<u8>> = vec![
            cat(&[&rt, &data_frame(), &[0; 4]]),
            data_frame(),
            cat(&[&[2, 0, 0, 20, 8, 0, 1, 0, 8, 0, 1, 0, 24, 0, 9, 0], &IP4]),
            cat(&[
                &[0x18, 0x41, 0x03, 0x00, 0x80, 0x00, 0x80, 0xC2, 0x00, 0x01],
                &[7; 20],
            ]),
            cat(&[&[0xFF, 0x03, 0x00, 0x21], &IP4]),
            cat(&[
                &[
                    0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0, 4, 0xAA, 0xAA, 3, 0, 0, 0, 8, 0,
                ],
                &IP4,
            ]),
            cat(&[&[0x11, 0, 0, 1, 0, 22, 0, 0x21], &IP4]),
        ];
        for sample in &samples {
            for n in 0..=sample.len() {
                let prefix = &sample[..n];
                for lt in all_types() {
                    let l = strip(lt, prefix);
                    check_within(prefix, &l);
                }
            }
        }
    }

    #[test]
    fn no_panic_on_random_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut buf = [0u8; 96];
        for i in 0..4000 {
            for b in buf.iter_mut() {
                *b = rng.next() as u8;
            }
            // Bias some inputs towards plausible headers so the deeper paths run.
            match i % 5 {
                0 => buf[..3].copy_from_slice(&[0, 0, 12]), // radiotap, len 12
                1 => buf[..2].copy_from_slice(&[0x08, 0x02]), // 802.11 data
                2 => buf[..3].copy_from_slice(&[0xAA, 0xAA, 3]), // SNAP
                3 => buf[..2].copy_from_slice(&[0xFF, 0x03]), // PPP
                _ => {}
            }
            let len = (rng.next() % (buf.len() as u64 + 1)) as usize;
            let frame = &buf[..len];
            for lt in all_types() {
                let l = strip(lt, frame);
                check_within(frame, &l);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Real captures from the tcpdump test corpus, checked against tshark.

    const CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/tcpdump"
    );

    /// The link type and frames of a classic pcap file (either byte order, µs or ns).
    fn read_pcap(name: &str) -> (u32, Vec<Vec<u8>>) {
        let path = format!("{CORPUS}/{name}");
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let magic: [u8; 4] = data[..4].try_into().unwrap();
        let le = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
            _ => panic!("{name}: not a classic pcap file"),
        };
        let u32_at = |at: usize| {
            let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let linktype = u32_at(20);
        let mut frames = Vec::new();
        let mut at = 24;
        while at + 16 <= data.len() {
            let incl = u32_at(at + 8) as usize;
            let start = at + 16;
            let Some(frame) = data.get(start..start + incl) else {
                break;
            };
            frames.push(frame.to_vec());
            at = start + incl;
        }
        (linktype, frames)
    }

    /// What the frames of one file lead to.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Counts {
        frames: usize,
        /// `Next::Ip`, or `Next::EtherType` 0x0800 / 0x86DD (with a matching version nibble).
        ip: usize,
        /// Other EtherTypes (MPLS, CDP, ARP...).
        other_ethertype: usize,
        ethernet: usize,
        no_network: usize,
        truncated: usize,
    }

    fn count(name: &str, expect_link: LinkType) -> Counts {
        let (dlt, frames) = read_pcap(name);
        let lt = LinkType::from_dlt(dlt);
        assert_eq!(lt, expect_link, "{name}");
        let mut c = Counts {
            frames: frames.len(),
            ..Counts::default()
        };
        for f in &frames {
            let l = strip(lt, f);
            check_within(f, &l);
            match l.next {
                Next::Ip(_) | Next::EtherType(0x0800 | 0x86DD, _) => c.ip += 1,
                Next::EtherType(..) => c.other_ethertype += 1,
                Next::Ethernet(_) => c.ethernet += 1,
                Next::NoNetwork => c.no_network += 1,
                Next::Truncated => c.truncated += 1,
                Next::Unsupported => panic!("{name}: unsupported"),
            }
        }
        c
    }

    /// Expected counts come from `tshark -r FILE -T fields -e frame.protocols | sort | uniq -c`
    /// (tshark 4.x): frames whose first protocol after the link layer(s) is `ip`/`ipv6` are
    /// `ip`; `mpls`, `cdp`, ... are `other_ethertype`; `eth` is `ethernet`; `llc:stp`, `slarp`,
    /// `osi`, `q933`, encrypted `data`, 802.11 management/control are `no_network`.
    #[test]
    fn corpus_matches_tshark() {
        #[rustfmt::skip]
        let cases: &[(&str, LinkType, [usize; 6])] = &[
            // file, link type, [frames, ip, other_ethertype, ethernet, no_network, truncated]
            // sll:ethertype:ip:sctp 154
            ("forces3.pcap", LinkType::LinuxSll, [154, 154, 0, 0, 0, 0]),
            // sll:ethertype:ip:tcp 163
            ("resp_3_malicious.pcap", LinkType::LinuxSll, [163, 163, 0, 0, 0, 0]),
            // sll:ipv6 25
            ("babel.pcap", LinkType::LinuxSll, [25, 25, 0, 0, 0, 0]),
            // null:ipv6:udp:quic 25
            ("quic_vn.pcap", LinkType::Null, [25, 25, 0, 0, 0, 0]),
            // null:ip:udp:isakmp 21
            ("ikev2four.pcap", LinkType::Null, [21, 21, 0, 0, 0, 0]),
            // null:ipv6:icmpv6 6
            ("icmpv6-RFC2894-RR.pcap", LinkType::Null, [6, 6, 0, 0, 0, 0]),
            // ppp:ip 9, ppp:mpls 9
            ("mpls-traceroute.pcap", LinkType::Ppp, [18, 9, 9, 0, 0, 0]),
            // ppp:ip 5, ppp:mpls 8
            ("lspping-fec-ldp.pcap", LinkType::Ppp, [13, 5, 8, 0, 0, 0]),
            // ppp:data 1 (protocol 0x0045, unknown)
            ("ppp_ip_udp_dns.pcap", LinkType::PppHdlc, [1, 0, 0, 0, 1, 0]),
            // chdlc:ip 10, chdlc:cdp 4, chdlc:slarp 24
            ("HDLC.pcap", LinkType::CHdlc, [38, 10, 4, 0, 24, 0]),
            // chdlc:osi:isis 26
            ("ISIS_p2p_adjacency.pcap", LinkType::CHdlc, [26, 0, 0, 0, 26, 0]),
            // fr:ipv6:ospf 86 / 73
            ("OSPFv3_NBMA_adjacencies.pcap", LinkType::FrameRelay, [86, 86, 0, 0, 0, 0]),
            ("OSPFv3_multipoint_adjacencies.pcap", LinkType::FrameRelay, [73, 73, 0, 0, 0, 0]),
            // ipv6:mipv6 16 (LINKTYPE_IPV6)
            ("ipv6_mobility_1.pcap", LinkType::Ipv6, [16, 16, 0, 0, 0, 0]),
            // raw:ipv6:udp:babel 9
            ("babel_rtt.pcap", LinkType::Raw, [9, 9, 0, 0, 0, 0]),
            // nflog:ip:udp:dns 4
            ("nflog.pcap", LinkType::Nflog, [4, 4, 0, 0, 0, 0]),
            // ipnet:ip:icmp 20
            ("e1000g.pcap", LinkType::Ipnet, [20, 20, 0, 0, 0, 0]),
            // radiotap:wlan_radio:wlan:llc:ip:udp:dhcp 1 (QoS data with +HTC)
            ("ieee802.11_htc.pcap", LinkType::Radiotap, [1, 1, 0, 0, 0, 0]),
            // radiotap:...:wlan:data 3 (protected)
            ("ieee802.11_rx-stbc.pcap", LinkType::Radiotap, [3, 0, 0, 0, 3, 0]),
            // radiotap:wlan_radio:wlan 26 (management/control, extended present bitmaps)
            ("ieee802.11_exthdr.pcap", LinkType::Radiotap, [26, 0, 0, 0, 26, 0]),
            // eth:llc:cdp 3
            ("3560_CDP.pcap", LinkType::Ethernet, [3, 0, 3, 0, 0, 0]),
            // eth:llc:stp 14
            ("802.1D_spanning_tree.pcap", LinkType::Ethernet, [14, 0, 0, 0, 14, 0]),
        ];
        for (name, lt, [frames, ip, other_ethertype, ethernet, no_network, truncated]) in cases {
            let expect = Counts {
                frames: *frames,
                ip: *ip,
                other_ethertype: *other_ethertype,
                ethernet: *ethernet,
                no_network: *no_network,
                truncated: *truncated,
            };
            assert_eq!(count(name, *lt), expect, "{name}");
        }
    }

    /// IP payloads found in the corpus really start with the matching version nibble.
    #[test]
    fn corpus_ip_version_nibbles() {
        for (name, version) in [
            ("forces3.pcap", 4),
            ("quic_vn.pcap", 6),
            ("OSPFv3_NBMA_adjacencies.pcap", 6),
            ("nflog.pcap", 4),
            ("e1000g.pcap", 4),
            ("ieee802.11_htc.pcap", 4),
            ("HDLC.pcap", 4),
        ] {
            let (dlt, frames) = read_pcap(name);
            for f in &frames {
                match strip(LinkType::from_dlt(dlt), f).next {
                    Next::Ip(p) | Next::EtherType(0x0800 | 0x86DD, p) => {
                        assert_eq!(p.first().map(|b| b >> 4), Some(version), "{name}")
                    }
                    _ => {}
                }
            }
        }
    }
}
