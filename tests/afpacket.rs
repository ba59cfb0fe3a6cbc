//! AF_PACKET fanout capture (`--capture afpacket`) on a veth pair between two network
//! namespaces the test creates (and deletes again, also when it fails). Traffic never leaves
//! those namespaces. Needs root (CI runs as root) and python3 to send the traffic.
//!
//! Namespaces are quiet on purpose: IPv6 is off and the neighbours are static, so the only
//! packets on the veth are the ones the test sends.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::util::run;

const A_ADDR: &str = "10.77.0.1";
const B_ADDR: &str = "10.77.0.2";
const A_MAC: &str = "02:00:00:77:00:01";
const B_MAC: &str = "02:00:00:77:00:02";

/// Two namespaces joined by a veth pair; deleted on drop.
struct Netns {
    a: String,
    b: String,
    /// The veth end inside `a`, where netlens captures.
    veth_a: String,
    /// Its peer, inside `b`.
    veth_b: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new() -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}{}",
            std::process::id() % 1_000_000,
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let ns = Netns {
            a: format!("nlA{tag}"),
            b: format!("nlB{tag}"),
            veth_a: format!("va{tag}"),
            veth_b: format!("vb{tag}"),
        };
        let veth_b = ns.veth_b.clone();
        // Created first so Drop cleans up whatever of the rest succeeded.
        ip(&["netns", "add", &ns.a]);
        ip(&["netns", "add", &ns.b]);
        // Before the veth exists, so it never sends IPv6 router or neighbour solicitations.
        for n in [&ns.a, &ns.b] {
            for key in ["all", "default"] {
                ip(&[
                    "netns",
                    "exec",
                    n,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ]);
            }
        }
        ip(&[
            "link", "add", &ns.veth_a, "netns", &ns.a, "address", A_MAC, "type", "veth", "peer",
            "name", &veth_b, "netns", &ns.b, "address", B_MAC,
        ]);
        for (n, addr, peer, peer_mac, dev) in [
            (&ns.a, A_ADDR, B_ADDR, B_MAC, &ns.veth_a),
            (&ns.b, B_ADDR, A_ADDR, A_MAC, &veth_b),
        ] {
            ip(&["-n", n, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&[
                "-n",
                n,
                "neigh",
                "add",
                peer,
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ]);
            ip(&["-n", n, "link", "set", dev, "up"]);
        }
        ns
    }

    fn exec(&self, ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }

    /// Starts netlens on the veth end in namespace `a` and waits for its banner.
    fn netlens(&self, args: &[&str]) -> (Child, std::thread::JoinHandle<String>) {
        let cmd = self.exec(&self.a, env!("CARGO_BIN_EXE_netlens"));
        start_netlens(cmd, &self.veth_a, args)
    }

    /// Starts [`SERVER`] in namespace `a` and waits until it listens; the caller kills it.
    fn echo_server(&self) -> Child {
        let mut server = self
            .exec(&self.a, "python3")
            .args(["-c", SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start echo server");
        let mut ready = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "ready");
        server
    }

    /// Runs a Python script in namespace `ns` to completion.
    fn python(&self, ns: &str, script: &str) {
        let out = self
            .exec(ns, "python3")
            .args(["-c", script])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "traffic script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `cmd` (netlens, perhaps behind `ip netns exec`) capturing on `iface` with a JSON report
/// and `args`, and waits for its "capturing on" banner, after which every packet is seen.
fn start_netlens(
    mut cmd: Command,
    iface: &str,
    args: &[&str],
) -> (Child, std::thread::JoinHandle<String>) {
    cmd.args(["-i", iface, "-q", "--report", "json"])
        .args(["--stats-interval", "0", "--color", "never"])
        .args(args)
        .args(if args.contains(&"--db") {
            &[][..]
        } else {
            &["--no-db"][..]
        })
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .env_remove("SUDO_USER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn netlens");
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut banner = String::new();
    reader.read_line(&mut banner).unwrap();
    assert!(
        banner.contains("capturing on"),
        "netlens could not capture on {iface} (needs root): {banner}"
    );
    let rest = std::thread::spawn(move || {
        let mut s = banner;
        reader.read_to_string(&mut s).ok();
        s
    });
    (child, rest)
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and so the pair).
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Stops netlens like a user would and returns its JSON report.
fn finish(child: Child, stderr: std::thread::JoinHandle<String>) -> Value {
    finish_with_stderr(child, stderr).0
}

/// [`finish`], also returning everything netlens wrote to stderr (from its banner on).
fn finish_with_stderr(
    mut child: Child,
    stderr: std::thread::JoinHandle<String>,
) -> (Value, String) {
    signal(&child, "-INT");
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).ok();
        v
    });
    let status = crate::util::wait_for_exit(&mut child, 20, "netlens after SIGINT");
    let err = stderr.join().unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    let report =
        serde_json::from_slice(&out.join().unwrap()).unwrap_or_else(|e| panic!("{e}: {err}"));
    (report, err)
}

