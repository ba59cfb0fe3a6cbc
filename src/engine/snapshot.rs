//! The engine's state at an instant, shared read-only (DESIGN.md, "snapshot").
//!
//! The capture thread builds a [`Snapshot`] from its engine about once a second of wall-clock
//! time (and once more at the end) and publishes it through an `ArcSwap`; readers (the web
//! server, later the console and alert readers) load the latest one and never lock the engine.
//! A snapshot is plain owned data: building it costs the capture thread one pass over hosts and
//! flows per publication, and readers may keep it as long as they like.
//!
//! Lists are bounded (the largest rows first) so one publication stays small whatever the
//! traffic: a million hosts must not become a million-row JSON document every second.

use std::cmp::Ordering;
use std::net::IpAddr;

use serde::Serialize;

use super::flow::{Flow, FlowKey, TcpState};
use super::hosts::{Host, Names};
use super::series::Point;
use super::stats::{span_secs, Counter, Stats, APP_NAMES, L3_NAMES, L4_NAMES};
use super::Engine;
use crate::store::query::AlertInfo;
use crate::time::Timestamp;
use crate::ui::console::fragments::ip_proto_name;
use crate::ui::console::report::Drops;

/// Rows of the host table.
pub const MAX_HOSTS: usize = 500;
/// Rows of the active-connections table.
pub const MAX_FLOWS: usize = 300;
/// Rows of the top sources and destinations.
pub const MAX_TALKERS: usize = 10;
/// Address pairs drawn on the network map: more than this is a hairball on a card-sized map.
pub const MAX_EDGES: usize = 40;
/// Seconds of the live timeline (the engine keeps 600; five minutes reads well and halves the
/// size of every push).
pub const SERIES_SECONDS: usize = 300;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Nothing published yet.
    #[default]
    Starting,
    /// Packets are being read or captured.
    Running,
    /// The input ended (or capture stopped); the numbers are final.
    Finished,
    /// No capture: `netlens serve` shows a history database only.
    History,
}

/// Packets and bytes of one protocol or application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    pub name: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// One host, with what it sent and received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    pub ip: IpAddr,
    /// Names learned passively (DNS answers, TLS SNI, HTTP Host): untrusted text.
    pub names: Vec<String>,
    pub local: bool,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub flows_initiated: u64,
    pub flows_accepted: u64,
    pub peers: u64,
    pub first_ts: f64,
    pub last_ts: f64,
}

/// One active flow, client (the side that started it) first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRow {
    /// Orders flows of equal size the same way, whichever shard they come from.
    #[serde(skip)]
    pub key: FlowKey,
    pub protocol: &'static str,
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    pub state: TcpState,
    pub app: &'static str,
    /// SNI, HTTP Host or DNS question: untrusted text.
    pub name: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    /// Average bits per second over the flow's life so far (at least one second).
    pub bps: f64,
}

/// Two hosts that talked, both directions added: an edge of the network map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub a: IpAddr,
    pub b: IpAddr,
    pub a_local: bool,
    pub b_local: bool,
    pub a_name: Option<String>,
    pub b_name: Option<String>,
    pub packets: u64,
    pub bytes: u64,
}

/// One line of the recent-packets table: the compact log line without colors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PacketLine {
    pub ts: f64,
    pub proto: &'static str,
    pub len: u32,
    /// Endpoints, flags and the application hint, as the compact log prints them: untrusted
    /// text (it quotes DNS names, HTTP hosts and paths).
    pub summary: String,
}

/// What the publisher adds to the engine's numbers.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub seq: u64,
    pub source: String,
    pub state: RunState,
    pub drops: Drops,
    pub packets: Vec<PacketLine>,
    /// The present in packet time, when it is the wall clock (live capture): a quiet interface
    /// then reads as zero packets per second rather than as the last busy second. Files leave
    /// it unset, and their present is their newest packet.
    pub now: Option<Timestamp>,
    /// The alerts raised so far (the detectors run on the pipeline thread, not in the engine).
    pub alerts: Vec<AlertInfo>,
}

