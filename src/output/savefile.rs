//! `-w FILE`: the packets netlens counted, written to pcap (or pcapng with `--pcapng`), with
//! tcpdump's rotation: `-C` (size), `-G` (time, strftime names) and `-W` (file count).
//!
//! The formats are written by hand: a pcap file is a 24-byte header and a 16-byte header per
//! record, pcapng three block types; a library would add a copy per packet for no gain. tshark
//! and capinfos re-read every file the tests write, as independent judges.
//!
//! Rotation follows tcpdump(8), with one difference: `-G` intervals run on packet time, like the
//! rest of netlens, so reading a file with `-G` splits it the same way on every run.
//! - Names: with `-G`, the name is passed through strftime (UTC) at the time the file is opened.
//!   With `-C` or `-W`, a counter is appended: tcpdump's `FILE`, `FILE1`, `FILE2`, ... without
//!   `-W`, and `FILE0`, `FILE1`, ... padded to the width of `-W`'s value with it.
//! - `-C MB` starts a new file before a packet that would take the file past MB × 1,000,000
//!   bytes (a file holds at least one packet); with `-W N` the counter wraps after N files,
//!   overwriting the oldest (a ring buffer).
//! - `-G SECS` starts a new file when a packet comes SECS or more after the current file was
//!   opened; with `-W N` (and no `-C`) the run stops after N files, as tcpdump exits.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use chrono::format::{Item, StrftimeItems};
use wire::LinkType;

use crate::capture::{Frame, IfaceId};
use crate::time::Timestamp;

/// Largest packet we claim to hold (the snapshot length written in headers): the same limit
/// libpcap and Wireshark use.
const SNAPLEN: u32 = 262_144;

/// Output buffer per file: large writes, few system calls.
const BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Pcap,
    Pcapng,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveOptions {
    /// The name given with `-w` (a strftime pattern with `-G`).
    pub path: String,
    pub format: Format,
    /// `-C`: most bytes per file.
    pub max_bytes: Option<u64>,
    /// `-G`: seconds per file.
    pub rotate_secs: Option<u64>,
    /// `-W`: how many files.
    pub max_files: Option<u32>,
    /// Interface names by [`IfaceId`] (live capture), written to pcapng interface blocks.
    pub iface_names: Vec<String>,
}

impl SaveOptions {
    /// Checks what can be checked before any packet: the strftime pattern, flag combinations.
    pub fn validate(&self) -> Result<(), String> {
        if self.path == "-"
            && (self.max_bytes.is_some() || self.rotate_secs.is_some() || self.max_files.is_some())
        {
            return Err(
                "-w - writes to standard output, which cannot rotate: drop -C/-G/-W".into(),
            );
        }
        if self.rotate_secs.is_some()
            && StrftimeItems::new(&self.path).any(|i| matches!(i, Item::Error))
        {
            return Err(format!(
                "-w {}: not a valid strftime pattern for -G (use e.g. 'dump-%Y%m%d-%H%M%S.pcap'; write %% for a literal %)",
                self.path
            ));
        }
        if self.max_files.is_some() && self.max_bytes.is_none() && self.rotate_secs.is_none() {
            return Err("-W needs -C or -G: it limits how many files they rotate through".into());
        }
        Ok(())
    }
}

/// Why writing stopped.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: a pcap file holds one link type, but packets of link type {new} follow {first}; write pcapng instead (--pcapng)")]
    MixedLinks {
        path: String,
        first: &'static str,
        new: &'static str,
    },
}

/// Why a new file starts: a new `-G` interval (or the first file), or `-C`'s size.
#[derive(Debug, Clone, Copy)]
enum Rotation {
    Time,
    Size,
}

/// What [`Savefile::write`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// `-G` with `-W`: the last file is complete; the run stops before this packet.
    Done,
}

/// The open output file and the rotation state.
pub struct Savefile {
    options: SaveOptions,
    current: Option<Current>,
    /// Files opened so far.
    opened: u64,
    /// The `-C` counter of the current file name: counts size rotations, restarts at 0 when
    /// `-G` starts a new name (as tcpdump does), wraps at `-W`.
    count: u64,
    /// Frames written in total, over all files.
    pub frames: u64,
    /// Every file name written, in order (a ring buffer lists a name again when it reuses it).
    pub files: Vec<PathBuf>,
}

struct Current {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    /// Bytes in the file so far.
    size: u64,
    frames: u64,
    /// Packet time at which the file was opened (for `-G`).
    opened_at: Timestamp,
    /// pcap: the file's one link type. pcapng: the interface blocks written, by (interface,
    /// link type), in interface-id order.
    links: Vec<(IfaceId, LinkType)>,
}

