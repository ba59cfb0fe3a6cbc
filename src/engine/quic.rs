//! QUIC Initial packets (RFC 9000 §17.2.2, RFC 9001 §5; QUIC v2, RFC 9369): their protection
//! uses keys derived from the client's Destination Connection ID with a published salt, so a
//! passive observer can remove it — as Wireshark does — and read the CRYPTO frames that carry
//! the TLS ClientHello, with its server name.
//!
//! Only client Initials are opened, a few per flow (the engine decides), each at most one
//! datagram (≤ 64 KiB) copied once. A packet that fails authentication (not really QUIC, or
//! corrupted) yields nothing. Never panics on any input.

use std::sync::OnceLock;

use ring::aead::{self, quic, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{KeyType, Prk, Salt, HKDF_SHA256};
use wire::bytes::be32;

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;
/// RFC 9001 §5.2.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const MAX_CID: usize = 20;
/// The header-protection sample starts 4 bytes after the packet number's start and is 16 long.
const SAMPLE_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// A CRYPTO frame's bytes at their offset in the Initial crypto stream.
pub struct CryptoChunk<'a> {
    pub offset: u64,
    pub data: &'a [u8],
}

/// Whether `datagram` starts like a QUIC long-header Initial of a version we can open (cheap
/// test before any work).
pub fn looks_like_initial(datagram: &[u8]) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    let Some(version) = be32(datagram, 1) else {
        return false;
    };
    first & 0xC0 == 0xC0 && initial_type(version) == Some((first >> 4) & 0x03)
}

/// Opens every client Initial packet in `datagram` (a datagram may coalesce several QUIC
/// packets) and hands each CRYPTO frame to `sink`. Returns how many Initials were opened.
pub fn open_initials(datagram: &[u8], sink: &mut dyn FnMut(CryptoChunk<'_>)) -> usize {
    let mut opened = 0;
    let mut rest = datagram;
    // Each packet consumes at least its header; a bound keeps hostile input linear anyway.
    for _ in 0..16 {
        let Some(first) = rest.first().copied() else {
            break;
        };
        if first & 0x80 == 0 {
            break; // a short header runs to the end of the datagram
        }
        let Some(header) = LongHeader::parse(rest) else {
            break;
        };
        if header.is_initial {
            let packet = rest.get(..header.end).unwrap_or(rest);
            if let Some(plain) = unprotect(packet, &header) {
                opened += 1;
                crypto_frames(&plain, sink);
            }
        }
        rest = rest.get(header.end..).unwrap_or(&[]);
    }
    opened
}

struct LongHeader<'a> {
    version: u32,
    is_initial: bool,
    dcid: &'a [u8],
    /// Where the (protected) packet number starts.
    pn_offset: usize,
    /// End of this packet in the datagram.
    end: usize,
}

impl<'a> LongHeader<'a> {
    fn parse(b: &'a [u8]) -> Option<Self> {
        let first = *b.first()?;
        let version = be32(b, 1)?;
        let mut at = 5;
        let dcid_len = usize::from(*b.get(at)?);
        if dcid_len > MAX_CID {
            return None;
        }
        let dcid = b.get(at + 1..at + 1 + dcid_len)?;
        at += 1 + dcid_len;
        let scid_len = usize::from(*b.get(at)?);
        if scid_len > MAX_CID {
            return None;
        }
        at += 1 + scid_len;
        let ptype = (first >> 4) & 0x03;
        let is_initial = initial_type(version) == Some(ptype);
        let is_retry = match version {
            V1 => ptype == 3,
            V2 => ptype == 0,
            _ => return None,
        };
        if is_retry {
            return None; // a Retry has no length field and runs to the end
        }
        if is_initial {
            let (token_len, n) = varint(b.get(at..)?)?;
            at = at
                .checked_add(n)?
                .checked_add(usize::try_from(token_len).ok()?)?;
        }
        let (length, n) = varint(b.get(at..)?)?;
        at += n;
        let end = at.checked_add(usize::try_from(length).ok()?)?;
        if end > b.len() {
            return None;
        }
        Some(LongHeader {
            version,
            is_initial,
            dcid,
            pn_offset: at,
            end,
        })
    }
}

