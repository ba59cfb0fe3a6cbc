//! The packet log on stdout, one line per packet (plus detail lines in `detailed` mode).
//!
//! Output is buffered and flushed at the end or when the pipeline asks (live mode flushes after
//! each batch so lines appear promptly). A closed pipe surfaces as `BrokenPipe`, which main turns
//! into a quiet exit 0.

use std::io::{self, BufWriter, Stdout, Write};

use wire::packet::{Net, Stop, Transport};
use wire::Packet;

use super::fragments::{app, endpoints, hint, proto_label};
use super::put;
use super::style::Palette;
use crate::capture::Frame;

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Mode {
    /// Time, protocol, endpoints with service, TCP flags, length, application hint.
    #[default]
    Compact,
    /// Compact plus TTL, IP id, TCP seq/ack/window and a hex+ASCII payload preview.
    Detailed,
    /// Time, protocol, source and destination only.
    Minimal,
}

/// Bytes of payload shown in `detailed` mode unless `-X` asks for all of it.
const PREVIEW_BYTES: usize = 64;

/// Writes to buffered stdout by default; any other writer (a `Vec<u8>` in the fuzz harness and
/// its replay test) gets exactly the same output.
pub struct Printer<W: Write = BufWriter<Stdout>> {
    out: W,
    mode: Mode,
    palette: Palette,
    /// `-X`: dump the whole payload.
    hex_all: bool,
    /// Interface names, shown when more than one interface is captured.
    iface_names: Vec<String>,
}

impl Printer {
    pub fn new(mode: Mode, palette: Palette, hex_all: bool, iface_names: Vec<String>) -> Self {
        Printer::with_writer(
            BufWriter::with_capacity(64 * 1024, io::stdout()),
            mode,
            palette,
            hex_all,
            iface_names,
        )
    }
}

impl<W: Write> Printer<W> {
    pub fn with_writer(
        out: W,
        mode: Mode,
        palette: Palette,
        hex_all: bool,
        iface_names: Vec<String>,
    ) -> Self {
        Printer {
            out,
            mode,
            palette,
            hex_all,
            iface_names,
        }
    }

    /// The writer, with everything printed so far (after [`Printer::flush`] for a buffered one).
    pub fn into_writer(self) -> W {
        self.out
    }

    pub fn print(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) -> io::Result<()> {
        let p = self.palette;
        let out = &mut self.out;
        out.write_all(&frame.ts.time_of_day().bytes())?;
        if self.iface_names.len() > 1 {
            if let Some(name) = self.iface_names.get(frame.iface.0 as usize) {
                out.write_all(b" ")?;
                put::painted_str(out, p.dim, name)?;
            }
        }
        let (label, style) = proto_label(packet, &p);
        let pad = b"     ".get(label.len()..).unwrap_or_default();
        out.write_all(b" ")?;
        put::painted(out, style, |out| {
            out.write_all(label.as_bytes())?;
            out.write_all(pad)
        })?;
        out.write_all(b" ")?;
        match self.mode {
            Mode::Minimal => {
                endpoints(out, packet, &p, false)?;
            }
            Mode::Compact | Mode::Detailed => {
                if let Some(vlan) = packet.vlan {
                    out.write_all(b"vlan ")?;
                    put::int(out, vlan)?;
                    out.write_all(b" ")?;
                }
                endpoints(out, packet, &p, true)?;
                hint(out, packet, &p)?;
                if packet.net == Net::None {
                    if frame.link.is_supported() {
                        write!(out, " {}", frame.link.name())?;
                    } else {
                        write!(out, " link type {} not decoded", frame.link.to_dlt())?;
                    }
                }
                out.write_all(b" len=")?;
                put::int(out, frame.orig_len)?;
                app(out, &packet.app, &p)?;
                match packet.stop {
                    Some(Stop::Truncated(_)) => {
                        out.write_all(b" ")?;
                        put::painted_str(out, p.warn, "[truncated]")?;
                    }
                    Some(Stop::Malformed(_)) => {
                        out.write_all(b" ")?;
                        put::painted_str(out, p.warn, "[malformed]")?;
                    }
                    None => {}
                }
            }
        }
        out.write_all(b"\n")?;
        if self.mode == Mode::Detailed {
            self.details(packet)?;
        }
        Ok(())
    }

    fn details(&mut self, packet: &Packet<'_>) -> io::Result<()> {
        let out = &mut self.out;
        if let Net::Ipv4(ip) | Net::Ipv6(ip) = &packet.net {
            let v4 = matches!(packet.net, Net::Ipv4(_));
            if v4 {
                write!(out, "    ttl={} id=0x{:04x}", ip.ttl, ip.id)?;
            } else {
                write!(out, "    hlim={} flow=0x{:05x}", ip.ttl, ip.id)?;
            }
            write!(out, " proto={}", ip.protocol)?;
            if let Transport::Tcp(t) = packet.transport {
                write!(out, " seq={} ack={} win={}", t.seq, t.ack, t.window)?;
            }
            write!(out, " payload={}", packet.payload.len())?;
            writeln!(out)?;
        }
        let shown = if self.hex_all {
            packet.payload
        } else {
            packet
                .payload
                .get(..PREVIEW_BYTES)
                .unwrap_or(packet.payload)
        };
        hexdump(out, shown)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// 16 bytes per line: offset, hex, ASCII (non-printable as '.'), like `tcpdump -X`. Each line
/// is put together in a buffer and written once (with `write!` per byte, `-X` on full-size
/// frames cost hundreds of thousands of instructions a packet).
pub fn hexdump(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    use put::HEX;
    let mut line = Vec::with_capacity(96);
    for (i, chunk) in bytes.chunks(16).enumerate() {
        line.clear();
        line.extend_from_slice(b"    0x");
        // At least four digits, more past 64 KiB.
        let offset = i * 16;
        let digits = ((usize::BITS - offset.leading_zeros()) as usize)
            .div_ceil(4)
            .max(4);
        for d in (0..digits).rev() {
            line.push(HEX[offset >> (4 * d) & 0xf]);
        }
        line.extend_from_slice(b":  ");
        for j in 0..16 {
            match chunk.get(j) {
                Some(&b) => {
                    line.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
                }
                None => line.extend_from_slice(b"  "),
            }
            if j % 2 == 1 {
                line.push(b' ');
            }
        }
        line.push(b' ');
        line.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'.'
            }
        }));
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hexdump_matches_tcpdump_layout() {
        let mut out = Vec::new();
        hexdump(&mut out, b"GET / HTTP/1.1\r\nHost").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "    0x0000:  4745 5420 2f20 4854 5450 2f31 2e31 0d0a  GET / HTTP/1.1..\n    0x0010:  486f 7374                                Host\n"
        );
    }

    #[test]
    fn hexdump_offsets_grow_past_four_digits() {
        let bytes: Vec<u8> = (0..=255).cycle().take(0x10010).collect();
        let mut out = Vec::new();
        hexdump(&mut out, &bytes).unwrap();
        let text = String::from_utf8(out).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("    0x10000:  0001 0203"), "{last}");
        assert!(text
            .lines()
            .nth(0xfff)
            .unwrap()
            .starts_with("    0xfff0:  f0f1"));
    }
}
