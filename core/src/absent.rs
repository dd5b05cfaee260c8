//! Key ids that a fetch proved absent from a key source's published keys, remembered so that a
//! token naming one again is refused at once instead of waiting for the next refetch. A small
//! fixed set per key source (it lives in the shared zone): the oldest entry makes room, and the
//! whole set is forgotten when the published keys change (another generation).
//!
//! An entry is a digest of the `kid`, not the `kid`: fixed size, and a token cannot make its
//! `kid` collide with another one (a `kid` of a key yet to come, say).

use crate::{b64, digest, json};
use serde_json::Value;

/// Most `kid`s remembered per key source.
pub const CAPACITY: usize = 32;

/// What is remembered of a `kid`: the first 16 bytes of its SHA-256.
pub type KidKey = [u8; 16];

/// The digest of a `kid` (any bytes) as the set remembers it.
pub fn key(kid: &[u8]) -> KidKey {
    let d = digest::sha256(&[b"absent kid", kid]);
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// The `kid` of a token's JOSE header, read WITHOUT verifying anything (only to look it up in
/// an [`AbsentKids`]); `None` when the header cannot be read or has no string `kid`.
pub fn token_kid(token: &[u8]) -> Option<String> {
    if token.len() > crate::verify::MAX_TOKEN_LEN {
        return None;
    }
    let header = token.split(|&b| b == b'.').next()?;
    let bytes = b64::decode(header).ok()?;
    match json::parse_object(&bytes).ok()?.remove("kid")? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The `kid`s proved absent from one generation of a key source's keys. A plain `#[repr(C)]`
/// `Copy` struct with no pointers: it lives in NGINX shared memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsentKids {
    /// The generation the entries are about; entries of another generation are void.
    generation: u64,
    /// Entries in use (`keys[..len]`).
    len: u32,
    /// The entry the next `remember` replaces once the set is full.
    next: u32,
    keys: [KidKey; CAPACITY],
}

impl Default for AbsentKids {
    fn default() -> Self {
        AbsentKids::EMPTY
    }
}

impl AbsentKids {
    pub const EMPTY: AbsentKids = AbsentKids {
        generation: 0,
        len: 0,
        next: 0,
        keys: [[0; 16]; CAPACITY],
    };

    fn entries(&self, generation: u64) -> &[KidKey] {
        if generation == 0 || generation != self.generation {
            return &[];
        }
        &self.keys[..(self.len as usize).min(CAPACITY)]
    }

    /// Whether `kid` is remembered absent from the keys of `generation`.
    pub fn contains(&self, generation: u64, kid: &KidKey) -> bool {
        self.entries(generation).contains(kid)
    }

    /// How many `kid`s are remembered absent from the keys of `generation`.
    pub fn len(&self, generation: u64) -> usize {
        self.entries(generation).len()
    }

    pub fn is_empty(&self, generation: u64) -> bool {
        self.len(generation) == 0
    }

    /// Remembers `kid` as absent from the keys of `generation` (forgetting the entries of any
    /// other generation, and the oldest entry when full). Returns whether it was new.
    pub fn remember(&mut self, generation: u64, kid: KidKey) -> bool {
        if generation == 0 {
            return false;
        }
        if generation != self.generation {
            *self = AbsentKids::EMPTY;
            self.generation = generation;
        }
        if self.contains(generation, &kid) {
            return false;
        }
        let len = (self.len as usize).min(CAPACITY);
        if len < CAPACITY {
            self.keys[len] = kid;
            self.len = len as u32 + 1;
        } else {
            let i = (self.next as usize) % CAPACITY;
            self.keys[i] = kid;
            self.next = ((i + 1) % CAPACITY) as u32;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_generation() {
        let mut a = AbsentKids::default();
        assert!(!a.contains(1, &key(b"x")));
        assert!(a.remember(1, key(b"x")));
        assert!(!a.remember(1, key(b"x")), "once");
        assert!(a.contains(1, &key(b"x")));
        assert!(!a.contains(1, &key(b"y")));
        assert_eq!(a.len(1), 1);
        // Other keys published: forgotten.
        assert!(!a.contains(2, &key(b"x")));
        assert!(a.is_empty(2));
        assert!(a.remember(2, key(b"y")));
        assert!(!a.contains(1, &key(b"x")) && !a.contains(2, &key(b"x")));
        // Never for "no keys".
        assert!(!a.remember(0, key(b"z")));
        assert!(!a.contains(0, &key(b"z")));
    }

    #[test]
    fn bounded_oldest_goes_first() {
        let mut a = AbsentKids::default();
        for i in 0..CAPACITY + 5 {
            assert!(a.remember(7, key(format!("k{i}").as_bytes())));
        }
        assert_eq!(a.len(7), CAPACITY);
        for i in 0..5 {
            assert!(!a.contains(7, &key(format!("k{i}").as_bytes())), "k{i} made room");
        }
        for i in 5..CAPACITY + 5 {
            assert!(a.contains(7, &key(format!("k{i}").as_bytes())), "k{i}");
        }
    }

    #[test]
    fn kid_of_a_token_header() {
        let h = b64::encode(br#"{"alg":"RS256","kid":"rot\u00e9 1"}"#);
        let t = format!("{h}.e30.c2ln");
        assert_eq!(token_kid(t.as_bytes()).as_deref(), Some("rot\u{e9} 1"));
        let h = b64::encode(br#"{"alg":"RS256","kid":5}"#);
        assert_eq!(token_kid(format!("{h}.e30.x").as_bytes()), None);
        assert_eq!(token_kid(b"!!.e30.x"), None);
        assert_eq!(token_kid(&vec![b'a'; 10_000]), None);
        // Distinct kids, distinct keys; the key is not the kid's bytes.
        assert_ne!(key(b"a"), key(b"b"));
        assert_ne!(&key(b"a")[..1], b"a");
    }
}
