//! Getting a request its fetched keys: one decision in one place ([`for_request`]), and the
//! worker-local parsed key sets. A worker parses a key set once per generation published in
//! the zone, never per request, and notices every change of a source's state at once through
//! the slot's lock-free version (so a key removed from the fetched set is refused by every
//! worker on its next request).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use jwt_peer_auth_core::absent;
use jwt_peer_auth_core::freshness::{CacheSettings, KidPlan, Plan, SourceState};
use jwt_peer_auth_core::{KeySet, Rejection};
use ngx::ffi::ngx_http_request_t;

use crate::fetch::kid_wait::{self, KidWait};
use crate::fetch::{self, wait::POLL_MS};
use crate::sources::KeySource;
use crate::zone::{Zone, MAX_SOURCES};

// The per-request unknown-kid flags hold one bit per slot ([`Waits::forced`]).
const _: () = assert!(MAX_SOURCES <= 32);

/// What one request remembers of its waits for keys (kept in its context by the request path).
#[derive(Default)]
pub struct Waits {
    /// A waited key request is in flight.
    pub waiting: Cell<bool>,
    /// The key sources (one bit per zone slot) for which the request is done with an unknown
    /// kid (refetched, waited, or refused at once).
    pub forced: Cell<u32>,
    /// Timer polls so far while waiting for another request's fetch.
    pub polls: Cell<u32>,
}

/// What a worker does when a source's keys change generation (the request path drops its
/// verified-token cache): passed in, so that this layer knows nothing above it.
pub type OnNewKeys = fn();

/// A parsed key set and the generation it was parsed from.
type Parsed = Option<(u64, Rc<KeySet>)>;

thread_local! {
    static LOCAL: RefCell<[Parsed; MAX_SOURCES]> = RefCell::new(std::array::from_fn(|_| None));
    /// The state last read from the zone per slot, with the slot version it was read at.
    static STATES: RefCell<[Option<(u64, SourceState)>; MAX_SOURCES]> =
        const { RefCell::new([None; MAX_SOURCES]) };
}

/// A fetched key set as a request uses it.
pub struct FetchedKeys {
    pub keys: Rc<KeySet>,
    pub slot: usize,
    pub generation: u64,
    /// The source's `issuer=`: its keys only verify tokens with this `iss`.
    pub issuer: Option<&'static str>,
}

/// What the request does next.
pub enum Keys {
    /// Verify now, with these keys (`None`: no usable keys, fail closed).
    Ready(Option<FetchedKeys>),
    /// A fetch is in flight for this request: return NGX_AGAIN.
    Wait,
    /// The token failed the checks that need no key: refused before any fetch or wait.
    Refused(Rejection),
    Error(String),
    /// The client left before the request would start or wait for a fetch: end it with 499
    /// (`fetch::wait::gone`), without fetching.
    Gone,
}

/// The shared state of `slot`: this worker's copy while the slot's version has not moved,
/// so the common case takes no lock.
fn state(zone: &Zone, slot: usize) -> SourceState {
    let version = zone.version(slot);
    if let Some((v, st)) = STATES.with(|s| s.borrow()[slot]) {
        if v == version {
            return st;
        }
    }
    let (v, st) = zone.state(slot);
    STATES.with(|s| s.borrow_mut()[slot] = Some((v, st)));
    st
}

