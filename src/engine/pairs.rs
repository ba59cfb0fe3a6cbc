//! Counters per directed address pair (who sent to whom), for the top connections, and the set
//! of address pairs that have talked, for the hosts' peer counts.
//!
//! A long capture meets new address pairs as long as it runs (clients keep reaching new
//! servers), so exact counters for every pair would grow without end. The counters are a
//! Space-Saving summary instead (Metwally, Agrawal and El Abbadi, "Efficient computation of
//! frequent and top-k elements in data streams", 2005): at most [`TOP_PAIRS`] pairs. When it is
//! full, a new pair takes the place of the pair with the fewest packets and inherits its
//! counts as its possible overcount. A pair that carried more than 1/[`TOP_PAIRS`] of all
//! packets is always in it; a pair never displaced is counted exactly, and any pair's count
//! less its overcount is a floor of the truth, which is what the report shows (marked when it
//! is not exact). Captures with fewer pairs are counted exactly.
//!
//! Whether two addresses ever talked must be remembered for every pair, or a peer would count
//! again each time it came back. For that a pair costs 8 bytes: a 64-bit keyed hash of the
//! unordered pair. Two pairs share one by chance about once in 2^64 / n² runs for n pairs.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;

use hashbrown::{DefaultHashBuilder, HashSet, HashTable};

use super::flow::addr_bits as bits;
use super::stats::Counter;

/// Pairs whose counters the summary holds: 16 384 pairs take about 1.5 MB.
pub const TOP_PAIRS: usize = 16_384;

/// A pair's counters: what was counted, and how much of it may belong to pairs it displaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    pub count: Counter,
    pub overcount: Counter,
}

impl Counted {
    /// What the pair surely carried (its count less the possible overcount).
    pub fn floor(&self) -> Counter {
        Counter {
            packets: self.count.packets - self.overcount.packets,
            bytes: self.count.bytes - self.overcount.bytes,
        }
    }

    pub fn is_exact(&self) -> bool {
        self.overcount == Counter::default()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    pair: (IpAddr, IpAddr),
    counted: Counted,
    /// This entry's place in `Pairs::heap` (once there is one).
    heap_pos: u32,
}

/// Two writes, where hashing the `IpAddr`s makes four (each writes its kind, then its bits).
fn hash_pair(hasher: &DefaultHashBuilder, (src, dst): (IpAddr, IpAddr)) -> u64 {
    hasher.hash_one((bits(src), bits(dst)))
}

/// The Space-Saving summary of directed address pairs.
#[derive(Debug, Clone)]
pub struct Pairs {
    entries: Vec<Entry>,
    /// Entry numbers, found by hashing the entry's pair.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Entry numbers in a binary min-heap by counted packets (then bytes): the root is the pair
    /// a newcomer displaces. Built when the summary first fills: until then nothing is
    /// displaced, and a capture with fewer pairs never pays for keeping it in order.
    heap: Vec<u32>,
    cap: usize,
    /// Pairs displaced to make room.
    pub displaced: u64,
}

impl Default for Pairs {
    fn default() -> Self {
        Pairs::new(TOP_PAIRS)
    }
}

impl Pairs {
    pub fn new(cap: usize) -> Self {
        Pairs {
            entries: Vec::new(),
            // The index is small (4 bytes a pair); making it whole at once saves its rehashes.
            index: HashTable::with_capacity(cap.clamp(1, u32::MAX as usize)),
            hasher: DefaultHashBuilder::default(),
            heap: Vec::new(),
            cap: cap.clamp(1, u32::MAX as usize),
            displaced: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, pair: (IpAddr, IpAddr)) -> Option<usize> {
        let hash = hash_pair(&self.hasher, pair);
        let entries = &self.entries;
        self.index
            .find(hash, |&i| {
                entries.get(i as usize).is_some_and(|e| e.pair == pair)
            })
            .map(|&i| i as usize)
    }

    /// The counters of (src, dst), if the summary holds the pair.
    pub fn get(&self, src: IpAddr, dst: IpAddr) -> Option<Counted> {
        self.find((src, dst))
            .and_then(|i| self.entries.get(i))
            .map(|e| e.counted)
    }

    /// Adds what `src` sent to `dst`.
    pub fn add(&mut self, src: IpAddr, dst: IpAddr, sent: Counter) {
        self.add_counted(
            (src, dst),
            Counted {
                count: sent,
                overcount: Counter::default(),
            },
        );
    }

    fn add_counted(&mut self, pair: (IpAddr, IpAddr), c: Counted) {
        if let Some(i) = self.find(pair) {
            if let Some(e) = self.entries.get_mut(i) {
                e.counted.count.merge(c.count);
                e.counted.overcount.merge(c.overcount);
                let pos = e.heap_pos as usize;
                if !self.heap.is_empty() {
                    self.sift_down(pos);
                }
            }
            return;
        }
        if self.entries.len() < self.cap {
            let i = self.entries.len() as u32;
            self.entries.push(Entry {
                pair,
                counted: c,
                heap_pos: 0,
            });
            self.insert_index(pair, i);
            if self.entries.len() == self.cap {
                self.build_heap();
            }
            return;
        }
        // Full: the pair with the fewest packets makes room, and its counts stay as the
        // newcomer's possible overcount.
        let Some(&root) = self.heap.first() else {
            return;
        };
        let Some(old) = self.entries.get(root as usize).map(|e| (e.pair, e.counted)) else {
            return;
        };
        let hash = hash_pair(&self.hasher, old.0);
        if let Ok(slot) = self.index.find_entry(hash, |&i| i == root) {
            slot.remove();
        }
        if let Some(e) = self.entries.get_mut(root as usize) {
            e.pair = pair;
            e.counted.count = old.1.count;
            e.counted.count.merge(c.count);
            e.counted.overcount = old.1.count;
            e.counted.overcount.merge(c.overcount);
        }
        self.insert_index(pair, root);
        self.displaced += 1;
        self.sift_down(0);
    }

    fn insert_index(&mut self, pair: (IpAddr, IpAddr), i: u32) {
        let hash = hash_pair(&self.hasher, pair);
        let entries = &self.entries;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, i, |&j| {
            entries
                .get(j as usize)
                .map_or(0, |e| hash_pair(hasher, e.pair))
        });
    }

