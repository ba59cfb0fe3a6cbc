//! The questions the history commands ask, as SQL over the schema in [`super::schema`].
//!
//! A [`Filter`] is a half-open time range `[since, until)` in seconds, and optionally one host.
//! Interval rows (`traffic`, `hosts`) count when the interval overlaps the range; flow records
//! count in the range their record ended in (when they were emitted); packets and alerts by
//! their own time. Every query goes through an index on its time column (or the primary key
//! that starts with it), so a short range of a large database stays fast. Rows from all runs
//! are summed: two captures of the same minute add up.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::writer::Resolution;
use crate::engine::series::Point;

/// Far outside any packet time; stands in for an open end so every query has two bounds.
const OPEN: f64 = 1e15;

/// What to read: a time range and optionally one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub since: Option<f64>,
    pub until: Option<f64>,
    /// An address as stored (text, e.g. `10.0.0.1` or `2001:db8::1`).
    pub host: Option<String>,
}

impl Filter {
    pub fn lo(&self) -> f64 {
        self.since.unwrap_or(-OPEN)
    }
    pub fn hi(&self) -> f64 {
        self.until.unwrap_or(OPEN)
    }
}

/// Packets, bytes and the transport mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub new_flows: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub other: u64,
    /// First and last second with traffic.
    pub first_t: Option<i64>,
    pub last_t: Option<i64>,
}

