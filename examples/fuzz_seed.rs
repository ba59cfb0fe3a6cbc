//! Writes the seed corpora of the fuzz targets (see `fuzz/run.sh` and [`netlens::fuzzing`] for
//! the input layouts) from a folder of captures, reading them with netlens's own reader:
//!
//! ```sh
//! cargo run --example fuzz_seed -- ../shared/corpus/tcpdump fuzz/corpus
//! ```
//!
//! - `pcap_reader/`: each capture file as a whole (files over 256 KiB are left out: libFuzzer
//!   mutates large inputs slowly, and the small ones cover the same formats);
//! - `decode/`: single frames, each prefixed by its link selector;
//! - `engine/` and `detectors/`: the first frames of each capture as one input (both targets
//!   read the same layout);
//! - `app_extractors/`: transport payloads the decoder found.
//!
//! Seeds are named by a hash of their content, so identical seeds are written once.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;
use std::process::ExitCode;

use netlens::capture::{file, Flow};
use netlens::fuzzing::selector_of;

/// Whole files larger than this are not seeds of `pcap_reader`.
const MAX_FILE: u64 = 256 * 1024;
/// Frames and payloads taken per capture: enough for variety, few enough that libFuzzer's first
/// pass over the corpus takes seconds.
const PER_FILE: usize = 24;
/// Frames per `engine` seed.
const ENGINE_FRAMES: usize = 64;

struct Writer<'a> {
    root: &'a Path,
    seen: HashSet<u64>,
    written: usize,
}

impl Writer<'_> {
    fn put(&mut self, target: &str, bytes: &[u8]) -> io::Result<()> {
        let mut h = DefaultHasher::new();
        (target, bytes).hash(&mut h);
        let hash = h.finish();
        if !self.seen.insert(hash) {
            return Ok(());
        }
        self.written += 1;
        std::fs::write(self.root.join(target).join(format!("{hash:016x}")), bytes)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [captures, out] = args.as_slice() else {
        eprintln!("usage: fuzz_seed CAPTURE_DIR CORPUS_DIR");
        return ExitCode::from(2);
    };
    match run(Path::new(captures), Path::new(out)) {
        Ok(n) => {
            eprintln!("{n} seeds written under {out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fuzz_seed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(captures: &Path, out: &Path) -> io::Result<usize> {
    for target in [
        "decode",
        "pcap_reader",
        "app_extractors",
        "engine",
        "detectors",
    ] {
        std::fs::create_dir_all(out.join(target))?;
    }
    let mut w = Writer {
        root: out,
        seen: HashSet::new(),
        written: 0,
    };
    let mut paths: Vec<_> = std::fs::read_dir(captures)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path)?;
        if bytes.len() as u64 <= MAX_FILE {
            w.put("pcap_reader", &bytes)?;
        }
        let mut frames = 0usize;
        let mut payloads = 0usize;
        let mut engine = Vec::new();
        let mut engine_frames = 0usize;
        let mut last_ts = None;
        let mut failed = None;
        let mut sink = |frame: &netlens::capture::Frame<'_>| -> io::Result<Flow> {
            let Some(selector) = selector_of(frame.link.to_dlt()) else {
                return Ok(Flow::Continue);
            };
            if frames < PER_FILE {
                frames += 1;
                let mut seed = (selector as u16).to_le_bytes().to_vec();
                seed.extend_from_slice(frame.data);
                if let Err(e) = w.put("decode", &seed) {
                    failed = Some(e);
                    return Ok(Flow::Stop);
                }
            }
            let packet = wire::decode(frame.link, frame.data);
            if payloads < PER_FILE && !packet.payload.is_empty() {
                payloads += 1;
                if let Err(e) = w.put("app_extractors", packet.payload) {
                    failed = Some(e);
                    return Ok(Flow::Stop);
                }
            }
            if engine_frames < ENGINE_FRAMES {
                engine_frames += 1;
                // Time step in tenths of a second, as the engine target reads it.
                let step = last_ts
                    .map(|t: netlens::time::Timestamp| (frame.ts.0 - t.0) / 100_000_000)
                    .unwrap_or(0)
                    .clamp(0, 255) as u8;
                last_ts = Some(frame.ts);
                let len = frame.data.len().min(usize::from(u16::MAX));
                engine.push(selector as u8);
                engine.push(step);
                engine.extend_from_slice(&(len as u16).to_le_bytes());
                engine.extend_from_slice(&frame.data[..len]);
            }
            Ok(Flow::Continue)
        };
        // Damaged captures are seeds too: whatever frames came before the damage were taken.
        let _ = file::read_from(
            &path.to_string_lossy(),
            Box::new(io::Cursor::new(bytes)),
            &mut sink,
        );
        if let Some(e) = failed {
            return Err(e);
        }
        if !engine.is_empty() {
            w.put("engine", &engine)?;
            w.put("detectors", &engine)?;
        }
    }
    Ok(w.written)
}
