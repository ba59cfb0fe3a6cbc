//! Counting in packet time: distinct items in a sliding window, and events in a fixed window.

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use smallvec::SmallVec;

use crate::time::Timestamp;

/// Distinct items (ports, addresses) seen within the last `window` of packet time, each with
/// the time it was last seen and a tag. Holds at most `cap` items (later ones are not noted
/// until room is made), so memory per window is fixed.
#[derive(Debug)]
pub struct Distinct<T, G> {
    /// Most windows only ever hold one item (a client's connection, answered): it lives in
    /// the window itself, and a window needs the heap only from its second item on.
    items: SmallVec<[(T, Timestamp, G); 1]>,
    cap: u32,
    /// New items not noted because the window was full (saturating).
    pub overflow: u32,
}

impl<T: PartialEq + Copy, G: Copy> Distinct<T, G> {
    pub fn new(cap: usize) -> Self {
        Distinct {
            // Grows with what is noted, never past `cap`.
            items: SmallVec::new(),
            cap: cap.clamp(1, u32::MAX as usize) as u32,
            overflow: 0,
        }
    }

    /// Notes `item` at `now`; forgets items older than `window_ns` first when it is new.
    pub fn add(&mut self, item: T, tag: G, now: Timestamp, window_ns: i64) {
        if let Some(e) = self.items.iter_mut().find(|e| e.0 == item) {
            e.1 = e.1.max(now);
            e.2 = tag;
            return;
        }
        let oldest = now.0.saturating_sub(window_ns);
        self.items.retain(|e| e.1 .0 >= oldest);
        if self.items.len() < self.cap as usize {
            self.items.push((item, now, tag));
        } else {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    /// The tag of `item`, if it is in the window.
    pub fn tag_mut(&mut self, item: T) -> Option<&mut G> {
        self.items
            .iter_mut()
            .find(|e| e.0 == item)
            .map(|e| &mut e.2)
    }

    pub fn remove(&mut self, item: T) {
        self.items.retain(|e| e.0 != item);
    }

    /// The items outgrew the window and live on the heap.
    pub fn on_heap(&self) -> bool {
        self.items.spilled()
    }

    pub fn items(&self) -> impl Iterator<Item = &(T, Timestamp, G)> {
        self.items.iter()
    }

    /// Forgets the items `drop` selects.
    pub fn remove_where(&mut self, mut drop: impl FnMut(&(T, Timestamp, G)) -> bool) {
        self.items.retain(|e| !drop(e));
    }
}

/// Events counted in fixed windows of packet time: the count restarts when an event falls past
/// the end of the current window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    start: Timestamp,
    pub count: u64,
}

impl Tally {
    /// Adds `n` at `now` and returns the count of the current window.
    pub fn add(&mut self, now: Timestamp, n: u64, window_ns: i64) -> u64 {
        if self.is_over(now, window_ns) || now < self.start {
            self.start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(n);
        self.count
    }

    /// Takes `n` back (an event that turned out not to count), within the current window only.
    pub fn sub(&mut self, now: Timestamp, n: u64, window_ns: i64) {
        if now.0.saturating_sub(self.start.0) < window_ns {
            self.count = self.count.saturating_sub(n);
        }
    }

    pub fn reset(&mut self) {
        self.count = 0;
    }

    /// True when the window holds nothing that counts at `now`: the next event starts a new
    /// one, as it would on a fresh tally.
    pub fn is_over(&self, now: Timestamp, window_ns: i64) -> bool {
        self.count == 0 || now.0.saturating_sub(self.start.0) >= window_ns
    }
}

/// Events per key in the last window of packet time, each estimated from two fixed windows:
/// the current one's count and the previous one's, weighted by how much of it the last window
/// still covers (the sliding-window counter of rate limiters). Unlike a [`Tally`], a burst at
/// the end of one fixed window still counts early in the next, and nothing counts after two.
///
/// The fixed windows are the same for every key, so a key's counts live in two tables, and
/// the end of a window empties a whole table: a key costs 13 bytes (and its table's share of
/// slack) while either window holds its events, nothing after. Keys are `u64`s the caller
/// hashed already (with a key of its own); the tables use their bits as the hash.
#[derive(Debug)]
pub struct SlidingCounts {
    /// Where the current fixed window starts: at the first event, then a window apart.
    start: Option<Timestamp>,
    current: HashTable<Counted>,
    previous: HashTable<Counted>,
    /// Keys a window holds at most.
    cap: usize,
    /// Events not counted because their key was new and the window full (saturating).
    pub untracked: u64,
}

/// A key and its count in 12 bytes, where a `(u64, u32)` takes 16.
#[derive(Debug, Clone, Copy)]
struct Counted {
    key: [u32; 2],
    count: u32,
}

impl Counted {
    fn key(&self) -> u64 {
        u64::from(self.key[0]) << 32 | u64::from(self.key[1])
    }
}

impl SlidingCounts {
    pub fn new(cap: usize) -> Self {
        SlidingCounts {
            start: None,
            current: HashTable::new(),
            previous: HashTable::new(),
            cap: cap.max(1),
            untracked: 0,
        }
    }