impl Savefile {
    /// Prepares the writer and, unless `-G` names files by packet time, creates the first file
    /// now, so an unwritable path fails before the capture starts. With `-G` the first file is
    /// created with the first packet, or at [`Savefile::finish`] if none comes: `-w` always
    /// leaves a valid file.
    pub fn create(options: SaveOptions) -> Result<Self, SaveError> {
        let timed = options.rotate_secs.is_some();
        let mut save = Savefile::unopened(options);
        if !timed {
            save.open(Timestamp(i64::MIN))?;
        }
        Ok(save)
    }

    fn unopened(options: SaveOptions) -> Savefile {
        Savefile {
            options,
            current: None,
            opened: 0,
            count: 0,
            frames: 0,
            files: Vec::new(),
        }
    }

    pub fn write(&mut self, frame: &Frame<'_>) -> Result<Saved, SaveError> {
        let record = record_len(self.options.format, frame.data.len());
        let rotate = match &self.current {
            None if self.opened == 0 => Some(Rotation::Time),
            None => None,
            Some(cur) => {
                let by_size = self
                    .options
                    .max_bytes
                    .is_some_and(|max| cur.frames > 0 && cur.size + record > max);
                let by_time = self.options.rotate_secs.is_some_and(|secs| {
                    frame.ts.0.saturating_sub(cur.opened_at.0)
                        >= i64::try_from(secs)
                            .unwrap_or(i64::MAX)
                            .saturating_mul(Timestamp::NANOS_PER_SEC)
                });
                if by_time {
                    Some(Rotation::Time)
                } else if by_size {
                    Some(Rotation::Size)
                } else {
                    None
                }
            }
        };
        if let Some(rotation) = rotate {
            let time_limited =
                self.options.max_bytes.is_none() && self.options.rotate_secs.is_some();
            if time_limited
                && self
                    .options
                    .max_files
                    .is_some_and(|w| self.opened >= u64::from(w))
            {
                return Ok(Saved::Done);
            }
            match rotation {
                Rotation::Time => self.count = 0,
                Rotation::Size => {
                    self.count += 1;
                    if let Some(w) = self.options.max_files.filter(|w| *w > 0) {
                        self.count %= u64::from(w);
                    }
                }
            }
            self.open(frame.ts)?;
        }
        let format = self.options.format;
        let Some(cur) = self.current.as_mut() else {
            return Ok(Saved::Written);
        };
        let io = |path: &PathBuf| {
            let path = path.display().to_string();
            move |source| SaveError::Io { path, source }
        };
        match format {
            Format::Pcap => {
                match cur.links.first() {
                    None => {
                        write_pcap_header(&mut cur.out, frame.link).map_err(io(&cur.path))?;
                        cur.size += 24;
                        cur.links.push((frame.iface, frame.link));
                    }
                    Some(&(_, first)) if first != frame.link => {
                        return Err(SaveError::MixedLinks {
                            path: cur.path.display().to_string(),
                            first: first.name(),
                            new: frame.link.name(),
                        })
                    }
                    Some(_) => {}
                }
                write_pcap_record(&mut cur.out, frame).map_err(io(&cur.path))?;
            }
            Format::Pcapng => {
                let key = (frame.iface, frame.link);
                let id = match cur.links.iter().position(|k| *k == key) {
                    Some(id) => id,
                    None => {
                        let name = self.options.iface_names.get(frame.iface.0 as usize);
                        let written = write_idb(&mut cur.out, frame.link, name.map(String::as_str))
                            .map_err(io(&cur.path))?;
                        cur.size += written;
                        cur.links.push(key);
                        cur.links.len() - 1
                    }
                };
                write_epb(&mut cur.out, id as u32, frame).map_err(io(&cur.path))?;
            }
        }
        cur.size += record;
        cur.frames += 1;
        self.frames += 1;
        Ok(Saved::Written)
    }

