//! `netlens report --db FILE`: the final report's view over any time range of the history —
//! totals and rates, protocol mix, applications, top talkers with bytes in and out, top ports,
//! the largest flows, traffic over time as a terminal sparkline, alerts and the runs that
//! recorded it — as text on stdout or one JSON document (`--format json`).
//!
//! Without `--host`, totals and the protocol mix come from the per-second series (exact to
//! the second, and equal to the capture's own report over the whole range); talkers from the
//! host-minute rows; ports, applications and flows from the flow records. With `--host`
//! everything is about that address: its own in/out totals, its flows' protocols, its peers.

use std::fmt::Write as _;
use std::io::{self, Write};

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::{json, Map, Value};
use wire::services::{self, L4};

use super::{db_error, open, rfc3339, write_error, Failure, RangeArgs};
use crate::engine::series::Point;
use crate::store::query::{self, AlertInfo, AppRow, CaptureInfo, Filter, FlowRow, PortRow, Talker};
use crate::store::Resolution;
use crate::ui::console::report::{human_bytes, human_rate};
use crate::ui::console::style::{ColorChoice, Painted, Palette, Untrusted};

/// Columns of the sparkline: fits an 80-column terminal with its margin.
const SPARK_WIDTH: usize = 64;
/// Ranges up to this long are charted per second; longer ones per minute.
pub const SECONDS_UP_TO: f64 = 2.0 * 3600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub range: RangeArgs,

    /// Output format: text for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, value_name = "FORMAT")]
    pub format: ReportFormat,

    /// Rows in each top-N list.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub top: u64,

    /// When to use colors (text format).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// Everything the report shows, gathered from the database.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub db: String,
    pub host: Option<String>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub duration_secs: f64,
    /// tcp, udp, icmp (ICMP and ICMPv6), other (other transports and non-IP frames).
    pub protocols: [(&'static str, u64); 4],
    /// Flow records in the range, and flows that began in it.
    pub flow_records: u64,
    pub new_flows: u64,
    pub apps: Vec<AppRow>,
    pub top_talkers: Vec<Talker>,
    pub top_ports: Vec<PortRow>,
    pub top_flows: Vec<FlowRow>,
    pub resolution: Resolution,
    pub series: Vec<Point>,
    pub alerts_by_severity: Vec<(String, u64)>,
    pub alerts: Vec<AlertInfo>,
    pub captures: Vec<CaptureInfo>,
}

pub fn run(args: &ReportArgs) -> Result<(), Failure> {
    let (conn, filter) = open(&args.range)?;
    let report = gather(&conn, &filter, args).map_err(db_error(&args.range.db))?;
    let mut out = io::stdout().lock();
    let written = match args.format {
        ReportFormat::Json => serde_json::to_writer_pretty(&mut out, &to_json(&report))
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out)),
        ReportFormat::Text => {
            let palette = Palette::new(args.color.enabled_for(&io::stdout()));
            out.write_all(text(&report, &palette).as_bytes())
        }
    };
    written.and_then(|()| out.flush()).or_else(write_error)
}

