//! TLS record classification and ClientHello scanning (RFC 8446, RFC 5246) for the first
//! record of a TCP payload: what kind of record it is, and for a ClientHello the server name
//! (SNI, RFC 6066 §3) and first ALPN protocol (RFC 7301 §3.1).
//!
//! Hand-written because `tls-parser` builds `Vec`s of extensions and cipher suites.
//!
//! Invariants:
//! - Never panics on any byte slice; no heap allocation; returned strings borrow the payload and
//!   are printable ASCII.
//! - Work is linear in the bytes of the first record that are present; extensions are walked
//!   once, each step consuming at least 4 bytes.
//! - Only lengths that are consistent with their enclosing length are trusted: a field that
//!   claims more than its container is malformed and ends the walk; a field that runs past the
//!   end of the bytes we have is a cut segment and sets `incomplete`. Values (SNI, ALPN) are only
//!   reported when their extension is entirely present.

use crate::bytes::{be16, be24};

/// Record header: type, version, length (RFC 8446 §5.1).
const RECORD_HEADER_LEN: usize = 5;
/// TLSPlaintext.length must not exceed 2^14; TLSCiphertext may add up to 2048 (RFC 5246
/// §6.2.3; RFC 8446 §5.2 allows 2^14 + 256).
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Handshake header: msg_type, 24-bit length (RFC 8446 §4).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// client_version / server_version plus the 32-byte random.
const VERSION_AND_RANDOM_LEN: usize = 2 + 32;
/// legacy_session_id is `opaque <0..32>` (RFC 8446 §4.1.2).
const MAX_SESSION_ID_LEN: usize = 32;

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
const CONTENT_HEARTBEAT: u8 = 24;

const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
/// NameType host_name (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Record content type, with handshakes split into the hellos and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsKind {
    ClientHello,
    ServerHello,
    /// Any other handshake message (or one whose type byte is not in this segment).
    Handshake,
    ChangeCipherSpec,
    Alert,
    ApplicationData,
    Heartbeat,
}

/// What a monitor shows about the first TLS record of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSummary<'a> {
    pub kind: TlsKind,
    /// From the record header (0x0300..=0x0304).
    pub record_version: u16,
    /// server_name host_name (RFC 6066 §3), printable ASCII only; ClientHello only.
    pub sni: Option<&'a str>,
    /// First protocol of the ALPN extension (RFC 7301), printable ASCII only. From a ClientHello,
    /// or from a TLS 1.2 ServerHello (the selected protocol; TLS 1.3 encrypts it).
    pub alpn: Option<&'a str>,
    /// The ClientHello continues past this payload (record or handshake length larger than the
    /// bytes present, or the handshake spans records).
    pub incomplete: bool,
}

/// A printable-ASCII, non-empty string (SNI host names are ASCII, RFC 6066 §3; ALPN ids are
/// usually ASCII tokens such as "h2").
fn printable(b: &[u8]) -> Option<&str> {
    if b.is_empty() || !b.iter().all(|c| (0x21..=0x7E).contains(c)) {
        return None;
    }
    core::str::from_utf8(b).ok()
}

/// Reads a length-prefixed vector at `pos`: the length field is `width` bytes (1 or 2). Returns
/// (start of contents, end of contents).
fn vector(b: &[u8], pos: usize, width: usize) -> Option<(usize, usize)> {
    let len = match width {
        1 => usize::from(*b.get(pos)?),
        _ => usize::from(be16(b, pos)?),
    };
    let start = pos + width;
    Some((start, start + len))
}

/// Result of scanning hello extensions.
#[derive(Default)]
struct Found<'a> {
    sni: Option<&'a str>,
    alpn: Option<&'a str>,
}

/// server_name extension body (RFC 6066 §3): ServerNameList of (NameType, HostName<1..2^16-1>).
fn server_name(ext: &[u8]) -> Option<&str> {
    let (list, list_end) = vector(ext, 0, 2)?;
    let list = ext.get(list..list_end)?;
    let mut pos = 0;
    // Each entry is at least 3 bytes, so this loop is bounded by the extension size.
    while pos < list.len() {
        let name_type = *list.get(pos)?;
        let (start, end) = vector(list, pos + 1, 2)?;
        let name = list.get(start..end)?;
        if name_type == NAME_TYPE_HOST_NAME {
            return printable(name);
        }
        pos = end;
    }
    None
}

