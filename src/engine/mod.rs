//! The engine: what netlens knows about the traffic. For now the counters of the final report;
//! flows, hosts and time series build on it.

pub mod stats;
