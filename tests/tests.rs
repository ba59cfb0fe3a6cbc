//! One integration-test binary (one link step matters on 2 cores), with a module per area.
//! Every test runs the real `netlens` binary on real inputs.

// Tests may unwrap and panic: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

mod afpacket;
mod alerts;
mod bounds;
mod cli_errors;
mod corpus;
mod engine_vs_tshark;
mod fast_path;
mod faults;
mod file_readers;
mod flows;
mod fuzz_replay;
mod history;
mod interactive;
mod live;
mod live_view;
mod outputs;
mod privileges;
mod snapshots;
mod web;
mod workers;
