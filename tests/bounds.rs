//! Bounded memory under a flood: 2 million packets from 2 million distinct random sources (a
//! spoofed-source flood, the worst case for per-flow and per-host tables). Tables stay within
//! their limits, evictions are counted, nothing panics, and peak RSS stays under a fixed cap.

use std::io::{BufWriter, Write};
use std::process::Command;

/// Writes a classic pcap of `n` Ethernet/IPv4/UDP frames, each from a different source; with
/// `fragments`, each is the first fragment (MF set) of a datagram with its own IP id, whose
/// other fragments never come.
fn write_flood(path: &std::path::Path, n: u32, fragments: bool) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    // Global header: magic, v2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET.
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes()).unwrap();
    w.write_all(&2u16.to_le_bytes()).unwrap();
    w.write_all(&4u16.to_le_bytes()).unwrap();
    for word in [0u32, 0, 65535, 1] {
        w.write_all(&word.to_le_bytes()).unwrap();
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        // xorshift64: a distinct-looking source address and port per packet.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let src = (x as u32) | 1;
        let sport = (x >> 32) as u16;
        let mut frame = [0u8; 42];
        frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut frame[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        if fragments {
            ip[4..6].copy_from_slice(&((x >> 48) as u16).to_be_bytes());
            ip[6] = 0x20; // more fragments, offset 0
        }
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src.to_be_bytes());
        ip[16..20].copy_from_slice(&[10, 0, 0, 1]);
        let udp = &mut frame[34..42];
        udp[0..2].copy_from_slice(&sport.to_be_bytes());
        udp[2..4].copy_from_slice(&53u16.to_be_bytes());
        udp[4..6].copy_from_slice(&8u16.to_be_bytes());
        // Record header: one packet per microsecond.
        let ts_sec = 1_700_000_000 + i / 1_000_000;
        let ts_usec = i % 1_000_000;
        for word in [ts_sec, ts_usec, 42, 60] {
            w.write_all(&word.to_le_bytes()).unwrap();
        }
        w.write_all(&frame).unwrap();
    }
    w.flush().unwrap();
}

/// Runs netlens with `args` under GNU time: its JSON report and peak RSS in KiB.
fn report_and_peak_rss(args: &[&str]) -> (serde_json::Value, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kb=%M"])
        .arg(env!("CARGO_BIN_EXE_netlens"))
        .args(args)
        .args(["-q", "--report", "json", "--top", "5"])
        .output()
        .expect("GNU time is installed by .ci/install");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rss_kb: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.trim().parse().ok())
        .expect("time's report");
    (serde_json::from_slice(&out.stdout).unwrap(), rss_kb)
}

#[test]
fn random_source_flood_stays_within_the_table_bounds() {
    const PACKETS: u32 = 2_000_000;
    const LIMIT: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("flood.pcap");
    write_flood(&pcap, PACKETS, false);
    let limit = LIMIT.to_string();
    let (r, rss_kb) = report_and_peak_rss(&[
        "-r",
        pcap.to_str().unwrap(),
        "--max-flows",
        &limit,
        "--max-hosts",
        &limit,
    ]);
    assert_eq!(r["packets"], u64::from(PACKETS));
    assert_eq!(r["bytes"], u64::from(PACKETS) * 60);
    let flows = &r["flows"];
    assert!(flows["active"].as_u64().unwrap() == 0, "flushed at the end");
    assert!(
        flows["evicted"].as_u64().unwrap() >= u64::from(PACKETS) - LIMIT - 1000,
        "nearly every flow was evicted: {flows}"
    );
    assert_eq!(
        flows["records"], flows["total"],
        "every flow became a record"
    );
    let hosts = r["hosts"].as_object().unwrap().len() as u64;
    assert!(hosts <= LIMIT, "host table bounded: {hosts}");
    assert!(r["hosts_evicted"].as_u64().unwrap() > u64::from(PACKETS) - LIMIT - 1000);
    eprintln!(
        "flood: {PACKETS} packets, {} flows evicted, peak RSS {} MiB, {} bytes per flow",
        flows["evicted"],
        rss_kb / 1024,
        flows["bytes_per_flow"]
    );
    // 100k flows + 100k hosts + 100k pair hashes, plus the JSON of 100k hosts: well under 256 MiB.
    assert!(rss_kb < 256 * 1024, "peak RSS {rss_kb} KiB");
}

/// A flood of first fragments that are never completed: the table that remembers their ports
/// stays at its bound (65 536 datagrams), every fragment is counted, memory stays flat.
#[test]
fn fragment_flood_stays_within_the_table_bounds() {
    const PACKETS: u32 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("fragments.pcap");
    write_flood(&pcap, PACKETS, true);
    let (r, rss_kb) = report_and_peak_rss(&[
        "-r",
        pcap.to_str().unwrap(),
        "--max-flows",
        "10000",
        "--max-hosts",
        "10000",
        "--no-alerts",
    ]);
    assert_eq!(r["packets"], u64::from(PACKETS));
    assert_eq!(r["fragments"], u64::from(PACKETS));
    eprintln!(
        "fragment flood: {PACKETS} first fragments, peak RSS {} MiB",
        rss_kb / 1024
    );
    // 10k flows and hosts, 65 536 remembered fragments: a few tens of MiB.
    assert!(rss_kb < 96 * 1024, "peak RSS {rss_kb} KiB");
}
