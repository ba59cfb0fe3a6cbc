//! `-w` capture files (pcap, pcapng, rotation) and `--jsonl` streams, judged by Wireshark's own
//! readers (capinfos, tshark, mergecap to build a mixed-link input), and what happens when a
//! run is stopped by a signal while reading a pipe: the history database holds exactly what the
//! final report counted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{corpus_dir, corpus_file, generate_traffic, json_report, run, run_cmd};

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("netlens-out-")
        .tempdir()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (packets, bytes on the wire) of a capture file, as capinfos reads it.
fn capinfos(path: &Path) -> (u64, u64) {
    let out = Command::new("capinfos")
        .args(["-T", "-r", "-M", "-c", "-d"])
        .arg(path)
        .output()
        .expect("capinfos is installed with tshark by .ci/install");
    assert!(
        out.status.success(),
        "capinfos cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim_end().split('\t').collect();
    (fields[1].parse().unwrap(), fields[2].parse().unwrap())
}

/// The JSON report of a run that may end with exit 1 (a damaged input keeps its counts).
fn report_of(args: &[&str]) -> Option<Value> {
    let out = run(args);
    serde_json::from_slice(&out.stdout).ok()
}

fn packets_bytes(report: &Value) -> (u64, u64) {
    (
        report["packets"].as_u64().unwrap(),
        report["bytes"].as_u64().unwrap(),
    )
}

/// Files netlens rewrites hold exactly the packets and bytes it counted: a sample of the
/// corpus (every link type it has, damaged files included) as pcapng, and as pcap.
#[test]
fn written_files_hold_what_was_counted() {
    let dir = scratch();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
        })
        .collect();
    files.sort();
    // Files tshark itself cannot read (link types Wireshark lacks) cannot judge a copy.
    let readable: std::collections::HashSet<String> =
        crate::util::read_tsv(&corpus_dir().join("EXPECTED.tsv"))
            .into_iter()
            .map(|row| row["file"].clone())
            .collect();
    let mut checked = 0;
    for (i, file) in files.iter().enumerate().filter(|(i, _)| i % 9 == 0) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !readable.contains(&name) {
            continue;
        }
        for (ext, extra) in [("pcapng", &["--pcapng"][..]), ("pcap", &[][..])] {
            let out = dir.path().join(format!("{i}.{ext}"));
            let mut args = vec!["-r", s(file), "-q", "--report", "json", "-w", s(&out)];
            args.extend_from_slice(extra);
            let Some(report) = report_of(&args) else {
                // Not a capture at all: nothing counted, and the error is tested elsewhere.
                continue;
            };
            let counted = packets_bytes(&report);
            assert_eq!(
                capinfos(&out),
                counted,
                "{} rewritten as {ext}",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} files checked");
}

/// tshark reads a rewritten pcap without complaint, packet for packet.
#[test]
fn tshark_reads_written_files() {
    let dir = scratch();
    for (name, ext, extra) in [
        ("dns_udp.pcap", "pcap", &[][..]),
        ("ipv4_tcp_http_xml.pcap", "pcapng", &["--pcapng"][..]),
    ] {
        let file = corpus_file(name);
        if !file.exists() {
            continue;
        }
        let out = dir.path().join(format!("x.{ext}"));
        let mut args = vec!["-r", s(&file), "-w", s(&out)];
        args.extend_from_slice(extra);
        let report = json_report(&args);
        let tshark = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(tshark.status.success(), "tshark on {name}");
        // tshark warns about running as root; anything else is a complaint about the file.
        let complaints: Vec<String> = String::from_utf8_lossy(&tshark.stderr)
            .lines()
            .filter(|l| !l.contains("Running as user"))
            .map(String::from)
            .collect();
        assert!(complaints.is_empty(), "tshark on {name}: {complaints:?}");
        let lines = String::from_utf8_lossy(&tshark.stdout).lines().count() as u64;
        assert_eq!(lines, report["packets"].as_u64().unwrap(), "{name}");
    }
}

/// `-w -` streams a capture that tshark reads from a pipe.
#[test]
fn write_to_standard_output() {
    let file = corpus_file("ipv4_tcp_http_xml.pcap");
    let report = json_report(&["-r", s(&file)]);
    let netlens = env!("CARGO_BIN_EXE_netlens");
    let out = run_cmd(Command::new("sh").arg("-c").arg(format!(
        "'{netlens}' -r '{}' -w - | tshark -n -r - | wc -l",
        s(&file)
    )));
    assert!(out.status.success());
    let lines: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(lines, report["packets"].as_u64().unwrap());
}

