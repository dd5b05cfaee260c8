//! The replay cache of DPoP proofs (RFC 9449 §11.1): each accepted proof's `jti` (with its
//! key's thumbprint) is remembered until the proof would be refused for its age anyway, and a
//! proof seen again within that time is refused.
//!
//! The cache is a table of [`Slot`]s that its owner places where every worker sees it (the
//! module: a shared-memory zone, under its lock). Its capacity is fixed when the table is
//! made, from the zone size: nothing is ever allocated afterwards. The table is
//! set-associative: a proof's [`ReplayKey`] names two buckets of [`WAYS`] slots, and
//! an insertion looks at those slots only, so insertion and look-up cost the same small constant
//! whatever the capacity (no scan of the table, under the lock or elsewhere).
//!
//! A slot whose entry expired is free again: the next insertion into its bucket reuses it.
//! When every slot of both of a proof's buckets holds a live entry, the proof is refused
//! ([`Insert::Full`]): the cache cannot remember it, so it cannot know whether the proof will
//! be replayed, and accepting it unremembered would let it be replayed (fail closed).

use crate::digest;

/// Slots per bucket.
pub const WAYS: usize = 8;

/// What identifies a proof in the cache: the first 16 bytes of the SHA-256 of its key's
/// thumbprint and its `jti` (each length-prefixed). Two proofs with the same key are replays of
/// each other only with a collision of 128 bits.
pub type ReplayKey = [u8; 16];

/// The replay key of a proof with key thumbprint `jkt` and `jti`.
pub fn key(jkt: &str, jti: &str) -> ReplayKey {
    let d = digest::sha256(&[b"dpop-jti", jkt.as_bytes(), jti.as_bytes()]);
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// One remembered proof: 24 bytes. `expires == 0` is an empty slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    pub key: ReplayKey,
    /// The last second (Unix time) at which the proof could still be accepted for its age.
    pub expires: i64,
}

/// The answer of [`insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// First seen: now remembered. `reused`: in a slot of an expired entry, not an empty one.
    Fresh { reused: bool },
    /// Seen before, and still within its window: a replay.
    Replay,
    /// Every slot of both buckets holds a live entry: not remembered, to be refused.
    Full,
}

/// How many slots a table of `bytes` bytes (after its header) has: whole buckets only.
pub fn capacity(bytes: usize) -> usize {
    bytes / core::mem::size_of::<Slot>() / WAYS * WAYS
}

/// The two buckets a key may live in (from its first and second 8 bytes).
fn buckets(key: &ReplayKey, buckets: usize) -> [usize; 2] {
    let word = |i: usize| {
        let mut h = [0u8; 8];
        h.copy_from_slice(&key[i..i + 8]);
        (u64::from_le_bytes(h) % buckets as u64) as usize
    };
    [word(0), word(8)]
}

