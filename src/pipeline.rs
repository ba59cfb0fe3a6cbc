//! The per-frame path shared by files and live capture: filter (files only; live filters run in
//! the kernel), decode, account in the engine, print, and stop at `-c`.

use std::io;

use crate::alerts::{AlertEngine, AlertSummary};
use crate::capture::filter::{FileFilter, FilterError};
use crate::capture::{Flow, Frame};
use crate::engine::shards::Shards;
use crate::engine::stats::Counter;
use crate::engine::Engine;
use crate::store::{Recorder, StoreError, WriterSummary};
use crate::ui::console::printer::Printer;
use crate::ui::console::report::Drops;
use crate::ui::console::style::Palette;

/// Where packets are accounted: one engine on this thread, or shards on their own threads.
pub enum Accounting {
    Inline(Box<Engine>),
    /// One engine, with its flows, series and hosts recorded to the SQLite history.
    Recorded(Box<Engine>, Box<Recorder>),
    Sharded(Shards),
}

/// What the live statistics line shows, whichever way packets are accounted.
#[derive(Debug, Clone, Default)]
pub struct LiveView {
    pub total: Counter,
    /// Packets by transport class, in `stats::L4_NAMES` order.
    pub l4: [u64; 5],
    pub top_hosts: Vec<(std::net::IpAddr, u64)>,
    pub active_flows: Option<usize>,
}

pub struct Pipeline {
    accounting: Accounting,
    /// Totals kept here when shards do the accounting (for the live line).
    dispatched: Counter,
    dispatched_l4: [u64; 5],
    printer: Option<Printer>,
    filter: Option<FileFilter>,
    limit: Option<u64>,
    /// Frames that passed the filter.
    pub accepted: u64,
    /// Set when the filter cannot be compiled for a link type met in the file.
    pub filter_error: Option<FilterError>,
    /// The security detectors, on this thread so they see every packet (whatever `--workers`),
    /// and the palette of their stderr lines.
    alerts: Option<(AlertEngine, Palette)>,
}

impl Pipeline {
    pub fn new(
        accounting: Accounting,
        printer: Option<Printer>,
        filter: Option<FileFilter>,
        limit: Option<u64>,
    ) -> Self {
        Pipeline {
            accounting,
            dispatched: Counter::default(),
            dispatched_l4: [0; 5],
            printer,
            filter,
            limit,
            accepted: 0,
            filter_error: None,
            alerts: None,
        }
    }

    /// Runs `detectors` on every accepted frame; a new alert prints one line on stderr.
    pub fn with_alerts(mut self, detectors: AlertEngine, palette: Palette) -> Self {
        self.alerts = Some((detectors, palette));
        self
    }

    /// The alerts raised so far (for a live view).
    pub fn alerts(&self) -> Option<&[crate::alerts::Alert]> {
        self.alerts.as_ref().map(|(a, _)| a.alerts())
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
        if let Some((detectors, palette)) = &mut self.alerts {
            detectors.inspect(frame.ts, frame.orig_len, &packet);
            if detectors.has_new() {
                for alert in detectors.take_new() {
                    eprintln!("{}", crate::alerts::console::line(alert, palette));
                }
            }
        }
        match &mut self.accounting {
            Accounting::Inline(engine) => engine.process(frame, &packet),
            Accounting::Recorded(engine, recorder) => recorder.process(frame, &packet, engine),
            Accounting::Sharded(shards) => {
                shards.dispatch(frame, packet.ip().map(|ip| (ip.src, ip.dst)));
                self.dispatched.merge(Counter {
                    packets: 1,
                    bytes: u64::from(frame.orig_len),
                });
                let class = packet.l4_class().map_or(4, crate::engine::stats::l4_index);
                if let Some(c) = self.dispatched_l4.get_mut(class) {
                    *c += 1;
                }
            }
        }
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

    /// The numbers for the live statistics line.
    pub fn live_view(&self) -> LiveView {
        match &self.accounting {
            Accounting::Inline(engine) | Accounting::Recorded(engine, _) => LiveView {
                total: engine.stats.total,
                l4: engine.stats.l4.map(|c| c.packets),
                top_hosts: engine
                    .hosts
                    .top(3)
                    .into_iter()
                    .map(|(ip, h)| (ip, h.packets()))
                    .collect(),
                active_flows: Some(engine.flows.active()),
            },
            // Hosts and flows live in the shards until the end.
            Accounting::Sharded(_) => LiveView {
                total: self.dispatched,
                l4: self.dispatched_l4,
                top_hosts: Vec::new(),
                active_flows: None,
            },
        }
    }

    /// Ends accounting: open flows become records (and reach the database, with `drops` in
    /// the run's row), shards are merged into one engine.
    pub fn finish(self, drops: Drops) -> Finished {
        let alerts = self.alerts.map(|(a, _)| a.finish());
        match self.accounting {
            Accounting::Inline(mut engine) => {
                engine.finish();
                Finished {
                    engine: Some(*engine),
                    store: None,
                    alerts,
                }
            }
            Accounting::Recorded(mut engine, recorder) => {
                if let Some(a) = &alerts {
                    recorder.record_alerts(&a.alerts);
                }
                let store = Some(recorder.finish(&mut engine, drops));
                Finished {
                    engine: Some(*engine),
                    store,
                    alerts,
                }
            }
            Accounting::Sharded(shards) => Finished {
                engine: shards.finish(),
                store: None,
                alerts,
            },
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.printer {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }
}

/// What accounting leaves at the end.
pub struct Finished {
    pub engine: Option<Engine>,
    /// What the history writer committed (or why it failed), when `--db` was on.
    pub store: Option<Result<WriterSummary, StoreError>>,
    /// What the detectors found, when they ran.
    pub alerts: Option<AlertSummary>,
}
