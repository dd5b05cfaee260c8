//! The key ring one request verifies with (its key sources in order, each with its keys and
//! the issuer they are bound to) and the issuer binding of a key source.

use super::{verify_with, Policy, Verified};
use crate::jwk::KeySet;
use crate::reason::Rejection;
use crate::token::Token;

/// The longest `issuer=` value a key source may be bound to.
pub const MAX_ISSUER_LEN: usize = 1024;

/// Checks an `issuer=` value: the exact `iss` string (RFC 7519 §4.1.1, StringOrURI) a key
/// source's keys verify tokens of. Not empty, at most [`MAX_ISSUER_LEN`] bytes, no control
/// characters.
pub fn check_issuer(issuer: &str) -> Result<(), &'static str> {
    if issuer.is_empty() {
        return Err("is empty");
    }
    if issuer.len() > MAX_ISSUER_LEN {
        return Err("is longer than 1024 bytes");
    }
    if issuer.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

/// The `iss` of a token's payload, read WITHOUT verifying anything: only to choose which key
/// sources are worth looking at (a source bound to another issuer cannot verify the token).
/// Never a basis for accepting a token: [`verify_bound`] checks `iss` again on the verified
/// payload. `None`: no string `iss`, or a payload that cannot be read.
pub fn unverified_issuer(token: &[u8]) -> Option<String> {
    Token::new(token).claimed_issuer().map(str::to_owned)
}

/// Whether a key set bound to `bound` (`None`: to no issuer) may verify a token whose `iss`
/// is `iss` (`None`: no string `iss`).
pub fn issuer_allows(bound: Option<&str>, iss: Option<&str>) -> bool {
    match bound {
        None => true,
        Some(want) => iss == Some(want),
    }
}

/// [`verify_bound`] with the key sets of a [`KeyRing`]: [`KeyRef::set`] of the result is the
/// index of the ring entry whose key verified the token.
pub fn verify_ring<S: Copy, const N: usize>(
    token: &mut Token<'_>,
    ring: &KeyRing<'_, S, N>,
    policy: &Policy,
    now: i64,
) -> Result<Verified, Rejection> {
    let set = |si: usize| ring.entries[si].map_or(&EMPTY_KEYS, |e| e.keys);
    let bound = |si: usize| ring.entries[si].and_then(|e| e.issuer);
    verify_with(token, ring.len(), set, bound, policy, now)
}

/// An empty key set: what a ring entry without keys verifies with.
static EMPTY_KEYS: KeySet = KeySet {
    keys: Vec::new(),
    skipped: Vec::new(),
};

/// One key source as a request verifies with it: its keys (empty: none usable, or skipped for
/// the token's issuer), the issuer they are bound to, and what the caller calls the source.
#[derive(Debug, Clone, Copy)]
pub struct RingEntry<'k, S> {
    pub keys: &'k KeySet,
    pub issuer: Option<&'k str>,
    pub source: S,
}

/// The key sources one request verifies with, in order, in a fixed array of `N` (no
/// allocation): what [`verify_ring`] tries, and what the caller's caches are keyed by.
#[derive(Debug, Clone, Copy)]
pub struct KeyRing<'k, S, const N: usize> {
    entries: [Option<RingEntry<'k, S>>; N],
    len: usize,
}

impl<'k, S: Copy, const N: usize> Default for KeyRing<'k, S, N> {
    fn default() -> Self {
        KeyRing {
            entries: [None; N],
            len: 0,
        }
    }
}

impl<'k, S: Copy, const N: usize> KeyRing<'k, S, N> {
    /// Adds a source; `None` (none usable, or skipped) verifies nothing. `false`: the ring is
    /// full, nothing was added.
    pub fn push(&mut self, keys: Option<&'k KeySet>, issuer: Option<&'k str>, source: S) -> bool {
        let Some(slot) = self.entries.get_mut(self.len) else {
            return false;
        };
        *slot = Some(RingEntry {
            keys: keys.unwrap_or(&EMPTY_KEYS),
            issuer,
            source,
        });
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`, in the order pushed.
    pub fn get(&self, i: usize) -> Option<&RingEntry<'k, S>> {
        self.entries.get(i)?.as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RingEntry<'k, S>> {
        self.entries[..self.len].iter().flatten()
    }

    /// The sources, in order.
    pub fn sources(&self) -> impl Iterator<Item = S> + '_ {
        self.iter().map(|e| e.source)
    }
}
