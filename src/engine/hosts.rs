//! Hosts: per IP address, what it sent and received, the flows it started and accepted, how
//! many peers it talked to, when it was seen, its MAC addresses, whether it is local, and the
//! names it is known by — learned passively from DNS answers, TLS SNI and HTTP Host headers,
//! never by sending a query.
//!
//! Bounded: when `max_hosts` is reached the idlest host is evicted (and counted). Names live in
//! their own bounded table so a DNS answer can name an address before it sends any traffic.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use wire::dns::RData;
use wire::http::HttpSummary;
use wire::link::Mac;
use wire::packet::App;
use wire::Packet;

use super::lru::LruMap;
use crate::time::Timestamp;

/// Names kept per address; the first ones seen win.
const MAX_NAMES: usize = 4;
/// MAC addresses kept per host (a router's IP behind several MACs is itself a finding).
const MAX_MACS: usize = 4;
/// Longest name kept (DNS names are at most 253 characters: RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Host {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub flows_initiated: u64,
    pub flows_accepted: u64,
    pub peers: u64,
    #[serde(skip)]
    pub first_ts: Timestamp,
    #[serde(skip)]
    pub last_ts: Timestamp,
    #[serde(skip)]
    pub macs: Vec<Mac>,
    pub local: bool,
}

impl Host {
    pub fn packets(&self) -> u64 {
        self.packets_out + self.packets_in
    }
    pub fn bytes(&self) -> u64 {
        self.bytes_out.saturating_add(self.bytes_in)
    }
}

/// Which addresses are "ours": `--home-net`, by default the private and link-local ranges.
#[derive(Debug, Clone)]
pub struct HomeNet {
    nets: Vec<IpNet>,
}

impl HomeNet {
    /// RFC 1918, RFC 4193 (unique local), link-local (RFC 3927, RFC 4291), loopback.
    pub const DEFAULT: [&'static str; 8] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "127.0.0.0/8",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    ];

    pub fn new(nets: Vec<IpNet>) -> Self {
        HomeNet { nets }
    }

    pub fn default_nets() -> Vec<IpNet> {
        Self::DEFAULT
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(addr))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct HostCounts {
    pub evicted: u64,
}

pub struct Hosts {
    table: LruMap<IpAddr, Host>,
    names: LruMap<IpAddr, Vec<Box<str>>>,
    home: HomeNet,
    max_hosts: usize,
    pub counts: HostCounts,
}

impl Hosts {
    pub fn new(home: HomeNet, max_hosts: usize) -> Self {
        Hosts {
            table: LruMap::new(),
            names: LruMap::new(),
            home,
            max_hosts: max_hosts.max(1),
            counts: HostCounts::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn entry(&mut self, addr: IpAddr, ts: Timestamp) -> &mut Host {
        if self.table.len() >= self.max_hosts && self.table.get(&addr).is_none() {
            self.table.pop_oldest();
            self.counts.evicted += 1;
        }
        let local = &self.home;
        self.table.touch_or_insert_with(addr, || Host {
            first_ts: ts,
            last_ts: ts,
            local: local.contains(&addr),
            ..Host::default()
        })
    }

    /// Accounts one IP packet to its source and destination hosts.
    pub fn observe(&mut self, packet: &Packet<'_>, ts: Timestamp, bytes: u64) {
        let Some(ip) = packet.ip() else { return };
        let (src, dst) = (ip.src, ip.dst);
        let src_mac = packet.src_mac;
        let dst_mac = packet.dst_mac;
        let h = self.entry(src, ts);
        h.packets_out += 1;
        h.bytes_out = h.bytes_out.saturating_add(bytes);
        h.last_ts = h.last_ts.max(ts);
        if let Some(mac) = src_mac {
            remember_mac(h, mac);
        }
        let h = self.entry(dst, ts);
        h.packets_in += 1;
        h.bytes_in = h.bytes_in.saturating_add(bytes);
        h.last_ts = h.last_ts.max(ts);
        if let Some(mac) = dst_mac {
            remember_mac(h, mac);
        }
        self.learn_names(packet);
    }

    /// A new flow from `client` to `server`.
    pub fn new_flow(&mut self, client: IpAddr, server: IpAddr, ts: Timestamp) {
        self.entry(client, ts).flows_initiated += 1;
        self.entry(server, ts).flows_accepted += 1;
    }

    /// `a` and `b` talked for the first time.
    pub fn new_peers(&mut self, a: IpAddr, b: IpAddr, ts: Timestamp) {
        self.entry(a, ts).peers += 1;
        if a != b {
            self.entry(b, ts).peers += 1;
        }
    }

    fn learn_names(&mut self, packet: &Packet<'_>) {
        let Some(ip) = packet.ip() else { return };
        match &packet.app {
            App::Dns(d) if d.is_response && d.rcode == 0 => {
                let Some((question, _)) = d.question else {
                    return;
                };
                let mut name = NameBuf::default();
                if question.write_to(&mut name).is_err() || name.is_empty() {
                    return;
                }
                for answer in d.answers() {
                    match answer.data {
                        RData::A(v4) => self.add_name(IpAddr::V4(v4), name.as_str()),
                        RData::Aaaa(v6) => self.add_name(IpAddr::V6(v6), name.as_str()),
                        RData::Name(_) | RData::Other => {}
                    }
                }
            }
            App::Tls(t) => {
                if let Some(sni) = t.sni {
                    self.add_name(ip.dst, sni);
                }
            }
            App::Http(HttpSummary::Request { host: Some(h), .. }) => {
                // "example.com:8080" names the host example.com.
                let host = h.rsplit_once(':').map_or(*h, |(name, port)| {
                    if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') {
                        name
                    } else {
                        h
                    }
                });
                self.add_name(ip.dst, host);
            }
            _ => {}
        }
    }

    fn add_name(&mut self, addr: IpAddr, name: &str) {
        let name = name.trim_end_matches('.');
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return;
        }
        if let Some(names) = self.names.touch(&addr) {
            if names.len() < MAX_NAMES && !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(Box::from(name));
            }
            return;
        }
        if self.names.len() >= self.max_hosts {
            self.names.pop_oldest();
        }
        self.names.insert(addr, vec![Box::from(name)]);
    }

    pub fn get(&self, addr: &IpAddr) -> Option<&Host> {
        self.table.get(addr)
    }

    pub fn names(&self, addr: &IpAddr) -> &[Box<str>] {
        self.names.get(addr).map_or(&[], |v| v.as_slice())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpAddr, &Host)> {
        self.table.iter()
    }

    /// The `n` hosts with the most packets (ties by bytes, then address).
    pub fn top(&self, n: usize) -> Vec<(IpAddr, &Host)> {
        super::stats::top_by(self.table.iter().map(|(k, v)| (*k, v)), n, |(ip, h)| {
            (h.packets(), h.bytes(), *ip)
        })
    }

    pub fn is_local(&self, addr: &IpAddr) -> bool {
        self.home.contains(addr)
    }
}

fn remember_mac(host: &mut Host, mac: Mac) {
    if host.macs.len() < MAX_MACS && !host.macs.contains(&mac) {
        host.macs.push(mac);
    }
}

/// A name formatted on the stack, so checking whether a name is already known allocates
/// nothing; it is copied to the heap only when kept.
struct NameBuf {
    buf: [u8; 256],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl NameBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Write for NameBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &Mac) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}
