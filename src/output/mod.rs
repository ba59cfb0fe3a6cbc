//! Outputs that copy what the capture saw as it happens: `-w` capture files and `--jsonl`
//! streams. (The packet log is in `ui::console`, history in `store`.)

pub mod jsonl;
pub mod savefile;
