//! TLS ClientHellos that span several packets: TCP segments, or the CRYPTO frames of QUIC
//! Initial packets. A large hello (post-quantum key shares, many extensions, ECH) no longer fits
//! one packet, and the server name may sit in the second. The client's first bytes are kept per
//! flow, up to a bound, until the hello parses complete; then the buffer is dropped.
//!
//! Bounded: at most [`MAX_PENDING`] flows at once per transport (the oldest is given up) and
//! [`MAX_BYTES`] per flow. TCP: only in-order segments are appended; a gap (a lost or reordered
//! segment) gives up on the flow rather than guessing, and a retransmission of bytes already
//! held is ignored. QUIC: CRYPTO frames carry their offset, so they are placed where they
//! belong, in any order, as long as they fall inside the bound.

use wire::tls::{self, TlsKind};

use super::flow::FlowKey;
use super::lru::LruMap;
use super::quic;

/// A hello is one handshake message of at most 2^24 bytes, but real ones stay well under one
/// TLS record (2^14 bytes) plus its header; more than that is not worth holding.
pub const MAX_BYTES: usize = (1 << 14) + 5;
/// Flows whose hello is being gathered at once.
pub const MAX_PENDING: usize = 4096;

struct Pending {
    /// Sequence number the next in-order client byte will carry.
    next_seq: u32,
    bytes: Vec<u8>,
}

/// A QUIC Initial crypto stream being gathered: bytes at their offsets, and which ranges of
/// them have arrived.
#[derive(Default)]
struct CryptoStream {
    bytes: Vec<u8>,
    /// Received `[start, end)` ranges, merged, sorted; few (a hello comes in a handful of frames).
    have: Vec<(usize, usize)>,
}

/// Most separate ranges kept per stream: more means hostile fragmentation; give up.
const MAX_RANGES: usize = 64;

impl CryptoStream {
    fn put(&mut self, offset: u64, data: &[u8]) -> bool {
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        let Some(end) = start.checked_add(data.len()).filter(|e| *e <= MAX_BYTES) else {
            return false;
        };
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[start..end].copy_from_slice(data);
        self.have.push((start, end));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
        self.have.len() <= MAX_RANGES
    }

    /// The bytes received without a gap from offset 0.
    fn prefix(&self) -> &[u8] {
        match self.have.first() {
            Some(&(0, end)) => self.bytes.get(..end).unwrap_or(&[]),
            _ => &[],
        }
    }
}

#[derive(Default)]
pub struct Hellos {
    pending: LruMap<FlowKey, Pending>,
    quic: LruMap<FlowKey, CryptoStream>,
    /// Hellos whose name was found across segments.
    pub completed: u64,
    /// Hellos given up (gap, too large, or pushed out by newer ones).
    pub abandoned: u64,
}

/// What to do with a client segment of a flow that has no name yet.
pub enum Step {
    /// Nothing gathered for this flow.
    None,
    /// Still gathering.
    More,
    /// The hello is complete: its server name, if it had one.
    Done(Option<Box<str>>),
}

impl Hellos {
    /// Starts gathering a hello whose first segment (at `seq`) ends before the hello does.
    pub fn start(&mut self, key: FlowKey, seq: u32, payload: &[u8]) {
        if self.pending.len() >= MAX_PENDING && self.pending.pop_oldest().is_some() {
            self.abandoned += 1;
        }
        let mut bytes = Vec::with_capacity(payload.len().saturating_mul(2).min(MAX_BYTES));
        bytes.extend_from_slice(payload.get(..MAX_BYTES).unwrap_or(payload));
        self.pending.insert(
            key,
            Pending {
                next_seq: seq.wrapping_add(payload.len() as u32),
                bytes,
            },
        );
    }