    /// Adds one event of `key` at `now`.
    pub fn add(&mut self, key: u64, now: Timestamp, window_ns: i64) {
        self.advance(now, window_ns);
        let full = self.current.len() >= self.cap;
        match self.current.entry(key, |e| e.key() == key, Counted::key) {
            Entry::Occupied(mut e) => {
                let e = e.get_mut();
                e.count = e.count.saturating_add(1);
            }
            Entry::Vacant(_) if full => self.untracked = self.untracked.saturating_add(1),
            Entry::Vacant(e) => {
                e.insert(Counted {
                    key: [(key >> 32) as u32, key as u32],
                    count: 1,
                });
            }
        }
    }

    /// About how many events of `key` fell in the window of packet time that ends at `now`,
    /// rounded up.
    pub fn at(&self, key: u64, now: Timestamp, window_ns: i64) -> u64 {
        let Some(start) = self.start else {
            return 0;
        };
        let count = |t: &HashTable<Counted>| t.find(key, |e| e.key() == key).map_or(0, |e| e.count);
        let (current, previous, into) = match position(start, now, window_ns) {
            (0, into) => (count(&self.current), count(&self.previous), into),
            (1, into) => (0, count(&self.current), into),
            _ => (0, 0, 0),
        };
        let w = u128::from(window_ns.unsigned_abs().max(1));
        let left = w.saturating_sub(u128::from(into.unsigned_abs()));
        let weighted = (u128::from(previous) * left).div_ceil(w);
        u64::from(current) + u64::try_from(weighted).unwrap_or(u64::MAX)
    }

    /// Forgets the events of `key`.
    pub fn remove(&mut self, key: u64) {
        for t in [&mut self.current, &mut self.previous] {
            if let Ok(e) = t.find_entry(key, |e| e.key() == key) {
                e.remove();
            }
        }
    }

