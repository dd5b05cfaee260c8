//! A bounded per-worker cache keyed by a token's SHA-256 ([`crate::digest::token`]): a true
//! LRU (the least recently used entry is dropped when a new one needs its room) whose memory is
//! reserved once, fallibly, when it is made.
//!
//! The entries are nodes of one array, linked by index into a most-recently-used list; a
//! second array indexes them by digest (open addressing: the digests are SHA-256 outputs, so
//! their first bytes place them evenly; at most half full; a removal shifts its followers back,
//! so no tombstones build up). Both arrays are reserved with `try_reserve_exact` when the cache
//! is made and never reallocated: an insert takes a free node, a new one within the reserved
//! room (so the worker's memory grows with the entries held, as before, up to the capacity),
//! or the least recently used one; it allocates nothing and cannot abort the worker when
//! memory is short (making the cache fails instead, and the caller goes without). `lru::LruCache` was measured against it
//! (`cargo test --release -p jwt_peer_auth_core --test cache_measure -- --ignored`): it
//! allocates a node per insert until full and its table at creation, both infallibly.

use crate::digest::Digest;

/// No node.
const NIL: u32 = u32::MAX;

/// An entry's place: what it holds (`None`: free) and its neighbours in the recency list
/// (or, free, the next free node).
struct Node<V> {
    entry: Option<(Digest, V)>,
    prev: u32,
    next: u32,
}

/// A fixed-capacity LRU cache from token digests to `V`.
pub struct DigestCache<V> {
    nodes: Vec<Node<V>>,
    /// Node numbers by digest (open addressing, linear probing; a power of two long, at least
    /// twice the capacity); `NIL`: empty.
    index: Vec<u32>,
    /// Most and least recently used nodes.
    head: u32,
    tail: u32,
    /// First free node (a node once used, then removed).
    free: u32,
    len: usize,
    /// Most nodes: `nodes` never grows past the room reserved for them.
    capacity: usize,
}

impl<V> DigestCache<V> {
    /// A cache of `capacity` entries, or `None` for a capacity of 0 (or above 2^31) or when
    /// the memory cannot be reserved.
    pub fn try_new(capacity: usize) -> Option<DigestCache<V>> {
        if capacity == 0 || capacity > 1 << 31 {
            return None;
        }
        let slots = capacity.checked_mul(2)?.checked_next_power_of_two()?;
        let mut nodes = Vec::new();
        nodes.try_reserve_exact(capacity).ok()?;
        let mut index = Vec::new();
        index.try_reserve_exact(slots).ok()?;
        // Within the reserved capacity: no reallocation. The nodes are made as they are needed.
        index.resize(slots, NIL);
        Some(DigestCache {
            nodes,
            index,
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
            capacity,
        })
    }

    /// Bytes a cache of `capacity` entries reserves (both arrays).
    pub const fn reserved_bytes(capacity: usize) -> usize {
        capacity * std::mem::size_of::<Node<V>>() + (capacity * 2).next_power_of_two() * 4
    }

