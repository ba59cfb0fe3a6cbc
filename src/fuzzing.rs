//! Entry points of the cargo-fuzz targets (`fuzz/`), kept in the library so that the stable
//! replay test (`tests/fuzz_replay.rs`) runs a saved input through exactly the code the fuzzer
//! ran. Each function takes arbitrary bytes and must return without panicking, hanging or
//! growing without bound; that is the whole contract under test.
//!
//! Input layouts (the seeding example `examples/fuzz_seed.rs` writes the same ones):
//! - [`decode`]: 2 bytes little-endian link selector (an index into [`LINKS`], modulo its
//!   length), then one frame.
//! - [`read_capture`]: a whole pcap or pcapng file.
//! - [`extractors`]: one transport payload.
//! - [`engine`]: frames, each as 1 byte link selector, 1 byte time step (tenths of a second
//!   since the previous frame), 2 bytes little-endian length, then that many bytes (fewer if
//!   the input ends first).

use std::io::{self, Cursor, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wire::link::Mac;
use wire::packet::{App, Apps};
use wire::{LinkType, Packet};

use crate::alerts::{self, AlertEngine, AlertSummary, AlertsConfig};
use crate::capture::file;
use crate::capture::mapped::MappedFile;
use crate::capture::{Flow, Frame, IfaceId};
use crate::engine::flows::FlowConfig;
use crate::engine::hosts::{HomeNet, Host};
use crate::engine::{Engine, EngineConfig};
use crate::time::Timestamp;
use crate::ui::console::fragments;
use crate::ui::console::printer::{Mode, Printer};
use crate::ui::console::report::{self, JsonReport, RunInfo};
use crate::ui::console::style::Palette;

/// Link types the fuzzers choose from: every `LINKTYPE_` the tcpdump corpus uses, including the
/// aliases `from_dlt` maps (12, 14, 112) and a few netlens does not decode (SunATM 123 with its
/// pseudo-header, PKTAP 149/258, USB, Bluetooth), so the "not decoded" paths run too.
pub const LINKS: [u32; 28] = [
    1, 0, 108, 101, 12, 14, 228, 229, 113, 276, 9, 50, 51, 104, 112, 105, 127, 8, 239, 226, 107,
    123, 149, 258, 189, 201, 147, 192,
];

/// The link type a selector picks.
pub fn link_of(selector: usize) -> LinkType {
    LinkType::from_dlt(LINKS[selector % LINKS.len()])
}

/// The selector of `dlt`, for writing seeds; None if the fuzzers do not use that link type.
pub fn selector_of(dlt: u32) -> Option<usize> {
    LINKS.iter().position(|&l| l == dlt)
}

/// Both palettes: the colored one takes the escape-sequence paths, the plain one the others.
fn palettes() -> [Palette; 2] {
    [Palette::new(true), Palette::new(false)]
}

/// Prints one decoded frame in every console mode, with and without `-X`, into memory.
fn render_all(frame: &Frame<'_>, packet: &Packet<'_>) {
    for palette in palettes() {
        for mode in [Mode::Compact, Mode::Detailed, Mode::Minimal] {
            for hex_all in [false, true] {
                // Two interface names, so the interface column is printed as well.
                let names = vec!["eth0".to_string(), "eth1".to_string()];
                let mut printer = Printer::with_writer(Vec::new(), mode, palette, hex_all, names);
                // Writing into a Vec cannot fail; an error here would be a printer bug.
                let printed = printer.print(frame, packet).and_then(|()| printer.flush());
                assert!(printed.is_ok(), "printing into memory failed");
                let out = printer.into_writer();
                // Everything printed is text: the printer escapes packet bytes.
                assert!(std::str::from_utf8(&out).is_ok(), "printer wrote non-UTF-8");
            }
        }
    }
}

/// Target `decode`: decodes one frame of a chosen link type and renders it every way.
pub fn decode(data: &[u8]) {
    let Some((selector, frame)) = data.split_first_chunk::<2>() else {
        return;
    };
    let link = link_of(usize::from(u16::from_le_bytes(*selector)));
    let packet = wire::decode(link, frame);
    // The fast path for common frames must give exactly what the general path gives.
    let general = wire::packet::decode_general(link, frame);
    assert_eq!(
        format!("{packet:?}"),
        format!("{general:?}"),
        "fast and general decoders disagree"
    );
    // A worker thread puts the packet back together from a copy of the frame: it must be the
    // same packet.
    // So must one decoded for the alerts only, whose layout tries the parsers it skipped.
    let copy = frame.to_vec();
    for apps in [Apps::All, Apps::Alerts] {
        let decoded = wire::packet::decode_apps(link, frame, apps);
        let rebuilt = wire::Layout::of(&decoded, frame, apps).and_then(|l| l.packet(&copy));
        assert_eq!(
            rebuilt.map(|p| format!("{p:?}")),
            Some(format!("{packet:?}")),
            "the packet put back together from its layout differs ({apps:?})"
        );
        // The pipeline decodes in place: the same packet.
        let mut in_place = Packet::empty();
        wire::packet::decode_apps_into(&mut in_place, link, frame, apps);
        assert_eq!(
            format!("{in_place:?}"),
            format!("{decoded:?}"),
            "decoding in place differs ({apps:?})"
        );
    }
    let frame = Frame {
        ts: Timestamp(1_700_000_000_123_456_789),
        // A frame cut by the snaplen: the wire length is larger than what was captured.
        orig_len: u32::try_from(frame.len())
            .unwrap_or(u32::MAX)
            .saturating_add(4),
        link,
        iface: IfaceId(1),
        data: frame,
    };
    // The accessors the engine and the outputs use, beyond what the printer reads.
    let _ = (
        packet.ip(),
        packet.ports(),
        packet.l3_class(),
        packet.l4_class(),
    );
    let _ = packet.app.name();
    render_all(&frame, &packet);
}

/// Target `pcap_reader`: reads a whole capture file as a stream from memory and decodes every
/// frame, then reads it again from a file through memory maps: both readers must hand over the
/// same frames and end with the same error.
pub fn read_capture(data: &[u8]) {
    let mut frames = Vec::new();
    let mut sink = |frame: &Frame<'_>| -> io::Result<Flow> {
        let packet = wire::decode(frame.link, frame.data);
        let _ = (
            packet.ip(),
            packet.ports(),
            packet.l3_class(),
            packet.l4_class(),
        );
        frames.push((frame.ts, frame.orig_len, frame.data.to_vec()));
        Ok(Flow::Continue)
    };
    // A 64 KiB first buffer instead of 1 MiB: see `read_from_with_buffer`.
    let input = Box::new(Cursor::new(data.to_vec()));
    let streamed = file::read_from_with_buffer("fuzz.pcap", input, &mut sink, 64 * 1024);
    match &streamed {
        // Every frame read was handed to the sink, and nothing else was.
        Ok(n) => assert_eq!(*n, frames.len() as u64, "frame count differs"),
        // The error message is what the user sees; build it too.
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // One file per call: tests run this on several threads of one process at once, and a file
    // named by the process alone was rewritten by one while another read it.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let name = format!("netlens-fuzz-{}-{call}.pcap", std::process::id());
    let path = std::env::temp_dir().join(name);
    let Ok(()) = std::fs::write(&path, data) else {
        return;
    };
    let opened = std::fs::File::open(&path);
    // The open file keeps its bytes; the name is not needed any more.
    let _ = std::fs::remove_file(&path);
    let Ok(opened) = opened else {
        return;
    };
    let Ok(mapped) = MappedFile::new(opened) else {
        // Only an empty input is not mapped, and the stream reader says so.
        assert!(data.is_empty(), "a {}-byte file was not mapped", data.len());
        return;
    };
    let mut again = Vec::new();
    let result = file::read_mapped("fuzz.pcap", &mapped, &mut |frame, _| {
        again.push((frame.ts, frame.orig_len, frame.data.to_vec()));
        Ok(Flow::Continue)
    });
    assert!(frames == again, "mapped read gave other frames");
    assert_eq!(
        streamed.map_err(|e| e.to_string()),
        result.map_err(|e| e.to_string()),
        "mapped read ended otherwise"
    );
}

/// Target `app_extractors`: every application-layer extractor on one payload, and the packet
/// log's rendering of whatever it recognised.
pub fn extractors(payload: &[u8]) {
    let mut apps: Vec<App<'_>> = Vec::new();
    for dns in [wire::dns::parse_udp(payload), wire::dns::parse_tcp(payload)]
        .into_iter()
        .flatten()
    {
        if let Some((name, qtype)) = dns.question {
            let _ = (
                name.to_string(),
                name.is_valid(),
                wire::dns::type_name(qtype),
            );
        }
        for answer in dns.answers() {
            let _ = (answer.name.to_string(), answer.name.is_valid());
            if let wire::dns::RData::Name(target) = answer.data {
                let _ = (target.to_string(), target.is_valid());
            }
        }
        let _ = wire::dns::rcode_name(dns.rcode);
        apps.push(App::Dns(dns));
    }
    if let Some(http) = wire::http::parse(payload) {
        apps.push(App::Http(http));
    }
    let _ = wire::http::has_basic_auth(payload);
    if let Some(tls) = wire::tls::parse(payload) {
        apps.push(App::Tls(tls));
    }
    if let Some(cmd) = wire::text::ftp_command(payload) {
        apps.push(App::Ftp(cmd));
    }
    if let Some((code, msg)) = wire::text::ftp_reply(payload) {
        apps.push(App::FtpReply(code, msg));
    }
    if let Some(banner) = wire::text::ssh_banner(payload) {
        apps.push(App::Ssh(banner));
    }
    let mut out = Vec::new();
    for palette in palettes() {
        for app in &apps {
            let _ = app.name();
            let written = fragments::app(&mut out, app, &palette);
            assert!(written.is_ok(), "rendering into memory failed");
        }
    }
    assert!(std::str::from_utf8(&out).is_ok(), "app hint is not UTF-8");
}

/// Frames of an `engine` input, with their link types and packet times.
fn engine_frames(mut data: &[u8]) -> impl Iterator<Item = (LinkType, Timestamp, &[u8])> {
    let mut ts = Timestamp(1_700_000_000_000_000_000);
    std::iter::from_fn(move || {
        let (head, rest) = data.split_first_chunk::<4>()?;
        let [selector, step, len @ ..] = *head;
        let len = usize::from(u16::from_le_bytes(len)).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        data = rest;
        ts = Timestamp(ts.0 + i64::from(step) * 100_000_000);
        Some((link_of(usize::from(selector)), ts, frame))
    })
}

/// Target `engine`: a sequence of frames through the engine with small tables (so eviction and
/// expiry run), then the end of input, the JSON report and the text report.
pub fn engine(data: &[u8]) {
    let config = EngineConfig {
        flows: FlowConfig {
            idle: Duration::from_secs(3),
            tcp_closed: Duration::from_secs(1),
            active: Duration::from_secs(10),
            max_flows: 64,
        },
        max_hosts: 64,
        home: HomeNet::new(HomeNet::default_nets()),
        top: 4,
    };
    let mut engine = Engine::new(config);
    for (link, ts, bytes) in engine_frames(data) {
        let frame = Frame {
            ts,
            orig_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            link,
            iface: IfaceId(0),
            data: bytes,
        };
        let packet = wire::decode(link, bytes);
        engine.process(&frame, &packet);
    }
    // Hosts and IP pairs are counted per flow record; the live view adds the open flows, and
    // must equal what the tables hold once every flow has ended (unless a full table dropped
    // some of it).
    let hosts_now = host_rows(engine.hosts_now().iter().map(|(ip, h)| (*ip, h)));
    let mut pairs_now: Vec<_> = engine.pairs_now().into_iter().collect();
    pairs_now.sort_unstable_by_key(|(k, _)| *k);
    engine.finish();
    if engine.hosts.counts.evicted == 0
        && engine.stats.talked.untracked == 0
        && engine.stats.pairs.displaced == 0
    {
        let hosts = host_rows(engine.hosts.iter().map(|(ip, h)| (*ip, h)));
        assert!(
            hosts_now == hosts,
            "live hosts {hosts_now:?} != final {hosts:?}"
        );
        let mut pairs: Vec<_> = engine.stats.pairs.floors().collect();
        pairs.sort_unstable_by_key(|(k, _)| *k);
        assert!(
            pairs_now == pairs,
            "live pairs {pairs_now:?} != final {pairs:?}"
        );
    }
    let info = RunInfo {
        source: "fuzz".into(),
        top: 4,
        ..RunInfo::default()
    };
    let mut out = Vec::new();
    let written = serde_json::to_writer(
        &mut out,
        &JsonReport {
            engine: &engine,
            info: &info,
        },
    );
    assert!(written.is_ok(), "JSON report failed: {written:?}");
    let _ = out.write_all(report::text(&engine, &info, &Palette::new(true)).as_bytes());
}

/// Target `detectors`: the engine target's frames through every alert detector, with tiny
/// tables and low thresholds so that raising, merging, eviction and the end of windows all run;
/// then the end of input, each alert's console line, and the alert report in text and JSON.
/// Returns what was raised (the replay test checks that its hand-made input reaches them all).
pub fn detectors(data: &[u8]) -> AlertSummary {
    let mut c = AlertsConfig {
        max_tracked: 8,
        ..AlertsConfig::default()
    };
    c.port_scan.window_secs = 10;
    c.port_scan.vertical_ports = 3;
    c.port_scan.horizontal_hosts = 3;
    c.port_scan.stealth_probes = 2;
    c.syn_flood.half_open_per_sec = 3;
    c.rate.global_pps = 6;
    c.rate.global_bps = 40_000;
    c.rate.host_pps = 3;
    c.rate.host_bps = 20_000;
    c.external.enabled = Some(true);
    c.external.new_remote = true;
    c.arp.gratuitous = 2;
    c.arp.window_secs = 5;
    c.arp.learn_secs = 1;
    c.dns.max_name_len = 20;
    c.dns.entropy_min_len = 4;
    c.dns.suspicious_names = 2;
    c.dns.nxdomain = 2;
    c.dns.window_secs = 10;
    let mut alerts = AlertEngine::new(&c, &HomeNet::new(HomeNet::default_nets()));
    let palette = Palette::new(true);
    for (link, ts, bytes) in engine_frames(data) {
        let packet = wire::decode(link, bytes);
        alerts.inspect(ts, u32::try_from(bytes.len()).unwrap_or(u32::MAX), &packet);
        for alert in alerts.take_new() {
            let line = alerts::console::line(alert, &palette);
            assert!(!line.contains('\n'), "an alert line spans lines: {line:?}");
        }
    }
    let summary = alerts.finish();
    let _ = alerts::report::text(&summary, &palette);
    let json = serde_json::to_string(&alerts::report::json(&summary));
    assert!(json.is_ok(), "alert JSON failed: {json:?}");
    summary
}

/// What a host row shows, sorted by address, comparable.
pub type HostRow = (IpAddr, [u64; 7], (i64, i64), Vec<Mac>, bool);

pub fn host_rows<'a>(hosts: impl Iterator<Item = (IpAddr, &'a Host)>) -> Vec<HostRow> {
    let mut rows: Vec<HostRow> = hosts
        .map(|(ip, h)| {
            let counts = [
                h.packets_out,
                h.bytes_out,
                h.packets_in,
                h.bytes_in,
                h.flows_initiated,
                h.flows_accepted,
                h.peers,
            ];
            let macs = h.macs.items().copied().collect();
            (ip, counts, (h.first_ts.0, h.last_ts.0), macs, h.local)
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows
}