fn initial_type(version: u32) -> Option<u8> {
    match version {
        V1 => Some(0),
        V2 => Some(1),
        _ => None,
    }
}

/// Removes header protection and decrypts one client Initial packet; the plaintext payload.
fn unprotect(packet: &[u8], h: &LongHeader<'_>) -> Option<Vec<u8>> {
    let secret = ClientSecret::derive(h.version, h.dcid)?;
    let sample = packet.get(h.pn_offset + 4..h.pn_offset + 4 + SAMPLE_LEN)?;
    let mask = secret.header_protection()?.new_mask(sample).ok()?;
    let first = packet.first()? ^ (mask[0] & 0x0f);
    // The reserved bits must be 0 once protection is off (RFC 9000 §17.2): random bytes fail
    // here three times in four, before the packet key and IV are derived and the payload
    // decrypted.
    if first & 0x0c != 0 {
        return None;
    }
    let keys = secret.packet_keys()?;
    let mut header = packet.get(..h.pn_offset + 4)?.to_vec();
    header[0] = first;
    let pn_len = usize::from(header[0] & 0x03) + 1;
    let mut pn: u64 = 0;
    for i in 0..pn_len {
        let b = header.get_mut(h.pn_offset + i)?;
        *b ^= mask[1 + i];
        pn = (pn << 8) | u64::from(*b);
    }
    header.truncate(h.pn_offset + pn_len);
    let mut payload = packet.get(h.pn_offset + pn_len..)?.to_vec();
    if payload.len() < TAG_LEN {
        return None;
    }
    // Nonce: the IV with the packet number XORed into its low bytes (RFC 9001 §5.3).
    let mut nonce = keys.iv;
    for (i, byte) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= byte;
    }
    let plain = keys
        .key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            &mut payload,
        )
        .ok()?;
    let len = plain.len();
    payload.truncate(len);
    Some(payload)
}

/// A version's Initial salt, ready to extract with: ring computes the HMAC key of a salt when
/// it is made, which was an eighth of the hashing each Initial costs.
fn initial_salt(version: u32) -> Option<&'static Salt> {
    static SALTS: OnceLock<[Salt; 2]> = OnceLock::new();
    let [v1, v2] = SALTS.get_or_init(|| {
        [
            Salt::new(HKDF_SHA256, &SALT_V1),
            Salt::new(HKDF_SHA256, &SALT_V2),
        ]
    });
    match version {
        V1 => Some(v1),
        V2 => Some(v2),
        _ => None,
    }
}

