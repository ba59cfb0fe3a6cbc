//! Command-line flags. tcpdump's short flags mean the same here (`-i -r -c -n -s -B -p -F -q -X
//! -D`); everything else has a long name. Nothing past [`crate::config`] reads these raw flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::capture::filter::Preset;
use crate::ui::console::printer::Mode;
use crate::ui::console::style::ColorChoice;

/// `--report` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// A readable summary on stderr.
    #[default]
    Text,
    /// One JSON document on stdout, and no packet lines.
    Json,
    /// No final report.
    None,
}

/// `--capture` values: how live packets are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CaptureMethod {
    /// AF_PACKET rings (one per worker) on one Ethernet-framed Linux interface other than
    /// 'any'; libpcap for several interfaces, 'any', other link types, other platforms, or when
    /// the rings cannot be opened (said in one line).
    #[default]
    Auto,
    /// One libpcap handle per interface (every platform).
    Libpcap,
    /// One AF_PACKET TPACKET_V3 ring per worker, several in a fanout group (Linux, one
    /// interface).
    Afpacket,
}

const EXAMPLES: &str = "\
Examples:
  netlens                          interactive set-up (on a terminal)
  netlens -D                       list capture interfaces
  sudo netlens -i eth0             live packet log with statistics every 5 s
  sudo netlens -i eth0 -i wlan0 --preset web
  netlens -r capture.pcap --mode detailed 'tcp port 443'
  netlens -r capture.pcapng -q --report json > report.json
  tcpdump -w - | netlens -r -      read a capture from standard input
  netlens -r capture.pcap --web --pace   web dashboard at http://127.0.0.1:8787/, replayed in real time
  netlens serve --db netlens.db    web dashboard over the history alone";

