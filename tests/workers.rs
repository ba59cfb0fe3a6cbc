//! One engine or several: `--workers 1` and `--workers 3` must give identical JSON reports, on
//! every file of the corpus and on generated mixed traffic (flows expiring mid-capture), and
//! write the same history database and JSON lines.

use std::sync::Mutex;

use crate::util::{corpus_dir, read_tsv, run};

fn report(path: &str, workers: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let mut args = vec![
        "-r",
        path,
        "-q",
        "--report",
        "json",
        "--top",
        "50",
        "--workers",
        workers,
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&run(&args).stdout).ok()
}

#[test]
fn one_and_three_workers_agree_on_every_corpus_file() {
    let dir = corpus_dir();
    let files: Vec<String> = read_tsv(&dir.join("MANIFEST.tsv"))
        .into_iter()
        .map(|r| r["file"].clone())
        .collect();
    let queue = Mutex::new(files);
    let differ = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().pop() else {
                    break;
                };
                let path = dir.join(&file);
                let p = path.to_str().unwrap();
                let (one, three) = (report(p, "1", &[]), report(p, "3", &[]));
                if one != three {
                    differ.lock().unwrap().push(file);
                }
            });
        }
    });
    let differ = differ.into_inner().unwrap();
    assert!(
        differ.is_empty(),
        "reports differ with 3 workers: {differ:?}"
    );
}

#[test]
fn one_and_three_workers_agree_on_generated_traffic_with_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    // A low packet rate spreads 30k packets over minutes, so idle and closed timeouts fire.
    crate::util::generate_traffic(&pcap, 30_000, 4, &["--pps", "200"]);
    let p = pcap.to_str().unwrap();
    let extra = ["--idle-timeout", "10", "--active-timeout", "30"];
    let one = report(p, "1", &extra).unwrap();
    let three = report(p, "3", &extra).unwrap();
    assert!(
        one["flows"]["expired"].as_u64().unwrap() > 100,
        "timeouts fired: {}",
        one["flows"]
    );
    assert!(one["flows"]["active_timeout_slices"].as_u64().unwrap() > 0);
    assert_eq!(one, three);
}

/// Every row of `table` (all columns but `skip`), as text, sorted: rows in the order any
/// shard sent them.
fn rows(db: &std::path::Path, table: &str, skip: &[&str]) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
    let keep: Vec<usize> = st
        .column_names()
        .enumerate()
        .filter(|(_, name)| !skip.contains(name))
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<String> = st
        .query_map([], |row| {
            let values: Vec<String> = keep
                .iter()
                .map(|&i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect();
            Ok(values.join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort();
    out
}

#[test]
fn three_workers_write_the_same_history_and_json_lines_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    // 12 minutes of traffic: flows expire, series and host-minutes are sent while it runs, and
    // the first per-second points leave the engine's 10-minute window before the end, so
    // they reach the database only if they were sent on time.
    crate::util::generate_traffic(&pcap, 30_000, 4, &["--pps", "40"]);
    let p = pcap.to_str().unwrap();
    let db = |w: &str| dir.path().join(format!("w{w}.db"));
    let jsonl = |w: &str| dir.path().join(format!("w{w}.jsonl"));
    for w in ["1", "3"] {
        let out = run(&[
            "-r",
            p,
            "-q",
            "--report",
            "none",
            "--workers",
            w,
            "--db",
            db(w).to_str().unwrap(),
            "--store-packets",
            "--jsonl",
            jsonl(w).to_str().unwrap(),
            "--jsonl-packets",
            "--idle-timeout",
            "10",
            "--active-timeout",
            "30",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same lines; the shards' flow lines come in another order.
    let lines = |w: &str| {
        let text = std::fs::read_to_string(jsonl(w)).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let (a, b) = (lines("1"), lines("3"));
    assert!(a.len() > 40_000, "{} lines", a.len());
    assert!(a == b, "JSON lines differ with 3 workers");
    let (one, three) = (db("1"), db("3"));
    for (table, skip) in [
        ("flows", &["id", "capture_id"][..]),
        ("packets", &["id", "capture_id"]),
        ("traffic", &[]),
        ("alerts", &["id"]),
        ("hosts", &["names"]),
    ] {
        let (a, b) = (rows(&one, table, skip), rows(&three, table, skip));
        assert!(
            a.len() > 100 || table == "alerts",
            "{table}: {} rows",
            a.len()
        );
        assert!(a == b, "{table} differs with 3 workers");
    }
    let seconds = "SELECT count(*) FROM traffic WHERE resolution = 'second'";
    let count = |db: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row(seconds, [], |r| r.get(0)).unwrap()
    };
    assert!(count(&three) > 650, "{} seconds stored", count(&three));
    let run_row = ["id", "started_at", "ended_at"];
    assert_eq!(
        rows(&one, "captures", &run_row),
        rows(&three, "captures", &run_row)
    );
    // Names: every row of a host carries the names the whole run learned for it (a shard
    // alone knows only the names it saw), which include those one engine knew at that minute.
    let report = crate::util::json_report(&["-r", p, "--top", "100000"]);
    let conn = rusqlite::Connection::open(&three).unwrap();
    let mut st = conn
        .prepare("SELECT ip, names FROM hosts WHERE names IS NOT NULL")
        .unwrap();
    let named: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(named.len() > 100, "{} named rows", named.len());
    for (ip, names) in &named {
        let known: Vec<&str> = report["hosts"][ip]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(names, &known.join(","), "{ip}");
    }
    let single = rusqlite::Connection::open(&one).unwrap();
    let mut st = single
        .prepare("SELECT minute, ip, names FROM hosts WHERE names IS NOT NULL")
        .unwrap();
    let mut checked = 0;
    for row in st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
    {
        let (minute, ip, names) = row.unwrap();
        let all: String = conn
            .query_row(
                "SELECT names FROM hosts WHERE minute = ?1 AND ip = ?2",
                rusqlite::params![minute, ip],
                |r| r.get(0),
            )
            .unwrap();
        for name in names.split(',') {
            assert!(
                all.split(',').any(|n| n == name),
                "{ip} {minute}: {name} not in {all}"
            );
        }
        checked += 1;
    }
    assert!(checked > 100);
}
