//! Bad usage and bad input: one clear line on stderr, the right exit code, nothing counted lost.

use std::io::{Read, Write};
use std::process::Stdio;

use crate::util::{corpus_file, json_report, netlens, run, run_cmd};

fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {text:?}");
    lines[0].to_string()
}

const SMALL: &str = "ipv4_tcp_http_xml.pcap";

#[test]
fn invalid_filter_names_expression_and_exits_2() {
    let f = corpus_file(SMALL);
    let out = run(&["-r", f.to_str().unwrap(), "tcp", "port"]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("invalid filter 'tcp port'"), "{line}");
    assert!(
        line.contains("syntax error"),
        "libpcap's message expected: {line}"
    );
}

#[test]
fn bad_flag_values_exit_2_with_one_line() {
    let f = corpus_file(SMALL);
    let f = f.to_str().unwrap();
    for args in [
        vec!["-r", f, "-c", "-5"],
        vec!["-r", f, "-c", "0"],
        vec!["-r", f, "--mode", "fancy"],
        vec!["-r", f, "--color", "sometimes"],
        vec!["-r", f, "--no-such-flag"],
        vec!["-r", f, "-i", "lo"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let line = one_line(&out.stderr);
        assert!(line.starts_with("netlens: "), "{args:?}: {line}");
    }
}

#[test]
fn missing_empty_and_non_capture_files_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.pcap");
    std::fs::write(&text, b"this is not a capture file at all, just text\n").unwrap();
    for (path, needle) in [
        (dir.path().join("missing.pcap"), "cannot open"),
        (empty, "empty"),
        (text, "not a pcap or pcapng"),
    ] {
        let out = run(&["-r", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{path:?}");
        let line = one_line(&out.stderr);
        assert!(line.contains(needle), "{line}");
    }
}

#[test]
fn truncated_file_keeps_its_counts_and_exits_1() {
    const MANY: &str = "print-flags.pcap";
    let full = std::fs::read(corpus_file(MANY)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    // Cut in the middle of the last record.
    std::fs::write(&cut, &full[..full.len() - 10]).unwrap();
    let complete = json_report(&["-r", corpus_file(MANY).to_str().unwrap()]);
    let out = run(&["-r", cut.to_str().unwrap(), "-q", "--report", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("cut short"), "{line}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["packets"].as_u64().unwrap() + 1,
        complete["packets"].as_u64().unwrap(),
        "every whole record before the cut is counted"
    );
}

#[test]
fn no_source_without_terminal_prints_usage_and_exits_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Usage"), "{text}");
    assert!(text.contains("no packet source"), "{text}");
}

#[test]
fn unknown_interface_lists_real_ones() {
    let out = run(&["-i", "nosuch0"]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("no interface named 'nosuch0'"), "{line}");
    assert!(
        line.contains("lo"),
        "the loopback interface should be listed: {line}"
    );
}

#[test]
fn closed_stdout_ends_quietly_with_exit_0() {
    let f = corpus_file("ipv6-bad-version.pcap");
    let big = corpus_file("print-flags.pcap");
    for path in [f, big] {
        let mut child = netlens()
            .args(["-r", path.to_str().unwrap(), "--report", "none"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        let _ = stdout.read(&mut first);
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn standard_input_reads_like_a_file() {
    let bytes = std::fs::read(corpus_file(SMALL)).unwrap();
    let mut child = netlens()
        .args(["-r", "-", "-q", "--report", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Dribble the first bytes to make sure format detection does not need one big read.
    stdin.write_all(&bytes[..10]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stdin.write_all(&bytes[10..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let from_pipe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = json_report(&["-r", corpus_file(SMALL).to_str().unwrap()]);
    assert_eq!(from_pipe["packets"], from_file["packets"]);
    assert_eq!(from_pipe["bytes"], from_file["bytes"]);
}

#[test]
fn count_stops_after_n_packets() {
    let r = json_report(&[
        "-r",
        corpus_file("print-flags.pcap").to_str().unwrap(),
        "-c",
        "3",
    ]);
    assert_eq!(r["packets"], 3);
}

/// tcpdump is the judge of what a BPF filter selects in a file.
#[test]
fn filters_and_presets_select_what_tcpdump_selects() {
    let file = corpus_file("print-flags.pcap");
    let f = file.to_str().unwrap();
    for (args, expr) in [
        (vec!["tcp", "port", "80"], "tcp port 80"),
        (vec!["--preset", "web"], "tcp port 80 or tcp port 443"),
        (
            vec!["--preset", "tcp", "host", "127.0.0.1"],
            "(tcp) and (host 127.0.0.1)",
        ),
        (vec!["--preset", "icmp"], "icmp or icmp6"),
    ] {
        let tcpdump = std::process::Command::new("tcpdump")
            .args(["-nn", "-r", f, expr])
            .output()
            .expect("tcpdump is installed by .ci/install");
        let want = tcpdump.stdout.iter().filter(|b| **b == b'\n').count() as u64;
        let mut all = vec!["-r", f];
        all.extend(args.iter().copied());
        let r = json_report(&all);
        assert_eq!(r["packets"].as_u64().unwrap(), want, "{expr}");
        assert_eq!(r["filter"], expr);
    }
}

#[test]
fn filter_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let ff = dir.path().join("filter.txt");
    std::fs::write(&ff, "tcp\n  and port 80\n").unwrap();
    let file = corpus_file("print-flags.pcap");
    let r = json_report(&["-r", file.to_str().unwrap(), "-F", ff.to_str().unwrap()]);
    assert_eq!(r["filter"], "tcp and port 80");
    let out = run_cmd(netlens().args([
        "-r",
        file.to_str().unwrap(),
        "-F",
        ff.to_str().unwrap(),
        "udp",
    ]));
    assert_eq!(out.status.code(), Some(2));
}