/// The engine's state at an instant. Field names match `--report json` where both have them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Publication number: a reader that saw this number has seen this snapshot.
    pub seq: u64,
    pub source: String,
    pub state: RunState,
    /// True when only totals and the transport mix are known: the `--workers` shards did not
    /// answer for a view (see [`Snapshot::from_totals`]).
    pub partial: bool,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub duration_secs: f64,
    /// Packets and bits per second over the last complete second of packet time (running), or
    /// averaged over the whole capture (finished).
    pub pps: f64,
    pub bps: f64,
    pub active_flows: Option<u64>,
    pub hosts: Option<u64>,
    pub drops: Drops,
    /// Network then transport classes, in `--report json` order.
    pub protocols: Vec<Named>,
    pub apps: Vec<Named>,
    /// Hosts that sent the most bytes, and that received the most.
    pub top_sources: Vec<HostRow>,
    pub top_destinations: Vec<HostRow>,
    /// The hosts with the most bytes (in + out), at most [`MAX_HOSTS`].
    pub host_table: Vec<HostRow>,
    /// Active flows with the most bytes, at most [`MAX_FLOWS`].
    pub flows: Vec<FlowRow>,
    pub edges: Vec<Edge>,
    /// Per-second points of the last [`SERIES_SECONDS`], oldest first.
    pub series: Vec<Point>,
    /// The last decoded packets, oldest first.
    pub recent_packets: Vec<PacketLine>,
    /// Alerts (filled once detectors exist; empty until then).
    pub alerts: Vec<AlertInfo>,
}

impl Snapshot {
    /// The full picture from one engine (inline accounting, or the merged engine at the end).
    pub fn from_engine(engine: &Engine, ctx: Context) -> Snapshot {
        let all_hosts = engine.hosts_now();
        let hosts: Vec<(IpAddr, &Host)> = all_hosts.iter().map(|(ip, h)| (*ip, h)).collect();
        let names = |ip: &IpAddr| -> Vec<String> {
            engine
                .hosts
                .names(ip)
                .into_iter()
                .map(String::from)
                .collect()
        };
        let mut edges = edges(engine);
        name_edges(&mut edges, names);
        assemble(
            Totals::of(&engine.stats),
            last_seconds(engine.series.per_second.points().copied().collect()),
            &hosts,
            names,
            flow_rows(engine),
            edges,
            engine.flows.active() as u64,
            ctx,
        )
    }

    /// The full picture from the `--workers` shards' parts (about once a second while the run
    /// goes on): the totals, series and hosts added up, the largest flows and address pairs of
    /// all (each lives in one shard).
    pub fn from_parts(parts: Vec<Part>, ctx: Context) -> Snapshot {
        let mut totals = Totals::default();
        let mut series: Vec<Point> = Vec::new();
        let mut hosts: hashbrown::HashMap<IpAddr, Host> = hashbrown::HashMap::new();
        let mut names: hashbrown::HashMap<IpAddr, Names> = hashbrown::HashMap::new();
        let mut flows = Vec::new();
        let mut edges = Vec::new();
        let mut active = 0;
        for part in parts {
            totals.add(&part.totals);
            series.extend(part.series);
            for (ip, h) in part.hosts {
                match hosts.entry(ip) {
                    hashbrown::hash_map::Entry::Occupied(mut e) => e.get_mut().add(h),
                    hashbrown::hash_map::Entry::Vacant(e) => {
                        e.insert(h);
                    }
                }
            }
            for (ip, more) in part.names {
                // By the packets that showed them, as the shards' names merge at the end.
                names.entry(ip).or_default().merge(more);
            }
            flows.extend(part.flows);
            edges.extend(part.edges);
            active += part.active_flows;
        }
        series.sort_by_key(|p| p.t);
        series.dedup_by(|later, kept| {
            let same = later.t == kept.t;
            if same {
                kept.add(later);
            }
            same
        });
        let flows = largest(flows, MAX_FLOWS, |f| ((f.bytes, f.packets), f.key));
        let mut edges = largest(edges, MAX_EDGES, |e| ((e.bytes, e.packets), (e.a, e.b)));
        let name = |ip: &IpAddr| -> Vec<String> {
            names
                .get(ip)
                .map_or_else(Vec::new, |n| n.items().map(|s| s.to_string()).collect())
        };
        name_edges(&mut edges, name);
        let hosts: Vec<(IpAddr, &Host)> = hosts.iter().map(|(ip, h)| (*ip, h)).collect();
        assemble(
            totals,
            last_seconds(series),
            &hosts,
            name,
            flows,
            edges,
            active,
            ctx,
        )
    }