/// tcpdump's rotation: -C sizes and names, -C with -W as a ring, -G names by strftime and -W
/// after -G ends the run.
#[test]
fn rotation_like_tcpdump() {
    let dir = scratch();
    let pcap = dir.path().join("g.pcap");
    // 20 000 packets over about 10 s of packet time, about 8 MB.
    generate_traffic(&pcap, 20_000, 3, &["--pps", "2000"]);
    let total = json_report(&["-r", s(&pcap)]);
    let (packets, bytes) = packets_bytes(&total);

    // -C 3: c.pcap, c.pcap1, c.pcap2, each at most 3 MB, together everything.
    let c = dir.path().join("c.pcap");
    json_report(&["-r", s(&pcap), "-w", s(&c), "-C", "3"]);
    let names = ["c.pcap", "c.pcap1", "c.pcap2"];
    let mut sum = (0, 0);
    for n in names {
        let p = dir.path().join(n);
        assert!(std::fs::metadata(&p).unwrap().len() <= 3_000_000, "{n}");
        let (k, b) = capinfos(&p);
        sum = (sum.0 + k, sum.1 + b);
    }
    assert!(!dir.path().join("c.pcap3").exists());
    assert_eq!(sum, (packets, bytes));

    // -C 1 -W 3: a ring of r0, r1, r2 holding the newest packets.
    let r = dir.path().join("r");
    json_report(&["-r", s(&pcap), "-w", s(&r), "-C", "1", "-W", "3"]);
    let ring: Vec<String> = listing(dir.path(), "r");
    assert_eq!(ring, ["r0", "r1", "r2"]);
    for n in &ring {
        let size = std::fs::metadata(dir.path().join(n)).unwrap().len();
        assert!(size <= 1_000_000 && size > 24, "{n}: {size}");
    }

    // -G 3: one file per 3 s of packet time, named by strftime of its first packet (UTC).
    let pattern = dir.path().join("t-%H%M%S.pcapng");
    json_report(&["-r", s(&pcap), "-w", s(&pattern), "--pcapng", "-G", "3"]);
    let timed = listing(dir.path(), "t-");
    assert_eq!(
        timed,
        [
            "t-000000.pcapng",
            "t-000003.pcapng",
            "t-000006.pcapng",
            "t-000009.pcapng"
        ]
    );
    let sum = timed.iter().fold((0, 0), |acc, n| {
        let (k, b) = capinfos(&dir.path().join(n));
        (acc.0 + k, acc.1 + b)
    });
    assert_eq!(sum, (packets, bytes));

    // -G 3 -W 2: two files, then the run ends; the report counts just what they hold.
    let pattern = dir.path().join("w-%S.pcap");
    let two = json_report(&["-r", s(&pcap), "-w", s(&pattern), "-G", "3", "-W", "2"]);
    let files = listing(dir.path(), "w-");
    assert_eq!(files, ["w-00.pcap", "w-03.pcap"]);
    let sum = files.iter().fold((0, 0), |acc, n| {
        let (k, b) = capinfos(&dir.path().join(n));
        (acc.0 + k, acc.1 + b)
    });
    assert_eq!(sum, packets_bytes(&two));
    assert!(sum.0 < packets && sum.0 > packets / 4);
}

