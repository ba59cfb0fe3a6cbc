//! `/api/stream`: server-sent events, one `snapshot` event per new publication.
//!
//! The stream never queues: each time the client is ready for the next event it gets the
//! latest snapshot, so a slow client skips publications (drops frames) instead of building a
//! backlog, and nothing it does reaches the capture thread.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::time::{interval, MissedTickBehavior};

use super::api::Full;
use super::AppState;

/// How often the stream looks for a new publication (publications come once a second).
const POLL: Duration = Duration::from_millis(200);

pub async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut tick = interval(POLL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let events = stream::unfold((state, None, tick), |(state, last, mut tick)| async move {
        loop {
            let snap = state.snapshot.load_full();
            if last != Some(snap.seq) {
                let full = Full {
                    history: state.db.is_some(),
                    snapshot: &snap,
                };
                let event = Event::default()
                    .event("snapshot")
                    .id(snap.seq.to_string())
                    .json_data(&full)
                    .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                return Some((Ok(event), (state, Some(snap.seq), tick)));
            }
            tick.tick().await;
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
