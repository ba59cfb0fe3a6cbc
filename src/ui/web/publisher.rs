//! The capture side of the dashboard: keeps the recent-packets ring and publishes a fresh
//! [`Snapshot`] about once a second of wall-clock time.
//!
//! Runs on the capture thread, so it never waits for a reader: publishing is one `ArcSwap`
//! store. Readers keep the old snapshot alive as long as they hold it.

use crate::store::query::AlertInfo;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::recent::RecentPackets;
use crate::capture::Frame;
use crate::engine::snapshot::{Context, Part, RunState, Snapshot};
use crate::engine::stats::Counter;
use crate::engine::Engine;
use crate::time::Timestamp;
use crate::ui::console::report::Drops;

fn wall_clock() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

/// Wall-clock time between publications: the page updates once a second.
pub const INTERVAL: Duration = Duration::from_secs(1);

pub struct Publisher {
    shared: Arc<ArcSwap<Snapshot>>,
    recent: RecentPackets,
    source: String,
    drops: Drops,
    seq: u64,
    next: Instant,
    /// Live capture: packet time is the wall clock.
    live: bool,
    alerts: Vec<AlertInfo>,
}

impl Publisher {
    pub fn new(shared: Arc<ArcSwap<Snapshot>>, source: String, live: bool) -> Self {
        let seq = shared.load().seq;
        Publisher {
            shared,
            recent: RecentPackets::default(),
            source,
            drops: Drops::default(),
            seq,
            // The first publication comes at once, so the page shows the run has started.
            next: Instant::now(),
            live,
            alerts: Vec::new(),
        }
    }

    pub fn record(&mut self, frame: &Frame<'_>) {
        self.recent.push(frame);
    }

    /// The capture's drop counters, for the next publication.
    pub fn set_drops(&mut self, drops: Drops) {
        self.drops = drops;
    }

    /// The alerts so far, for the next publication (newest last, as raised).
    pub fn set_alerts(&mut self, alerts: &[crate::alerts::Alert]) {
        self.alerts = alerts.iter().map(alert_info).collect();
        // Newest first, as the panel lists them.
        self.alerts
            .sort_by(|a, b| b.ts.partial_cmp(&a.ts).unwrap_or(std::cmp::Ordering::Equal));
    }

    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn context(&mut self, state: RunState) -> Context {
        self.seq += 1;
        self.next = Instant::now() + INTERVAL;
        Context {
            seq: self.seq,
            source: self.source.clone(),
            state,
            drops: self.drops,
            packets: self.recent.lines(),
            now: self.live.then(wall_clock),
            alerts: self.alerts.clone(),
        }
    }

    pub fn publish_engine(&mut self, engine: &Engine, state: RunState) {
        let ctx = self.context(state);
        self.shared
            .store(Arc::new(Snapshot::from_engine(engine, ctx)));
    }

    /// Publishes the shards' parts merged, and returns that snapshot.
    pub fn publish_parts(&mut self, parts: Vec<Part>, state: RunState) -> Arc<Snapshot> {
        let ctx = self.context(state);
        let snapshot = Arc::new(Snapshot::from_parts(parts, ctx));
        self.shared.store(Arc::clone(&snapshot));
        snapshot
    }

    pub fn publish_totals(&mut self, total: Counter, l4: &[u64; 5], state: RunState) {
        let ctx = self.context(state);
        self.shared
            .store(Arc::new(Snapshot::from_totals(total, l4, ctx)));
    }
}

/// An alert as the dashboard and the history show it.
pub fn alert_info(a: &crate::alerts::Alert) -> AlertInfo {
    AlertInfo {
        ts: a.last_ts.as_secs_f64(),
        detector: a.detector.to_string(),
        severity: a.severity.as_str().to_string(),
        src: a.src.clone(),
        dst: a.dst.clone(),
        summary: a.summary.clone(),
        count: a.count,
    }
}
