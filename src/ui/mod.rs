//! User interfaces: the console and the web dashboard; the terminal UI later.

pub mod console;
pub mod web;
