//! The history commands: `netlens report`, `netlens chart` and `netlens export`, each reading a
//! database a capture wrote with `--db` (see [`crate::store`]). They only read: they never take
//! the writer lock, so they work while a capture is writing to the same file.
//!
//! Times: `--since`/`--until` take a span back from the newest stored traffic (`90s`, `30m`,
//! `1h`, `7d`, `2w`) or an instant (RFC 3339 `2024-05-01T12:00:00Z`, with an offset, or a date
//! `2024-05-01`, read as UTC midnight). Spans count back from the newest data rather than the
//! clock: while capture runs the two agree, and a stored file reads the same on every day.
//!
//! Exit codes as elsewhere: 0 success (also when stdout closes early), 1 the database is
//! missing or unreadable, 2 the command line is wrong. Errors are one line `netlens: ...`.

pub mod chart;
pub mod export;
pub mod report;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rusqlite::Connection;

use crate::store::{self, query, StoreError};

/// The history subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The final report (talkers, ports, protocol mix, traffic sparkline, alerts) over any time
    /// range of a history database.
    Report(report::ReportArgs),
    /// Draw a chart of a history database as PNG or SVG: protocol mix, traffic over time, or
    /// top talkers.
    Chart(chart::ChartArgs),
    /// Write one table of a history database as CSV (with a header row) or JSON lines.
    Export(export::ExportArgs),
    /// Serve the web dashboard over a history database alone (no capture).
    Serve(crate::ui::web::serve::ServeArgs),
}

/// The database and range every history command takes.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// The history database (written by a capture with --db FILE).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,

    /// Start of the range: a span back from the newest data (30m, 1h, 7d) or an RFC 3339
    /// time or date (2024-05-01T12:00:00Z, 2024-05-01).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<When>,

    /// End of the range (exclusive), in the same forms as --since.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub until: Option<When>,

    /// Only traffic to or from this IP address.
    #[arg(long, value_name = "IP")]
    pub host: Option<std::net::IpAddr>,
}

/// A point in time given on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// This many seconds before the newest stored data.
    Ago(f64),
    /// Seconds since the epoch.
    At(f64),
}

/// How a history command failed: decides the exit code.
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    Runtime(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

/// Runs a history command and returns the process exit code; errors are printed here.
pub fn run(cmd: Command) -> ExitCode {
    let result = match cmd {
        Command::Report(a) => report::run(&a),
        Command::Chart(a) => chart::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Serve(a) => crate::ui::web::serve::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("netlens: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("netlens: {m}");
            ExitCode::from(1)
        }
    }
}

/// A database error on `db`, as a runtime failure.
pub(crate) fn db_error(db: &Path) -> impl Fn(rusqlite::Error) -> Failure + '_ {
    move |e| Failure::Runtime(format!("database {}: {e}", db.display()))
}

/// A write error; a closed pipe (`netlens export ... | head`) is not one.
pub(crate) fn write_error(e: io::Error) -> Result<(), Failure> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::Runtime(format!("cannot write output: {e}")))
    }
}

/// Opens the database and turns the command line's range into a query filter.
pub(crate) fn open(range: &RangeArgs) -> Result<(Connection, query::Filter), Failure> {
    let conn = store::open_reader(&range.db)?;
    let newest = query::newest(&conn).map_err(db_error(&range.db))?;
    let resolve = |w: Option<When>| match w {
        None => None,
        Some(When::At(t)) => Some(t),
        // An empty database has no "newest": the range is then all (of nothing).
        Some(When::Ago(d)) => newest.map(|n| n - d),
    };
    let filter = query::Filter {
        since: resolve(range.since),
        until: resolve(range.until),
        host: range.host.map(|h| h.to_string()),
    };
    if let (Some(a), Some(b)) = (filter.since, filter.until) {
        if a >= b {
            return Err(Failure::Usage(
                "--since must be before --until (the range is empty)".into(),
            ));
        }
    }
    Ok((conn, filter))
}