/// Decides, from the key source's shared state, whether to verify now, verify and refresh in
/// the background, start a fetch and wait for it, or wait for another request's fetch.
/// `cfg`: the location's `jwt_peer_auth_key_cache`.
pub fn for_request(
    r: &mut ngx_http_request_t,
    cfg: &CacheSettings,
    source: &'static KeySource,
    zone: &Zone,
    ctx: &Waits,
    on_new_keys: OnNewKeys,
    precheck: impl FnOnce() -> Result<(), Rejection>,
) -> Keys {
    if ctx.waiting.get() {
        return Keys::Wait;
    }
    let slot = source.slot;
    if !zone.owns(slot, &source.identity) {
        return Keys::Error(format!(
            "key source \"{}\" was reclaimed by a newer configuration",
            source.label
        ));
    }
    let cfg = *cfg;
    let now = ngx::ffi::ngx_time();
    let st = state(zone, slot);
    let plan = st.plan(&cfg, now);
    // Anything but verifying with fresh keys may start or wait for a fetch: a token that fails
    // the checks needing no key never does (fresh keys, the hot path, skip this: verification
    // makes the same checks).
    if plan != Plan::Verify {
        if let Err(rejection) = precheck() {
            return Keys::Refused(rejection);
        }
    }
    match plan {
        Plan::Verify => {}
        Plan::VerifyAndRefresh => {
            if let Some(lease) = zone.try_start(slot, &cfg, now, false) {
                if !fetch::start::start(r, source, zone, lease, false) {
                    zone.abandon(slot, lease, now);
                }
            }
        }
        Plan::FetchAndWait | Plan::WaitForOther if fetch::wait::client_gone(r) => return Keys::Gone,
        Plan::FetchAndWait => {
            return match zone.try_start(slot, &cfg, now, false) {
                Some(lease) => start_waited(r, source, zone, ctx, lease),
                None => wait_for_other(r, ctx, &cfg),
            };
        }
        Plan::WaitForOther => return wait_for_other(r, ctx, &cfg),
        Plan::Unavailable => return Keys::Ready(None),
    }
    Keys::Ready(
        get(zone, slot, st.generation, on_new_keys).map(|(generation, keys)| FetchedKeys {
            keys,
            slot,
            generation,
            issuer: source.issuer.as_deref(),
        }),
    )
}

