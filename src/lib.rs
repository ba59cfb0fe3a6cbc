//! netlens: a network traffic monitor. The binary (`main.rs`) only parses flags and calls
//! [`app::main`]; everything else lives in these modules so tests and benchmarks can reach it.

pub mod alerts;
pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod engine;
/// Shared by the fuzz targets and their replay test; not part of the command-line tool.
#[doc(hidden)]
pub mod fuzzing;
pub mod history;
pub mod output;
pub mod pipeline;
pub mod privileges;
pub mod sandbox;
pub mod setup;
pub mod store;
pub mod time;
pub mod ui;
