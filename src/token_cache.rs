//! The per-worker cache of verified tokens (`jwt_peer_auth_token_cache`), keyed on the exact
//! token bytes. A hit skips base64, JSON and signature work; it never skips the per-location
//! checks (allowed algorithms, time, claim rules, require, max_age), and it only counts when
//! the token was verified by a key source this location uses, at that source's current
//! generation. The whole cache is dropped when a worker installs a new fetched key set.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;

use jwt_peer_auth_core::Verified;
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
    token: Rc<Verified>,
    source: Source,
}

thread_local! {
    static CACHE: RefCell<Option<LruCache<Box<[u8]>, Entry>>> = const { RefCell::new(None) };
}

/// The cached verification of `token`, if it was made by one of `sources`, and that source.
pub fn get(token: &[u8], sources: &[Source]) -> Option<(Rc<Verified>, Source)> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let cache = c.as_mut()?;
        let entry = cache.get(token)?;
        if sources.contains(&entry.source) {
            return Some((entry.token.clone(), entry.source));
        }
        None
    })
}

/// Remembers a verified token (capacity from configuration; 0 disables the cache).
pub fn put(token: &[u8], verified: Rc<Verified>, source: Source, capacity: usize) {
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
            token.into(),
            Entry {
                token: verified,
                source,
            },
        );
    });
}

/// Forgets one token (expired, or refused by the current checks).
pub fn forget(token: &[u8]) {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            cache.pop(token);
        }
    });
}

/// Drops every entry: a key set changed.
pub fn clear() {
    CACHE.with(|c| {
        if let Some(cache) = c.borrow_mut().as_mut() {
            cache.clear();
        }
    });
}
