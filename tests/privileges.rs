//! Least privilege, seen from outside: after opening the capture on `lo` (as root, as in CI),
//! netlens runs as the `-Z` user — or under sudo as the user who ran sudo — with no
//! capabilities and `no_new_privs`, and still counts what it captures. /proc shows the
//! process's real, effective, saved and filesystem IDs.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::{netlens, run};

/// Starts a live capture of UDP to `port` on lo and returns it with the stderr lines up to the
/// "capturing on" banner.
fn start(port: u16, extra: &[&str], env: &[(&str, &str)]) -> (Child, Vec<String>) {
    let mut cmd = netlens();
    cmd.args([
        "-i",
        "lo",
        "--immediate-mode",
        "--no-db",
        "-q",
        "--report",
        "json",
    ])
    .args(["--stats-interval", "0"])
    .args(extra)
    .args(["udp", "port", &port.to_string()])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "netlens ended before capturing: {lines:?}"
        );
        let done = line.contains("capturing on lo");
        lines.push(line.trim_end().to_string());
        if done {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        reader.read_to_string(&mut rest).ok();
    });
    (child, lines)
}

/// The values of a /proc/PID/status field (`Uid:` → real, effective, saved, filesystem).
fn status(pid: u32, field: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Sends `n` datagrams to lo:`port`, interrupts netlens and returns the packets it counted.
fn finish(mut child: Child, port: u16, n: usize) -> u64 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..n {
        sock.send_to(b"hello", ("127.0.0.1", port)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let st = crate::util::wait_for_exit(&mut child, 20, "netlens after SIGINT");
    assert!(st.success());
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    report["packets"].as_u64().unwrap()
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn assert_unprivileged(pid: u32, uid: &str) {
    assert_eq!(
        status(pid, "Uid:"),
        vec![uid; 4],
        "real, effective, saved, fs uid"
    );
    assert_eq!(status(pid, "CapEff:"), ["0000000000000000"]);
    assert_eq!(status(pid, "CapPrm:"), ["0000000000000000"]);
    assert_eq!(status(pid, "NoNewPrivs:"), ["1"]);
}

#[test]
fn z_user_drops_root_after_opening_the_capture() {
    let port = free_port();
    let (child, lines) = start(port, &["-Z", "nobody"], &[]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("running as nobody (uid 65534)")),
        "{lines:?}"
    );
    assert_unprivileged(child.id(), "65534");
    assert_eq!(
        finish(child, port, 3),
        3,
        "capture keeps working after the drop"
    );
}

#[test]
fn under_sudo_it_becomes_the_invoking_user() {
    let port = free_port();
    let env = [
        ("SUDO_UID", "65534"),
        ("SUDO_GID", "65534"),
        ("SUDO_USER", "nobody"),
    ];
    let (child, _) = start(port, &[], &env);
    assert_unprivileged(child.id(), "65534");
    assert_eq!(finish(child, port, 2), 2);

    // -Z root keeps root, even under sudo.
    let port = free_port();
    let (child, lines) = start(port, &["-Z", "root"], &env);
    assert!(!lines.iter().any(|l| l.contains("running as")), "{lines:?}");
    assert_eq!(status(child.id(), "Uid:"), vec!["0"; 4]);
    assert_eq!(finish(child, port, 1), 1);
}

#[test]
fn unknown_z_user_is_a_usage_error() {
    let out = run(&["-i", "lo", "--no-db", "-Z", "no-such-user-here"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such user"), "{err}");
}
