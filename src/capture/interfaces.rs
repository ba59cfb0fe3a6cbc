//! Capture interfaces: listing them for `-D` and the interactive set-up, and checking a name the
//! user typed before libpcap gives a less helpful error.

use std::fmt::Write as _;

use pcap::Device;

#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("cannot list capture interfaces: {0}")]
    List(String),
    #[error("no interface named '{name}'; available: {available}")]
    Unknown { name: String, available: String },
}

/// All capture devices libpcap knows.
pub fn list() -> Result<Vec<Device>, InterfaceError> {
    Device::list().map_err(|e| InterfaceError::List(super::filter::pcap_message(e)))
}

/// One line per device, numbered like `tcpdump -D`, with flags and addresses.
pub fn describe(devices: &[Device]) -> String {
    let mut out = String::new();
    for (i, d) in devices.iter().enumerate() {
        let _ = write!(out, "{}.{}", i + 1, d.name);
        if let Some(desc) = &d.desc {
            let _ = write!(out, " ({desc})");
        }
        let mut flags = Vec::new();
        if d.flags.is_up() {
            flags.push("Up");
        }
        if d.flags.is_running() {
            flags.push("Running");
        }
        if d.flags.is_loopback() {
            flags.push("Loopback");
        }
        if d.flags.is_wireless() {
            flags.push("Wireless");
        }
        if !flags.is_empty() {
            let _ = write!(out, " [{}]", flags.join(", "));
        }
        let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
        if !addrs.is_empty() {
            let _ = write!(out, " {}", addrs.join(" "));
        }
        out.push('\n');
    }
    out
}

/// Checks that `name` is a device libpcap can open ("any" included on Linux).
pub fn resolve(name: &str) -> Result<(), InterfaceError> {
    let devices = list()?;
    if devices.iter().any(|d| d.name == name) {
        return Ok(());
    }
    let available = devices
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Err(InterfaceError::Unknown {
        name: name.to_string(),
        available,
    })
}
