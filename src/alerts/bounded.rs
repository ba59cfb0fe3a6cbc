//! A capped map for detector state: when full, the entry touched least recently is evicted and
//! counted. Detectors key state by addresses an attacker chooses, so every table is one of these.

use std::hash::Hash;

use crate::engine::lru::LruMap;

pub struct Bounded<K, V> {
    map: LruMap<K, V>,
    cap: usize,
    pub evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    pub fn new(cap: usize) -> Self {
        Bounded {
            map: LruMap::new(),
            cap: cap.max(1),
            evicted: 0,
        }
    }

    /// The entry for `key`, made by `make` when new (evicting the idlest entry if full).
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        // The length first: the lookup is needed only when the table is full.
        if self.map.len() >= self.cap && self.map.get(&key).is_none() {
            self.map.pop_oldest();
            self.evicted += 1;
        }
        self.map.touch_or_insert_with(key, make)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.touch(key)
    }

    /// Removes the entry touched least recently if `idle` says it may go.
    pub fn pop_oldest_if(&mut self, idle: impl FnOnce(&V) -> bool) -> Option<(K, V)> {
        if idle(self.map.oldest()?.1) {
            self.map.pop_oldest()
        } else {
            None
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Every entry, oldest first, emptying the table.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        self.map.drain()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_table_evicts_the_idlest_and_counts_it() {
        let mut b = Bounded::new(2);
        *b.entry(1, || 0) += 1;
        *b.entry(2, || 0) += 1;
        *b.entry(1, || 0) += 1; // 2 is now the idlest
        *b.entry(3, || 0) += 1;
        assert_eq!(b.len(), 2);
        assert_eq!(b.evicted, 1);
        assert_eq!(b.get(&1), Some(&2));
        assert_eq!(b.get(&2), None);
    }
}
