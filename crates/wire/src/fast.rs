//! The common case, decoded directly: Ethernet (at most one 802.1Q tag), an IPv4 header without
//! fragmentation or an IPv6 header without extension headers, whose length fields agree with
//! the captured bytes, then a whole TCP, UDP or ICMP header.
//!
//! That is nearly every packet on a real network, and etherparse's general slicer spends a few
//! hundred instructions and several struct copies on each. Anything else — a second VLAN tag,
//! IP options of AH, fragments, extension headers, a length field that disagrees, a cut header,
//! ICMP timestamps — returns `None` and takes the general path in [`crate::packet`], so the
//! result is the same either way. A test in netlens (`fast_path`) decodes every frame of the
//! tcpdump corpus and of generated traffic both ways and compares them.
//!
//! The functions that return a decoded header are `#[inline]`: called, each wrote its result to
//! the stack field by field and the caller read it back with wider loads at once, a
//! store-forwarding stall that `perf annotate` put at about 1.5% of one worker's time.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::{be16, be32};
use crate::link::Mac;
use crate::packet::{
    Fragment, Icmp, Ip, Net, Tcp, TcpFlags, Transport, Udp, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP,
    PROTO_UDP,
};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// What the fast path decoded.
pub(crate) struct Fast<'a> {
    pub net: Net,
    pub transport: Transport,
    pub payload: &'a [u8],
}

/// An Ethernet II frame: its MACs, its VLAN id and the rest, or `None` for the general path.
#[inline]
pub(crate) fn ethernet(frame: &[u8]) -> Option<(Mac, Mac, Option<u16>, Fast<'_>)> {
    let dst: Mac = frame.get(0..6)?.try_into().ok()?;
    let src: Mac = frame.get(6..12)?.try_into().ok()?;
    let mut ethertype = be16(frame, 12)?;
    let mut rest = frame.get(14..)?;
    let mut vlan = None;
    if ethertype == ETHERTYPE_VLAN {
        let tci = be16(rest, 0)?;
        vlan = Some(tci & 0x0FFF);
        ethertype = be16(rest, 2)?;
        rest = rest.get(4..)?;
    }
    Some((dst, src, vlan, ip(ethertype, rest)?))
}

/// An IP packet announced by `ethertype`, or `None` for the general path.
#[inline]
pub(crate) fn ip(ethertype: u16, bytes: &[u8]) -> Option<Fast<'_>> {
    match ethertype {
        ETHERTYPE_IPV4 => ipv4(bytes),
        ETHERTYPE_IPV6 => ipv6(bytes),
        _ => None,
    }
}

fn ipv4(p: &[u8]) -> Option<Fast<'_>> {
    let first = *p.first()?;
    let header_len = usize::from(first & 0x0F) * 4;
    let total = usize::from(be16(p, 2)?);
    // Version 4, a header of at least 20 bytes, a total length that covers the header and ends
    // within the captured bytes (shorter than them is Ethernet padding).
    if first >> 4 != 4 || header_len < 20 || total < header_len || total > p.len() {
        return None;
    }
    let flags_offset = be16(p, 6)?;
    // More fragments, or an offset: the general path keeps fragments apart.
    if flags_offset & 0x3FFF != 0 {
        return None;
    }
    let protocol = *p.get(9)?;
    let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
    let ip = Ip {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        ttl: *p.get(8)?,
        id: u32::from(be16(p, 4)?),
        protocol,
        fragment: Fragment::Whole,
    };
    let (transport, payload) = transport(protocol, p.get(header_len..total)?)?;
    Some(Fast {
        net: Net::Ipv4(ip),
        transport,
        payload,
    })
}

fn ipv6(p: &[u8]) -> Option<Fast<'_>> {
    let word = be32(p, 0)?;
    let payload_len = usize::from(be16(p, 4)?);
    let next = *p.get(6)?;
    // Version 6 and a payload length within the captured bytes; 0 means a jumbogram (RFC 2675)
    // or a length left for offload to fill, both for the general path.
    if word >> 28 != 6 || payload_len == 0 || 40 + payload_len > p.len() {
        return None;
    }
    let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
    let ip = Ip {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        ttl: *p.get(7)?,
        id: word & 0x000F_FFFF,
        protocol: next,
        fragment: Fragment::Whole,
    };
    // Extension headers (hop-by-hop, routing, fragment...) take the general path.
    let (transport, payload) = transport(next, p.get(40..40 + payload_len)?)?;
    Some(Fast {
        net: Net::Ipv6(ip),
        transport,
        payload,
    })
}

/// The transport header `protocol` names, read by number whatever the IP version (as
/// etherparse does); any other protocol, AH included, takes the general path.
#[inline]
fn transport(protocol: u8, payload: &[u8]) -> Option<(Transport, &[u8])> {
    match protocol {
        PROTO_TCP => tcp(payload),
        PROTO_UDP => udp(payload),
        PROTO_ICMP => {
            let (icmp, rest) = icmp(payload, &[0, 8])?;
            // Timestamp messages (13, 14) have a longer header: the general path knows it.
            (!matches!(icmp.ty, 13 | 14)).then_some((Transport::Icmp(icmp), rest))
        }
        PROTO_ICMPV6 => {
            let (icmp, rest) = icmp(payload, &[128, 129])?;
            Some((Transport::Icmpv6(icmp), rest))
        }
        _ => None,
    }
}

#[inline]
fn tcp(seg: &[u8]) -> Option<(Transport, &[u8])> {
    let header_len = usize::from(*seg.get(12)? >> 4) * 4;
    if header_len < 20 {
        return None;
    }
    let payload = seg.get(header_len..)?;
    let tcp = Tcp {
        src_port: be16(seg, 0)?,
        dst_port: be16(seg, 2)?,
        seq: be32(seg, 4)?,
        ack: be32(seg, 8)?,
        flags: TcpFlags(*seg.get(13)?),
        window: be16(seg, 14)?,
    };
    Some((Transport::Tcp(tcp), payload))
}

#[inline]
fn udp(datagram: &[u8]) -> Option<(Transport, &[u8])> {
    let len = usize::from(be16(datagram, 4)?);
    // A length field that disagrees with the IP payload is read as etherparse's lax slicer
    // does (the captured bytes win), so leave it to the general path.
    if len < 8 || len > datagram.len() {
        return None;
    }
    let udp = Udp {
        src_port: be16(datagram, 0)?,
        dst_port: be16(datagram, 2)?,
    };
    Some((Transport::Udp(udp), datagram.get(8..len)?))
}

/// The 8-byte ICMP or ICMPv6 header; `echo_types` are the types that carry an echo id/seq.
fn icmp<'a>(msg: &'a [u8], echo_types: &[u8]) -> Option<(Icmp, &'a [u8])> {
    let ty = *msg.first()?;
    let code = *msg.get(1)?;
    let rest = msg.get(8..)?;
    let echo = if echo_types.contains(&ty) {
        Some((be16(msg, 4)?, be16(msg, 6)?))
    } else {
        None
    };
    Some((Icmp { ty, code, echo }, rest))
}
