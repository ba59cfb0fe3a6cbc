//! The interactive set-up, driven in a real terminal (tmux) as a person would use it, and what a
//! user without capture privileges sees. Both need root, as in CI: the set-up test captures on
//! loopback, and the privilege tests switch to the unprivileged user `nobody` with setpriv.
//! Every wait is a poll with a deadline, never a fixed sleep.

use std::net::UdpSocket;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{run, run_cmd};

/// Longest wait for any one thing to show up on the screen.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// The highlight dialoguer's ColorfulTheme puts before the selected item of a list.
const ACTIVE: &str = "❯ ";

/// A tmux server of our own (its own socket in its own temporary directory: parallel tests and
/// the user's tmux are never touched; `-f /dev/null`: no personal tmux.conf) with one detached
/// session of 200×50. Drop kills the server, and with it everything running in the session,
/// then removes the directory with the socket (tmux leaves its socket file behind).
struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    fn start(shell_command: &str) -> Tmux {
        let dir = tempfile::Builder::new()
            .prefix("netlens-tmux-")
            .tempdir()
            .unwrap();
        let tmux = Tmux {
            socket: dir.path().join("socket"),
            _dir: dir,
        };
        let out = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "netlens"])
            .args(["-x", "200", "-y", "50", shell_command])
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}); .ci/install installs it"));
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// A tmux client for our server; `-u`: UTF-8 whatever the locale, so the theme's glyphs
    /// come back from capture-pane as they are.
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-u").arg("-S").arg(&self.socket).env_remove("TMUX");
        cmd
    }

    /// What the screen shows now, including what scrolled off (`-S -`), wrapped lines joined.
    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "netlens"])
            .output()
            .expect("run tmux capture-pane");
        assert!(
            out.status.success(),
            "tmux capture-pane failed (did the session end?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Presses keys by their tmux names (`Down`, `Enter`).
    fn press(&self, key: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "netlens", key])
            .status()
            .expect("run tmux send-keys")
            .success();
        assert!(ok, "tmux send-keys {key} failed");
    }

    /// Types text literally (`-l`: no key-name lookup).
    fn type_literal(&self, text: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "netlens", "-l", text])
            .status()
            .expect("run tmux send-keys")
            .success();
        assert!(ok, "tmux send-keys -l {text:?} failed");
    }

    /// Polls the screen until `found` returns something (at most [`STEP_TIMEOUT`]); fails
    /// with the screen when it does not.
    fn wait_for<T>(&self, what: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let screen = self.screen();
            if let Some(v) = found(&screen) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited {STEP_TIMEOUT:?} for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Picks an item of the list under `prompt` as a person does: look at the highlighted
    /// item, press Down and watch the highlight move, until it is on the item `wanted` accepts,
    /// then Enter and wait for the answer line. One key at a time: the console crate puts the
    /// terminal in raw mode only while it reads a key, so keys sent in a burst could be echoed
    /// by the terminal in between. Returns how many times Down was pressed.
    fn choose(&self, prompt: &str, items: usize, wanted: impl Fn(&str) -> bool) -> usize {
        let mut current = self.wait_for(&format!("the list '{prompt}'"), |s| {
            s.contains(prompt).then(|| highlighted(s)).flatten()
        });
        for presses in 0..items {
            if wanted(&current) {
                self.press("Enter");
                self.wait_for(&format!("the answer to '{prompt}'"), |s| {
                    answered(s, prompt).map(|_| ())
                });
                return presses;
            }
            self.press("Down");
            let before = current;
            current = self.wait_for(&format!("the highlight to move off '{before}'"), |s| {
                highlighted(s).filter(|h| *h != before)
            });
        }
        panic!(
            "no item of '{prompt}' is the one wanted; the screen shows:\n{}",
            self.screen()
        );
    }

    /// Types `text` one character at a time, each seen echoed on the input line before the
    /// next, as a person types.
    fn type_answer(&self, prompt: &str, text: &str) {
        self.wait_for(&format!("the question '{prompt}'"), |s| {
            s.contains(prompt).then_some(())
        });
        let mut typed = String::new();
        for c in text.chars() {
            typed.push(c);
            self.type_literal(&c.to_string());
            self.wait_for(&format!("'{typed}' on the input line"), |s| {
                s.lines()
                    .any(|l| l.contains(prompt) && l.trim_end().ends_with(typed.trim_end()))
                    .then_some(())
            });
        }
        self.press("Enter");
        self.wait_for(&format!("the answer to '{prompt}'"), |s| {
            answered(s, prompt).map(|_| ())
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// The highlighted item of the list on screen (without the highlight mark), if any.
fn highlighted(screen: &str) -> Option<String> {
    screen
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(ACTIVE))
        .map(|item| item.trim_end().to_string())
}

/// The answer dialoguer leaves on screen once a question is done: `✔ PROMPT · ANSWER`.
fn answered(screen: &str, prompt: &str) -> Option<String> {
    let head = format!("✔ {prompt} · ");
    screen
        .lines()
        .find_map(|l| l.strip_prefix(&head))
        .map(|a| a.trim_end().to_string())
}

/// Whether `line` starts with a packet time, `HH:MM:SS.ffffff`.
fn starts_with_time(line: &str) -> bool {
    let Some(first) = line.split_whitespace().next() else {
        return false;
    };
    let bytes = first.as_bytes();
    bytes.len() == 15
        && bytes.iter().enumerate().all(|(i, b)| match i {
            2 | 5 => *b == b':',
            8 => *b == b'.',
            _ => b.is_ascii_digit(),
        })
}

/// Quotes `s` for sh.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `netlens` with no source in a terminal, answers the set-up by keyboard — the loopback
/// interface (found where `netlens -D` lists it: the set-up offers libpcap's device order), a
/// custom BPF expression `udp port P`, minimal display — then sends two UDP datagrams to
/// 127.0.0.1:P. Proves that the set-up works in a real terminal and that its answers reach the
/// capture: the banner names lo and the filter, exactly the two datagrams appear as minimal
/// packet lines, `-c 2` ends the run with the final report (`packets 2`) and exit status 0.
#[test]
fn setup_in_a_terminal_picks_loopback_custom_filter_and_minimal_mode() {
    let listing = run(&["-D"]);
    assert!(listing.status.success(), "netlens -D failed: {listing:?}");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let lo_index = listing
        .lines()
        .position(|l| {
            l.split_once('.')
                .and_then(|(_, rest)| rest.split(' ').next())
                .is_some_and(|name| name == "lo")
        })
        .unwrap_or_else(|| panic!("netlens -D does not list lo:\n{listing}"));
    let lo_label = format!("{}.lo", lo_index + 1);
    let devices = listing.lines().count();

    // The receiver holds the port, so the datagrams are delivered on loopback and nothing else
    // uses it.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender_port = sender.local_addr().unwrap().port();
    let expression = format!("udp port {port}");

    // `echo` shows how netlens exited; `sleep` keeps the pane on screen to be read.
    let bin = shell_quote(env!("CARGO_BIN_EXE_netlens"));
    let tmux = Tmux::start(&format!(
        "{bin} -c 2 --stats-interval 0 --no-db; echo \"netlens exit status $?\"; sleep 30"
    ));

    let downs = tmux.choose("Interface to capture on", devices, |item| {
        item == lo_label || item.starts_with(&format!("{lo_label} "))
    });
    assert_eq!(
        downs, lo_index,
        "the set-up lists interfaces in another order than netlens -D"
    );
    tmux.choose("Filter", 7, |item| item.contains("custom BPF expression"));
    tmux.type_answer("BPF expression (tcpdump syntax)", &expression);
    tmux.choose("Display mode", 3, |item| item.starts_with("minimal"));

    // One interface and one worker: the default reads one AF_PACKET ring.
    let banner = format!(
        "netlens: capturing on lo with 1 AF_PACKET ring, filter '{expression}' (Ctrl-C to stop)"
    );
    tmux.wait_for("the capture banner", |s| s.contains(&banner).then_some(()));
    for payload in [&b"one"[..], b"two"] {
        sender.send_to(payload, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], payload);
    }
    let screen = tmux.wait_for("netlens to exit", |s| {
        s.contains("netlens exit status").then(|| s.to_string())
    });

    // The questions and the answers, as the person saw them.
    let interface = answered(&screen, "Interface to capture on").unwrap();
    assert!(
        interface.starts_with(&format!("{lo_label} ")) && interface.contains("Loopback"),
        "interface answer: {interface}\n{screen}"
    );
    assert_eq!(
        answered(&screen, "Filter").as_deref(),
        Some("custom BPF expression..."),
        "{screen}"
    );
    assert_eq!(
        answered(&screen, "BPF expression (tcpdump syntax)").as_deref(),
        Some(expression.as_str()),
        "{screen}"
    );
    assert_eq!(
        answered(&screen, "Display mode").as_deref(),
        Some("minimal: time, protocol, endpoints"),
        "{screen}"
    );

    // Exactly two packet lines (lines that start with a time; the report may show the flow
    // too), both the datagrams, as minimal lines: time, protocol, endpoints, nothing more.
    let flow = format!("127.0.0.1:{sender_port} → 127.0.0.1:{port}");
    let packet_lines: Vec<&str> = screen.lines().filter(|l| starts_with_time(l)).collect();
    assert_eq!(packet_lines.len(), 2, "packet lines:\n{screen}");
    for line in &packet_lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 5, "not a minimal line: {line}");
        assert_eq!(words[1], "UDP", "{line}");
        assert!(line.contains(&flow), "not the datagrams sent: {line}");
        assert!(
            !line.contains("len="),
            "minimal lines have no length: {line}"
        );
    }

    // The final report, then a clean exit.
    let packets: Vec<&str> = screen
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("packets "))
        .collect();
    assert_eq!(packets.len(), 1, "report:\n{screen}");
    assert_eq!(packets[0].split_whitespace().nth(1), Some("2"), "{screen}");
    assert!(screen.contains("filter      udp port"), "{screen}");
    assert!(
        screen.contains("netlens exit status 0"),
        "netlens failed:\n{screen}"
    );
}

