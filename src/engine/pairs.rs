//! Counters per directed address pair (who sent to whom), for the top connections, and the set
//! of address pairs that have talked, for the hosts' peer counts.
//!
//! A long capture meets new address pairs as long as it runs (clients keep reaching new
//! servers), so exact counters for every pair would grow without end. The counters are a
//! Space-Saving summary instead (Metwally, Agrawal and El Abbadi, "Efficient computation of
//! frequent and top-k elements in data streams", 2005): at most [`TOP_PAIRS`] pairs. When it is
//! full, a new pair takes the place of the pair with the fewest packets and inherits its
//! counts as its possible overcount. A pair that carried more than 1/[`TOP_PAIRS`] of all
//! packets is always in it, and any pair's count less its overcount is a floor of the truth,
//! which is what the report shows. The floor is exact when nothing of the pair was lost before
//! it took its place: its first record took it (or it never had to take one), and it was never
//! displaced since. Otherwise the report marks it. Captures with fewer pairs are counted
//! exactly.
//!
//! Whether two addresses ever talked must be remembered for every pair, or a peer would count
//! again each time it came back. For that a pair costs 8 bytes: a keyed 62-bit hash of the
//! unordered pair, and two bits that say which directions have had a flow record counted. Two
//! pairs share a hash by chance about once in 2^62 / n² runs for n pairs.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::flow::addr_bits as bits;
use super::stats::Counter;

/// Pairs whose counters the summary holds: 16 384 pairs take about 1.5 MB.
pub const TOP_PAIRS: usize = 16_384;

/// A pair's counters: what was counted, and how much of it may belong to pairs it displaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub count: Counter,
    pub overcount: Counter,
    /// The floor is the truth: nothing of this pair was lost before it took its place.
    exact: bool,
}

impl Counted {
    fn exactly(count: Counter) -> Self {
        Counted {
            count,
            overcount: Counter::default(),
            exact: true,
        }
    }

    /// What the pair surely carried (its count less the possible overcount).
    pub fn floor(&self) -> Counter {
        Counter {
            packets: self.count.packets - self.overcount.packets,
            bytes: self.count.bytes - self.overcount.bytes,
        }
    }

