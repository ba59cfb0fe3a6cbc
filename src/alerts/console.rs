//! One line on stderr per alert, when it is first raised: severity colored (red high, yellow
//! medium, dim info), packet-derived text escaped through [`Untrusted`].

use std::fmt::Write as _;

use anstyle::Style;

use super::{Alert, Severity};
use crate::ui::console::style::{Painted, Palette, Untrusted};

/// The style of a severity in `palette` (empty styles when colors are off).
pub fn severity_style(severity: Severity, palette: &Palette) -> Style {
    match severity {
        Severity::High => palette.flags,
        Severity::Medium => palette.warn,
        Severity::Info => palette.dim,
    }
}

/// `ALERT high port_scan 12:00:01.000000 vertical SYN scan: ...`
pub fn line(alert: &Alert, palette: &Palette) -> String {
    let mut s = String::new();
    let tag = format!("ALERT {:<6}", alert.severity.as_str());
    let _ = write!(
        s,
        "{} {} {} {}",
        Painted(severity_style(alert.severity, palette), &tag),
        alert.first_ts.time_of_day(),
        alert.detector,
        Untrusted(&alert.summary)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Raise;
    use crate::time::Timestamp;

    #[test]
    fn packet_text_in_a_line_cannot_drive_the_terminal() {
        let a = Alert::from(Raise {
            ts: Timestamp(0),
            detector: "dns",
            kind: "tunnel",
            severity: Severity::High,
            src: None,
            dst: None,
            summary: "name \u{1b}[2J here".into(),
            evidence: serde_json::Value::Null,
        });
        let plain = line(&a, &Palette::new(false));
        assert!(!plain.contains('\u{1b}'), "{plain}");
        let colored = line(&a, &Palette::new(true));
        assert!(colored.starts_with('\u{1b}'));
        assert!(!colored.contains("\u{1b}[2J"), "{colored}");
    }
}