    /// Keys with events in either window.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Moves the fixed windows on to the one `now` falls in.
    fn advance(&mut self, now: Timestamp, window_ns: i64) {
        let start = *self.start.get_or_insert(now);
        // The tables are emptied, not dropped: their room is used again by the next window,
        // so a steady stream of connections does not allocate once a window.
        match position(start, now, window_ns) {
            (0, _) => return,
            (1, _) => {
                std::mem::swap(&mut self.previous, &mut self.current);
                self.current.clear();
            }
            // Two windows or more since the current one began: nothing is left of either.
            _ => {
                self.previous.clear();
                self.current.clear();
            }
        }
        let w = window_ns.max(1);
        let whole = now.0.saturating_sub(start.0) / w;
        self.start = Some(Timestamp(start.0.saturating_add(whole.saturating_mul(w))));
    }
}

/// How many whole windows `now` is past a window that starts at `start` (0: inside it; also
/// for a time before it), and how far into its own window it is.
fn position(start: Timestamp, now: Timestamp, window_ns: i64) -> (i64, i64) {
    let w = window_ns.max(1);
    let elapsed = now.0.saturating_sub(start.0).max(0);
    (elapsed / w, elapsed % w)
}

/// Nanoseconds in `secs` seconds, saturating.
pub fn secs_ns(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(Timestamp::NANOS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(s * Timestamp::NANOS_PER_SEC)
    }

    #[test]
    fn distinct_forgets_items_older_than_the_window() {
        let mut d = Distinct::new(10);
        d.add(1u16, (), t(0), secs_ns(5));
        d.add(2, (), t(3), secs_ns(5));
        d.add(2, (), t(4), secs_ns(5));
        assert_eq!(d.items().count(), 2);
        d.add(3, (), t(7), secs_ns(5));
        assert_eq!(d.items().count(), 2, "port 1 (t=0) left the window");
    }

    #[test]
    fn one_item_needs_no_heap() {
        let mut d = Distinct::new(10);
        d.add(1u16, (), t(0), secs_ns(5));
        assert!(!d.items.spilled());
        d.add(2u16, (), t(1), secs_ns(5));
        assert!(d.items.spilled(), "the second item goes to the heap");
    }

    #[test]
    fn tally_restarts_each_window() {
        let mut w = Tally::default();
        assert_eq!(w.add(t(10), 1, secs_ns(1)), 1);
        assert_eq!(w.add(t(10), 1, secs_ns(1)), 2);
        assert_eq!(w.add(t(11), 1, secs_ns(1)), 1);
    }

    #[test]
    fn sliding_counts_weigh_the_previous_window_by_what_is_left_of_it() {
        let w = secs_ns(60);
        let (a, b) = (7, 8);
        let mut s = SlidingCounts::new(10);
        for i in 0..120 {
            s.add(a, Timestamp(t(10).0 + i * secs_ns(1) / 2), w); // 2 a second in [10, 70)
        }
        assert_eq!(s.at(a, t(69), w), 120);
        assert_eq!(s.at(b, t(69), w), 0, "another key");
        // At 70 a new fixed window begins: the last 60 s still hold all 120.
        assert_eq!(s.at(a, t(70), w), 120);
        // At 100, half of [10, 70) is still in the last 60 s: 60.
        assert_eq!(s.at(a, t(100), w), 60);
        s.add(a, t(100), w);
        s.add(b, t(100), w);
        assert_eq!(s.at(a, t(100), w), 61);
        assert_eq!(s.at(b, t(100), w), 1);
        assert_eq!(
            s.at(a, t(129), w),
            1 + 2,
            "one event now, a sixtieth of 120 rounded up"
        );
        // Two windows after the last event, nothing is left, and the tables are empty.
        assert_eq!(s.at(a, t(190), w), 0);
        s.add(b, t(300), w);
        assert_eq!(s.at(b, t(300), w), 1, "a fresh start after a long pause");
        assert_eq!(s.at(a, t(300), w), 0);
        assert_eq!(s.len(), 1);
        s.remove(b);
        assert_eq!(s.at(b, t(300), w), 0);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn sliding_counts_hold_at_most_cap_keys_a_window() {
        let w = secs_ns(60);
        let mut s = SlidingCounts::new(2);
        for key in 0..5 {
            s.add(key, t(1), w);
        }
        s.add(0, t(2), w);
        assert_eq!((s.at(0, t(2), w), s.at(4, t(2), w)), (2, 0));
        assert_eq!(s.untracked, 3);
        // The next window has room again: the full one is only the previous now.
        s.add(4, t(62), w);
        assert_eq!(s.at(4, t(62), w), 1);
    }
}
