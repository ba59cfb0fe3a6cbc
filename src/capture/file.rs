//! Capture files: classic pcap (both byte orders, µs and ns, "modified" pcap) and pcapng (several
//! sections and interfaces, each with its own link type and timestamp resolution), parsed with
//! pcap-parser. A regular file is read through memory maps ([`super::mapped`]); standard input,
//! pipes and files that cannot be mapped are read as a stream into a buffer.
//!
//! Invariants: a damaged file never panics or hangs. A record that claims more bytes than any
//! real capture holds stops the read with [`FileError::Corrupt`]; a file that ends in the middle
//! of a record stops with [`FileError::Truncated`]. In both cases every frame before the damage
//! has already been handed to the consumer, so nothing counted is lost.

use std::fs::File;
use std::io::{self, Chain, Cursor, Read};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pcap_parser::nom;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock,
};
use pcap_parser::pcapng::{
    parse_block_be, parse_block_le, parse_enhancedpacketblock_be, parse_enhancedpacketblock_le,
    parse_sectionheaderblock, Block, EnhancedPacketBlock,
};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError, EPB_MAGIC};
use wire::LinkType;

use super::mapped::{prefetch, prefetch_line, MappedFile, Window, Windows, WINDOW};
use super::{Flow, Frame, IfaceId};
use crate::time::Timestamp;

/// Initial read buffer: large enough for a few hundred full-size frames per refill.
const BUFFER_SIZE: usize = 1 << 20;
/// Largest legacy record we accept. libpcap and Wireshark refuse records above 256 KiB
/// (`MAXIMUM_SNAPLEN` / `WTAP_MAX_PACKET_SIZE_STANDARD`); a larger length is a damaged header.
const MAX_RECORD: usize = 262_144;
/// Largest pcapng block we buffer (Wireshark's `MAX_BLOCK_SIZE` is 16 MiB as well).
const MAX_BLOCK: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{0} is empty: not a capture file")]
    Empty(String),
    #[error("{0} is not a pcap or pcapng capture file (unknown magic number); check the path, or convert it with editcap")]
    NotACapture(String),
    #[error("{path} is cut short after {frames} packets (byte offset {offset}): the rest is missing; counts below cover what was read")]
    Truncated {
        path: String,
        frames: u64,
        offset: u64,
    },
    #[error("{path} is damaged after {frames} packets (byte offset {offset}): {what}; counts below cover what was read")]
    Corrupt {
        path: String,
        frames: u64,
        offset: u64,
        what: String,
    },
    #[error("error reading {path}: {source}")]
    Read { path: String, source: io::Error },
}

/// Per-interface facts of a pcapng section (or the single pcap header).
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second (`if_tsresol`).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_secs: i64,
}

/// Reads frames from `path` (`-` for standard input) and hands each one to `sink` until the file
/// ends or `sink` says stop. Returns the number of frames read.
pub fn read(
    path: &str,
    sink: &mut dyn FnMut(&Frame<'_>) -> io::Result<Flow>,
) -> Result<u64, ReadError> {
    match open(path, None)? {
        Input::Mapped(file) => read_mapped(path, &file, &mut |frame, _| sink(frame)),
        Input::Stream(input, _) => read_from(path, input, sink),
    }
}

/// An opened capture.
pub enum Input {
    /// A regular file, read through memory maps ([`read_mapped`]).
    Mapped(MappedFile),
    /// Standard input, a pipe, a device, or a file its file system will not map: read into a
    /// buffer ([`read_from`]), with its size when it has one.
    Stream(Box<dyn Read + Send>, Option<u64>),
}

impl Input {
    /// The size of the file, when it has one (for a progress bar).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Mapped(file) => Some(file.size()),
            Input::Stream(_, size) => *size,
        }
    }
}

