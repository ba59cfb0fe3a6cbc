//! Times [`netlens::store::ingest_file_with`]: reads a capture through the engine into a fresh
//! history database and prints rows written per second. The benchmark figure in the README
//! ("History (SQLite)") comes from this, in release mode:
//!
//! ```sh
//! python3 ../shared/bench/gen_traffic.py --packets 1000000 --seed 1 --out /tmp/bench/mix1m.pcap -q
//! cargo run --release --example store_ingest -- /tmp/bench/mix1m.pcap /tmp/bench/h.db
//! cargo run --release --example store_ingest -- /tmp/bench/mix1m.pcap /tmp/bench/h.db --no-packets
//! ```
//!
//! The database file (and its -wal, -shm and -netlens.lock companions) is replaced first, so
//! every run starts from an empty database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use netlens::store::{ingest_file_with, IngestOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(pcap), Some(db)) = (args.first(), args.get(1)) else {
        eprintln!("usage: store_ingest CAPTURE DB [--no-packets]");
        return ExitCode::from(2);
    };
    let store_packets = !args.iter().any(|a| a == "--no-packets");
    let db = PathBuf::from(db);
    for suffix in ["", "-wal", "-shm", "-netlens.lock"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let options = IngestOptions {
        store_packets,
        ..IngestOptions::default()
    };
    let start = Instant::now();
    let summary = match ingest_file_with(pcap, &db, &options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("store_ingest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let r = summary.writer.rows;
    let rows = r.flows + r.packets + r.traffic + r.hosts + r.captures;
    println!(
        "{} frames, {} flow records, packets stored: {store_packets}",
        summary.frames, summary.records
    );
    println!(
        "rows: flows {} packets {} traffic {} hosts {} (dropped {})",
        r.flows, r.packets, r.traffic, r.hosts, summary.writer.dropped_rows
    );
    println!(
        "{secs:.2} s: {:.0} frames/s, {:.0} rows/s",
        summary.frames as f64 / secs,
        rows as f64 / secs
    );
    ExitCode::SUCCESS
}
