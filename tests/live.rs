//! Live capture on loopback: the test sends known UDP and TCP traffic to 127.0.0.1 and checks
//! that netlens saw exactly those packets with the right ports. Needs CAP_NET_RAW (CI runs as
//! root); never sends anything outside 127.0.0.0/8.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::netlens;

/// Starts netlens on `lo` and waits for its "capturing on" banner, after which every packet
/// is seen (the capture is active before the banner is printed).
pub fn start(filter: &str, extra: &[&str]) -> (Child, std::thread::JoinHandle<String>) {
    // Live runs write ./netlens.db by default; tests say where (or --no-db) explicitly.
    let mut args = vec!["-i", "lo", "--immediate-mode", "--color", "never"];
    if !extra.contains(&"--db") {
        args.push("--no-db");
    }
    args.extend_from_slice(extra);
    args.extend(filter.split(' '));
    let mut child = netlens()
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netlens");
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut banner = String::new();
    reader.read_line(&mut banner).unwrap();
    assert!(
        banner.contains("capturing on lo"),
        "netlens could not capture on lo (CI runs as root): {banner}"
    );
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        reader.read_to_string(&mut s).ok();
        s
    });
    (child, rest)
}

pub fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for netlens to exit (20 s at most, then kills it and fails) and returns its stdout.
pub fn wait(mut child: Child) -> (std::process::ExitStatus, Vec<u8>) {
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).ok();
        out
    });
    let status = crate::util::wait_for_exit(&mut child, 20, "netlens after SIGINT");
    (status, reader.join().unwrap())
}

/// The default (`auto`: one AF_PACKET ring on `lo`) and libpcap must see the same packets.
#[test]
fn sees_exactly_the_udp_and_tcp_traffic_sent_on_loopback() {
    sees_exactly_the_traffic_sent_on_loopback(&[], "afpacket");
}

#[test]
fn libpcap_sees_exactly_the_udp_and_tcp_traffic_sent_on_loopback() {
    sees_exactly_the_traffic_sent_on_loopback(&["--capture", "libpcap"], "libpcap");
}

fn sees_exactly_the_traffic_sent_on_loopback(method_args: &[&str], method: &str) {
    let udp_rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp_rx.local_addr().unwrap().port();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = listener.local_addr().unwrap().port();
    let filter = format!("udp port {udp_port} or tcp port {tcp_port}");
    let mut args = vec!["-q", "--report", "json", "--stats-interval", "0"];
    args.extend_from_slice(method_args);
    let (child, stderr) = start(&filter, &args);

    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_tx_port = tx.local_addr().unwrap().port();
    for i in 0..5u8 {
        tx.send_to(&[i; 100], ("127.0.0.1", udp_port)).unwrap();
    }
    let mut buf = [0u8; 200];
    for _ in 0..5 {
        udp_rx.recv_from(&mut buf).unwrap();
    }
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let mut client = TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    let tcp_client_port = client.local_addr().unwrap().port();
    client.write_all(b"hello netlens").unwrap();
    client.shutdown(std::net::Shutdown::Both).unwrap();
    drop(client);
    assert_eq!(server.join().unwrap(), b"hello netlens");
    // Give the kernel ring a moment to hand over the last segments, then stop like a user would.
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let (status, out) = wait(child);
    let err = stderr.join().unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    let r: serde_json::Value = serde_json::from_slice(&out).expect("JSON report");

    assert_eq!(r["protocols"]["udp"], 5, "exactly the five datagrams: {r}");
    let tcp = r["protocols"]["tcp"].as_u64().unwrap();
    // SYN, SYN-ACK, ACK, data, ACK, and the close: at least 6 segments, all on our port.
    assert!(tcp >= 6, "a whole TCP conversation: {r}");
    assert_eq!(
        r["packets"].as_u64().unwrap(),
        5 + tcp,
        "nothing else passes the filter: {r}"
    );
    let ports: Vec<(u64, String, u64)> = r["top_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap(),
                p["proto"].as_str().unwrap().to_string(),
                p["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    // Neither port has a service name, so the report counts the lower one as the service
    // side: the listener's or the sender's, whichever the kernel made lower.
    let udp_side = u64::from(udp_port.min(udp_tx_port));
    let tcp_side = u64::from(tcp_port.min(tcp_client_port));
    assert!(ports.contains(&(udp_side, "udp".into(), 5)), "{ports:?}");
    assert!(ports.contains(&(tcp_side, "tcp".into(), tcp)), "{ports:?}");
    assert_eq!(r["hosts"]["127.0.0.1"]["packets_out"], 5 + tcp);
    assert_eq!(r["drops"]["internal"], 0);
    assert_eq!(r["capture"]["method"], method, "{r}");
}

#[test]
fn count_limit_stops_live_capture_and_prints_log() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let (child, stderr) = start(
        &format!("udp port {port}"),
        &["-c", "3", "--report", "text"],
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        tx.send_to(b"x", ("127.0.0.1", port)).unwrap();
    }
    let (status, out) = wait(child);
    let err = stderr.join().unwrap();
    assert!(status.success(), "{err}");
    let log = String::from_utf8(out).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    for line in log.lines() {
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(line.contains("UDP"), "{line}");
    }
    assert!(err.contains("packets     3"), "{err}");
}

/// Live capture keeps history: the packets seen reach the SQLite file, and `netlens report`
/// over it counts the same packets as the capture's own report.
#[test]
fn live_capture_writes_history_that_report_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let db_str = db.to_str().unwrap().to_string();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let (child, stderr) = start(
        &format!("udp port {port}"),
        &[
            "-c",
            "4",
            "-q",
            "--report",
            "json",
            "--db",
            &db_str,
            "--store-packets",
        ],
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..4 {
        tx.send_to(b"history", ("127.0.0.1", port)).unwrap();
    }
    let (status, out) = wait(child);
    let err = stderr.join().unwrap();
    assert!(status.success(), "{err}");
    let live: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(live["packets"], 4);
    let hist = crate::util::run(&["report", "--db", &db_str, "--format", "json"]);
    assert!(
        hist.status.success(),
        "{}",
        String::from_utf8_lossy(&hist.stderr)
    );
    let text = String::from_utf8_lossy(&hist.stdout);
    let h: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(h["packets"], 4, "{text}");
    let rows = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT COUNT(*) FROM packets; SELECT COUNT(*) FROM flows;")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rows.stdout), "4\n1\n");
}
