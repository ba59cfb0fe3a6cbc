//! DNS message summaries (RFC 1035) for UDP (DNS, mDNS RFC 6762, LLMNR RFC 4795) and TCP.
//!
//! Hand-written instead of `simple-dns`/`hickory-proto` because those allocate per name; here a
//! name is a [`DnsName`]: the message plus the offset where the name starts, decoded lazily
//! (following compression pointers) only when someone prints it.
//!
//! Invariants:
//! - Never panics on any byte slice; every read goes through `get`.
//! - No heap allocation: the summary holds borrowed slices and a fixed array of
//!   [`MAX_ANSWERS`] answers.
//! - Bounded work: every record consumes at least 11 bytes of the message or stops the walk, so
//!   walking the sections is linear in the message length whatever the header counts say; a name
//!   is at most 255 wire bytes (RFC 1035 §2.3.4) and at most 128 compression jumps, and each
//!   pointer must point strictly before the label run it was found in (RFC 1035 §4.1.4 only ever
//!   points at earlier data), so loops are impossible.
//! - A message that ends early or holds a record we cannot walk still yields what was read, with
//!   [`DnsSummary::truncated`] set.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::bytes::{be16, be32};

/// How many answer RRs a [`DnsSummary`] keeps (the rest are only counted).
pub const MAX_ANSWERS: usize = 8;

/// Fixed header size (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// Bound on compression pointers followed for one name.
const MAX_JUMPS: usize = 128;
/// Maximum wire length of a name, length octets and root included (RFC 1035 §2.3.4).
const MAX_NAME_WIRE_LEN: usize = 255;
/// More questions than this is not a DNS message we believe (real ones carry exactly one).
const MAX_QDCOUNT: u16 = 32;
/// Fixed part of a resource record after its owner name: TYPE, CLASS, TTL, RDLENGTH (§4.1.3).
const RR_FIXED_LEN: usize = 10;
/// QTYPE + QCLASS after a question name (§4.1.2).
const QUESTION_FIXED_LEN: usize = 4;

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;

/// Opcode 6 is DNS Stateful Operations (RFC 8490), whose messages carry no sections at all.
const OPCODE_DSO: u8 = 6;

/// Why a name could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameError {
    /// The message ended inside the name.
    Truncated,
    /// Reserved label type, name longer than 255 bytes, a pointer that does not point backwards,
    /// or too many jumps.
    Malformed,
}

/// One step of a name walk.
enum Step<'a> {
    Label(&'a [u8]),
    /// Reached the root label: the name is complete.
    End,
    Bad(NameError),
}

/// Label-by-label walk of a (possibly compressed) name. Holds no buffer: each label is a slice
/// of the message.
struct Labels<'a> {
    msg: &'a [u8],
    pos: usize,
    /// Start of the run of labels we are reading; a pointer must target strictly before it, so
    /// the run starts strictly decrease and no pointer loop can exist.
    run_start: usize,
    jumps: usize,
    wire_len: usize,
    finished: bool,
}

impl<'a> Labels<'a> {
    fn new(msg: &'a [u8], offset: usize) -> Self {
        Labels {
            msg,
            pos: offset,
            run_start: offset,
            jumps: 0,
            wire_len: 0,
            finished: false,
        }
    }

    fn stop(&mut self, step: Step<'a>) -> Step<'a> {
        self.finished = true;
        step
    }

    fn step(&mut self) -> Step<'a> {
        loop {
            if self.finished {
                return Step::End;
            }
            let Some(&len) = self.msg.get(self.pos) else {
                return self.stop(Step::Bad(NameError::Truncated));
            };
            // The top two bits of the length octet select the label type (RFC 1035 §4.1.4):
            // 00 = normal label, 11 = pointer; 01 (RFC 6891 §5: extended labels, deprecated)
            // and 10 are not something we can decode.
            match len & 0xC0 {
                0x00 if len == 0 => return self.stop(Step::End),
                0x00 => {
                    let len = usize::from(len);
                    self.wire_len += 1 + len;
                    // +1: the root label still has to fit in the 255 bytes.
                    if self.wire_len + 1 > MAX_NAME_WIRE_LEN {
                        return self.stop(Step::Bad(NameError::Malformed));
                    }
                    let start = self.pos + 1;
                    let Some(label) = self.msg.get(start..start + len) else {
                        return self.stop(Step::Bad(NameError::Truncated));
                    };
                    self.pos = start + len;
                    return Step::Label(label);
                }
                0xC0 => {
                    let Some(&low) = self.msg.get(self.pos + 1) else {
                        return self.stop(Step::Bad(NameError::Truncated));
                    };
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    // Pointers refer to a prior occurrence (§4.1.4), never into the header.
                    if target < HEADER_LEN || target >= self.run_start || self.jumps >= MAX_JUMPS {
                        return self.stop(Step::Bad(NameError::Malformed));
                    }
                    self.jumps += 1;
                    self.pos = target;
                    self.run_start = target;
                }
                _ => return self.stop(Step::Bad(NameError::Malformed)),
            }
        }
    }

