//! The fuzz targets' inputs replayed on stable: every file under `tests/fuzz_regressions/TARGET/`
//! (crashes the fuzzers found, minimized, and hand-made hostile inputs) and the whole tcpdump
//! corpus go through the very functions the cargo-fuzz targets call ([`netlens::fuzzing`]).
//! A panic, a hang (the suite would time out) or a failed assertion inside them fails the test.
//!
//! It also checks what the capture reader does with blocks that claim gigabytes: it stops with
//! a clear error after a bounded read, keeping the frames before the damage.

use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use netlens::capture::file::{self, FileError, ReadError};
use netlens::capture::{Flow, Frame};
use netlens::fuzzing;

use crate::util::corpus_dir;

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    // Each target has at least its hand-made hostile inputs, so the replay path always runs.
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8])) {
    for (path, bytes) in regressions(target) {
        // Name the input if it panics: the panic message alone would not say which one.
        let ok = std::panic::catch_unwind(|| run(&bytes)).is_ok();
        assert!(ok, "{target}: {} panicked", path.display());
    }
}

#[test]
fn decode_regressions() {
    replay("decode", fuzzing::decode);
}

#[test]
fn pcap_reader_regressions() {
    replay("pcap_reader", fuzzing::read_capture);
}

#[test]
fn app_extractors_regressions() {
    replay("app_extractors", fuzzing::extractors);
}

#[test]
fn engine_regressions() {
    replay("engine", fuzzing::engine);
}

#[test]
fn detectors_regressions() {
    replay("detectors", |data| {
        fuzzing::detectors(data);
    });
}

/// The target's thresholds are low enough that its hand-made input makes every detector raise,
/// so the fuzzer starts from inputs that reach the raising and merging code.
#[test]
fn detectors_target_reaches_every_detector() {
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions/detectors/every-detector-raises");
    let summary = fuzzing::detectors(&std::fs::read(input).unwrap());
    let mut raised: Vec<(&str, &str)> = summary
        .alerts
        .iter()
        .map(|a| (a.detector, a.kind))
        .collect();
    raised.sort_unstable();
    raised.dedup();
    assert_eq!(
        raised,
        [
            ("arp_spoof", "gratuitous_storm"),
            ("arp_spoof", "mac_change"),
            ("cleartext", "ftp"),
            ("cleartext", "telnet"),
            ("dns", "nxdomain_burst"),
            ("dns", "tunnel"),
            ("external", "leaving_home"),
            ("new_device", "mac"),
            ("new_remote", "first_contact"),
            ("port_scan", "horizontal"),
            ("port_scan", "vertical"),
            ("rate", "global"),
            ("rate", "host"),
            ("syn_flood", "half_open"),
        ]
    );
}

/// Frames of one capture, as (DLT, time in ns, bytes).
fn frames_of(bytes: &[u8]) -> Vec<(u32, i64, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut sink = |f: &Frame<'_>| -> io::Result<Flow> {
        frames.push((f.link.to_dlt(), f.ts.0, f.data.to_vec()));
        Ok(Flow::Continue)
    };
    // Damaged files are part of the corpus: the frames before the damage are what we replay.
    let _ = file::read_from("corpus", Box::new(Cursor::new(bytes.to_vec())), &mut sink);
    frames
}

/// The whole tcpdump corpus through every target: each file through the reader, each frame
/// through the decoder and renderer and its payload through the extractors, each file's frames
/// (up to 256 KiB of them) as one input of the engine and of the detectors. These are also the
/// fuzzers' seeds (`examples/fuzz_seed.rs`).
#[test]
fn tcpdump_corpus_through_every_target() {
    const ENGINE_BYTES: usize = 256 * 1024;
    let mut files = 0;
    let mut frames_seen = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        fuzzing::read_capture(&bytes);
        files += 1;
        let mut engine_input = Vec::new();
        let mut last = None;
        for (dlt, ts, frame) in frames_of(&bytes) {
            let Some(selector) = fuzzing::selector_of(dlt) else {
                continue;
            };
            frames_seen += 1;
            let mut input = (selector as u16).to_le_bytes().to_vec();
            input.extend_from_slice(&frame);
            fuzzing::decode(&input);
            let packet = wire::decode(wire::LinkType::from_dlt(dlt), &frame);
            fuzzing::extractors(packet.payload);
            if engine_input.len() < ENGINE_BYTES {
                // Time step in tenths of a second, as the engine target reads it.
                let step = last.map_or(0, |l: i64| ((ts - l) / 100_000_000).clamp(0, 255));
                last = Some(ts);
                let len = frame.len().min(usize::from(u16::MAX));
                engine_input.extend_from_slice(&[selector as u8, step as u8]);
                engine_input.extend_from_slice(&(len as u16).to_le_bytes());
                engine_input.extend_from_slice(&frame[..len]);
            }
        }
        fuzzing::engine(&engine_input);
        fuzzing::detectors(&engine_input);
    }
    assert!(files > 800, "only {files} corpus files");
    assert!(frames_seen > 9_000, "only {frames_seen} frames");
}

