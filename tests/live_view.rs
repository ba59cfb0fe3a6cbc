//! Hosts and IP pairs are counted per flow record, when a flow ends, not per packet. Live
//! views (the dashboard, the statistics line) add the open flows' counters to them: this checks
//! that the view at any moment is exactly what the hosts and pairs hold once every open flow
//! has ended — the numbers per-packet counting would have shown.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use etherparse::PacketBuilder;
use netlens::capture::{Frame, IfaceId};
use netlens::engine::flows::FlowConfig;
use netlens::engine::hosts::Host;
use netlens::engine::shards::{ShardOutputs, Shards};
use netlens::engine::snapshot::{Context, Snapshot};
use netlens::engine::stats::Counter;
use netlens::engine::{Engine, EngineConfig};
use netlens::fuzzing::{host_rows, HostRow};
use netlens::time::Timestamp;
use wire::LinkType;

struct Owned {
    ts: Timestamp,
    orig_len: u32,
    link: LinkType,
    data: Vec<u8>,
}

impl Owned {
    fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            orig_len: self.orig_len,
            link: self.link,
            iface: IfaceId(0),
            data: &self.data,
        }
    }
}

/// 20,000 frames of mixed traffic over about 20 s (../shared/bench/gen_traffic.py).
fn generated() -> Vec<Owned> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.pcap");
    crate::util::generate_traffic(&out, 20_000, 7, &["--pps", "1000"]);
    let mut frames = Vec::new();
    netlens::capture::file::read(&out.to_string_lossy(), &mut |f| {
        frames.push(Owned {
            ts: f.ts,
            orig_len: f.orig_len,
            link: f.link,
            data: f.data.to_vec(),
        });
        Ok(netlens::capture::Flow::Continue)
    })
    .unwrap();
    frames
}

/// A frame of `data` at `ts_ms` milliseconds.
fn owned(ts_ms: i64, data: Vec<u8>) -> Owned {
    Owned {
        ts: Timestamp(ts_ms * 1_000_000),
        orig_len: data.len() as u32,
        link: LinkType::Ethernet,
        data,
    }
}

/// Short timeouts, so that within 20 s of traffic many flows end and many stay open.
fn engine() -> Engine {
    Engine::new(config())
}

fn config() -> EngineConfig {
    EngineConfig {
        flows: FlowConfig {
            idle: Duration::from_secs(3),
            tcp_closed: Duration::from_secs(1),
            active: Duration::from_secs(5),
            max_flows: 1_000_000,
        },
        ..EngineConfig::default()
    }
}

fn feed(engine: &mut Engine, frames: &[Owned]) {
    for f in frames {
        let frame = f.frame();
        engine.process(&frame, &wire::decode(frame.link, frame.data));
    }
}

/// Checks the view of a running engine against the same engine after every flow has ended.
fn view_equals_final(mut engine: Engine, what: &str) {
    let rows = |hosts: Vec<(IpAddr, &Host)>| -> BTreeMap<IpAddr, HostRow> {
        host_rows(hosts.into_iter())
            .into_iter()
            .map(|r| (r.0, r))
            .collect()
    };
    let now = engine.hosts_now();
    let hosts_now = rows(now.iter().map(|(ip, h)| (*ip, h)).collect());
    let pairs_now: BTreeMap<(IpAddr, IpAddr), Counter> = engine.pairs_now().into_iter().collect();
    engine.finish();
    let hosts = rows(engine.hosts.iter().map(|(ip, h)| (*ip, h)).collect());
    assert_eq!(
        engine.stats.pairs.displaced, 0,
        "{what}: every pair counted exactly"
    );
    let pairs: BTreeMap<(IpAddr, IpAddr), Counter> = engine.stats.pairs.floors().collect();
    assert_eq!(hosts_now.len(), hosts.len(), "{what}: hosts");
    for (ip, h) in &hosts {
        assert_eq!(hosts_now.get(ip), Some(h), "{what}: host {ip}");
    }
    assert_eq!(pairs_now, pairs, "{what}: IP pairs");
    assert!(
        pairs.values().all(|c| c.packets > 0),
        "{what}: a pair without packets"
    );
}

#[test]
fn live_hosts_and_pairs_include_open_flows() {
    let frames = generated();
    assert_eq!(frames.len(), 20_000);
    for cut in [frames.len() / 3, frames.len()] {
        let mut e = engine();
        feed(&mut e, &frames[..cut]);
        // Both kinds of flow must be present for the check to mean anything.
        assert!(e.records_total > 100, "{cut}: {} records", e.records_total);
        assert!(e.flows.active() > 100, "{cut}: {} open", e.flows.active());
        let with_macs = e
            .hosts_now()
            .iter()
            .filter(|(_, h)| h.macs.items().count() > 0)
            .count();
        assert!(with_macs > 10, "{cut}: {with_macs} hosts with MACs");
        view_equals_final(e, &format!("first {cut} frames"));
    }
}

