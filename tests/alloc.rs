//! Proves the hot path does not allocate per packet: decoding (`wire::decode`) allocates nothing
//! at all, and counting (`Stats::add`) and the security detectors allocate nothing once every
//! key of the traffic exists.
//!
//! A counting global allocator wraps `System`. It counts only on a thread that has armed it
//! (thread-local flag and counter), so the test harness and other tests running in parallel
//! never add to a test's count. The first allocation made while armed prints its backtrace to
//! stderr, so a failure names the exact place that allocated.

// Tests may unwrap and panic: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `GlobalAlloc` is an unsafe trait; implementing it (by forwarding to `System`) is the only
// unsafe code here.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use netlens::capture::{Flow, Frame, IfaceId};
use netlens::engine::stats::Stats;
use netlens::time::Timestamp;
use wire::LinkType;

/// Forwards to `System`, counting allocations and reallocations made on armed threads.
struct Counting;

thread_local! {
    /// Set while this thread's allocations are counted.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Allocations and reallocations counted on this thread.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Set while the allocator itself is reporting (the backtrace allocates).
    static REPORTING: Cell<bool> = const { Cell::new(false) };
    /// Whether the first counted allocation prints its backtrace.
    static TRACE: Cell<bool> = const { Cell::new(true) };
}

#[global_allocator]
static GLOBAL: Counting = Counting;