/// Opens `path` (`-` for standard input). With `stop`, standard input is read so that setting
/// `stop` ends the input even while the pipe is idle.
pub fn open(path: &str, stop: Option<Arc<AtomicBool>>) -> Result<Input, FileError> {
    if path == "-" {
        return Ok(match stop {
            Some(stop) => Input::Stream(Box::new(super::stdin::StoppableStdin::spawn(stop)), None),
            None => Input::Stream(Box::new(io::stdin()), None),
        });
    }
    let file = File::open(Path::new(path)).map_err(|source| FileError::Open {
        path: path.to_string(),
        source,
    })?;
    match MappedFile::new(file) {
        Ok(mapped) => Ok(Input::Mapped(mapped)),
        Err(file) => {
            let size = file
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            Ok(Input::Stream(Box::new(file), size))
        }
    }
}

/// A failure of the file, or of the consumer (e.g. stdout closed).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Sink(io::Error),
}

/// Reads frames from `input`, already opened from `path` (named in errors).
pub fn read_from(
    path: &str,
    input: Box<dyn Read + Send>,
    sink: &mut dyn FnMut(&Frame<'_>) -> io::Result<Flow>,
) -> Result<u64, ReadError> {
    read_from_with_buffer(path, input, sink, BUFFER_SIZE)
}

/// [`read_from`] starting with a read buffer of `initial` bytes (grown as needed, with the same
/// bound). The fuzz target uses a small one: a 1 MiB buffer per input spends its time in page
/// faults, and a small one runs the growing path more often.
pub fn read_from_with_buffer(
    path: &str,
    mut input: Box<dyn Read + Send>,
    sink: &mut dyn FnMut(&Frame<'_>) -> io::Result<Flow>,
    initial: usize,
) -> Result<u64, ReadError> {
    let err_read = |source| FileError::Read {
        path: path.to_string(),
        source,
    };
    // create_reader sniffs the format from a single read(); a pipe may deliver only a few bytes
    // at first, so gather the first block ourselves and put it back in front of the stream.
    let prefix = read_prefix(&mut input).map_err(err_read)?;
    if prefix.is_empty() {
        return Err(FileError::Empty(path.to_string()).into());
    }
    let prefix_short = prefix.len() < prefix_len(&prefix);
    let prefix_magic: [u8; 4] = prefix
        .get(..4)
        .and_then(|m| m.try_into().ok())
        .unwrap_or([0; 4]);
    // pcap-parser needs room for the file header (the prefix holds at most 64 KiB of it).
    let initial = initial.max(prefix.len()).max(4096);
    let format = Format::of(&prefix_magic);
    let stream: Chain<Cursor<Vec<u8>>, Box<dyn Read + Send>> = Cursor::new(prefix).chain(input);
    let mut reader = match create_reader(initial, stream) {
        Ok(r) => r,
        // A capture's magic number with a header pcap-parser cannot take (e.g. a pcapng section
        // header claiming 4 GiB) is a damaged capture, not some other kind of file.
        // The input ended inside the file header (read_prefix stops short only at the end).
        Err(_) if has_capture_magic(&prefix_magic) && prefix_short => {
            return Err(truncated(path, 0, 0).into())
        }
        Err(e) if has_capture_magic(&prefix_magic) => {
            let what = format!("bad file header ({})", describe(&e));
            return Err(corrupt(path, 0, 0, what).into());
        }
        Err(_) => return Err(FileError::NotACapture(path.to_string()).into()),
    };

    let mut ifaces: Vec<Interface> = Vec::new();
    let mut frames: u64 = 0;
    let mut offset: u64 = 0;
    let mut buffer_size = initial;
    loop {
        if format == Format::Pcapng {
            check_block_len(reader.data(), path, frames, offset)?;
        }
        let flow = match reader.next() {
            Ok((consumed, block)) => {
                let flow = handle_block(block, &mut ifaces, &mut frames, path, offset, sink)?;
                offset += consumed as u64;
                // No shift here: refill() shifts the few bytes left when it must, instead of
                // moving half the buffer every time half of it has been read.
                reader.consume_noshift(consumed);
                flow
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(needed)) => {
                if reader.reader_exhausted() {
                    // The input has ended: cleanly between records, or inside one (a damaged
                    // one, if it claims more than any we accept).
                    if reader.data().is_empty() {
                        break;
                    }
                    return Err(ended_inside(reader.data(), format, path, frames, offset).into());
                }
                if needed > MAX_BLOCK {
                    let what = format!("a record claims {needed} more bytes");
                    return Err(corrupt(path, frames, offset, what).into());
                }
                let before = reader.data().len();
                if let Err(e) = reader.refill() {
                    return Err(corrupt(path, frames, offset, describe(&e)).into());
                }
                // No progress and not at the end: the buffer is full yet holds less than one
                // record, so grow it (bounded by MAX_BLOCK above).
                if reader.data().len() == before && !reader.reader_exhausted() {
                    buffer_size = grow(&mut *reader, buffer_size, format, path, frames, offset)?;
                }
                Flow::Continue
            }
            Err(PcapError::BufferTooSmall) => {
                buffer_size = grow(&mut *reader, buffer_size, format, path, frames, offset)?;
                Flow::Continue
            }
            // pcap-parser says this when the input ends inside a record.
            Err(PcapError::UnexpectedEof) => {
                return Err(ended_inside(reader.data(), format, path, frames, offset).into());
            }
            Err(PcapError::ReadError) => {
                return Err(err_read(io::Error::other("read failed")).into());
            }
            Err(e) => return Err(corrupt(path, frames, offset, describe(&e)).into()),
        };
        if flow == Flow::Stop {
            break;
        }
    }
    Ok(frames)
}

/// Reads frames from a mapped regular file, a window at a time, and hands each to `sink` with the
/// window its bytes lie in (the worker shards keep the window instead of copying the frame).
/// The same formats, checks and errors as [`read_from`], without copying the file.
pub fn read_mapped(
    path: &str,
    file: &MappedFile,
    sink: &mut dyn FnMut(&Frame<'_>, &Arc<Window>) -> io::Result<Flow>,
) -> Result<u64, ReadError> {
    let err_read = |source| FileError::Read {
        path: path.to_string(),
        source,
    };
    let size = file.size();
    let mut windows = Windows::new(file);
    let mut window = windows.at(0).map_err(err_read)?;
    let head = window.bytes();
    let magic: [u8; 4] = head
        .get(..4)
        .and_then(|m| m.try_into().ok())
        .unwrap_or([0; 4]);
    if !has_capture_magic(&magic) {
        return Err(FileError::NotACapture(path.to_string()).into());
    }
    let format = Format::of(&magic);
    // The header is judged on the bytes the stream reader judges it on (pcapng's first block
    // up to 64 KiB), so both readers accept and refuse the same files.
    let prefix = head.get(..prefix_len(head)).unwrap_or(head);
    let header = match format {
        Format::Pcapng => parse_sectionheaderblock(prefix).map(|_| None),
        Format::Pcap { .. } => parse_pcap_header(prefix).map(|(_, h)| Some(h)),
    };
    let (mut parser, mut pos, mut ifaces) = match header {
        Ok(None) => (Parser::Ng { big_endian: false }, 0, Vec::new()),
        Ok(Some(h)) => {
            let order = match (h.is_modified_format(), h.is_bigendian()) {
                (true, _) => Legacy::Modified,
                (false, true) => Legacy::BigEndian,
                (false, false) => Legacy::LittleEndian,
            };
            let consumed = h.size() as u64;
            let mut ifaces = Vec::new();
            let mut none = 0;
            let block = PcapBlockOwned::from(h);
            handle_block(block, &mut ifaces, &mut none, path, 0, &mut |_| {
                Ok(Flow::Continue)
            })?;
            (Parser::Legacy(order), consumed, ifaces)
        }
        // The file ends inside the header it starts (even a damaged one): cut short.
        Err(_) if head.len() < prefix_len(head) => return Err(truncated(path, 0, 0).into()),
        // What the stream reader says too: pcap-parser tries a pcap header after a failed
        // section header, and reports that attempt.
        Err(_) => {
            let what = format!(
                "bad file header ({})",
                describe(&PcapError::HeaderNotRecognized)
            );
            return Err(corrupt(path, 0, 0, what).into());
        }
    };

    let mut frames: u64 = 0;
    while pos < size {
        if pos - window.offset() >= WINDOW as u64 {
            window = windows.advance(window, pos).map_err(err_read)?;
        }
        let at = usize::try_from(pos - window.offset()).unwrap_or(usize::MAX);
        let rest = window.bytes().get(at..).unwrap_or(&[]);
        if format == Format::Pcapng {
            check_block_len(rest, path, frames, pos)?;
        }
        // Nearly every block is a classic pcap record or a pcapng enhanced packet block: taken
        // here, without the enums the general case goes through. One that does not parse is
        // parsed again below, which says what is wrong with it.
        let packet = match parser {
            Parser::Legacy(order) => order
                .parse(rest)
                .ok()
                .map(|(rem, record)| (rem, legacy_frame(&record, &ifaces, frames, path, pos))),
            Parser::Ng { big_endian } => enhanced_packet(rest, big_endian)
                .map(|(rem, epb)| (rem, epb_frame(&epb, &ifaces, frames, path, pos))),
        };
        if let Some((rem, frame)) = packet {
            prefetch_ahead(rem, format);
            let frame = frame?;
            frames += 1;
            pos += (rest.len() - rem.len()) as u64;
            if sink(&frame, &window).map_err(ReadError::Sink)? == Flow::Stop {
                break;
            }
            continue;
        }
        match parser.next(rest) {
            Ok((0, _)) => {
                let what = "a block of no length".to_string();
                return Err(corrupt(path, frames, pos, what).into());
            }
            Ok((consumed, block)) => {
                let rem = rest.get(consumed..).unwrap_or(&[]);
                prefetch_ahead(rem, format);
                let flow = handle_block(block, &mut ifaces, &mut frames, path, pos, &mut |f| {
                    sink(f, &window)
                })?;
                pos += consumed as u64;
                if flow == Flow::Stop {
                    break;
                }
            }
            // The block does not end in this window, which reaches the file's end or holds
            // any block we accept: damaged, or the file is cut short. As in the stream
            // reader, a block of 16 MiB or more (in its section's byte order) is damage even
            // where the file ends.
            Err(nom::Err::Incomplete(needed)) => {
                let total = match needed {
                    nom::Needed::Size(n) => rest.len().saturating_add(n.get()),
                    nom::Needed::Unknown => rest.len(),
                };
                let at_end = window.offset() + window.bytes().len() as u64 >= size;
                if at_end && total < MAX_BLOCK {
                    return Err(ended_inside(rest, format, path, frames, pos).into());
                }
                let what = claim_too_large(rest, format).unwrap_or_else(too_large_block);
                return Err(corrupt(path, frames, pos, what).into());
            }
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                return Err(corrupt(path, frames, pos, describe(&e)).into());
            }
        }
    }
    Ok(frames)
}

/// Asks the CPU for what the next blocks need while this one is handled: `rest` (the next
/// block), the block after it (whose place is in the next block's header, asked for by the
/// previous block; so each block's bytes are asked for two blocks before they are read), and
/// one line [`PAGE_AHEAD`] bytes further on.
fn prefetch_ahead(rest: &[u8], format: Format) {
    prefetch(rest);
    // Unchecked, and approximate where `claimed_len` is (the "modified" pcap header is 8 bytes
    // longer; pcapng's byte order is guessed): only a prefetch goes there.
    let after = claimed_len(rest, format).and_then(|n| rest.get(usize::try_from(n).ok()?..));
    if let Some(after) = after {
        prefetch(after);
    }
    if let Some(far) = rest.get(PAGE_AHEAD..) {
        prefetch_line(far);
    }
}

/// How far ahead [`prefetch_ahead`] touches one line: two pages, a few records on. Reading a
/// record on a page the reader had not touched yet stalled, probably on the address translation
/// (this VM's nested paging makes that walk long); asked for early, it is done by the time the
/// records there are read. mix-10m-s1, 4 alternating runs: 2.581 → 2.468 s (16 KiB ahead:
/// 2.514 s).
const PAGE_AHEAD: usize = 8 << 10;

/// A classic pcap file's records: little- or big-endian, or the "modified" format.
#[derive(Clone, Copy)]
enum Legacy {
    LittleEndian,
    BigEndian,
    Modified,
}

impl Legacy {
    /// The record at the start of `data`. A direct call for each order rather than a function
    /// pointer: this runs once per packet, and the record comes back in registers or in a
    /// stack slot the caller can read at once.
    fn parse(self, data: &[u8]) -> nom::IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>> {
        match self {
            Legacy::LittleEndian => parse_pcap_frame(data),
            Legacy::BigEndian => parse_pcap_frame_be(data),
            Legacy::Modified => parse_pcap_frame_modified(data),
        }
    }
}

/// How the next block of a file in memory is parsed.
enum Parser {
    Legacy(Legacy),
    /// pcapng, in the byte order of the current section.
    Ng {
        big_endian: bool,
    },
}

/// The enhanced packet block at the start of `data` (a pcapng section in that byte order) and
/// what follows it, when that is what is there and it parses; anything else is left to
/// [`Parser::next`].
fn enhanced_packet(data: &[u8], big_endian: bool) -> Option<(&[u8], EnhancedPacketBlock<'_>)> {
    let ty: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let ty = if big_endian {
        u32::from_be_bytes(ty)
    } else {
        u32::from_le_bytes(ty)
    };
    if ty != EPB_MAGIC {
        return None;
    }
    let parsed = if big_endian {
        parse_enhancedpacketblock_be(data)
    } else {
        parse_enhancedpacketblock_le(data)
    };
    parsed.ok()
}

impl Parser {
    /// The block at the start of `data` and its length.
    fn next<'a>(
        &mut self,
        data: &'a [u8],
    ) -> Result<(usize, PcapBlockOwned<'a>), nom::Err<PcapError<&'a [u8]>>> {
        match self {
            Parser::Legacy(order) => {
                let (rem, record) = order.parse(data)?;
                Ok((data.len() - rem.len(), PcapBlockOwned::from(record)))
            }
            Parser::Ng { big_endian } => {
                let (rem, block) = if *big_endian {
                    parse_block_be(data)?
                } else {
                    parse_block_le(data)?
                };
                if let Block::SectionHeader(shb) = &block {
                    *big_endian = shb.big_endian();
                }
                Ok((data.len() - rem.len(), PcapBlockOwned::from(block)))
            }
        }
    }
}

/// The frame's length on the wire. A few link types prefix each record with a pseudo-header
/// that was never on the wire; like Wireshark's wiretap (`libpcap.c`, pseudo-header handling) we
/// leave it out of the byte counts: SunATM (LINKTYPE 123) has 4 bytes.
fn wire_len(link: LinkType, orig_len: u32) -> u32 {
    orig_len.saturating_sub(pseudo_header_len(link))
}

/// Bytes of pseudo-header at the start of each record of `link` (see [`wire_len`]); `-w` adds
/// them back, so a rewritten file states the same lengths as its source.
pub fn pseudo_header_len(link: LinkType) -> u32 {
    match link.to_dlt() {
        123 => 4,
        _ => 0,
    }
}

/// The container format, as far as judging a pending block's length field needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap { little_endian: bool },
    Pcapng,
}

impl Format {
    fn of(magic: &[u8; 4]) -> Format {
        match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::Pcapng,
            // d4c3b2a1, 4d3cb2a1, 34cdb2a1: a little-endian writer.
            [0xd4 | 0x4d | 0x34, ..] => Format::Pcap {
                little_endian: true,
            },
            _ => Format::Pcap {
                little_endian: false,
            },
        }
    }
}