/// The client's Initial secret (RFC 9001 §5.2), from which its keys are expanded one at a time:
/// the header-protection key first, since most packets that are not QUIC fail its check.
struct ClientSecret {
    prk: Prk,
    /// Labels of the packet key, IV and header-protection key.
    labels: [&'static [u8]; 3],
}

/// The packet protection keys of a client Initial.
struct PacketKeys {
    key: LessSafeKey,
    iv: [u8; 12],
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl ClientSecret {
    fn derive(version: u32, dcid: &[u8]) -> Option<ClientSecret> {
        let labels: [&'static [u8]; 3] = match version {
            V1 => [b"quic key", b"quic iv", b"quic hp"],
            V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
            _ => return None,
        };
        let initial = initial_salt(version)?.extract(dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, b"client in", &mut client)?;
        Some(ClientSecret {
            prk: Prk::new_less_safe(HKDF_SHA256, &client),
            labels,
        })
    }

    fn header_protection(&self) -> Option<quic::HeaderProtectionKey> {
        let mut hp = [0u8; 16];
        expand_label(&self.prk, self.labels[2], &mut hp)?;
        quic::HeaderProtectionKey::new(&quic::AES_128, &hp).ok()
    }

    fn packet_keys(&self) -> Option<PacketKeys> {
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        expand_label(&self.prk, self.labels[0], &mut key)?;
        expand_label(&self.prk, self.labels[1], &mut iv)?;
        Some(PacketKeys {
            key: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv,
        })
    }
}

/// TLS 1.3's HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len())).ok()?.fill(out).ok()
}

/// Walks the frames of a decrypted Initial: PADDING, PING, ACK and CRYPTO may appear there
/// (RFC 9000 §12.4); anything else ends the walk.
fn crypto_frames(mut b: &[u8], sink: &mut dyn FnMut(CryptoChunk<'_>)) {
    while let Some((kind, n)) = varint(b) {
        b = &b[n..];
        match kind {
            0x00 | 0x01 => {}
            0x02 | 0x03 => {
                // Largest acknowledged, delay, range count, first range, then the ranges.
                let mut fields = [0u64; 4];
                for f in &mut fields {
                    let Some((v, n)) = varint(b) else { return };
                    *f = v;
                    b = &b[n..];
                }
                let extra = if kind == 0x03 { 3 } else { 0 };
                let Some(more) = fields[2].checked_mul(2).and_then(|r| r.checked_add(extra)) else {
                    return;
                };
                for _ in 0..more.min(b.len() as u64) {
                    let Some((_, n)) = varint(b) else { return };
                    b = &b[n..];
                }
            }
            0x06 => {
                let Some((offset, n)) = varint(b) else { return };
                b = &b[n..];
                let Some((len, n)) = varint(b) else { return };
                b = &b[n..];
                let Some(data) = usize::try_from(len).ok().and_then(|l| b.get(..l)) else {
                    return;
                };
                sink(CryptoChunk { offset, data });
                b = &b[data.len()..];
            }
            _ => return,
        }
    }
}

/// A QUIC variable-length integer (RFC 9000 §16) and its size.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    Some((v, len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 9001 Appendix A.1: the keys derived from DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_client_keys() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let initial = Salt::new(HKDF_SHA256, &SALT_V1).extract(&dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, b"client in", &mut client).unwrap();
        assert_eq!(
            client[..4],
            [0xc0, 0x0c, 0xf1, 0x51],
            "client_initial_secret c00cf151ca5be075ed0ebfb5c80323c4..."
        );
        let prk = Prk::new_less_safe(HKDF_SHA256, &client);
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        let mut hp = [0u8; 16];
        expand_label(&prk, b"quic key", &mut key).unwrap();
        expand_label(&prk, b"quic iv", &mut iv).unwrap();
        expand_label(&prk, b"quic hp", &mut hp).unwrap();
        assert_eq!(key[..4], [0x1f, 0x36, 0x96, 0x13]);
        assert_eq!(iv[..4], [0xfa, 0x04, 0x4b, 0x2f]);
        assert_eq!(hp[..4], [0x9f, 0x50, 0x44, 0x9e]);
    }

    /// RFC 9001 Appendix A.2: the header-protection mask of the client Initial's sample, with
    /// the key expanded from the shared salt.
    #[test]
    fn rfc9001_header_protection_mask() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let sample = [
            0xd1, 0xb1, 0xc9, 0x8d, 0xd7, 0x68, 0x9f, 0xb8, 0xec, 0x11, 0xd2, 0x42, 0xb1, 0x23,
            0xdc, 0x9b,
        ];
        let secret = ClientSecret::derive(V1, &dcid).unwrap();
        let mask = secret
            .header_protection()
            .unwrap()
            .new_mask(&sample)
            .unwrap();
        assert_eq!(mask, [0x43, 0x7b, 0x9a, 0xec, 0x36]);
        assert!(
            ClientSecret::derive(0xff00_001d, &dcid).is_none(),
            "draft 29 is not opened"
        );
    }

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x25]), Some((37, 1)));
        assert_eq!(varint(&[0x7b, 0xbd]), Some((15293, 2)));
        assert_eq!(varint(&[0x9d, 0x7f, 0x3e, 0x7d]), Some((494_878_333, 4)));
        assert_eq!(
            varint(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]).map(|v| v.1),
            Some(8)
        );
        assert_eq!(varint(&[0x40]), None);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut state = 0x1234_5678u32;
        for len in 0..600 {
            let mut b: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            if let Some(f) = b.first_mut() {
                *f |= 0xC0;
            }
            if b.len() > 5 {
                b[1..5].copy_from_slice(&V1.to_be_bytes());
            }
            open_initials(&b, &mut |_| {});
            crypto_frames(&b, &mut |_| {});
        }
    }
}