/// `tcpdump -w /dev/null` on `iface` (inside namespace `ns`, if given), started and listening.
struct Tcpdump {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Tcpdump {
    /// Returns once tcpdump says it is listening, after which it sees every packet.
    fn start(ns: Option<&str>, iface: &str, filter: &[&str]) -> Tcpdump {
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "tcpdump"]);
                c
            }
            None => Command::new("tcpdump"),
        };
        cmd.args([
            "-i",
            iface,
            "-n",
            "--immediate-mode",
            "-B",
            "65536",
            "-w",
            "/dev/null",
        ])
        .args(filter)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tcpdump");
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("listening on"), "tcpdump on {iface}: {line}");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            reader.read_to_string(&mut s).ok();
            s
        });
        Tcpdump { child, stderr }
    }

    /// Stops tcpdump and returns its "N packets captured" (what it read and kept), "N packets
    /// received by filter" (also what the kernel dropped because tcpdump, starved of CPU by
    /// parallel tests, fell behind; on `lo` also the outgoing copies libpcap throws away) and
    /// its stderr.
    fn stop(mut self) -> (u64, u64, String) {
        signal(&self.child, "-INT");
        let status = crate::util::wait_for_exit(&mut self.child, 20, "tcpdump after SIGINT");
        let err = self.stderr.join().unwrap();
        assert!(status.success(), "tcpdump: {err}");
        let count = |what: &str| -> u64 {
            err.lines()
                .find_map(|l| {
                    l.strip_suffix(&format!(" packets {what}"))
                        .or_else(|| l.strip_suffix(&format!(" packet {what}")))
                })
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no '{what}' count from tcpdump: {err}"))
        };
        (count("captured"), count("received by filter"), err)
    }
}

/// Echo servers in namespace `a`: UDP and TCP on port 9000. Prints "ready" once listening.
const SERVER: &str = r#"
import socket, threading, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.77.0.1", 9000))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("10.77.0.1", 9000)); t.listen(64)
def udp():
    while True:
        d, a = u.recvfrom(4096); u.sendto(d, a)
def serve(c):
    while True:
        d = c.recv(4096)
        if not d: break
        c.sendall(d)
    c.close()
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = t.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// From namespace `b`: 12 UDP flows of 10 echoed datagrams and 12 TCP connections of 5 echoed
/// messages, so every flow has packets in both directions.
const CLIENT: &str = r#"
import socket
for i in range(12):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
    for j in range(10):
        s.sendto(b"u" * 100, ("10.77.0.1", 9000)); s.recvfrom(4096)
    s.close()
for i in range(12):
    c = socket.create_connection(("10.77.0.1", 9000), timeout=5)
    for j in range(5):
        c.sendall(b"t" * 50)
        got = b""
        while len(got) < 50: got += c.recv(4096)
    c.close()
"#;
const UDP_FLOWS: u64 = 12;
const TCP_FLOWS: u64 = 12;
const UDP_PACKETS: u64 = 12 * 10 * 2;

