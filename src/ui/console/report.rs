//! The final report: as text for people (stderr) or as one JSON document for scripts
//! (`--report json`, stdout). Durations and rates come from packet timestamps.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Map, Value};
use wire::services::{self, L4};

use super::put::AddrText;
use super::style::{Painted, Palette};
use crate::engine::flow::{EndReason, FlowRecord, TcpState};
use crate::engine::flows::FlowTable;
use crate::engine::hosts::format_mac;
use crate::engine::stats::{APP_NAMES, L3_NAMES, L4_NAMES};
use crate::engine::Engine;

/// Packets netlens could not see, by where they were lost.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Drops {
    /// Dropped by the kernel because the capture buffer was full.
    pub kernel: u64,
    /// Dropped by the interface or its driver.
    pub interface: u64,
    /// Dropped by netlens because processing fell behind capture.
    pub internal: u64,
}

/// Facts about the run that are not counters.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub source: String,
    pub filter: Option<String>,
    pub drops: Drops,
    /// Rows in each top-N list.
    pub top: usize,
    /// What the security detectors found; None with `--no-alerts`.
    pub alerts: Option<crate::alerts::AlertSummary>,
    /// Live capture only: how packets were captured (method, per-ring figures).
    pub capture: Option<crate::capture::live::CaptureReport>,
}

fn l4_name(l4: L4) -> &'static str {
    match l4 {
        L4::Tcp => "tcp",
        L4::Udp => "udp",
    }
}

fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The report as one JSON document (see README, "JSON report"). Serialized straight to the
/// output: the `hosts` object can hold a million entries, which must not become a tree of
/// `Value`s in memory first.
pub struct JsonReport<'a> {
    pub engine: &'a Engine,
    pub info: &'a RunInfo,
}

impl Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let summary = json(self.engine, self.info);
        let mut map = serializer.serialize_map(None)?;
        if let Value::Object(fields) = summary {
            for (k, v) in fields {
                map.serialize_entry(&k, &v)?;
            }
        }
        map.serialize_entry("hosts", &HostsJson(self.engine))?;
        map.end()
    }
}

/// Every host, by address, with its names and MACs.
struct HostsJson<'a>(&'a Engine);

#[derive(Serialize)]
struct HostJson<'a> {
    #[serde(flatten)]
    counters: &'a crate::engine::hosts::Host,
    first_ts: f64,
    last_ts: f64,
    macs: Vec<String>,
    names: Vec<&'a str>,
}

impl Serialize for HostsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let hosts = &self.0.hosts;
        let mut all: Vec<_> = hosts.iter().collect();
        all.sort_by_key(|(ip, _)| **ip);
        let mut map = serializer.serialize_map(Some(all.len()))?;
        for (ip, h) in all {
            let entry = HostJson {
                counters: h,
                first_ts: h.first_ts.as_secs_f64(),
                last_ts: h.last_ts.as_secs_f64(),
                macs: h.macs.items().map(format_mac).collect(),
                names: hosts.names(ip),
            };
            map.serialize_entry(&ip.to_string(), &entry)?;
        }
        map.end()
    }
}

