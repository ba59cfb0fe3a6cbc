//! Helpers shared by the integration tests: where things are and how to run netlens.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The tcpdump project's test captures, beside the repository (../shared/corpus/tcpdump).
pub fn corpus_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../shared/corpus/tcpdump");
    assert!(
        dir.join("MANIFEST.tsv").exists(),
        "corpus missing at {}: the tests need ../shared/corpus/tcpdump beside the repository",
        dir.display()
    );
    dir
}

pub fn corpus_file(name: &str) -> PathBuf {
    corpus_dir().join(name)
}

pub fn netlens() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netlens"));
    // Under sudo netlens would switch to the invoking user after opening the capture; tests
    // say who to run as explicitly (tests/privileges.rs).
    cmd.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .env_remove("SUDO_USER");
    cmd
}

/// Runs netlens with `args`, with a time limit so a hang fails the test instead of CI.
pub fn run(args: &[&str]) -> Output {
    run_cmd(netlens().args(args))
}

pub fn run_cmd(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn netlens");
    let (out_t, err_t) = collect_output(&mut child);
    let status = wait_for_exit(&mut child, 60, &format!("netlens hung: {cmd:?}"));
    Output {
        status,
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
    }
}

/// Parses a tab-separated file with a header row into maps keyed by column name.
pub fn read_tsv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn json_report(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-q", "--report", "json"]);
    let out = run(&all);
    assert!(
        out.status.success(),
        "netlens {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

pub fn tool_available(name: &str) -> bool {
    Command::new(name).arg("--version").output().is_ok()
}

/// Writes a deterministic capture of mixed traffic with ../shared/bench/gen_traffic.py
/// (`extra`: more of its flags, e.g. `["--v6", "0.3"]`).
pub fn generate_traffic(out: &std::path::Path, packets: u32, seed: u32, extra: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/gen_traffic.py");
    let status = Command::new("python3")
        .arg(&script)
        .args([
            "--packets",
            &packets.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg("-q")
        .status()
        .expect("python3 runs gen_traffic.py");
    assert!(status.success(), "gen_traffic.py failed");
}

/// A small tmpfs mounted for a test (a disk that fills), unmounted when dropped. Needs root.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        let path = dir.join("small");
        std::fs::create_dir_all(&path).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            ok.success(),
            "cannot mount a tmpfs: run the tests as root, as CI does"
        );
        Tmpfs { path }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Reads a spawned child's stdout and stderr on threads (a chatty child never blocks on a full
/// pipe); join the handles for their bytes.
pub fn collect_output(
    child: &mut std::process::Child,
) -> (
    std::thread::JoinHandle<Vec<u8>>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    (out_t, err_t)
}

/// Waits for `child` to exit, failing with `what` after `secs` seconds.
pub fn wait_for_exit(
    child: &mut std::process::Child,
    secs: u64,
    what: &str,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().ok();
            panic!("{what}: still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
