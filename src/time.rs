//! Packet time. Everything in netlens (rates, durations, later flow expiry and series) is driven by
//! the capture timestamps, never the wall clock, so a file replays to the same numbers every time.

use std::fmt;

/// Nanoseconds since the Unix epoch, as stamped by the capture. Signed because a pcapng
/// `if_tsoffset` or a hostile header may put it before 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    /// From seconds and a fraction in `units_per_sec` (1e6 for µs pcap, 1e9 for ns). A fraction
    /// past one second (some corpus files carry one) simply carries into the seconds, as tshark
    /// shows it; arithmetic saturates instead of wrapping.
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let units = units_per_sec.max(1);
        // Microseconds and nanoseconds (nearly every file) without a 128-bit division, which
        // is a library call on every packet; the results are the same.
        let frac_ns = match units {
            1_000_000_000 => frac as i64,
            1_000_000 if frac <= u64::MAX / 1000 => (frac * 1000) as i64,
            _ => (u128::from(frac) * 1_000_000_000 / u128::from(units)) as i64,
        };
        Timestamp(
            secs.saturating_mul(Self::NANOS_PER_SEC)
                .saturating_add(frac_ns),
        )
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds from `earlier` to `self`, never negative (files may go back in time).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)).max(0) as f64 / 1e9
    }

    /// `HH:MM:SS.ffffff` in UTC, the way tcpdump prints with `TZ=UTC`.
    pub fn time_of_day(self) -> TimeOfDay {
        TimeOfDay(self)
    }

    /// RFC 3339 in UTC with microseconds, for reports.
    pub fn rfc3339(self) -> String {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let micros = self.0.rem_euclid(Self::NANOS_PER_SEC) / 1000;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }
}

/// Display adapter for [`Timestamp::time_of_day`]; formats without allocating.
pub struct TimeOfDay(Timestamp);

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.bytes();
        f.write_str(std::str::from_utf8(&text).unwrap_or("??:??:??.??????"))
    }
}

impl TimeOfDay {
    /// The text as bytes, written digit by digit: the packet log writes one per line, and
    /// `write!` with four padded numbers costs about 1,300 instructions.
    pub fn bytes(&self) -> [u8; 15] {
        let ns = self.0 .0;
        let sod = ns.div_euclid(Timestamp::NANOS_PER_SEC).rem_euclid(86_400);
        let micros = ns.rem_euclid(Timestamp::NANOS_PER_SEC) / 1000;
        let mut text = *b"00:00:00.000000";
        let mut put = |at: usize, width: usize, mut n: i64| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 2, sod / 3600);
        put(3, 2, sod % 3600 / 60);
        put(6, 2, sod % 60);
        put(9, 6, micros);
        text
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, public domain), so reports need no date crate.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts for microseconds and nanoseconds give what the general arithmetic gives.
    #[test]
    fn common_units_match_the_general_arithmetic() {
        let general = |secs: i64, frac: u64, units: u64| {
            let frac_ns = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as i64;
            secs.saturating_mul(Timestamp::NANOS_PER_SEC)
                .saturating_add(frac_ns)
        };
        let fracs = [
            0,
            1,
            999_999,
            1_000_000,
            1_500_000,
            u64::from(u32::MAX),
            u64::MAX / 1000,
            u64::MAX / 1000 + 1,
            i64::MAX as u64,
            u64::MAX,
        ];
        for units in [1_000_000, 1_000_000_000] {
            for frac in fracs {
                for secs in [0, -1, 1_700_000_000, i64::MAX, i64::MIN] {
                    assert_eq!(
                        Timestamp::from_parts(secs, frac, units).0,
                        general(secs, frac, units),
                        "{secs} s + {frac} / {units}"
                    );
                }
            }
        }
    }

    #[test]
    fn formats_known_instants() {
        let t = Timestamp::from_parts(1_700_000_000, 123_456, 1_000_000);
        assert_eq!(t.rfc3339(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(t.time_of_day().to_string(), "22:13:20.123456");
        assert_eq!(
            Timestamp(-1).time_of_day().to_string(),
            "23:59:59.999999",
            "before 1970 counts back from midnight"
        );
        let epoch = Timestamp(0);
        assert_eq!(epoch.rfc3339(), "1970-01-01T00:00:00.000000Z");
        let before = Timestamp(-1);
        assert_eq!(before.rfc3339(), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn fraction_overflow_carries_and_saturates() {
        assert_eq!(
            Timestamp::from_parts(1, 1_500_000, 1_000_000).0,
            2_500_000_000
        );
        assert_eq!(Timestamp::from_parts(i64::MAX, 0, 1_000_000).0, i64::MAX);
    }
}
