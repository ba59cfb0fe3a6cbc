//! Counters per directed address pair (who sent to whom). IPv4 and IPv6 pairs live in separate
//! tables: an IPv4 pair is 8 bytes of key instead of the 34 an `(IpAddr, IpAddr)` takes, and in
//! a flood of spoofed sources this table holds one entry per packet source.

use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashMap;

use super::stats::Counter;

#[derive(Debug, Default, Clone)]
pub struct Pairs {
    v4: HashMap<(Ipv4Addr, Ipv4Addr), Counter>,
    /// IPv6 pairs, and the odd mixed pair a broken header can claim.
    other: HashMap<(IpAddr, IpAddr), Counter>,
}

impl Pairs {
    pub fn len(&self) -> usize {
        self.v4.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get_mut(&mut self, src: IpAddr, dst: IpAddr) -> Option<&mut Counter> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.get_mut(&(s, d)),
            _ => self.other.get_mut(&(src, dst)),
        }
    }

    pub fn contains(&self, src: IpAddr, dst: IpAddr) -> bool {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.contains_key(&(s, d)),
            _ => self.other.contains_key(&(src, dst)),
        }
    }

    /// The counter of (src, dst), made if missing.
    pub fn entry(&mut self, src: IpAddr, dst: IpAddr) -> &mut Counter {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.entry((s, d)).or_default(),
            _ => self.other.entry((src, dst)).or_default(),
        }
    }

    /// Every pair with its counter.
    pub fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr), Counter)> + '_ {
        let v4 = self
            .v4
            .iter()
            .map(|((s, d), c)| ((IpAddr::V4(*s), IpAddr::V4(*d)), *c));
        v4.chain(self.other.iter().map(|(k, c)| (*k, *c)))
    }

    /// Adds another shard's pairs (each pair lives in one shard, so counts stay exact).
    pub fn merge(&mut self, other: Pairs) {
        for (k, c) in other.v4 {
            self.v4.entry(k).or_default().merge(c);
        }
        for (k, c) in other.other {
            self.other.entry(k).or_default().merge(c);
        }
    }
}
