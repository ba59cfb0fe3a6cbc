//! The per-frame path shared by files and live capture: filter (files only; live filters run in
//! the kernel), save (`-w`), decode, account in the engine, stream (`--jsonl`), print, and stop
//! at `-c`.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use wire::packet::{Apps, Packet};

use crate::alerts::{AlertEngine, AlertSummary};
use crate::capture::filter::{FileFilter, FilterError};
use crate::capture::mapped::Window;
use crate::capture::{Flow, Frame};
use crate::engine::flow::FlowRecord;
use crate::engine::shards::Shards;
use crate::engine::snapshot::{Context, HostRow, Part, RunState, Snapshot};
use crate::engine::stats::{top_by, Counter};
use crate::engine::Engine;
use crate::output::jsonl::JsonlSink;
use crate::output::savefile::{Saved, Savefile};
use crate::store::{Recorder, Recording, StoreError, WriterSummary};
use crate::ui::console::printer::Printer;
use crate::ui::console::report::Drops;
use crate::ui::console::style::Palette;
use crate::ui::web::publisher::Publisher;

/// Where packets are accounted: one engine on this thread, or shards on their own threads.
pub enum Accounting {
    Inline(Box<Engine>),
    /// One engine, with its flows, series and hosts recorded to the SQLite history.
    Recorded(Box<Engine>, Box<Recorder>, Box<Recording>),
    /// Shards, each recording its own engine when there is a history database.
    Sharded(Shards, Option<Box<Recording>>),
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
    outputs: Outputs,
    filter: Option<FileFilter>,
    limit: Option<u64>,
    /// Frames that passed the filter.
    pub accepted: u64,
    /// Set when the filter cannot be compiled for a link type met in the file.
    pub filter_error: Option<FilterError>,
    /// Set when an output (`-w`, `--jsonl`) failed; the run stops there, keeping its counts.
    pub output_error: Option<String>,
    /// Publishes snapshots for the web dashboard (`--web`).
    publisher: Option<Publisher>,
    /// The security detectors, on this thread so they see every packet (whatever `--workers`),
    /// and the palette of their stderr lines.
    alerts: Option<(AlertEngine, Palette)>,
    /// Live views made from the shards' parts (`--workers` above 1).
    views: ShardViews,
}

/// Asking the shards for their parts of a snapshot about once a second, without waiting for
/// them: the parts are collected as they come, and merged when all are in.
#[derive(Default)]
struct ShardViews {
    /// The request in flight and the parts received so far.
    pending: Option<(Receiver<Part>, Vec<Part>)>,
    next: Option<Instant>,
    /// The addresses the last view named, whose names the next request asks for.
    wanted: Arc<[IpAddr]>,
    /// From the last view, for the live statistics line: the busiest hosts by packets, among
    /// the view's host table (the largest by bytes), and the open flows.
    top_hosts: Vec<(IpAddr, u64)>,
    active_flows: Option<usize>,
}

/// Copies of the traffic written as it is counted.
#[derive(Default)]
pub struct Outputs {
    pub save: Option<Savefile>,
    pub jsonl: Option<JsonlSink>,
}

impl Pipeline {
    pub fn new(
        mut accounting: Accounting,
        printer: Option<Printer>,
        outputs: Outputs,
        filter: Option<FileFilter>,
        limit: Option<u64>,
    ) -> Self {
        if outputs.jsonl.is_some() {
            if let Accounting::Inline(engine) = &mut accounting {
                engine.keep_records();
            }
        }
        Pipeline {
            accounting,
            dispatched: Counter::default(),
            dispatched_l4: [0; 5],
            printer,
            outputs,
            filter,
            limit,
            accepted: 0,
            filter_error: None,
            output_error: None,
            publisher: None,
            alerts: None,
            views: ShardViews::default(),
        }
    }

    /// Publish snapshots for the web dashboard while packets flow.
    pub fn with_publisher(mut self, publisher: Option<Publisher>) -> Self {
        self.publisher = publisher;
        self
    }

    /// The capture's drop counters, for the next snapshot.
    pub fn set_drops(&mut self, drops: Drops) {
        if let Some(p) = &mut self.publisher {
            p.set_drops(drops);
        }
    }

