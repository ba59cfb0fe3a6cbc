//! Detector thresholds: defaults, the `--alerts-config` TOML file, then flags on top.
//!
//! Defaults are chosen to stay quiet on normal traffic (the tcpdump corpus and generated mixed
//! traffic raise no scan, flood or spoofing alert with them). Noisy checks — connections leaving
//! the home network, first contact with a remote host — are off until asked for. Unknown keys
//! are rejected, so a typo in a threshold never silently leaves the default in place.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// False with `--no-alerts`: no detector runs.
    pub enabled: bool,
    /// Most entries in each detector table (per detector and table).
    pub max_tracked: usize,
    pub port_scan: PortScanConfig,
    pub syn_flood: SynFloodConfig,
    pub rate: RateConfig,
    pub external: ExternalConfig,
    pub arp: ArpConfig,
    pub dns: DnsConfig,
    pub cleartext: CleartextConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            // 64 Ki entries of a few hundred bytes at most: tens of MB in the worst case.
            max_tracked: 65_536,
            port_scan: PortScanConfig::default(),
            syn_flood: SynFloodConfig::default(),
            rate: RateConfig::default(),
            external: ExternalConfig::default(),
            arp: ArpConfig::default(),
            dns: DnsConfig::default(),
            cleartext: CleartextConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PortScanConfig {
    pub enabled: bool,
    /// The sliding window, in seconds of packet time.
    pub window_secs: u64,
    /// Unanswered probes to this many distinct ports of one target: a vertical scan. nmap's
    /// quickest scan (-F) probes 100; a client meets a few closed ports at most.
    pub vertical_ports: usize,
    /// Unanswered probes to one port on this many distinct targets: a horizontal scan. A browser
    /// opens connections to dozens of servers a minute, but they answer.
    pub horizontal_hosts: usize,
    /// FIN, NULL or XMAS probes (never sent by a normal TCP stack) to this many distinct
    /// ports or targets: a stealth scan, whatever the counts above.
    pub stealth_probes: usize,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        PortScanConfig {
            enabled: true,
            window_secs: 60,
            vertical_ports: 20,
            horizontal_hosts: 30,
            stealth_probes: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SynFloodConfig {
    pub enabled: bool,
    /// Half-open connection attempts (SYNs not yet followed by the client's ACK) to one
    /// target port within one second. A busy web server sees hundreds of new connections a
    /// second, but they complete.
    pub half_open_per_sec: u64,
}

impl Default for SynFloodConfig {
    fn default() -> Self {
        SynFloodConfig {
            enabled: true,
            half_open_per_sec: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    pub enabled: bool,
    /// Packets per second on the whole capture (0 = no limit).
    pub global_pps: u64,
    /// Bits per second on the whole capture (0 = no limit).
    pub global_bps: u64,
    /// Packets per second sent or received by one host (0 = no limit).
    pub host_pps: u64,
    /// Bits per second sent or received by one host (0 = no limit).
    pub host_bps: u64,
}

impl Default for RateConfig {
    fn default() -> Self {
        // Above what a 1 Gbit/s office link carries in normal use; tune per network.
        RateConfig {
            enabled: true,
            global_pps: 500_000,
            global_bps: 5_000_000_000,
            host_pps: 200_000,
            host_bps: 2_000_000_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalConfig {
    /// Alert on connections from the home network to remote addresses outside `allow`. Off by
    /// default: on a normal network every web page is such a connection. Giving `allow` (or
    /// `--alerts-allow`) turns it on.
    pub enabled: Option<bool>,
    /// Remote networks home hosts may talk to without an alert.
    pub allow: Vec<IpNet>,
    /// Info alert on the first packet exchanged with each remote host never seen before in this
    /// run. Off by default: it fires for every new site a browser touches.
    pub new_remote: bool,
}

impl ExternalConfig {
    /// The leaving-home check runs when asked for, or when an allow-list was given.
    pub fn leaving_enabled(&self) -> bool {
        self.enabled.unwrap_or(!self.allow.is_empty())
    }
}

impl ExternalConfig {
    pub(super) fn enabled(&self) -> bool {
        self.leaving_enabled() || self.new_remote
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArpConfig {
    pub enabled: bool,
    /// Gratuitous ARPs from one MAC within `window_secs` that make a storm. A host sends a few
    /// when its address comes up or fails over; a storm (or an ARP poisoning tool) sends them
    /// every fraction of a second.
    pub gratuitous: u64,
    pub window_secs: u64,
    /// Info alert for a MAC first seen in ARP after `learn_secs` of packet time: the devices
    /// seen while learning are the known ones.
    pub new_device: bool,
    pub learn_secs: u64,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            enabled: true,
            gratuitous: 100,
            window_secs: 10,
            new_device: true,
            learn_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    pub enabled: bool,
    /// A query name this long (characters, dotted form) is suspicious. Real names are rarely
    /// above 60; tunnels pack data into 150-250.
    pub max_name_len: usize,
    /// A subdomain part at least `entropy_min_len` long with at least this Shannon entropy
    /// (bits per character) is suspicious: encoded data, not words.
    pub max_entropy: f64,
    pub entropy_min_len: usize,
    /// Suspicious names under one domain from one client within `window_secs`.
    pub suspicious_names: u64,
    /// NXDOMAIN answers to one client within `window_secs`, when they are also most of its
    /// answers (malware trying generated domains; a busy resolver client gets some too).
    pub nxdomain: u64,
    pub window_secs: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            enabled: true,
            max_name_len: 100,
            max_entropy: 4.0,
            entropy_min_len: 30,
            suspicious_names: 5,
            nxdomain: 50,
            window_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CleartextConfig {
    pub enabled: bool,
}

impl Default for CleartextConfig {
    fn default() -> Self {
        CleartextConfig { enabled: true }
    }
}

/// Reads a TOML file of thresholds over the defaults. The error is one line naming the file
/// and, for a bad key, the key.
pub fn load(path: &std::path::Path) -> Result<AlertsConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read alerts config {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("alerts config {}: {e}", path.display()))
}

/// Parses TOML thresholds over the defaults; the error is one line.
pub fn parse(text: &str) -> Result<AlertsConfig, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let msg = e.message().trim().replace('\n', " ");
        match e.span() {
            Some(span) => {
                let line = text
                    .get(..span.start)
                    .map_or(0, |t| t.matches('\n').count() + 1);
                format!("line {line}: {msg}")
            }
            None => msg,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), AlertsConfig::default());
    }

    #[test]
    fn keys_override_defaults() {
        let c = parse("[port_scan]\nvertical_ports = 7\n[external]\nallow = [\"8.8.8.0/24\"]\n")
            .unwrap();
        assert_eq!(c.port_scan.vertical_ports, 7);
        assert_eq!(c.port_scan.window_secs, 60);
        assert!(c.external.leaving_enabled());
    }

    #[test]
    fn unknown_key_is_one_clear_line() {
        let e = parse("[port_scan]\nvertical_portz = 7\n").unwrap_err();
        assert!(e.contains("vertical_portz"), "{e}");
        assert!(e.starts_with("line 2"), "{e}");
        assert!(!e.contains('\n'));
    }
}
