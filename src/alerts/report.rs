//! The Alerts section of the final text report, and the `alerts` list of `--report json`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::console::severity_style;
use super::AlertSummary;
use crate::ui::console::style::{Painted, Palette, Untrusted};

/// Most alerts listed in the text report; the JSON report lists them all.
const TEXT_ROWS: usize = 50;

/// The section, highest severity first; empty when nothing was raised (the JSON report says
/// which detectors ran).
pub fn text(summary: &AlertSummary, palette: &Palette) -> String {
    let mut s = String::new();
    if summary.alerts.is_empty() && summary.evicted + summary.dropped == 0 {
        return s;
    }
    let _ = writeln!(
        s,
        "\n{}  ({} total)",
        Painted(palette.heading, &"Alerts"),
        summary.alerts.len()
    );
    let mut order: Vec<_> = summary.alerts.iter().collect();
    order.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.first_ts.cmp(&b.first_ts))
    });
    for a in order.iter().take(TEXT_ROWS) {
        let tag = format!("{:<6}", a.severity.as_str());
        let _ = writeln!(
            s,
            "  {} {} {:<10} x{:<5} {}",
            Painted(severity_style(a.severity, palette), &tag),
            a.first_ts.time_of_day(),
            a.detector,
            a.count,
            Untrusted(&a.summary)
        );
    }
    if order.len() > TEXT_ROWS {
        let _ = writeln!(
            s,
            "  ... {} more (--report json lists all)",
            order.len() - TEXT_ROWS
        );
    }
    if summary.evicted + summary.dropped > 0 {
        let _ = writeln!(
            s,
            "  note: detector tables full; {} entries evicted, {} alerts not kept",
            summary.evicted, summary.dropped
        );
    }
    s
}

/// The `alerts` list (each alert with first/last time in seconds and RFC 3339) and the
/// `alerts_info` counters.
pub fn json(summary: &AlertSummary) -> (Value, Value) {
    let list: Vec<Value> = summary
        .alerts
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("first_time".into(), a.first_ts.rfc3339().into());
                m.insert("last_time".into(), a.last_ts.rfc3339().into());
            }
            v
        })
        .collect();
    let info = json!({
        "detectors": summary.detectors,
        "evicted": summary.evicted,
        "dropped": summary.dropped,
    });
    (Value::Array(list), info)
}
