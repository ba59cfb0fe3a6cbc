//! Pieces of a packet line shared by every display mode: the protocol label, endpoints with
//! ports and service names, and the application hint. Each writes straight into the output,
//! without building intermediate strings: the pieces every line has through `put` (no
//! `core::fmt`), the rarer ones with `write!`.

use std::io::{self, Write};
use std::net::IpAddr;

use anstyle::Style;
use wire::dns::{self, RData};
use wire::http::HttpSummary;
use wire::packet::{App, Net, Transport};
use wire::services::{self, L4};
use wire::tls::TlsKind;
use wire::{icmp, Packet};

use super::put;
use super::style::{Painted, Palette, Untrusted};

/// The label in the protocol column and its color: the application when one was recognised,
/// else the transport, else the network layer.
pub fn proto_label(packet: &Packet<'_>, p: &Palette) -> (&'static str, Style) {
    match (&packet.app, &packet.transport) {
        (App::Dns(_), _) => ("DNS", p.dns),
        (App::Http(_), _) => ("HTTP", p.tcp),
        (App::Tls(_), _) => ("TLS", p.tcp),
        (App::Ftp(_) | App::FtpReply(..), _) => ("FTP", p.tcp),
        (App::Ssh(_), _) => ("SSH", p.tcp),
        (App::None, Transport::Tcp(_)) => ("TCP", p.tcp),
        (App::None, Transport::Udp(_)) => ("UDP", p.udp),
        (App::None, Transport::Icmp(_)) => ("ICMP", p.icmp),
        (App::None, Transport::Icmpv6(_)) => ("ICMP6", p.icmp),
        (App::None, Transport::None) => match packet.net {
            Net::Ipv4(ip) | Net::Ipv6(ip) => (ip_proto_name(ip.protocol), p.other),
            Net::BadIp { claimed: 6, .. } => ("IPv6", p.other),
            Net::BadIp { .. } => ("IPv4", p.other),
            Net::Arp(_) => ("ARP", p.arp),
            Net::Other { ethertype: 0x0806 } => ("ARP", p.arp),
            Net::Other { .. } => ("ETHER", p.other),
            Net::None => ("LINK", p.other),
        },
    }
}

/// Short names of IP protocols a monitor meets without decoding them (IANA protocol numbers).
pub fn ip_proto_name(proto: u8) -> &'static str {
    match proto {
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMP6",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => "IP",
    }
}

/// `addr:port`, with brackets around IPv6 as in URLs.
pub fn endpoint(out: &mut impl Write, addr: IpAddr, port: Option<u16>) -> io::Result<()> {
    let Some(port) = port else {
        return put::ip(out, addr);
    };
    if addr.is_ipv6() {
        out.write_all(b"[")?;
        put::ip(out, addr)?;
        out.write_all(b"]")?;
    } else {
        put::ip(out, addr)?;
    }
    out.write_all(b":")?;
    put::int(out, port)
}

