//! Security alerts (issue #6). Each detector gets a capture written here, packet by packet
//! (etherparse builds the headers, a small writer makes the pcap), and must raise exactly the
//! expected alerts in `--report json`; benign traffic (busy servers, generated mixed traffic,
//! the tcpdump corpus) must raise none of the scan, flood and spoofing kinds; a real nmap scan
//! of 127.0.0.1, captured live on `lo`, must be reported with its type, source and port count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use etherparse::PacketBuilder;
use serde_json::Value;

use crate::util::{corpus_dir, generate_traffic, json_report, run};

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
/// Packet time of the first packet of every generated capture (2023-11-14).
const T0: f64 = 1_700_000_000.0;

/// A pcap file (microsecond timestamps, Ethernet) written frame by frame.
pub(crate) struct Pcap {
    bytes: Vec<u8>,
}

impl Pcap {
    pub(crate) fn new() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        bytes.extend_from_slice(&65_535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        Pcap { bytes }
    }

    /// Adds `frame` at `secs` after [`T0`].
    pub(crate) fn frame(&mut self, secs: f64, frame: &[u8]) {
        let t = T0 + secs;
        let micros = (t * 1e6).round() as u64;
        self.bytes
            .extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        let len = frame.len() as u32;
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    pub(crate) fn save(&self, dir: &tempfile::TempDir, name: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, &self.bytes).unwrap();
        path
    }
}

/// TCP flags for [`tcp`].
#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    psh: bool,
    urg: bool,
}

const SYN: Flags = Flags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
    psh: false,
    urg: false,
};
const SYN_ACK: Flags = Flags { ack: true, ..SYN };
const ACK: Flags = Flags {
    syn: false,
    ..SYN_ACK
};
const RST_ACK: Flags = Flags { rst: true, ..ACK };
const NULL: Flags = Flags { syn: false, ..SYN };
const FIN: Flags = Flags { fin: true, ..NULL };
const XMAS: Flags = Flags {
    psh: true,
    urg: true,
    ..FIN
};
const PSH_ACK: Flags = Flags { psh: true, ..ACK };

fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, f: Flags, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1000, 64_240);
    if f.syn {
        b = b.syn();
    }
    if f.ack {
        b = b.ack(1);
    }
    if f.fin {
        b = b.fin();
    }
    if f.rst {
        b = b.rst();
    }
    if f.psh {
        b = b.psh();
    }
    if f.urg {
        b = b.urg(0);
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An ARP request or reply (RFC 826) for IPv4 over Ethernet.
fn arp(op: u16, sender_mac: [u8; 6], sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender_ip);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target_ip);
    f
}

/// A DNS message with one question; `rcode` and `response` set the header.
fn dns(id: u16, name: &str, response: bool, rcode: u8) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.push(if response { 0x81 } else { 0x01 });
    m.push(if response { 0x80 | rcode } else { 0 });
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A directory for a test's files, deleted when the test ends.
pub(crate) fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("netlens-alerts-")
        .tempdir()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `alerts` of `--report json` for `pcap`, with `extra` flags.
fn alerts(pcap: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["-r", s(pcap)];
    args.extend_from_slice(extra);
    let report = json_report(&args);
    report["alerts"].as_array().expect("alerts list").clone()
}

/// (detector, kind, src, dst) of each alert, sorted.
fn keys(alerts: &[Value]) -> Vec<(String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut k: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                text(&a["detector"]),
                text(&a["kind"]),
                text(&a["src"]),
                text(&a["dst"]),
            )
        })
        .collect();
    k.sort();
    k
}

fn key(detector: &str, kind: &str, src: &str, dst: &str) -> (String, String, String, String) {
    (detector.into(), kind.into(), src.into(), dst.into())
}

