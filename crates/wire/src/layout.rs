//! A decoded packet that can travel apart from its frame, to be put back together from a copy
//! of the frame without decoding it again.
//!
//! With several workers, the thread that reads the capture decodes each frame (its alert
//! detectors need the decoded packet) and copies the frame to the worker that accounts it. The
//! worker would otherwise walk the link, network and transport headers again and try every
//! application parser on the payload. A [`Layout`] carries the headers' values, where the
//! payload is, and which application parser recognised it: the worker runs only that parser.

use crate::link::Mac;
use crate::packet::{self, AppKind, Apps, Net, Packet, Stop, Transport};

/// A decoded [`Packet`] apart from its frame. Put back together with [`Layout::packet`] on the
/// same bytes (or a copy of them), it equals the packet it was made from.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    src_mac: Option<Mac>,
    dst_mac: Option<Mac>,
    vlan: Option<u16>,
    net: Net,
    transport: Transport,
    stop: Option<Stop>,
    /// Where the payload starts in the frame, and its length.
    payload: (u32, u32),
    app: AppKind,
}

impl Layout {
    /// The layout of `packet`, decoded from `frame` with the parsers `apps` names. None if its
    /// payload is not inside `frame`.
    pub fn of(packet: &Packet<'_>, frame: &[u8], apps: Apps) -> Option<Layout> {
        let payload = packet.payload;
        let start = if payload.is_empty() {
            // An empty slice may point anywhere; it is empty wherever it is put back.
            0
        } else {
            // Addresses only: nothing is read through them.
            let start = (payload.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
            if start.checked_add(payload.len())? > frame.len() {
                return None;
            }
            start
        };
        Some(Layout {
            src_mac: packet.src_mac,
            dst_mac: packet.dst_mac,
            vlan: packet.vlan,
            net: packet.net,
            transport: packet.transport,
            stop: packet.stop,
            payload: (
                u32::try_from(start).ok()?,
                u32::try_from(payload.len()).ok()?,
            ),
            app: match packet.app.kind() {
                AppKind::None
                    if apps == Apps::Alerts
                        && matches!(packet.transport, Transport::Tcp(_))
                        && !payload.is_empty() =>
                {
                    AppKind::Rest
                }
                kind => kind,
            },
        })
    }

    /// Where the payload starts in the frame, when putting the packet back together reads it
    /// (an application parser recognised it, or is still to try); None when it does not.
    pub fn payload_read(&self) -> Option<usize> {
        (self.app != AppKind::None && self.payload.1 > 0).then_some(self.payload.0 as usize)
    }

    /// The packet again, borrowing `frame`: the frame it was decoded from, or a copy of it.
    /// None if `frame` is shorter than that one was.
    // Inlined, and built in one expression: a packet finished through a reference to it was
    // built on this function's stack and copied out (176 bytes a packet, in every shard).
    #[inline]
    pub fn packet<'b>(&self, frame: &'b [u8]) -> Option<Packet<'b>> {
        let (start, len) = (self.payload.0 as usize, self.payload.1 as usize);
        let payload = frame.get(start..start.checked_add(len)?)?;
        Some(Packet {
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            vlan: self.vlan,
            net: self.net,
            transport: self.transport,
            payload,
            app: packet::app_of(&self.transport, payload, self.app),
            stop: self.stop,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::packet::App;
    use crate::LinkType;

    /// Both ways of decoding, put back together from their layouts on a copy, give the
    /// packet a full decode gives.
    fn round_trip(frame: &[u8]) {
        let packet = crate::decode(LinkType::Ethernet, frame);
        let copy = frame.to_vec();
        for apps in [Apps::All, Apps::Alerts] {
            let decoded = packet::decode_apps(LinkType::Ethernet, frame, apps);
            let layout = Layout::of(&decoded, frame, apps).unwrap();
            let again = layout.packet(&copy).unwrap();
            assert_eq!(format!("{again:?}"), format!("{packet:?}"), "{apps:?}");
        }
    }

    fn tcp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(src_port, dst_port, 1, 1000)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    #[test]
    fn what_the_alerts_decode_skips_is_found_when_put_back_together() {
        let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03];
        let frames = [
            tcp(50000, 443, &hello),
            tcp(80, 50000, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            tcp(
                50000,
                80,
                b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n\r\n",
            ),
            tcp(22, 50000, b"SSH-2.0-OpenSSH_9.6\r\n"),
            tcp(21, 50000, b"220 ready\r\n"),
            tcp(50000, 21, b"USER anonymous\r\n"),
            tcp(23, 50000, b"SSH-2.0-x\r\nPassword: "),
            tcp(50000, 443, b"\x17\x03\x03\x00\x02ab"),
            tcp(50000, 443, b"binary \x00\x01 data"),
        ];
        let full: Vec<AppKind> = frames
            .iter()
            .map(|f| crate::decode(LinkType::Ethernet, f).app.kind())
            .collect();
        use AppKind::*;
        assert_eq!(
            full,
            [Tls, Http, Http, Ssh, FtpReply, Ftp, Ssh, Tls, None],
            "the frames cover every parser"
        );
        for frame in &frames {
            round_trip(frame);
        }
        // What the detectors read is there already.
        let get = &frames[2];
        let lite = packet::decode_apps(LinkType::Ethernet, get, Apps::Alerts);
        assert!(matches!(lite.app, App::Http(_)));
        let telnet = &frames[6];
        let lite = packet::decode_apps(LinkType::Ethernet, telnet, Apps::Alerts);
        assert!(
            matches!(lite.app, App::Ssh(_)),
            "Telnet's port is examined fully"
        );
        let hello = packet::decode_apps(LinkType::Ethernet, &frames[0], Apps::Alerts);
        assert!(matches!(hello.app, App::None), "TLS is left for later");
    }

    fn udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([192, 168, 1, 2], [8, 8, 8, 8], 64)
            .udp(49153, dst_port)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    #[test]
    fn a_dns_query_comes_back_whole() {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
        let frame = udp(53, &q);
        assert!(matches!(
            crate::decode(LinkType::Ethernet, &frame).app,
            App::Dns(_)
        ));
        round_trip(&frame);
    }

    #[test]
    fn a_frame_without_payload_comes_back_whole() {
        round_trip(&udp(9999, &[]));
        round_trip(&[0u8; 10]);
    }

    #[test]
    fn a_shorter_frame_is_refused() {
        let frame = udp(9999, b"hello");
        let packet = crate::decode(LinkType::Ethernet, &frame);
        let layout = Layout::of(&packet, &frame, Apps::All).unwrap();
        assert!(layout.packet(&frame[..frame.len() - 1]).is_none());
    }

    #[test]
    fn a_payload_outside_the_frame_gives_no_layout() {
        let frame = udp(9999, b"hello");
        let elsewhere = udp(9999, b"hello");
        let packet = crate::decode(LinkType::Ethernet, &elsewhere);
        assert!(Layout::of(&packet, &frame, Apps::All).is_none());
    }
}