    /// The addresses a snapshot names: its host rows and map ends. The shards are asked for
    /// these names with the next parts.
    pub fn named_addresses(&self) -> Vec<IpAddr> {
        let mut all: Vec<IpAddr> = self
            .top_sources
            .iter()
            .chain(&self.top_destinations)
            .chain(&self.host_table)
            .map(|h| h.ip)
            .chain(self.edges.iter().flat_map(|e| [e.a, e.b]))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// What the pipeline thread knows by itself when the `--workers` shards cannot give their
    /// parts (a shard failed): totals and the transport mix counted as packets are dispatched.
    pub fn from_totals(total: Counter, l4: &[u64; 5], ctx: Context) -> Snapshot {
        let l4: Vec<Named> = L4_NAMES
            .iter()
            .zip(l4)
            .map(|(name, packets)| Named {
                name,
                packets: *packets,
                bytes: 0,
            })
            .collect();
        Snapshot {
            seq: ctx.seq,
            source: ctx.source,
            state: ctx.state,
            partial: true,
            packets: total.packets,
            bytes: total.bytes,
            drops: ctx.drops,
            protocols: l4,
            recent_packets: ctx.packets,
            alerts: ctx.alerts,
            ..Snapshot::default()
        }
    }
}

fn rate(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Totals and protocol counters, as a snapshot shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub total: Counter,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub l3: [Counter; 4],
    pub l4: [Counter; 5],
    pub apps: [Counter; 5],
}

impl Totals {
    fn of(stats: &Stats) -> Totals {
        Totals {
            total: stats.total,
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
            l3: stats.l3,
            l4: stats.l4,
            apps: stats.apps,
        }
    }

