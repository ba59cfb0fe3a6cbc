//! The periodic statistics line on stderr during live capture: totals, rates over the last
//! interval, runtime, the protocol mix and the busiest hosts.

use std::time::{Duration, Instant};

use super::report::{human_bytes, human_rate, Drops};
use super::style::{Painted, Palette};
use crate::engine::stats::L4_NAMES;
use crate::pipeline::LiveView;

/// Remembers the totals at the previous tick to compute interval rates.
pub struct LiveStats {
    interval: Duration,
    started: Instant,
    last_tick: Instant,
    last_packets: u64,
    last_bytes: u64,
}

impl LiveStats {
    pub fn new(interval: Duration) -> Self {
        let now = Instant::now();
        LiveStats {
            interval,
            started: now,
            last_tick: now,
            last_packets: 0,
            last_bytes: 0,
        }
    }

    /// Time until the next line is due.
    pub fn due_in(&self) -> Duration {
        self.interval.saturating_sub(self.last_tick.elapsed())
    }

    /// The line, if one is due now.
    pub fn tick(&mut self, view: &LiveView, drops: Drops, p: &Palette) -> Option<String> {
        let elapsed = self.last_tick.elapsed();
        if elapsed < self.interval {
            return None;
        }
        let secs = elapsed.as_secs_f64().max(1e-9);
        let packets = view.total.packets - self.last_packets;
        let bytes = view.total.bytes.saturating_sub(self.last_bytes);
        self.last_tick = Instant::now();
        self.last_packets = view.total.packets;
        self.last_bytes = view.total.bytes;

        let run = self.started.elapsed().as_secs();
        let mut line = format!(
            "{} {} pkts {} | {} {} | up {:02}:{:02}:{:02}",
            Painted(p.heading, &"stats"),
            view.total.packets,
            human_bytes(view.total.bytes),
            human_rate(packets as f64 / secs, "pkt/s"),
            human_rate(bytes as f64 * 8.0 / secs, "bit/s"),
            run / 3600,
            run % 3600 / 60,
            run % 60
        );
        let total = view.total.packets.max(1);
        let mut mix: Vec<(&str, u64)> = L4_NAMES
            .iter()
            .zip(&view.l4)
            .map(|(n, c)| (*n, *c))
            .filter(|(_, n)| *n > 0)
            .collect();
        mix.sort_by_key(|m| std::cmp::Reverse(m.1));
        if !mix.is_empty() {
            line.push_str(" |");
            for (name, n) in mix.iter().take(4) {
                line.push_str(&format!(" {name} {:.0}%", *n as f64 * 100.0 / total as f64));
            }
        }
        if !view.top_hosts.is_empty() {
            line.push_str(" | top");
            for (ip, packets) in &view.top_hosts {
                line.push_str(&format!(" {ip} ({packets})"));
            }
        }
        if let Some(flows) = view.active_flows {
            line.push_str(&format!(" | flows {flows}"));
        }
        let lost = drops.kernel + drops.interface + drops.internal;
        if lost > 0 {
            line.push_str(&format!(
                " | {}",
                Painted(p.warn, &format_args!("dropped {lost}"))
            ));
        }
        Some(line)
    }
}
