//! `--pace [xN]`: replays a file at the speed it was recorded (or N times faster), so live
//! views such as the web dashboard can be watched and tested without capturing.
//!
//! The first frame sets the origin; each later frame waits until its offset from the first,
//! divided by the speed, has passed on the wall clock. Frames that go back in time do not wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::time::Timestamp;

/// Longest single sleep: waits are cut so Ctrl-C and snapshot publication stay prompt.
const SLICE: Duration = Duration::from_millis(100);

pub struct Pacer {
    speed: f64,
    origin: Option<(Instant, Timestamp)>,
}

impl Pacer {
    /// `speed` 1 is the recorded speed; it must be positive (the command line checks).
    pub fn new(speed: f64) -> Self {
        Pacer {
            speed,
            origin: None,
        }
    }

    /// Waits until the frame stamped `ts` is due, calling `idle` between slices. Returns false
    /// when `stop` was set while waiting.
    pub fn wait(&mut self, ts: Timestamp, stop: &AtomicBool, idle: &mut dyn FnMut()) -> bool {
        let (start, first) = *self.origin.get_or_insert((Instant::now(), ts));
        let offset = ts.secs_since(first) / self.speed;
        let Some(due) = Duration::try_from_secs_f64(offset)
            .ok()
            .and_then(|d| start.checked_add(d))
        else {
            return true;
        };
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            std::thread::sleep((due - now).min(SLICE));
            idle();
        }
    }
}

/// Parses `--pace` values: `x1`, `x10`, `2.5` (times the recorded speed).
pub fn parse_speed(s: &str) -> Result<f64, String> {
    let n = s.strip_prefix(['x', 'X']).unwrap_or(s);
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a speed: use x1 (as recorded), x10 (ten times faster) or a positive number"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds() {
        assert_eq!(parse_speed("x10"), Ok(10.0));
        assert_eq!(parse_speed("2.5"), Ok(2.5));
        assert!(parse_speed("x0").is_err());
        assert!(parse_speed("fast").is_err());
        assert!(parse_speed("-1").is_err());
    }

    #[test]
    fn waits_for_the_offset_divided_by_speed() {
        let stop = AtomicBool::new(false);
        let mut p = Pacer::new(10.0);
        let t0 = Timestamp(1_000 * Timestamp::NANOS_PER_SEC);
        let start = Instant::now();
        assert!(p.wait(t0, &stop, &mut || {}));
        // Two seconds of capture at ten times speed: 200 ms.
        assert!(p.wait(
            Timestamp(t0.0 + 2 * Timestamp::NANOS_PER_SEC),
            &stop,
            &mut || {}
        ));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(195), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        // Back in time: no wait.
        assert!(p.wait(t0, &stop, &mut || {}));
        stop.store(true, Ordering::Relaxed);
        assert!(!p.wait(
            Timestamp(t0.0 + 60 * Timestamp::NANOS_PER_SEC),
            &stop,
            &mut || {}
        ));
    }
}