/// An input that never ends: `head`, then the same byte forever. A reader that trusted a length
/// field and tried to read it all would run out of memory or never return.
fn endless(head: Vec<u8>) -> Box<dyn Read + Send> {
    Box::new(Cursor::new(head).chain(io::repeat(0)))
}

/// Reads `input`, returning the frames handed to the sink and the result.
fn read(input: Box<dyn Read + Send>) -> (u64, Result<u64, ReadError>) {
    let mut frames = 0;
    let result = file::read_from("hostile", input, &mut |_f: &Frame<'_>| {
        frames += 1;
        Ok(Flow::Continue)
    });
    (frames, result)
}

fn regression_bytes(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pcapng_block_claiming_4_gib_stops_with_an_error() {
    // One good packet, then an enhanced packet block whose length field says 0xfffffff0.
    let file = regression_bytes("pcap_reader", "pcapng-block-claims-4GiB.pcapng");
    // As a file that ends soon after, and followed by endless data: the reader stops at its
    // block bound, judged by the length field before any buffer grows for it; it does not
    // buffer 4 GiB, and the packet before the block is kept.
    for input in [
        Box::new(Cursor::new(file.clone())) as Box<dyn Read + Send>,
        endless(file),
    ] {
        let (frames, result) = read(input);
        assert_eq!(frames, 1);
        match result {
            Err(ReadError::File(e @ FileError::Corrupt { frames: 1, .. })) => {
                assert!(e.to_string().contains("damaged after 1 packets"), "{e}");
                assert!(
                    e.to_string().contains("length field claims more than"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pcap_record_claiming_4_gib_stops_with_an_error() {
    let file = regression_bytes("pcap_reader", "pcap-record-claims-4GiB.pcap");
    for input in [
        Box::new(Cursor::new(file.clone())) as Box<dyn Read + Send>,
        endless(file),
    ] {
        let (frames, result) = read(input);
        assert_eq!(frames, 1);
        match result {
            Err(ReadError::File(e @ FileError::Corrupt { frames: 1, .. })) => {
                assert!(
                    e.to_string().contains("claims 4294967295 captured bytes"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pcapng_section_header_claiming_4_gib_stops_with_an_error() {
    let file = regression_bytes("pcap_reader", "pcapng-shb-claims-4GiB.pcapng");
    // The file ends long before the 4 GiB its first block claims: cut short.
    let (frames, result) = read(Box::new(Cursor::new(file.clone())));
    assert_eq!(frames, 0);
    assert!(
        matches!(
            result,
            Err(ReadError::File(FileError::Truncated { frames: 0, .. }))
        ),
        "{result:?}"
    );
    // Endless data after it: the header read stops at 64 KiB and the file is reported as a
    // damaged capture, not "not a capture file" (the magic number is pcapng's).
    let (frames, result) = read(endless(file));
    assert_eq!(frames, 0);
    match result {
        Err(ReadError::File(e @ FileError::Corrupt { frames: 0, .. })) => {
            assert!(e.to_string().contains("bad file header"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cut_file_header_is_cut_short_not_foreign() {
    // The first 6 bytes of a little-endian pcap header, and of a pcapng section header.
    for head in [
        &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0][..],
        &[0x0a, 0x0d, 0x0d, 0x0a, 28, 0],
    ] {
        let (frames, result) = read(Box::new(Cursor::new(head.to_vec())));
        assert_eq!(frames, 0);
        assert!(
            matches!(
                result,
                Err(ReadError::File(FileError::Truncated { frames: 0, .. }))
            ),
            "{head:?}: {result:?}"
        );
    }
}
