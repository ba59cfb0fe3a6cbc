//! One validated configuration from the flags: sources resolved, filter combined and checked,
//! display decided. After this point nothing re-reads raw flags.

use std::io::IsTerminal;
use std::time::Duration;

use crate::alerts::config::{self as alerts_config, AlertsConfig};
use crate::capture::filter::{self, FileFilter, FilterError};
use crate::capture::live::LiveOptions;
use crate::cli::{CaptureMethod, Cli, ReportFormat};
use crate::engine::flows::FlowConfig;
use crate::engine::hosts::HomeNet;
use crate::engine::EngineConfig;
use crate::output::savefile::{Format, SaveOptions};
use crate::ui::console::printer::Mode;

/// Where packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(String),
    Live(Vec<String>),
}

#[derive(Debug)]
pub struct Config {
    pub source: Source,
    pub filter: Option<String>,
    pub count: Option<u64>,
    pub live: LiveOptions,
    /// `--capture`: libpcap, AF_PACKET rings, or auto.
    pub capture: CaptureMethod,
    /// None with `-q` or a JSON report: no packet lines.
    pub mode: Option<Mode>,
    pub hex_all: bool,
    pub color_stdout: bool,
    pub color_stderr: bool,
    pub stats_interval: Option<Duration>,
    pub report: ReportFormat,
    pub top: usize,
    pub engine: EngineConfig,
    pub workers: usize,
    /// Where history goes, if anywhere.
    pub db: Option<std::path::PathBuf>,
    pub store_packets: bool,
    pub retention: Option<Duration>,
    /// `-w` and its rotation.
    pub save: Option<SaveOptions>,
    /// `--jsonl` target, and whether packets go there too.
    pub jsonl: Option<(String, bool)>,
    /// Who to run as once the capture is open.
    pub run_as: crate::privileges::Target,
    /// `--web`: serve the dashboard.
    pub web: Option<crate::ui::web::WebOptions>,
    /// `--pace`: replay the file at this multiple of its recorded speed.
    pub pace: Option<f64>,
    pub alerts: AlertsConfig,
}

/// A command line that cannot work: one line for the user, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Filter(#[from] FilterError),
}

impl Config {
    /// The folders the run's output files (`--db`, `-w`, `--jsonl`) are written in: the only
    /// places a confined run may write (see `sandbox`). `-` (standard output) needs none.
    pub fn output_folders(&self) -> Vec<std::path::PathBuf> {
        let db = self.db.as_ref().map(|p| p.to_string_lossy().into_owned());
        let save = self.save.as_ref().map(|s| s.path.clone());
        let jsonl = self.jsonl.as_ref().map(|(p, _)| p.clone());
        [db, save, jsonl]
            .into_iter()
            .flatten()
            .filter(|path| path != "-")
            .map(|path| crate::sandbox::output_folder(&path))
            .collect()
    }