pub fn mac(out: &mut impl Write, m: &[u8; 6]) -> io::Result<()> {
    write!(
        out,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `src → dst` with ports, the service name on the service side, or MACs when there is no IP.
pub fn endpoints<W: Write>(
    out: &mut W,
    packet: &Packet<'_>,
    p: &Palette,
    with_service: bool,
) -> io::Result<()> {
    if let Some(ip) = packet.ip() {
        let ports = packet.ports();
        let service = match (ports, &packet.transport) {
            (Some((s, d)), Transport::Tcp(_)) if with_service => Some((s, d, L4::Tcp)),
            (Some((s, d)), Transport::Udp(_)) if with_service => Some((s, d, L4::Udp)),
            _ => None,
        }
        .and_then(|(s, d, l4)| {
            let (port, name) = services::service_side(s, d, l4);
            name.map(|n| (port == d, n.name()))
        });
        let service_name = |out: &mut W, name: &str| {
            out.write_all(b"(")?;
            put::painted_str(out, p.dim, name)?;
            out.write_all(b")")
        };
        endpoint(out, ip.src, ports.map(|(s, _)| s))?;
        if let Some((false, name)) = service {
            service_name(out, name)?;
        }
        out.write_all(" → ".as_bytes())?;
        endpoint(out, ip.dst, ports.map(|(_, d)| d))?;
        if let Some((true, name)) = service {
            service_name(out, name)?;
        }
        return Ok(());
    }
    match (&packet.net, packet.src_mac, packet.dst_mac) {
        (Net::Arp(_), _, _) => Ok(()),
        (_, Some(s), Some(d)) => {
            mac(out, &s)?;
            write!(out, " → ")?;
            mac(out, &d)
        }
        _ => Ok(()),
    }
}

/// The hint after the endpoints: TCP flags, ICMP type, ARP question, application summary.
pub fn hint(out: &mut impl Write, packet: &Packet<'_>, p: &Palette) -> io::Result<()> {
    match packet.transport {
        Transport::Tcp(t) => {
            out.write_all(b" [")?;
            put::painted_str(out, p.flags, t.flags.tcpdump_letters().as_str())?;
            out.write_all(b"]")?;
        }
        Transport::Icmp(i) => {
            write!(out, " {}", icmp::v4_name(i.ty, i.code))?;
            if let Some((id, seq)) = i.echo {
                write!(out, " id={id} seq={seq}")?;
            }
        }
        Transport::Icmpv6(i) => {
            write!(out, " {}", icmp::v6_name(i.ty, i.code))?;
            if let Some((id, seq)) = i.echo {
                write!(out, " id={id} seq={seq}")?;
            }
        }
        Transport::Udp(_) | Transport::None => {}
    }
    match &packet.net {
        Net::Arp(a) => match a.operation {
            1 => write!(out, " who-has {} tell {}", a.target_ip, a.sender_ip)?,
            2 => {
                write!(out, " reply {} is-at ", a.sender_ip)?;
                mac(out, &a.sender_mac)?;
            }
            op => write!(out, " op {op} {} → {}", a.sender_ip, a.target_ip)?,
        },
        Net::Other { ethertype } => write!(out, " ethertype 0x{ethertype:04x}")?,
        _ => {}
    }
    Ok(())
}

/// The application summary (DNS question and answers, HTTP request, TLS SNI, FTP command...).
pub fn app(out: &mut impl Write, app: &App<'_>, p: &Palette) -> io::Result<()> {
    match app {
        App::Dns(d) => {
            let kind = if d.is_response { "response" } else { "query" };
            out.write_all(b" ")?;
            put::painted_str(out, p.dns, kind)?;
            if let Some((name, qtype)) = d.question {
                write!(out, " {} {}", dns::type_name(qtype), Painted(p.app, &name))?;
            }
            if d.is_response {
                if d.rcode != 0 {
                    write!(out, " {}", Painted(p.warn, &dns::rcode_name(d.rcode)))?;
                }
                let mut first = true;
                for a in d.answers() {
                    let sep = if first { " → " } else { ", " };
                    match a.data {
                        RData::A(v4) => {
                            out.write_all(sep.as_bytes())?;
                            put::ipv4(out, v4)?;
                        }
                        RData::Aaaa(v6) => {
                            out.write_all(sep.as_bytes())?;
                            put::ipv6(out, v6)?;
                        }
                        RData::Name(n) => write!(out, "{sep}{} {n}", dns::type_name(a.rtype))?,
                        RData::Other => continue,
                    }
                    first = false;
                }
            }
            Ok(())
        }
        App::Http(HttpSummary::Request { method, path, host }) => {
            out.write_all(b" ")?;
            put::painted_str(out, p.app, method)?;
            if let Some(h) = host {
                out.write_all(b" ")?;
                put::untrusted(out, h)?;
            }
            put::untrusted(out, path)
        }
        App::Http(HttpSummary::Response { status, reason }) => {
            out.write_all(b" ")?;
            put::painted(out, p.app, |out| put::int(out, *status))?;
            out.write_all(b" ")?;
            put::untrusted(out, reason)
        }
        App::Tls(t) => {
            let kind = match t.kind {
                TlsKind::ClientHello => "ClientHello",
                TlsKind::ServerHello => "ServerHello",
                TlsKind::Handshake => "Handshake",
                TlsKind::ChangeCipherSpec => "ChangeCipherSpec",
                TlsKind::Alert => "Alert",
                TlsKind::ApplicationData => "ApplicationData",
                TlsKind::Heartbeat => "Heartbeat",
            };
            out.write_all(b" ")?;
            out.write_all(kind.as_bytes())?;
            if let Some(sni) = t.sni {
                out.write_all(b" sni=")?;
                put::painted(out, p.app, |out| put::untrusted(out, sni))?;
            }
            if let Some(alpn) = t.alpn {
                out.write_all(b" alpn=")?;
                put::untrusted(out, alpn)?;
            }
            Ok(())
        }
        App::Ftp(cmd) => {
            write!(out, " {}", Painted(p.app, &Untrusted(cmd.verb)))?;
            match cmd.arg {
                // Never echo a password to the screen.
                Some(_) if cmd.verb.eq_ignore_ascii_case("PASS") => write!(out, " ****"),
                Some(arg) => write!(out, " {}", Untrusted(arg)),
                None => Ok(()),
            }
        }
        App::FtpReply(code, text) => write!(out, " {code} {}", Untrusted(text)),
        App::Ssh(banner) => {
            out.write_all(b" ")?;
            put::untrusted(out, banner)
        }
        App::None => Ok(()),
    }
}
