//! How flows end, checked on the records `--jsonl` streams: an answered DNS, NTP or ping
//! exchange ends after the short closed timeout (the next exchange comes on a new port or
//! identifier, or after more than the idle timeout, so a minute of idle wait only holds memory
//! and merges unrelated exchanges), an unanswered one after the idle timeout. ICMP errors,
//! which nothing answers, end after the closed timeout too.

use etherparse::PacketBuilder;
use serde_json::Value;

use crate::alerts::Pcap;
use crate::util::json_report;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const RESOLVER: [u8; 4] = [10, 0, 0, 53];
const CLIENT_PORT: u16 = 40_000;

/// A DNS message for `a.example IN A`: a query, or its response with one answer.
fn dns(id: u16, response: bool) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(if response { 0x8180u16 } else { 0x0100 }).to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, u8::from(response), 0, 0, 0, 0]);
    m.extend_from_slice(b"\x01a\x07example\x00\x00\x01\x00\x01");
    if response {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 7]);
    }
    m
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

fn query(id: u16) -> Vec<u8> {
    udp((CLIENT, CLIENT_PORT), (RESOLVER, 53), &dns(id, false))
}

fn answer(id: u16) -> Vec<u8> {
    udp((RESOLVER, 53), (CLIENT, CLIENT_PORT), &dns(id, true))
}

/// A flow record: end reason, packets, start and end (seconds after the test captures' start).
type Record = (String, u64, f64, f64);

/// Runs netlens on `pcap` with `--jsonl`: its JSON report, and the flow records `keep` picks,
/// by start time.
fn flow_records(pcap: &Pcap, keep: impl Fn(&Value) -> bool) -> (Value, Vec<Record>) {
    let dir = tempfile::tempdir().unwrap();
    let path = pcap.save(&dir, "flows.pcap");
    let lines = dir.path().join("flows.jsonl");
    let report = json_report(&[
        "-r",
        path.to_str().unwrap(),
        "--jsonl",
        lines.to_str().unwrap(),
    ]);
    let mut records: Vec<Record> = std::fs::read_to_string(&lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "flow" && keep(v))
        .map(|v| {
            (
                v["end_reason"].as_str().unwrap().to_string(),
                v["packets"].as_u64().unwrap(),
                v["start"].as_f64().unwrap() - 1_700_000_000.0,
                v["end"].as_f64().unwrap() - 1_700_000_000.0,
            )
        })
        .collect();
    records.sort_by(|a, b| a.2.total_cmp(&b.2));
    (report, records)
}

/// Each record's end reason and packets.
fn reasons(records: &[Record]) -> Vec<(&str, u64)> {
    records.iter().map(|f| (f.0.as_str(), f.1)).collect()
}

#[test]
fn answered_dns_exchanges_end_after_the_closed_timeout() {
    let mut pcap = Pcap::new();
    // Two queries in parallel on one socket (A and AAAA, as glibc does): over once both have
    // their answer.
    pcap.frame(0.0, &query(1));
    pcap.frame(0.001, &query(2));
    pcap.frame(0.010, &answer(1));
    pcap.frame(0.011, &answer(2));
    // The same port again 20 s later: a new exchange, a new flow.
    pcap.frame(20.0, &query(3));
    pcap.frame(20.010, &answer(3));
    // A query that gets no answer waits the idle timeout (60 s).
    pcap.frame(30.0, &query(4));
    // Something else keeps packet time moving to 100 s.
    pcap.frame(
        100.0,
        &udp(([10, 0, 0, 9], 5000), ([10, 0, 0, 8], 6000), b"x"),
    );
    let (report, dns_flows) = flow_records(&pcap, |v| v["server_port"] == 53);
    assert_eq!(
        reasons(&dns_flows),
        [("dns_answered", 4), ("dns_answered", 2), ("idle", 1)],
        "{dns_flows:?}"
    );
    assert!((dns_flows[1].2 - 20.0).abs() < 1e-3 && (dns_flows[1].3 - 20.01).abs() < 1e-3);
    assert_eq!(report["flows"]["total"], 4);
    assert_eq!(report["flows"]["expired"], 3);
}

/// An ICMP echo request from the client, or the resolver's reply, with `id` and `seq`.
fn ping(id: u16, seq: u16, reply: bool) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = if reply {
        eth.ipv4(RESOLVER, CLIENT, 64).icmpv4_echo_reply(id, seq)
    } else {
        eth.ipv4(CLIENT, RESOLVER, 64).icmpv4_echo_request(id, seq)
    };
    let payload = [0u8; 56];
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).unwrap();
    out
}

