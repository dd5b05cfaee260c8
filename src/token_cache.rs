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
//! cache is smaller; none when it is off).
//!
//! Both are core's [`DigestCache`]: a true LRU whose memory is reserved once, fallibly, when
//! it is first needed; an insert allocates nothing, so neither cache can abort the worker when
//! memory is short (a cache whose memory cannot be reserved is simply off). Measured against
//! `lru::LruCache`, which the token cache used before (core/tests/cache_measure.rs): 88 against
//! 114 bytes per entry, one allocation against one per entry, faster look-ups, and under a
//! memory limit `None` where `lru` aborted the process.

use std::cell::RefCell;
use std::rc::Rc;

use jwt_peer_auth_core::cache::DigestCache;
use jwt_peer_auth_core::digest::Digest;
use jwt_peer_auth_core::verify::Checked;
use jwt_peer_auth_core::{Lasting, Policy, Rejection};

use crate::sources::MAX_LEVEL_SOURCES;
use crate::zone::MAX_SOURCES;

/// Entries per worker when `jwt_peer_auth_token_cache` is not set.
pub const DEFAULT_ENTRIES: usize = 4096;

/// A key source as one request verifies with it (a place in its key ring), and which one
/// verified a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A JWKS file, identified by its parsed key set (one per `jwt_peer_auth_jwks_file`).
    File(*const jwt_peer_auth_core::KeySet),
    /// A fetched key set: zone slot and generation.
    Fetched { slot: usize, generation: u64 },
    /// A fetched source without keys for this request: `skipped`, bound to another issuer than
    /// the token's (not even looked at), or with none usable. Verifies nothing, so never in the
    /// token cache.
    Without { slot: usize, skipped: bool },
}

impl Source {
    /// The source as one word of a [`RingKey`]: exact (a file's key-set address, aligned, so its
    /// low three bits are 0; a slot shifted, with its kind in the low bits). A fetched set's
    /// generation is not in it: see [`refused`].
    fn code(self) -> u64 {
        match self {
            Source::File(p) => p as usize as u64,
            Source::Fetched { slot, .. } => ((slot as u64) << 3) | 1,
            Source::Without { slot, skipped: false } => ((slot as u64) << 3) | 2,
            Source::Without { slot, skipped: true } => ((slot as u64) << 3) | 3,
        }
    }
}

// A file's code cannot be mistaken for a slot's.
const _: () = assert!(std::mem::align_of::<jwt_peer_auth_core::KeySet>() >= 8);

struct Entry {
    token: Rc<Checked>,
    source: Source,
}

/// A per-worker cache, made at its first use.
enum Lazy<V> {
    /// Not made yet.
    Unmade,
    /// Made with room for this many entries.
    Ready(DigestCache<V>),
    /// Off (`jwt_peer_auth_token_cache off`) or its memory could not be reserved.
    Off,
}

impl<V> Lazy<V> {
    /// The cache, made with room for `capacity` entries if not made yet (0: off), or made anew
    /// for another capacity (a configuration with another `jwt_peer_auth_token_cache` in the
    /// same process: only without a master process).
    fn made(&mut self, capacity: usize) -> Option<&mut DigestCache<V>> {
        let again = match self {
            Lazy::Unmade => true,
            Lazy::Ready(c) => c.capacity() != capacity,
            Lazy::Off => false,
        };
        if again {
            // The old memory goes before the new is reserved.
            *self = Lazy::Off;
            if let Some(c) = DigestCache::try_new(capacity) {
                *self = Lazy::Ready(c);
            }
        }
        self.get()
    }

    fn get(&mut self) -> Option<&mut DigestCache<V>> {
        match self {
            Lazy::Ready(c) => Some(c),
            _ => None,
        }
    }
}

thread_local! {
    static CACHE: RefCell<Lazy<Entry>> = const { RefCell::new(Lazy::Unmade) };
}

/// The cached verification of the token with digest `d`, if it was made by one of `sources`,
/// and that source.
pub fn get(d: &Digest, sources: impl IntoIterator<Item = Source>) -> Option<(Rc<Checked>, Source)> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let entry = c.get()?.get(d)?;
        if sources.into_iter().any(|s| s == entry.source) {
            return Some((entry.token.clone(), entry.source));
        }
        None
    })
}

/// `f` of the verified `iss` of the token with digest `d` (`None`: no string `iss`), if the
/// token is cached, whatever verified it: the same bytes have the same `iss`. An issuer-bound
/// location so chooses its key sources for a cached token without parsing it.
pub fn issuer<R>(d: &Digest, f: impl FnOnce(Option<&str>) -> R) -> Option<R> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let entry = c.get()?.get(d)?;
        Some(f(entry.token.issuer()))
    })
}

/// Remembers a verified token by its digest (capacity from configuration; 0 disables the
/// cache).
pub fn put(d: &Digest, verified: Rc<Checked>, source: Source, capacity: usize) {
    if capacity == 0 {
        return;
    }
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().made(capacity) {
            cache.insert(
                *d,
                Entry {
                    token: verified,
                    source,
                },
            );
        }
    });
}