/// What to do about a token whose `kid` no key of the set has.
pub enum Retry {
    /// Newer keys were published meanwhile: verify again.
    VerifyAgain,
    /// The request waits: for the refetch it started, or for the next one (a timer).
    Wait,
    /// Refused as far as this source goes; the note says what was done about the `kid`.
    No(Option<&'static str>),
    /// The client left before the request would start or wait for a refetch: 499.
    Gone,
}

/// Another worker may have published newer keys since this one looked; else the request waits
/// for the first refetch that starts after it came (at once if the budget, one per
/// `min_refresh`, allows), bounded in time and in number per source and worker, unless a
/// refetch already proved its `kid` absent from the keys now published. Decided once per
/// request and source.
pub fn after_unknown_kid(
    r: &mut ngx_http_request_t,
    cfg: &CacheSettings,
    source: &'static KeySource,
    zone: &Zone,
    ctx: &Waits,
    used: Option<&FetchedKeys>,
    token: &[u8],
) -> Retry {
    let slot = source.slot;
    // One bit per zone slot (MAX_SOURCES is 32).
    let bit = 1u32 << slot;
    if ctx.forced.get() & bit != 0 {
        return Retry::No(None);
    }
    let seen = used.map_or(0, |u| u.generation);
    let now = ngx::ffi::ngx_time();
    let version = zone.version(slot);
    let st = state(zone, slot);
    if st.generation != 0 && st.generation != seen {
        return Retry::VerifyAgain;
    }
    let Some(w) = kid_wait::of(r, true) else {
        return Retry::No(None);
    };
    // A timer poll with nothing new to look at: sleep again, without the lock.
    if w.unchanged(slot, version, now) {
        return poll(r, w);
    }
    if w.since(slot).is_some() && w.expired() {
        return done(ctx, w, bit, "no refetch answered in time");
    }
    if fetch::wait::client_gone(r) {
        w.end();
        return Retry::Gone;
    }
    let kid = absent::token_kid(token).unwrap_or_default();
    let room = kid_wait::waiters(slot) < kid_wait::MAX_WAITERS;
    let d = zone.unknown_kid(
        slot,
        cfg,
        now,
        w.since(slot),
        &absent::key(kid.as_bytes()),
        seen,
        room,
    );
    match d.plan {
        KidPlan::Refetch => {
            w.run(slot, d.since);
            let Some(lease) = d.lease else {
                return done(ctx, w, bit, "the refetch could not start");
            };
            match start_waited(r, source, zone, ctx, lease) {
                Keys::Wait => Retry::Wait,
                _ => done(ctx, w, bit, "the refetch could not start"),
            }
        }
        KidPlan::Wait => {
            if w.wait(slot, d.since, d.version, d.next_force_at) {
                poll(r, w)
            } else {
                done(ctx, w, bit, "too many requests wait for a refetch")
            }
        }
        // Keys newer than the ones verified with: verify again first (then remembered).
        KidPlan::Absent if d.generation != seen => Retry::VerifyAgain,
        KidPlan::Absent => done(ctx, w, bit, "a refetch did not find it"),
        KidPlan::Remembered => done(ctx, w, bit, "absent at the last refetch"),
        KidPlan::Failed => done(ctx, w, bit, "the refetch failed"),
        KidPlan::NotSoon => done(ctx, w, bit, "no refetch allowed within 1s"),
        KidPlan::Full => done(ctx, w, bit, "too many requests wait for a refetch"),
    }
}

/// The request is done with unknown-`kid` handling for the source of `bit`.
fn done(ctx: &Waits, w: &KidWait, bit: u32, note: &'static str) -> Retry {
    w.end();
    ctx.forced.set(ctx.forced.get() | bit);
    Retry::No(Some(note))
}

/// Sleeps a timer poll and runs the phases again.
fn poll(r: &mut ngx_http_request_t, w: &KidWait) -> Retry {
    if fetch::wait::poll_later(r) {
        return Retry::Wait;
    }
    w.end();
    Retry::No(None)
}

fn start_waited(
    r: &mut ngx_http_request_t,
    source: &'static KeySource,
    zone: &Zone,
    ctx: &Waits,
    lease: u64,
) -> Keys {
    if fetch::start::start(r, source, zone, lease, true) {
        ctx.waiting.set(true);
        return Keys::Wait;
    }
    zone.abandon(source.slot, lease, ngx::ffi::ngx_time());
    Keys::Error(format!("cannot start the key request \"{}\"", source.label))
}

fn wait_for_other(r: &mut ngx_http_request_t, ctx: &Waits, cfg: &CacheSettings) -> Keys {
    let max_polls = u32::try_from(cfg.lease.max(1) * 1000 / POLL_MS as u64).unwrap_or(u32::MAX);
    if ctx.polls.get() < max_polls && fetch::wait::poll_later(r) {
        ctx.polls.set(ctx.polls.get() + 1);
        return Keys::Wait;
    }
    Keys::Ready(None)
}

/// Remembers a key set this worker just parsed or published, its RSA keys prepared for
/// OpenSSL (once per generation and worker). A new generation drops the worker's
/// verified-token cache (`on_new_keys`), so a removed key stops being accepted at once.
pub fn install(slot: usize, generation: u64, mut set: KeySet, on_new_keys: OnNewKeys) -> Rc<KeySet> {
    crate::openssl_rsa::attach(&mut set);
    let keys = Rc::new(set);
    let changed = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let changed = l[slot].as_ref().is_some_and(|(g, _)| *g != generation);
        l[slot] = Some((generation, keys.clone()));
        changed
    });
    if changed {
        on_new_keys();
    }
    keys
}

/// The key set of `slot` at `generation`, parsed from the zone if this worker has no copy of
/// that generation.
fn get(zone: &Zone, slot: usize, generation: u64, on_new_keys: OnNewKeys) -> Option<(u64, Rc<KeySet>)> {
    let local = LOCAL.with(|l| {
        l.borrow()[slot]
            .as_ref()
            .filter(|(g, _)| *g == generation)
            .cloned()
    });
    if local.is_some() {
        return local;
    }
    let (g, body) = zone.body(slot)?;
    let keys = install(slot, g, KeySet::parse(&body).ok()?, on_new_keys);
    Some((g, keys))
}