/// Runs the queries of the report.
pub fn gather(
    conn: &rusqlite::Connection,
    f: &Filter,
    args: &ReportArgs,
) -> rusqlite::Result<HistoryReport> {
    let n = args.top as usize;
    let (packets, bytes, protocols, new_flows, first_t, last_t, step, series, resolution);
    let top_talkers;
    match &f.host {
        None => {
            let t = query::totals(conn, f)?;
            (packets, bytes, new_flows) = (t.packets, t.bytes, t.new_flows);
            protocols = [
                ("tcp", t.tcp),
                ("udp", t.udp),
                ("icmp", t.icmp),
                ("other", t.other),
            ];
            (first_t, last_t, step) = (t.first_t, t.last_t, 1);
            let span = match (t.first_t, t.last_t) {
                (Some(a), Some(b)) => (b - a) as f64,
                _ => 0.0,
            };
            resolution = if span <= SECONDS_UP_TO {
                Resolution::Second
            } else {
                Resolution::Minute
            };
            series = query::series(conn, f, resolution)?;
            top_talkers = query::top_talkers(conn, f, n)?;
        }
        Some(ip) => {
            let h = query::host_totals(conn, f, ip)?.unwrap_or_default();
            (packets, bytes) = (h.packets, h.bytes);
            let mut mix = [("tcp", 0), ("udp", 0), ("icmp", 0), ("other", 0)];
            for p in query::flow_protocols(conn, f)? {
                let i = match p.app.as_str() {
                    "TCP" => 0,
                    "UDP" => 1,
                    "ICMP" | "ICMP6" => 2,
                    _ => 3,
                };
                if let Some(slot) = mix.get_mut(i) {
                    slot.1 += p.packets;
                }
            }
            protocols = mix;
            new_flows = 0;
            resolution = Resolution::Minute;
            series = query::host_series(conn, f, ip)?;
            (first_t, last_t, step) = (series.first().map(|p| p.t), series.last().map(|p| p.t), 60);
            top_talkers = query::peers(conn, f, ip, n)?;
        }
    }
    let captures = query::captures(conn, f)?;
    // The exact first and last packet times come from the runs; clip them to the range and to
    // the intervals that had traffic in it.
    let first_ts = first_t.map(|t| {
        let runs = captures
            .iter()
            .filter_map(|c| c.first_ts)
            .fold(f64::INFINITY, f64::min);
        let mut v = t as f64;
        if runs.is_finite() {
            v = v.max(runs);
        }
        f.since.map_or(v, |s| v.max(s))
    });
    let last_ts = last_t.map(|t| {
        let runs = captures
            .iter()
            .filter_map(|c| c.last_ts)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut v = (t + step) as f64;
        if runs.is_finite() {
            v = v.min(runs);
        }
        f.until.map_or(v, |u| v.min(u))
    });
    let duration_secs = match (first_ts, last_ts) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 0.0,
    };
    let (alerts_by_severity, alerts) = query::alerts(conn, f, n)?;
    Ok(HistoryReport {
        db: args.range.db.display().to_string(),
        host: f.host.clone(),
        since: f.since,
        until: f.until,
        packets,
        bytes,
        first_ts,
        last_ts,
        duration_secs,
        protocols,
        flow_records: query::flow_count(conn, f)?,
        new_flows,
        apps: query::apps(conn, f)?,
        top_talkers,
        top_ports: query::top_ports(conn, f, n)?,
        top_flows: query::top_flows(conn, f, n)?,
        resolution,
        series,
        alerts_by_severity,
        alerts,
        captures,
    })
}

fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

fn service(p: &PortRow) -> Option<&'static str> {
    let l4 = match p.proto.as_str() {
        "tcp" => L4::Tcp,
        "udp" => L4::Udp,
        _ => return None,
    };
    services::name(p.port, l4)
}

/// The report as JSON; keys shared with `--report json` of a capture mean the same.
pub fn to_json(r: &HistoryReport) -> Value {
    let protocols: Map<String, Value> = r
        .protocols
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).into()))
        .collect();
    let ports: Vec<Value> = r
        .top_ports
        .iter()
        .map(|p| {
            json!({"port": p.port, "proto": p.proto, "service": service(p), "flows": p.flows,
                   "packets": p.packets, "bytes": p.bytes})
        })
        .collect();
    let severity: Map<String, Value> = r
        .alerts_by_severity
        .iter()
        .map(|(k, v)| (k.clone(), (*v).into()))
        .collect();
    json!({
        "db": r.db,
        "host": r.host,
        "since": r.since,
        "until": r.until,
        "since_time": r.since.map(rfc3339),
        "until_time": r.until.map(rfc3339),
        "packets": r.packets,
        "bytes": r.bytes,
        "first_ts": r.first_ts,
        "last_ts": r.last_ts,
        "first_time": r.first_ts.map(rfc3339),
        "last_time": r.last_ts.map(rfc3339),
        "duration_secs": r.duration_secs,
        "avg_pps": rate(r.packets, r.duration_secs),
        "avg_bps": rate(r.bytes.saturating_mul(8), r.duration_secs),
        "protocols": protocols,
        "flows": {"records": r.flow_records, "new": r.new_flows},
        "apps": r.apps,
        "top_talkers": r.top_talkers,
        "top_ports": ports,
        "top_flows": r.top_flows,
        "series": {"resolution": r.resolution, "points": r.series},
        "sparkline": sparkline(&r.series, r.resolution.step(), SPARK_WIDTH),
        "alerts": {"total": r.alerts_by_severity.iter().map(|(_, n)| n).sum::<u64>(),
                   "by_severity": severity, "recent": r.alerts},
        "captures": r.captures,
    })
}