/// netlens: a network traffic monitor. Watches live interfaces or reads pcap/pcapng files,
/// prints a colored packet log and reports what the traffic was.
#[derive(Debug, Parser)]
// `args_conflicts_with_subcommands`: once a capture flag is given, later words are the filter
// expression, never a subcommand (`netlens -r f report` filters on the word "report").
#[command(
    name = "netlens",
    version,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// History commands over a database written with --db: report, chart, export.
    #[command(subcommand)]
    pub command: Option<crate::history::Command>,

    /// List the interfaces available for capture and exit.
    #[arg(help_heading = "Capture", short = 'D', long = "list-interfaces")]
    pub list_interfaces: bool,

    /// Capture live on IFACE ('any' for all on Linux). Repeat to watch several interfaces.
    #[arg(
        help_heading = "Capture",
        short = 'i',
        long = "interface",
        value_name = "IFACE"
    )]
    pub interfaces: Vec<String>,

    /// Read packets from a pcap or pcapng FILE ('-' for standard input).
    #[arg(
        help_heading = "Capture",
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "interfaces"
    )]
    pub read: Option<String>,

    /// Stop after COUNT packets (after filtering).
    #[arg(help_heading = "Capture", short = 'c', long = "count", value_name = "COUNT",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Don't resolve names. Accepted for tcpdump habits: netlens never sends traffic to resolve
    /// anything, so this is always the case.
    #[arg(help_heading = "Capture", short = 'n', action = clap::ArgAction::Count)]
    pub no_resolve: u8,

    /// Capture at most SNAPLEN bytes of each packet (live capture).
    #[arg(help_heading = "Capture", short = 's', long = "snapshot-length", value_name = "SNAPLEN", default_value_t = 262_144,
          value_parser = clap::value_parser!(u32).range(1..=262_144))]
    pub snaplen: u32,

    /// Kernel capture buffer size in KiB (live capture). With AF_PACKET rings it is the total
    /// over all rings (default 65536, i.e. 64 MiB); with libpcap, per interface.
    #[arg(help_heading = "Capture", short = 'B', long = "buffer-size", value_name = "KiB",
          value_parser = clap::value_parser!(u32).range(1..=4_194_304))]
    pub buffer_kib: Option<u32>,

    /// Don't put the interface into promiscuous mode.
    #[arg(help_heading = "Capture", short = 'p', long = "no-promiscuous-mode")]
    pub no_promisc: bool,

    /// Deliver packets as soon as they arrive instead of in kernel batches (interactive use).
    #[arg(help_heading = "Capture", long = "immediate-mode")]
    pub immediate: bool,

    /// After opening the capture, run as USER (like tcpdump -Z). Started through sudo, netlens
    /// switches to the user who ran sudo unless told otherwise; '-Z root' keeps root.
    #[arg(
        help_heading = "Capture",
        short = 'Z',
        long = "relinquish-privileges",
        value_name = "USER"
    )]
    pub user: Option<String>,

    /// Read the filter expression from FILE.
    #[arg(help_heading = "Capture", short = 'F', value_name = "FILE")]
    pub filter_file: Option<PathBuf>,

    /// A ready-made filter; combine several (any matches) and with an expression (both must).
    #[arg(help_heading = "Capture", long, value_enum, value_name = "PRESET")]
    pub preset: Vec<Preset>,

    /// How to show each packet.
    #[arg(help_heading = "Display and report", long, value_enum, default_value_t = Mode::Compact)]
    pub mode: Mode,

    /// Show the whole payload in hex and ASCII (implies --mode detailed).
    #[arg(help_heading = "Display and report", short = 'X')]
    pub hex: bool,

    /// No packet lines: statistics and the final report only.
    #[arg(help_heading = "Display and report", short = 'q', long)]
    pub quiet: bool,

    /// When to use colors.
    #[arg(help_heading = "Display and report", long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Seconds between live statistics lines on stderr; 0 turns them off.
    #[arg(
        help_heading = "Display and report",
        long,
        value_name = "SECS",
        default_value_t = 5
    )]
    pub stats_interval: u64,

    /// Final report format.
    #[arg(help_heading = "Display and report", long, value_enum, default_value_t = ReportFormat::Text, value_name = "FORMAT")]
    pub report: ReportFormat,

    /// Rows in each top-N list of the report.
    #[arg(help_heading = "Display and report", long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub top: u64,

    /// Write the packets (after the filter) to FILE as pcap ('-' for standard output), like
    /// tcpdump -w. Add -q to write without the packet log.
    #[arg(
        help_heading = "Writing packets and flows",
        short = 'w',
        long = "write",
        value_name = "FILE"
    )]
    pub write: Option<String>,

    /// Write pcapng (interface blocks with names) instead of pcap.
    #[arg(help_heading = "Writing packets and flows", long, requires = "write")]
    pub pcapng: bool,

    /// Start a new -w file before it would exceed MB million bytes (FILE, FILE1, FILE2, ...).
    #[arg(help_heading = "Writing packets and flows", short = 'C', long = "file-size", value_name = "MB", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub file_size_mb: Option<u64>,

    /// Start a new -w file every SECS seconds of packet time; FILE is a strftime pattern (UTC).
    #[arg(help_heading = "Writing packets and flows", short = 'G', long = "rotate-seconds", value_name = "SECS", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub rotate_secs: Option<u64>,

    /// With -C: keep COUNT files, reusing the oldest (a ring). With -G alone: stop after
    /// COUNT files.
    #[arg(help_heading = "Writing packets and flows", short = 'W', long = "file-count", value_name = "COUNT", requires = "write",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub file_count: Option<u32>,

    /// Stream one JSON object per line to FILE ('-' for standard output): each flow record
    /// as its flow ends.
    #[arg(help_heading = "Writing packets and flows", long, value_name = "FILE")]
    pub jsonl: Option<String>,

    /// With --jsonl: also one line per packet.
    #[arg(help_heading = "Writing packets and flows", long, requires = "jsonl")]
    pub jsonl_packets: bool,

    /// Keep history in this SQLite file. Live capture writes ./netlens.db unless --no-db;
    /// reading a file writes only when --db is given.
    #[arg(help_heading = "History (SQLite)", long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,

    /// Keep no history, not even during live capture.
    #[arg(help_heading = "History (SQLite)", long, conflicts_with = "db")]
    pub no_db: bool,

    /// Also store one row per packet in the history (table `packets`).
    #[arg(help_heading = "History (SQLite)", long)]
    pub store_packets: bool,

    /// Delete history older than SPAN (e.g. 7d, 12h, 30m); default: keep everything.
    #[arg(help_heading = "History (SQLite)", long, value_name = "SPAN")]
    pub retention: Option<String>,

    /// Threads that account packets (flows, hosts, counters). With more than one, packets are
    /// spread by address pair; the results are the same as with one.
    #[arg(help_heading = "Flows and hosts", long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,

    /// How to capture live: 'afpacket' (Linux: one kernel ring per worker, packets spread by
    /// flow), 'libpcap', or 'auto' (afpacket on one Ethernet-framed interface, else libpcap).
    #[arg(long = "capture", value_enum, default_value_t = CaptureMethod::Auto, value_name = "METHOD")]
    pub capture: CaptureMethod,

    /// Seconds without packets after which a flow ends.
    #[arg(help_heading = "Flows and hosts", long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,

    /// Seconds a flow is kept once over: TCP after FIN both ways or RST, a UDP DNS exchange
    /// once every query has its response, NTP once every request has its reply, a ping once
    /// its latest request has, ICMP errors (when the flow carried nothing else) at once.
    #[arg(help_heading = "Flows and hosts", long, value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub tcp_closed_timeout: u64,

    /// Seconds after which a long-running flow is reported in slices (as NetFlow does).
    #[arg(help_heading = "Flows and hosts", long, value_name = "SECS", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub active_timeout: u64,

    /// Most flows tracked at once; when full, the idlest is ended and counted as evicted.
    #[arg(help_heading = "Flows and hosts", long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_flows: u64,

    /// Most hosts tracked at once; when full, the idlest is evicted.
    #[arg(help_heading = "Flows and hosts", long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_hosts: u64,

    /// Networks that count as local (repeat, or comma-separated CIDRs). Default: RFC 1918,
    /// RFC 4193, link-local, loopback, and the capture interfaces' own subnets.
    #[arg(
        help_heading = "Flows and hosts",
        long,
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub home_net: Vec<ipnet::IpNet>,

    /// Serve the web dashboard on ADDR:PORT (default 127.0.0.1:8787) during the run; with -r
    /// it keeps serving after the file ends, until Ctrl-C. Non-loopback addresses need a token.
    #[arg(help_heading = "Web dashboard", long, value_name = "ADDR:PORT", num_args = 0..=1,
          default_missing_value = crate::ui::web::DEFAULT_ADDR)]
    pub web: Option<std::net::SocketAddr>,

    /// Token the dashboard requires (generated and printed once when --web binds a
    /// non-loopback address and none is given).
    #[arg(
        help_heading = "Web dashboard",
        long,
        value_name = "TOKEN",
        requires = "web"
    )]
    pub web_token: Option<String>,

    /// Replay -r FILE at its recorded speed, or N times faster (x10), as if live.
    #[arg(help_heading = "Web dashboard", long, value_name = "xN", num_args = 0..=1, default_missing_value = "x1",
          requires = "read", value_parser = crate::capture::pace::parse_speed)]
    pub pace: Option<f64>,

    /// Run the security detectors (the default): scans, floods, ARP spoofing, DNS tunnels,
    /// cleartext credentials. Alerts go to stderr, the report and the history.
    #[arg(help_heading = "Security alerts", long, overrides_with = "no_alerts")]
    pub alerts: bool,

    /// Run no security detector.
    #[arg(help_heading = "Security alerts", long, overrides_with = "alerts")]
    pub no_alerts: bool,

    /// Detector thresholds from a TOML FILE (see README, "Alerts"); flags below override it.
    #[arg(help_heading = "Security alerts", long, value_name = "FILE")]
    pub alerts_config: Option<PathBuf>,

    /// Remote networks home hosts may reach without an alert; giving any turns on the
    /// leaving-the-home-network alert (repeat, or comma-separated CIDRs).
    #[arg(
        help_heading = "Security alerts",
        long,
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub alerts_allow: Vec<ipnet::IpNet>,

    /// Vertical port scan: unanswered probes to N ports of one target within the window.
    #[arg(help_heading = "Security alerts", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub scan_ports: Option<u64>,

    /// Horizontal port scan: unanswered probes to one port on N targets within the window.
    #[arg(help_heading = "Security alerts", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub scan_hosts: Option<u64>,

    /// SYN flood: N half-open connections to one target port within one second.
    #[arg(help_heading = "Security alerts", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub syn_flood: Option<u64>,

    /// High rate: one host sending or receiving more than N packets per second (0: no limit).
    #[arg(help_heading = "Security alerts", long, value_name = "N")]
    pub host_pps: Option<u64>,

    /// BPF filter expression (tcpdump syntax), e.g. 'tcp port 80 and host 10.0.0.1'.
    #[arg(value_name = "EXPRESSION")]
    pub expression: Vec<String>,
}