/// ALPN extension body (RFC 7301 §3.1): ProtocolNameList of ProtocolName<1..2^8-1>; first entry.
fn first_alpn(ext: &[u8]) -> Option<&str> {
    let (list, list_end) = vector(ext, 0, 2)?;
    let list = ext.get(list..list_end)?;
    let (start, end) = vector(list, 0, 1)?;
    printable(list.get(start..end)?)
}

/// Walks the extensions block (`Extension extensions<..2^16-1>`, RFC 8446 §4.2) that starts at
/// `pos` in `body` (`body` ends where the hello or the bytes we have end). Stops at the first
/// extension that runs past the block or the bytes present.
fn walk_extensions(body: &[u8], pos: usize, want_sni: bool) -> Found<'_> {
    let mut found = Found::default();
    let Some(declared) = be16(body, pos) else {
        return found;
    };
    let start = pos + 2;
    let end = start + usize::from(declared);
    // Cut by the segment end: walk what is there.
    let block = body.get(start..end.min(body.len())).unwrap_or(&[]);
    let mut at = 0;
    while let (Some(ext_type), Some((data_start, data_end))) =
        (be16(block, at), vector(block, at + 2, 2))
    {
        let Some(data) = block.get(data_start..data_end) else {
            break; // runs past the block: cut (or malformed), either way nothing more to read.
        };
        match ext_type {
            EXT_SERVER_NAME if want_sni && found.sni.is_none() => found.sni = server_name(data),
            EXT_ALPN if found.alpn.is_none() => found.alpn = first_alpn(data),
            _ => {}
        }
        at = data_end;
    }
    found
}

/// Offset of the extensions block in a ClientHello body (RFC 8446 §4.1.2), or None if the fixed
/// fields are malformed or cut.
fn client_hello_extensions(body: &[u8]) -> Option<usize> {
    let pos = VERSION_AND_RANDOM_LEN;
    let (sid, sid_end) = vector(body, pos, 1)?;
    if sid_end - sid > MAX_SESSION_ID_LEN {
        return None;
    }
    let (suites, suites_end) = vector(body, sid_end, 2)?;
    // cipher_suites<2..2^16-2>: a non-empty list of 2-byte values.
    let suites_len = suites_end - suites;
    if suites_len == 0 || suites_len % 2 != 0 {
        return None;
    }
    let (comp, comp_end) = vector(body, suites_end, 1)?;
    // legacy_compression_methods<1..2^8-1>.
    if comp_end == comp || comp_end > body.len() {
        return None;
    }
    Some(comp_end)
}

/// Offset of the extensions block in a ServerHello body (RFC 5246 §7.4.1.3).
fn server_hello_extensions(body: &[u8]) -> Option<usize> {
    let (sid, sid_end) = vector(body, VERSION_AND_RANDOM_LEN, 1)?;
    if sid_end - sid > MAX_SESSION_ID_LEN {
        return None;
    }
    // cipher_suite (2) + compression_method (1).
    let end = sid_end + 3;
    (end <= body.len()).then_some(end)
}