    /// Publishes a snapshot when a second of wall-clock time has passed since the last one.
    /// Called per frame and by sources that wait (pacing, a quiet interface).
    pub fn publish_if_due(&mut self) {
        if matches!(self.accounting, Accounting::Sharded(..)) {
            if self.publisher.is_some() {
                self.poll_views();
            }
        } else if self.publisher.as_ref().is_some_and(Publisher::due) {
            self.publish(crate::engine::snapshot::RunState::Running);
        }
    }

    /// With shards: asks them for a view once a second, and when all their parts are in,
    /// publishes it (with `--web`) and keeps its top hosts for the live statistics line.
    /// Called per frame with `--web`, and by the live capture loop.
    pub fn poll_views(&mut self) {
        let Accounting::Sharded(shards, _) = &mut self.accounting else {
            return;
        };
        let views = &mut self.views;
        if let Some((rx, parts)) = &mut views.pending {
            parts.extend(rx.try_iter());
            if parts.len() < shards.len() {
                return;
            }
            let parts = std::mem::take(parts);
            views.pending = None;
            if let (Some(publisher), Some((detectors, _))) = (&mut self.publisher, &self.alerts) {
                publisher.set_alerts(detectors.alerts());
            }
            let snapshot = match &mut self.publisher {
                Some(p) => p.publish_parts(parts, RunState::Running),
                None => Arc::new(Snapshot::from_parts(parts, Context::default())),
            };
            views.wanted = snapshot.named_addresses().into();
            let packets = |h: &HostRow| h.packets_in + h.packets_out;
            // Ranked as `hosts::top` ranks them.
            let top = top_by(snapshot.host_table.iter(), 3, |h| {
                (packets(h), h.bytes_in + h.bytes_out, h.ip)
            });
            views.top_hosts = top.into_iter().map(|h| (h.ip, packets(h))).collect();
            views.active_flows = snapshot.active_flows.map(|n| n as usize);
            return;
        }
        let now = Instant::now();
        if views.next.is_none_or(|next| now >= next) {
            views.next = Some(now + crate::ui::web::publisher::INTERVAL);
            views.pending = Some((shards.request_parts(Arc::clone(&views.wanted)), Vec::new()));
        }
    }

