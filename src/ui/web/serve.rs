//! `netlens serve --db FILE`: the dashboard over a history database alone, with no capture.
//! The page then reads `/api/history` for its numbers; the snapshot says `state: history`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{start, WebOptions, DEFAULT_ADDR};
use crate::engine::snapshot::{RunState, Snapshot};
use crate::history::Failure;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The history database (written by a capture with --db FILE).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,

    /// Address and port to listen on; anything but loopback needs a token.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_ADDR)]
    pub web: SocketAddr,

    /// Token the page and API require (generated and printed once when the address is not
    /// loopback and none is given).
    #[arg(long, value_name = "TOKEN")]
    pub web_token: Option<String>,
}

/// Serves until Ctrl-C or SIGTERM (then exits 0).
pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    // Fail now, with the store's words, rather than on the first request.
    crate::store::open_reader(&args.db)?;
    let initial = Snapshot {
        source: args.db.display().to_string(),
        state: RunState::History,
        ..Snapshot::default()
    };
    let web = start(
        WebOptions {
            addr: args.web,
            token: args.web_token.clone(),
            db: Some(args.db.clone()),
        },
        initial,
    )
    .map_err(Failure::Runtime)?;
    eprintln!("netlens: dashboard at {} (Ctrl-C to stop)", web.url);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