fn listing(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// A pcap file holds one link type: a mixed input needs --pcapng, and says so.
#[test]
fn mixed_link_types_need_pcapng() {
    let dir = scratch();
    let mixed = dir.path().join("mixed.pcapng");
    let status = Command::new("mergecap")
        .args(["-F", "pcapng", "-w"])
        .arg(&mixed)
        .arg(corpus_file("bgp-role.pcapng"))
        .arg(corpus_file("ahcp.pcapng"))
        .status()
        .expect("mergecap is installed with tshark");
    assert!(status.success());
    let total = json_report(&["-r", s(&mixed)]);

    let pcap = dir.path().join("m.pcap");
    let out = run(&["-r", s(&mixed), "-q", "--report", "none", "-w", s(&pcap)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--pcapng"), "{err}");

    let ng = dir.path().join("m.pcapng");
    json_report(&["-r", s(&mixed), "-w", s(&ng), "--pcapng"]);
    assert_eq!(capinfos(&ng), packets_bytes(&total));
}

/// Bad -w paths and flag combinations fail before anything is read, with one line.
#[test]
fn bad_output_paths_and_flags() {
    let file = corpus_file("ipv4_tcp_http_xml.pcap");
    let out = run(&["-r", s(&file), "-w", "/nonexistent-dir/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot write /nonexistent-dir/x.pcap"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    for args in [
        vec!["-w", "x.pcap", "-W", "3"],
        vec!["--jsonl", "-", "--report", "json"],
        vec!["-w", "-", "--jsonl", "-"],
        vec!["-w", "-", "-C", "1"],
        vec!["-C", "1"],
        vec!["--jsonl-packets"],
        vec!["-w", "x.pcap", "-C", "0"],
    ] {
        let mut all = vec!["-r", s(&file)];
        all.extend(args.iter().copied());
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
    }
}

/// A full disk stops the run with the reason; the report still shows what was counted.
#[test]
fn disk_full_while_writing() {
    let dir = scratch();
    let disk = crate::util::Tmpfs::mount(dir.path(), "256k");
    let pcap = dir.path().join("g.pcap");
    // About 4 MB: more than the 1 MiB the writer buffers, so the disk fills mid-run.
    generate_traffic(&pcap, 20_000, 4, &[]);
    let target = disk.path.join("full.pcap");
    let out = run(&["-r", s(&pcap), "-q", "--report", "json", "-w", s(&target)]);
    drop(disk);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report after the error");
    let counted = report["packets"].as_u64().unwrap();
    assert!(counted > 0 && counted < 20_000, "{counted}");
}

/// --jsonl: one flow line per flow record, one packet line per packet, every line JSON.
#[test]
fn jsonl_streams_flows_and_packets() {
    let dir = scratch();
    let pcap = dir.path().join("g.pcap");
    generate_traffic(&pcap, 20_000, 5, &[]);
    let lines = dir.path().join("out.jsonl");
    let report = json_report(&["-r", s(&pcap), "--jsonl", s(&lines), "--jsonl-packets"]);
    let text = std::fs::read_to_string(&lines).unwrap();
    let (mut flows, mut packets, mut flow_packets, mut ip_packets) = (0u64, 0u64, 0u64, 0u64);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("each line is JSON");
        match v["type"].as_str() {
            Some("flow") => {
                flows += 1;
                flow_packets += v["packets"].as_u64().unwrap();
                assert!(v["client"].is_string() && v["server_port"].is_u64());
            }
            Some("packet") => {
                packets += 1;
                if v["src"].is_string() && v["protocol"] != "ARP" {
                    ip_packets += 1;
                }
            }
            other => panic!("unknown line type {other:?}"),
        }
    }
    assert_eq!(flows, report["flows"]["records"].as_u64().unwrap());
    assert_eq!(packets, report["packets"].as_u64().unwrap());
    // Every IP packet belongs to exactly one flow record.
    assert_eq!(flow_packets, ip_packets);

    // To a pipe that closes early: a quiet end.
    let netlens = env!("CARGO_BIN_EXE_netlens");
    let out = run_cmd(Command::new("sh").arg("-c").arg(format!(
        "'{netlens}' -r '{}' --jsonl - --jsonl-packets | head -1",
        s(&pcap)
    )));
    assert!(out.status.success());
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["type"], "packet");
}

/// SIGINT or SIGTERM while reading a pipe that is still open: the run ends promptly, exits 0,
/// and the history database holds exactly what the final report counted.
#[test]
fn signals_leave_a_consistent_database() {
    let dir = scratch();
    let pcap = dir.path().join("g.pcap");
    generate_traffic(&pcap, 20_000, 6, &[]);
    let data = std::fs::read(&pcap).unwrap();
    for signal in ["INT", "TERM"] {
        let db = dir.path().join(format!("{signal}.db"));
        let mut child = crate::util::netlens()
            .args(["-r", "-", "-q", "--report", "json", "--db", s(&db)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Read the outputs while it runs: the report is larger than a pipe holds.
        let (out_t, err_t) = crate::util::collect_output(&mut child);
        // About half the file, then the pipe stays open and idle, as a quiet live source.
        stdin.write_all(&data[..data.len() / 2]).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let killed = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let status =
            crate::util::wait_for_exit(&mut child, 20, &format!("SIG{signal} did not end the run"));
        drop(stdin);
        let (stdout, stderr) = (out_t.join().unwrap(), err_t.join().unwrap());
        assert!(
            status.success(),
            "SIG{signal}: {}",
            String::from_utf8_lossy(&stderr)
        );
        let report: Value = serde_json::from_slice(&stdout).expect("final report");
        let packets = report["packets"].as_u64().unwrap();
        assert!(packets > 1000 && packets < 20_000, "{packets}");
        let q = |sql: &str| -> u64 {
            let out = Command::new("sqlite3").arg(&db).arg(sql).output().unwrap();
            assert!(out.status.success(), "{sql}");
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        assert_eq!(q("SELECT packets FROM captures"), packets);
        assert_eq!(
            q("SELECT sum(packets) FROM traffic WHERE resolution = 'second'"),
            packets
        );
        assert_eq!(
            q("SELECT count(*) FROM flows"),
            report["flows"]["records"].as_u64().unwrap()
        );
        let hosts_in: u64 = report["hosts"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v["packets_in"].as_u64().unwrap())
            .sum();
        assert_eq!(q("SELECT sum(packets_in) FROM hosts"), hosts_in);
    }
}