    /// Pushes buffered packets to the file (live capture calls this after each batch).
    pub fn flush(&mut self) -> Result<(), SaveError> {
        match &mut self.current {
            Some(cur) => cur.out.flush().map_err(|source| SaveError::Io {
                path: cur.path.display().to_string(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// Completes the last file. A run without packets still leaves a valid, empty capture (with
    /// the first link type unknown, pcap says Ethernet, as tcpdump does for an empty `-r`).
    pub fn finish(mut self) -> Result<Savefile, SaveError> {
        if self.current.is_none() && self.opened == 0 {
            self.open(Timestamp(0))?;
        }
        if let Some(cur) = self.current.as_mut() {
            if self.options.format == Format::Pcap && cur.links.is_empty() {
                write_pcap_header(&mut cur.out, LinkType::Ethernet).map_err(|source| {
                    SaveError::Io {
                        path: cur.path.display().to_string(),
                        source,
                    }
                })?;
            }
        }
        self.close()?;
        Ok(self)
    }

    fn close(&mut self) -> Result<(), SaveError> {
        if let Some(mut cur) = self.current.take() {
            let path = cur.path.display().to_string();
            cur.out
                .flush()
                .map_err(|source| SaveError::Io { path, source })?;
        }
        Ok(())
    }

    fn open(&mut self, ts: Timestamp) -> Result<(), SaveError> {
        self.close()?;
        let is_file = self.options.path != "-";
        let (path, inner): (PathBuf, Box<dyn Write + Send>) = if is_file {
            let path = PathBuf::from(self.name(ts));
            let file = File::create(&path).map_err(|source| SaveError::Io {
                path: path.display().to_string(),
                source,
            })?;
            (path, Box::new(file))
        } else {
            (PathBuf::from("standard output"), Box::new(io::stdout()))
        };
        let mut out = BufWriter::with_capacity(BUFFER, inner);
        let mut size = 0;
        if self.options.format == Format::Pcapng {
            size = write_shb(&mut out).map_err(|source| SaveError::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        self.opened += 1;
        self.files.push(path.clone());
        self.current = Some(Current {
            path,
            out,
            size,
            frames: 0,
            opened_at: ts,
            links: Vec::new(),
        });
        Ok(())
    }

    /// The name of the next file, as tcpdump makes it (see the module comment).
    fn name(&self, ts: Timestamp) -> String {
        let base = match self.options.rotate_secs {
            Some(_) => strftime_utc(&self.options.path, ts),
            None => self.options.path.clone(),
        };
        // Only -C numbers files; -G alone names them by time.
        if self.options.max_bytes.is_none() {
            return base;
        }
        let index = self.count;
        match self.options.max_files {
            Some(w) => {
                let width = w.saturating_sub(1).max(1).to_string().len();
                format!("{base}{index:0width$}")
            }
            None if index == 0 => base,
            None => format!("{base}{index}"),
        }
    }
}

/// `pattern` through strftime at `ts` in UTC (netlens prints every time in UTC). The pattern was
/// checked by [`SaveOptions::validate`].
fn strftime_utc(pattern: &str, ts: Timestamp) -> String {
    use std::fmt::Write as _;
    let secs = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
    let nanos = ts.0.rem_euclid(Timestamp::NANOS_PER_SEC) as u32;
    let Some(time) = chrono::DateTime::from_timestamp(secs, nanos) else {
        return pattern.to_string();
    };
    let mut name = String::new();
    if write!(
        name,
        "{}",
        time.format_with_items(StrftimeItems::new(pattern))
    )
    .is_err()
    {
        return pattern.to_string();
    }
    name
}

/// The original length as the source file stated it: a damaged record may claim less than it
/// holds, and is copied as it is, like the rest of its bytes.
fn record_orig_len(frame: &Frame<'_>) -> u32 {
    frame
        .orig_len
        .saturating_add(crate::capture::file::pseudo_header_len(frame.link))
}

/// Bytes one packet takes in the file.
fn record_len(format: Format, caplen: usize) -> u64 {
    let caplen = caplen as u64;
    match format {
        Format::Pcap => 16 + caplen,
        Format::Pcapng => 32 + caplen.next_multiple_of(4),
    }
}

/// pcap-savefile(5) header, little-endian, microsecond timestamps (what tcpdump writes).
fn write_pcap_header(out: &mut impl Write, link: LinkType) -> io::Result<()> {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone and sigfigs stay 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&link.to_dlt().to_le_bytes());
    out.write_all(&h)
}

fn write_pcap_record(out: &mut impl Write, frame: &Frame<'_>) -> io::Result<()> {
    let secs = frame.ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
    let micros = frame.ts.0.rem_euclid(Timestamp::NANOS_PER_SEC) / 1000;
    // The format's seconds are unsigned 32-bit: times outside 1970..2106 are clamped.
    let secs = u32::try_from(secs.max(0)).unwrap_or(u32::MAX);
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&(micros as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(frame.data.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&record_orig_len(frame).to_le_bytes());
    out.write_all(&h)?;
    out.write_all(frame.data)
}

/// Section header block: little-endian, version 1.0, section length unknown. Returns its size.
fn write_shb(out: &mut impl Write) -> io::Result<u64> {
    let mut b = Vec::with_capacity(28);
    b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    b.extend_from_slice(&28u32.to_le_bytes());
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    b.extend_from_slice(&28u32.to_le_bytes());
    out.write_all(&b)?;
    Ok(b.len() as u64)
}

/// Interface description block with nanosecond timestamps (`if_tsresol` 9) and, for live
/// capture, the interface's name. Returns its size.
fn write_idb(out: &mut impl Write, link: LinkType, name: Option<&str>) -> io::Result<u64> {
    let mut options = Vec::new();
    if let Some(name) = name {
        push_option(&mut options, 2, name.as_bytes());
    }
    push_option(&mut options, 9, &[9]);
    options.extend_from_slice(&[0, 0, 0, 0]);
    let len = 20 + options.len() as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    // The block's link-type field is 16 bits; larger values cannot occur in LINKTYPE_ numbers.
    b.extend_from_slice(&(link.to_dlt() as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&SNAPLEN.to_le_bytes());
    b.extend_from_slice(&options);
    b.extend_from_slice(&len.to_le_bytes());
    out.write_all(&b)?;
    Ok(b.len() as u64)
}

fn push_option(options: &mut Vec<u8>, code: u16, value: &[u8]) {
    let value = &value[..value.len().min(usize::from(u16::MAX) & !3)];
    options.extend_from_slice(&code.to_le_bytes());
    options.extend_from_slice(&(value.len() as u16).to_le_bytes());
    options.extend_from_slice(value);
    options.resize(options.len().next_multiple_of(4), 0);
}

/// Enhanced packet block, timestamp in nanoseconds.
fn write_epb(out: &mut impl Write, iface: u32, frame: &Frame<'_>) -> io::Result<()> {
    let caplen = frame.data.len();
    let padded = caplen.next_multiple_of(4);
    let len = (32 + padded) as u32;
    // Nanoseconds since 1970 as an unsigned 64-bit count; earlier times are clamped to 0.
    let ts = u64::try_from(frame.ts.0.max(0)).unwrap_or(0);
    let mut h = [0u8; 28];
    h[0..4].copy_from_slice(&6u32.to_le_bytes());
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..12].copy_from_slice(&iface.to_le_bytes());
    h[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
    h[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
    h[20..24].copy_from_slice(&(caplen as u32).to_le_bytes());
    h[24..28].copy_from_slice(&record_orig_len(frame).to_le_bytes());
    out.write_all(&h)?;
    out.write_all(frame.data)?;
    out.write_all(&[0u8; 3][..padded - caplen])?;
    out.write_all(&len.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(path: &str) -> SaveOptions {
        SaveOptions {
            path: path.to_string(),
            format: Format::Pcap,
            max_bytes: None,
            rotate_secs: None,
            max_files: None,
            iface_names: Vec::new(),
        }
    }

    #[test]
    fn names_follow_tcpdump() {
        let mut s = Savefile::unopened(SaveOptions {
            max_bytes: Some(1000),
            ..options("out.pcap")
        });
        assert_eq!(s.name(Timestamp(0)), "out.pcap");
        s.count = 2;
        assert_eq!(s.name(Timestamp(0)), "out.pcap2");
        let mut ring = Savefile::unopened(SaveOptions {
            max_bytes: Some(1000),
            max_files: Some(10),
            ..options("out.pcap")
        });
        assert_eq!(ring.name(Timestamp(0)), "out.pcap0");
        ring.count = 3;
        assert_eq!(ring.name(Timestamp(0)), "out.pcap3");
        let wide = Savefile::unopened(SaveOptions {
            max_bytes: Some(1000),
            max_files: Some(100),
            ..options("out")
        });
        assert_eq!(wide.name(Timestamp(0)), "out00");
        let timed = Savefile::unopened(SaveOptions {
            rotate_secs: Some(60),
            ..options("dump-%Y%m%d-%H%M%S.pcap")
        });
        assert_eq!(
            timed.name(Timestamp(1_700_000_000 * Timestamp::NANOS_PER_SEC)),
            "dump-20231114-221320.pcap"
        );
    }

    #[test]
    fn bad_patterns_and_lone_w_are_refused() {
        let bad = SaveOptions {
            rotate_secs: Some(1),
            ..options("x-%Q-%")
        };
        assert!(bad.validate().is_err());
        let lone = SaveOptions {
            max_files: Some(3),
            ..options("x")
        };
        assert!(lone.validate().is_err());
        assert!(options("plain-%Q").validate().is_ok());
    }
}