/// Everything of the report but `hosts`, as a JSON object.
pub fn json(engine: &Engine, info: &RunInfo) -> Value {
    let stats = &engine.stats;
    let duration = stats.duration_secs();
    let mut protocols = Map::new();
    let mut protocol_bytes = Map::new();
    for (name, c) in L3_NAMES.iter().zip(&stats.l3) {
        protocols.insert((*name).into(), c.packets.into());
        protocol_bytes.insert((*name).into(), c.bytes.into());
    }
    for (name, c) in L4_NAMES.iter().zip(&stats.l4) {
        protocols.insert((*name).into(), c.packets.into());
        protocol_bytes.insert((*name).into(), c.bytes.into());
    }
    let apps: Map<String, Value> = APP_NAMES
        .iter()
        .zip(&stats.apps)
        .map(|(n, c)| ((*n).to_string(), c.packets.into()))
        .collect();
    let top_ips: Vec<Value> = engine
        .hosts
        .top(info.top)
        .into_iter()
        .map(|(ip, h)| json!({"ip": ip.to_string(), "packets": h.packets(), "bytes": h.bytes()}))
        .collect();
    let top_ports: Vec<Value> = stats
        .top_ports(info.top)
        .into_iter()
        .map(|(sp, c)| {
            json!({
                "port": sp.port,
                "proto": l4_name(sp.l4),
                "service": services::name(sp.port, sp.l4),
                "packets": c.packets,
                "bytes": c.bytes,
            })
        })
        .collect();
    let top_connections: Vec<Value> = stats
        .top_pairs(info.top)
        .into_iter()
        .map(|((src, dst), c, exact)| {
            json!({"src": src.to_string(), "dst": dst.to_string(), "packets": c.packets, "bytes": c.bytes, "exact": exact})
        })
        .collect();
    let top_flows: Vec<FlowJson> = engine
        .top_records()
        .into_iter()
        .map(|r| FlowJson::new(r, None))
        .collect();
    let series = json!({
        "per_second": engine.series.per_second.points().collect::<Vec<_>>(),
        "per_minute": engine.series.per_minute.points().collect::<Vec<_>>(),
    });
    let mut links: Vec<(&'static str, u64)> =
        stats.links.iter().map(|(l, n)| (l.name(), *n)).collect();
    links.sort();
    let unsupported: Map<String, Value> = stats
        .links
        .iter()
        .filter(|(l, _)| !l.is_supported())
        .map(|(l, n)| (format!("dlt{}", l.to_dlt()), (*n).into()))
        .collect();
    let mut doc = json!({
        "source": info.source,
        "filter": info.filter,
        "packets": stats.total.packets,
        "bytes": stats.total.bytes,
        "first_ts": stats.first_ts.map(|t| t.as_secs_f64()),
        "last_ts": stats.last_ts.map(|t| t.as_secs_f64()),
        "first_time": stats.first_ts.map(|t| t.rfc3339()),
        "last_time": stats.last_ts.map(|t| t.rfc3339()),
        "duration_secs": duration,
        "avg_pps": rate(stats.total.packets, duration),
        "avg_bps": rate(stats.total.bytes.saturating_mul(8), duration),
        "protocols": protocols,
        "protocol_bytes": protocol_bytes,
        "apps": apps,
        "top_ips": top_ips,
        "top_ports": top_ports,
        "top_connections": top_connections,
        "drops": info.drops,
        "malformed": stats.malformed + stats.truncated,
        "truncated": stats.truncated,
        "fragments": stats.fragments,
        "link_types": links.into_iter().map(|(n, c)| (n.to_string(), Value::from(c))).collect::<Map<_, _>>(),
        "unsupported_link_types": unsupported,
        "untracked": {
            "peer_pairs": stats.talked.untracked,
            "connections_displaced": stats.pairs.displaced,
        },
        "flows": {
            "total": engine.flows.counts.total,
            "active": engine.flows.active(),
            "expired": engine.flows.counts.expired,
            "evicted": engine.flows.counts.evicted,
            "active_timeout_slices": engine.flows.counts.active_slices,
            "records": engine.records_total,
            "bytes_per_flow": FlowTable::bytes_per_flow(),
        },
        "top_flows": top_flows,
        "hosts_evicted": engine.hosts.counts.evicted,
        "series": series,
    });
    if let (Some(a), Value::Object(m)) = (&info.alerts, &mut doc) {
        let (list, counters) = crate::alerts::report::json(a);
        m.insert("alerts".into(), list);
        m.insert("alerts_info".into(), counters);
    }
    if let (Some(capture), Some(map)) = (&info.capture, doc.as_object_mut()) {
        map.insert("capture".into(), json!(capture));
    }
    doc
}

/// One flow record as JSON: client (the initiator) and server, per-direction counters. The
/// fields are in the order of their names, the order the report's maps print keys in, so a
/// `--jsonl` flow line (written from this directly, with its `type`) reads like the report's.
#[derive(Serialize)]
pub struct FlowJson<'a> {
    app: &'static str,
    bytes: u64,
    client: AddrText,
    client_bytes: u64,
    client_packets: u64,
    client_port: u16,
    end: f64,
    end_reason: EndReason,
    name: Option<&'a str>,
    packets: u64,
    proto: u8,
    retransmissions: u32,
    server: AddrText,
    server_bytes: u64,
    server_packets: u64,
    server_port: u16,
    start: f64,
    tcp_state: TcpState,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    vlan: u16,
}

