//! User interfaces: the console now; the web dashboard and terminal UI later.

pub mod console;
