//! `/api/stream`: server-sent events, one `snapshot` event per new publication.
//!
//! The stream never queues: each time the client is ready for the next event it gets the
//! latest snapshot, so a slow client skips publications (drops frames) instead of building a
//! backlog, and nothing it does reaches the capture thread. Each publication is serialized once,
//! whatever the number of clients.

use std::convert::Infallible;
use std::sync::Arc;
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
            let seq = state.snapshot.load().seq;
            if last != Some(seq) {
                let (seq, json) = event_json(&state);
                let event = Event::default()
                    .event("snapshot")
                    .id(seq.to_string())
                    .data(&*json);
                return Some((Ok(event), (state, Some(seq), tick)));
            }
            tick.tick().await;
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The latest snapshot as JSON, serialized once per publication however many clients listen.
fn event_json(state: &AppState) -> (u64, Arc<str>) {
    let snap = state.snapshot.load_full();
    let mut cache = match state.event_json.lock() {
        Ok(guard) => guard,
        // A panic while holding the lock left at worst a stale entry, which the seq check skips.
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some((seq, json)) = cache.as_ref() {
        if *seq == snap.seq {
            return (*seq, Arc::clone(json));
        }
    }
    let full = Full {
        history: state.db.is_some(),
        snapshot: &snap,
    };
    // Serializing plain data cannot fail; an error would send an empty object, not stop.
    let json: Arc<str> = serde_json::to_string(&full)
        .unwrap_or_else(|_| "{}".to_string())
        .into();
    *cache = Some((snap.seq, Arc::clone(&json)));
    (snap.seq, json)
}