/// Forgets one token (expired, or refused by the current checks).
pub fn forget(d: &Digest) {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().get() {
            cache.remove(d);
        }
    });
}

/// Drops every entry, verified tokens and refusals: a key set changed.
pub fn clear() {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().get() {
            cache.clear();
        }
    });
    REFUSALS.with(|c| {
        if let Some(cache) = c.borrow_mut().get() {
            cache.clear();
        }
    });
}

/// Most refusals one worker remembers (at most 184 bytes each with the index: 2.9 MiB at most).
pub const MAX_REFUSALS: usize = 16384;

/// The key sources a location verifies with, as a request has them (its key ring, in order: up
/// to [`MAX_LEVEL_SOURCES`]), one word each ([`Source::code`]); 0: no source.
pub type RingKey = [u64; MAX_LEVEL_SOURCES];

/// The [`RingKey`] of a request's sources, with each fetched set's generation noted: `None`
/// if there are more sources than a key holds, or a slot beyond the zone's (not remembered).
pub fn ring_key(sources: impl IntoIterator<Item = Source>) -> Option<RingKey> {
    let mut key = [0; MAX_LEVEL_SOURCES];
    for (n, s) in sources.into_iter().enumerate() {
        *key.get_mut(n)? = s.code();
        if let Source::Fetched { slot, generation } = s {
            note_generation(slot, generation)?;
        }
    }
    Some(key)
}

/// A remembered refusal and what it was made under.
struct Refused {
    sources: RingKey,
    policy: Policy,
    refusal: Lasting,
}

// The refusal cache's memory: what the documentation gives.
const _: () = assert!(DigestCache::<Refused>::reserved_bytes(MAX_REFUSALS) <= 184 * MAX_REFUSALS);

thread_local! {
    static REFUSALS: RefCell<Lazy<Refused>> = const { RefCell::new(Lazy::Unmade) };
    /// The generation of each slot's fetched set the remembered refusals were made with (0:
    /// none yet).
    static GENERATIONS: RefCell<[u64; MAX_SOURCES]> = const { RefCell::new([0; MAX_SOURCES]) };
}

/// Notes that a request verifies with generation `generation` of slot `slot`'s keys: the
/// refusals remembered under another generation of it are dropped, so an entry never needs
/// its generations (a slot has one while it is in the cache). `None`: no such slot.
fn note_generation(slot: usize, generation: u64) -> Option<()> {
    let changed = GENERATIONS.with(|g| {
        let mut g = g.borrow_mut();
        let seen = g.get_mut(slot)?;
        let changed = *seen != 0 && *seen != generation;
        *seen = generation;
        Some(changed)
    })?;
    if changed {
        REFUSALS.with(|c| {
            if let Some(cache) = c.borrow_mut().get() {
                cache.clear();
            }
        });
    }
    Some(())
}

/// The refusal remembered for the token with digest `d`, as it answers now, if it was made
/// with exactly these key sources (and generations: [`ring_key`]) and this policy.
pub fn refused(d: &Digest, sources: &RingKey, policy: &Policy, now: i64) -> Option<Rejection> {
    REFUSALS.with(|c| {
        let mut c = c.borrow_mut();
        let entry = c.get()?.get(d)?;
        if entry.sources != *sources || entry.policy != *policy {
            return None;
        }
        entry.refusal.at(now)
    })
}

/// The key sources a remembered refusal of the token with digest `d` was made with, if any:
/// which of a location's fetched sources it skipped for the token's issuer, to be trusted only
/// by a location with the same sources in the same order (then the same ones are skipped).
pub fn refused_with(d: &Digest) -> Option<RingKey> {
    REFUSALS.with(|c| Some(c.borrow_mut().get()?.get(d)?.sources))
}

/// Whether the [`RingKey`] word `code` is the fetched source of `slot`, and whether it was
/// skipped for the token's issuer.
pub fn skipped(code: u64, slot: usize) -> Option<bool> {
    match (code >> 3 == slot as u64, code & 7) {
        (true, 1 | 2) => Some(false),
        (true, 3) => Some(true),
        _ => None,
    }
}

/// Whether the [`RingKey`] word `code` is the JWKS file with this key set.
pub fn is_file(code: u64, keys: *const jwt_peer_auth_core::KeySet) -> bool {
    code == Source::File(keys).code()
}

/// Remembers `rejection` for the token with digest `d` if the token cannot outgrow it under
/// these key sources and this policy (`capacity`: the token cache's, 0 is off).
pub fn remember_refusal(
    d: &Digest,
    sources: &RingKey,
    policy: &Policy,
    rejection: &Rejection,
    capacity: usize,
) {
    let Some(refusal) = rejection.lasting() else {
        return;
    };
    REFUSALS.with(|c| {
        if let Some(cache) = c.borrow_mut().made(capacity.min(MAX_REFUSALS)) {
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