impl Counting {
    /// Counts one allocation if this thread is armed; the first one prints where it came from.
    fn note(&self, what: &str, size: usize) {
        // `try_with`: the allocator also runs while thread-locals are being torn down.
        let armed = ARMED.try_with(Cell::get).unwrap_or(false);
        let reporting = REPORTING.try_with(Cell::get).unwrap_or(true);
        if !armed || reporting {
            return;
        }
        let n = COUNT.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if n == 1 && TRACE.with(Cell::get) {
            // Re-entrancy guard: capturing and printing the backtrace allocates.
            REPORTING.with(|r| r.set(true));
            let bt = std::backtrace::Backtrace::force_capture();
            eprintln!("first allocation while armed: {what} of {size} bytes at\n{bt}");
            REPORTING.with(|r| r.set(false));
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note("alloc", layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note("alloc_zeroed", layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note("realloc", new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with this thread's allocations counted; returns how many there were.
fn count_allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    COUNT.with(Cell::get)
}

/// One frame copied out of its capture, so it can be replayed with nothing left to read.
struct OwnedFrame {
    ts: Timestamp,
    orig_len: u32,
    link: LinkType,
    iface: IfaceId,
    data: Vec<u8>,
}

impl OwnedFrame {
    fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            orig_len: self.orig_len,
            link: self.link,
            iface: self.iface,
            data: &self.data,
        }
    }
}

/// Appends every frame of `path` to `out`, read by netlens's own reader. A damaged file keeps the
/// frames before the damage; returns whether the file was read to its end.
fn load(path: &Path, out: &mut Vec<OwnedFrame>) -> bool {
    let result = netlens::capture::file::read(&path.to_string_lossy(), &mut |f| {
        out.push(OwnedFrame {
            ts: f.ts,
            orig_len: f.orig_len,
            link: f.link,
            iface: f.iface,
            data: f.data.to_vec(),
        });
        Ok(Flow::Continue)
    });
    result.is_ok()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Appends the frames of the capture file `path` to `out`, read with pcap-parser from memory; a
/// damaged file keeps the frames before the damage. Returns whether the file was read to its end.
///
/// The corpus is read this way rather than with `netlens::capture::file::read` only for speed:
/// that reader starts with a 1 MiB buffer which pcap-parser (circular 0.3) zeroes byte by byte,
/// about 15 ms per file in the unoptimised test profile, 12 s for the corpus. Here the buffer is
/// the size of the file.
fn load_quick(path: &Path, out: &mut Vec<OwnedFrame>) -> bool {
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapBlockOwned, PcapError};

    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let Ok(mut reader) = pcap_parser::create_reader(bytes.len() + 4096, &bytes[..]) else {
        return false;
    };
    let mut links: Vec<LinkType> = Vec::new();
    let mut refills = 0;
    loop {
        let (used, frame) = match reader.next() {
            Ok((used, block)) => {
                let frame = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        links = vec![LinkType::from_dlt(h.network.0 as u32)];
                        None
                    }
                    PcapBlockOwned::Legacy(r) => links.first().map(|l| (*l, r.origlen, r.data)),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        links.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        links.push(LinkType::from_dlt(idb.linktype.0 as u32));
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                        links
                            .get(epb.if_id as usize)
                            .map(|l| (*l, epb.origlen, data))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                        links.first().map(|l| (*l, spb.origlen, data))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                let frame = frame.map(|(link, orig_len, data)| OwnedFrame {
                    // Increasing, so first/last times move like real ones.
                    ts: Timestamp(out.len() as i64),
                    orig_len,
                    link,
                    iface: IfaceId(0),
                    data: data.to_vec(),
                });
                (used, frame)
            }
            Err(PcapError::Eof) => return true,
            // The whole file is in the buffer after at most one more read.
            Err(PcapError::Incomplete(_)) | Err(PcapError::BufferTooSmall) if refills < 2 => {
                refills += 1;
                if reader.refill().is_err() {
                    return false;
                }
                continue;
            }
            Err(_) => return false,
        };
        out.extend(frame);
        reader.consume(used);
    }
}

/// Every capture of the tcpdump corpus (../shared/corpus/tcpdump), in name order.
fn corpus_frames() -> Vec<OwnedFrame> {
    let dir = repo().join("../shared/corpus/tcpdump");
    assert!(
        dir.join("MANIFEST.tsv").exists(),
        "corpus missing at {}: the tests need ../shared/corpus/tcpdump beside the repository",
        dir.display()
    );
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    paths.sort();
    let mut frames = Vec::new();
    let mut complete = 0;
    for p in &paths {
        complete += usize::from(load_quick(p, &mut frames));
    }
    eprintln!(
        "corpus: {} files, {complete} read to the end, {} frames",
        paths.len(),
        frames.len()
    );
    assert!(
        paths.len() >= 800 && complete > 700 && frames.len() > 10_000,
        "corpus read poorly: {complete} of {} files complete, {} frames",
        paths.len(),
        frames.len()
    );
    frames
}

/// 20 000 frames of synthetic mixed traffic from ../shared/bench/gen_traffic.py (python3).
fn generated_frames(dir: &Path) -> Vec<OwnedFrame> {
    let script = repo().join("../shared/bench/gen_traffic.py");
    assert!(script.exists(), "generator missing: {}", script.display());
    let out = dir.join("g.pcap");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--packets", "20000", "--seed", "3", "--out"])
        .arg(&out)
        .arg("-q")
        .status()
        .expect("run python3 (needed to generate traffic)");
    assert!(status.success(), "gen_traffic.py failed: {status}");
    let mut frames = Vec::new();
    assert!(load(&out, &mut frames), "generated capture did not read");
    assert_eq!(frames.len(), 20_000);
    frames
}

/// The corpus and a generated capture, read fully into memory once for all tests.
fn all_frames() -> &'static [OwnedFrame] {
    static FRAMES: OnceLock<Vec<OwnedFrame>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let mut frames = corpus_frames();
        frames.extend(generated_frames(tmp.path()));
        frames
    })
}

#[test]
fn the_counting_allocator_counts() {
    TRACE.with(|t| t.set(false));
    let n = count_allocations(|| {
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
        std::hint::black_box(&v);
    });
    assert_eq!(
        n, 1,
        "the allocator must see an allocation made while armed"
    );
    assert_eq!(count_allocations(|| {}), 0);
}

