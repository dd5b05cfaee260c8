//! The per-worker cache of verified tokens (`jwt_peer_auth_token_cache`), keyed by the
//! SHA-256 of the token bytes ([`jwt_peer_auth_core::digest::token`]). A hit skips base64,
//! JSON and signature work; it never skips the per-location checks (allowed algorithms, time,
//! claim rules, require, max_age), and it only counts when the token was verified by a key
//! source this location uses, at that source's current generation. The whole cache is dropped
//! when a worker installs a new fetched key set.
//!
//! An entry is lean (about 470 bytes of worker memory for a 621-byte token, `bench/memory.sh`):
//! the digest, and core's [`Checked`]: algorithm, time claims, key, and the header and payload
//! JSON texts; not the token, not the parsed claims (a request parses them from the text when
//! a check or a variable asks). Keying by digest cannot make one token pass for another: two
//! tokens with the same SHA-256 would be a SHA-256 collision, which no one knows how to find
//! (about 2^128 work); and only tokens that verified are ever entered.
//!
//! Beside it, the per-worker refusal cache: what a token cannot outgrow under the keys and
//! policy it was refused with (malformed, bad signature, expired: core's
//! [`Rejection::lasting`]), keyed by the token's SHA-256 and answered only to a location with
//! the same key sources (at the same generations) and the same algorithm allow-list and
//! leeway. It is dropped with the token cache when keys change, and a reload starts new
//! workers with empty caches. Bounded: at most [`MAX_REFUSALS`] entries (fewer when the token
//! cache is smaller; none when it is off), in one array reserved once, fallibly.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;

use jwt_peer_auth_core::cache::DigestCache;
use jwt_peer_auth_core::digest::Digest;
use jwt_peer_auth_core::verify::Checked;
use jwt_peer_auth_core::{Lasting, Policy, Rejection};
use lru::LruCache;

/// Entries per worker when `jwt_peer_auth_token_cache` is not set.
pub const DEFAULT_ENTRIES: usize = 4096;

/// Which key source verified a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A JWKS file, identified by its parsed key set (one per `jwt_peer_auth_jwks_file`).
    File(*const jwt_peer_auth_core::KeySet),
    /// A fetched key set: zone slot and generation.
    Fetched { slot: usize, generation: u64 },
}

struct Entry {
    token: Rc<Checked>,
    source: Source,
}

thread_local! {
    static CACHE: RefCell<Option<LruCache<Digest, Entry>>> = const { RefCell::new(None) };
}

/// The cached verification of the token with digest `d`, if it was made by one of `sources`,
/// and that source.
pub fn get(d: &Digest, sources: &[Source]) -> Option<(Rc<Checked>, Source)> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.as_mut()?;
        let entry = cache.get(d)?;
        if sources.contains(&entry.source) {
            return Some((entry.token.clone(), entry.source));
        }
        None
    })
}

/// Remembers a verified token by its digest (capacity from configuration; 0 disables the
/// cache).
pub fn put(d: &Digest, verified: Rc<Checked>, source: Source, capacity: usize) {
    let Some(cap) = NonZeroUsize::new(capacity) else {
        return;
    };
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.get_or_insert_with(|| LruCache::new(cap));
        if cache.cap() != cap {
            cache.resize(cap);
        }
        cache.put(
            *d,
            Entry {
                token: verified,
                source,
            },
        );
    });
}

/// Forgets one token (expired, or refused by the current checks).
pub fn forget(d: &Digest) {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            cache.pop(d);
        }
    });
}

/// Drops every entry, verified tokens and refusals: a key set changed.
pub fn clear() {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            cache.clear();
        }
    });
    REFUSALS.with(|c| {
        if let Refusals::Ready(cache) = &mut *c.borrow_mut() {
            cache.clear();
        }
    });
}

/// Most refusals one worker remembers (about 140 bytes each: 2.2 MiB at most).
pub const MAX_REFUSALS: usize = 16384;

/// The key sources a location verifies with, as a request has them: a JWKS file and a fetched
/// key set at its current generation, in that order.
pub type Sources = [Option<Source>; 2];

/// A remembered refusal and what it was made under.
struct Refused {
    sources: Sources,
    policy: Policy,
    refusal: Lasting,
}

// One slot of the refusal cache: the size the documentation gives.
const _: () = assert!(std::mem::size_of::<Option<(Digest, Refused)>>() <= 144);

enum Refusals {
    /// Not made yet.
    Unmade,
    Ready(DigestCache<Refused>),
    /// Off (`jwt_peer_auth_token_cache off`) or its memory could not be reserved.
    Off,
}

thread_local! {
    static REFUSALS: RefCell<Refusals> = const { RefCell::new(Refusals::Unmade) };
}

/// The refusal remembered for the token with digest `d`, as it answers now, if it was made
/// with exactly these key sources (and generations) and this policy.
pub fn refused(d: &Digest, sources: &Sources, policy: &Policy, now: i64) -> Option<Rejection> {
    REFUSALS.with(|c| {
        let mut c = c.borrow_mut();
        let Refusals::Ready(cache) = &mut *c else {
            return None;
        };
        let entry = cache.get(d)?;
        if entry.sources != *sources || entry.policy != *policy {
            return None;
        }
        entry.refusal.at(now)
    })
}

/// Remembers `rejection` for the token with digest `d` if the token cannot outgrow it under
/// these key sources and this policy (`capacity`: the token cache's, 0 is off).
pub fn remember_refusal(
    d: &Digest,
    sources: &Sources,
    policy: &Policy,
    rejection: &Rejection,
    capacity: usize,
) {
    let Some(refusal) = rejection.lasting() else {
        return;
    };
    REFUSALS.with(|c| {
        let mut c = c.borrow_mut();
        if matches!(*c, Refusals::Unmade) {
            *c = match DigestCache::try_new(capacity.min(MAX_REFUSALS)) {
                Some(cache) => Refusals::Ready(cache),
                None => Refusals::Off,
            };
        }
        if let Refusals::Ready(cache) = &mut *c {
            cache.insert(
                *d,
                Refused {
                    sources: *sources,
                    policy: *policy,
                    refusal,
                },
            );
        }
    });
}