/// A copy of the netlens binary that the unprivileged user can run, in a directory of its own:
/// mode 0755 in a 0755 directory under /tmp, so it is reachable whatever the checkout's
/// directory permissions (a checkout under /root is not), and a fresh file carries no file
/// capabilities even if a developer granted them to the build with setcap.
fn unprivileged_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("netlens-nobody-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("netlens");
    std::fs::copy(env!("CARGO_BIN_EXE_netlens"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A process another test forks while the copy is open for writing inherits the write
    // descriptor until it execs, and exec of the copy fails with ETXTBSY meanwhile. Once one
    // exec works no writer is left and none can appear, so wait for that (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Command::new(&exe).arg("--version").output() {
            Ok(out) => {
                assert!(out.status.success(), "{} --version: {out:?}", exe.display());
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot run {}: {e}", exe.display()),
        }
    }
    (dir, exe)
}

/// Runs `exe args` as user and group nobody (65534) with no supplementary groups and no
/// capabilities: setpriv changes the uid from root, which clears the permitted and effective
/// sets, and `--inh-caps=-all` empties the inheritable set. When the tests do not run as root
/// the current user is already unprivileged, and `exe` runs as it is.
fn run_unprivileged(exe: &Path, args: &[&str]) -> Output {
    let euid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap();
    if euid != 0 {
        return run_cmd(Command::new(exe).args(args));
    }
    run_cmd(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg("--inh-caps=-all")
            .arg(exe)
            .args(args),
    )
}

/// Live capture without CAP_NET_RAW: netlens must say in exactly one line which capabilities
/// are missing and give both fixes — `sudo`, and `setcap cap_net_raw,cap_net_admin=eip` on
/// the path of the binary that ran — print nothing on stdout, and exit 1 (a system failure,
/// not a usage error). Proves `classify` in src/capture/live.rs recognises libpcap's message
/// for an unprivileged user.
#[test]
fn live_capture_without_privileges_says_how_to_get_them_and_exits_1() {
    let (_dir, exe) = unprivileged_copy();
    let out = run_unprivileged(&exe, &["-i", "lo", "-c", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("netlens: "), "{line}");
    assert!(line.contains(" lo"), "names the interface: {line}");
    assert!(line.contains("CAP_NET_RAW"), "{line}");
    assert!(line.contains("CAP_NET_ADMIN"), "{line}");
    assert!(line.contains("sudo"), "{line}");
    let setcap = format!("setcap cap_net_raw,cap_net_admin=eip {}", exe.display());
    assert!(line.contains(&setcap), "expected '{setcap}' in: {line}");
}

/// `netlens -D` without privileges still lists the interfaces, loopback as root sees it, and
/// exits 0 with nothing on stderr. Listing needs no privilege: libpcap's pcap_findalldevs on
/// Linux reads /sys/class/net and getifaddrs(), and asks each interface's flags with
/// SIOCGIFFLAGS on an ordinary datagram socket; it never opens a capture socket (only opening
/// one needs CAP_NET_RAW). So a user can see what there is before being told how to capture.
#[test]
fn listing_interfaces_needs_no_privileges() {
    let (_dir, exe) = unprivileged_copy();
    let lo_line = |listing: &str| -> Option<String> {
        listing
            .lines()
            .find(|l| {
                l.split_once('.')
                    .and_then(|(_, rest)| rest.split(' ').next())
                    .is_some_and(|name| name == "lo")
            })
            .map(|l| l.split_once('.').map_or(l, |(_, rest)| rest).to_string())
    };
    let privileged = run(&["-D"]);
    assert!(privileged.status.success(), "{privileged:?}");
    let expected = lo_line(&String::from_utf8_lossy(&privileged.stdout)).expect("lo listed");

    let out = run_unprivileged(&exe, &["-D"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Same flags and addresses for lo (its number may differ if the device list does).
    assert_eq!(lo_line(&stdout), Some(expected), "{stdout}");
    assert!(stdout.contains("Loopback"), "{stdout}");
    assert!(
        stdout.lines().all(|l| l
            .split_once('.')
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok())),
        "every line is `N.name ...`: {stdout}"
    );
}

/// Reading a large file with stderr on a terminal shows a progress bar (bytes, packets/s, time
/// left) and clears it before the report; with stderr on a pipe there is none.
#[test]
fn progress_bar_for_large_files_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("big.pcap");
    // About 185 MB: above the size that shows the bar at once.
    crate::util::generate_traffic(&pcap, 300_000, 7, &[]);
    let bin = shell_quote(env!("CARGO_BIN_EXE_netlens"));
    let file = shell_quote(pcap.to_str().unwrap());
    // Packet lines go to /dev/null (the bar must not tear them), stderr stays on the terminal.
    let tmux = Tmux::start(&format!(
        "{bin} -r {file} > /dev/null; echo \"netlens exit status $?\"; sleep 30"
    ));
    tmux.wait_for("the progress bar", |s| {
        (s.contains("packets/s") && s.contains("ETA") && s.contains("MiB/")).then_some(())
    });
    let screen = tmux.wait_for("the end of the run", |s| {
        s.contains("netlens exit status 0").then(|| s.to_string())
    });
    assert!(screen.contains("netlens report"), "{screen}");
    assert!(
        !screen.contains("ETA"),
        "the bar was left behind:\n{screen}"
    );

    let piped = run(&["-r", pcap.to_str().unwrap(), "-q", "-c", "100000"]);
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("ETA"));
}