    /// Puts every entry in the heap, in heap order.
    fn build_heap(&mut self) {
        self.heap = (0..self.entries.len() as u32).collect();
        for (pos, e) in self.entries.iter_mut().enumerate() {
            e.heap_pos = pos as u32;
        }
        for pos in (0..self.heap.len() / 2).rev() {
            self.sift_down(pos);
        }
    }

    /// The heap order: fewer packets first, then fewer bytes.
    fn rank(&self, heap_pos: usize) -> (u64, u64) {
        self.heap
            .get(heap_pos)
            .and_then(|&i| self.entries.get(i as usize))
            .map_or((u64::MAX, u64::MAX), |e| {
                (e.counted.count.packets, e.counted.count.bytes)
            })
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        for pos in [a, b] {
            if let Some(&i) = self.heap.get(pos) {
                if let Some(e) = self.entries.get_mut(i as usize) {
                    e.heap_pos = pos as u32;
                }
            }
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < self.heap.len() && self.rank(l) < self.rank(least) {
                least = l;
            }
            if r < self.heap.len() && self.rank(r) < self.rank(least) {
                least = r;
            }
            if least == pos {
                break;
            }
            self.swap(pos, least);
            pos = least;
        }
    }

    /// Every pair held with its counters.
    pub fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr), Counted)> + '_ {
        self.entries.iter().map(|e| (e.pair, e.counted))
    }

    /// Adds another shard's pairs (each pair lives in one shard).
    pub fn merge(&mut self, other: Pairs) {
        self.displaced += other.displaced;
        for e in other.entries {
            self.add_counted(e.pair, e.counted);
        }
    }
}

/// The address pairs that have talked, in either direction, as 64-bit keyed hashes.
#[derive(Debug, Clone)]
pub struct Talked {
    seen: HashSet<u64>,
    cap: usize,
    /// First contacts not remembered because the set was full (their peers went uncounted).
    pub untracked: u64,
}

impl Talked {
    pub fn new(cap: usize) -> Self {
        Talked {
            seen: HashSet::new(),
            cap: cap.max(1),
            untracked: 0,
        }
    }

