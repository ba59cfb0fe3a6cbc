//! BPF filters: the presets for people who don't write BPF, how presets and a custom expression
//! combine, and applying one expression to capture files (libpcap compiles it once per link type
//! and runs it with `pcap_offline_filter`, so a file is filtered exactly as tcpdump -r would).

use std::collections::HashMap;

use pcap::{BpfProgram, Capture, Linktype};
use wire::LinkType;

/// `--preset` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// Web: TCP port 80 or 443.
    Web,
    /// DNS: port 53 over UDP or TCP.
    Dns,
}

impl Preset {
    pub fn expression(self) -> &'static str {
        match self {
            Preset::Tcp => "tcp",
            Preset::Udp => "udp",
            Preset::Icmp => "icmp or icmp6",
            Preset::Web => "tcp port 80 or tcp port 443",
            Preset::Dns => "port 53",
        }
    }
}

/// One expression from the presets (any of them matches) and a custom expression (which must
/// also match). None when there is nothing to filter.
pub fn combine(presets: &[Preset], custom: Option<&str>) -> Option<String> {
    let custom = custom.map(str::trim).filter(|c| !c.is_empty());
    let preset = match presets {
        [] => None,
        [one] => Some(one.expression().to_string()),
        many => Some(
            many.iter()
                .map(|p| format!("({})", p.expression()))
                .collect::<Vec<_>>()
                .join(" or "),
        ),
    };
    match (preset, custom) {
        (None, None) => None,
        (Some(p), None) => Some(p),
        (None, Some(c)) => Some(c.to_string()),
        (Some(p), Some(c)) => Some(format!("({p}) and ({c})")),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid filter '{expr}': {message}")]
pub struct FilterError {
    pub expr: String,
    pub message: String,
}

/// Compiles `expr` for `link` without a live device.
pub fn compile(expr: &str, dlt: u32) -> Result<BpfProgram, FilterError> {
    let fail = |e: pcap::Error| FilterError {
        expr: expr.to_string(),
        message: pcap_message(e),
    };
    let dead = Capture::dead(Linktype(dlt as i32)).map_err(fail)?;
    dead.compile(expr, true).map_err(fail)
}

/// libpcap's own message, without the crate's wrapping.
pub fn pcap_message(e: pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m,
        other => other.to_string(),
    }
}

/// A filter applied to frames read from files, compiled lazily per link type (a pcapng file may
/// mix them).
pub struct FileFilter {
    expr: String,
    programs: HashMap<u32, BpfProgram>,
}

impl FileFilter {
    /// Checks the expression once up front (against Ethernet) so a typo fails before any reading.
    pub fn new(expr: &str) -> Result<Self, FilterError> {
        let ethernet = LinkType::Ethernet.to_dlt();
        let program = compile(expr, ethernet)?;
        let mut programs = HashMap::new();
        programs.insert(ethernet, program);
        Ok(FileFilter {
            expr: expr.to_string(),
            programs,
        })
    }

    pub fn matches(&mut self, link: LinkType, data: &[u8]) -> Result<bool, FilterError> {
        let dlt = link.to_dlt();
        if !self.programs.contains_key(&dlt) {
            let program = compile(&self.expr, dlt)?;
            self.programs.insert(dlt, program);
        }
        Ok(self.programs.get(&dlt).is_some_and(|p| p.filter(data)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn presets_and_custom_combine() {
        assert_eq!(combine(&[], None), None);
        assert_eq!(combine(&[], Some("  ")), None);
        assert_eq!(
            combine(&[Preset::Web], None).unwrap(),
            "tcp port 80 or tcp port 443"
        );
        assert_eq!(
            combine(&[Preset::Tcp, Preset::Udp], Some("host 10.0.0.1")).unwrap(),
            "((tcp) or (udp)) and (host 10.0.0.1)"
        );
    }

    #[test]
    fn libpcap_rejects_bad_syntax_with_its_message() {
        let err = FileFilter::new("tcp port").err().unwrap();
        assert!(err.to_string().contains("tcp port"), "{err}");
        assert!(FileFilter::new("tcp and port 80").is_ok());
    }
}
