//! The web dashboard: an HTTP server on its own thread that shows the published snapshots
//! (see [`crate::engine::snapshot`]) and the history database, with a read-only JSON API.
//!
//! Capture stays synchronous: the server runs a small tokio runtime (one worker thread) on a
//! thread of its own and reads only immutable snapshots, so a slow or busy browser can never
//! slow the capture thread. The listening socket is bound before capture starts, so a port in
//! use is one error line and exit 1 before anything else happens.
//!
//! Security: loopback by default; any other address needs a token (`--web-token`, or one is
//! generated and printed once), which the page and API then require. No CORS headers are sent,
//! so other origins cannot read the API; the page's Content-Security-Policy allows only its own
//! scripts, and the page renders packet-derived text with `textContent`, never as HTML.

pub mod api;
pub mod assets;
pub mod auth;
pub mod publisher;
pub mod recent;
pub mod serve;
pub mod stream;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::routing::get;
use axum::Router;

use self::publisher::Publisher;
use crate::engine::snapshot::{Context, RunState, Snapshot};
use crate::engine::Engine;
use crate::ui::console::report::Drops;

/// Where `--web` listens when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8787";

/// What `--web` and `netlens serve` ask for.
#[derive(Debug, Clone)]
pub struct WebOptions {
    pub addr: SocketAddr,
    pub token: Option<String>,
    /// The history database behind `/api/history`, if any.
    pub db: Option<PathBuf>,
}

/// What every request handler sees.
#[derive(Clone)]
pub struct AppState {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub token: Option<Arc<str>>,
    pub db: Option<Arc<PathBuf>>,
    /// The latest snapshot as an event's JSON, made once per publication for every client.
    pub event_json: Arc<std::sync::Mutex<Option<EventJson>>>,
}

/// A publication's number and its JSON.
pub type EventJson = (u64, Arc<str>);

/// A running dashboard server.
pub struct Web {
    shared: Arc<ArcSwap<Snapshot>>,
    /// The address to open, with the token when one is needed (print it once).
    pub url: String,
    /// The address without the token.
    pub address: String,
}

impl Web {
    /// The capture side's publisher for this server.
    /// `live`: packet time is the wall clock (see [`crate::engine::snapshot::Context::now`]).
    pub fn publisher(&self, source: String, live: bool) -> Publisher {
        Publisher::new(Arc::clone(&self.shared), source, live)
    }

    /// Publishes the final numbers (the finished or merged engine), keeping the packet lines
    /// of the last publication.
    pub fn publish_final(&self, engine: &Engine, drops: Drops, alerts: &[crate::alerts::Alert]) {
        let last = self.shared.load_full();
        let ctx = Context {
            seq: last.seq + 1,
            source: last.source.clone(),
            state: RunState::Finished,
            drops,
            packets: last.recent_packets.clone(),
            now: None,
            alerts: alerts.iter().map(publisher::alert_info).collect(),
        };
        let mut snapshot = Snapshot::from_engine(engine, ctx);
        // Ending the run turned every open flow into a record, so the finished engine has none
        // active: keep showing the connections that were open when the input ended, as the
        // last publication (made just before) saw them.
        if snapshot.flows.is_empty() && !last.partial {
            snapshot.flows = last.flows.clone();
            snapshot.active_flows = last.active_flows;
        }
        self.shared.store(Arc::new(snapshot));
    }
}

/// Binds `options.addr` and starts serving `initial` (and whatever is published later).
/// Errors are one line for the user.
pub fn start(options: WebOptions, initial: Snapshot) -> Result<Web, String> {
    let addr = options.addr;
    let token = match options.token {
        Some(t) if t.is_empty() => return Err("--web-token must not be empty".into()),
        Some(t) => Some(t),
        None if addr.ip().is_loopback() => None,
        // Anyone who can reach the address could read the traffic summary: require a secret.
        None => Some(auth::generate_token().map_err(|e| format!("cannot generate a token: {e}"))?),
    };
    let listener = TcpListener::bind(addr).map_err(|e| bind_error(addr, &e))?;
    let local = listener.local_addr().map_err(|e| bind_error(addr, &e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| bind_error(addr, &e))?;
    let shared = Arc::new(ArcSwap::from_pointee(initial));
    let state = AppState {
        snapshot: Arc::clone(&shared),
        token: token.as_deref().map(Arc::from),
        db: options.db.map(Arc::new),
        event_json: Arc::default(),
    };
    let app = router(state);
    // One worker: the server only serializes snapshots and answers a few browsers; the cores
    // belong to capture.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("netlens-web")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the web server: {e}"))?;
    std::thread::Builder::new()
        .name("netlens-web".into())
        .spawn(move || {
            runtime.block_on(async move {
                let served = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => axum::serve(l, app).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = served {
                    eprintln!("netlens: the web server stopped: {e}");
                }
            })
        })
        .map_err(|e| format!("cannot start the web server: {e}"))?;
    let address = format!("http://{local}/");
    let url = match &token {
        Some(t) => format!("{address}?token={t}"),
        None => address.clone(),
    };
    Ok(Web {
        shared,
        url,
        address,
    })
}

fn bind_error(addr: SocketAddr, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => " (another program uses it: choose one with --web ADDR:PORT)",
        io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        _ => "",
    };
    format!("cannot serve the dashboard on {addr}: {e}{hint}")
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/summary", get(api::summary))
        .route("/api/snapshot", get(api::snapshot))
        .route("/api/hosts", get(api::hosts))
        .route("/api/flows", get(api::flows))
        .route("/api/packets", get(api::packets))
        .route("/api/series", get(api::series))
        .route("/api/map", get(api::map))
        .route("/api/alerts", get(api::alerts))
        .route("/api/history", get(api::history))
        .route("/api/stream", get(stream::stream))
        .fallback(assets::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::map_response(auth::security_headers))
        .with_state(state)
}