/// Bytes the block or record at the start of `data` claims, header included, when its length
/// field is there. pcapng's byte order can change with each section and is not tracked here, so
/// the smaller reading is taken: a real block's length is small in its own byte order.
fn claimed_len(data: &[u8], format: Format) -> Option<u64> {
    let field = |at: usize| -> Option<[u8; 4]> { data.get(at..at + 4)?.try_into().ok() };
    Some(match format {
        Format::Pcapng => {
            let b = field(4)?;
            u64::from(u32::from_le_bytes(b).min(u32::from_be_bytes(b)))
        }
        Format::Pcap { little_endian } => {
            let b = field(8)?;
            let caplen = if little_endian {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            16 + u64::from(caplen)
        }
    })
}

/// Every pcapng block holds at least its type and two length fields (12 bytes). pcap-parser
/// 0.17 subtracts 12 from the length of some block types (a Process Information Block, 0x80000001)
/// before checking it, which overflows on a shorter claim (found by the `pcap_reader` fuzz
/// target), so such a block ends the read here, as damage, as Wireshark reports it.
fn check_block_len(data: &[u8], path: &str, frames: u64, offset: u64) -> Result<(), FileError> {
    match claimed_len(data, Format::Pcapng) {
        Some(claim) if claim < 12 => {
            let what = format!("a block's length field says {claim} bytes (the least is 12)");
            Err(corrupt(path, frames, offset, what))
        }
        _ => Ok(()),
    }
}

/// What is wrong with the block or record at the start of `data` when its length field claims
/// more than any we accept, or None.
fn claim_too_large(data: &[u8], format: Format) -> Option<String> {
    let claim = claimed_len(data, format)?;
    match format {
        // Not the number itself: in the smaller reading it may not be what a tool shows.
        Format::Pcapng if claim > MAX_BLOCK as u64 => Some(format!(
            "a block's length field claims more than {} MiB",
            MAX_BLOCK >> 20
        )),
        Format::Pcap { .. } if claim - 16 > MAX_RECORD as u64 => Some(format!(
            "a record claims {} captured bytes (more than {MAX_RECORD})",
            claim - 16
        )),
        _ => None,
    }
}

/// Doubles the read buffer for a block that does not fit, after checking the block's own length
/// field: one that claims more than any block we accept ends the read at once, instead of after
/// allocating (and zeroing) 16 MiB to find out, which for a damaged length field would be the
/// usual case (found by the `pcap_reader` fuzz target, where it took 3/4 of the time).
fn grow(
    reader: &mut dyn PcapReaderIterator,
    size: usize,
    format: Format,
    path: &str,
    frames: u64,
    offset: u64,
) -> Result<usize, FileError> {
    if let Some(what) = claim_too_large(reader.data(), format) {
        return Err(corrupt(path, frames, offset, what));
    }
    let new = size.saturating_mul(2);
    if new > MAX_BLOCK + BUFFER_SIZE || !reader.grow(new) {
        return Err(corrupt(path, frames, offset, too_large_block()));
    }
    Ok(new)
}

fn too_large_block() -> String {
    format!("a block larger than {} MiB", MAX_BLOCK >> 20)
}

/// The first four bytes of a pcapng file or of a classic pcap file (µs or ns, either byte
/// order, and the "modified" pcap of old Linux patches).
fn has_capture_magic(magic: &[u8; 4]) -> bool {
    const MAGICS: [u32; 4] = [0x0a0d_0d0a, 0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34];
    MAGICS
        .iter()
        .any(|&m| *magic == m.to_be_bytes() || *magic == m.to_le_bytes())
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::HeaderNotRecognized => "unknown block or header magic".to_string(),
        PcapError::UnexpectedEof => "unexpected end of data".to_string(),
        PcapError::NomError(_, kind) => format!("malformed block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("malformed block ({kind:?})"),
        other => format!("{other:?}"),
    }
}

fn truncated(path: &str, frames: u64, offset: u64) -> FileError {
    FileError::Truncated {
        path: path.to_string(),
        frames,
        offset,
    }
}

/// The input ends inside the block or record at the start of `data`: damage when it claims more
/// than any we accept, else the file is cut short.
fn ended_inside(data: &[u8], format: Format, path: &str, frames: u64, offset: u64) -> FileError {
    match claim_too_large(data, format) {
        Some(what) => corrupt(path, frames, offset, what),
        None => truncated(path, frames, offset),
    }
}

fn corrupt(path: &str, frames: u64, offset: u64, what: String) -> FileError {
    FileError::Corrupt {
        path: path.to_string(),
        frames,
        offset,
        what,
    }
}

/// The start of the input, enough for pcap-parser to recognise the format: the 24-byte pcap
/// header, or pcapng's whole first block (its section header, bounded to 64 KiB). No more, so a
/// slow live pipe shows its first packets at once.
fn read_prefix(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let want = prefix_len(&buf);
        if buf.len() >= want {
            return Ok(buf);
        }
        let room = (want - buf.len()).min(chunk.len());
        match input.read(&mut chunk[..room]) {
            Ok(0) => return Ok(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How many bytes [`read_prefix`] wants, given those it has: 12 to tell the formats apart,
/// then the pcap header or pcapng's first block (bounded to 64 KiB).
fn prefix_len(buf: &[u8]) -> usize {
    const MAX: usize = 64 * 1024;
    match buf.get(0..12) {
        Some(h) if h[0..4] == [0x0a, 0x0d, 0x0d, 0x0a] => {
            let len = [h[4], h[5], h[6], h[7]];
            let block = if h[8..12] == [0x4d, 0x3c, 0x2b, 0x1a] {
                u32::from_le_bytes(len)
            } else {
                u32::from_be_bytes(len)
            };
            (block as usize).clamp(28, MAX)
        }
        Some(_) => 24,
        None => 12,
    }
}

/// Takes one block: a frame goes to `sink`, a header or interface description updates `ifaces`.
/// Generic and inlined: it runs once per frame, and each reader passes its own sink.
#[inline]
fn handle_block<F>(
    block: PcapBlockOwned<'_>,
    ifaces: &mut Vec<Interface>,
    frames: &mut u64,
    path: &str,
    offset: u64,
    sink: &mut F,
) -> Result<Flow, ReadError>
where
    F: FnMut(&Frame<'_>) -> io::Result<Flow> + ?Sized,
{
    let frame = match block {
        PcapBlockOwned::LegacyHeader(header) => {
            ifaces.clear();
            ifaces.push(Interface {
                link: LinkType::from_dlt(header.network.0 as u32),
                units_per_sec: if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                },
                offset_secs: 0,
            });
            return Ok(Flow::Continue);
        }
        PcapBlockOwned::Legacy(record) => legacy_frame(&record, ifaces, *frames, path, offset)?,
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            // Interface ids restart in every section (pcapng §4.1).
            ifaces.clear();
            return Ok(Flow::Continue);
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            ifaces.push(Interface {
                link: LinkType::from_dlt(idb.linktype.0 as u32),
                // An unusable if_tsresol (e.g. 10^40) falls back to the default microseconds.
                units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                offset_secs: idb.ts_offset(),
            });
            return Ok(Flow::Continue);
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            epb_frame(&epb, ifaces, *frames, path, offset)?
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(iface) = ifaces.first().copied() else {
                return Err(
                    corrupt(path, *frames, offset, "packet before interface".into()).into(),
                );
            };
            Frame {
                // A simple packet block has no timestamp (pcapng §4.4).
                ts: Timestamp(0),
                orig_len: wire_len(iface.link, spb.origlen),
                link: iface.link,
                iface: IfaceId(0),
                data: spb.data.get(..spb.origlen as usize).unwrap_or(spb.data),
            }
        }
        PcapBlockOwned::NG(_) => return Ok(Flow::Continue),
    };
    *frames += 1;
    sink(&frame).map_err(ReadError::Sink)
}

/// The frame a classic pcap record holds, read with the file header's interface.
// Always inlined: it runs for every record, and called, its frame came back through the stack
// and was read back at once with wider loads than it was written with (a store-forwarding
// stall that `perf annotate` showed in `read_mapped`).
#[inline(always)]
fn legacy_frame<'a>(
    record: &LegacyPcapBlock<'a>,
    ifaces: &[Interface],
    frames: u64,
    path: &str,
    offset: u64,
) -> Result<Frame<'a>, ReadError> {
    let Some(iface) = ifaces.first().copied() else {
        return Err(corrupt(path, frames, offset, "record before header".into()).into());
    };
    if record.data.len() > MAX_RECORD {
        let what = format!(
            "a record claims {} captured bytes (more than {MAX_RECORD})",
            record.caplen
        );
        return Err(corrupt(path, frames, offset, what).into());
    }
    Ok(Frame {
        ts: Timestamp::from_parts(
            i64::from(record.ts_sec),
            u64::from(record.ts_usec),
            iface.units_per_sec,
        ),
        orig_len: wire_len(iface.link, record.origlen),
        link: iface.link,
        iface: IfaceId(0),
        data: record.data,
    })
}

/// The frame an enhanced packet block holds, read with the interface it names.
// Always inlined, as `legacy_frame` is: it runs for every block of a pcapng file.
#[inline(always)]
fn epb_frame<'a>(
    epb: &EnhancedPacketBlock<'a>,
    ifaces: &[Interface],
    frames: u64,
    path: &str,
    offset: u64,
) -> Result<Frame<'a>, ReadError> {
    let Some(iface) = ifaces.get(epb.if_id as usize).copied() else {
        let what = format!(
            "a packet names interface {} which was never described",
            epb.if_id
        );
        return Err(corrupt(path, frames, offset, what).into());
    };
    let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
    let units = iface.units_per_sec.max(1);
    let secs = (ticks / units) as i64;
    Ok(Frame {
        ts: Timestamp::from_parts(secs.saturating_add(iface.offset_secs), ticks % units, units),
        orig_len: wire_len(iface.link, epb.origlen),
        link: iface.link,
        iface: IfaceId(epb.if_id),
        // Never trust caplen over the block's own length.
        data: epb.data.get(..epb.caplen as usize).unwrap_or(epb.data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_lengths() {
        // pcapng: the block length at 4..8, the smaller of both byte orders.
        let epb = [6, 0, 0, 0, 0x20, 0, 0, 0];
        assert_eq!(claimed_len(&epb, Format::Pcapng), Some(0x20));
        let huge = [6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff];
        assert_eq!(claimed_len(&huge, Format::Pcapng), Some(0xf0ff_ffff));
        // Classic pcap: 16-byte record header plus caplen (at 8..12) in the file's byte order.
        let rec = [0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0x40, 0, 0, 0];
        let le = Format::of(&[0xd4, 0xc3, 0xb2, 0xa1]);
        let be = Format::of(&[0xa1, 0xb2, 0xc3, 0xd4]);
        assert_eq!(claimed_len(&rec, le), Some(16 + 0x40));
        assert_eq!(claimed_len(&rec, be), Some(16 + 0x4000_0000));
        // Too few bytes to hold the field: unknown, so the buffer may grow.
        assert_eq!(claimed_len(&rec[..10], le), None);
        assert_eq!(claimed_len(&epb[..6], Format::Pcapng), None);
    }
}
