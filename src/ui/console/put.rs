//! The packet log's hot pieces written as bytes: numbers, IP addresses and colored labels (and
//! the addresses of stored rows and JSON lines).
//!
//! A log line holds a time, two addresses, two ports and a length. Written with `write!`, each
//! goes through `core::fmt` (argument lists, padding, the `io::Write` adapter): callgrind counted
//! about 6,600 instructions a line on mix-200k-s1, more than decoding and accounting the packet.
//! These write the same text straight into the writer's buffer.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anstyle::Style;

use super::style::Untrusted;

/// Lowercase hex digits by value.
pub const HEX: &[u8; 16] = b"0123456789abcdef";

/// An integer in decimal.
pub fn int(out: &mut impl Write, n: impl itoa::Integer) -> io::Result<()> {
    out.write_all(itoa::Buffer::new().format(n).as_bytes())
}

/// Dotted-quad IPv4, as `Ipv4Addr`'s `Display` writes it.
pub fn ipv4(out: &mut impl Write, addr: Ipv4Addr) -> io::Result<()> {
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        let (h, t, o) = (octet / 100, octet / 10 % 10, octet % 10);
        if h > 0 {
            text[len] = b'0' + h;
            len += 1;
        }
        if h > 0 || t > 0 {
            text[len] = b'0' + t;
            len += 1;
        }
        text[len] = b'0' + o;
        len += 1;
    }
    out.write_all(&text[..len])
}

/// IPv6 as `Ipv6Addr`'s `Display` writes it (RFC 5952): lowercase hex groups without leading
/// zeros, the first longest run of two or more zero groups as `::`, and an IPv4-mapped address
/// as `::ffff:a.b.c.d`.
pub fn ipv6(out: &mut impl Write, addr: Ipv6Addr) -> io::Result<()> {
    if let Some(v4) = addr.to_ipv4_mapped() {
        out.write_all(b"::ffff:")?;
        return ipv4(out, v4);
    }
    let groups = addr.segments();
    let (mut zeros_at, mut zeros_len, mut run_at, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run_at = i;
            }
            run_len += 1;
            if run_len > zeros_len {
                (zeros_at, zeros_len) = (run_at, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    // 8 groups of 4 digits and 7 colons at most.
    let mut text = [0u8; 39];
    let mut len = 0;
    let mut i = 0;
    while i < groups.len() {
        if zeros_len > 1 && i == zeros_at {
            text[len] = b':';
            text[len + 1] = b':';
            len += 2;
            i += zeros_len;
            continue;
        }
        if i > 0 && !(zeros_len > 1 && i == zeros_at + zeros_len) {
            text[len] = b':';
            len += 1;
        }
        let g = groups[i];
        let digits = (16 - g.leading_zeros() as usize).div_ceil(4).max(1);
        for d in (0..digits).rev() {
            text[len] = HEX[usize::from(g >> (4 * d) & 0xf)];
            len += 1;
        }
        i += 1;
    }
    out.write_all(&text[..len])
}

/// An address as `IpAddr`'s `Display` writes it.
pub fn ip(out: &mut impl Write, addr: IpAddr) -> io::Result<()> {
    match addr {
        IpAddr::V4(a) => ipv4(out, a),
        IpAddr::V6(a) => ipv6(out, a),
    }
}

/// An address serialized as its text, written by [`ip`]: serde's own goes through `Display`
/// and `collect_str`, which cost a JSON line of packets more than the rest of it.
#[derive(Debug, Clone, Copy)]
pub struct AddrText(pub IpAddr);

impl serde::Serialize for AddrText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(IpText::new(self.0).as_str())
    }
}

/// An address's text on the stack, for rows and lines that take a `&str`.
pub struct IpText {
    // The longest text is an IPv6 address of eight four-digit groups: 39 bytes.
    buf: [u8; 40],
    len: usize,
}

impl IpText {
    pub fn new(addr: IpAddr) -> IpText {
        let mut buf = [0u8; 40];
        let left = {
            let mut rest = &mut buf[..];
            let _ = ip(&mut rest, addr);
            rest.len()
        };
        IpText {
            buf,
            len: 40 - left,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

/// What `text` writes, in `style`, with no escape codes when the style is plain.
pub fn painted<W: Write>(
    out: &mut W,
    style: Style,
    text: impl FnOnce(&mut W) -> io::Result<()>,
) -> io::Result<()> {
    style.write_to(out)?;
    text(out)?;
    style.write_reset_to(out)
}

/// `text` in `style` (see [`painted`]).
pub fn painted_str(out: &mut impl Write, style: Style, text: &str) -> io::Result<()> {
    painted(out, style, |out| out.write_all(text.as_bytes()))
}

/// Packet-derived text as [`Untrusted`] shows it; most has nothing to escape and is copied.
pub fn untrusted(out: &mut impl Write, text: &str) -> io::Result<()> {
    if text.chars().any(char::is_control) {
        write!(out, "{}", Untrusted(text))
    } else {
        out.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap_or_default();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn ipv4_matches_display_for_every_octet() {
        for a in 0..=255u8 {
            let addr = Ipv4Addr::new(a, 255 - a, a / 2, a.wrapping_mul(7));
            assert_eq!(text(|o| ipv4(o, addr)), addr.to_string());
        }
    }

    #[test]
    fn addresses_serialize_as_serde_does() {
        for a in [
            "192.0.2.1",
            "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff",
            "::ffff:10.0.0.1",
        ] {
            let a: IpAddr = a.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            assert_eq!(
                serde_json::to_string(&AddrText(a)).unwrap_or_default(),
                serde_json::to_string(&a).unwrap_or_default()
            );
            assert_eq!(IpText::new(a).as_str(), a.to_string());
        }
    }

    #[test]
    fn ipv6_matches_display() {
        // Every pattern of zero and non-zero groups, with values of each digit count, and the
        // IPv4-mapped and -compatible forms.
        let values = [0x1, 0xab, 0xf00, 0xffff, 0x2001, 0x10];
        for zeros in 0..=255u32 {
            for (k, v) in values.iter().enumerate() {
                let groups: [u16; 8] = std::array::from_fn(|i| {
                    if zeros >> i & 1 == 1 {
                        0
                    } else {
                        values[(k + i) % values.len()] ^ (*v & 0x0f0f)
                    }
                });
                let a = Ipv6Addr::from(groups);
                assert_eq!(text(|o| ipv6(o, a)), a.to_string(), "{groups:x?}");
            }
        }
        for a in [
            Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
            Ipv4Addr::new(192, 0, 2, 1).to_ipv6_compatible(),
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
            Ipv6Addr::new(0, 0, 0, 0, 0, 0xfffe, 1, 1),
        ] {
            assert_eq!(text(|o| ip(o, IpAddr::V6(a))), a.to_string());
        }
    }

    #[test]
    fn painted_matches_the_display_adapter() {
        use crate::ui::console::style::{Painted, Palette};
        for enabled in [false, true] {
            let p = Palette::new(enabled);
            assert_eq!(
                text(|o| painted_str(o, p.tcp, "TCP  ")),
                Painted(p.tcp, &"TCP  ").to_string()
            );
        }
        assert_eq!(text(|o| int(o, 65535u16)), "65535");
        for t in ["example.com", "evil\u{1b}[31m\r\n", ""] {
            assert_eq!(text(|o| untrusted(o, t)), Untrusted(t).to_string());
        }
    }
}