impl<'a> FlowJson<'a> {
    /// `kind` is the line's `type` in `--jsonl` (`None` in the report).
    pub fn new(r: &'a FlowRecord, kind: Option<&'static str>) -> Self {
        let (client, server) = r.client_server();
        let (up, down) = r.client_server_counters();
        let total = r.total();
        FlowJson {
            app: r.app.name(),
            bytes: total.bytes,
            client: AddrText(client.addr),
            client_bytes: up.bytes,
            client_packets: up.packets,
            client_port: client.port,
            end: r.end.as_secs_f64(),
            end_reason: r.reason,
            name: r.name.as_deref(),
            packets: total.packets,
            proto: r.key.proto,
            retransmissions: r.retransmissions,
            server: AddrText(server.addr),
            server_bytes: down.bytes,
            server_packets: down.packets,
            server_port: server.port,
            start: r.start.as_secs_f64(),
            tcp_state: r.tcp,
            kind,
            vlan: r.key.vlan,
        }
    }
}

/// Human-readable bytes (1024-based, like `ls -h`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Human-readable rate with SI prefixes (network rates are decimal: 1 Mbit/s = 10^6 bit/s).
pub fn human_rate(per_sec: f64, unit: &str) -> String {
    let (v, prefix) = if per_sec >= 1e9 {
        (per_sec / 1e9, "G")
    } else if per_sec >= 1e6 {
        (per_sec / 1e6, "M")
    } else if per_sec >= 1e3 {
        (per_sec / 1e3, "k")
    } else {
        (per_sec, "")
    };
    format!("{v:.1} {prefix}{unit}")
}