/// A flow whose packets change MAC address halfway (a router failing over): both MACs reach
/// the host, with the packet that first showed each.
#[test]
fn a_flow_that_changes_mac_gives_its_hosts_both() {
    let frame = |src_mac: [u8; 6], seq: u32| {
        let b = PacketBuilder::ethernet2(src_mac, [2, 0, 0, 0, 0, 9])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40_000, 80, seq, 1000);
        let mut out = Vec::new();
        b.write(&mut out, b"x").unwrap();
        out
    };
    let (a, c) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 3]);
    let frames: Vec<Owned> = [(a, 1), (a, 2), (c, 3), (a, 4)]
        .iter()
        .enumerate()
        .map(|(i, &(mac, seq))| owned(i as i64, frame(mac, seq)))
        .collect();
    let mut e = engine();
    feed(&mut e, &frames);
    let client: IpAddr = "10.0.0.1".parse().unwrap();
    let now = e.hosts_now();
    let (_, h) = now.iter().find(|(ip, _)| *ip == client).unwrap();
    assert_eq!(h.macs.items().copied().collect::<Vec<_>>(), vec![a, c]);
    assert_eq!(h.packets_out, 4);
    view_equals_final(e, "MAC change");
}

/// Peers are counted when two addresses first talk, in either direction, once per pair; an
/// address talking to itself (loopback, a misconfigured host) is its own peer.
#[test]
fn peers_count_each_address_once() {
    let (a, b, c) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]);
    let macs = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let packets = [
        (a, b, 1000),
        (b, a, 1001),
        (a, b, 1002),
        (a, c, 1003),
        (a, a, 1004),
    ];
    let frames: Vec<Owned> = packets
        .iter()
        .enumerate()
        .map(|(i, &(s, d, port))| udp_frame(i as i64, macs, (s, port), (d, 9)))
        .collect();
    let mut e = engine();
    feed(&mut e, &frames);
    e.finish();
    let peers = |ip: [u8; 4]| e.hosts.get(&IpAddr::from(ip)).map(|h| h.peers);
    assert_eq!(peers(a), Some(3), "b, c and itself");
    assert_eq!(peers(b), Some(1));
    assert_eq!(peers(c), Some(1));
}

/// One UDP frame from `src` to `dst` with the given MACs.
fn udp_frame(
    ts_ms: i64,
    macs: ([u8; 6], [u8; 6]),
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
) -> Owned {
    let b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1);
    let mut data = Vec::new();
    b.write(&mut data, b"x").unwrap();
    owned(ts_ms, data)
}

/// Captures go back in time (merged files, clock steps): a host's first-seen time is its
/// earliest packet, not its flow's first one; and when both ends of a flow are one address,
/// the first packet's source MAC is the one seen first, as counting per packet gives.
#[test]
fn out_of_order_times_and_self_flows_count_as_per_packet() {
    let (a, b, c) = ([10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]);
    let (m1, m2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let frames = vec![
        udp_frame(10_000, (m1, m2), (a, 1000), (b, 53)),
        udp_frame(5_000, (m2, m1), (b, 53), (a, 1000)),
        udp_frame(12_000, (m1, m2), (a, 1000), (b, 53)),
        // From the higher port to the lower one on one address: the key's `hi` end sends.
        udp_frame(13_000, (m2, m1), (c, 9000), (c, 80)),
    ];
    let mut e = engine();
    feed(&mut e, &frames);
    let now = e.hosts_now();
    let host = |ip: [u8; 4]| {
        now.iter()
            .find(|(x, _)| *x == IpAddr::from(ip))
            .and_then(|(ip, h)| host_rows(std::iter::once((*ip, h))).pop())
            .unwrap()
    };
    let (ha, hb) = (host(a), host(b));
    assert_eq!(ha.2, (5_000_000_000, 12_000_000_000), "a: first, last");
    assert_eq!(hb.2, (5_000_000_000, 12_000_000_000), "b: first, last");
    assert_eq!(host(c).3, vec![m2, m1], "c's MACs: the source's first");
    view_equals_final(e, "out of order");
}

/// With `--workers`, live views are merged from the shards' parts: at any point they show what
/// one engine's view shows (hosts, flows, map, series, totals, names), as the final merged
/// report does.
#[test]
fn shard_views_equal_one_engines_view() {
    let frames = generated();
    for cut in [frames.len() / 3, frames.len()] {
        let mut one = engine();
        feed(&mut one, &frames[..cut]);
        let mut shards = Shards::start(3, &config(), ShardOutputs::default());
        for f in &frames[..cut] {
            let frame = f.frame();
            let packet = wire::decode(frame.link, frame.data);
            shards.dispatch(&frame, &packet, wire::packet::Apps::All);
        }
        let expected = Snapshot::from_engine(&one, Context::default());
        assert!(expected.flows.len() == 300 && expected.host_table.len() == 500);
        let wanted: Arc<[IpAddr]> = expected.named_addresses().into();
        let parts = shards.request_parts(wanted);
        let parts: Vec<_> = (0..shards.len()).map(|_| parts.recv().unwrap()).collect();
        let merged = Snapshot::from_parts(parts, Context::default());
        let json = |s: &Snapshot| serde_json::to_value(s).unwrap();
        let (a, b) = (json(&expected), json(&merged));
        for (field, value) in a.as_object().unwrap() {
            assert_eq!(&b[field], value, "first {cut} frames: {field}");
        }
        let named = expected.host_table.iter().filter(|h| !h.names.is_empty());
        assert!(named.count() > 20, "names were compared");
        assert_eq!(shards.finish(&mut |_| {}).1, 0);
    }
}