/// Bytes over time in at most `width` columns of block characters (▁ to █; a space for no
/// traffic), each column summing the intervals it covers.
pub fn sparkline(points: &[Point], step: i64, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return String::new();
    };
    let step = step.max(1);
    let steps = ((last.t - first.t) / step + 1).max(1) as usize;
    let cols = steps.min(width.max(1));
    let mut sums = vec![0u64; cols];
    for p in points {
        let i = ((p.t - first.t) / step).max(0) as usize * cols / steps;
        if let Some(s) = sums.get_mut(i.min(cols - 1)) {
            *s = s.saturating_add(p.bytes);
        }
    }
    let max = sums.iter().copied().max().unwrap_or(0).max(1);
    sums.iter()
        .map(|&v| {
            if v == 0 {
                ' '
            } else {
                let level = ((v as f64 / max as f64) * BARS.len() as f64).ceil() as usize;
                BARS.get(level.clamp(1, BARS.len()) - 1)
                    .copied()
                    .unwrap_or('█')
            }
        })
        .collect()
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The report as text.
pub fn text(r: &HistoryReport, p: &Palette) -> String {
    let mut s = String::new();
    let head = |s: &mut String, title: &str| {
        let _ = writeln!(s, "\n{}", Painted(p.heading, &title));
    };
    let _ = writeln!(s, "{}", Painted(p.heading, &"netlens history report"));
    let _ = writeln!(s, "  database    {}", r.db);
    let range = match (r.since, r.until) {
        (None, None) => "everything stored".to_string(),
        (a, b) => format!(
            "{} → {}",
            a.map_or("start".into(), rfc3339),
            b.map_or("end".into(), rfc3339)
        ),
    };
    let _ = writeln!(s, "  range       {range}");
    if let Some(h) = &r.host {
        let _ = writeln!(s, "  host        {h}");
    }
    if let (Some(a), Some(b)) = (r.first_ts, r.last_ts) {
        let _ = writeln!(s, "  time        {} → {}", rfc3339(a), rfc3339(b));
    }
    let d = r.duration_secs;
    let _ = writeln!(s, "  duration    {d:.3} s");
    let _ = writeln!(
        s,
        "  packets     {}  ({})",
        r.packets,
        human_rate(rate(r.packets, d), "pkt/s")
    );
    let _ = writeln!(
        s,
        "  bytes       {}  ({})",
        human_bytes(r.bytes),
        human_rate(rate(r.bytes.saturating_mul(8), d), "bit/s")
    );
    let _ = writeln!(s, "  flows       {} records", r.flow_records);

    head(&mut s, "Protocols");
    if r.packets == 0 {
        let _ = writeln!(s, "  no traffic in this range");
    }
    for (name, n) in r.protocols.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(s, "  {name:<9} {n:>10} pkts {:>6.2}%", pct(*n, r.packets));
    }
    if !r.apps.is_empty() {
        head(&mut s, "Applications (by flow)");
        for a in &r.apps {
            let _ = writeln!(
                s,
                "  {:<14} {:>8} flows {:>10} pkts {:>12}",
                Untrusted(&a.app).to_string(),
                a.flows,
                a.packets,
                human_bytes(a.bytes)
            );
        }
    }
    if !r.top_talkers.is_empty() {
        head(
            &mut s,
            if r.host.is_some() {
                "Peers"
            } else {
                "Top talkers"
            },
        );
        let _ = writeln!(
            s,
            "  {:<39} {:>10} {:>12} {:>12} {:>12}  name",
            "address", "packets", "bytes", "bytes out", "bytes in"
        );
        for t in &r.top_talkers {
            let mut label = String::new();
            if t.local {
                label.push_str("(local)");
            }
            if let Some(n) = t.names.as_deref().and_then(|n| n.split(',').next()) {
                if !label.is_empty() {
                    label.push(' ');
                }
                label.push_str(&Untrusted(n).to_string());
            }
            let _ = writeln!(
                s,
                "  {:<39} {:>10} {:>12} {:>12} {:>12}  {label}",
                Untrusted(&t.ip).to_string(),
                t.packets,
                human_bytes(t.bytes),
                human_bytes(t.bytes_out),
                human_bytes(t.bytes_in)
            );
        }
    }
    if !r.top_ports.is_empty() {
        head(&mut s, "Top ports");
        for port in &r.top_ports {
            let _ = writeln!(
                s,
                "  {:>5}/{:<3} {:<14} {:>8} flows {:>10} pkts {:>12}",
                port.port,
                port.proto,
                service(port).unwrap_or("-"),
                port.flows,
                port.packets,
                human_bytes(port.bytes)
            );
        }
    }
    if !r.top_flows.is_empty() {
        head(&mut s, "Top flows");
        for fl in &r.top_flows {
            let ep = |a: &str, port: u16| {
                if a.contains(':') {
                    format!("[{a}]:{port}")
                } else {
                    format!("{a}:{port}")
                }
            };
            let _ = writeln!(
                s,
                "  {:<5} {} → {} {:>10} pkts {:>12}  {}{}",
                fl.protocol,
                Untrusted(&ep(&fl.client, fl.client_port)),
                Untrusted(&ep(&fl.server, fl.server_port)),
                fl.packets,
                human_bytes(fl.bytes),
                Untrusted(&fl.app),
                fl.name
                    .as_deref()
                    .map(|n| format!(" {}", Untrusted(n)))
                    .unwrap_or_default()
            );
        }
    }
    if !r.series.is_empty() {
        let per = match r.resolution {
            Resolution::Second => "per second",
            Resolution::Minute => "per minute",
        };
        head(&mut s, &format!("Traffic over time (bytes, {per})"));
        let step = r.resolution.step();
        let _ = writeln!(s, "  {}", sparkline(&r.series, step, SPARK_WIDTH));
        if let (Some(a), Some(b)) = (r.series.first(), r.series.last()) {
            let _ = writeln!(
                s,
                "  {} → {}",
                rfc3339(a.t as f64),
                rfc3339((b.t + step) as f64)
            );
        }
        if let Some(peak) = r
            .series
            .iter()
            .max_by_key(|p| (p.bytes, std::cmp::Reverse(p.t)))
        {
            let _ = writeln!(
                s,
                "  peak {} at {}",
                human_rate(peak.bytes as f64 * 8.0 / step as f64, "bit/s"),
                rfc3339(peak.t as f64)
            );
        }
    }
    head(&mut s, "Alerts");
    if r.alerts_by_severity.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let counts: Vec<String> = r
            .alerts_by_severity
            .iter()
            .map(|(k, v)| format!("{v} {}", Untrusted(k)))
            .collect();
        let _ = writeln!(s, "  {}", counts.join(", "));
        for a in &r.alerts {
            let _ = writeln!(
                s,
                "  {} {:<8} {:<16} {}{}",
                rfc3339(a.ts),
                Untrusted(&a.severity).to_string(),
                Untrusted(&a.detector).to_string(),
                Untrusted(&a.summary),
                if a.count > 1 {
                    format!(" (×{})", a.count)
                } else {
                    String::new()
                }
            );
        }
    }
    if !r.captures.is_empty() {
        head(&mut s, "Captures");
        for c in &r.captures {
            let when = match (c.first_ts, c.last_ts) {
                (Some(a), Some(b)) => format!("{} → {}", rfc3339(a), rfc3339(b)),
                _ => format!("started {}", rfc3339(c.started_at)),
            };
            let status = if c.ended_at.is_none() {
                " (running, or did not finish)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  #{:<4} {}  {} packets  {} dropped{status}",
                c.id,
                Untrusted(&c.source),
                c.packets.map_or("?".into(), |n| n.to_string()),
                c.drops + c.store_dropped.unwrap_or(0)
            );
            let _ = writeln!(s, "        {when}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: i64, bytes: u64) -> Point {
        Point {
            t,
            bytes,
            ..Point::default()
        }
    }

    #[test]
    fn sparkline_scales_and_shows_gaps() {
        let s = sparkline(&[pt(10, 100), pt(11, 800), pt(13, 400)], 1, 64);
        assert_eq!(s, "▁█ ▄");
        // Many points fold into the width.
        let pts: Vec<Point> = (0..1000).map(|t| pt(t, 5)).collect();
        assert_eq!(sparkline(&pts, 1, 50).chars().count(), 50);
        assert_eq!(sparkline(&[], 1, 50), "");
    }
}
