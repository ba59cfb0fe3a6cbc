//! The two ways netlens reads a capture file agree: through memory maps, a window at a time (a
//! regular file), and as a stream into a buffer (standard input, pipes). Same frames, byte for
//! byte, and the same error, on every corpus file (many damaged) and on generated captures
//! large enough to span many windows, in pcap and pcapng, whole and cut short.

use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use netlens::capture::file::{self, Input};
use netlens::capture::Flow;

use crate::util::{corpus_dir, generate_traffic, tool_available};

/// What a reader produced: a digest of each frame, and the error that ended the read.
#[derive(Debug, PartialEq)]
struct Read {
    frames: Vec<u64>,
    error: Option<String>,
}

fn digest(f: &netlens::capture::Frame<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    (f.ts.0, f.orig_len, f.link.to_dlt(), f.iface.0, f.data).hash(&mut h);
    h.finish()
}

/// Reads `path` both ways; panics unless the file is mapped (a regular, non-empty file).
fn both(path: &Path) -> (Read, Read) {
    let name = path.to_string_lossy();
    let mut frames = Vec::new();
    let mapped = match file::open(&name, None).expect("open") {
        Input::Mapped(m) => file::read_mapped(&name, &m, &mut |f, _| {
            frames.push(digest(f));
            Ok(Flow::Continue)
        }),
        Input::Stream(..) => panic!("{name} was not mapped"),
    };
    let mapped = Read {
        frames,
        error: mapped.err().map(|e| e.to_string()),
    };
    let mut frames = Vec::new();
    let stream = File::open(path).expect("open");
    let streamed = file::read_from(&name, Box::new(stream), &mut |f| {
        frames.push(digest(f));
        Ok(Flow::Continue)
    });
    let streamed = Read {
        frames,
        error: streamed.err().map(|e| e.to_string()),
    };
    (mapped, streamed)
}

#[test]
fn mapped_and_streamed_reads_agree_on_every_corpus_file_whole_and_damaged() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() > 800, "{} capture files", files.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut read, mut damaged, mut disagree) = (0, 0, Vec::new());
    for path in &files {
        let whole = std::fs::read(path).expect("read");
        // The corpus files are whole (their packets are what is malformed), so each is also
        // read cut short inside, one byte short, and with a length-sized field of 0xff bytes
        // written over the middle (a record header, or packet bytes, wherever it falls).
        let n = whole.len();
        let mut variants = vec![("whole", whole.clone())];
        if n > 40 {
            variants.push(("cut", whole[..n * 2 / 3].to_vec()));
            variants.push(("short", whole[..n - 1].to_vec()));
            let mut bad = whole.clone();
            bad[n / 2..n / 2 + 4].fill(0xff);
            variants.push(("overwritten", bad));
        }
        for (what, bytes) in variants {
            let target = dir.path().join("variant");
            std::fs::write(&target, &bytes).expect("write");
            let (mapped, streamed) = both(&target);
            read += 1;
            damaged += usize::from(mapped.error.is_some());
            if mapped != streamed {
                disagree.push(format!(
                    "{} ({what}): mapped {} frames, {:?}; streamed {} frames, {:?}",
                    path.display(),
                    mapped.frames.len(),
                    mapped.error,
                    streamed.frames.len(),
                    streamed.error
                ));
            }
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
    assert!(damaged > 1000, "only {damaged} of {read} reads hit damage");
}

#[test]
fn mapped_windows_hold_every_frame_of_large_captures_whole_or_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("mix.pcap");
    // About 16 MB: several 4 MiB windows, with records across each boundary.
    generate_traffic(&pcap, 40_000, 7, &[]);
    let size = std::fs::metadata(&pcap).expect("size").len();
    assert!(size > 12 << 20, "{size} bytes");
    let mut files = vec![pcap.clone()];
    if tool_available("editcap") {
        let ng = dir.path().join("mix.pcapng");
        let ok = std::process::Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(&pcap)
            .arg(&ng)
            .status()
            .expect("editcap runs")
            .success();
        assert!(ok, "editcap failed");
        files.push(ng);
    }
    for path in files {
        let whole = std::fs::read(&path).expect("read");
        // Cut inside a record in the third window, and one byte short of the end.
        for cut in [None, Some((9 << 20) + 777), Some(whole.len() - 1)] {
            let target = match cut {
                None => path.clone(),
                Some(at) => {
                    let p = dir.path().join(format!("cut-{at}"));
                    std::fs::write(&p, &whole[..at]).expect("write");
                    p
                }
            };
            let (mapped, streamed) = both(&target);
            assert_eq!(mapped, streamed, "{} cut at {cut:?}", path.display());
            match cut {
                None => {
                    assert_eq!(mapped.frames.len(), 40_000);
                    assert_eq!(mapped.error, None);
                }
                Some(_) => {
                    let e = mapped.error.expect("cut short");
                    assert!(e.contains("cut short"), "{e}");
                    assert!(mapped.frames.len() < 40_000);
                }
            }
        }
    }
}
