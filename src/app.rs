//! Wiring: flags → config → source → pipeline → report, and the exit code.
//!
//! Exit codes: 0 success (also after Ctrl-C/SIGTERM, and when stdout closes early as in
//! `netlens -r f | head`); 1 the input or the system failed (damaged file, no permission);
//! 2 the command line is wrong (bad flag, invalid filter, unknown interface).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::alerts::AlertEngine;
use crate::capture::file::{self, ReadError};
use crate::capture::filter::FileFilter;
use crate::capture::interfaces;
use crate::capture::live::{self, LiveCapture};
use crate::capture::mapped::Window;
use crate::capture::{Flow, Frame};
use crate::cli::{Cli, ReportFormat};
use crate::config::{self, Config, Source, UsageError};
use crate::engine::shards::{ShardOutputs, Shards};
use crate::engine::Engine;
use crate::output::jsonl::JsonlSink;
use crate::output::savefile::Savefile;
use crate::pipeline::{Accounting, Outputs, Pipeline};
use crate::setup;
use crate::store::{
    Backpressure, CaptureRow, Recorder, RecorderOptions, Recording, StoreWriter, WriterOptions,
};
use crate::ui::console::live_stats::LiveStats;
use crate::ui::console::printer::Printer;
use crate::ui::console::progress::Progress;
use crate::ui::console::report::{self, Drops, RunInfo};
use crate::ui::console::style::Palette;

/// How a run failed, which decides the exit code.
enum Failure {
    Usage(String),
    Runtime(String),
}

pub fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    match run(&mut cli) {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            eprintln!("netlens: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("netlens: {msg}");
            ExitCode::from(1)
        }
    }
}

/// clap's errors are several lines; keep its first line (it names the flag and the problem)
/// and point to --help.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("netlens: {first} (see netlens --help)");
            ExitCode::from(2)
        }
    }
}