    /// Walks to the end and reports whether the name is well formed.
    fn check(mut self) -> Result<(), NameError> {
        loop {
            match self.step() {
                Step::Label(_) => {}
                Step::End => return Ok(()),
                Step::Bad(e) => return Err(e),
            }
        }
    }
}

/// Skips the name at `pos` as it sits in the message (without following a pointer, which
/// ends the name on the wire) and returns the offset just after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, NameError> {
    let mut wire_len = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(NameError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                let len = usize::from(len);
                wire_len += 1 + len;
                if wire_len + 1 > MAX_NAME_WIRE_LEN {
                    return Err(NameError::Malformed);
                }
                pos += 1 + len;
                if pos > msg.len() {
                    return Err(NameError::Truncated);
                }
            }
            0xC0 => {
                return if pos + 2 <= msg.len() {
                    Ok(pos + 2)
                } else {
                    Err(NameError::Truncated)
                };
            }
            _ => return Err(NameError::Malformed),
        }
    }
}

/// A domain name inside a DNS message, decoded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsName<'a> {
    msg: &'a [u8],
    offset: usize,
}

impl<'a> DnsName<'a> {
    /// Writes the dotted name (no trailing dot; root = "."), following compression pointers with a
    /// bound (max 128 jumps / 255 bytes of wire name; pointers must point backwards—RFC 1035
    /// §4.1.4—else stop). Non-printable label bytes are escaped as \DDD like dig does. Returns Err
    /// only if `out` errors; a malformed name is written up to where it went wrong.
    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut labels = Labels::new(self.msg, self.offset);
        let mut first = true;
        loop {
            match labels.step() {
                Step::Label(label) => {
                    if !first {
                        out.write_char('.')?;
                    }
                    first = false;
                    write_label(out, label)?;
                }
                Step::End => {
                    if first {
                        out.write_char('.')?;
                    }
                    return Ok(());
                }
                Step::Bad(_) => return Ok(()),
            }
        }
    }

    /// True when the name walks to its root label within the bounds above.
    pub fn is_valid(&self) -> bool {
        Labels::new(self.msg, self.offset).check().is_ok()
    }
}

/// Presentation format of a label (RFC 1035 §5.1, as dig prints it): printable ASCII as is,
/// the characters that are special in master files backslash-escaped, everything else \DDD.
fn write_label(out: &mut impl fmt::Write, label: &[u8]) -> fmt::Result {
    let mut rest = label;
    while let Some((&b, tail)) = rest.split_first() {
        // Runs of bytes printed as they are go out in one write (most labels are one run).
        let plain = rest
            .iter()
            .position(|&b| !is_plain(b))
            .unwrap_or(rest.len());
        if plain > 0 {
            let (run, after) = rest.split_at(plain);
            // Printable ASCII is valid UTF-8, so this never fails.
            out.write_str(std::str::from_utf8(run).map_err(|_| fmt::Error)?)?;
            rest = after;
            continue;
        }
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                out.write_char('\\')?;
                out.write_char(char::from(b))?;
            }
            _ => write!(out, "\\{b:03}")?,
        }
        rest = tail;
    }
    Ok(())
}

/// A label byte printed as it is: printable ASCII that is not special in master files.
fn is_plain(b: u8) -> bool {
    matches!(b, 0x21..=0x7E) && !matches!(b, b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$')
}

impl fmt::Display for DnsName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// Decoded RDATA for the types a monitor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RData<'a> {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR target.
    Name(DnsName<'a>),
    /// Any other type, or one of the above whose RDATA has the wrong shape.
    Other,
}

/// One answer resource record (RFC 1035 §4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsAnswer<'a> {
    pub name: DnsName<'a>,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData<'a>,
}