/// Parses the first TLS record in a TCP payload. Quick reject: content type 20..=24, version
/// major 3, minor 0..=4, record length <= 2^14 + 2048. For a ClientHello, walks the handshake
/// header, client version, random, session id, cipher suites, compression methods and
/// extensions, and extracts SNI/ALPN from what is present (a cut ClientHello reports what could
/// be read, with `incomplete` set).
pub fn parse(payload: &[u8]) -> Option<TlsSummary<'_>> {
    let content_type = *payload.first()?;
    let record_version = be16(payload, 1)?;
    let record_len = usize::from(be16(payload, 3)?);
    if !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&content_type)
        || !(0x0300..=0x0304).contains(&record_version)
        || record_len > MAX_RECORD_LEN
    {
        return None;
    }
    let mut summary = TlsSummary {
        kind: TlsKind::Handshake,
        record_version,
        sni: None,
        alpn: None,
        incomplete: false,
    };
    summary.kind = match content_type {
        CONTENT_CHANGE_CIPHER_SPEC => TlsKind::ChangeCipherSpec,
        CONTENT_ALERT => TlsKind::Alert,
        CONTENT_APPLICATION_DATA => TlsKind::ApplicationData,
        CONTENT_HEARTBEAT => TlsKind::Heartbeat,
        _ => TlsKind::Handshake,
    };
    if content_type != CONTENT_HANDSHAKE {
        return Some(summary);
    }

    // The fragment of this record that this payload holds.
    let present = payload.len().saturating_sub(RECORD_HEADER_LEN);
    let fragment = payload
        .get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + record_len.min(present))
        .unwrap_or(&[]);
    let hs_type = fragment.first().copied();
    match hs_type {
        Some(HANDSHAKE_CLIENT_HELLO) => summary.kind = TlsKind::ClientHello,
        Some(HANDSHAKE_SERVER_HELLO) => summary.kind = TlsKind::ServerHello,
        _ => return Some(summary),
    }
    let hs_len = be24(fragment, 1);
    // The hello body: bounded by its own length and by the bytes of this record we hold.
    let after_header = fragment.get(HANDSHAKE_HEADER_LEN..).unwrap_or(&[]);
    let body = match hs_len {
        Some(len) => after_header.get(..len).unwrap_or(after_header),
        None => &[],
    };

    if summary.kind == TlsKind::ClientHello {
        // Incomplete when the handshake message has bytes beyond what we hold: either the
        // segment was cut or the message spans several records (RFC 8446 §5.1 allows that).
        summary.incomplete = match hs_len {
            Some(len) => body.len() < len,
            None => true,
        };
        if let Some(ext) = client_hello_extensions(body) {
            let found = walk_extensions(body, ext, true);
            summary.sni = found.sni;
            summary.alpn = found.alpn;
        }
    } else if let Some(ext) = server_hello_extensions(body) {
        summary.alpn = walk_extensions(body, ext, false).alpn;
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A TLS 1.3 ClientHello as a browser sends it (trimmed): record 1.0, session id, four
    /// suites, GREASE, supported_versions, SNI example.com, ALPN h2 + http/1.1, supported_groups.
    const CLIENT_HELLO: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0x8e, // record: handshake, TLS 1.0, 142
        0x01, 0x00, 0x00, 0x8a, // ClientHello, 138
        0x03, 0x03, // client_version TLS 1.2
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
        0x1e, 0x1f, // random
        0x20, // session id: 32 bytes
        0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee,
        0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
        0xfe, 0xff, //
        0x00, 0x08, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2f, // cipher suites
        0x01, 0x00, // compression: null
        0x00, 0x39, // extensions: 57
        0x0a, 0x0a, 0x00, 0x00, // GREASE, empty
        0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04, // supported_versions: TLS 1.3
        0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x00, 0x0b, // server_name
        b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm', //
        0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, b'h', b'2', 0x08, b'h', b't', b't', b'p', b'/',
        b'1', b'.', b'1', // ALPN
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, // supported_groups: x25519
    ];

    /// TLS 1.2 ServerHello selecting ECDHE-RSA-AES128-GCM-SHA256 and ALPN h2.
    const SERVER_HELLO: &[u8] = &[
        0x16, 0x03, 0x03, 0x00, 0x3a, // record: handshake, TLS 1.2, 58
        0x02, 0x00, 0x00, 0x36, // ServerHello, 54
        0x03, 0x03, //
        0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e,
        0x5f, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
        0x6e, 0x6f, // random
        0x00, // no session id
        0xc0, 0x2f, 0x00, // suite, compression
        0x00, 0x0e, // extensions: 14
        0xff, 0x01, 0x00, 0x01, 0x00, // renegotiation_info
        0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, b'h', b'2', // ALPN h2
    ];

    #[test]
    fn fixtures_are_self_consistent() {
        for rec in [CLIENT_HELLO, SERVER_HELLO] {
            assert_eq!(usize::from(be16(rec, 3).unwrap()), rec.len() - 5);
            assert_eq!(be24(rec, 6).unwrap(), rec.len() - 9);
        }
    }

    #[test]
    fn client_hello() {
        let s = parse(CLIENT_HELLO).unwrap();
        assert_eq!(
            s,
            TlsSummary {
                kind: TlsKind::ClientHello,
                record_version: 0x0301,
                sni: Some("example.com"),
                alpn: Some("h2"),
                incomplete: false,
            }
        );
    }

    #[test]
    fn server_hello() {
        let s = parse(SERVER_HELLO).unwrap();
        assert_eq!(s.kind, TlsKind::ServerHello);
        assert_eq!(s.record_version, 0x0303);
        assert_eq!(s.sni, None);
        assert_eq!(s.alpn, Some("h2"));
        assert!(!s.incomplete);
    }

    #[test]
    fn other_records() {
        let k = |b: &[u8]| parse(b).map(|s| s.kind);
        assert_eq!(
            k(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]),
            Some(TlsKind::ApplicationData)
        );
        assert_eq!(
            k(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
            Some(TlsKind::Alert)
        );
        assert_eq!(
            k(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]),
            Some(TlsKind::ChangeCipherSpec)
        );
        assert_eq!(
            k(&[0x18, 0x03, 0x02, 0x00, 0x03, 1, 0, 0]),
            Some(TlsKind::Heartbeat)
        );
        // Certificate message.
        assert_eq!(
            k(&[0x16, 0x03, 0x03, 0x00, 0x04, 0x0b, 0x00, 0x00, 0x00]),
            Some(TlsKind::Handshake)
        );
        // Header only: a handshake of unknown type.
        assert_eq!(k(&[0x16, 0x03, 0x03, 0x40, 0x00]), Some(TlsKind::Handshake));
        // Application data record longer than the segment: fine.
        assert_eq!(
            k(&[0x17, 0x03, 0x03, 0x40, 0x00, 1, 2]),
            Some(TlsKind::ApplicationData)
        );
    }

    #[test]
    fn quick_reject() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x16, 0x03, 0x01, 0x00]), None);
        assert_eq!(parse(&[0x19, 0x03, 0x03, 0x00, 0x01, 0]), None);
        assert_eq!(parse(&[0x13, 0x03, 0x03, 0x00, 0x01, 0]), None);
        assert_eq!(parse(&[0x16, 0x03, 0x05, 0x00, 0x01, 1]), None);
        assert_eq!(parse(&[0x16, 0x02, 0x00, 0x00, 0x01, 1]), None);
        assert_eq!(parse(&[0x17, 0x03, 0x03, 0xff, 0xff, 0]), None);
        // SSLv2-compatible ClientHello.
        assert_eq!(parse(&[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15]), None);
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn cut_client_hello() {
        let sni_end = CLIENT_HELLO
            .windows(11)
            .position(|w| w == b"example.com")
            .unwrap()
            + 11;
        for n in 5..CLIENT_HELLO.len() {
            let s = parse(&CLIENT_HELLO[..n]).unwrap();
            if n == 5 {
                assert_eq!(s.kind, TlsKind::Handshake);
                continue;
            }
            assert_eq!(s.kind, TlsKind::ClientHello);
            assert!(s.incomplete, "prefix {n}");
            assert_eq!(s.sni.is_some(), n >= sni_end, "prefix {n}");
            if let Some(sni) = s.sni {
                assert_eq!(sni, "example.com");
            }
            // ALPN only once its whole extension is there.
            if let Some(alpn) = s.alpn {
                assert_eq!(alpn, "h2");
                assert!(n >= sni_end + 18);
            }
        }
    }

    #[test]
    fn handshake_spanning_records() {
        // Record says 20 bytes, handshake says 138: the rest is in the next record.
        let mut rec = CLIENT_HELLO[..25].to_vec();
        rec[3] = 0;
        rec[4] = 20;
        let s = parse(&rec).unwrap();
        assert_eq!(s.kind, TlsKind::ClientHello);
        assert!(s.incomplete);
        assert_eq!(s.sni, None);
    }

    #[test]
    fn client_hello_without_extensions() {
        // TLS 1.0 style: no extensions block at all.
        let mut rec = vec![
            0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x01,
        ];
        rec.extend_from_slice(&[0x42; 32]);
        rec.extend_from_slice(&[0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]);
        let s = parse(&rec).unwrap();
        assert_eq!(s.kind, TlsKind::ClientHello);
        assert!(!s.incomplete);
        assert_eq!(s.sni, None);
        assert_eq!(s.alpn, None);
    }

    /// Offsets into CLIENT_HELLO.
    const SID_LEN: usize = 43;
    const SUITES_LEN: usize = 76;
    const SNI_EXT: usize = 101;

    #[test]
    fn hostile_client_hellos() {
        assert_eq!(CLIENT_HELLO[SID_LEN], 0x20);
        assert_eq!(CLIENT_HELLO[SUITES_LEN + 1], 0x08);
        assert_eq!(&CLIENT_HELLO[SNI_EXT..SNI_EXT + 2], &[0x00, 0x00]);
        assert_eq!(CLIENT_HELLO[SNI_EXT + 9], b'e');

        /// Owned view of a summary, so the mutated buffer can be dropped.
        struct Seen {
            kind: TlsKind,
            sni: Option<String>,
            alpn: Option<String>,
            incomplete: bool,
        }
        let mutate = |at: usize, v: u8| {
            let mut m = CLIENT_HELLO.to_vec();
            m[at] = v;
            let s = parse(&m).unwrap();
            Seen {
                kind: s.kind,
                sni: s.sni.map(String::from),
                alpn: s.alpn.map(String::from),
                incomplete: s.incomplete,
            }
        };
        // Session id longer than 32.
        let s = mutate(SID_LEN, 0xff);
        assert_eq!((s.kind, s.sni), (TlsKind::ClientHello, None));
        // Odd cipher suite length.
        assert_eq!(mutate(SUITES_LEN + 1, 0x07).sni, None);
        // Cipher suite length running past the hello.
        assert_eq!(mutate(SUITES_LEN, 0xff).sni, None);
        // Extension length claiming far more than the block.
        assert_eq!(mutate(SNI_EXT + 2, 0xff).sni, None);
        // Server name list length larger than the extension.
        assert_eq!(mutate(SNI_EXT + 5, 0x40).sni, None);
        // Host name length larger than the list.
        assert_eq!(mutate(SNI_EXT + 8, 0x40).sni, None);
        // Non-printable host name byte.
        assert_eq!(mutate(SNI_EXT + 9, 0x07).sni, None);
        assert_eq!(mutate(SNI_EXT + 9, 0xc3).sni, None);
        // Name type other than host_name.
        assert_eq!(mutate(SNI_EXT + 6, 0x01).sni, None);
        // Empty first ALPN protocol; the SNI is unaffected.
        let s = mutate(SNI_EXT + 20 + 6, 0x00);
        assert_eq!(s.alpn, None);
        assert_eq!(s.sni.as_deref(), Some("example.com"));
        // Handshake length absurdly large: incomplete, still scanned.
        let s = mutate(6, 0xff);
        assert!(s.incomplete);
        assert_eq!(s.sni.as_deref(), Some("example.com"));
    }

    /// A ClientHello whose extensions are `n` empty GREASE extensions followed by server_name,
    /// in one handshake message; the record header claims `record_len`.
    fn hello_with_tiny_extensions(n: usize, record_len: u16) -> Vec<u8> {
        let mut ext = Vec::new();
        for _ in 0..n {
            ext.extend_from_slice(&[0x0a, 0x0a, 0x00, 0x00]);
        }
        ext.extend_from_slice(&[0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x01, b'x']);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]); // suites, compression
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut m = vec![0x16, 0x03, 0x01];
        m.extend_from_slice(&record_len.to_be_bytes());
        m.push(HANDSHAKE_CLIENT_HELLO);
        m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        m.extend_from_slice(&body);
        m
    }

    /// 10 000 tiny extensions (40 KB, more than one record may hold): the walk is bounded by the
    /// record, and is linear, so a record full of them (4 000) is still walked to the SNI.
    #[test]
    fn ten_thousand_tiny_extensions() {
        // All of it in the payload, but the record claims its maximum: what lies past the
        // record is not read, the hello is reported incomplete, without an SNI.
        let m = hello_with_tiny_extensions(10_000, MAX_RECORD_LEN as u16);
        assert!(m.len() > 40_000);
        let s = parse(&m).unwrap();
        assert_eq!(s.kind, TlsKind::ClientHello);
        assert!(s.incomplete);
        assert_eq!(s.sni, None);
        // A record over the maximum length is not TLS at all.
        assert!(parse(&hello_with_tiny_extensions(
            10_000,
            MAX_RECORD_LEN as u16 + 1
        ))
        .is_none());
        // 4 000 of them fit in one record: every one is stepped over and the SNI after them found.
        let m = hello_with_tiny_extensions(4_000, 0);
        let len = (m.len() - RECORD_HEADER_LEN) as u16;
        let mut m = m;
        m[3..5].copy_from_slice(&len.to_be_bytes());
        let s = parse(&m).unwrap();
        assert!(!s.incomplete);
        assert_eq!(s.sni, Some("x"));
    }

    #[test]
    fn every_prefix() {
        for rec in [CLIENT_HELLO, SERVER_HELLO] {
            for n in 0..=rec.len() {
                let _ = parse(&rec[..n]);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0xdead_beef_cafe_f00d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let buf: Vec<u8> = if round % 2 == 0 {
                let mut m = CLIENT_HELLO.to_vec();
                for _ in 0..(next() % 8 + 1) {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
                m.truncate((next() as usize) % (m.len() + 1));
                m
            } else {
                let len = (next() % 300) as usize;
                let mut m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if m.len() >= 3 {
                    m[0] = 0x16;
                    m[1] = 0x03;
                    m[2] = 0x03;
                }
                m
            };
            if let Some(s) = parse(&buf) {
                for v in [s.sni, s.alpn].into_iter().flatten() {
                    assert!(v.bytes().all(|c| c.is_ascii_graphic()));
                }
            }
        }
    }
}
