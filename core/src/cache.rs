//! A bounded per-worker cache keyed by a token's SHA-256 ([`crate::digest::token`]).
//!
//! Two-way set-associative: the digest picks a set of two slots; a hit in the second slot
//! swaps it to the first, an insert pushes the first slot's entry to the second and drops the
//! second's. So each set keeps its two most recently used entries (LRU per set). The digests
//! are SHA-256 outputs, spread evenly over the sets, so this comes close to a true LRU without
//! its per-entry allocation and list links.
//!
//! The memory is one array, reserved once with `try_reserve_exact` when the cache is made:
//! nothing allocates per insert, so the cache can neither grow past its capacity nor abort the
//! process when memory is short (making it fails instead, and the caller goes without).

use crate::digest::Digest;

/// One slot: a digest and what is remembered for it.
type Slot<V> = Option<(Digest, V)>;

/// A fixed-capacity cache from token digests to `V`.
pub struct DigestCache<V> {
    sets: Vec<[Slot<V>; 2]>,
}

impl<V> DigestCache<V> {
    /// A cache of at least `capacity` entries (rounded up to an even number), or `None` for a
    /// capacity of 0 or when the memory cannot be reserved.
    pub fn try_new(capacity: usize) -> Option<DigestCache<V>> {
        let n = capacity.div_ceil(2);
        if n == 0 {
            return None;
        }
        let mut sets = Vec::new();
        sets.try_reserve_exact(n).ok()?;
        // Within the reserved capacity: no reallocation.
        sets.resize_with(n, || [None, None]);
        Some(DigestCache { sets })
    }

    /// How many entries fit.
    pub fn capacity(&self) -> usize {
        self.sets.len() * 2
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.sets.iter().flatten().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set(&mut self, d: &Digest) -> &mut [Slot<V>; 2] {
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        // The set count is at most `isize::MAX / size_of::<set>()`: the remainder fits usize.
        let i = (u64::from_le_bytes(first) % self.sets.len() as u64) as usize;
        &mut self.sets[i]
    }

    /// The entry for `d`, now the most recently used of its set.
    pub fn get(&mut self, d: &Digest) -> Option<&mut V> {
        let set = self.set(d);
        if set[1].as_ref().is_some_and(|(k, _)| k == d) {
            set.swap(0, 1);
        }
        match &mut set[0] {
            Some((k, v)) if k == d => Some(v),
            _ => None,
        }
    }

    /// Remembers `v` for `d` (replacing what was there for `d`), as the most recently used of
    /// its set; the least recently used entry of a full set is dropped.
    pub fn insert(&mut self, d: Digest, v: V) {
        let set = self.set(&d);
        if set[0].as_ref().is_some_and(|(k, _)| *k == d) {
            set[0] = Some((d, v));
            return;
        }
        // Either the second slot holds `d` (replaced) or the least recently used entry (dropped).
        set[1] = set[0].take();
        set[0] = Some((d, v));
    }

    /// Forgets `d`.
    pub fn remove(&mut self, d: &Digest) {
        let set = self.set(d);
        for slot in set.iter_mut() {
            if slot.as_ref().is_some_and(|(k, _)| k == d) {
                *slot = None;
            }
        }
        if set[0].is_none() {
            set.swap(0, 1);
        }
    }

    /// Forgets everything (the memory is kept).
    pub fn clear(&mut self) {
        for set in &mut self.sets {
            *set = [None, None];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    fn d(i: u32) -> Digest {
        digest::token(&i.to_le_bytes())
    }

    #[test]
    fn zero_capacity_is_no_cache() {
        assert!(DigestCache::<u8>::try_new(0).is_none());
        assert_eq!(DigestCache::<u8>::try_new(1).unwrap().capacity(), 2);
        assert_eq!(DigestCache::<u8>::try_new(7).unwrap().capacity(), 8);
    }

    #[test]
    fn unreservable_memory_is_no_cache_not_an_abort() {
        assert!(DigestCache::<[u8; 64]>::try_new(usize::MAX / 4).is_none());
    }

    #[test]
    fn get_insert_replace_remove() {
        let mut c = DigestCache::try_new(64).unwrap();
        assert!(c.get(&d(1)).is_none());
        c.insert(d(1), "one");
        c.insert(d(2), "two");
        assert_eq!(c.get(&d(1)).copied(), Some("one"));
        assert_eq!(c.get(&d(2)).copied(), Some("two"));
        c.insert(d(1), "uno");
        assert_eq!(c.get(&d(1)).copied(), Some("uno"));
        assert_eq!(c.len(), 2);
        c.remove(&d(1));
        assert!(c.get(&d(1)).is_none());
        assert_eq!(c.get(&d(2)).copied(), Some("two"));
        c.clear();
        assert!(c.is_empty());
        assert!(c.get(&d(2)).is_none());
    }

    #[test]
    fn the_same_digest_never_occupies_both_slots() {
        // A set of one (capacity 2): every digest lands in it.
        let mut c = DigestCache::try_new(2).unwrap();
        c.insert(d(1), 1);
        c.insert(d(2), 2);
        c.insert(d(1), 10); // d(1) is in the second slot: replaced, not duplicated
        assert_eq!(c.len(), 2);
        c.remove(&d(1));
        assert!(c.get(&d(1)).is_none(), "no stale copy left behind");
        assert_eq!(c.get(&d(2)).copied(), Some(2));
    }

    #[test]
    fn a_full_set_drops_its_least_recently_used_entry() {
        let mut c = DigestCache::try_new(2).unwrap();
        c.insert(d(1), 1);
        c.insert(d(2), 2);
        assert_eq!(c.get(&d(1)).copied(), Some(1)); // 1 is now the more recent
        c.insert(d(3), 3); // drops 2
        assert!(c.get(&d(2)).is_none());
        assert_eq!(c.get(&d(1)).copied(), Some(1));
        assert_eq!(c.get(&d(3)).copied(), Some(3));
    }

    #[test]
    fn bounded_however_many_digests_arrive() {
        let mut c = DigestCache::try_new(1000).unwrap();
        for i in 0..100_000 {
            c.insert(d(i), i);
        }
        assert!(c.len() <= 1000);
        // Most recent inserts are found (each is the newest of its set).
        assert_eq!(c.get(&d(99_999)).copied(), Some(99_999));
        // The sets fill evenly: nearly all slots are in use.
        assert!(c.len() > 990, "{} of 1000 slots used", c.len());
    }
}
