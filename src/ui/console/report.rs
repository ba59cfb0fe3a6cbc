//! The final report: as text for people (stderr) or as one JSON document for scripts
//! (`--report json`, stdout). Durations and rates come from packet timestamps.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Map, Value};
use wire::services::{self, L4};

use super::style::{Painted, Palette};
use crate::engine::stats::{Stats, APP_NAMES, L3_NAMES, L4_NAMES};

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

/// The report as one JSON document (see README, "JSON report").
pub fn json(stats: &Stats, info: &RunInfo) -> Value {
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
    let top_ips: Vec<Value> = stats
        .top_hosts(info.top)
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
        .map(|((src, dst), c)| {
            json!({"src": src.to_string(), "dst": dst.to_string(), "packets": c.packets, "bytes": c.bytes})
        })
        .collect();
    let mut hosts: Vec<_> = stats.hosts.iter().collect();
    hosts.sort_by_key(|(ip, _)| **ip);
    let hosts: Map<String, Value> = hosts
        .into_iter()
        .map(|(ip, h)| (ip.to_string(), json!(h)))
        .collect();
    let mut links: Vec<(&'static str, u64)> =
        stats.links.iter().map(|(l, n)| (l.name(), *n)).collect();
    links.sort();
    let unsupported: Map<String, Value> = stats
        .links
        .iter()
        .filter(|(l, _)| !l.is_supported())
        .map(|(l, n)| (format!("dlt{}", l.to_dlt()), (*n).into()))
        .collect();
    json!({
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
        "hosts": hosts,
        "drops": info.drops,
        "malformed": stats.malformed + stats.truncated,
        "truncated": stats.truncated,
        "fragments": stats.fragments,
        "link_types": links.into_iter().map(|(n, c)| (n.to_string(), Value::from(c))).collect::<Map<_, _>>(),
        "unsupported_link_types": unsupported,
        "untracked": {"hosts": stats.host_overflow, "connections": stats.pair_overflow},
    })
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

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The report as text.
pub fn text(stats: &Stats, info: &RunInfo, p: &Palette) -> String {
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

    let hosts = stats.top_hosts(info.top);
    if !hosts.is_empty() {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &"Top IP addresses"));
        let _ = writeln!(
            s,
            "  {:<39} {:>10} {:>12} {:>12} {:>12}",
            "address", "packets", "bytes", "bytes out", "bytes in"
        );
        for (ip, h) in hosts {
            let _ = writeln!(
                s,
                "  {:<39} {:>10} {:>12} {:>12} {:>12}",
                ip.to_string(),
                h.packets(),
                human_bytes(h.bytes()),
                human_bytes(h.bytes_out),
                human_bytes(h.bytes_in)
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
        for ((src, dst), c) in pairs {
            let _ = writeln!(
                s,
                "  {:<39} → {:<39} {:>10} pkts {:>12}",
                src.to_string(),
                dst.to_string(),
                c.packets,
                human_bytes(c.bytes)
            );
        }
    }
    if stats.host_overflow + stats.pair_overflow > 0 {
        let _ = writeln!(
            s,
            "\n  note: tables full; {} host and {} pair updates not tracked",
            stats.host_overflow, stats.pair_overflow
        );
    }
    s
}