#[test]
fn vertical_syn_scan_with_refused_and_open_ports() {
    let dir = scratch();
    let (scanner, target) = ([10, 0, 0, 66], [10, 0, 0, 5]);
    let mut p = Pcap::new();
    let mut t = 0.0;
    for port in 1..=100u16 {
        p.frame(t, &tcp(scanner, 40_000, target, port, SYN, b""));
        let answer = if port == 22 || port == 80 {
            SYN_ACK
        } else {
            RST_ACK
        };
        p.frame(t + 0.0001, &tcp(target, port, scanner, 40_000, answer, b""));
        t += 0.001;
    }
    let a = alerts(&p.save(&dir, "vertical.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [key("port_scan", "vertical", "10.0.0.66", "10.0.0.5")]
    );
    let e = &a[0]["evidence"];
    assert_eq!(e["scan"], "SYN");
    assert_eq!(
        e["ports"], 98,
        "every refused port, not the two open ones: {e}"
    );
    assert_eq!(a[0]["severity"], "high");
    assert!(a[0]["count"].as_u64().unwrap() >= 1);
    assert!(a[0]["first_ts"].as_f64().unwrap() >= T0);
    assert!(a[0]["summary"].as_str().unwrap().contains("98 ports"));
}

#[test]
fn connections_that_worked_weigh_only_while_they_are_in_the_window() {
    let dir = scratch();
    let (client, server) = ([10, 0, 0, 70], [10, 0, 0, 5]);
    let connect = |p: &mut Pcap, t: f64, sport: u16, dst: [u8; 4], answer: Flags| {
        p.frame(t, &tcp(client, sport, dst, 443, SYN, b""));
        p.frame(t + 0.0001, &tcp(dst, 443, client, sport, answer, b""));
    };
    // 200 connections that worked in the first 2 s, a refused probe every 30 s (which keeps
    // the client's state), then 50 refused ports at `burst`.
    let run = |burst: f64| {
        let mut p = Pcap::new();
        for i in 0..200u16 {
            connect(&mut p, f64::from(i) * 0.01, 30_000 + i, server, SYN_ACK);
        }
        for (i, t) in [30.0, 60.0, 90.0].into_iter().enumerate() {
            p.frame(t, &tcp(client, 40_000, server, 1000 + i as u16, SYN, b""));
            p.frame(
                t + 0.0001,
                &tcp(server, 1000 + i as u16, client, 40_000, RST_ACK, b""),
            );
        }
        for port in 1..=50u16 {
            let t = burst + f64::from(port) * 0.001;
            p.frame(t, &tcp(client, 40_000, server, port, SYN, b""));
            p.frame(t + 0.0001, &tcp(server, port, client, 40_000, RST_ACK, b""));
        }
        alerts(&p.save(&dir, &format!("opened-{burst}.pcap")), &[])
    };
    // Within the window the refusals are the minority of the client's attempts.
    assert_eq!(keys(&run(40.0)), [], "a busy client");
    // Two minutes later the connections that worked are long out of the window (before, they
    // counted until the next one worked, however late).
    assert_eq!(
        keys(&run(125.0)),
        [key("port_scan", "vertical", "10.0.0.70", "10.0.0.5")]
    );

    // A busy client for two minutes, one connection in 30 refused: never a scan, also not
    // where one minute's count of what worked gives way to the next.
    let mut p = Pcap::new();
    for i in 0..2400u32 {
        let dst = [10, 1, (i / 250) as u8, (i % 250) as u8 + 1];
        let answer = if i % 30 == 7 { RST_ACK } else { SYN_ACK };
        connect(
            &mut p,
            f64::from(i) * 0.05,
            20_000 + (i % 40_000) as u16,
            dst,
            answer,
        );
    }
    assert_eq!(keys(&alerts(&p.save(&dir, "busy.pcap"), &[])), []);
}

#[test]
fn horizontal_scan_of_silent_hosts() {
    let dir = scratch();
    let scanner = [192, 168, 7, 7];
    let mut p = Pcap::new();
    for i in 0..64u8 {
        p.frame(
            f64::from(i) * 0.1,
            &tcp(scanner, 50_000, [10, 9, 0, i], 445, SYN, b""),
        );
    }
    let a = alerts(&p.save(&dir, "horizontal.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [key("port_scan", "horizontal", "192.168.7.7", "*:445")]
    );
    assert_eq!(a[0]["evidence"]["hosts"], 64, "{}", a[0]);
    assert_eq!(a[0]["evidence"]["port"], 445);
}

#[test]
fn fin_null_and_xmas_scans_are_named() {
    let dir = scratch();
    let target = [10, 0, 0, 5];
    let mut p = Pcap::new();
    let mut t = 0.0;
    for (scanner, flags) in [
        ([10, 0, 0, 71], FIN),
        ([10, 0, 0, 72], NULL),
        ([10, 0, 0, 73], XMAS),
    ] {
        for port in 1000..1008u16 {
            p.frame(t, &tcp(scanner, 33_333, target, port, flags, b""));
            // Closed ports answer any of these with RST (RFC 793, "reset generation").
            p.frame(
                t + 0.0001,
                &tcp(target, port, scanner, 33_333, RST_ACK, b""),
            );
            t += 0.001;
        }
    }
    let a = alerts(&p.save(&dir, "stealth.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [
            key("port_scan", "vertical", "10.0.0.71", "10.0.0.5"),
            key("port_scan", "vertical", "10.0.0.72", "10.0.0.5"),
            key("port_scan", "vertical", "10.0.0.73", "10.0.0.5"),
        ]
    );
    let by_src: BTreeMap<&str, &str> = a
        .iter()
        .map(|x| {
            (
                x["src"].as_str().unwrap(),
                x["evidence"]["scan"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_src["10.0.0.71"], "FIN");
    assert_eq!(by_src["10.0.0.72"], "NULL");
    assert_eq!(by_src["10.0.0.73"], "XMAS");
}

/// 2000 handshakes to one server port within a second: a flood when none completes, a busy
/// server when all do.
pub(crate) fn handshakes(complete: bool) -> Pcap {
    let server = [10, 0, 0, 80];
    let mut p = Pcap::new();
    for i in 0..2000u32 {
        let client = [172, 16, (i / 250) as u8, (i % 250) as u8 + 1];
        let port = 20_000 + i as u16;
        let t = f64::from(i) * 0.0004;
        p.frame(t, &tcp(client, port, server, 80, SYN, b""));
        p.frame(t + 0.0001, &tcp(server, 80, client, port, SYN_ACK, b""));
        if complete {
            p.frame(t + 0.0002, &tcp(client, port, server, 80, ACK, b""));
        }
    }
    p
}

#[test]
fn syn_flood_is_half_open_connections_not_a_busy_server() {
    let dir = scratch();
    let a = alerts(&handshakes(false).save(&dir, "flood.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [key("syn_flood", "half_open", "-", "10.0.0.80:80")]
    );
    assert!(a[0]["evidence"]["half_open"].as_u64().unwrap() >= 500);
    assert_eq!(
        a[0]["count"], 4,
        "2000 half-open in 0.8 s is four times the limit"
    );

    let busy = alerts(&handshakes(true).save(&dir, "busy.pcap"), &[]);
    assert_eq!(busy, Vec::<Value>::new());
}

/// 600 half-open attempts to one port within 0.6 s, from `at` seconds on, each from its own
/// four-tuple (the same tuples every time).
fn syn_burst(p: &mut Pcap, at: f64) {
    for i in 0..600u32 {
        let client = [172, 16, (i / 200) as u8, (i % 200) as u8 + 1];
        p.frame(
            at + f64::from(i) * 0.001,
            &tcp(client, 40_000, [10, 0, 0, 80], 80, SYN, b""),
        );
    }
}

#[test]
fn retransmitted_syns_are_the_same_attempts_until_clients_give_up() {
    let dir = scratch();
    let mut p = Pcap::new();
    syn_burst(&mut p, 0.0);
    // Their retransmissions (1 s, then 2 s later, as Linux sends them) count no more.
    syn_burst(&mut p, 1.0);
    syn_burst(&mut p, 3.0);
    // Past the last retransmission (63 s), the same four-tuples are new attempts.
    syn_burst(&mut p, 70.0);
    let a = alerts(&p.save(&dir, "retries.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [key("syn_flood", "half_open", "-", "10.0.0.80:80")]
    );
    assert_eq!(a[0]["count"], 2, "{a:?}");
}

#[test]
fn rate_limit_per_host_from_a_flag() {
    let dir = scratch();
    let mut p = Pcap::new();
    for i in 0..300u32 {
        let payload = [0u8; 100];
        p.frame(
            f64::from(i) * 0.002,
            &udp([10, 1, 1, 1], 5000, [10, 1, 1, 2], 6000, &payload),
        );
    }
    let path = p.save(&dir, "rate.pcap");
    assert_eq!(
        alerts(&path, &[]),
        Vec::<Value>::new(),
        "quiet with the defaults"
    );
    let a = alerts(&path, &["--host-pps", "200"]);
    assert_eq!(
        keys(&a),
        [
            key("rate", "host", "10.1.1.1", "-"),
            key("rate", "host", "10.1.1.2", "-")
        ]
    );
    assert_eq!(a[0]["evidence"]["limit"], 200);
    assert_eq!(a[0]["evidence"]["unit"], "pps");

    // The global limit, in bits per second, from the config file; `--alerts` overrides the
    // file's `enabled = false`.
    let config = path.with_extension("toml");
    std::fs::write(&config, "enabled = false\n[rate]\nglobal_bps = 100000\n").unwrap();
    assert!(
        json_report(&["-r", s(&path), "--alerts-config", s(&config)])
            .get("alerts")
            .is_none()
    );
    let a = alerts(&path, &["--alerts-config", s(&config), "--alerts"]);
    assert_eq!(keys(&a), [key("rate", "global", "-", "-")]);
    assert_eq!(a[0]["evidence"]["unit"], "bps");
    assert_eq!(a[0]["count"], 1, "one second over the limit: {}", a[0]);
}

#[test]
fn leaving_home_and_first_contact_follow_allow_list_and_config() {
    let dir = scratch();
    let local = [192, 168, 1, 10];
    let mut p = Pcap::new();
    p.frame(0.0, &tcp(local, 40_001, [8, 8, 8, 8], 443, SYN, b""));
    p.frame(0.1, &tcp(local, 40_002, [1, 2, 3, 4], 443, SYN, b""));
    p.frame(0.2, &tcp(local, 40_003, [1, 2, 3, 4], 443, SYN, b""));
    p.frame(0.3, &tcp(local, 40_004, [192, 168, 1, 20], 22, SYN, b""));
    let path = p.save(&dir, "external.pcap");
    assert_eq!(alerts(&path, &[]), Vec::<Value>::new(), "off by default");

    let a = alerts(&path, &["--alerts-allow", "8.8.8.0/24"]);
    assert_eq!(
        keys(&a),
        [key("external", "leaving_home", "192.168.1.10", "1.2.3.4")]
    );

    let config = dir.path().join("new_remote.toml");
    std::fs::write(&config, "[external]\nnew_remote = true\n").unwrap();
    let a = alerts(&path, &["--alerts-config", s(&config)]);
    assert_eq!(
        keys(&a),
        [
            key("new_remote", "first_contact", "192.168.1.10", "1.2.3.4"),
            key("new_remote", "first_contact", "192.168.1.10", "8.8.8.8"),
        ]
    );
    assert!(a.iter().all(|x| x["severity"] == "info"));
}

#[test]
fn arp_mac_change_storm_and_new_device() {
    let dir = scratch();
    let gw = [192, 168, 1, 1];
    let (real, fake, storm, late) = (
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x01],
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x02],
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x03],
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x04],
    );
    let mut p = Pcap::new();
    p.frame(0.0, &arp(2, real, gw, [192, 168, 1, 50]));
    // The poisoner claims the gateway's address, twice: one alert, counted twice.
    p.frame(1.0, &arp(2, fake, gw, [192, 168, 1, 50]));
    p.frame(2.0, &arp(2, real, gw, [192, 168, 1, 50]));
    p.frame(3.0, &arp(2, fake, gw, [192, 168, 1, 50]));
    for i in 0..150 {
        let ip = [192, 168, 1, 77];
        p.frame(10.0 + f64::from(i) * 0.02, &arp(1, storm, ip, ip));
    }
    // Learning lasts 300 s: only this device is new.
    p.frame(400.0, &arp(1, late, [192, 168, 1, 99], gw));
    let a = alerts(&p.save(&dir, "arp.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [
            key("arp_spoof", "gratuitous_storm", "00:11:22:33:44:03", "-"),
            key("arp_spoof", "mac_change", "-", "192.168.1.1"),
            key("new_device", "mac", "00:11:22:33:44:04", "-"),
        ]
    );
    let change = a.iter().find(|x| x["kind"] == "mac_change").unwrap();
    assert_eq!(
        change["count"], 3,
        "three changes of the same address merge: {change}"
    );
    assert_eq!(change["evidence"]["new_mac"], "00:11:22:33:44:02");
}

#[test]
fn dns_tunnel_and_nxdomain_burst() {
    let dir = scratch();
    let (client, resolver) = ([10, 2, 0, 9], [10, 2, 0, 53]);
    let mut p = Pcap::new();
    let mut t = 0.0;
    let chunks = [
        "nbswy3dpeb3w64tmmqqgc3dimfwgk4tfon2gk4bamfzxg2lhnzrw2zlu",
        "mjqxgzjtgiqgk3tdn5sgkzbamrqxiyjaorxsaylomfzxi4tpnzwwk3tu",
        "onsxg2lpnyqgs3ramfvgk4taorugk4rannrsaztsn5wsa5dimuqgm2lsonua",
        "ojswg5lfon2ca5dpeb2gqzjamrxw23lbnfxca3tbnvssa43fojwgk4q",
        "mfzxgzlsorswiidjnyqgiytbebxwm5bamnxw23lvnvugk5dfoi",
        "ozuxg2lun5zsa2lmnrsxiidjnyqhg2lhnzsxeidgn5zca5dinfzq",
    ];
    for (i, c) in chunks.iter().enumerate() {
        let name = format!("{c}.t.evil-tunnel.net");
        p.frame(
            t,
            &udp(
                client,
                33_000 + i as u16,
                resolver,
                53,
                &dns(i as u16, &name, false, 0),
            ),
        );
        t += 0.5;
    }
    // Ordinary lookups never count.
    for i in 0..20u16 {
        p.frame(
            t,
            &udp(
                client,
                34_000 + i,
                resolver,
                53,
                &dns(100 + i, "www.example.com", false, 0),
            ),
        );
        t += 0.01;
    }
    for i in 0..60u16 {
        let name = format!("x{i}qz.example.org");
        p.frame(
            t,
            &udp(
                resolver,
                53,
                client,
                35_000 + i,
                &dns(200 + i, &name, true, 3),
            ),
        );
        t += 0.05;
    }
    let a = alerts(&p.save(&dir, "dns.pcap"), &[]);
    assert_eq!(
        keys(&a),
        [
            key("dns", "nxdomain_burst", "10.2.0.9", "-"),
            key("dns", "tunnel", "10.2.0.9", "evil-tunnel.net"),
        ]
    );
}

#[test]
fn cleartext_credentials_are_reported_without_the_secret() {
    let dir = scratch();
    let (client, server) = ([10, 3, 0, 2], [10, 3, 0, 21]);
    let mut p = Pcap::new();
    p.frame(
        0.0,
        &tcp(client, 40_000, server, 21, PSH_ACK, b"USER alice\r\n"),
    );
    p.frame(
        0.1,
        &tcp(
            client,
            40_000,
            server,
            21,
            PSH_ACK,
            b"PASS hunter2secret\r\n",
        ),
    );
    p.frame(
        1.0,
        &tcp(server, 23, client, 40_001, PSH_ACK, b"\r\nPassword: "),
    );
    p.frame(
        2.0,
        &tcp(
            client,
            40_002,
            server,
            80,
            PSH_ACK,
            b"GET /admin HTTP/1.1\r\nHost: box\r\nAuthorization: Basic aHVudGVyMnNlY3JldA==\r\n\r\n",
        ),
    );
    let path = p.save(&dir, "cleartext.pcap");
    let a = alerts(&path, &[]);
    assert_eq!(
        keys(&a),
        [
            key("cleartext", "ftp", "10.3.0.2", "10.3.0.21:21"),
            key("cleartext", "http_basic", "10.3.0.2", "10.3.0.21:80"),
            key("cleartext", "telnet", "10.3.0.2", "10.3.0.21:23"),
        ]
    );
    let ftp = a.iter().find(|x| x["kind"] == "ftp").unwrap();
    assert_eq!(ftp["count"], 2, "USER and PASS of one login merge");
    // Neither the password nor its Base64 form reach any output.
    let out = run(&["-r", s(&path), "--report", "json"]);
    let text = run(&["-r", s(&path), "-q"]);
    for bytes in [&out.stdout, &out.stderr, &text.stdout, &text.stderr] {
        let t = String::from_utf8_lossy(bytes);
        assert!(!t.contains("hunter2"), "{t}");
        assert!(!t.contains("aHVudGVy"), "{t}");
        assert!(!t.contains("alice"), "{t}");
    }
}

#[test]
fn alerts_reach_console_text_report_workers_and_history() {
    let dir = scratch();
    let p = handshakes(false);
    let path = p.save(&dir, "outputs.pcap");
    // One colored line on stderr when raised, and a line in the Alerts section.
    let out = run(&["-r", s(&path), "-q", "--color", "always"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let raised: Vec<&str> = err.lines().filter(|l| l.contains("ALERT")).collect();
    assert_eq!(raised.len(), 1, "{err}");
    assert!(
        raised[0].contains('\u{1b}') && raised[0].contains("syn_flood"),
        "{err}"
    );
    assert!(err.contains("Alerts"), "{err}");
    let plain = run(&["-r", s(&path), "-q", "--color", "never"]);
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('\u{1b}'));

    // Detectors run on the pipeline thread: the same alerts with shards.
    assert_eq!(
        keys(&alerts(&path, &["--workers", "2"])),
        keys(&alerts(&path, &[]))
    );
    // A JSON line when first raised.
    let lines = path.with_extension("jsonl");
    json_report(&["-r", s(&path), "--jsonl", s(&lines)]);
    let streamed: Vec<Value> = std::fs::read_to_string(&lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "alert")
        .collect();
    assert_eq!(streamed.len(), 1, "{streamed:?}");
    assert_eq!(streamed[0]["detector"], "syn_flood");
    // --no-alerts runs none.
    let off = json_report(&["-r", s(&path), "--no-alerts"]);
    assert!(off.get("alerts").is_none());

    let db = path.with_extension("db");
    let out = run(&["-r", s(&path), "-q", "--report", "none", "--db", s(&db)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["report", "--db", s(&db), "--format", "json"]);
    let hist: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recent = hist["alerts"]["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 1, "{hist}");
    assert_eq!(recent[0]["detector"], "syn_flood");
    assert_eq!(recent[0]["count"], 4);
}

#[test]
fn detector_state_is_bounded_under_a_flood_of_sources() {
    let dir = scratch();
    let mut p = Pcap::new();
    for i in 0..20_000u32 {
        let src = [100, (i >> 16) as u8 + 64, (i >> 8) as u8, i as u8];
        p.frame(
            f64::from(i) * 0.0001,
            &tcp(src, 1024, [10, 0, 0, 1], 80, SYN, b""),
        );
    }
    let path = p.save(&dir, "many.pcap");
    let config = path.with_extension("toml");
    std::fs::write(&config, "max_tracked = 1000\n").unwrap();
    let r = json_report(&["-r", s(&path), "--alerts-config", s(&config)]);
    assert!(
        r["alerts_info"]["evicted"].as_u64().unwrap() >= 19_000,
        "{}",
        r["alerts_info"]
    );
}

/// Scan state of a source that went quiet for a whole window is dropped, so a busy network's
/// steady trickle of new clients never fills the table: 5,000 sources over 500 s, at most 600
/// of them within any 60 s window, fit in 1,000 entries without evicting any.
#[test]
fn quiet_scan_state_is_dropped_not_evicted() {
    let dir = scratch();
    let mut p = Pcap::new();
    for i in 0..5_000u32 {
        let src = [100, 64, (i >> 8) as u8, i as u8];
        p.frame(
            f64::from(i) * 0.1,
            &tcp(src, 1024, [10, 0, 0, 1], 80, SYN, b""),
        );
    }
    let path = p.save(&dir, "trickle.pcap");
    let config = path.with_extension("toml");
    // Only the scan detector: half-open SYNs are the SYN-flood detector's to keep.
    std::fs::write(
        &config,
        "max_tracked = 1000\n[syn_flood]\nenabled = false\n[rate]\nenabled = false\n",
    )
    .unwrap();
    let r = json_report(&["-r", s(&path), "--alerts-config", s(&config)]);
    assert_eq!(r["alerts_info"]["evicted"], 0, "{}", r["alerts_info"]);
    assert_eq!(r["alerts"].as_array().unwrap().len(), 0);
}

#[test]
fn a_bad_config_is_one_clear_line() {
    let dir = scratch();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[port_scan]\nvertical_prots = 5\n").unwrap();
    let file = corpus_dir().join("dns_udp.pcap");
    let out = run(&["-r", s(&file), "--alerts-config", s(&config)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("vertical_prots") && err.contains("line 2"),
        "{err}"
    );
}

/// Alerts that mean an attack: none of these on benign traffic.
fn is_attack(a: &Value) -> bool {
    matches!(
        a["detector"].as_str(),
        Some("port_scan" | "syn_flood" | "arp_spoof")
    )
}

#[test]
fn generated_mixed_traffic_raises_nothing() {
    let dir = scratch();
    let path = dir.path().join("mix.pcap");
    generate_traffic(&path, 200_000, 11, &[]);
    let a = alerts(&path, &[]);
    assert_eq!(a, Vec::<Value>::new());
}

/// Corpus files that raise alerts, each with why that is right. Checked both ways: an alert on
/// a file not listed fails, and so does a listed file whose alerts changed.
const CORPUS_ALERTS: &[(&str, &[&str], &str)] = &[(
    "arp-oobr.pcap",
    &["arp_spoof/mac_change", "new_device/mac"],
    "a fuzzed ARP capture: its flipped bits make 192.168.1.104 (and others) claimed by many \
     different MACs over more than five minutes, which is what spoofing and new devices look like",
)];

#[test]
fn corpus_raises_no_unexplained_alert() {
    let dir = corpus_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".tsv") && !n.ends_with(".md") && !n.ends_with(".txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 800, "corpus incomplete: {}", files.len());
    let queue = Mutex::new(files);
    let found: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().pop() else {
                    break;
                };
                let path = dir.join(&file);
                let out = run(&["-r", s(&path), "-q", "--report", "json"]);
                let Ok(report) = serde_json::from_slice::<Value>(&out.stdout) else {
                    continue; // not a capture netlens reads; tests/corpus.rs covers that
                };
                let mut kinds: Vec<String> = report["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        format!(
                            "{}/{}",
                            a["detector"].as_str().unwrap(),
                            a["kind"].as_str().unwrap()
                        )
                    })
                    .collect();
                kinds.sort();
                kinds.dedup();
                if !kinds.is_empty() {
                    found.lock().unwrap().insert(file, kinds);
                }
            });
        }
    });
    let found = found.into_inner().unwrap();
    let expected: BTreeMap<String, Vec<String>> = CORPUS_ALERTS
        .iter()
        .map(|(f, k, _)| (f.to_string(), k.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn is_attack_names_the_attack_detectors() {
    assert!(is_attack(&serde_json::json!({"detector": "port_scan"})));
    assert!(!is_attack(&serde_json::json!({"detector": "new_device"})));
}

/// A real scan: nmap's SYN scan of 127.0.0.1 while netlens captures on `lo`.
#[test]
fn nmap_scan_of_loopback_is_reported() {
    assert!(
        std::process::Command::new("nmap")
            .arg("--version")
            .output()
            .is_ok(),
        "nmap missing: .ci/install installs it"
    );
    // A large buffer and a paced scan: a debug build on a busy machine must not drop the burst
    // (drops would make the port count fall short; the message then shows them).
    let (child, _stderr) = crate::live::start(
        "tcp",
        &[
            "--report",
            "json",
            "-q",
            "--stats-interval",
            "0",
            "-B",
            "65536",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let scan = std::process::Command::new("nmap")
        .args([
            "-sS",
            "-n",
            "-Pn",
            "--max-rate",
            "2000",
            "--top-ports",
            "1000",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    crate::live::interrupt(&child);
    let (status, stdout) = crate::live::wait(child);
    assert!(status.success());
    let report: Value = serde_json::from_slice(&stdout).unwrap();
    let a = report["alerts"].as_array().unwrap();
    let scans: Vec<&Value> = a.iter().filter(|x| x["detector"] == "port_scan").collect();
    assert_eq!(scans.len(), 1, "{a:?}");
    let s = scans[0];
    assert_eq!(s["kind"], "vertical");
    assert_eq!(s["src"], "127.0.0.1");
    assert_eq!(s["evidence"]["scan"], "SYN");
    // nmap probes 1000 ports; the few open ones on this machine answered and do not count.
    let ports = s["evidence"]["ports"].as_u64().unwrap();
    assert!(
        (900..=1000).contains(&ports),
        "{s}\npackets {} drops {}",
        report["packets"],
        report["drops"]
    );
    assert!(a.iter().all(|x| x["detector"] != "syn_flood"), "{a:?}");
}

/// The README's example config is a config netlens accepts.
#[test]
fn readme_example_config_is_valid() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("```toml\n")
        .expect("a toml block in the README")
        + 8;
    let len = readme[start..].find("```").unwrap();
    let dir = scratch();
    let config = dir.path().join("readme.toml");
    std::fs::write(&config, &readme[start..start + len]).unwrap();
    let file = corpus_dir().join("dns_udp.pcap");
    let r = json_report(&["-r", s(&file), "--alerts-config", s(&config)]);
    assert_eq!(r["alerts_info"]["detectors"].as_array().unwrap().len(), 7);
}
