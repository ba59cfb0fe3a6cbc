//! The per-frame path shared by files and live capture: filter (files only; live filters run in
//! the kernel), decode, account in the engine, print, and stop at `-c`.

use std::io;

use crate::capture::filter::{FileFilter, FilterError};
use crate::capture::{Flow, Frame};
use crate::engine::Engine;
use crate::ui::console::printer::Printer;

pub struct Pipeline {
    pub engine: Engine,
    printer: Option<Printer>,
    filter: Option<FileFilter>,
    limit: Option<u64>,
    /// Frames that passed the filter.
    pub accepted: u64,
    /// Set when the filter cannot be compiled for a link type met in the file.
    pub filter_error: Option<FilterError>,
}

impl Pipeline {
    pub fn new(
        engine: Engine,
        printer: Option<Printer>,
        filter: Option<FileFilter>,
        limit: Option<u64>,
    ) -> Self {
        Pipeline {
            engine,
            printer,
            filter,
            limit,
            accepted: 0,
            filter_error: None,
        }
    }

    pub fn handle(&mut self, frame: &Frame<'_>) -> io::Result<Flow> {
        if self.limit.is_some_and(|l| self.accepted >= l) {
            return Ok(Flow::Stop);
        }
        if let Some(filter) = &mut self.filter {
            match filter.matches(frame.link, frame.data) {
                Ok(true) => {}
                Ok(false) => return Ok(Flow::Continue),
                Err(e) => {
                    self.filter_error = Some(e);
                    return Ok(Flow::Stop);
                }
            }
        }
        let packet = wire::decode(frame.link, frame.data);
        self.engine.process(frame, &packet);
        if let Some(printer) = &mut self.printer {
            printer.print(frame, &packet)?;
        }
        self.accepted += 1;
        Ok(if self.limit.is_some_and(|l| self.accepted >= l) {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.printer {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }
}