#[test]
fn fanout_rings_count_every_packet_and_keep_each_flow_in_one_ring() {
    let ns = Netns::new();
    let mut server = ns.echo_server();
    // Both capture methods watch the same traffic at once: each must count what was sent. A
    // second afpacket capture must get a fanout group of its own, not share the first one's.
    let (af, af_err) = ns.netlens(&["--workers", "2", "--capture", "afpacket"]);
    let (af2, af2_err) = ns.netlens(&["--workers", "3", "--capture", "afpacket"]);
    let (pc, pc_err) = ns.netlens(&["--workers", "2", "--capture", "libpcap"]);
    ns.python(&ns.b, CLIENT);
    // Let the 10 ms ring blocks and libpcap's buffer hand over the last packets.
    std::thread::sleep(Duration::from_millis(300));
    let af = finish(af, af_err);
    let af2 = finish(af2, af2_err);
    let pc = finish(pc, pc_err);
    server.kill().ok();
    server.wait().ok();

    assert_eq!(af["protocols"]["udp"], UDP_PACKETS, "afpacket: {af}");
    assert_eq!(pc["protocols"]["udp"], UDP_PACKETS, "libpcap: {pc}");
    let tcp = af["protocols"]["tcp"].as_u64().unwrap();
    // Per connection at least handshake (3), 5 echoes (10 data segments) and a close (2).
    assert!(tcp >= TCP_FLOWS * 15, "whole TCP conversations: {af}");
    assert_eq!(pc["protocols"]["tcp"], tcp, "same TCP segments both ways");
    assert_eq!(
        af["packets"],
        UDP_PACKETS + tcp,
        "nothing else on the veth: {af}"
    );
    assert_eq!(pc["packets"], af["packets"]);
    assert_eq!(af2["packets"], af["packets"], "{af2}");
    assert_eq!(af2["capture"]["rings"].as_array().unwrap().len(), 3);
    assert_eq!(af2["capture"]["flows_split"], 0, "{af2}");
    assert_eq!(af["flows"]["total"], UDP_FLOWS + TCP_FLOWS, "{af}");
    assert_eq!(pc["flows"]["total"], af["flows"]["total"]);
    for r in [&af, &pc] {
        assert_eq!(r["drops"]["kernel"], 0, "{r}");
        assert_eq!(r["drops"]["internal"], 0, "{r}");
    }

    let capture = &af["capture"];
    assert_eq!(capture["method"], "afpacket");
    assert_eq!(pc["capture"]["method"], "libpcap");
    let rings = capture["rings"].as_array().unwrap();
    assert_eq!(rings.len(), 2, "{capture}");
    let ring_packets: u64 = rings.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(ring_packets, UDP_PACKETS + tcp, "{capture}");
    // 24 flows all hashed into one ring would mean fanout did not spread anything.
    assert!(
        rings.iter().all(|r| r["packets"].as_u64().unwrap() > 0),
        "both rings got packets: {capture}"
    );
    // The kernel's fanout hash is symmetric: both directions of every flow in one ring.
    assert_eq!(capture["flows_split"], 0, "{capture}");
    let ring_flows: u64 = rings.iter().map(|r| r["flows"].as_u64().unwrap()).sum();
    assert_eq!(ring_flows, UDP_FLOWS + TCP_FLOWS, "{capture}");
}

/// From namespace `b`: 10 UDP datagrams of 3000 bytes echoed by [`SERVER`]; over the veth's
/// 1500-byte MTU each is three IP fragments, each way.
const FRAGMENTED: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for i in range(10):
    s.sendto(b"f" * 3000, ("10.77.0.1", 9000)); s.recvfrom(4096)
"#;
const FRAGMENTS: u64 = 10 * 3 * 2;