    /// How many entries fit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where `d` starts looking in the index.
    fn home(&self, d: &Digest) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(&d[..8]);
        // Masked to the index length, which is a usize.
        (u64::from_le_bytes(first) & (self.index.len() as u64 - 1)) as usize
    }

    fn key(&self, n: u32) -> Option<&Digest> {
        self.nodes[n as usize].entry.as_ref().map(|(k, _)| k)
    }

    /// The index position and node of `d`. Ends: the index is at most half full.
    fn find(&self, d: &Digest) -> Option<(usize, u32)> {
        let mask = self.index.len() - 1;
        let mut pos = self.home(d);
        loop {
            let n = self.index[pos];
            if n == NIL {
                return None;
            }
            if self.key(n) == Some(d) {
                return Some((pos, n));
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Empties index position `pos`, moving back the entries after it that would otherwise no
    /// longer be found from their home position.
    fn unindex(&mut self, mut pos: usize) {
        let mask = self.index.len() - 1;
        'hole: loop {
            self.index[pos] = NIL;
            let mut j = pos;
            loop {
                j = (j + 1) & mask;
                let n = self.index[j];
                if n == NIL {
                    return;
                }
                let home = match self.key(n) {
                    Some(k) => self.home(k),
                    None => return,
                };
                // `n` stays where it is if its home lies cyclically in (pos, j].
                let stays = if pos <= j {
                    pos < home && home <= j
                } else {
                    pos < home || home <= j
                };
                if !stays {
                    self.index[pos] = n;
                    pos = j;
                    continue 'hole;
                }
            }
        }
    }

    /// Takes node `n` out of the recency list.
    fn unlink(&mut self, n: u32) {
        let (prev, next) = (self.nodes[n as usize].prev, self.nodes[n as usize].next);
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            x => self.nodes[x as usize].prev = prev,
        }
    }

    /// Makes node `n` the most recently used.
    fn push_front(&mut self, n: u32) {
        let old = self.head;
        self.nodes[n as usize].prev = NIL;
        self.nodes[n as usize].next = old;
        match old {
            NIL => self.tail = n,
            o => self.nodes[o as usize].prev = n,
        }
        self.head = n;
    }

    /// The entry for `d`, now the most recently used.
    pub fn get(&mut self, d: &Digest) -> Option<&mut V> {
        let (_, n) = self.find(d)?;
        if self.head != n {
            self.unlink(n);
            self.push_front(n);
        }
        self.nodes[n as usize].entry.as_mut().map(|(_, v)| v)
    }

    /// Remembers `v` for `d` (replacing what was there for `d`), as the most recently used;
    /// when the cache is full, the least recently used entry is dropped. Allocates nothing.
    pub fn insert(&mut self, d: Digest, v: V) {
        if let Some((_, n)) = self.find(&d) {
            self.nodes[n as usize].entry = Some((d, v));
            if self.head != n {
                self.unlink(n);
                self.push_front(n);
            }
            return;
        }
        let n = if self.free != NIL {
            let n = self.free;
            self.free = self.nodes[n as usize].next;
            self.len += 1;
            n
        } else if self.nodes.len() < self.capacity {
            // Within the room reserved in `try_new`: no reallocation. Fits: the capacity is at
            // most 2^31.
            let n = self.nodes.len() as u32;
            self.nodes.push(Node {
                entry: None,
                prev: NIL,
                next: NIL,
            });
            self.len += 1;
            n
        } else {
            // Full: the least recently used node is reused.
            let n = self.tail;
            if let Some(old) = self.key(n).copied() {
                if let Some((pos, _)) = self.find(&old) {
                    self.unindex(pos);
                }
            }
            self.unlink(n);
            n
        };
        self.nodes[n as usize].entry = Some((d, v));
        self.push_front(n);
        let mask = self.index.len() - 1;
        let mut pos = self.home(&d);
        while self.index[pos] != NIL {
            pos = (pos + 1) & mask;
        }
        self.index[pos] = n;
    }

    /// Forgets `d`.
    pub fn remove(&mut self, d: &Digest) {
        let Some((pos, n)) = self.find(d) else {
            return;
        };
        self.unindex(pos);
        self.unlink(n);
        let node = &mut self.nodes[n as usize];
        node.entry = None;
        node.prev = NIL;
        node.next = self.free;
        self.free = n;
        self.len -= 1;
    }

    /// Forgets everything (the memory is kept).
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.index.fill(NIL);
        (self.head, self.tail, self.free, self.len) = (NIL, NIL, NIL, 0);
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
        assert_eq!(DigestCache::<u8>::try_new(1).unwrap().capacity(), 1);
        assert_eq!(DigestCache::<u8>::try_new(7).unwrap().capacity(), 7);
    }

    #[test]
    fn unreservable_memory_is_no_cache_not_an_abort() {
        assert!(DigestCache::<[u8; 64]>::try_new(usize::MAX / 4).is_none());
        // Within the capacity limit, but more memory than there is. The cache escapes through
        // black_box: an allocation nothing uses may be elided by the optimizer, which then
        // takes it as granted.
        let huge = std::hint::black_box(DigestCache::<[u8; 1 << 20]>::try_new(1 << 30));
        assert!(huge.is_none());
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
        // Capacity 2: d(1) is the least recently used when it is inserted again.
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
        // Exactly the last 1000 inserted are held.
        assert_eq!(c.len(), 1000);
        assert!(c.get(&d(98_999)).is_none());
        for i in 99_000..100_000 {
            assert_eq!(c.get(&d(i)).copied(), Some(i));
        }
    }

    #[test]
    fn a_true_lru_whatever_the_digests() {
        // A full cache of 4: touching the oldest saves it; the next insert drops the
        // least recently used, whichever index positions the digests have.
        let mut c = DigestCache::try_new(4).unwrap();
        for i in 0..4 {
            c.insert(d(i), i);
        }
        assert_eq!(c.get(&d(0)).copied(), Some(0));
        c.insert(d(4), 4); // drops 1
        assert!(c.get(&d(1)).is_none());
        c.insert(d(5), 5); // drops 2
        assert!(c.get(&d(2)).is_none());
        for i in [0, 3, 4, 5] {
            assert_eq!(c.get(&d(i)).copied(), Some(i));
        }
    }

    /// The same operations on the cache and on a plain list (most recent first), from a fixed
    /// pseudo-random sequence: few digests and a small index, so probes collide, and removals
    /// shift entries back across the end of the index.
    #[test]
    fn matches_a_plain_lru_list() {
        for cap in [1, 2, 3, 5, 8, 13] {
            let mut c = DigestCache::try_new(cap).unwrap();
            let mut model: Vec<(u32, u32)> = Vec::new();
            let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ cap as u64;
            for step in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = (x % 24) as u32;
                match (x >> 32) % 10 {
                    0..=3 => {
                        let got = c.get(&d(k)).copied();
                        let want = model.iter().position(|e| e.0 == k).map(|i| {
                            let e = model.remove(i);
                            model.insert(0, e);
                            e.1
                        });
                        assert_eq!(got, want, "cap {cap} step {step}: get {k}");
                    }
                    4..=7 => {
                        c.insert(d(k), step);
                        model.retain(|e| e.0 != k);
                        model.insert(0, (k, step));
                        model.truncate(cap);
                    }
                    8 => {
                        c.remove(&d(k));
                        model.retain(|e| e.0 != k);
                    }
                    _ if step % 1000 == 999 => {
                        c.clear();
                        model.clear();
                    }
                    _ => {}
                }
                assert_eq!(c.len(), model.len(), "cap {cap} step {step}");
            }
            for (k, v) in model.clone() {
                assert_eq!(c.get(&d(k)).copied(), Some(v));
            }
            assert!(c.nodes.len() <= cap);
        }
    }

    #[test]
    fn inserts_allocate_nothing() {
        let mut c = DigestCache::try_new(64).unwrap();
        let (nodes, index) = (c.nodes.as_ptr(), c.index.as_ptr());
        for i in 0..10_000 {
            c.insert(d(i), i);
            if i % 3 == 0 {
                c.remove(&d(i / 2));
            }
        }
        assert_eq!((c.nodes.as_ptr(), c.index.as_ptr()), (nodes, index));
        assert_eq!((c.nodes.capacity(), c.index.capacity()), (64, 128));
    }
}