/// What a monitor shows about one DNS message.
#[derive(Clone, Copy)]
pub struct DnsSummary<'a> {
    pub id: u16,
    pub is_response: bool,
    pub opcode: u8,
    pub rcode: u8,
    /// First question: name and QTYPE.
    pub question: Option<(DnsName<'a>, u16)>,
    /// ANCOUNT from the header.
    pub answer_count: u16,
    /// The TC bit was set, or the message ended (or held a record we could not walk) before all
    /// counted sections were read.
    pub truncated: bool,
    /// The message, where the answer section starts and how many answers parsed there (at most
    /// [`MAX_ANSWERS`]). The answers are read again when asked for, rather than kept: a summary
    /// rides in every decoded packet, and most packets are not DNS.
    msg: &'a [u8],
    answers_at: usize,
    answers_ok: u8,
}

impl<'a> DnsSummary<'a> {
    /// The first up to [`MAX_ANSWERS`] answer RRs, in message order.
    pub fn answers(&self) -> impl Iterator<Item = DnsAnswer<'a>> + 'a {
        let msg = self.msg;
        let mut pos = self.answers_at;
        (0..self.answers_ok).map_while(move |_| {
            let rr = read_rr(msg, pos)?;
            pos = rr.end;
            Some(answer_of(msg, &rr))
        })
    }
}

impl core::fmt::Debug for DnsSummary<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct Answers<'s, 'a>(&'s DnsSummary<'a>);
        impl core::fmt::Debug for Answers<'_, '_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_list().entries(self.0.answers()).finish()
            }
        }
        f.debug_struct("DnsSummary")
            .field("id", &self.id)
            .field("is_response", &self.is_response)
            .field("opcode", &self.opcode)
            .field("rcode", &self.rcode)
            .field("question", &self.question)
            .field("answer_count", &self.answer_count)
            .field("answers", &Answers(self))
            .field("truncated", &self.truncated)
            .finish()
    }
}

fn answer_of<'a>(msg: &'a [u8], rr: &Rr) -> DnsAnswer<'a> {
    DnsAnswer {
        name: DnsName {
            msg,
            offset: rr.name,
        },
        rtype: rr.rtype,
        ttl: rr.ttl,
        data: rdata(msg, rr),
    }
}

/// How lenient to be about a message that stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// A datagram holds the whole message: the first question must parse.
    Udp,
    /// A segment may cut the message: a question cut by the end of the bytes is tolerated.
    Tcp,
}

/// A resource record's location in the message.
struct Rr {
    name: usize,
    rtype: u16,
    ttl: u32,
    rdata: usize,
    rdlen: usize,
    end: usize,
}

fn read_rr(msg: &[u8], pos: usize) -> Option<Rr> {
    let name_end = skip_name(msg, pos).ok()?;
    let rtype = be16(msg, name_end)?;
    let ttl = be32(msg, name_end + 4)?;
    let rdlen = usize::from(be16(msg, name_end + 8)?);
    let rdata = name_end + RR_FIXED_LEN;
    let end = rdata + rdlen;
    if end > msg.len() {
        return None;
    }
    Some(Rr {
        name: pos,
        rtype,
        ttl,
        rdata,
        rdlen,
        end,
    })
}

fn rdata<'a>(msg: &'a [u8], rr: &Rr) -> RData<'a> {
    let Some(bytes) = msg.get(rr.rdata..rr.end) else {
        return RData::Other;
    };
    match rr.rtype {
        TYPE_A => <[u8; 4]>::try_from(bytes).map_or(RData::Other, |b| RData::A(b.into())),
        TYPE_AAAA => <[u8; 16]>::try_from(bytes).map_or(RData::Other, |b| RData::Aaaa(b.into())),
        TYPE_CNAME | TYPE_NS | TYPE_PTR => {
            // The RDATA is exactly one (possibly compressed) name (RFC 1035 §3.3.1, §3.3.11,
            // §3.3.12).
            let name = DnsName {
                msg,
                offset: rr.rdata,
            };
            if rr.rdlen > 0 && skip_name(msg, rr.rdata) == Ok(rr.end) && name.is_valid() {
                RData::Name(name)
            } else {
                RData::Other
            }
        }
        _ => RData::Other,
    }
}

