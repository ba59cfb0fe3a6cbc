//! Faults outside netlens, each met with one clear line and a non-zero exit, and nothing
//! counted lost: an interface that is down (a veth in a namespace the test makes), a disk that
//! fills under the history database (a small tmpfs), a capture file the user may not read.
//! Needs root, as in CI.

use std::process::Command;

use crate::util::{generate_traffic, run, run_cmd};

/// A network namespace of the test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add (tests run as root)");
        Netns(name.to_string())
    }

    fn exec(&self, args: &[&str]) -> std::process::ExitStatus {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .status()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn interface_down_is_one_line_saying_what_to_do() {
    let ns = Netns::new("nlfault-down");
    assert!(ns
        .exec(&["ip", "link", "add", "nlf0", "type", "veth", "peer", "name", "nlf1"])
        .success());
    let out = run_cmd(
        Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(env!("CARGO_BIN_EXE_netlens"))
            .args(["-i", "nlf0", "--no-db", "-c", "1"]),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("nlf0") && err.contains("ip link set nlf0 up"),
        "{err}"
    );
}

#[test]
fn disk_full_under_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let disk = crate::util::Tmpfs::mount(dir.path(), "512k");
    let pcap = dir.path().join("g.pcap");
    generate_traffic(&pcap, 20_000, 8, &[]);
    let db = disk.path.join("h.db");
    let out = run(&[
        "-r",
        pcap.to_str().unwrap(),
        "-q",
        "--report",
        "json",
        "--db",
        db.to_str().unwrap(),
        "--store-packets",
    ]);
    drop(disk);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database") && err.to_lowercase().contains("full"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Nothing counted is lost: the report comes first, with every packet read.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["packets"], 20_000);
}

#[test]
fn unreadable_capture_file() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("secret.pcap");
    generate_traffic(&pcap, 100, 9, &[]);
    std::fs::set_permissions(&pcap, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // The directory must be searchable for the file's own permission to be what stops nobody.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = run_cmd(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_netlens"))
            .args(["-r", pcap.to_str().unwrap()]),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
}

/// The first Ctrl-C asks for an orderly end; when that cannot happen (here the packet log is
/// blocked on a pipe nobody reads, as a terminal paused with Ctrl-S is), the second one ends the
/// process at once, with 130 like a shell's interrupted command.
#[test]
fn a_second_sigint_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("g.pcap");
    generate_traffic(&pcap, 50_000, 10, &[]);
    let mut child = crate::util::netlens()
        .args(["-r", pcap.to_str().unwrap(), "--color", "never"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Never read stdout: once the pipe is full, netlens blocks writing the log.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = child.id().to_string();
    let interrupt = || {
        let ok = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(ok.success());
    };
    interrupt();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "blocked on its output, the first SIGINT cannot end the run"
    );
    interrupt();
    let status = crate::util::wait_for_exit(&mut child, 5, "after the second SIGINT");
    assert_eq!(status.code(), Some(130));
}