    /// Validates `cli`. `source` comes from the flags or the interactive set-up.
    pub fn from_cli(cli: &Cli) -> Result<Config, UsageError> {
        let source = match (&cli.read, cli.interfaces.is_empty()) {
            (Some(path), _) => Source::File(path.clone()),
            (None, false) => Source::Live(cli.interfaces.clone()),
            (None, true) => {
                return Err(UsageError::Message(
                    "no packet source: give -i IFACE to capture live or -r FILE to read a capture (netlens -D lists interfaces)".into(),
                ))
            }
        };
        let expression = cli.expression.join(" ");
        let custom = match &cli.filter_file {
            Some(path) => {
                if !expression.trim().is_empty() {
                    return Err(UsageError::Message(
                        "give the filter either with -F FILE or on the command line, not both"
                            .into(),
                    ));
                }
                let text = std::fs::read_to_string(path).map_err(|e| {
                    UsageError::Message(format!("cannot read filter file {}: {e}", path.display()))
                })?;
                // tcpdump allows comments in filter files? It does not; but blank lines are fine.
                Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            None => Some(expression),
        };
        let filter = filter::combine(&cli.preset, custom.as_deref());
        if let Some(expr) = &filter {
            // Compile once now so a typo fails before any capture starts, with libpcap's words.
            FileFilter::new(expr)?;
        }
        let save = match &cli.write {
            Some(path) => {
                let options = SaveOptions {
                    path: path.clone(),
                    format: if cli.pcapng {
                        Format::Pcapng
                    } else {
                        Format::Pcap
                    },
                    max_bytes: cli.file_size_mb.map(|mb| mb.saturating_mul(1_000_000)),
                    rotate_secs: cli.rotate_secs,
                    max_files: cli.file_count,
                    iface_names: match &source {
                        Source::Live(names) => names.clone(),
                        Source::File(_) => Vec::new(),
                    },
                };
                options.validate().map_err(UsageError::Message)?;
                Some(options)
            }
            None => None,
        };
        let jsonl = cli.jsonl.clone().map(|t| (t, cli.jsonl_packets));
        // Standard output can carry one thing: packet lines, a capture, JSON lines or the report.
        let stdout_users: Vec<&str> = [
            (save.as_ref().is_some_and(|s| s.path == "-"), "-w -"),
            (jsonl.as_ref().is_some_and(|(t, _)| t == "-"), "--jsonl -"),
            (cli.report == ReportFormat::Json, "--report json"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if stdout_users.len() > 1 {
            return Err(UsageError::Message(format!(
                "{} all write to standard output: send all but one to a file",
                stdout_users.join(" and ")
            )));
        }
        let mode = if cli.quiet || !stdout_users.is_empty() {
            None
        } else if cli.hex {
            Some(Mode::Detailed)
        } else {
            Some(cli.mode)
        };
        let live = LiveOptions {
            snaplen: cli.snaplen.min(i32::MAX as u32) as i32,
            buffer_kib: cli.buffer_kib,
            promisc: !cli.no_promisc,
            immediate: cli.immediate,
            filter: filter.clone(),
        };
        let stats_interval = match (&source, cli.stats_interval) {
            (Source::Live(_), secs) if secs > 0 => Some(Duration::from_secs(secs)),
            _ => None,
        };
        let top = usize::try_from(cli.top).unwrap_or(10);
        // Live runs keep history by default; reading a file leaves no files behind unless asked.
        let db = match (&cli.db, cli.no_db, &source) {
            (_, true, _) => None,
            (Some(path), false, _) => Some(path.clone()),
            (None, false, Source::Live(_)) => Some(std::path::PathBuf::from("netlens.db")),
            (None, false, Source::File(_)) => None,
        };
        let retention = match &cli.retention {
            Some(span) => Some(Duration::from_secs_f64(
                crate::history::parse_span(span)
                    .map_err(|e| UsageError::Message(format!("--retention {span}: {e}")))?,
            )),
            None => None,
        };
        if cli.capture == CaptureMethod::Afpacket {
            if !cfg!(target_os = "linux") {
                return Err(UsageError::Message(
                    "--capture afpacket needs Linux: use --capture libpcap".into(),
                ));
            }
            if let Source::Live(names) = &source {
                if names.len() != 1 || names[0] == "any" {
                    return Err(UsageError::Message(
                        "--capture afpacket captures one interface (not 'any'): give one -i IFACE, or use --capture libpcap".into(),
                    ));
                }
            }
        }
        let run_as = crate::privileges::target(cli.user.as_deref());
        crate::privileges::check(&run_as).map_err(UsageError::Message)?;
        let home = if cli.home_net.is_empty() {
            let mut nets = HomeNet::default_nets();
            if let Source::Live(names) = &source {
                nets.extend(interface_subnets(names));
            }
            nets
        } else {
            cli.home_net.clone()
        };
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let engine = EngineConfig {
            flows: FlowConfig {
                idle: Duration::from_secs(cli.idle_timeout),
                tcp_closed: Duration::from_secs(cli.tcp_closed_timeout),
                active: Duration::from_secs(cli.active_timeout),
                max_flows: to_usize(cli.max_flows),
            },
            max_hosts: to_usize(cli.max_hosts),
            home: HomeNet::new(home),
            top,
        };
        // clap's `requires` does not see flags whose value is optional, so check here.
        if cli.pace.is_some() && !matches!(source, Source::File(_)) {
            return Err(UsageError::Message(
                "--pace replays a file: use it with -r FILE".into(),
            ));
        }
        if cli.web_token.is_some() && cli.web.is_none() {
            return Err(UsageError::Message("--web-token needs --web".into()));
        }
        if cli.web_token.as_deref().is_some_and(str::is_empty) {
            return Err(UsageError::Message("--web-token must not be empty".into()));
        }
        let web = cli.web.map(|addr| crate::ui::web::WebOptions {
            addr,
            token: cli.web_token.clone(),
            db: db.clone(),
        });
        let alerts = alerts_from_cli(cli)?;
        Ok(Config {
            source,
            filter,
            count: cli.count,
            live,
            capture: cli.capture,
            mode,
            hex_all: cli.hex,
            color_stdout: cli.color.enabled_for(&std::io::stdout()),
            color_stderr: cli.color.enabled_for(&std::io::stderr()),
            stats_interval,
            report: cli.report,
            top,
            engine,
            workers: usize::try_from(cli.workers).unwrap_or(1),
            db,
            store_packets: cli.store_packets,
            retention,
            save,
            jsonl,
            run_as,
            web,
            pace: cli.pace,
            alerts,
        })
    }
}

/// Detector thresholds: defaults, then the TOML file, then the flags.
fn alerts_from_cli(cli: &Cli) -> Result<AlertsConfig, UsageError> {
    let mut c = match &cli.alerts_config {
        Some(path) => alerts_config::load(path).map_err(UsageError::Message)?,
        None => AlertsConfig::default(),
    };
    if cli.no_alerts {
        c.enabled = false;
    } else if cli.alerts {
        c.enabled = true;
    }
    c.external.allow.extend(cli.alerts_allow.iter().copied());
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    if let Some(n) = cli.scan_ports {
        c.port_scan.vertical_ports = to_usize(n);
    }
    if let Some(n) = cli.scan_hosts {
        c.port_scan.horizontal_hosts = to_usize(n);
    }
    if let Some(n) = cli.syn_flood {
        c.syn_flood.half_open_per_sec = n;
    }
    if let Some(n) = cli.host_pps {
        c.rate.host_pps = n;
    }
    Ok(c)
}

/// Whether the interactive set-up may ask questions: only with a person at a terminal.
pub fn can_prompt() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The subnets of the capture interfaces (an address with its netmask), which count as local.
fn interface_subnets(names: &[String]) -> Vec<ipnet::IpNet> {
    let Ok(devices) = crate::capture::interfaces::list() else {
        return Vec::new();
    };
    devices
        .iter()
        .filter(|d| names.iter().any(|n| n == &d.name || n == "any"))
        .flat_map(|d| d.addresses.iter())
        .filter_map(|a| {
            let mask = a.netmask?;
            ipnet::IpNet::with_netmask(a.addr, mask)
                .ok()
                .map(|n| n.trunc())
        })
        .collect()
}