fn endpoint_text(addr: std::net::IpAddr, port: u16) -> String {
    match addr {
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The report as text.
/// What to try when packets were lost before netlens counted them: the kernel's buffer was full
/// (netlens fell behind), or netlens's own queue was. Interface drops happen in the network
/// card or its driver, out of netlens's reach.
fn drop_hint(d: &Drops) -> Option<&'static str> {
    match (d.kernel > 0, d.internal > 0) {
        (false, false) => None,
        (true, _) => Some(
            "the kernel dropped packets netlens did not read in time: give it a larger buffer \
             (-B MiB) or more accounting threads (--workers N)",
        ),
        (false, true) => Some(
            "netlens's queue was full: more accounting threads (--workers N) or fewer outputs \
             (--no-db, no packet log) help it keep up",
        ),
    }
}

pub fn text(engine: &Engine, info: &RunInfo, p: &Palette) -> String {
    let stats = &engine.stats;
    let mut s = String::new();
    let d = stats.duration_secs();
    let total = stats.total.packets;
    let _ = writeln!(s, "\n{}", Painted(p.heading, &"netlens report"));
    let _ = writeln!(s, "  source      {}", info.source);
    if let Some(f) = &info.filter {
        let _ = writeln!(s, "  filter      {f}");
    }
    if let (Some(a), Some(b)) = (stats.first_ts, stats.last_ts) {
        let _ = writeln!(s, "  time        {} → {}", a.rfc3339(), b.rfc3339());
    }
    let _ = writeln!(s, "  duration    {d:.3} s");
    let _ = writeln!(
        s,
        "  packets     {total}  ({})",
        human_rate(rate(total, d), "pkt/s")
    );
    let _ = writeln!(
        s,
        "  bytes       {}  ({})",
        human_bytes(stats.total.bytes),
        human_rate(rate(stats.total.bytes.saturating_mul(8), d), "bit/s")
    );
    let dr = info.drops;
    let _ = writeln!(
        s,
        "  dropped     kernel {}, interface {}, netlens {}",
        dr.kernel, dr.interface, dr.internal
    );
    if let Some(hint) = drop_hint(&dr) {
        let _ = writeln!(s, "              {}", Painted(p.warn, &hint));
    }
    let rings = info.capture.as_ref().map_or(0, |c| c.rings.len());
    if rings == 1 {
        // One ring (the default with one worker): no fanout group, nothing to split.
        let _ = writeln!(s, "  capture     1 AF_PACKET ring");
    } else if let Some(c) = info.capture.as_ref().filter(|c| !c.rings.is_empty()) {
        let per_ring: Vec<String> = c.rings.iter().map(|r| r.packets.to_string()).collect();
        let _ = writeln!(
            s,
            "  capture     {} rings, packets {}; flows split between rings {}",
            c.rings.len(),
            per_ring.join(" / "),
            c.flows_split.unwrap_or(0)
        );
    }
    if stats.malformed + stats.truncated > 0 {
        let _ = writeln!(
            s,
            "  undecodable {} truncated, {} malformed",
            stats.truncated, stats.malformed
        );
    }

    let _ = writeln!(s, "\n{}", Painted(p.heading, &"Protocols"));
    let rows = L3_NAMES
        .iter()
        .zip(&stats.l3)
        .chain(L4_NAMES.iter().zip(&stats.l4))
        .chain(APP_NAMES.iter().zip(&stats.apps));
    for (name, c) in rows.filter(|(_, c)| c.packets > 0) {
        let _ = writeln!(
            s,
            "  {name:<9} {:>10} pkts {:>6.2}%  {:>12}",
            c.packets,
            pct(c.packets, total),
            human_bytes(c.bytes)
        );
    }

    let hosts = engine.hosts.top(info.top);
    if !hosts.is_empty() {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &"Top IP addresses"));
        let _ = writeln!(
            s,
            "  {:<39} {:>10} {:>12} {:>12} {:>12}  name",
            "address", "packets", "bytes", "bytes out", "bytes in"
        );
        for (ip, h) in hosts {
            let names = engine.hosts.names(&ip);
            let mut label = String::new();
            if h.local {
                label.push_str("(local)");
            }
            if let Some(n) = names.first() {
                if !label.is_empty() {
                    label.push(' ');
                }
                label.push_str(&super::style::Untrusted(n).to_string());
            }
            let _ = writeln!(
                s,
                "  {:<39} {:>10} {:>12} {:>12} {:>12}  {label}",
                ip.to_string(),
                h.packets(),
                human_bytes(h.bytes()),
                human_bytes(h.bytes_out),
                human_bytes(h.bytes_in),
            );
        }
    }
    let ports = stats.top_ports(info.top);
    if !ports.is_empty() {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &"Top ports"));
        for (sp, c) in ports {
            let service = services::name(sp.port, sp.l4).unwrap_or("-");
            let _ = writeln!(
                s,
                "  {:>5}/{:<3} {:<14} {:>10} pkts {:>12}",
                sp.port,
                l4_name(sp.l4),
                service,
                c.packets,
                human_bytes(c.bytes)
            );
        }
    }
    let pairs = stats.top_pairs(info.top);
    if !pairs.is_empty() {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &"Top connections"));
        for ((src, dst), c, exact) in pairs {
            let _ = writeln!(
                s,
                "  {:<39} → {:<39} {:>10} pkts {:>12}",
                src.to_string(),
                dst.to_string(),
                if exact {
                    c.packets.to_string()
                } else {
                    format!("≥{}", c.packets)
                },
                human_bytes(c.bytes)
            );
        }
    }
    let flows = engine.top_records();
    if !flows.is_empty() {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &"Top flows"));
        for r in flows {
            let (c, sv) = r.client_server();
            let _ = writeln!(
                s,
                "  {:<5} {} → {} {:>10} pkts {:>12}  {}{}",
                super::fragments::ip_proto_name(r.key.proto),
                endpoint_text(c.addr, c.port),
                endpoint_text(sv.addr, sv.port),
                r.total().packets,
                human_bytes(r.total().bytes),
                r.app.name(),
                r.name
                    .as_deref()
                    .map(|n| format!(" {}", super::style::Untrusted(n)))
                    .unwrap_or_default()
            );
        }
    }
    let fc = engine.flows.counts;
    let _ = writeln!(
        s,
        "\n  flows       {} total, {} active at end, {} expired, {} evicted",
        fc.total,
        engine.flows.active(),
        fc.expired,
        fc.evicted
    );
    if stats.talked.untracked + engine.hosts.counts.evicted > 0 {
        let _ = writeln!(
            s,
            "  note: tables full; {} hosts evicted, {} address pairs not counted as peers",
            engine.hosts.counts.evicted, stats.talked.untracked
        );
    }
    if stats.pairs.displaced > 0 {
        let _ = writeln!(
            s,
            "  note: more address pairs than the connection table holds ({}); counts marked ≥ \
             are what a pair surely carried",
            crate::engine::pairs::TOP_PAIRS
        );
    }
    if let Some(a) = &info.alerts {
        s.push_str(&crate::alerts::report::text(a, p));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_packets_come_with_what_to_try() {
        let drops = |kernel, interface, internal| Drops {
            kernel,
            interface,
            internal,
        };
        assert_eq!(drop_hint(&drops(0, 0, 0)), None);
        // The card's own drops: nothing netlens can change.
        assert_eq!(drop_hint(&drops(0, 5, 0)), None);
        assert!(
            drop_hint(&drops(3, 0, 0)).is_some_and(|h| h.contains("-B") && h.contains("--workers"))
        );
        assert!(drop_hint(&drops(0, 0, 3)).is_some_and(|h| h.contains("--workers")));
    }
}