    /// The key of the hash: random per run, the same for every shard, so their sets agree.
    fn key() -> &'static RandomState {
        static KEY: OnceLock<RandomState> = OnceLock::new();
        KEY.get_or_init(RandomState::new)
    }

    fn fingerprint(a: IpAddr, b: IpAddr) -> u64 {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        // The kinds keep an IPv4 address apart from the IPv6 address with the same bits.
        let kinds = u8::from(lo.is_ipv4()) << 1 | u8::from(hi.is_ipv4());
        Self::key().hash_one((bits(lo), bits(hi), kinds))
    }

    /// Notes that `a` and `b` talk; true the first time they do (either way round).
    pub fn first_contact(&mut self, a: IpAddr, b: IpAddr) -> bool {
        let f = Self::fingerprint(a, b);
        if self.seen.len() < self.cap {
            return self.seen.insert(f);
        }
        if !self.seen.contains(&f) {
            self.untracked += 1;
        }
        false
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn merge(&mut self, other: Talked) {
        self.untracked += other.untracked;
        self.seen.extend(other.seen);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    fn c(packets: u64) -> Counter {
        Counter {
            packets,
            bytes: packets * 100,
        }
    }

    #[test]
    fn counts_exactly_while_there_is_room() {
        let mut p = Pairs::new(4);
        p.add(ip(1), ip(2), c(3));
        p.add(ip(2), ip(1), c(1));
        p.add(ip(1), ip(2), c(2));
        assert_eq!(p.len(), 2);
        let got = p.get(ip(1), ip(2)).unwrap();
        assert!(got.is_exact());
        assert_eq!(got.floor(), c(5));
        assert_eq!(p.get(ip(2), ip(1)).unwrap().floor(), c(1));
        assert_eq!(p.displaced, 0);
    }

    #[test]
    fn a_newcomer_displaces_the_smallest_pair_and_inherits_its_count() {
        let mut p = Pairs::new(2);
        p.add(ip(1), ip(2), c(10));
        p.add(ip(1), ip(3), c(2));
        p.add(ip(1), ip(4), c(1));
        assert_eq!(p.displaced, 1);
        assert!(p.get(ip(1), ip(3)).is_none(), "the smallest went");
        let new = p.get(ip(1), ip(4)).unwrap();
        assert_eq!(new.count, c(3));
        assert_eq!(new.floor(), c(1), "only its own packets are sure");
        assert!(!new.is_exact());
        assert!(p.get(ip(1), ip(2)).unwrap().is_exact());
    }

    #[test]
    fn heavy_pairs_survive_a_stream_of_small_ones() {
        let mut p = Pairs::new(64);
        for round in 0..200u32 {
            p.add(ip(1), ip(2), c(50));
            p.add(ip(3), ip(4), c(20));
            for k in 0..100 {
                p.add(ip(1000 + round * 100 + k), ip(9), c(1));
            }
        }
        assert_eq!(p.len(), 64);
        let heavy = p.get(ip(1), ip(2)).unwrap();
        assert!(heavy.is_exact());
        assert_eq!(heavy.floor(), c(10_000));
        assert_eq!(p.get(ip(3), ip(4)).unwrap().floor(), c(4_000));
        // Every held pair's floor is at most what it truly sent.
        for ((src, _), counted) in p.iter() {
            if src == ip(1) || src == ip(3) {
                continue;
            }
            assert!(counted.floor().packets <= 1, "{counted:?}");
        }
    }

    #[test]
    fn the_heap_root_is_always_the_smallest() {
        let mut p = Pairs::new(32);
        let mut x = 12345u64;
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (x >> 40) as u32 % 100;
            p.add(ip(a), ip(a + 1), c((x >> 20) % 7 + 1));
            if p.len() < 32 {
                assert!(p.heap.is_empty(), "no heap before the summary is full");
                continue;
            }
            let root = p.rank(0);
            assert!(p
                .iter()
                .all(|(_, e)| (e.count.packets, e.count.bytes) >= root));
            for (pos, &i) in p.heap.iter().enumerate() {
                assert_eq!(p.entries[i as usize].heap_pos as usize, pos);
            }
        }
    }

    #[test]
    fn merging_disjoint_shards_keeps_every_count() {
        let mut a = Pairs::new(8);
        let mut b = Pairs::new(8);
        a.add(ip(1), ip(2), c(4));
        b.add(ip(3), ip(4), c(6));
        a.merge(b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.get(ip(3), ip(4)).unwrap().floor(), c(6));
    }

    #[test]
    fn first_contact_is_once_per_unordered_pair() {
        let mut t = Talked::new(10);
        assert!(t.first_contact(ip(1), ip(2)));
        assert!(!t.first_contact(ip(2), ip(1)));
        assert!(!t.first_contact(ip(1), ip(2)));
        assert!(t.first_contact(ip(1), ip(1)));
        assert_eq!(t.len(), 2);
        let mut full = Talked::new(1);
        assert!(full.first_contact(ip(1), ip(2)));
        assert!(!full.first_contact(ip(1), ip(3)));
        assert_eq!(full.untracked, 1);
    }
}