/// With no `--capture` and one worker, netlens reads one AF_PACKET ring (no fanout group: IP
/// fragments arrive as sent) and counts exactly what tcpdump and a libpcap capture see.
#[test]
fn default_capture_is_one_ring_and_counts_what_tcpdump_sees() {
    let ns = Netns::new();
    let mut server = ns.echo_server();
    let dump = Tcpdump::start(Some(&ns.a), &ns.veth_a, &[]);
    let (nl, nl_err) = ns.netlens(&[]);
    let (pc, pc_err) = ns.netlens(&["--capture", "libpcap"]);
    ns.python(&ns.b, CLIENT);
    ns.python(&ns.b, FRAGMENTED);
    std::thread::sleep(Duration::from_millis(300));
    let (r, err) = finish_with_stderr(nl, nl_err);
    let pc = finish(pc, pc_err);
    let (_, seen, dump_err) = dump.stop();
    server.kill().ok();
    server.wait().ok();

    let banner = err.lines().next().unwrap_or_default();
    assert!(
        banner.contains("with 1 AF_PACKET ring (") || banner.contains("with 1 AF_PACKET ring,"),
        "{banner}"
    );
    assert_eq!(r["capture"]["method"], "afpacket", "{r}");
    assert_eq!(r["capture"]["rings"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(pc["capture"]["method"], "libpcap", "{pc}");
    let tcp = r["protocols"]["tcp"].as_u64().unwrap();
    assert!(tcp >= TCP_FLOWS * 15, "whole TCP conversations: {r}");
    assert_eq!(r["packets"], UDP_PACKETS + tcp + FRAGMENTS, "{r}");
    assert_eq!(
        (r["packets"].as_u64(), pc["packets"].as_u64()),
        (Some(seen), Some(seen)),
        "ring, libpcap and tcpdump ({dump_err}) see the same packets: {r}\n{pc}"
    );
    assert_eq!(pc["bytes"], r["bytes"], "{pc}\n{r}");
    for rep in [&r, &pc] {
        assert_eq!(rep["drops"]["kernel"], 0, "{rep}");
        assert_eq!(rep["drops"]["internal"], 0, "{rep}");
    }
}

/// The smallest rings (two 256 KiB blocks each), a filter that keeps only UDP, and netlens
/// frozen while 4000 datagrams of 1200 bytes arrive: most cannot fit, and the kernel counts
/// them. The ICMP port-unreachable replies must not pass the filter. Returns the JSON report.
fn frozen_reader(extra: &[&str]) -> Value {
    let ns = Netns::new();
    let mut args = vec!["--capture", "afpacket", "-B", "64"];
    args.extend_from_slice(extra);
    args.push("udp");
    let (nl, nl_err) = ns.netlens(&args);
    signal(&nl, "-STOP");
    ns.python(
        &ns.b,
        r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(4000):
    s.sendto(b"d" * 1200, ("10.77.0.1", 9))
"#,
    );
    signal(&nl, "-CONT");
    std::thread::sleep(Duration::from_millis(300));
    let r = finish(nl, nl_err);
    let udp = r["protocols"]["udp"].as_u64().unwrap();
    let kernel = r["drops"]["kernel"].as_u64().unwrap();
    assert!(
        kernel > 0,
        "a frozen reader with tiny rings loses packets: {r}"
    );
    assert!(udp > 0, "{r}");
    assert_eq!(udp + kernel, 4000, "captured + dropped = sent: {r}");
    assert_eq!(r["packets"], udp, "only UDP passes the filter: {r}");
    assert_eq!(r["protocols"]["icmp"], 0, "{r}");
    assert_eq!(r["drops"]["internal"], 0, "{r}");
    let ring_drops: u64 = r["capture"]["rings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ring| ring["kernel_drops"].as_u64().unwrap())
        .sum();
    assert_eq!(ring_drops, kernel, "{r}");
    r
}

#[test]
fn kernel_drops_and_filter_on_fanout_rings_account_for_every_packet() {
    // Two rings feed two shards, each recording its share in the history database.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let r = frozen_reader(&["--workers", "2", "--db", db.to_str().unwrap()]);
    assert_eq!(r["capture"]["rings"].as_array().unwrap().len(), 2, "{r}");
    assert_history(&db, &r);
}

#[test]
fn one_ring_records_its_kernel_drops_in_the_history_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let r = frozen_reader(&["--workers", "1", "--db", db.to_str().unwrap()]);
    assert_history(&db, &r);
}

/// The run's row, flows, series and host-minutes in `db` hold the packets of report `r`.
fn assert_history(db: &std::path::Path, r: &Value) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let (packets, kernel): (i64, i64) = conn
        .query_row("SELECT packets, drops_kernel FROM captures", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(packets, r["packets"].as_i64().unwrap());
    assert_eq!(kernel, r["drops"]["kernel"].as_i64().unwrap());
    for sql in [
        "SELECT sum(packets) FROM flows",
        "SELECT sum(packets) FROM traffic WHERE resolution = 'second'",
        "SELECT sum(packets) FROM traffic WHERE resolution = 'minute'",
        "SELECT sum(packets_in) FROM hosts",
        "SELECT sum(packets_out) FROM hosts",
    ] {
        let n: i64 = conn.query_row(sql, [], |row| row.get(0)).unwrap();
        assert_eq!(n, packets, "{sql}");
    }
}

#[test]
fn loopback_packets_are_counted_once_as_with_libpcap() {
    // On lo a packet socket sees every packet twice (sent and received); libpcap keeps one copy.
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port().to_string();
    let filter = ["udp", "port", port.as_str()];
    // (flags, the method `auto` or the flag should pick)
    let cases: [(&[&str], &str); 5] = [
        (&["--workers", "2", "--capture", "afpacket"], "afpacket"),
        (&["--workers", "2", "--capture", "libpcap"], "libpcap"),
        (&["--workers", "2"], "afpacket"),
        (&["--workers", "1"], "afpacket"),
        (&["--capture", "libpcap"], "libpcap"),
    ];
    let dump = Tcpdump::start(None, "lo", &filter);
    let mut runs = Vec::new();
    for (flags, _) in &cases {
        let mut args = flags.to_vec();
        args.extend_from_slice(&filter);
        runs.push(start_netlens(
            Command::new(env!("CARGO_BIN_EXE_netlens")),
            "lo",
            &args,
        ));
    }
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..7u8 {
        tx.send_to(&[i; 64], rx.local_addr().unwrap()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let reports: Vec<Value> = runs.into_iter().map(|(c, e)| finish(c, e)).collect();
    let (captured, _, dump_err) = dump.stop();
    assert_eq!(
        captured, 7,
        "tcpdump on lo sees each datagram once: {dump_err}"
    );
    for (r, (flags, method)) in reports.iter().zip(&cases) {
        assert_eq!(r["protocols"]["udp"], 7, "{flags:?}: {r}");
        assert_eq!(r["packets"], 7, "{flags:?}: {r}");
        assert_eq!(r["capture"]["method"], *method, "{flags:?}");
    }
}

#[test]
fn afpacket_on_a_missing_interface_is_one_clear_line() {
    let out = run(&["--capture", "afpacket", "-i", "nosuch0", "--no-db"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nosuch0"), "{err}");
}

#[test]
fn afpacket_needs_exactly_one_real_interface() {
    for args in [
        &["--capture", "afpacket", "-i", "any", "--no-db"][..],
        &["--capture", "afpacket", "-i", "lo", "-i", "lo", "--no-db"][..],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--capture libpcap"), "{err}");
    }
}

/// A tagged frame arriving on the veth has its 802.1Q tag moved into the packet's metadata by
/// the kernel's receive path (as a NIC with VLAN offload does), so the frame on the packet
/// socket has no tag: the AF_PACKET path must put it back from `tp_vlan_tci`, as libpcap does,
/// or every VLAN id would be lost. The frames are written raw from namespace `b` (this kernel
/// may have no VLAN devices).
#[test]
fn vlan_tags_kept_as_metadata_are_put_back() {
    let ns = Netns::new();
    let (af, af_err) = ns.netlens(&["--capture", "afpacket"]);
    let (pc, pc_err) = ns.netlens(&["--capture", "libpcap"]);
    // `vlan 10` must match on the ring too, where the kernel keeps the tag out of the frame: a
    // filter compiled for a dead libpcap handle looks for it in the frame and matches nothing.
    let vlan_filters = [
        ("default, vlan 10", &["vlan", "10"][..], 20),
        (
            "libpcap, vlan 10",
            &["--capture", "libpcap", "vlan", "10"][..],
            20,
        ),
        ("default, vlan 11", &["vlan", "11"][..], 0),
        ("default, not vlan", &["not", "vlan"][..], 0),
    ]
    .map(|(what, args, want)| (what, ns.netlens(args), want));
    let hex = |mac: &str| mac.replace(':', "");
    let script = format!(
        r#"
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(("{dev}", 0))
payload = b"v" * 64
udp = struct.pack("!HHHH", 5555, 9999, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton("10.78.0.2"), socket.inet_aton("10.78.0.1"))
frame = bytes.fromhex("{dst}") + bytes.fromhex("{src}") + struct.pack("!HHH", 0x8100, 10, 0x0800) + ip + udp
for i in range(20):
    s.send(frame)
"#,
        dev = ns.veth_b,
        dst = hex(A_MAC),
        src = hex(B_MAC),
    );
    ns.python(&ns.b, &script);
    std::thread::sleep(Duration::from_millis(300));
    for (method, report) in [
        ("afpacket", finish(af, af_err)),
        ("libpcap", finish(pc, pc_err)),
    ] {
        let flows = report["top_flows"].as_array().unwrap();
        let udp = flows
            .iter()
            .find(|f| f["proto"] == 17 && f["server_port"] == 9999)
            .unwrap_or_else(|| panic!("{method}: no UDP flow in {flows:?}"));
        assert_eq!(udp["vlan"], 10, "{method}: {udp}");
        assert_eq!(udp["packets"], 20, "{method}: {udp}");
    }
    for (what, (child, err), want) in vlan_filters {
        let r = finish(child, err);
        assert_eq!(r["packets"], want, "{what}: {r}");
    }
}