fn parse_message(msg: &[u8], transport: Transport) -> Option<DnsSummary<'_>> {
    // Header layout: RFC 1035 §4.1.1.
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    let nscount = be16(msg, 8)?;
    // be16 at 10 succeeding means the whole 12-byte header is there.
    let arcount = be16(msg, 10)?;
    let is_response = flags & 0x8000 != 0;
    let opcode = ((flags >> 11) & 0x0F) as u8;
    let tc = flags & 0x0200 != 0;
    let rcode = (flags & 0x000F) as u8;

    // Assigned opcodes: QUERY 0, IQUERY 1 (obsolete), STATUS 2, NOTIFY 4, UPDATE 5, DSO 6.
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5 | OPCODE_DSO) {
        return None;
    }
    if qdcount > MAX_QDCOUNT {
        return None;
    }
    // A query that asks nothing is not a query (DSO excepted, RFC 8490 §5.4: no sections).
    if !is_response && opcode != OPCODE_DSO && qdcount == 0 && ancount == 0 {
        return None;
    }

    let mut summary = DnsSummary {
        id,
        is_response,
        opcode,
        rcode,
        question: None,
        answer_count: ancount,
        truncated: tc,
        msg,
        answers_at: 0,
        answers_ok: 0,
    };

    let mut pos = HEADER_LEN;
    for i in 0..qdcount {
        let end = skip_name(msg, pos).map(|e| e + QUESTION_FIXED_LEN);
        let fits = matches!(end, Ok(e) if e <= msg.len());
        if i == 0 {
            let name = DnsName { msg, offset: pos };
            // Both the on-wire extent and the decoded name (pointers followed) must be sound.
            let checked = end.and_then(|_| Labels::new(msg, pos).check());
            match (checked, transport) {
                (Ok(()), _) if fits => {
                    let name_end = end.ok()?;
                    let qtype = be16(msg, name_end - QUESTION_FIXED_LEN)?;
                    summary.question = Some((name, qtype));
                }
                // A segment cut inside the first question: keep the header.
                (Ok(()) | Err(NameError::Truncated), Transport::Tcp) => {
                    summary.truncated = true;
                    return Some(summary);
                }
                _ => return None,
            }
        }
        match end {
            Ok(e) if fits => pos = e,
            _ => {
                summary.truncated = true;
                return Some(summary);
            }
        }
    }

    summary.answers_at = pos;
    for _ in 0..ancount {
        let Some(rr) = read_rr(msg, pos) else {
            summary.truncated = true;
            return Some(summary);
        };
        if usize::from(summary.answers_ok) < MAX_ANSWERS {
            summary.answers_ok += 1;
        }
        pos = rr.end;
    }

    // Authority and additional records are only walked to learn whether the message is whole.
    // Each read_rr consumes at least 11 bytes, so this is bounded by the message length.
    for _ in 0..u32::from(nscount) + u32::from(arcount) {
        let Some(rr) = read_rr(msg, pos) else {
            summary.truncated = true;
            return Some(summary);
        };
        pos = rr.end;
    }
    Some(summary)
}

/// DNS over UDP (ports 53, 5353 mDNS, 5355 LLMNR). None if it is clearly not DNS: shorter than
/// the 12-byte header, an unassigned opcode, more than 32 questions, a query with neither
/// questions nor answers, or a first question that does not parse.
pub fn parse_udp(payload: &[u8]) -> Option<DnsSummary<'_>> {
    parse_message(payload, Transport::Udp)
}

/// DNS over TCP: a 2-byte length prefix (RFC 1035 §4.2.2), then a message (possibly cut by the
/// segment end: parse what is there, with `truncated` set).
pub fn parse_tcp(payload: &[u8]) -> Option<DnsSummary<'_>> {
    let declared = usize::from(be16(payload, 0)?);
    if declared < HEADER_LEN {
        return None;
    }
    let body = payload.get(2..)?;
    let cut = body.len() < declared;
    let msg = body.get(..declared).unwrap_or(body);
    let mut summary = parse_message(msg, Transport::Tcp)?;
    summary.truncated |= cut;
    Some(summary)
}

/// Mnemonic of an RR TYPE (IANA "Resource Record (RR) TYPEs" registry), "other" if unknown.
pub fn type_name(rtype: u16) -> &'static str {
    match rtype {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => "other",
    }
}

