//! A capped map for detector state: when full, the entry touched least recently is evicted and
//! counted. Detectors key state by addresses an attacker chooses, so every table is one of these.

use std::hash::{BuildHasher, Hash};

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
        let hash = self.map.hasher().hash_one(&key);
        // The length first: the lookup is needed only when the table is full.
        if self.map.len() >= self.cap && self.map.get_hashed(hash, &key).is_none() {
            self.evict_idlest();
        }
        self.map.touch_or_insert_with_hashed(hash, key, make)
    }

    /// Adds `key` with `value` unless it is there already, which is left as it was (not made
    /// the most recent); true when it was added.
    pub fn insert_new(&mut self, key: K, value: V) -> bool {
        let hash = self.map.hasher().hash_one(&key);
        if self.map.get_hashed(hash, &key).is_some() {
            return false;
        }
        if self.map.len() >= self.cap {
            self.evict_idlest();
        }
        self.map.insert_absent_hashed(hash, key, value);
        true
    }

    fn evict_idlest(&mut self) {
        self.map.pop_oldest();
        self.evicted += 1;
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

    #[test]
    fn insert_new_keeps_what_is_there_and_its_place() {
        let mut b = Bounded::new(2);
        assert!(b.insert_new(1, 10));
        assert!(b.insert_new(2, 20));
        assert!(!b.insert_new(1, 11), "1 is there already");
        assert_eq!(b.get(&1), Some(&10));
        // 1 stayed the idlest: the next new key evicts it.
        assert!(b.insert_new(3, 30));
        assert_eq!((b.get(&1), b.evicted), (None, 1));
        assert_eq!((b.get(&2), b.get(&3)), (Some(&20), Some(&30)));
    }
}
