//! The console: the packet log in its display modes, live statistics, and the final report.

pub mod fragments;
pub mod live_stats;
pub mod printer;
pub mod progress;
pub mod put;
pub mod report;
pub mod style;