#[test]
fn decoding_allocates_nothing() {
    let frames = all_frames();
    let mut checksum = 0u64;
    let n = count_allocations(|| {
        for f in frames {
            let packet = wire::decode(f.link, &f.data);
            // Touch what the counters and the printer read, so nothing is optimised away.
            checksum += packet.l3_class() as u64;
            checksum += packet.l4_class().map_or(9, |c| c as u64);
            checksum += packet.app.name().map_or(0, str::len) as u64;
            checksum += packet.payload.len() as u64;
            std::hint::black_box(&packet);
            // What a dispatcher and its shard do with each frame under --workers.
            let apps = wire::packet::Apps::Alerts;
            let lite = wire::packet::decode_apps(f.link, &f.data, apps);
            let again = wire::Layout::of(&lite, &f.data, apps).and_then(|l| l.packet(&f.data));
            checksum += again.map_or(0, |p| p.payload.len()) as u64;
            std::hint::black_box(&again);
        }
    });
    assert!(checksum > 0);
    assert_eq!(
        n,
        0,
        "wire::decode (or a layout) allocated {n} times over {} frames (the first one's \
         backtrace is above)",
        frames.len()
    );
}

#[test]
fn counting_allocates_nothing_in_steady_state() {
    let frames = all_frames();
    let mut stats = Stats::new(1 << 20);
    // Warm-up: every host, port, pair and link type gets its table entry.
    for f in frames {
        let frame = f.frame();
        stats.add(&frame, &wire::decode(frame.link, frame.data));
    }
    let warm = stats.total.packets;
    let n = count_allocations(|| {
        for f in frames {
            let frame = f.frame();
            stats.add(&frame, &wire::decode(frame.link, frame.data));
        }
    });
    assert_eq!(stats.total.packets, 2 * warm);
    assert_eq!(
        n,
        0,
        "decode + Stats::add allocated {n} times over {} frames already seen (the first one's \
         backtrace is above)",
        frames.len()
    );
}

#[test]
fn detectors_allocate_nothing_in_steady_state() {
    use netlens::alerts::{AlertEngine, AlertsConfig};
    use netlens::engine::hosts::HomeNet;
    // The generated traffic, on which no detector raises (raising allocates, by design; the
    // corpus replayed would flip ARP owners back and raise again).
    let all = all_frames();
    let frames = &all[all.len() - 20_000..];
    let config = AlertsConfig::default();
    let mut alerts = AlertEngine::new(&config, &HomeNet::new(HomeNet::default_nets()));
    // The 20,000 frames span a fifth of a second. Each pass comes a second after the last, as
    // the next fifth of a second of the same traffic would: replayed at the same times, the
    // passes would pile up in one second, whose per-second state (the rate detector's deferred
    // packets) would then grow with every pass, as it would in a second that many times as busy.
    let span = frames.last().map_or(0, |l| l.ts.0) - frames.first().map_or(0, |f| f.ts.0);
    assert!(
        span < Timestamp::NANOS_PER_SEC,
        "the passes must not overlap"
    );
    let pass = |alerts: &mut AlertEngine, shift: i64| {
        for f in frames {
            let frame = f.frame();
            alerts.inspect(
                Timestamp(frame.ts.0 + shift * Timestamp::NANOS_PER_SEC),
                frame.orig_len,
                &wire::decode(frame.link, frame.data),
            );
        }
    };
    // Warm-up: every detector table gets its entries; later passes see the same traffic.
    for shift in 0..3 {
        pass(&mut alerts, shift);
    }
    let raised = alerts.alerts().len();
    let n = count_allocations(|| pass(&mut alerts, 3));
    assert_eq!(raised, 0, "generated traffic raises nothing");
    assert_eq!(
        n,
        0,
        "the detectors allocated {n} times over {} frames already seen (the first one's \
         backtrace is above)",
        frames.len()
    );
}