/// One host's traffic in the range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Talker {
    pub ip: String,
    pub packets: u64,
    pub bytes: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub names: Option<String>,
    pub local: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortRow {
    pub port: u16,
    pub proto: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppRow {
    pub app: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowRow {
    pub start: f64,
    pub end: f64,
    pub protocol: String,
    pub client: String,
    pub client_port: u16,
    pub server: String,
    pub server_port: u16,
    pub packets: u64,
    pub bytes: u64,
    pub app: String,
    pub name: Option<String>,
    pub tcp_state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertInfo {
    pub ts: f64,
    pub detector: String,
    pub severity: String,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub summary: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaptureInfo {
    pub id: i64,
    pub source: String,
    pub filter: Option<String>,
    pub started_at: f64,
    pub ended_at: Option<f64>,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub packets: Option<u64>,
    pub drops: u64,
    pub store_dropped: Option<u64>,
}

fn u(row: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

/// The newest packet time stored (seconds), or None for an empty database: relative
/// `--since 1h` counts back from here. A finished run knows its last packet exactly; a
/// running one has written flow records, packets and per-second points (whose start is at
/// most a second old).
pub fn newest(conn: &Connection) -> rusqlite::Result<Option<f64>> {
    conn.query_row(
        // The aggregate max() skips NULLs (empty tables); the scalar max(a, b) would not.
        "SELECT max(v) FROM (
            SELECT max(last_ts) AS v FROM captures
            UNION ALL SELECT max(t) FROM traffic WHERE resolution = 'second'
            UNION ALL SELECT max(end_ts) FROM flows
            UNION ALL SELECT max(timestamp) FROM packets
            UNION ALL SELECT max(ts) FROM alerts)",
        [],
        |r| r.get(0),
    )
}

/// Totals over the range from the per-second series (exact to the second).
pub fn totals(conn: &Connection, f: &Filter) -> rusqlite::Result<Totals> {
    conn.query_row(
        "SELECT sum(packets), sum(bytes), sum(new_flows), sum(tcp), sum(udp), sum(icmp),
                sum(other), min(t), max(t)
         FROM traffic WHERE resolution = 'second' AND t > ?1 - 1 AND t < ?2",
        params![f.lo(), f.hi()],
        |r| {
            Ok(Totals {
                packets: u(r, 0)?,
                bytes: u(r, 1)?,
                new_flows: u(r, 2)?,
                tcp: u(r, 3)?,
                udp: u(r, 4)?,
                icmp: u(r, 5)?,
                other: u(r, 6)?,
                first_t: r.get(7)?,
                last_t: r.get(8)?,
            })
        },
    )
}

/// The traffic series at `resolution`, summed over runs, oldest first.
pub fn series(
    conn: &Connection,
    f: &Filter,
    resolution: Resolution,
) -> rusqlite::Result<Vec<Point>> {
    let mut st = conn.prepare_cached(
        "SELECT t, sum(packets), sum(bytes), sum(new_flows), sum(tcp), sum(udp), sum(icmp),
                sum(other)
         FROM traffic WHERE resolution = ?1 AND t > ?2 - ?4 AND t < ?3
         GROUP BY t ORDER BY t",
    )?;
    let rows = st.query_map(
        params![resolution.as_str(), f.lo(), f.hi(), resolution.step()],
        |r| {
            Ok(Point {
                t: r.get(0)?,
                packets: u(r, 1)?,
                bytes: u(r, 2)?,
                new_flows: u(r, 3)?,
                tcp: u(r, 4)?,
                udp: u(r, 5)?,
                icmp: u(r, 6)?,
                other: u(r, 7)?,
            })
        },
    )?;
    rows.collect()
}

/// One host's packets and bytes (in + out) per minute, as series points.
pub fn host_series(conn: &Connection, f: &Filter, ip: &str) -> rusqlite::Result<Vec<Point>> {
    let mut st = conn.prepare_cached(
        "SELECT minute, sum(packets_in + packets_out), sum(bytes_in + bytes_out)
         FROM hosts WHERE ip = ?3 AND minute > ?1 - 60 AND minute < ?2
         GROUP BY minute ORDER BY minute",
    )?;
    let rows = st.query_map(params![f.lo(), f.hi(), ip], |r| {
        Ok(Point {
            t: r.get(0)?,
            packets: u(r, 1)?,
            bytes: u(r, 2)?,
            ..Point::default()
        })
    })?;
    rows.collect()
}

fn talker(r: &Row<'_>) -> rusqlite::Result<Talker> {
    let (pi, bi, po, bo) = (u(r, 1)?, u(r, 2)?, u(r, 3)?, u(r, 4)?);
    Ok(Talker {
        ip: r.get(0)?,
        packets: pi + po,
        bytes: bi.saturating_add(bo),
        packets_in: pi,
        bytes_in: bi,
        packets_out: po,
        bytes_out: bo,
        names: r.get(5)?,
        local: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
    })
}

/// The hosts with the most bytes (in + out) in the range.
pub fn top_talkers(conn: &Connection, f: &Filter, n: usize) -> rusqlite::Result<Vec<Talker>> {
    let mut st = conn.prepare_cached(
        "SELECT ip, sum(packets_in), sum(bytes_in), sum(packets_out), sum(bytes_out),
                max(names), max(local)
         FROM hosts WHERE minute > ?1 - 60 AND minute < ?2
         GROUP BY ip ORDER BY sum(bytes_in + bytes_out) DESC, sum(packets_in + packets_out) DESC, ip
         LIMIT ?3",
    )?;
    let rows = st.query_map(params![f.lo(), f.hi(), n as i64], talker)?;
    rows.collect()
}

/// One host's totals in the range (`--host`).
pub fn host_totals(conn: &Connection, f: &Filter, ip: &str) -> rusqlite::Result<Option<Talker>> {
    conn.query_row(
        "SELECT ip, sum(packets_in), sum(bytes_in), sum(packets_out), sum(bytes_out),
                max(names), max(local)
         FROM hosts WHERE ip = ?3 AND minute > ?1 - 60 AND minute < ?2 GROUP BY ip",
        params![f.lo(), f.hi(), ip],
        talker,
    )
    .optional()
}

/// The peers of one host by bytes exchanged, from its flows: "in" and "out" are seen from the
/// host (what it received from / sent to that peer).
pub fn peers(conn: &Connection, f: &Filter, ip: &str, n: usize) -> rusqlite::Result<Vec<Talker>> {
    let mut st = conn.prepare_cached(
        "SELECT peer, sum(pin), sum(bin), sum(pout), sum(bout), NULL, NULL FROM (
            SELECT server_ip AS peer, server_packets AS pin, server_bytes AS bin,
                   client_packets AS pout, client_bytes AS bout
            FROM flows WHERE client_ip = ?3 AND end_ts >= ?1 AND end_ts < ?2
            UNION ALL
            SELECT client_ip, client_packets, client_bytes, server_packets, server_bytes
            FROM flows WHERE server_ip = ?3 AND end_ts >= ?1 AND end_ts < ?2)
         GROUP BY peer ORDER BY sum(bin + bout) DESC, peer LIMIT ?4",
    )?;
    let rows = st.query_map(params![f.lo(), f.hi(), ip, n as i64], talker)?;
    rows.collect()
}

/// The flows of the filter as a SQL condition on `flows` (?1 since, ?2 until, ?3 host). Two
/// texts rather than `?3 IS NULL OR ...`, so that with a host SQLite can answer from the
/// (client_ip, end_ts) and (server_ip, end_ts) indexes, and without one from (end_ts).
fn flows_where(f: &Filter) -> &'static str {
    if f.host.is_some() {
        "(client_ip = ?3 OR server_ip = ?3) AND end_ts >= ?1 AND end_ts < ?2"
    } else {
        "end_ts >= ?1 AND end_ts < ?2 AND ?3 IS NULL"
    }
}

/// Service ports (TCP and UDP) by packets, from the flow records.
pub fn top_ports(conn: &Connection, f: &Filter, n: usize) -> rusqlite::Result<Vec<PortRow>> {
    let w = flows_where(f);
    let sql = format!(
        "SELECT service_port, lower(protocol), count(*), sum(packets), sum(bytes) FROM flows
         WHERE {w} AND service_port IS NOT NULL
         GROUP BY ip_proto, service_port ORDER BY sum(packets) DESC, sum(bytes) DESC,
         service_port LIMIT ?4"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![f.lo(), f.hi(), f.host, n as i64], |r| {
        Ok(PortRow {
            port: r.get(0)?,
            proto: r.get(1)?,
            flows: u(r, 2)?,
            packets: u(r, 3)?,
            bytes: u(r, 4)?,
        })
    })?;
    rows.collect()
}

/// Flows, packets and bytes by application label.
pub fn apps(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<AppRow>> {
    flows_grouped_by(conn, f, "app", "sum(bytes) DESC, app")
}

/// Packets and bytes by flow protocol (TCP, UDP, ICMP, ...): the protocol mix of one host.
pub fn flow_protocols(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<AppRow>> {
    flows_grouped_by(conn, f, "protocol", "sum(packets) DESC, protocol")
}

/// Flows, packets and bytes of the range grouped by one text column of `flows`. `column` and
/// `order` are fixed strings from the callers above, never user input.
fn flows_grouped_by(
    conn: &Connection,
    f: &Filter,
    column: &str,
    order: &str,
) -> rusqlite::Result<Vec<AppRow>> {
    let w = flows_where(f);
    let sql = format!(
        "SELECT {column}, count(*), sum(packets), sum(bytes) FROM flows WHERE {w}
         GROUP BY {column} ORDER BY {order}"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![f.lo(), f.hi(), f.host], |r| {
        Ok(AppRow {
            app: r.get(0)?,
            flows: u(r, 1)?,
            packets: u(r, 2)?,
            bytes: u(r, 3)?,
        })
    })?;
    rows.collect()
}

/// Flow records in the range.
pub fn flow_count(conn: &Connection, f: &Filter) -> rusqlite::Result<u64> {
    let w = flows_where(f);
    let sql = format!("SELECT count(*) FROM flows WHERE {w}");
    conn.query_row(&sql, params![f.lo(), f.hi(), f.host], |r| u(r, 0))
}

/// The largest flow records.
pub fn top_flows(conn: &Connection, f: &Filter, n: usize) -> rusqlite::Result<Vec<FlowRow>> {
    let w = flows_where(f);
    let sql = format!(
        "SELECT start_ts, end_ts, protocol, client_ip, client_port, server_ip, server_port,
                packets, bytes, app, name, tcp_state
         FROM flows WHERE {w} ORDER BY bytes DESC, start_ts LIMIT ?4"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(params![f.lo(), f.hi(), f.host, n as i64], |r| {
        Ok(FlowRow {
            start: r.get(0)?,
            end: r.get(1)?,
            protocol: r.get(2)?,
            client: r.get(3)?,
            client_port: r.get(4)?,
            server: r.get(5)?,
            server_port: r.get(6)?,
            packets: u(r, 7)?,
            bytes: u(r, 8)?,
            app: r.get(9)?,
            name: r.get(10)?,
            tcp_state: r.get(11)?,
        })
    })?;
    rows.collect()
}

const ALERTS_WHERE: &str = "ts >= ?1 AND ts < ?2 AND (?3 IS NULL OR src = ?3 OR dst = ?3)";

/// Alerts by severity (count), and the newest ones.
pub type Alerts = (Vec<(String, u64)>, Vec<AlertInfo>);

/// Alerts in the range: the count by severity, and the newest `n`.
pub fn alerts(conn: &Connection, f: &Filter, n: usize) -> rusqlite::Result<Alerts> {
    let sql = format!(
        "SELECT severity, count(*) FROM alerts WHERE {ALERTS_WHERE}
         GROUP BY severity ORDER BY count(*) DESC, severity"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let by_severity = st
        .query_map(params![f.lo(), f.hi(), f.host], |r| {
            Ok((r.get(0)?, u(r, 1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sql = format!(
        "SELECT ts, detector, severity, src, dst, summary, count FROM alerts
         WHERE {ALERTS_WHERE} ORDER BY ts DESC LIMIT ?4"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let recent = st
        .query_map(params![f.lo(), f.hi(), f.host, n as i64], |r| {
            Ok(AlertInfo {
                ts: r.get(0)?,
                detector: r.get(1)?,
                severity: r.get(2)?,
                src: r.get(3)?,
                dst: r.get(4)?,
                summary: r.get(5)?,
                count: u(r, 6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((by_severity, recent))
}

/// The runs whose packets overlap the range (runs that saw no packet are listed by start).
pub fn captures(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<CaptureInfo>> {
    let mut st = conn.prepare_cached(
        "SELECT id, source, filter, started_at, ended_at, first_ts, last_ts, packets,
                coalesce(drops_kernel, 0) + coalesce(drops_interface, 0)
                    + coalesce(drops_internal, 0),
                store_dropped
         FROM captures
         WHERE coalesce(last_ts, started_at) >= ?1 AND coalesce(first_ts, started_at) < ?2
         ORDER BY id",
    )?;
    let rows = st.query_map(params![f.lo(), f.hi()], |r| {
        Ok(CaptureInfo {
            id: r.get(0)?,
            source: r.get(1)?,
            filter: r.get(2)?,
            started_at: r.get(3)?,
            ended_at: r.get(4)?,
            first_ts: r.get(5)?,
            last_ts: r.get(6)?,
            packets: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
            drops: u(r, 8)?,
            store_dropped: r.get::<_, Option<i64>>(9)?.map(|v| v.max(0) as u64),
        })
    })?;
    rows.collect()
}

/// Tables `export` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Flows,
    Packets,
    Hosts,
    Alerts,
    Traffic,
    Captures,
}

/// The export query of `table` (?1 since, ?2 until, ?3 host): the default field set, oldest
/// first. Each row starts with its time as RFC 3339 (`time`), then the stored columns that
/// matter to a reader, without internal row ids.
pub fn export_sql(table: Table) -> &'static str {
    match table {
        Table::Flows => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', start_ts, 'unixepoch') AS time,
                start_ts, end_ts, protocol, client_ip, client_port, server_ip, server_port,
                app, name, client_packets, client_bytes, server_packets, server_bytes,
                packets, bytes, tcp_state, client_flags, server_flags, retransmissions,
                end_reason, vlan, iface, capture_id
             FROM flows WHERE end_ts >= ?1 AND end_ts < ?2
                AND (?3 IS NULL OR client_ip = ?3 OR server_ip = ?3)
             ORDER BY end_ts, id"
        }
        Table::Packets => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', timestamp, 'unixepoch') AS time,
                timestamp, src_ip, dst_ip, protocol, src_port, dst_port, length, flags, app,
                capture_id
             FROM packets WHERE timestamp >= ?1 AND timestamp < ?2
                AND (?3 IS NULL OR src_ip = ?3 OR dst_ip = ?3)
             ORDER BY timestamp, id"
        }
        Table::Hosts => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', minute, 'unixepoch') AS time,
                minute, ip, packets_in, bytes_in, packets_out, bytes_out, names, local,
                capture_id
             FROM hosts WHERE minute > ?1 - 60 AND minute < ?2 AND (?3 IS NULL OR ip = ?3)
             ORDER BY minute, ip, capture_id"
        }
        Table::Alerts => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ts, 'unixepoch') AS time,
                ts, detector, severity, src, dst, summary, count, evidence, capture_id
             FROM alerts WHERE ts >= ?1 AND ts < ?2 AND (?3 IS NULL OR src = ?3 OR dst = ?3)
             ORDER BY ts, id"
        }
        Table::Traffic => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', t, 'unixepoch') AS time,
                resolution, t, packets, bytes, new_flows, tcp, udp, icmp, other, capture_id
             FROM traffic WHERE t > ?1 - CASE resolution WHEN 'minute' THEN 60 ELSE 1 END
                AND t < ?2 AND ?3 IS NULL
             ORDER BY resolution DESC, t, capture_id"
        }
        Table::Captures => {
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', started_at, 'unixepoch') AS time,
                id, source, filter, interfaces, started_at, ended_at, first_ts, last_ts,
                packets, bytes, drops_kernel, drops_interface, drops_internal, store_dropped,
                netlens_version
             FROM captures
             WHERE coalesce(last_ts, started_at) >= ?1 AND coalesce(first_ts, started_at) < ?2
                AND ?3 IS NULL
             ORDER BY id"
        }
    }
}