fn usage(e: impl std::fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

fn run(cli: &mut Cli) -> Result<ExitCode, Failure> {
    // History commands (report, chart, export) read a database and print their own errors.
    if let Some(cmd) = cli.command.take() {
        return Ok(crate::history::run(cmd));
    }
    if cli.list_interfaces {
        let devices = interfaces::list().map_err(runtime)?;
        print!("{}", interfaces::describe(&devices));
        return Ok(ExitCode::SUCCESS);
    }
    if cli.read.is_none() && cli.interfaces.is_empty() {
        if !config::can_prompt() {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            eprintln!("{}", cmd.render_usage());
            return Err(usage(
                "no packet source: give -i IFACE or -r FILE (standard input is not a terminal, so no interactive set-up)",
            ));
        }
        setup::run(cli).map_err(runtime)?;
    }
    let config = Config::from_cli(cli).map_err(|e| match e {
        UsageError::Message(m) => Failure::Usage(m),
        UsageError::Filter(f) => Failure::Usage(f.to_string()),
    })?;

    // The handler is installed once the capture is open and privileges are dropped (see
    // `open_done`), so its thread never holds any.
    let stop = Arc::new(AtomicBool::new(false));

    let palette_out = Palette::new(config.color_stdout);
    let palette_err = Palette::new(config.color_stderr);
    let web = start_web(&config)?;
    let (engine, info, outcome) = match &config.source {
        Source::File(path) => run_file(&config, path, &stop, palette_out, web.as_ref())?,
        Source::Live(ifaces) => run_live(
            &config,
            ifaces,
            &stop,
            palette_out,
            palette_err,
            web.as_ref(),
        )?,
    };
    if let Some(web) = &web {
        web.publish_final(
            &engine,
            info.drops,
            info.alerts.as_ref().map_or(&[][..], |a| &a.alerts[..]),
        );
    }

    match config.report {
        ReportFormat::Json => {
            let doc = report::JsonReport {
                engine: &engine,
                info: &info,
            };
            let mut out = io::stdout().lock();
            let mut out = io::BufWriter::new(&mut out);
            let written = serde_json::to_writer_pretty(&mut out, &doc)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    return Err(runtime(format!("cannot write the report: {e}")));
                }
            }
        }
        ReportFormat::Text => eprint!("{}", report::text(&engine, &info, &palette_err)),
        ReportFormat::None => {}
    }
    if let (Some(web), Source::File(path)) = (&web, &config.source) {
        keep_serving(web, path, &stop);
    }
    match outcome {
        Some(msg) => Err(runtime(msg)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The capture is open: give up privileges (before any output file is opened, so those belong to
/// the user netlens now runs as), confine writes to the output folders, then let signals stop
/// the run.
fn open_done(config: &Config, stop: &Arc<AtomicBool>) -> Result<(), Failure> {
    let dropped = crate::privileges::drop_privileges(&config.run_as).map_err(runtime)?;
    if let Some(line) = dropped.banner() {
        eprintln!("{line}");
    }
    crate::sandbox::confine(&config.output_folders(), true).map_err(runtime)?;
    install_signal_handler(Arc::clone(stop));
    Ok(())
}

/// `--web`: binds the dashboard before capture starts, so a port in use fails first.
fn start_web(config: &Config) -> Result<Option<crate::ui::web::Web>, Failure> {
    let Some(options) = &config.web else {
        return Ok(None);
    };
    let web = crate::ui::web::start(options.clone(), Default::default()).map_err(runtime)?;
    eprintln!("netlens: dashboard at {}", web.url);
    Ok(Some(web))
}

/// After a file ends the dashboard keeps showing its final numbers until Ctrl-C/SIGTERM.
fn keep_serving(web: &crate::ui::web::Web, path: &str, stop: &AtomicBool) {
    if stop.load(Ordering::SeqCst) {
        return;
    }
    eprintln!(
        "netlens: {path} is done; the dashboard stays at {} (Ctrl-C to stop)",
        web.address
    );
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGINT/SIGTERM set `stop` so the run drains and reports; a second one exits at once.
fn install_signal_handler(stop: Arc<AtomicBool>) {
    let hits = AtomicU32::new(0);
    let _ = ctrlc::set_handler(move || {
        if hits.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(130);
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// Result of a run: counters, run facts, and an error to report after the final report
/// (a damaged file keeps its counts, then exits 1).
type RunResult = (Engine, RunInfo, Option<String>);

fn run_file(
    config: &Config,
    path: &str,
    stop: &Arc<AtomicBool>,
    palette: Palette,
    web: Option<&crate::ui::web::Web>,
) -> Result<RunResult, Failure> {
    let filter = match &config.filter {
        Some(expr) => Some(FileFilter::new(expr).map_err(usage)?),
        None => None,
    };
    let printer = config
        .mode
        .map(|mode| Printer::new(mode, palette, config.hex_all, Vec::new()));
    let capture_row = CaptureRow {
        source: path.to_string(),
        filter: config.filter.clone(),
        interfaces: Vec::new(),
    };
    let input = file::open(path, Some(Arc::clone(stop))).map_err(runtime)?;
    open_done(config, stop)?;
    let outputs = outputs(config)?;
    let accounting = accounting(config, capture_row, Backpressure::Block)?;
    let mut pipeline = with_alerts(
        Pipeline::new(accounting, printer, outputs, filter, config.count),
        config,
    )
    .with_publisher(web.map(|w| w.publisher(path.to_string(), false)));
    let mut pacer = config.pace.map(crate::capture::pace::Pacer::new);
    let stdout_shared = config.mode.is_some() && io::stdout().is_terminal();
    let mut progress = Progress::for_size(input.size(), stdout_shared);
    let mut on_frame = |frame: &Frame<'_>, window: Option<&Arc<Window>>| {
        if stop.load(Ordering::Relaxed) {
            return Ok(Flow::Stop);
        }
        if let Some(window) = window {
            pipeline.share(window);
        }
        if let Some(pacer) = &mut pacer {
            if !pacer.wait(frame.ts, stop, &mut || pipeline.publish_if_due()) {
                return Ok(Flow::Stop);
            }
        }
        // Only a mapped file has a size (and a bar).
        if let (Some(p), Some(at)) = (
            &mut progress,
            window.and_then(|w| w.position_of(frame.data)),
        ) {
            p.frame_at(at);
        }
        pipeline.handle(frame)
    };
    let result = match input {
        file::Input::Mapped(mapped) => file::read_mapped(path, &mapped, &mut |frame, window| {
            on_frame(frame, Some(window))
        }),
        file::Input::Stream(input, _) => {
            file::read_from(path, input, &mut |frame| on_frame(frame, None))
        }
    };
    if let Some(p) = progress {
        p.finish();
    }
    let mut outcome = None;
    let flushed = pipeline.flush();
    match result {
        Ok(_) => {}
        Err(ReadError::Sink(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(ReadError::Sink(e)) => return Err(runtime(format!("cannot write output: {e}"))),
        Err(ReadError::File(e @ file::FileError::Empty(_)))
        | Err(ReadError::File(e @ file::FileError::NotACapture(_))) => return Err(runtime(e)),
        // Stopped by a signal while the input was idle: the input was cut by us, not damaged.
        Err(ReadError::File(file::FileError::Truncated { .. })) if stop.load(Ordering::Relaxed) => {
        }
        Err(ReadError::File(e)) => outcome = Some(e.to_string()),
    }
    if let Err(e) = flushed {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(runtime(format!("cannot write output: {e}")));
        }
    }
    if let Some(e) = pipeline.filter_error.take() {
        return Err(usage(e));
    }
    let mut info = RunInfo {
        source: path.to_string(),
        filter: config.filter.clone(),
        drops: Drops::default(),
        top: config.top,
        alerts: None,
        capture: None,
    };
    let (engine, output_error, alerts) = finished(pipeline, info.drops)?;
    info.alerts = alerts;
    Ok((engine, info, outcome.or(output_error)))
}

/// What live capture reads from: libpcap handles, or one interface's fanout rings.
enum LiveSource {
    Pcap(Vec<live::Opened>),
    #[cfg(target_os = "linux")]
    Rings(String, Vec<crate::capture::afpacket::Ring>),
}

/// A bad filter is the command line's fault; anything else is the system's.
fn live_error(e: live::LiveError) -> Failure {
    match e {
        live::LiveError::Filter { .. } => usage(e),
        other => runtime(other),
    }
}

/// AF_PACKET rings when `--capture` asks for them, or `auto` finds they work: one interface
/// that is not 'any', with Ethernet framing (one ring per worker, so one ring with one worker:
/// its large kernel buffer loses fewer packets under load than libpcap's). None: use libpcap.
/// (`--capture afpacket` was checked against the interfaces in config.)
#[cfg(target_os = "linux")]
fn open_rings(config: &Config, ifaces: &[String]) -> Result<Option<LiveSource>, Failure> {
    use crate::capture::afpacket;
    use crate::cli::CaptureMethod;
    let [name] = ifaces else {
        return Ok(None);
    };
    let auto = match config.capture {
        CaptureMethod::Libpcap => return Ok(None),
        CaptureMethod::Afpacket => false,
        CaptureMethod::Auto => {
            // A down interface goes to libpcap too, which refuses it in one line.
            if name == "any" || afpacket::link_type(name).is_none() || !afpacket::is_up(name) {
                return Ok(None);
            }
            true
        }
    };
    match afpacket::open(name, &config.live, config.workers.max(1)) {
        Ok(rings) => Ok(Some(LiveSource::Rings(name.clone(), rings))),
        // `auto` only tried rings because they might help: say why not, and use libpcap.
        Err(live::LiveError::Open { message, .. }) if auto => {
            eprintln!("netlens: AF_PACKET rings unavailable ({message}); using libpcap");
            Ok(None)
        }
        Err(e) => Err(live_error(e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_rings(_config: &Config, _ifaces: &[String]) -> Result<Option<LiveSource>, Failure> {
    Ok(None)
}

fn run_live(
    config: &Config,
    ifaces: &[String],
    stop: &Arc<AtomicBool>,
    palette_out: Palette,
    palette_err: Palette,
    web: Option<&crate::ui::web::Web>,
) -> Result<RunResult, Failure> {
    for name in ifaces {
        interfaces::resolve(name).map_err(usage)?;
    }
    let source = match open_rings(config, ifaces)? {
        Some(rings) => rings,
        None => {
            let mut opened = Vec::new();
            for name in ifaces {
                opened.push(live::open(name, &config.live).map_err(live_error)?);
            }
            LiveSource::Pcap(opened)
        }
    };
    open_done(config, stop)?;
    let names: Vec<String> = ifaces.to_vec();
    let how = match &source {
        #[cfg(target_os = "linux")]
        LiveSource::Rings(_, rings) if rings.len() == 1 => " with 1 AF_PACKET ring".to_string(),
        #[cfg(target_os = "linux")]
        LiveSource::Rings(_, rings) => format!(" with {} AF_PACKET fanout rings", rings.len()),
        LiveSource::Pcap(_) => String::new(),
    };
    eprintln!(
        "netlens: capturing on {}{how}{} (Ctrl-C to stop)",
        names.join(", "),
        config
            .filter
            .as_ref()
            .map(|f| format!(", filter '{f}'"))
            .unwrap_or_default()
    );
    let capture_row = CaptureRow {
        source: format!("live: {}", names.join(", ")),
        filter: config.filter.clone(),
        interfaces: names.clone(),
    };
    // A slow disk must never stall capture: the writer drops (and counts) instead.
    let accounting = accounting(config, capture_row, Backpressure::Drop)?;
    if let Some(db) = &config.db {
        eprintln!(
            "netlens: history goes to {} (--no-db to keep none)",
            db.display()
        );
    }
    let printer = config
        .mode
        .map(|mode| Printer::new(mode, palette_out, config.hex_all, names.clone()));
    let outputs = outputs(config)?;
    let mut pipeline = with_alerts(
        Pipeline::new(accounting, printer, outputs, None, config.count),
        config,
    )
    .with_publisher(web.map(|w| w.publisher(format!("live: {}", names.join(", ")), true)));
    let mut capture = match source {
        #[cfg(target_os = "linux")]
        LiveSource::Rings(name, rings) => {
            LiveCapture::start_afpacket(&name, rings, &config.live, Arc::clone(stop))
        }
        LiveSource::Pcap(opened) => LiveCapture::start(opened, Arc::clone(stop)),
    };
    let mut ticker = config.stats_interval.map(LiveStats::new);
    let mut stopping = false;
    let mut write_error = None;
    loop {
        let wait = ticker
            .as_ref()
            .map_or(Duration::from_millis(200), |t| t.due_in())
            .min(Duration::from_millis(200));
        match capture.batches.recv_timeout(wait) {
            Ok(batch) => {
                if !stopping || config.count.is_none() {
                    for frame in batch.frames() {
                        match pipeline.handle(&frame) {
                            Ok(Flow::Continue) => {}
                            Ok(Flow::Stop) => {
                                stopping = true;
                                break;
                            }
                            Err(e) => {
                                write_error = Some(e);
                                stopping = true;
                                break;
                            }
                        }
                    }
                }
                capture.recycle(batch);
                if let Err(e) = pipeline.flush() {
                    write_error = Some(e);
                    stopping = true;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::Relaxed) {
            stopping = true;
        }
        if stopping {
            // Wake every capture thread; the loop keeps draining queued batches until the
            // channel disconnects, so nothing already captured is lost.
            capture.request_stop();
        }
        if web.is_some() {
            let (kernel, interface, internal) = capture.drop_totals();
            pipeline.set_drops(Drops {
                kernel,
                interface,
                internal,
            });
            pipeline.publish_if_due();
        }
        if let Some(t) = ticker.as_mut() {
            // With shards, their hosts and flows reach the line through a view.
            pipeline.poll_views();
            let (k, i, n) = capture.drop_totals();
            let drops = Drops {
                kernel: k,
                interface: i,
                internal: n,
            };
            if let Some(line) = t.tick(&pipeline.live_view(), drops, &palette_err) {
                eprintln!("{line}");
            }
        }
    }
    capture.join();
    let _ = pipeline.flush();
    if let Some(e) = write_error {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(runtime(format!("cannot write output: {e}")));
        }
    }
    let (kernel, interface, internal) = capture.drop_totals();
    let mut info = RunInfo {
        source: format!("live: {}", names.join(", ")),
        filter: config.filter.clone(),
        drops: Drops {
            kernel,
            interface,
            internal,
        },
        top: config.top,
        alerts: None,
        capture: Some(capture.report()),
    };
    let (engine, output_error, alerts) = finished(pipeline, info.drops)?;
    info.alerts = alerts;
    Ok((engine, info, output_error))
}

/// `-w` and `--jsonl`, opened before capture starts so a bad path fails at once.
fn outputs(config: &Config) -> Result<Outputs, Failure> {
    let save = match &config.save {
        Some(options) => Some(Savefile::create(options.clone()).map_err(runtime)?),
        None => None,
    };
    let jsonl = match &config.jsonl {
        Some((target, packets)) => Some(
            JsonlSink::open(target, *packets)
                .map_err(|e| runtime(format!("cannot create {target}: {e}")))?,
        ),
        None => None,
    };
    Ok(Outputs { save, jsonl })
}

/// One engine inline, or `--workers` shards; with a history database, recorded (each shard
/// records its own engine).
fn accounting(
    config: &Config,
    capture: CaptureRow,
    backpressure: Backpressure,
) -> Result<Accounting, Failure> {
    let recording = match &config.db {
        Some(db) => {
            let options = WriterOptions {
                backpressure,
                retention: config.retention,
                ..WriterOptions::default()
            };
            let writer = StoreWriter::open(db, options).map_err(runtime)?;
            Some(Box::new(Recording::start(writer, capture)))
        }
        None => None,
    };
    let options = RecorderOptions {
        store_packets: config.store_packets,
    };
    if config.workers > 1 {
        let outputs = ShardOutputs {
            store: recording.as_ref().map(|r| (r.sender(), options)),
            records: config.jsonl.is_some(),
        };
        let shards = Shards::start(config.workers, &config.engine, outputs);
        return Ok(Accounting::Sharded(shards, recording));
    }
    let mut engine = Box::new(Engine::new(config.engine.clone()));
    let Some(recording) = recording else {
        return Ok(Accounting::Inline(engine));
    };
    let recorder = Recorder::start(recording.sender(), &mut engine, options);
    Ok(Accounting::Recorded(engine, Box::new(recorder), recording))
}

/// Adds the security detectors to `pipeline` unless `--no-alerts`; their lines go to stderr.
fn with_alerts(pipeline: Pipeline, config: &Config) -> Pipeline {
    if !config.alerts.enabled {
        return pipeline;
    }
    let detectors = AlertEngine::new(&config.alerts, &config.engine.home);
    pipeline.with_alerts(detectors, Palette::new(config.color_stderr))
}

/// What accounting leaves: the merged engine, why an output stopped early (reported after the
/// final report), and what the detectors found.
type Ended = (Engine, Option<String>, Option<crate::alerts::AlertSummary>);

fn finished(pipeline: Pipeline, drops: Drops) -> Result<Ended, Failure> {
    let done = pipeline.finish(drops);
    // A failed database still leaves the counts: the report is printed, then this error.
    let store_error = match &done.store {
        Some(Err(e)) => Some(format!("the history database was not completed: {e}")),
        _ => None,
    };
    if let Some(Ok(summary)) = &done.store {
        let dropped = summary.dropped_rows;
        if dropped > 0 {
            eprintln!("netlens: the history writer fell behind and dropped {dropped} rows");
        }
    }
    let engine = done
        .engine
        .ok_or_else(|| runtime("the accounting threads failed"))?;
    Ok((engine, store_error.or(done.output_error), done.alerts))
}
