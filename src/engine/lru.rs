//! A bounded map that remembers which entries were touched least recently.
//!
//! Flows and hosts both need: O(1) lookup by key, O(1) "this entry just saw a packet", and O(1)
//! access to the idlest entry (to expire flows by packet time, and to evict when the table is
//! full). A hash map from key to slot plus an intrusive doubly-linked list threaded through a
//! slab of slots gives all three with one allocation per growth step, not per entry. The index
//! holds only slot numbers (a `HashTable<u32>` hashing the key stored in the slot), so each key
//! is stored once: for a flow key that saves 40 of the bytes every tracked flow costs.
//!
//! Entries are ordered by when they were last touched, which follows packet time as long as
//! timestamps mostly increase (a capture that jumps backwards only makes expiry a bit late).

use std::hash::{BuildHasher, Hash};

use hashbrown::{DefaultHashBuilder, HashTable};

const NIL: u32 = u32::MAX;

struct Slot<K, V> {
    key: K,
    value: V,
}

/// A slot's neighbours in the recency list.
#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

pub struct LruMap<K, V> {
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Option<Slot<K, V>>>,
    /// The recency list, beside the slots rather than in them: moving an entry to the tail
    /// rewrites its neighbours' links, and in a table larger than the cache (a flow slot is
    /// about 230 bytes) each neighbour's slot was a cache miss. Eight bytes a slot stay cached.
    links: Vec<Link>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
}