    fn add(&mut self, other: &Totals) {
        self.total.merge(other.total);
        self.first_ts = match (self.first_ts, other.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = self.last_ts.max(other.last_ts);
        for (mine, theirs) in self
            .l3
            .iter_mut()
            .chain(&mut self.l4)
            .chain(&mut self.apps)
            .zip(other.l3.iter().chain(&other.l4).chain(&other.apps))
        {
            mine.merge(*theirs);
        }
    }

    fn duration_secs(&self) -> f64 {
        span_secs(self.first_ts, self.last_ts)
    }
}

/// One engine's share of a snapshot, made on a `--workers` shard's thread and merged on the
/// pipeline thread by [`Snapshot::from_parts`]. Bounded like a snapshot, except for hosts: a
/// host's traffic is spread over the shards of its address pairs, so each shard sends every
/// host it has (as a single engine copies its whole table for a snapshot).
#[derive(Debug, Clone, Default)]
pub struct Part {
    totals: Totals,
    series: Vec<Point>,
    hosts: Vec<(IpAddr, Host)>,
    /// Names this shard knows for the addresses asked for.
    names: Vec<(IpAddr, Names)>,
    /// This shard's largest open flows and address pairs: each lives in one shard, so the
    /// largest of all are among them.
    flows: Vec<FlowRow>,
    edges: Vec<Edge>,
    active_flows: u64,
}

impl Part {
    /// `engine`'s share, with the names it knows for `wanted` (the addresses the previous
    /// snapshot showed: a name often lives in another shard than its host's traffic).
    pub fn of(engine: &Engine, wanted: &[IpAddr]) -> Part {
        Part {
            totals: Totals::of(&engine.stats),
            series: last_seconds(engine.series.per_second.points().copied().collect()),
            hosts: engine.hosts_now(),
            names: wanted
                .iter()
                .filter_map(|ip| Some((*ip, engine.hosts.names_of(ip)?.clone())))
                .collect(),
            flows: flow_rows(engine),
            edges: edges(engine),
            active_flows: engine.flows.active() as u64,
        }
    }
}

/// Builds a snapshot from what one engine, or the shards together, hold.
#[allow(clippy::too_many_arguments)]
fn assemble(
    totals: Totals,
    series: Vec<Point>,
    hosts: &[(IpAddr, &Host)],
    names: impl Fn(&IpAddr) -> Vec<String>,
    flows: Vec<FlowRow>,
    edges: Vec<Edge>,
    active_flows: u64,
    ctx: Context,
) -> Snapshot {
    let duration = totals.duration_secs();
    let (pps, bps) = match ctx.state {
        RunState::Running => last_complete_second(&series, ctx.now.max(totals.last_ts)),
        _ => (
            rate(totals.total.packets, duration),
            rate(totals.total.bytes.saturating_mul(8), duration),
        ),
    };
    let top = |n: usize, key: fn(&Host) -> (u64, u64)| -> Vec<HostRow> {
        largest(hosts.to_vec(), n, |(ip, h)| (key(h), *ip))
            .into_iter()
            .map(|(ip, h)| host_row(ip, h, names(&ip)))
            .collect()
    };
    Snapshot {
        seq: ctx.seq,
        source: ctx.source,
        state: ctx.state,
        partial: false,
        packets: totals.total.packets,
        bytes: totals.total.bytes,
        first_ts: totals.first_ts.map(Timestamp::as_secs_f64),
        last_ts: totals.last_ts.map(Timestamp::as_secs_f64),
        duration_secs: duration,
        pps,
        bps,
        active_flows: Some(active_flows),
        hosts: Some(hosts.len() as u64),
        drops: ctx.drops,
        protocols: protocols(&totals.l3, &totals.l4),
        apps: named(&APP_NAMES, &totals.apps),
        top_sources: top(MAX_TALKERS, |h| (h.bytes_out, h.packets_out)),
        top_destinations: top(MAX_TALKERS, |h| (h.bytes_in, h.packets_in)),
        host_table: top(MAX_HOSTS, |h| (h.bytes(), h.packets())),
        flows,
        edges,
        series,
        recent_packets: ctx.packets,
        alerts: ctx.alerts,
    }
}

/// The newest [`SERIES_SECONDS`] points.
fn last_seconds(mut all: Vec<Point>) -> Vec<Point> {
    let skip = all.len().saturating_sub(SERIES_SECONDS);
    all.drain(..skip);
    all
}

/// The second before the newest packet's second is the last one known to be complete; a quiet
/// second (no point) is a rate of zero.
fn last_complete_second(series: &[Point], last: Option<Timestamp>) -> (f64, f64) {
    let Some(last) = last else {
        return (0.0, 0.0);
    };
    let t = last.0.div_euclid(Timestamp::NANOS_PER_SEC) - 1;
    series
        .iter()
        .rev()
        .find(|p| p.t == t)
        .map_or((0.0, 0.0), |p| {
            (p.packets as f64, p.bytes.saturating_mul(8) as f64)
        })
}

fn named(names: &[&'static str], counters: &[Counter]) -> Vec<Named> {
    names
        .iter()
        .zip(counters)
        .map(|(name, c)| Named {
            name,
            packets: c.packets,
            bytes: c.bytes,
        })
        .collect()
}

fn protocols(l3: &[Counter], l4: &[Counter]) -> Vec<Named> {
    let mut all = named(&L3_NAMES, l3);
    all.extend(named(&L4_NAMES, l4));
    all
}

/// The `n` largest items by `key`, largest first; equal keys keep a fixed order because keys
/// end with an identity. Partitions before sorting, so a large table costs O(len) per call.
fn largest<T, K: Ord, I: Ord>(mut items: Vec<T>, n: usize, key: impl Fn(&T) -> (K, I)) -> Vec<T> {
    let cmp = |a: &T, b: &T| -> Ordering {
        let (ka, ia) = key(a);
        let (kb, ib) = key(b);
        kb.cmp(&ka).then(ia.cmp(&ib))
    };
    if n == 0 {
        return Vec::new();
    }
    if items.len() > n {
        items.select_nth_unstable_by(n - 1, cmp);
        items.truncate(n);
    }
    items.sort_by(cmp);
    items
}

fn host_row(ip: IpAddr, h: &Host, names: Vec<String>) -> HostRow {
    HostRow {
        ip,
        names,
        local: h.local,
        packets_in: h.packets_in,
        bytes_in: h.bytes_in,
        packets_out: h.packets_out,
        bytes_out: h.bytes_out,
        flows_initiated: h.flows_initiated,
        flows_accepted: h.flows_accepted,
        peers: h.peers,
        first_ts: h.first_ts.as_secs_f64(),
        last_ts: h.last_ts.as_secs_f64(),
    }
}

/// The largest open flows of `engine`, at most [`MAX_FLOWS`].
fn flow_rows(engine: &Engine) -> Vec<FlowRow> {
    largest(engine.flows.iter().collect(), MAX_FLOWS, |(k, f)| {
        ((f.total().bytes, f.total().packets), **k)
    })
    .into_iter()
    .map(|(k, f)| flow_row(k, f))
    .collect()
}

fn flow_row(key: &FlowKey, f: &Flow) -> FlowRow {
    let client = key.sender(f.initiator);
    let server = key.sender(f.initiator.reverse());
    let to_server = f.counters[f.initiator.index()];
    let to_client = f.counters[f.initiator.reverse().index()];
    let total = f.total();
    let life = f.last_ts.secs_since(f.record_start).max(1.0);
    FlowRow {
        key: *key,
        protocol: ip_proto_name(key.proto),
        client: client.addr,
        client_port: client.port,
        server: server.addr,
        server_port: server.port,
        state: f.tcp,
        app: f.app.name(),
        name: f.name.as_deref().map(String::from),
        packets: total.packets,
        bytes: total.bytes,
        bytes_to_server: to_server.bytes,
        bytes_to_client: to_client.bytes,
        first_ts: f.first_ts.as_secs_f64(),
        last_ts: f.last_ts.as_secs_f64(),
        bps: total.bytes.saturating_mul(8) as f64 / life,
    }
}

/// The address pairs with the most bytes, both directions of a pair as one edge (names are
/// added by [`name_edges`]).
fn edges(engine: &Engine) -> Vec<Edge> {
    let mut undirected: hashbrown::HashMap<(IpAddr, IpAddr), Counter> = hashbrown::HashMap::new();
    for ((src, dst), c) in engine.pairs_now() {
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        undirected.entry(key).or_default().merge(c);
    }
    largest(undirected.into_iter().collect(), MAX_EDGES, |(k, c)| {
        ((c.bytes, c.packets), *k)
    })
    .into_iter()
    .map(|((a, b), c)| Edge {
        a,
        b,
        a_local: engine.hosts.is_local(&a),
        b_local: engine.hosts.is_local(&b),
        a_name: None,
        b_name: None,
        packets: c.packets,
        bytes: c.bytes,
    })
    .collect()
}

/// Each end of each edge by its first name.
fn name_edges(edges: &mut [Edge], names: impl Fn(&IpAddr) -> Vec<String>) {
    for e in edges {
        e.a_name = names(&e.a).into_iter().next();
        e.b_name = names(&e.b).into_iter().next();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_keeps_the_biggest_in_order_with_ties_by_identity() {
        let items = vec![(5u64, 'a'), (9, 'b'), (5, 'c'), (1, 'd'), (9, 'e')];
        let top = largest(items, 3, |(n, id)| (*n, *id));
        assert_eq!(top, vec![(9, 'b'), (9, 'e'), (5, 'a')]);
        assert!(largest(vec![1u64], 0, |n| (*n, 0)).is_empty());
    }

    #[test]
    fn current_rate_is_the_last_complete_second() {
        let p = |t, packets, bytes| Point {
            t,
            packets,
            bytes,
            ..Point::default()
        };
        let series = vec![p(10, 4, 100), p(11, 7, 200), p(12, 1, 10)];
        let at = |s: i64| Some(Timestamp(s * Timestamp::NANOS_PER_SEC + 5));
        assert_eq!(last_complete_second(&series, at(12)), (7.0, 1600.0));
        // A quiet second reads as zero, not as the last busy one.
        assert_eq!(last_complete_second(&series, at(14)), (0.0, 0.0));
        assert_eq!(last_complete_second(&series, None), (0.0, 0.0));
    }
}
