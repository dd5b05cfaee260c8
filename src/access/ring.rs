//! The request's key ring and the two caches: which fetched sources a token's issuer may use,
//! the ring of `{keys, issuer, source}` one request verifies with, and verification (or the
//! token cache's or refusal cache's answer), looked up by the token's digest first.

use std::rc::Rc;

use jwt_peer_auth_core::digest::Digest;
use jwt_peer_auth_core::token::Token;
use jwt_peer_auth_core::verify::KeyRing;
use jwt_peer_auth_core::{Reason, Rejection, Verified};
use ngx::http::Request;

use crate::config::MAX_LEVEL_SOURCES;
use crate::keys::FetchedKeys;
use crate::token_cache::{self, RingKey, Source};

use super::checks::check_policy;
use super::Job;
use crate::log::debug;

/// The key sources one request verifies with: a level's files, then its fetched sets (at
/// most [`MAX_LEVEL_SOURCES`] in all at one level: a fixed array, no allocation).
pub(super) type Ring<'k> = KeyRing<'k, Source, MAX_LEVEL_SOURCES>;

/// The request's key ring: the location's files, then its fetched sources with the keys this
/// request got (none for a source skipped for the token's issuer, bit `n` of `looked_at`
/// clear, or without usable keys): the core still learns whose they would be (a token no
/// source is for is refused as such, not for want of keys).
pub(super) fn key_ring<'k>(
    job: &Job,
    sources: &[usize],
    fetched: &'k [Option<FetchedKeys>],
    looked_at: u32,
) -> Ring<'k> {
    let lc = job.lc;
    let mut ring = Ring::default();
    for f in lc.jwks_files.iter().take(MAX_LEVEL_SOURCES) {
        ring.push(Some(&f.keys), f.issuer.as_deref(), Source::File(&f.keys));
    }
    for (n, (k, &i)) in fetched.iter().zip(sources).enumerate() {
        match k {
            Some(k) => {
                let source = Source::Fetched {
                    slot: k.slot,
                    generation: k.generation,
                };
                ring.push(Some(&k.keys), k.issuer, source)
            }
            None => {
                let s = job.mc.sources.get(i);
                let source = Source::Without {
                    slot: s.map_or(usize::MAX, |s| s.slot),
                    skipped: looked_at & (1 << n) == 0,
                };
                ring.push(None, s.and_then(|s| s.issuer.as_deref()), source)
            }
        };
    }
    ring
}

/// Which of an issuer-bound location's fetched `sources` (bit `n` for `sources[n]`) may hold
/// the key of token `t`: those bound to no issuer or to the token's `iss`. Without parsing
/// when the token is cached (its verified `iss`) or a refusal of it by the same sources is
/// remembered (the sources it skipped); else the `iss` the token claims, NOT verified: only
/// to skip sources, never to accept (the core checks `iss` again on the verified payload).
pub(super) fn for_issuer(job: &Job, sources: &[usize], t: &Token, d: &Digest) -> u32 {
    let mc = job.mc;
    let mask = |iss: Option<&str>| {
        sources.iter().enumerate().fold(0u32, |m, (n, &i)| {
            let allows = mc
                .sources
                .get(i)
                .is_some_and(|s| jwt_peer_auth_core::verify::issuer_allows(s.issuer.as_deref(), iss));
            m | (u32::from(allows) << n)
        })
    };
    if let Some(m) = token_cache::issuer(d, mask) {
        return m;
    }
    if let Some(m) = token_cache::refused_with(d).and_then(|key| skipped_by(job, sources, &key)) {
        return m;
    }
    mask(t.claimed_issuer())
}

/// The fetched sources a remembered refusal looked at, if it was made with this location's
/// sources in this order (then it skipped the same ones for the same token).
pub(super) fn skipped_by(job: &Job, sources: &[usize], key: &RingKey) -> Option<u32> {
    let files = &job.lc.jwks_files[..job.lc.jwks_files.len().min(MAX_LEVEL_SOURCES)];
    if files.len() + sources.len() > key.len()
        || key.get(files.len() + sources.len()).is_some_and(|&c| c != 0)
    {
        return None;
    }
    if !files
        .iter()
        .zip(key)
        .all(|(f, &c)| token_cache::is_file(c, &f.keys))
    {
        return None;
    }
    let mut m = 0;
    for (n, (&i, &c)) in sources.iter().zip(&key[files.len()..]).enumerate() {
        let slot = job.mc.sources.get(i)?.slot;
        if !token_cache::skipped(c, slot)? {
            m |= 1 << n;
        }
    }
    Some(m)
}

/// Verifies `t` (or takes it from the token cache, re-checked; or answers a refusal the token
/// cannot outgrow from the refusal cache) and applies the location's claim rules. `None`: the
/// token needs a signature verification, which `job.defer` leaves for later.
pub(super) fn verify_token(
    request: &mut Request,
    job: &Job,
    t: &mut Token,
    d: &Digest,
    ring: &Ring,
    now: i64,
) -> Result<Option<(Rc<Verified>, Source)>, Rejection> {
    let lc = job.lc;
    // Refusals are remembered by the exact sources (and their generations) they were made
    // with.
    let used = token_cache::ring_key(ring.sources());
    let cached = token_cache::get(d, ring.sources());
    let capacity = job.mc.token_cache_entries();
    let (verified, by) = match cached {
        Some((checked, by)) => {
            debug!(request.log(), "token cache hit");
            job.count(|c| &c.cache_hits);
            let v = Verified::from_checked(checked);
            match jwt_peer_auth_core::recheck(&v, &lc.policy, now) {
                Ok(()) => (Rc::new(v), by),
                Err(rejection) => {
                    token_cache::forget(d);
                    // Expired under the sources this location uses: it stays expired.
                    if let Some(used) = &used {
                        token_cache::remember_refusal(d, used, &lc.policy, &rejection, capacity);
                    }
                    return Err(rejection);
                }
            }
        }
        None => {
            if let Some(rejection) = used
                .as_ref()
                .and_then(|u| token_cache::refused(d, u, &lc.policy, now))
            {
                debug!(request.log(), "refusal cache hit: {}", rejection.reason);
                job.count(|c| &c.cache_misses);
                job.count(|c| &c.refusal_cache_hits);
                return Err(rejection);
            }
            if job.defer {
                debug!(
                    request.log(),
                    "token cache miss: verification left for after the limiters"
                );
                return Ok(None);
            }
            debug!(
                request.log(),
                "token cache miss: verifying with {} key sets",
                ring.len()
            );
            // Counted here: one miss per signature verification.
            job.count(|c| &c.cache_misses);
            match jwt_peer_auth_core::verify::verify_ring(t, ring, &lc.policy, now) {
                Ok(v) => {
                    let Some(source) = ring.get(v.key.set).map(|e| e.source) else {
                        return Err(Rejection::new(Reason::NoKeys, "no keys to verify with"));
                    };
                    token_cache::put(d, v.checked().clone(), source, capacity);
                    (Rc::new(v), source)
                }
                Err(rejection) => {
                    if let Some(used) = &used {
                        token_cache::remember_refusal(d, used, &lc.policy, &rejection, capacity);
                    }
                    return Err(rejection);
                }
            }
        }
    };
    match check_policy(request.as_mut(), job, &verified, now) {
        Ok(()) => debug!(request.log(), "signature and policy passed"),
        Err(rejection) => {
            debug!(request.log(), "policy refused: {}", rejection.reason);
            return Err(rejection);
        }
    }
    Ok(Some((verified, by)))
}