#[test]
fn answered_pings_end_after_the_closed_timeout() {
    let mut pcap = Pcap::new();
    // A ping of three requests, one a second, each answered: one flow, over 5 s after the
    // last reply.
    for seq in 0..3u16 {
        pcap.frame(f64::from(seq), &ping(7, seq, false));
        pcap.frame(f64::from(seq) + 0.010, &ping(7, seq, true));
    }
    // The same identifier 20 s later: a new ping, a new flow.
    pcap.frame(20.0, &ping(7, 0, false));
    pcap.frame(20.010, &ping(7, 0, true));
    // A request without a reply waits the idle timeout (60 s).
    pcap.frame(30.0, &ping(8, 0, false));
    // A lost reply before the latest request's is given up, as ping gives it up.
    pcap.frame(40.0, &ping(9, 0, false));
    pcap.frame(41.0, &ping(9, 1, false));
    pcap.frame(41.010, &ping(9, 1, true));
    pcap.frame(
        200.0,
        &udp(([10, 0, 0, 9], 5000), ([10, 0, 0, 8], 6000), b"x"),
    );
    let (_, pings) = flow_records(&pcap, |v| v["proto"] == 1);
    assert_eq!(
        reasons(&pings),
        [
            ("echo_answered", 6),
            ("echo_answered", 2),
            ("idle", 1),
            ("echo_answered", 3)
        ],
        "{pings:?}"
    );
    assert!((pings[3].3 - 41.010).abs() < 1e-3, "{pings:?}");
    assert!((pings[0].3 - 2.010).abs() < 1e-3, "{pings:?}");
}

/// An NTP message of `mode` (3 client, 4 server), 48 bytes: version 4, no extensions.
fn ntp(mode: u8) -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = (4 << 3) | mode;
    m
}

#[test]
fn answered_ntp_requests_end_after_the_closed_timeout() {
    let mut pcap = Pcap::new();
    let server = ([10, 0, 0, 123], 123);
    // A client's burst at start-up (iburst: requests 2 s apart), each answered: one flow.
    for i in 0..4u8 {
        let t = 2.0 * f64::from(i);
        pcap.frame(t, &udp((CLIENT, 123), server, &ntp(3)));
        pcap.frame(t + 0.020, &udp(server, (CLIENT, 123), &ntp(4)));
    }
    // Its next poll 64 s later: a new flow.
    pcap.frame(70.0, &udp((CLIENT, 123), server, &ntp(3)));
    pcap.frame(70.020, &udp(server, (CLIENT, 123), &ntp(4)));
    // Another client's request that gets no answer waits the idle timeout.
    pcap.frame(80.0, &udp(([10, 0, 0, 2], 123), server, &ntp(3)));
    pcap.frame(
        200.0,
        &udp(([10, 0, 0, 9], 5000), ([10, 0, 0, 8], 6000), b"x"),
    );
    let (_, flows) = flow_records(&pcap, |v| v["server_port"] == 123);
    assert_eq!(
        reasons(&flows),
        [("ntp_answered", 8), ("ntp_answered", 2), ("idle", 1)],
        "{flows:?}"
    );
    assert!((flows[0].3 - 6.020).abs() < 1e-3, "{flows:?}");
}

/// An ICMP message of `ty`/`code` from `src` to `dst`, carrying the start of the packet it
/// reports on (an IPv4 header and 8 bytes).
fn icmp(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .icmpv4_raw(ty, code, [0; 4]);
    let mut inner = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0];
    inner.extend_from_slice(&dst);
    inner.extend_from_slice(&src);
    inner.extend_from_slice(&[0, 53, 0x9c, 0x40, 0, 16, 0, 0]);
    let mut out = Vec::with_capacity(b.size(inner.len()));
    b.write(&mut out, &inner).unwrap();
    out
}

/// An ICMPv6 packet-too-big (type 2) from a router to the client.
fn icmpv6_too_big() -> Vec<u8> {
    let router = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let client = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(router, client, 64)
        .icmpv6_raw(2, 0, 1280u32.to_be_bytes());
    let payload = [0u8; 48];
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, &payload).unwrap();
    out
}

#[test]
fn icmp_errors_end_after_the_closed_timeout() {
    let mut pcap = Pcap::new();
    // The client refuses three late DNS replies a second apart: one flow of port unreachables,
    // over 5 s after the last.
    for i in 0..3u8 {
        pcap.frame(f64::from(i), &icmp(CLIENT, RESOLVER, 3, 3));
    }
    // The next a minute later: a new flow.
    pcap.frame(60.0, &icmp(CLIENT, RESOLVER, 3, 3));
    // A router on the path: a time exceeded, and an IPv6 packet too big.
    pcap.frame(61.0, &icmp([10, 0, 0, 254], CLIENT, 11, 0));
    pcap.frame(62.0, &icmpv6_too_big());
    // A router advertisement (type 9) is no error: it waits the idle timeout.
    pcap.frame(63.0, &icmp([10, 0, 0, 254], [224, 0, 0, 1], 9, 0));
    pcap.frame(
        200.0,
        &udp(([10, 0, 0, 9], 5000), ([10, 0, 0, 8], 6000), b"x"),
    );
    let (_, flows) = flow_records(&pcap, |v| v["proto"] == 1 || v["proto"] == 58);
    assert_eq!(
        reasons(&flows),
        [
            ("icmp_error", 3),
            ("icmp_error", 1),
            ("icmp_error", 1),
            ("icmp_error", 1),
            ("idle", 1)
        ],
        "{flows:?}"
    );
    assert!((flows[0].3 - 2.0).abs() < 1e-3, "{flows:?}");
}