    fn publish(&mut self, state: crate::engine::snapshot::RunState) {
        let Some(publisher) = &mut self.publisher else {
            return;
        };
        if let Some((detectors, _)) = &self.alerts {
            publisher.set_alerts(detectors.alerts());
        }
        match &mut self.accounting {
            Accounting::Inline(engine) | Accounting::Recorded(engine, ..) => {
                publisher.publish_engine(engine, state)
            }
            // Called once, when the input has ended: wait for every shard's part, so the
            // last view holds every packet and the flows still open (the final publication
            // keeps them).
            Accounting::Sharded(shards, _) => {
                let rx = shards.request_parts(Arc::clone(&self.views.wanted));
                let parts: Vec<Part> = (0..shards.len()).map_while(|_| rx.recv().ok()).collect();
                if parts.len() == shards.len() {
                    publisher.publish_parts(parts, state);
                } else {
                    publisher.publish_totals(self.dispatched, &self.dispatched_l4, state);
                }
            }
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

    /// The application parsers this thread needs. With shards and no packet output, only the
    /// detectors read the packet here; the shards try the other parsers (see [`wire::Layout`]).
    fn apps(&self) -> Apps {
        let packets_shown = self.printer.is_some()
            || self
                .outputs
                .jsonl
                .as_ref()
                .is_some_and(|j| j.wants_packets());
        match self.accounting {
            Accounting::Sharded(..) if !packets_shown => Apps::Alerts,
            _ => Apps::All,
        }
    }

    /// The frame about to be handled lies in `window` (a mapped capture file): the shards keep
    /// it instead of copying the frames.
    pub fn share(&mut self, window: &Arc<Window>) {
        if let Accounting::Sharded(shards, _) = &mut self.accounting {
            shards.share(window);
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
        if let Some(save) = &mut self.outputs.save {
            match save.write(frame) {
                Ok(Saved::Written) => {}
                // `-G` with `-W`: the last file is complete, so the run ends, as tcpdump's does.
                Ok(Saved::Done) => return Ok(Flow::Stop),
                Err(e) => {
                    self.output_error = Some(e.to_string());
                    return Ok(Flow::Stop);
                }
            }
        }
        let apps = self.apps();
        let mut packet = Packet::empty();
        wire::packet::decode_apps_into(&mut packet, frame.link, frame.data, apps);
        if let Some(p) = &mut self.publisher {
            p.record(frame);
        }
        if let Some((detectors, palette)) = &mut self.alerts {
            detectors.inspect(frame.ts, frame.orig_len, &packet);
            if detectors.has_new() {
                let mut written = Ok(());
                for alert in detectors.take_new() {
                    eprintln!("{}", crate::alerts::console::line(alert, palette));
                    if let (Some(jsonl), Ok(())) = (&mut self.outputs.jsonl, &written) {
                        written = jsonl.alert(alert);
                    }
                }
                if let Err(e) = written {
                    return self.jsonl_failed(e);
                }
            }
        }
        match &mut self.accounting {
            Accounting::Inline(engine) => engine.process(frame, &packet),
            Accounting::Recorded(engine, recorder, _) => recorder.process(frame, &packet, engine),
            Accounting::Sharded(shards, _) => {
                shards.dispatch(frame, &packet, apps);
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
        if let Some(jsonl) = &mut self.outputs.jsonl {
            let written = match &mut self.accounting {
                Accounting::Inline(engine) if engine.has_records() => {
                    jsonl.records(&engine.take_records())
                }
                Accounting::Recorded(engine, recorder, _) if engine.has_records() => {
                    let records = engine.take_records();
                    let written = jsonl.records(&records);
                    recorder.send_records(records);
                    written
                }
                Accounting::Sharded(shards, _) => shards
                    .take_records()
                    .iter()
                    .try_for_each(|records| jsonl.records(records)),
                _ => Ok(()),
            }
            .and_then(|()| match jsonl.wants_packets() {
                true => jsonl.packet(frame, &packet),
                false => Ok(()),
            });
            if let Err(e) = written {
                return self.jsonl_failed(e);
            }
        }
        if let Some(printer) = &mut self.printer {
            printer.print(frame, &packet)?;
        }
        self.accepted += 1;
        self.publish_if_due();
        Ok(if self.limit.is_some_and(|l| self.accepted >= l) {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }

    /// A closed pipe ends the run quietly (like the packet log); any other error is reported.
    fn jsonl_failed(&mut self, e: io::Error) -> io::Result<Flow> {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Err(e);
        }
        let target = self
            .outputs
            .jsonl
            .as_ref()
            .map_or("", |j| j.target.as_str());
        self.output_error = Some(jsonl_error(target, &e));
        self.outputs.jsonl = None;
        Ok(Flow::Stop)
    }

    /// The numbers for the live statistics line.
    pub fn live_view(&self) -> LiveView {
        match &self.accounting {
            Accounting::Inline(engine) | Accounting::Recorded(engine, ..) => LiveView {
                total: engine.stats.total,
                l4: engine.stats.l4.map(|c| c.packets),
                top_hosts: crate::engine::hosts::top(engine.hosts_now().into_iter(), 3)
                    .into_iter()
                    .map(|(ip, h)| (ip, h.packets()))
                    .collect(),
                active_flows: Some(engine.flows.active()),
            },
            // Hosts and flows live in the shards: as of their last view (see `poll_views`).
            Accounting::Sharded(..) => LiveView {
                total: self.dispatched,
                l4: self.dispatched_l4,
                top_hosts: self.views.top_hosts.clone(),
                active_flows: self.views.active_flows,
            },
        }
    }

    /// Ends accounting: open flows become records (and reach the database, with `drops` in
    /// the run's row), shards are merged into one engine.
    /// Outputs are completed too: the last `-w` file, the rest of the JSON lines.
    pub fn finish(mut self, drops: Drops) -> Finished {
        // The last lines of the packet ring reach the dashboard before the final numbers do.
        self.set_drops(drops);
        self.publish(crate::engine::snapshot::RunState::Running);
        let alerts = self.alerts.take().map(|(a, _)| a.finish());
        let mut output_error = self.output_error.take();
        let mut jsonl = self.outputs.jsonl.take();
        // The rest of the JSON lines; the first failure stops them and is reported.
        let mut write = |records: &[FlowRecord]| {
            if let Some(j) = &mut jsonl {
                if let Err(e) = j.records(records) {
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        output_error.get_or_insert(jsonl_error(&j.target, &e));
                    }
                    jsonl = None;
                }
            }
        };
        // Open flows end in chunks, each streamed (and stored) before the next is made.
        let mut stream = |engine: &mut Engine, mut recorder: Option<&mut Recorder>| loop {
            let more = engine.finish_some(crate::store::recorder::BATCH);
            let records = engine.take_records();
            write(&records);
            if let Some(r) = recorder.as_deref_mut() {
                r.send_records(records);
            }
            if !more {
                break;
            }
        };
        let (engine, recording, sharded) = match self.accounting {
            Accounting::Inline(mut engine) => {
                stream(&mut engine, None);
                (Some(*engine), None, false)
            }
            Accounting::Recorded(mut engine, mut recorder, recording) => {
                stream(&mut engine, Some(&mut recorder));
                recorder.flush(&mut engine);
                (Some(*engine), Some(recording), false)
            }
            Accounting::Sharded(shards, recording) => {
                let n = shards.len();
                let (engine, failed) = shards.finish(&mut |records| write(&records));
                if failed > 0 {
                    output_error.get_or_insert(format!(
                        "{failed} of {n} accounting threads failed (see the message above): \
                         the results lack their share of the traffic"
                    ));
                }
                (engine, recording, true)
            }
        };
        if let Some(j) = &mut jsonl {
            if let Err(e) = j.flush() {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    output_error.get_or_insert(jsonl_error(&j.target, &e));
                }
            }
        }
        let store = recording.map(|recording| {
            if let Some(a) = &alerts {
                recording.record_alerts(&a.alerts);
            }
            match &engine {
                Some(engine) => {
                    if sharded {
                        recording.name_all_rows(&engine.hosts);
                    }
                    recording.finish(&engine.stats, drops)
                }
                None => recording.finish(&crate::engine::stats::Stats::new(0), drops),
            }
        });
        if let Some(save) = self.outputs.save.take() {
            if let Err(e) = save.finish() {
                output_error.get_or_insert(e.to_string());
            }
        }
        Finished {
            engine,
            store,
            output_error,
            alerts,
        }
    }

    /// Pushes out what the packet log and the outputs have buffered (live capture: after each
    /// batch). A failing output is reported at the end, with the counts.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(save) = &mut self.outputs.save {
            if let Err(e) = save.flush() {
                self.output_error.get_or_insert(e.to_string());
                self.outputs.save = None;
            }
        }
        if let Some(jsonl) = &mut self.outputs.jsonl {
            let written = match &self.accounting {
                // Records the shards ended since the last frame.
                Accounting::Sharded(shards, _) => shards
                    .take_records()
                    .iter()
                    .try_for_each(|records| jsonl.records(records)),
                _ => Ok(()),
            };
            if let Err(e) = written.and_then(|()| jsonl.flush()) {
                self.jsonl_failed(e)?;
            }
        }
        match &mut self.printer {
            Some(p) => p.flush(),
            None => Ok(()),
        }
    }
}

/// The one line a failed `--jsonl` output ends the run with.
fn jsonl_error(target: &str, e: &io::Error) -> String {
    format!("cannot write JSON lines to {target}: {e}")
}

/// What accounting leaves at the end.
pub struct Finished {
    pub engine: Option<Engine>,
    /// What the history writer committed (or why it failed), when `--db` was on.
    pub store: Option<Result<WriterSummary, StoreError>>,
    /// Why an output (`-w`, `--jsonl`) stopped early or could not be completed.
    pub output_error: Option<String>,
    /// What the detectors found, when they ran.
    pub alerts: Option<AlertSummary>,
}