/// Remembers `key` until `expires` in `slots` (a table whose length is a non-zero multiple of
/// [`WAYS`]; otherwise every insertion is [`Insert::Full`]), at time `now`. Looks at the two
/// buckets of the key only (2 × [`WAYS`] slots): a new key goes to the one with fewer live
/// entries ("two choices": the table fills far more evenly than with one bucket per key).
pub fn insert(slots: &mut [Slot], key: &ReplayKey, expires: i64, now: i64) -> Insert {
    let n = slots.len() / WAYS;
    if n == 0 {
        return Insert::Full;
    }
    let live = |s: &Slot| s.expires != 0 && s.expires >= now;
    let [b0, b1] = buckets(key, n);
    let bucket = |b: usize| b * WAYS..(b + 1) * WAYS;
    // The key can only be in its buckets: look at all of them before taking a free slot, so
    // an expired slot before a live copy of the key never hides the copy.
    let seen = |b: usize| slots[bucket(b)].iter().any(|s| live(s) && s.key == *key);
    if seen(b0) || seen(b1) {
        return Insert::Replay;
    }
    let load = |b: usize| slots[bucket(b)].iter().filter(|s| live(s)).count();
    let b = if load(b1) < load(b0) { b1 } else { b0 };
    match slots[bucket(b)].iter_mut().find(|s| !live(s)) {
        Some(s) => {
            let reused = s.expires != 0;
            *s = Slot {
                key: *key,
                expires: expires.max(1),
            };
            Insert::Fresh { reused }
        }
        None => Insert::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u64) -> ReplayKey {
        key("jkt", &i.to_string())
    }

    #[test]
    fn slot_is_24_bytes() {
        assert_eq!(core::mem::size_of::<Slot>(), 24);
        assert_eq!(capacity(24 * 8 * 3 + 23), 24);
        assert_eq!(capacity(24 * 7), 0);
    }

    #[test]
    fn once_then_replay_until_expiry() {
        let mut t = vec![Slot::default(); 64];
        assert_eq!(insert(&mut t, &k(1), 100, 50), Insert::Fresh { reused: false });
        assert_eq!(insert(&mut t, &k(1), 100, 60), Insert::Replay);
        assert_eq!(insert(&mut t, &k(1), 100, 100), Insert::Replay);
        // Past its window the proof is refused for its age; the slot is free again.
        assert_eq!(insert(&mut t, &k(1), 200, 101), Insert::Fresh { reused: true });
        assert_eq!(insert(&mut t, &k(2), 100, 50), Insert::Fresh { reused: false });
    }

    #[test]
    fn key_depends_on_jkt_and_jti() {
        assert_ne!(key("a", "b"), key("b", "a"));
        assert_ne!(key("ab", ""), key("a", "b"));
        assert_eq!(key("a", "b"), key("a", "b"));
    }

    #[test]
    fn full_bucket_refuses_then_expiry_frees() {
        // One bucket (both choices are the same): the ninth live entry does not fit.
        let mut t = vec![Slot::default(); WAYS];
        for i in 0..WAYS as u64 {
            assert!(matches!(insert(&mut t, &k(i), 100, 0), Insert::Fresh { .. }));
        }
        assert_eq!(insert(&mut t, &k(99), 100, 0), Insert::Full);
        // A replay is still recognised when full.
        assert_eq!(insert(&mut t, &k(3), 100, 0), Insert::Replay);
        assert_eq!(insert(&mut t, &k(99), 300, 101), Insert::Fresh { reused: true });
        // The others expired too: each takes a slot again.
        assert_eq!(insert(&mut t, &k(98), 300, 101), Insert::Fresh { reused: true });
    }

    #[test]
    fn a_live_copy_after_a_free_slot_is_found() {
        let mut t = vec![Slot::default(); WAYS];
        assert!(matches!(insert(&mut t, &k(1), 10, 0), Insert::Fresh { .. }));
        assert!(matches!(insert(&mut t, &k(2), 100, 0), Insert::Fresh { .. }));
        // k(1) expired: its slot (before k(2)'s) is free; k(2) is still found.
        assert_eq!(insert(&mut t, &k(2), 100, 50), Insert::Replay);
    }

    #[test]
    fn empty_table_refuses() {
        assert_eq!(insert(&mut [], &k(1), 10, 0), Insert::Full);
        let mut short = vec![Slot::default(); WAYS - 1];
        assert_eq!(insert(&mut short, &k(1), 10, 0), Insert::Full);
    }

    #[test]
    fn fills_most_of_a_large_table_before_the_first_full_bucket() {
        let mut t = vec![Slot::default(); WAYS * 1024];
        let mut stored = 0;
        for i in 0.. {
            match insert(&mut t, &k(i), 100, 0) {
                Insert::Fresh { .. } => stored += 1,
                Insert::Full => break,
                Insert::Replay => unreachable!(),
            }
        }
        // Two choices of eight ways: the first full pair of buckets comes with about three
        // quarters of the slots in use (one bucket of eight: about a third).
        assert!(stored > t.len() * 70 / 100, "{stored} of {}", t.len());
    }
}
