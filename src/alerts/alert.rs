//! The alert record, and a detector's raise of one.
//!
//! A [`Raise`] is what a detector pushes when it sees a cause; [`super::AlertEngine`] turns the
//! first raise of a key into an [`Alert`] and folds later ones into it (count, last seen, latest
//! evidence). Source and target are text (an address, `address:port`, a MAC, a domain) because
//! that is what every output shows; they are built only when something is raised.

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::time::Timestamp;

/// How much an alert deserves attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, not a sign of an attack by itself (a new device, a first contact).
    Info,
    /// Suspicious or risky (cleartext credentials, a high rate).
    Medium,
    /// Looks like an attack in progress (scan, flood, spoofing).
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// What a detector raises for one cause at one packet time.
#[derive(Debug, Clone)]
pub struct Raise {
    pub ts: Timestamp,
    pub detector: &'static str,
    /// The sort of cause within a detector (`vertical`, `mac_change`, ...): part of the merge key.
    pub kind: &'static str,
    pub severity: Severity,
    pub src: Option<String>,
    pub dst: Option<String>,
    /// One line; never contains a secret. May contain packet-derived text: outputs escape it.
    pub summary: String,
    /// Counts, ports, window... as a JSON object.
    pub evidence: Value,
}

/// Raises with the same key are the same alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    detector: &'static str,
    kind: &'static str,
    src: Option<String>,
    dst: Option<String>,
}

impl Raise {
    pub(crate) fn key(&self) -> Key {
        Key {
            detector: self.detector,
            kind: self.kind,
            src: self.src.clone(),
            dst: self.dst.clone(),
        }
    }
}

/// One alert, merged over every raise of its key.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub detector: &'static str,
    pub kind: &'static str,
    pub severity: Severity,
    pub src: Option<String>,
    pub dst: Option<String>,
    /// The summary of the latest raise.
    pub summary: String,
    /// How many times the cause was raised (once per window for rate-like detectors).
    pub count: u64,
    #[serde(serialize_with = "secs")]
    pub first_ts: Timestamp,
    #[serde(serialize_with = "secs")]
    pub last_ts: Timestamp,
    /// The evidence of the latest raise.
    pub evidence: Value,
}

fn secs<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(t.as_secs_f64())
}

impl From<Raise> for Alert {
    fn from(r: Raise) -> Self {
        Alert {
            detector: r.detector,
            kind: r.kind,
            severity: r.severity,
            src: r.src,
            dst: r.dst,
            summary: r.summary,
            count: 1,
            first_ts: r.ts,
            last_ts: r.ts,
            evidence: r.evidence,
        }
    }
}

impl Alert {
    /// Folds a later raise of the same cause in: the latest words and evidence, the highest
    /// severity seen.
    pub(crate) fn repeat(&mut self, r: Raise) {
        self.count += 1;
        self.last_ts = self.last_ts.max(r.ts);
        self.severity = self.severity.max(r.severity);
        self.summary = r.summary;
        self.evidence = r.evidence;
    }
}