    pub fn is_exact(&self) -> bool {
        self.exact
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

    /// Adds what `src` sent to `dst`; `first` says this is the pair's first record, so if it
    /// takes a place now, nothing of it was lost before.
    pub fn add(&mut self, src: IpAddr, dst: IpAddr, sent: Counter, first: bool) {
        self.add_counted((src, dst), Counted::exactly(sent), first);
    }

    fn add_counted(&mut self, pair: (IpAddr, IpAddr), c: Counted, first: bool) {
        if let Some(i) = self.find(pair) {
            if let Some(e) = self.entries.get_mut(i) {
                e.counted.count.merge(c.count);
                e.counted.overcount.merge(c.overcount);
                e.counted.exact &= c.exact;
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
            e.counted.exact = c.exact && first;
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

    /// Every pair held with what it surely carried (see [`Counted::floor`]).
    pub fn floors(&self) -> impl Iterator<Item = ((IpAddr, IpAddr), Counter)> + '_ {
        self.iter().map(|(p, c)| (p, c.floor()))
    }

    /// Every pair held with its counters.
    pub fn iter(&self) -> impl Iterator<Item = ((IpAddr, IpAddr), Counted)> + '_ {
        self.entries.iter().map(|e| (e.pair, e.counted))
    }

    /// Adds another shard's pairs (each pair lives in one shard).
    pub fn merge(&mut self, other: Pairs) {
        self.displaced += other.displaced;
        // Each pair lives in one shard, so it is new here and its own exactness stands.
        for e in other.entries {
            self.add_counted(e.pair, e.counted, true);
        }
    }
}

/// The address pairs that have talked, in either direction: per unordered pair, a keyed
/// 62-bit hash with two flag bits (which directions have had a record counted).
#[derive(Debug, Clone)]
pub struct Talked {
    seen: HashTable<u64>,
    cap: usize,
    /// First contacts not remembered because the set was full (their peers went uncounted).
    pub untracked: u64,
}

/// The flag bits of an entry in [`Talked`].
const FLAGS: u64 = 3;

impl Talked {
    pub fn new(cap: usize) -> Self {
        Talked {
            seen: HashTable::new(),
            cap: cap.max(1),
            untracked: 0,
        }
    }

    /// The key of the hash: random per run, the same for every shard, so their sets agree.
    fn key() -> &'static RandomState {
        static KEY: OnceLock<RandomState> = OnceLock::new();
        KEY.get_or_init(RandomState::new)
    }

    /// The pair's hash (flag bits clear) and the flag of the direction `a` → `b`.
    fn fingerprint(a: IpAddr, b: IpAddr) -> (u64, u64) {
        let (lo, hi, flag) = if a <= b { (a, b, 1) } else { (b, a, 2) };
        // The kinds keep an IPv4 address apart from the IPv6 address with the same bits.
        let kinds = u8::from(lo.is_ipv4()) << 1 | u8::from(hi.is_ipv4());
        (
            Self::key().hash_one((bits(lo), bits(hi), kinds)) & !FLAGS,
            flag,
        )
    }

    /// The table's hash of an entry: the keyed hash itself, its high half folded onto the low
    /// bits the flags cleared (the table picks buckets by the low bits).
    fn slot_hash(entry: u64) -> u64 {
        let fp = entry & !FLAGS;
        fp ^ (fp >> 32)
    }

    fn find_mut(&mut self, fp: u64) -> Option<&mut u64> {
        self.seen
            .find_mut(Self::slot_hash(fp), |&e| e & !FLAGS == fp)
    }

    fn insert(&mut self, entry: u64) {
        self.seen
            .insert_unique(Self::slot_hash(entry), entry, |&e| Self::slot_hash(e));
    }

    /// Notes that `a` and `b` talk; true the first time they do (either way round).
    pub fn first_contact(&mut self, a: IpAddr, b: IpAddr) -> bool {
        let (fp, _) = Self::fingerprint(a, b);
        if self.find_mut(fp).is_some() {
            return false;
        }
        if self.seen.len() >= self.cap {
            self.untracked += 1;
            return false;
        }
        self.insert(fp);
        true
    }

    /// Notes a flow record of what `a` sent to `b` (if `sent[0]`), then of what `b` sent to `a`
    /// (if `sent[1]`): one record's two directions, with one hash and one lookup. Each answer
    /// is true when it is the first record that way, false after an earlier one, when nothing
    /// was sent that way, or when the pair went unnoted (the set was full).
    pub fn first_records(&mut self, a: IpAddr, b: IpAddr, sent: [bool; 2]) -> [bool; 2] {
        let (fp, flag) = Self::fingerprint(a, b);
        // Each way has its own flag, except that a host talking to itself has one way.
        let back = if a == b { flag } else { flag ^ FLAGS };
        let Some(e) = self.find_mut(fp) else {
            return [false; 2];
        };
        [(sent[0], flag), (sent[1], back)].map(|(sent, flag)| {
            let first = sent && *e & flag == 0;
            if sent {
                *e |= flag;
            }
            first
        })
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn merge(&mut self, other: Talked) {
        self.untracked += other.untracked;
        for entry in other.seen {
            match self.find_mut(entry & !FLAGS) {
                Some(e) => *e |= entry & FLAGS,
                None => self.insert(entry),
            }
        }
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
        p.add(ip(1), ip(2), c(3), true);
        p.add(ip(2), ip(1), c(1), true);
        p.add(ip(1), ip(2), c(2), false);
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
        p.add(ip(1), ip(2), c(10), true);
        p.add(ip(1), ip(3), c(2), true);
        // Not its first record: some of it may have been lost before.
        p.add(ip(1), ip(4), c(1), false);
        assert_eq!(p.displaced, 1);
        assert!(p.get(ip(1), ip(3)).is_none(), "the smallest went");
        let new = p.get(ip(1), ip(4)).unwrap();
        assert_eq!(new.count, c(3));
        assert_eq!(new.floor(), c(1), "only its own packets are sure");
        assert!(!new.is_exact());
        assert!(p.get(ip(1), ip(2)).unwrap().is_exact());
        // A pair's first record that takes a place has lost nothing: its floor is exact.
        p.add(ip(1), ip(5), c(7), true);
        let fresh = p.get(ip(1), ip(5)).unwrap();
        assert_eq!(fresh.floor(), c(7));
        assert!(fresh.is_exact());
        assert_eq!(p.displaced, 2);
    }

    #[test]
    fn heavy_pairs_survive_a_stream_of_small_ones() {
        let mut p = Pairs::new(64);
        for round in 0..200u32 {
            p.add(ip(1), ip(2), c(50), round == 0);
            p.add(ip(3), ip(4), c(20), round == 0);
            for k in 0..100 {
                p.add(ip(1000 + round * 100 + k), ip(9), c(1), true);
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
            p.add(ip(a), ip(a + 1), c((x >> 20) % 7 + 1), false);
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
        a.add(ip(1), ip(2), c(4), true);
        b.add(ip(3), ip(4), c(6), true);
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
        assert!(one_way(&mut t, ip(1), ip(2)), "the first record one way");
        assert!(!one_way(&mut t, ip(1), ip(2)));
        assert!(one_way(&mut t, ip(2), ip(1)), "the other way is its own");
        assert!(
            !one_way(&mut t, ip(7), ip(8)),
            "a pair never noted is not known to be new"
        );
        let mut full = Talked::new(1);
        assert!(full.first_contact(ip(1), ip(2)));
        assert!(!full.first_contact(ip(1), ip(3)));
        assert_eq!(full.untracked, 1);
    }

    /// A flow record of what `src` sent to `dst`, noted alone.
    fn one_way(t: &mut Talked, src: IpAddr, dst: IpAddr) -> bool {
        t.first_records(src, dst, [true, false])[0]
    }

    /// A record's two directions noted at once say what noting them one after the other says,
    /// a host talking to itself included.
    #[test]
    fn both_ways_at_once_equal_one_way_then_the_other() {
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        let (mut once, mut apart) = (Talked::new(16), Talked::new(16));
        for (a, b) in [(1, 2), (2, 1), (3, 3), (4, 5)] {
            assert_eq!(
                once.first_contact(ip(a), ip(b)),
                apart.first_contact(ip(a), ip(b))
            );
        }
        let records = [
            (1, 2, [true, false]),
            (2, 1, [true, true]),
            (1, 2, [true, true]),
            (3, 3, [true, true]),
            (3, 3, [true, false]),
            (4, 5, [false, true]),
            (5, 4, [false, true]),
            (6, 7, [true, true]),
        ];
        for (a, b, sent) in records {
            let mut expected = [false; 2];
            if sent[0] {
                expected[0] = one_way(&mut apart, ip(a), ip(b));
            }
            if sent[1] {
                expected[1] = one_way(&mut apart, ip(b), ip(a));
            }
            assert_eq!(
                once.first_records(ip(a), ip(b), sent),
                expected,
                "{a} {b} {sent:?}"
            );
        }
        // A first record is new each way; a host talking to itself has one way.
        let mut fresh = Talked::new(4);
        fresh.first_contact(ip(1), ip(2));
        assert_eq!(
            fresh.first_records(ip(2), ip(1), [true, true]),
            [true, true]
        );
        fresh.first_contact(ip(3), ip(3));
        assert_eq!(
            fresh.first_records(ip(3), ip(3), [true, true]),
            [true, false]
        );
    }
}