/// A span: a number and a unit, `s`, `m`, `h`, `d` or `w` (`90s`, `30m`, `1.5h`, `7d`).
pub fn parse_span(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit_secs = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => {
            return Err(format!(
                "'{s}' is not a span: use a number and s, m, h, d or w (30m, 1h, 7d)"
            ))
        }
    };
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n * unit_secs),
        _ => Err(format!(
            "'{s}' is not a span: use a number and s, m, h, d or w (30m, 1h, 7d)"
        )),
    }
}

/// `--since`/`--until`: a span back from the newest data, or an RFC 3339 instant or date.
pub fn parse_when(s: &str) -> Result<When, String> {
    let t = s.trim();
    if t.contains('-') && t.len() >= 10 {
        return parse_time(t).map(When::At).ok_or_else(|| {
            format!(
                "'{s}' is not a time: use RFC 3339 (2024-05-01T12:00:00Z) or a date (2024-05-01)"
            )
        });
    }
    parse_span(t).map(When::Ago).map_err(|_| {
        format!("'{s}' is neither a span (30m, 1h, 7d) nor a time (2024-05-01T12:00:00Z)")
    })
}

/// Parses `YYYY-MM-DD`, optionally followed by `T` (or a space) `HH:MM[:SS[.frac]]` and `Z` or
/// `±HH:MM` (no offset means UTC). Returns seconds since the epoch.
fn parse_time(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) {
        return None;
    }
    if d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut frac = 0.0;
    let rest = s.get(10..)?;
    if rest.is_empty() {
        return Some(secs as f64);
    }
    let rb = rest.as_bytes();
    if !matches!(rb.first(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (h, mi) = (num(11..13)?, num(14..16)?);
    if b.get(13) != Some(&b':') || h > 23 || mi > 59 {
        return None;
    }
    secs += h * 3600 + mi * 60;
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        let sec = num(i + 1..i + 3)?;
        if sec > 60 {
            return None;
        }
        secs += sec;
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            frac = format!("0.{}", s.get(start..end)?).parse().ok()?;
            i = end;
        }
    }
    match s.get(i..)? {
        "" | "Z" | "z" => {}
        off => {
            let ob = off.as_bytes();
            let sign = match ob.first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if off.len() != 6 || ob.get(3) != Some(&b':') {
                return None;
            }
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            // 12:00+02:00 is 10:00Z.
            secs -= sign * (oh * 3600 + om * 60);
        }
    }
    Some(secs as f64 + frac)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`,
/// public domain; the inverse of the one in [`crate::time`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 of seconds since the epoch (for ranges and JSON).
pub(crate) fn rfc3339(secs: f64) -> String {
    // Stored times are REAL seconds, good to about a microsecond near today: round to the
    // microsecond so 0.000010 does not print as 0.000009.
    crate::time::Timestamp((secs * 1e6).round() as i64 * 1000).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_times() {
        assert_eq!(parse_when("1h"), Ok(When::Ago(3600.0)));
        assert_eq!(parse_when("30m"), Ok(When::Ago(1800.0)));
        assert_eq!(parse_when("7d"), Ok(When::Ago(604_800.0)));
        assert_eq!(parse_when("1.5h"), Ok(When::Ago(5400.0)));
        assert_eq!(parse_when("2023-11-14"), Ok(When::At(1_699_920_000.0)));
        assert_eq!(
            parse_when("2023-11-14T22:13:20Z"),
            Ok(When::At(1_700_000_000.0))
        );
        assert_eq!(
            parse_when("2023-11-15T00:13:20+02:00"),
            Ok(When::At(1_700_000_000.0))
        );
        assert_eq!(
            parse_when("2023-11-14 22:13:20.5"),
            Ok(When::At(1_700_000_000.5))
        );
        assert_eq!(parse_when("1970-01-01T00:00Z"), Ok(When::At(0.0)));
        for bad in [
            "",
            "1",
            "h",
            "-1h",
            "1y",
            "2023-13-01",
            "2023-02-30",
            "2023-11-14T25:00Z",
            "2023-11-14X",
            "2023-11-14T10:00+2",
        ] {
            assert!(parse_when(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_days_round_trip() {
        for t in [0i64, 951_782_400, 1_700_000_000, -86_400] {
            let s = crate::time::Timestamp(t * 1_000_000_000).rfc3339();
            assert_eq!(parse_time(&s), Some(t as f64), "{s}");
        }
    }
}