impl<K: Hash + Eq + Clone, V> Default for LruMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, V> LruMap<K, V> {
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// A map hashing as `hasher` does: maps made with clones of one hasher accept each other's
    /// hashes (see [`LruMap::hasher`]).
    pub fn with_hasher(hasher: DefaultHashBuilder) -> Self {
        LruMap {
            index: HashTable::new(),
            hasher,
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// What the map hashes keys with. The `_hashed` methods take `hasher().hash_one(key)`, made
    /// once by a caller that looks a key up in several maps sharing one hasher, or looks it up
    /// and then moves it, or hashes a key from its parts as it builds it. Any other number
    /// loses the entry.
    pub fn hasher(&self) -> &DefaultHashBuilder {
        &self.hasher
    }

    fn hash_of(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot of `key`, if present.
    fn find(&self, key: &K) -> Option<u32> {
        self.find_hashed(self.hash_of(key), key)
    }

    /// The slot of `key`, whose hash is `hash`, if present.
    fn find_hashed(&self, hash: u64, key: &K) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(
                hash,
                |&i| matches!(slots.get(i as usize), Some(Some(s)) if s.key == *key),
            )
            .copied()
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.get_hashed(self.hash_of(key), key)
    }

    /// [`LruMap::get`] for a key whose hash is `hash` (see [`LruMap::hasher`]).
    pub fn get_hashed(&self, hash: u64, key: &K) -> Option<&V> {
        let i = self.find_hashed(hash, key)?;
        self.slot(i).map(|s| &s.value)
    }

    /// The entry for `key`, moved to the most-recent end.
    pub fn touch(&mut self, key: &K) -> Option<&mut V> {
        self.touch_hashed(self.hash_of(key), key)
    }

    /// [`LruMap::touch`] for a key whose hash is `hash` (see [`LruMap::hasher`]).
    pub fn touch_hashed(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let i = self.find_hashed(hash, key)?;
        self.move_to_tail(i);
        self.slot_mut(i).map(|s| &mut s.value)
    }

    /// The entry for `key` moved to the most-recent end, or a new one made by `make` (the key
    /// hashed once either way).
    pub fn touch_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.touch_or_insert_with_hashed(self.hash_of(&key), key, make)
    }

    /// [`LruMap::touch_or_insert_with`] for a key whose hash is `hash` (see [`LruMap::hasher`]).
    pub fn touch_or_insert_with_hashed(
        &mut self,
        hash: u64,
        key: K,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        if let Some(i) = self.find_hashed(hash, &key) {
            self.move_to_tail(i);
            if self.slot(i).is_some() {
                return match self.slots.get_mut(i as usize) {
                    Some(Some(s)) => &mut s.value,
                    _ => unreachable!("slot {i} was just checked"),
                };
            }
        }
        self.insert_absent_hashed(hash, key, make())
    }

    /// Inserts an entry at the most-recent end; an existing key is replaced.
    pub fn insert(&mut self, key: K, value: V) -> &mut V {
        if let Some(old) = self.find(&key) {
            self.remove_slot(old);
        }
        self.insert_absent(key, value)
    }

    /// Inserts an entry the caller knows is not in the map (it just looked, or just removed
    /// it), saving the lookup [`LruMap::insert`] makes. A key that is present anyway ends up
    /// twice, so this is for the flow table's hot path only.
    pub fn insert_absent(&mut self, key: K, value: V) -> &mut V {
        self.insert_absent_hashed(self.hash_of(&key), key, value)
    }

    /// [`LruMap::insert_absent`] for a key whose hash is `hash` (see [`LruMap::hasher`]).
    pub fn insert_absent_hashed(&mut self, hash: u64, key: K, value: V) -> &mut V {
        let slot = Slot { key, value };
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.links.push(UNLINKED);
                (self.slots.len() - 1) as u32
            }
        };
        // The slot is filled first: growing the index rehashes entries from their slots' keys.
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index
            .insert_unique(hash, i, |&j| match slots.get(j as usize) {
                Some(Some(s)) => hasher.hash_one(&s.key),
                _ => 0,
            });
        self.link_tail(i);
        // The slot was just filled, so this lookup cannot miss.
        match self.slots.get_mut(i as usize) {
            Some(Some(s)) => &mut s.value,
            _ => unreachable!("slot {i} was just filled"),
        }
    }

    /// The least recently touched entry.
    pub fn oldest(&self) -> Option<(&K, &V)> {
        self.slot(self.head).map(|s| (&s.key, &s.value))
    }

    /// Removes and returns the least recently touched entry.
    pub fn pop_oldest(&mut self) -> Option<(K, V)> {
        if self.head == NIL {
            return None;
        }
        self.remove_slot(self.head)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.remove_hashed(self.hash_of(key), key)
    }

    /// [`LruMap::remove`] for a key whose hash is `hash` (see [`LruMap::hasher`]).
    pub fn remove_hashed(&mut self, hash: u64, key: &K) -> Option<V> {
        let i = self.find_hashed(hash, key)?;
        self.remove_slot_hashed(i, hash).map(|(_, v)| v)
    }

    /// All entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut cursor = self.head;
        std::iter::from_fn(move || {
            let s = self.slot(cursor)?;
            cursor = self.links.get(cursor as usize)?.next;
            Some((&s.key, &s.value))
        })
    }

    /// Removes every entry, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        std::iter::from_fn(move || self.pop_oldest())
    }

    fn slot(&self, i: u32) -> Option<&Slot<K, V>> {
        self.slots.get(i as usize)?.as_ref()
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Slot<K, V>> {
        self.slots.get_mut(i as usize)?.as_mut()
    }

    fn remove_slot(&mut self, i: u32) -> Option<(K, V)> {
        let hash = self.hash_of(&self.slot(i)?.key);
        self.remove_slot_hashed(i, hash)
    }

    /// Removes slot `i`, whose key's hash is `hash`.
    fn remove_slot_hashed(&mut self, i: u32, hash: u64) -> Option<(K, V)> {
        self.unlink(i);
        if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let slot = self.slots.get_mut(i as usize)?.take()?;
        self.free.push(i);
        Some((slot.key, slot.value))
    }

    fn unlink(&mut self, i: u32) {
        // A free slot is in no list (its links are NIL, which would read as head and tail).
        if self.slot(i).is_none() {
            return;
        }
        let Some(&Link { prev, next }) = self.links.get(i as usize) else {
            return;
        };
        match self.links.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.links.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(l) = self.links.get_mut(i as usize) {
            *l = UNLINKED;
        }
    }

    /// Marks slot `i` most recent. Packets come in bursts per flow and host, so it often is
    /// already, and then the four links of an unlink and relink need not be written.
    fn move_to_tail(&mut self, i: u32) {
        if i != self.tail {
            self.unlink(i);
            self.link_tail(i);
        }
    }

    fn link_tail(&mut self, i: u32) {
        let old_tail = self.tail;
        if let Some(l) = self.links.get_mut(i as usize) {
            *l = Link {
                prev: old_tail,
                next: NIL,
            };
        }
        match self.links.get_mut(old_tail as usize) {
            Some(t) => t.next = i,
            None => self.head = i,
        }
        self.tail = i;
    }

    /// Bytes of bookkeeping per entry beyond the key and value themselves (index entry, links,
    /// hash table control byte), for the memory figures in reports.
    pub fn overhead_per_entry() -> usize {
        std::mem::size_of::<u32>() + 1 + 2 * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_recency_order() {
        let mut m = LruMap::new();
        m.insert(1, "a");
        m.insert(2, "b");
        m.insert(3, "c");
        m.touch(&1);
        let order: Vec<i32> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(order, vec![2, 3, 1]);
        assert_eq!(m.pop_oldest(), Some((2, "b")));
        assert_eq!(m.remove(&3), Some("c"));
        assert_eq!(m.oldest(), Some((&1, &"a")));
        m.insert(4, "d");
        assert_eq!(m.len(), 2);
        let drained: Vec<i32> = m.drain().map(|(k, _)| k).collect();
        assert_eq!(drained, vec![1, 4]);
        assert!(m.is_empty());
    }

    #[test]
    fn maps_sharing_a_hasher_take_each_others_hashes() {
        let hasher = DefaultHashBuilder::default();
        let mut a = LruMap::with_hasher(hasher.clone());
        let mut b = LruMap::with_hasher(hasher.clone());
        // Enough keys for the index to grow (and rehash from the keys) several times.
        for k in 0..1000u32 {
            let hash = a.hasher().hash_one(k);
            a.insert_absent_hashed(hash, k, k * 2);
        }
        for k in 0..1000u32 {
            let hash = hasher.hash_one(k);
            let v = a.remove_hashed(hash, &k).unwrap();
            b.insert_absent_hashed(hash, k, v);
            assert_eq!(b.touch_hashed(hash, &k), Some(&mut (k * 2)));
        }
        assert!(a.is_empty());
        assert_eq!(b.len(), 1000);
        assert_eq!(b.get(&999), Some(&1998));
        assert_eq!(b.remove(&0), Some(0));
    }

    #[test]
    fn reuses_slots() {
        let mut m = LruMap::new();
        for round in 0..10 {
            for k in 0..100 {
                m.insert(k, round);
            }
            while m.pop_oldest().is_some() {}
        }
        assert!(m.slots.len() <= 100);
    }
}