/// Mnemonic of an RCODE (RFC 1035 §4.1.1, RFC 2136, RFC 8490, and the EDNS/TSIG extended codes
/// of RFC 6891 / RFC 8945 / RFC 7873), "other" if unknown.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        11 => "DSOTYPENI",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// `www.example.com A?` with RD, as dig sends it (no EDNS).
    const QUERY: &[u8] = &[
        0x1a, 0x2b, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0x00, 0x01, 0x00, 0x01,
    ];

    /// Response: CNAME www.example.com -> edge.example.com, A edge.example.com 93.184.216.34,
    /// with every name compressed against earlier data.
    const RESPONSE: &[u8] = &[
        0x1a, 0x2b, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, //
        // 12: question
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0x00, 0x01, 0x00, 0x01, //
        // 33: CNAME, owner -> 12, rdata at 45 = "edge" + pointer to 16 ("example.com")
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x07, //
        4, b'e', b'd', b'g', b'e', 0xc0, 0x10, //
        // 52: A, owner -> 45
        0xc0, 0x2d, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, //
        93, 184, 216, 34,
    ];

    /// mDNS announcement: `_http._tcp.local PTR printer._http._tcp.local`, no question.
    const MDNS: &[u8] = &[
        0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        5, b'_', b'h', b't', b't', b'p', 4, b'_', b't', b'c', b'p', 5, b'l', b'o', b'c', b'a',
        b'l', 0, //
        0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x11, 0x94, 0x00, 0x0a, //
        7, b'p', b'r', b'i', b'n', b't', b'e', b'r', 0xc0, 0x0c,
    ];

    /// DNS over TCP: length prefix 49, then `a.b AAAA` answered with 2606:2800:220:1:248:1893:25c8:1946.
    const TCP_AAAA: &[u8] = &[
        0x00, 0x31, //
        0xbe, 0xef, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        1, b'a', 1, b'b', 0, 0x00, 0x1c, 0x00, 0x01, //
        0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x10, //
        0x26, 0x06, 0x28, 0x00, 0x02, 0x20, 0x00, 0x01, 0x02, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19,
        0x46,
    ];

    /// NXDOMAIN for `nope.invalid A?`, with an SOA in the authority section.
    const NXDOMAIN: &[u8] = &[
        0x77, 0x01, 0x81, 0x83, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, //
        4, b'n', b'o', b'p', b'e', 7, b'i', b'n', b'v', b'a', b'l', b'i', b'd', 0, 0x00, 0x01,
        0x00, 0x01, //
        // SOA owner -> 17 ("invalid"), rdata: mname "." rname "." and 5 u32
        0xc0, 0x11, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x03, 0x84, 0x00, 0x16, //
        0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
    ];

    fn name_string(n: &DnsName<'_>) -> String {
        n.to_string()
    }

    #[test]
    fn query() {
        let s = parse_udp(QUERY).unwrap();
        assert_eq!(s.id, 0x1a2b);
        assert!(!s.is_response);
        assert_eq!(s.opcode, 0);
        assert_eq!(s.rcode, 0);
        let (name, qtype) = s.question.unwrap();
        assert_eq!(name_string(&name), "www.example.com");
        assert_eq!(qtype, 1);
        assert_eq!(s.answer_count, 0);
        assert_eq!(s.answers().count(), 0);
        assert!(!s.truncated);
    }

    #[test]
    fn response_with_compression() {
        let s = parse_udp(RESPONSE).unwrap();
        assert!(s.is_response);
        assert_eq!(rcode_name(s.rcode), "NOERROR");
        assert_eq!(s.answer_count, 2);
        assert!(!s.truncated);
        let answers: Vec<_> = s.answers().collect();
        assert_eq!(answers.len(), 2);
        assert_eq!(name_string(&answers[0].name), "www.example.com");
        assert_eq!(type_name(answers[0].rtype), "CNAME");
        assert_eq!(answers[0].ttl, 300);
        assert!(
            matches!(answers[0].data, RData::Name(n) if name_string(&n) == "edge.example.com"),
            "{:?}",
            answers[0].data
        );
        assert_eq!(name_string(&answers[1].name), "edge.example.com");
        assert_eq!(answers[1].ttl, 60);
        assert_eq!(answers[1].data, RData::A(Ipv4Addr::new(93, 184, 216, 34)));
    }

    #[test]
    fn mdns_response_without_question() {
        let s = parse_udp(MDNS).unwrap();
        assert!(s.question.is_none());
        let a = s.answers().next().unwrap();
        assert_eq!(name_string(&a.name), "_http._tcp.local");
        assert_eq!(type_name(a.rtype), "PTR");
        assert!(
            matches!(a.data, RData::Name(n) if name_string(&n) == "printer._http._tcp.local"),
            "{:?}",
            a.data
        );
        assert!(!s.truncated);
    }

    #[test]
    fn tcp_aaaa() {
        let s = parse_tcp(TCP_AAAA).unwrap();
        assert_eq!(s.id, 0xbeef);
        assert_eq!(type_name(s.question.unwrap().1), "AAAA");
        assert_eq!(name_string(&s.question.unwrap().0), "a.b");
        let a = s.answers().next().unwrap();
        assert_eq!(
            a.data,
            RData::Aaaa("2606:2800:220:1:248:1893:25c8:1946".parse().unwrap())
        );
        assert!(!s.truncated);
        // The same bytes without the prefix are a valid UDP message.
        assert!(parse_udp(&TCP_AAAA[2..]).is_some());
    }

    #[test]
    fn tcp_cut_segment() {
        // Cut inside the answer: header and question survive.
        let s = parse_tcp(&TCP_AAAA[..30]).unwrap();
        assert!(s.truncated);
        assert!(s.question.is_some());
        assert_eq!(s.answers().count(), 0);
        // Cut inside the question: header only.
        let s = parse_tcp(&TCP_AAAA[..16]).unwrap();
        assert!(s.truncated);
        assert!(s.question.is_none());
        // Cut inside the header, or a length prefix too small for a header.
        assert!(parse_tcp(&TCP_AAAA[..10]).is_none());
        assert!(parse_tcp(&[0x00, 0x05, 1, 2, 3, 4, 5]).is_none());
        assert!(parse_tcp(&[0x00]).is_none());
    }

    #[test]
    fn tcp_two_messages_in_one_segment() {
        let mut seg = TCP_AAAA.to_vec();
        seg.extend_from_slice(TCP_AAAA);
        let s = parse_tcp(&seg).unwrap();
        assert!(!s.truncated);
        assert_eq!(s.answers().count(), 1);
    }

    #[test]
    fn nxdomain_with_authority() {
        let s = parse_udp(NXDOMAIN).unwrap();
        assert_eq!(rcode_name(s.rcode), "NXDOMAIN");
        assert_eq!(name_string(&s.question.unwrap().0), "nope.invalid");
        assert!(!s.truncated);
        // Authority section cut short.
        let s = parse_udp(&NXDOMAIN[..NXDOMAIN.len() - 1]).unwrap();
        assert!(s.truncated);
    }

    #[test]
    fn tc_bit() {
        let mut m = RESPONSE.to_vec();
        m[2] |= 0x02;
        assert!(parse_udp(&m).unwrap().truncated);
    }

    #[test]
    fn truncated_response_keeps_what_was_read() {
        // Cut in the middle of the second answer's RDATA.
        let s = parse_udp(&RESPONSE[..RESPONSE.len() - 2]).unwrap();
        assert!(s.truncated);
        assert_eq!(s.answer_count, 2);
        assert_eq!(s.answers().count(), 1);
        // Cut inside the question: UDP is strict.
        assert!(parse_udp(&RESPONSE[..20]).is_none());
    }

    #[test]
    fn rejects_non_dns() {
        assert!(parse_udp(&[]).is_none());
        assert!(parse_udp(&QUERY[..11]).is_none());
        // Query with no question and no answer.
        let mut m = QUERY.to_vec();
        m[5] = 0;
        assert!(parse_udp(&m).is_none());
        // 33 questions.
        let mut m = QUERY.to_vec();
        m[5] = 33;
        assert!(parse_udp(&m).is_none());
        // Unassigned opcode 3.
        let mut m = QUERY.to_vec();
        m[2] = 0x18;
        assert!(parse_udp(&m).is_none());
        // HTTP on port 53.
        assert!(parse_udp(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_none());
        // Reserved label type 0x40 / 0x80 in the question.
        let mut m = QUERY.to_vec();
        m[12] = 0x43;
        assert!(parse_udp(&m).is_none());
        m[12] = 0x83;
        assert!(parse_udp(&m).is_none());
    }

    #[test]
    fn compression_loops_are_rejected() {
        // Question name points at itself.
        let m = [
            0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, //
            0xc0, 0x0c, 0, 1, 0, 1,
        ];
        assert!(parse_udp(&m).is_none());
        // Question name points forward into the answer section.
        let m = [
            0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, //
            0xc0, 0x12, 0, 1, 0, 1, 1, b'a', 0,
        ];
        assert!(parse_udp(&m).is_none());
        // Question name points into the header.
        let m = [
            0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, //
            0xc0, 0x02, 0, 1, 0, 1,
        ];
        assert!(parse_udp(&m).is_none());
        // Names that point at each other: the CNAME at 19 has owner -> 31 (forward) and RDATA
        // at 31 -> 19; the A at 33 has owner -> 19. The records still walk (their on-wire
        // shape is fine) but no name decodes, and the CNAME target is not a valid name.
        let m = [
            0, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, //
            1, b'a', 0, 0, 1, 0, 1, //
            0xc0, 0x1f, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 0xc0, 0x13, //
            0xc0, 0x13, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4,
        ];
        let s = parse_udp(&m).unwrap();
        assert!(!s.truncated);
        let answers: Vec<_> = s.answers().collect();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].data, RData::Other);
        assert_eq!(answers[1].data, RData::A([1, 2, 3, 4].into()));
        for a in answers {
            assert!(!a.name.is_valid());
            assert_eq!(a.name.to_string(), "");
        }
    }

    #[test]
    fn jump_bound() {
        // At 12: "a" root. Then a chain of pointers, each pointing at the previous one.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 0]);
        let mut prev = 12u16;
        let mut offsets = Vec::new();
        for _ in 0..200 {
            let here = m.len() as u16;
            m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
            offsets.push(here);
            prev = here;
        }
        // 100 jumps: fine.
        let n = DnsName {
            msg: &m,
            offset: usize::from(offsets[99]),
        };
        assert_eq!(n.to_string(), "a");
        assert!(n.is_valid());
        // 200 jumps: stops, writes nothing.
        let n = DnsName {
            msg: &m,
            offset: usize::from(offsets[199]),
        };
        assert_eq!(n.to_string(), "");
        assert!(!n.is_valid());
    }

    #[test]
    fn name_length_bound() {
        // Five 63-byte labels = 320 wire bytes > 255.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'x'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(parse_udp(&m).is_none());
        let n = DnsName {
            msg: &m,
            offset: 12,
        };
        // Three labels fit (3 * 64 = 192), the fourth would reach 256 with the root.
        assert_eq!(n.to_string().len(), 3 * 63 + 2);
    }

    #[test]
    fn escaping_and_root() {
        let m = [
            0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, //
            6, b'a', b'.', b' ', 0xff, b'\\', b'"', 2, b'o', b'k', 0, 0, 1, 0, 1,
        ];
        let s = parse_udp(&m).unwrap();
        assert_eq!(
            s.question.unwrap().0.to_string(),
            "a\\.\\032\\255\\\\\\\".ok"
        );
        // Root name: `. NS?`
        let m = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1];
        let s = parse_udp(&m).unwrap();
        assert_eq!(s.question.unwrap().0.to_string(), ".");
        assert_eq!(type_name(s.question.unwrap().1), "NS");
    }

    #[test]
    fn huge_counts_are_bounded() {
        let mut m = QUERY.to_vec();
        m[2] = 0x81;
        for b in &mut m[6..12] {
            *b = 0xff;
        }
        let s = parse_udp(&m).unwrap();
        assert_eq!(s.answer_count, 0xffff);
        assert_eq!(s.answers().count(), 0);
        assert!(s.truncated);
        // Many tiny valid answers: only MAX_ANSWERS are kept.
        let mut m = QUERY.to_vec();
        m[2] = 0x81;
        m[6] = 0;
        m[7] = 20;
        for i in 0..20u8 {
            m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, i]);
        }
        let s = parse_udp(&m).unwrap();
        assert!(!s.truncated);
        assert_eq!(s.answer_count, 20);
        assert_eq!(s.answers().count(), MAX_ANSWERS);
        assert_eq!(
            s.answers().last().unwrap().data,
            RData::A([10, 0, 0, 7].into())
        );
    }

    /// DNS/TCP messages of the largest size (65535 bytes): a chain of ~32 000 compression
    /// pointers, each pointing at the one before, and a name of ~32 000 one-byte labels with no
    /// root label. Both are rejected after a bounded
    /// walk (128 jumps, 255 name bytes), however long the chain.
    #[test]
    fn max_size_chains_are_bounded() {
        let with_tcp_length = |mut msg: Vec<u8>| {
            msg.truncate(usize::from(u16::MAX));
            let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&msg);
            framed
        };
        // Pointer chain: "a" at 12, then pointers back to back, each to the previous one.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0];
        let mut prev = 12u16;
        while m.len() + 2 + 4 <= usize::from(u16::MAX) {
            let here = m.len() as u16;
            m.extend_from_slice(&(0xc000 | prev).to_be_bytes());
            prev = here;
        }
        let links = (m.len() - 15) / 2;
        assert!(links > 32_000, "{links}");
        // A name at the end of the chain: the walk stops at the jump bound, writes nothing.
        let name = DnsName {
            msg: &m,
            offset: usize::from(prev),
        };
        assert!(!name.is_valid());
        assert_eq!(name.to_string(), "");
        // The same bytes as a response claiming 65535 answers, every owner name a pointer
        // into the chain: the answer walk ends with the message, keeping at most MAX_ANSWERS.
        m[2] = 0x81;
        m[6..8].copy_from_slice(&[0xff, 0xff]);
        if let Some(s) = parse_tcp(&with_tcp_length(m)) {
            assert!(s.answers().count() <= MAX_ANSWERS);
            for a in s.answers() {
                assert!(a.name.to_string().len() <= 255 * 4);
            }
        }

        // Label chain: 32 766 labels "a" and no root label.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        while m.len() + 2 <= usize::from(u16::MAX) {
            m.extend_from_slice(&[1, b'a']);
        }
        let framed = with_tcp_length(m.clone());
        assert!(parse_tcp(&framed).is_none());
        assert!(parse_udp(&m).is_none());
        let name = DnsName {
            msg: &m,
            offset: 12,
        };
        assert!(!name.is_valid());
        // Written up to where it went wrong: at most the 255-byte wire bound.
        assert!(name.to_string().len() <= 255);
    }

    #[test]
    fn bad_rdata_shapes_are_other() {
        // A with 3 bytes, CNAME whose name overruns its RDATA.
        let mut m = QUERY.to_vec();
        m[2] = 0x81;
        m[7] = 2;
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3]);
        m.extend_from_slice(&[0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 5, 0, 2, 3, b'a']);
        let s = parse_udp(&m).unwrap();
        assert!(s.answers().all(|a| a.data == RData::Other));
    }

    #[test]
    fn names() {
        assert_eq!(type_name(65), "HTTPS");
        assert_eq!(type_name(64), "SVCB");
        assert_eq!(type_name(41), "OPT");
        assert_eq!(type_name(255), "ANY");
        assert_eq!(type_name(65000), "other");
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(4), "NOTIMP");
        assert_eq!(rcode_name(15), "other");
    }

    fn exercise(s: &DnsSummary<'_>) {
        if let Some((n, _)) = s.question {
            assert!(n.to_string().len() <= 4 * MAX_NAME_WIRE_LEN);
        }
        for a in s.answers() {
            assert!(a.name.to_string().len() <= 4 * MAX_NAME_WIRE_LEN);
            if let RData::Name(n) = a.data {
                assert!(n.to_string().len() <= 4 * MAX_NAME_WIRE_LEN);
            }
        }
    }

    #[test]
    fn every_prefix() {
        for msg in [QUERY, RESPONSE, MDNS, NXDOMAIN, &TCP_AAAA[2..]] {
            for n in 0..=msg.len() {
                if let Some(s) = parse_udp(&msg[..n]) {
                    exercise(&s);
                }
            }
        }
        for n in 0..=TCP_AAAA.len() {
            if let Some(s) = parse_tcp(&TCP_AAAA[..n]) {
                exercise(&s);
                assert_eq!(s.truncated, n < TCP_AAAA.len());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..4000 {
            let len = (next() % 300) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                // Mutate a real message so the walk gets past the header checks.
                buf = RESPONSE.to_vec();
                for _ in 0..(next() % 6 + 1) {
                    let i = (next() as usize) % buf.len();
                    buf[i] = next() as u8;
                }
            }
            if let Some(s) = parse_udp(&buf) {
                exercise(&s);
            }
            if let Some(s) = parse_tcp(&buf) {
                exercise(&s);
            }
            for off in 0..buf.len().min(40) {
                let n = DnsName {
                    msg: &buf,
                    offset: off,
                };
                assert!(n.to_string().len() <= 4 * MAX_NAME_WIRE_LEN);
            }
        }
    }
}
