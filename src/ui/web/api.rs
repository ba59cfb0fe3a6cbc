//! The read-only JSON API behind the page (listed in the README). Every handler reads the
//! latest published snapshot; `/api/history` reads the history database on a blocking thread.
//!
//! List endpoints take `q` (a case-insensitive text filter over the row's addresses, names and
//! labels) and `limit`; `/api/hosts` also takes `sort`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::engine::snapshot::{FlowRow, HostRow, Named, PacketLine, RunState, Snapshot};
use crate::ui::console::report::Drops;

/// `?q=&limit=&sort=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub sort: Option<String>,
}

impl ListQuery {
    fn keep<T>(&self, rows: impl Iterator<Item = T>, text: impl Fn(&T) -> String) -> Vec<T> {
        let needle = self.q.as_deref().unwrap_or("").trim().to_lowercase();
        rows.filter(|r| needle.is_empty() || text(r).to_lowercase().contains(&needle))
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }
}

fn latest(state: &AppState) -> Arc<Snapshot> {
    state.snapshot.load_full()
}

/// Everything of the snapshot but the big tables: KPIs, protocol and application mix, top
/// sources and destinations.
#[derive(Serialize)]
pub struct Summary<'a> {
    pub seq: u64,
    pub source: &'a str,
    pub state: RunState,
    pub partial: bool,
    pub history: bool,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub duration_secs: f64,
    pub pps: f64,
    pub bps: f64,
    pub active_flows: Option<u64>,
    pub hosts: Option<u64>,
    pub drops: Drops,
    pub protocols: &'a [Named],
    pub apps: &'a [Named],
    pub top_sources: &'a [HostRow],
    pub top_destinations: &'a [HostRow],
    pub alerts: usize,
}

pub fn summary_of<'a>(s: &'a Snapshot, state: &AppState) -> Summary<'a> {
    Summary {
        seq: s.seq,
        source: &s.source,
        state: s.state,
        partial: s.partial,
        history: state.db.is_some(),
        packets: s.packets,
        bytes: s.bytes,
        first_ts: s.first_ts,
        last_ts: s.last_ts,
        duration_secs: s.duration_secs,
        pps: s.pps,
        bps: s.bps,
        active_flows: s.active_flows,
        hosts: s.hosts,
        drops: s.drops,
        protocols: &s.protocols,
        apps: &s.apps,
        top_sources: &s.top_sources,
        top_destinations: &s.top_destinations,
        alerts: s.alerts.len(),
    }
}

pub async fn summary(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    Json(summary_of(&s, &state)).into_response()
}

/// The whole snapshot, as the event stream sends it (plus `history`).
#[derive(Serialize)]
pub struct Full<'a> {
    pub history: bool,
    #[serde(flatten)]
    pub snapshot: &'a Snapshot,
}

pub async fn snapshot(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    Json(Full {
        history: state.db.is_some(),
        snapshot: &s,
    })
    .into_response()
}

pub async fn hosts(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let s = latest(&state);
    let mut rows: Vec<&HostRow> = s.host_table.iter().collect();
    // The snapshot is sorted by total bytes; other orders are stable re-sorts of it.
    match q.sort.as_deref().unwrap_or("bytes") {
        "bytes" => {}
        "bytes_in" => rows.sort_by_key(|h| std::cmp::Reverse(h.bytes_in)),
        "bytes_out" => rows.sort_by_key(|h| std::cmp::Reverse(h.bytes_out)),
        "packets" => rows.sort_by_key(|h| std::cmp::Reverse(h.packets_in + h.packets_out)),
        "ip" => rows.sort_by_key(|h| h.ip),
        other => {
            return bad_request(&format!(
                "sort={other}: use bytes, bytes_in, bytes_out, packets or ip"
            ))
        }
    }
    let rows = q.keep(rows.into_iter(), |h| {
        format!("{} {}", h.ip, h.names.join(" "))
    });
    Json(json!({"seq": s.seq, "total": s.hosts, "hosts": rows})).into_response()
}

fn flow_text(f: &&FlowRow) -> String {
    format!(
        "{} {}:{} {}:{} {:?} {} {}",
        f.protocol,
        f.client,
        f.client_port,
        f.server,
        f.server_port,
        f.state,
        f.app,
        f.name.as_deref().unwrap_or("")
    )
}

pub async fn flows(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let s = latest(&state);
    let rows = q.keep(s.flows.iter(), flow_text);
    Json(json!({"seq": s.seq, "active": s.active_flows, "flows": rows})).into_response()
}

pub async fn packets(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let s = latest(&state);
    let rows: Vec<&PacketLine> = q.keep(s.recent_packets.iter().rev(), |p| {
        format!("{} {}", p.proto, p.summary)
    });
    Json(json!({"seq": s.seq, "packets": rows})).into_response()
}

pub async fn series(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    Json(json!({"seq": s.seq, "resolution": "second", "points": s.series})).into_response()
}

pub async fn map(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    Json(json!({"seq": s.seq, "edges": s.edges})).into_response()
}

pub async fn alerts(State(state): State<AppState>) -> Response {
    let s = latest(&state);
    Json(json!({"seq": s.seq, "alerts": s.alerts})).into_response()
}

/// `?since=&until=` in the forms of the history commands: a span back from the newest data
/// (`30m`, `1h`) or an RFC 3339 time or date; also seconds since the epoch.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    pub since: Option<String>,
    pub until: Option<String>,
}

pub async fn history(State(state): State<AppState>, Query(q): Query<RangeQuery>) -> Response {
    let Some(db) = state.db.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no history database: run with --db FILE, or netlens serve --db FILE"})),
        )
            .into_response();
    };
    let parse = |v: &Option<String>| -> Result<Option<crate::history::When>, String> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => match s.parse::<f64>() {
                Ok(t) if t.is_finite() => Ok(Some(crate::history::When::At(t))),
                _ => crate::history::parse_when(s).map(Some),
            },
        }
    };
    let (since, until) = match (parse(&q.since), parse(&q.until)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return bad_request(&format!("since: {e}")),
        (_, Err(e)) => return bad_request(&format!("until: {e}")),
    };
    let answer = tokio::task::spawn_blocking(move || history_report(&db, since, until)).await;
    match answer {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(crate::history::Failure::Usage(m))) => bad_request(&m),
        Ok(Err(crate::history::Failure::Runtime(m))) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": m}))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

/// The history report (as `netlens report --format json`) over the range.
fn history_report(
    db: &std::path::Path,
    since: Option<crate::history::When>,
    until: Option<crate::history::When>,
) -> Result<serde_json::Value, crate::history::Failure> {
    use crate::history::report::{self, ReportArgs, ReportFormat};
    let args = ReportArgs {
        range: crate::history::RangeArgs {
            db: db.to_path_buf(),
            since,
            until,
            host: None,
        },
        format: ReportFormat::Json,
        top: 10,
        color: crate::ui::console::style::ColorChoice::Never,
    };
    let (conn, filter) = crate::history::open(&args.range)?;
    let r = report::gather(&conn, &filter, &args).map_err(crate::history::db_error(db))?;
    Ok(report::to_json(&r))
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}
