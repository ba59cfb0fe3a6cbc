//! Time series by packet time: packets, bytes and new flows per second (last 10 minutes) and per
//! minute (last 24 hours), split by transport. Both windows are bounded rings, so memory stays
//! flat however long netlens runs.

use std::collections::VecDeque;

use serde::Serialize;
use wire::packet::L4Class;

use crate::time::Timestamp;

/// Seconds kept at one-second resolution.
pub const SECONDS_KEPT: i64 = 600;
/// Minutes kept at one-minute resolution.
pub const MINUTES_KEPT: i64 = 1440;

/// One interval of traffic. `t` is the interval start, seconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Point {
    pub t: i64,
    pub packets: u64,
    pub bytes: u64,
    pub new_flows: u64,
    /// Packets by transport: TCP, UDP, ICMP (v4 and v6), other (incl. non-IP).
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub other: u64,
}

impl Point {
    /// Adds `other`'s counts (the same interval seen by another shard).
    pub fn add(&mut self, other: &Point) {
        self.packets += other.packets;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.new_flows += other.new_flows;
        self.tcp += other.tcp;
        self.udp += other.udp;
        self.icmp += other.icmp;
        self.other += other.other;
    }

    /// What this point gained since `earlier`, a previous version of the same interval.
    pub fn since(&self, earlier: &Point) -> Point {
        Point {
            t: self.t,
            packets: self.packets.saturating_sub(earlier.packets),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            new_flows: self.new_flows.saturating_sub(earlier.new_flows),
            tcp: self.tcp.saturating_sub(earlier.tcp),
            udp: self.udp.saturating_sub(earlier.udp),
            icmp: self.icmp.saturating_sub(earlier.icmp),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

/// A window of points at a fixed step, oldest first; intervals without traffic are absent.
#[derive(Debug, Clone)]
pub struct Ring {
    step: i64,
    window: i64,
    points: VecDeque<Point>,
}

impl Ring {
    fn new(step: i64, window_steps: i64) -> Self {
        Ring {
            step,
            window: window_steps * step,
            points: VecDeque::new(),
        }
    }

    fn point(&mut self, secs: i64) -> Option<&mut Point> {
        // Nearly every packet falls in the newest interval: found without a division (a 64-bit
        // divide costs tens of cycles, and this runs twice per packet).
        let step = self.step;
        if self
            .points
            .back()
            .is_some_and(|p| secs >= p.t && secs - p.t < step)
        {
            return self.points.back_mut();
        }
        let t = secs.div_euclid(step) * step;
        let newest = self.points.back().map(|p| p.t);
        match newest {
            Some(n) if t < n => {
                // Out-of-order timestamp (captures do go back in time): its own interval, if
                // that is still inside the window.
                if t <= n - self.window {
                    return None;
                }
                let i = self.points.partition_point(|p| p.t < t);
                if self.points.get(i).is_none_or(|p| p.t != t) {
                    self.points.insert(
                        i,
                        Point {
                            t,
                            ..Point::default()
                        },
                    );
                }
                return self.points.get_mut(i);
            }
            Some(n) if t == n => {}
            _ => {
                self.points.push_back(Point {
                    t,
                    ..Point::default()
                });
                self.trim();
            }
        }
        self.points.back_mut()
    }

    /// Drops points that fell out of the window behind the newest one.
    fn trim(&mut self) {
        let Some(newest) = self.points.back().map(|p| p.t) else {
            return;
        };
        while self
            .points
            .front()
            .is_some_and(|p| p.t <= newest - self.window)
        {
            self.points.pop_front();
        }
    }

    /// Adds `other`'s points (another shard's view of the same time line).
    pub fn merge(&mut self, other: &Ring) {
        for q in &other.points {
            let i = self.points.partition_point(|p| p.t < q.t);
            match self.points.get_mut(i) {
                Some(p) if p.t == q.t => p.add(q),
                _ => self.points.insert(i, *q),
            }
        }
        self.trim();
    }

    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.points.iter()
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    pub per_second: Ring,
    pub per_minute: Ring,
    /// Packet time (nanoseconds, end excluded) of the newest second while both rings' newest
    /// points are that second and its minute: nearly every packet lands there, and is then
    /// counted without a division or a search.
    newest: (i64, i64),
}

impl Default for Series {
    fn default() -> Self {
        Series {
            per_second: Ring::new(1, SECONDS_KEPT),
            per_minute: Ring::new(60, MINUTES_KEPT),
            newest: (0, 0),
        }
    }
}

/// Counts one packet in `p`.
fn count(p: &mut Point, bytes: u64, l4: Option<L4Class>, new_flow: bool) {
    p.packets += 1;
    p.bytes = p.bytes.saturating_add(bytes);
    p.new_flows += u64::from(new_flow);
    match l4 {
        Some(L4Class::Tcp) => p.tcp += 1,
        Some(L4Class::Udp) => p.udp += 1,
        Some(L4Class::Icmp | L4Class::Icmpv6) => p.icmp += 1,
        Some(L4Class::Other) | None => p.other += 1,
    }
}

impl Series {
    pub fn merge(&mut self, other: &Series) {
        self.per_second.merge(&other.per_second);
        self.per_minute.merge(&other.per_minute);
        self.newest = (0, 0);
    }

    pub fn add(&mut self, ts: Timestamp, bytes: u64, l4: Option<L4Class>, new_flow: bool) {
        let (lo, hi) = self.newest;
        if ts.0 >= lo && ts.0 < hi {
            if let (Some(s), Some(m)) = (
                self.per_second.points.back_mut(),
                self.per_minute.points.back_mut(),
            ) {
                count(s, bytes, l4, new_flow);
                count(m, bytes, l4, new_flow);
                return;
            }
        }
        let secs = ts.0.div_euclid(Timestamp::NANOS_PER_SEC);
        for ring in [&mut self.per_second, &mut self.per_minute] {
            if let Some(p) = ring.point(secs) {
                count(p, bytes, l4, new_flow);
            }
        }
        let newest_second = self.per_second.points.back().map(|p| p.t);
        let newest_minute = self.per_minute.points.back().map(|p| p.t);
        self.newest = match (newest_second, newest_minute) {
            (Some(s), Some(m)) if s == secs && m == secs.div_euclid(60) * 60 => (
                secs.saturating_mul(Timestamp::NANOS_PER_SEC),
                (secs + 1).saturating_mul(Timestamp::NANOS_PER_SEC),
            ),
            _ => (0, 0),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp(secs * Timestamp::NANOS_PER_SEC)
    }

    #[test]
    fn buckets_by_second_and_minute_and_stays_bounded() {
        let mut s = Series::default();
        for sec in 0..2000 {
            s.add(at(1_000_000 + sec), 100, Some(L4Class::Tcp), sec % 10 == 0);
        }
        assert_eq!(s.per_second.points().count(), SECONDS_KEPT as usize);
        let last = s.per_second.points().last().copied().unwrap_or_default();
        assert_eq!((last.t, last.packets, last.tcp), (1_001_999, 1, 1));
        // Seconds 1_000_000..1_002_000 fall in minutes 16_666..=16_699 (1_000_000 is 40 s into
        // its minute).
        assert_eq!(s.per_minute.points().count(), 34);
        let total: u64 = s.per_minute.points().map(|p| p.packets).sum();
        assert_eq!(total, 2000);
        let flows: u64 = s.per_minute.points().map(|p| p.new_flows).sum();
        assert_eq!(flows, 200);
    }

    #[test]
    fn merging_shards_equals_one_series() {
        let mut whole = Series::default();
        let mut a = Series::default();
        let mut b = Series::default();
        for i in 0..3000i64 {
            let t = at(5_000 + (i * 7919) % 900);
            whole.add(t, 10, Some(L4Class::Udp), false);
            if i % 3 == 0 { &mut a } else { &mut b }.add(t, 10, Some(L4Class::Udp), false);
        }
        a.merge(&b);
        let pts = |s: &Series| s.per_second.points().copied().collect::<Vec<_>>();
        assert_eq!(pts(&a), pts(&whole));
    }

    #[test]
    fn the_newest_second_and_late_packets_count_alike() {
        let ms = |m: i64| Timestamp(m * 1_000_000);
        let mut s = Series::default();
        for t in [10_500, 10_700, 9_900, 10_800, 10_999, 11_000, 10_100] {
            s.add(ms(t), 1, Some(L4Class::Udp), false);
        }
        let pts: Vec<(i64, u64)> = s.per_second.points().map(|p| (p.t, p.packets)).collect();
        assert_eq!(pts, vec![(9, 1), (10, 5), (11, 1)]);
        let minutes: Vec<(i64, u64)> = s.per_minute.points().map(|p| (p.t, p.udp)).collect();
        assert_eq!(minutes, vec![(0, 7)]);
    }

    #[test]
    fn late_packets_join_their_interval() {
        let mut s = Series::default();
        s.add(at(10), 1, None, false);
        s.add(at(12), 1, None, false);
        s.add(at(11), 1, None, false);
        let pts: Vec<(i64, u64)> = s.per_second.points().map(|p| (p.t, p.packets)).collect();
        assert_eq!(pts, vec![(10, 1), (11, 1), (12, 1)]);
    }
}