    /// A later client segment of flow `key`, carrying `payload` at `seq`.
    pub fn segment(&mut self, key: &FlowKey, seq: u32, payload: &[u8]) -> Step {
        let Some(p) = self.pending.touch(key) else {
            return Step::None;
        };
        // Sequence arithmetic modulo 2^32 (RFC 9293 §3.4).
        let ahead = seq.wrapping_sub(p.next_seq) as i32;
        if ahead < 0 {
            // Bytes we hold already (a retransmission), possibly with new ones after them.
            let overlap = (-(ahead as i64)) as usize;
            if overlap >= payload.len() {
                return Step::More;
            }
            return self.append(key, &payload[overlap..]);
        }
        if ahead > 0 {
            self.give_up(key);
            return Step::Done(None);
        }
        self.append(key, payload)
    }

    fn append(&mut self, key: &FlowKey, payload: &[u8]) -> Step {
        let Some(p) = self.pending.touch(key) else {
            return Step::None;
        };
        let room = MAX_BYTES.saturating_sub(p.bytes.len());
        if room == 0 {
            self.give_up(key);
            return Step::Done(None);
        }
        let take = payload.get(..room).unwrap_or(payload);
        p.bytes.extend_from_slice(take);
        p.next_seq = p.next_seq.wrapping_add(take.len() as u32);
        let done = match tls::parse(&p.bytes) {
            Some(s) if s.kind == TlsKind::ClientHello => {
                if s.sni.is_some() || !s.incomplete {
                    Some(s.sni.map(Box::from))
                } else {
                    None
                }
            }
            // The gathered bytes are not a hello after all.
            _ => Some(None),
        };
        match done {
            Some(name) => {
                self.pending.remove(key);
                if name.is_some() {
                    self.completed += 1;
                } else {
                    self.abandoned += 1;
                }
                Step::Done(name)
            }
            None if p.bytes.len() >= MAX_BYTES => {
                self.give_up(key);
                Step::Done(None)
            }
            None => Step::More,
        }
    }

    /// A client datagram of QUIC flow `key` that looks like an Initial: opens it and gathers
    /// its CRYPTO frames. `Step::None` when it could not be opened (not QUIC after all, or not
    /// from a client) and nothing is being gathered.
    pub fn quic_datagram(&mut self, key: &FlowKey, datagram: &[u8]) -> Step {
        let mut fits = true;
        let mut stream = self.quic.remove(key).unwrap_or_default();
        let opened = quic::open_initials(datagram, &mut |chunk| {
            fits &= stream.put(chunk.offset, chunk.data);
        });
        if opened == 0 && stream.have.is_empty() {
            return Step::None;
        }
        if !fits {
            self.abandoned += 1;
            return Step::Done(None);
        }
        // The crypto stream holds bare handshake messages; give the parser its record header.
        let prefix = stream.prefix();
        let mut record = Vec::with_capacity(prefix.len() + 5);
        let len = prefix.len().min(usize::from(u16::MAX)) as u16;
        record.extend_from_slice(&[0x16, 0x03, 0x01]);
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(prefix);
        let done = match tls::parse(&record) {
            Some(s) if s.kind == TlsKind::ClientHello => {
                (s.sni.is_some() || !s.incomplete).then(|| s.sni.map(Box::from))
            }
            // Nothing from offset 0 yet (frames came out of order): keep gathering.
            _ if prefix.is_empty() => None,
            _ => Some(None),
        };
        match done {
            Some(name) => {
                if name.is_some() {
                    self.completed += 1;
                } else {
                    self.abandoned += 1;
                }
                Step::Done(name)
            }
            None => {
                if self.quic.len() >= MAX_PENDING && self.quic.pop_oldest().is_some() {
                    self.abandoned += 1;
                }
                self.quic.insert(*key, stream);
                Step::More
            }
        }
    }

    /// Forgets the flow (it ended, or its hello cannot be completed).
    pub fn give_up(&mut self, key: &FlowKey) {
        if self.pending.remove(key).is_some() || self.quic.remove(key).is_some() {
            self.abandoned += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len() + self.quic.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.quic.is_empty()
    }
}
