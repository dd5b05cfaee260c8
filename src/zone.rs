//! The shared-memory zone: one typed layout ([`Shared`]), shared by all workers and kept across
//! `nginx -s reload` (NGINX reuses a zone with the same name and size).
//!
//! - A header with a magic number, a layout version and the layout's size: a zone left by a
//!   build with another layout is re-initialised, never misread.
//! - Request counters, updated without a lock.
//! - Per key source slot: a lock-free part (the owner's identity tag and a version bumped on
//!   every change, so a worker notices new keys at once without taking the lock) and, under
//!   the zone's lock, the identity, fetch state, statistics, last result and the published
//!   JWKS body (a slab allocation).
//!
//! Slots belong to key-source identities (see `sources.rs`), claimed at configuration load in
//! the master. A slot that no running configuration claims is reclaimed when room is needed.
//! Nothing is parsed under the lock; a body is published only after the core parsed it into
//! at least one usable key.
//!
//! The zone's header, lock, add, init and attach are [`crate::shm`]'s. The lock is the slab
//! pool's own mutex ([`SlabMutex`]), as NGINX's limit_req and limit_conn use it: when a worker dies holding it, the master unlocks
//! it ("shared memory zone ... was locked by"), so one crashed worker cannot hang the others.
//! Requests with fresh keys never take it (the slot's version says the worker's copy of the
//! state is current). The next holder after such a death may find an update half done: the
//! stores that matter are ordered so that this stays safe (a body pointer never goes with
//! another block's length, a new body never with the old generation, a generation number is
//! never handed out twice).

use std::alloc::Layout;
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{compiler_fence, AtomicBool, AtomicU64, Ordering};

use jwt_peer_auth_core::absent::{AbsentKids, KidKey};
use jwt_peer_auth_core::freshness::{CacheSettings, KidPlan, SourceState};
use jwt_peer_auth_core::Reason;
use ngx::allocator::Allocator;
use ngx::ffi::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use crate::shm::{self, Attached, HeldSlab, Record, SlabHeld, SlabMutex};

/// Most key sources one zone tracks (live and retired).
pub const MAX_SOURCES: usize = 32;
/// Bytes kept of a key source's label, its key ids and its last fetch result.
const LABEL_LEN: usize = 96;
const KIDS_LEN: usize = 256;
const RESULT_LEN: usize = 96;
/// Bytes kept of a discovery source's `jwks_uri` and of its last discovery error.
const DISCOVERY_LEN: usize = 256;

const MAGIC: u64 = u64::from_be_bytes(*b"jwtpeer\0");
/// Bumped whenever [`Shared`] changes shape.
const LAYOUT_VERSION: u32 = 8;

/// A key source's identity: a digest of what the configuration says it is.
pub type Identity = [u8; 32];

/// A fixed-capacity byte string in shared memory.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> Text<N> {
    const EMPTY: Self = Text {
        len: 0,
        bytes: [0; N],
    };

    fn set(&mut self, s: &[u8]) {
        let n = s.len().min(N);
        self.bytes[..n].copy_from_slice(&s[..n]);
        self.len = n as u16;
    }

    /// Whether it holds `s` (as `set` would keep it: cut to `N` bytes).
    fn holds(&self, s: &[u8]) -> bool {
        let n = s.len().min(N);
        usize::from(self.len) == n && self.bytes[..n] == s[..n]
    }

    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len).min(N)])
    }
}

/// Fetch counters of one key source.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct FetchStats {
    pub ok: u64,
    pub failed: u64,
    /// Requests with an unknown `kid` that waited for a refetch.
    pub kid_waits: u64,
    /// Requests with an unknown `kid` refused at once: remembered absent.
    pub kid_absent: u64,
    /// Requests with an unknown `kid` refused at once: too many were waiting.
    pub kid_full: u64,
}

/// A key source slot, under the lock.
#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    identity: Identity,
    /// 0: free.
    in_use: u8,
    /// The configuration load (see [`State::epoch`]) that last claimed this slot.
    epoch: u64,
    label: Text<LABEL_LEN>,
    state: SourceState,
    stats: FetchStats,
    /// The published JWKS body, a slab allocation of `body_len` bytes (NULL: none).
    body: *mut u8,
    body_len: usize,
    kids: Text<KIDS_LEN>,
    /// The `kid`s a fetch proved absent from the published keys.
    absent: AbsentKids,
    /// What the last fetch gave ("200, 2 keys", "status 502", ...), and when.
    result: Text<RESULT_LEN>,
    result_at: i64,
    /// A discovery source: the `jwks_uri` of the last accepted document, and the last refusal
    /// of a document (and when).
    jwks_uri: Text<DISCOVERY_LEN>,
    discovery_error: Text<DISCOVERY_LEN>,
    discovery_error_at: i64,
}

impl Slot {
    /// Replaces the published body with `body` (a slab block of its length, or none); returns
    /// the old block, for the caller to free. A worker may die between any two of these
    /// stores and the next holder of the lock sees what was stored: the pointer is cleared
    /// first and set last, so `body_len` never describes another block than `body`.
    fn set_body(&mut self, body: Option<NonNull<[u8]>>) -> Option<NonNull<[u8]>> {
        let old = NonNull::new(self.body).map(|p| NonNull::slice_from_raw_parts(p, self.body_len));
        store(&mut self.body, std::ptr::null_mut());
        store(&mut self.body_len, body.map_or(0, |b| b.len()));
        store(
            &mut self.body,
            body.map_or(std::ptr::null_mut(), |b| b.as_ptr().cast::<u8>()),
        );
        old
    }

    const FREE: Slot = Slot {
        identity: [0; 32],
        in_use: 0,
        epoch: 0,
        label: Text::EMPTY,
        state: SourceState::INITIAL,
        stats: FetchStats {
            ok: 0,
            failed: 0,
            kid_waits: 0,
            kid_absent: 0,
            kid_full: 0,
        },
        body: std::ptr::null_mut(),
        body_len: 0,
        kids: Text::EMPTY,
        absent: AbsentKids::EMPTY,
        result: Text::EMPTY,
        result_at: 0,
        jwks_uri: Text::EMPTY,
        discovery_error: Text::EMPTY,
        discovery_error_at: 0,
    };
}

/// `*dst = value` as a store of its own, in program order with the other `store`s and before
/// the stores that follow: never merged, dropped or moved by the compiler (see
/// [`Slot::set_body`]). The CPU makes stores before a process's death visible to the others
/// (the kernel's switch away from it orders them).
fn store<T: Copy>(dst: &mut T, value: T) {
    // SAFETY: `dst` is a valid, aligned and exclusive reference; `T: Copy` has no drop.
    unsafe { std::ptr::write_volatile(dst, value) };
    compiler_fence(Ordering::SeqCst);
}

/// Everything under the zone's lock.
#[repr(C)]
struct State {
    /// Bumped by every configuration load that initialises the zone.
    epoch: u64,
    /// The next key-set generation: unique in the zone, so (slot, generation) never repeats
    /// even when a slot is reclaimed for another source.
    next_generation: u64,
    slots: [Slot; MAX_SOURCES],
}

/// The lock-free part of a slot.
#[repr(C)]
struct SlotMeta {
    /// The first 8 bytes of the owner's identity (0: free): a worker of an older configuration
    /// whose slot was reclaimed sees the change and stops using it.
    owner: AtomicU64,
    /// Bumped on every change of the slot's state or body.
    version: AtomicU64,
    /// Which episode without keys was last logged as an error: 1 + the time of the last
    /// successful fetch (0: none logged), so "no keys" is an error once per episode.
    quiet: AtomicU64,
}

/// Request counters of all workers, updated without the lock.
#[repr(C)]
pub struct Counters {
    pub verified: AtomicU64,
    /// Refusals by reason, in `Reason::ALL` order.
    pub rejected: [AtomicU64; Reason::ALL.len()],
    /// Refused by `jwt_peer_auth_require ... error=403`.
    pub forbidden: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    /// Refusals answered from the per-worker refusal cache (counted in `rejected` too).
    pub refusal_cache_hits: AtomicU64,
    /// Refusals (counted in `rejected` or `forbidden` too) that the location did not enforce:
    /// `shadow`, or `optional` without a token; the request went on.
    pub unenforced: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: Reason) -> &AtomicU64 {
        &self.rejected[reason.index()]
    }
}

/// The zone's one allocation, pointed to by the slab pool's `data`.
#[repr(C)]
pub struct Shared {
    header: shm::Header,
    counters: Counters,
    meta: [SlotMeta; MAX_SOURCES],
    /// Set when a body did not fit, cleared by the next publish that fits: the error is logged
    /// once per episode.
    full: AtomicBool,
    /// Only reached through [`Zone::lock`].
    state: SlabMutex<State>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            header: <Shared as shm::Layout>::HEADER,
            counters: Counters {
                verified: AtomicU64::new(0),
                rejected: std::array::from_fn(|_| AtomicU64::new(0)),
                forbidden: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                cache_misses: AtomicU64::new(0),
                refusal_cache_hits: AtomicU64::new(0),
                unenforced: AtomicU64::new(0),
            },
            meta: std::array::from_fn(|_| SlotMeta {
                owner: AtomicU64::new(0),
                version: AtomicU64::new(0),
                quiet: AtomicU64::new(0),
            }),
            full: AtomicBool::new(false),
            state: SlabMutex::new(State {
                epoch: 0,
                next_generation: 1,
                slots: [Slot::FREE; MAX_SOURCES],
            }),
        }
    }
}

// SAFETY: `#[repr(C)]`, its first field the header `Shared::new` sets to `HEADER`; the rest
// atomics, and under the slab mutex the slots (plain data, and body pointers into this
// zone's slab).
unsafe impl shm::Layout for Shared {
    const MAGIC: u64 = MAGIC;
    const VERSION: u32 = LAYOUT_VERSION;
}

/// A handle to the zone, valid in every worker.
#[derive(Clone)]
pub struct Zone {
    shared: &'static Shared,
    zone: Attached<Shared>,
}

/// One key source as the status page shows it.
pub struct SourceView {
    /// Its slot (see `KeySource::slot`).
    pub slot: usize,
    pub label: String,
    pub live: bool,
    pub state: SourceState,
    pub stats: FetchStats,
    pub kids: String,
    /// How many `kid`s are remembered absent from the published keys.
    pub absent_kids: usize,
    pub result: String,
    pub result_at: i64,
    pub jwks_uri: String,
    pub discovery_error: String,
    pub discovery_error_at: i64,
}

/// What a request does about a `kid` missing from the keys it verified with (see
/// [`Zone::unknown_kid`]).
#[derive(Debug, Clone, Copy)]
pub struct KidDecision {
    pub plan: KidPlan,
    /// The lease of the refetch it starts (for [`KidPlan::Refetch`]).
    pub lease: Option<u64>,
    /// The lease count when the request first saw the `kid` unknown.
    pub since: u64,
    /// The generation of the published keys.
    pub generation: u64,
    /// When the next unknown-`kid` refetch may start (Unix seconds).
    pub next_force_at: i64,
    /// The slot's version after the decision: until it moves, nothing changed.
    pub version: u64,
}

fn tag(identity: &Identity) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&identity[..8]);
    u64::from_le_bytes(b).max(1)
}

impl Zone {
    /// The zone behind `shm_zone`, if its init ran.
    pub fn from_shm(shm_zone: *mut ngx_shm_zone_t) -> Option<Zone> {
        Attached::attach(shm_zone).map(Zone::of)
    }

    fn of(zone: Attached<Shared>) -> Zone {
        Zone {
            shared: zone.shared(),
            zone,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The zone's state, with its slab mutex held until the guard drops. No method takes it
    /// twice, nor calls anything that takes it while holding it.
    fn lock(&self) -> SlabHeld<'_, State> {
        self.zone.lock(|s| &s.state)
    }

    /// Starts a configuration load: returns its epoch.
    fn begin_epoch(&self) -> u64 {
        let mut st = self.lock();
        st.epoch += 1;
        st.epoch
    }

    /// The slot of key source `identity` for the configuration load `epoch`: its own slot if
    /// it has one (keys kept), else a free one, else the one retired longest ago.
    fn claim(&self, identity: &Identity, label: &[u8], epoch: u64) -> Option<usize> {
        let mut st = self.lock();
        let found = st
            .slots
            .iter()
            .position(|s| s.in_use != 0 && s.identity == *identity);
        let i = match found {
            Some(i) => i,
            None => {
                let free = st.slots.iter().position(|s| s.in_use == 0);
                // Never a slot of the previous load (most likely the running configuration,
                // whose workers still use it): only older ones.
                let retired = || {
                    st.slots
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.epoch.saturating_add(1) < epoch)
                        .min_by_key(|(_, s)| s.epoch)
                        .map(|(i, _)| i)
                };
                let i = free.or_else(retired)?;
                let old_body = st.slots[i].set_body(None);
                let old = std::mem::replace(&mut st.slots[i], Slot::FREE);
                if let Some(b) = old_body {
                    free_body(&st.slab(), b);
                }
                let s = &mut st.slots[i];
                // Lease ids keep counting in the slot: a late fetch of the old owner (a
                // worker of an older configuration) never holds a lease of the new one.
                s.state.last_lease = old.state.last_lease;
                s.identity = *identity;
                s.in_use = 1;
                self.shared.meta[i].owner.store(tag(identity), Ordering::Release);
                self.bump(i);
                i
            }
        };
        let s = &mut st.slots[i];
        s.epoch = epoch;
        s.label.set(label);
        Some(i)
    }

    /// Whether `slot` still belongs to `identity` (lock-free).
    pub fn owns(&self, slot: usize, identity: &Identity) -> bool {
        self.shared.meta[slot].owner.load(Ordering::Acquire) == tag(identity)
    }

    /// The slot's change counter (lock-free).
    pub fn version(&self, slot: usize) -> u64 {
        self.shared.meta[slot].version.load(Ordering::Acquire)
    }

    /// Called under the lock, after the change it announces.
    fn bump(&self, slot: usize) {
        self.shared.meta[slot].version.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether "no keys" for `slot` should be logged as an error now: once per episode
    /// without keys (an episode ends with a successful fetch); each failed fetch has its own
    /// error line anyway.
    pub fn first_no_keys(&self, slot: usize) -> bool {
        let (_, st) = self.state(slot);
        let episode = (st.fetched_at as u64).wrapping_add(1);
        self.shared.meta[slot].quiet.swap(episode, Ordering::AcqRel) != episode
    }

    /// The state of `slot` and the version it was read at.
    pub fn state(&self, slot: usize) -> (u64, SourceState) {
        let st = self.lock();
        (self.version(slot), st.slots[slot].state)
    }

    /// Takes the fetch lease if a fetch may start now (for `forced`, also within the
    /// unknown-`kid` rate limit); returns the lease.
    pub fn try_start(&self, slot: usize, cfg: &CacheSettings, now: i64, forced: bool) -> Option<u64> {
        let mut st = self.lock();
        let s = &mut st.slots[slot].state;
        let ok = if forced {
            s.may_force(cfg, now)
        } else {
            s.may_start(now)
        };
        let lease = ok.then(|| s.start(cfg, now, forced));
        if lease.is_some() {
            self.bump(slot);
        }
        lease
    }

    /// Decides, in one locked step, what a request does about a `kid` missing from the keys of
    /// generation `seen` it verified with (see [`SourceState::unknown_kid`]): starts the
    /// refetch (taking the lease), remembers the `kid` absent when a refetch that started
    /// after `since` did not find it in the keys still published, and counts waits and
    /// refusals at once. Constant work under the lock (a set of at most 32 digests).
    #[allow(clippy::too_many_arguments)]
    pub fn unknown_kid(
        &self,
        slot: usize,
        cfg: &CacheSettings,
        now: i64,
        since: Option<u64>,
        kid: &KidKey,
        seen: u64,
        room: bool,
    ) -> KidDecision {
        let mut st = self.lock();
        let s = &mut st.slots[slot];
        let remembered = s.absent.contains(s.state.generation, kid);
        let plan = s.state.unknown_kid(cfg, now, since, remembered, room);
        let first = since.unwrap_or(s.state.last_lease);
        let mut lease = None;
        match plan {
            KidPlan::Refetch => {
                lease = Some(s.state.start(cfg, now, true));
                self.bump(slot);
            }
            KidPlan::Absent if s.state.generation == seen => {
                s.absent.remember(seen, *kid);
            }
            KidPlan::Remembered => s.stats.kid_absent += 1,
            KidPlan::Full => s.stats.kid_full += 1,
            KidPlan::Wait if since.is_none() => s.stats.kid_waits += 1,
            _ => {}
        }
        KidDecision {
            plan,
            lease,
            since: first,
            generation: s.state.generation,
            next_force_at: s.state.next_force_at(cfg),
            version: self.version(slot),
        }
    }

    /// Publishes a validated JWKS body fetched under `lease`. The generation only moves when
    /// the body differs from the published one. `None`: the lease was outdated, nothing
    /// changed.
    pub fn publish(
        &self,
        slot: usize,
        lease: u64,
        body: &[u8],
        kids: &str,
        now: i64,
    ) -> Result<Option<u64>, PublishError> {
        let mut st = self.lock();
        let slab = st.slab();
        if !st.slots[slot].state.holds(lease) {
            return Ok(None);
        }
        let changed = body_of(&st.slots[slot]) != Some(body);
        let generation = if changed {
            let Ok(mut copy) = slab.allocate(Layout::for_value(body)) else {
                let first = !self.shared.full.swap(true, Ordering::AcqRel);
                return Err(PublishError::NoMemory {
                    bytes: body.len(),
                    first,
                });
            };
            // SAFETY: a fresh block of `body.len()` bytes (its slice's length), reachable from
            // nothing else yet.
            unsafe { copy.as_mut() }.copy_from_slice(body);
            // The generation is taken before it is used: a worker that dies in between skips
            // a number, never hands one out twice (a worker's parsed keys are tied to it).
            let g = st.next_generation;
            store(&mut st.next_generation, g + 1);
            let s = &mut st.slots[slot];
            // The new generation goes in before the new body, and is announced once the body
            // is in: a worker that dies later (freeing the old body below, say) leaves the
            // new body under the new generation, which the other workers then load. The new
            // body under the old generation would stay with workers that parsed the old one
            // (a refetch of the same body keeps the generation): a removed key accepted.
            store(&mut s.state.generation, g);
            let old = s.set_body(Some(copy));
            self.bump(slot);
            s.kids.set(kids.as_bytes());
            if let Some(old) = old {
                free_body(&slab, old);
            }
            Some(g)
        } else {
            None
        };
        let s = &mut st.slots[slot];
        s.state.succeed(lease, now, generation);
        s.stats.ok += 1;
        s.result.set(b"200");
        s.result_at = now;
        let g = s.state.generation;
        self.bump(slot);
        drop(st);
        self.shared.full.store(false, Ordering::Release);
        Ok(Some(g))
    }

    /// Records a failed fetch; `false` when the lease was outdated (nothing changed).
    pub fn fail(&self, slot: usize, lease: u64, why: &str, now: i64) -> bool {
        let mut st = self.lock();
        let s = &mut st.slots[slot];
        let done = s.state.fail(lease, now);
        if done {
            s.stats.failed += 1;
            s.result.set(why.as_bytes());
            s.result_at = now;
            self.bump(slot);
        }
        done
    }

    /// Records what a discovery document fetched under `lease` gave: the `jwks_uri` it named
    /// (`Ok`) or why it was refused. `None`: the lease was outdated, nothing changed; else
    /// whether the `jwks_uri` is new. Constant work under the lock.
    pub fn discovered(&self, slot: usize, lease: u64, outcome: Result<&str, &str>, now: i64) -> Option<bool> {
        let mut st = self.lock();
        let s = &mut st.slots[slot];
        if !s.state.holds(lease) {
            return None;
        }
        let changed = match outcome {
            Ok(uri) => {
                let changed = !s.jwks_uri.holds(uri.as_bytes());
                s.jwks_uri.set(uri.as_bytes());
                changed
            }
            Err(why) => {
                s.discovery_error.set(why.as_bytes());
                s.discovery_error_at = now;
                false
            }
        };
        self.bump(slot);
        Some(changed)
    }

    /// A fetch ended without an outcome (its client went away): frees the lease after a short
    /// cool-down.
    pub fn abandon(&self, slot: usize, lease: u64, now: i64) {
        let mut st = self.lock();
        if st.slots[slot].state.abandon(lease, now) {
            self.bump(slot);
        }
    }

    /// A copy of the published body and its generation.
    pub fn body(&self, slot: usize) -> Option<(u64, Vec<u8>)> {
        let st = self.lock();
        let s = &st.slots[slot];
        let body = body_of(s)?;
        let mut copy = Vec::new();
        copy.try_reserve_exact(body.len()).ok()?;
        copy.extend_from_slice(body);
        Some((s.state.generation, copy))
    }

    /// Every slot in use, for the status page (live: claimed by the newest configuration).
    pub fn sources(&self) -> Vec<SourceView> {
        let st = self.lock();
        st.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.in_use != 0)
            .map(|(slot, s)| SourceView {
                slot,
                label: s.label.as_str().into_owned(),
                live: s.epoch == st.epoch,
                state: s.state,
                stats: s.stats,
                kids: s.kids.as_str().into_owned(),
                absent_kids: s.absent.len(s.state.generation),
                result: s.result.as_str().into_owned(),
                result_at: s.result_at,
                jwks_uri: s.jwks_uri.as_str().into_owned(),
                discovery_error: s.discovery_error.as_str().into_owned(),
                discovery_error_at: s.discovery_error_at,
            })
            .collect()
    }
}

/// Frees a body that [`Slot::set_body`] replaced (reachable from no slot any more), with the
/// zone's mutex held (the guard that gave `slab`).
fn free_body(slab: &HeldSlab, body: NonNull<[u8]>) {
    // A body's length came from a slice: its layout exists.
    if let Ok(layout) = Layout::array::<u8>(body.len()) {
        // SAFETY: `body` was allocated by `Zone::publish` from this slab with this layout
        // (`Layout::for_value` of a byte slice of this length), and is freed once.
        unsafe { slab.deallocate(body.cast(), layout) };
    }
}

/// The published body of a slot of the zone's state (reached only under its lock).
fn body_of(s: &Slot) -> Option<&[u8]> {
    if s.body.is_null() {
        return None;
    }
    // SAFETY: a non-NULL `body` is a slab block of at least `body_len` bytes set by
    // `Slot::set_body`, replaced and freed only under the zone's lock, which the caller holds
    // (a `Slot` of the state is only reachable through its guard).
    Some(unsafe { std::slice::from_raw_parts(s.body, s.body_len) })
}

/// Why a body could not be published.
#[derive(Debug)]
pub enum PublishError {
    /// The zone has no room for a body of this many bytes; `first` for the first refusal
    /// since the last successful publish (the one to log as an error).
    NoMemory { bytes: usize, first: bool },
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::NoMemory { bytes, .. } => write!(f, "no room in the zone for {bytes} bytes"),
        }
    }
}

/// What the zone's init handler needs from the configuration: the key sources to claim slots
/// for, and where to write the slots down.
pub trait Claims {
    fn claims(&mut self) -> Vec<(Identity, String)>;
    fn assign(&mut self, index: usize, slot: usize);
}

/// The zone's record: the configuration's key sources (a [`Claims`]), which each load claims
/// slots for.
#[repr(transparent)]
struct Served<C>(C);

impl<C: Claims + 'static> Record for Served<C> {
    type Layout = Shared;
    const KIND: &'static str = "zone";

    fn create(&mut self, _slab: &HeldSlab) -> Result<Shared, String> {
        Ok(Shared::new())
    }

    /// Claims a slot for each key source of the new configuration.
    fn loaded(&mut self, zone: &Attached<Shared>, _fresh: bool) -> Result<(), String> {
        let zone = Zone::of(zone.clone());
        let epoch = zone.begin_epoch();
        for (i, (identity, label)) in self.0.claims().into_iter().enumerate() {
            let slot = zone
                .claim(&identity, label.as_bytes(), epoch)
                .ok_or_else(|| format!("no room for key source \"{label}\" (at most {MAX_SOURCES})"))?;
            self.0.assign(i, slot);
        }
        Ok(())
    }
}

/// Adds the zone to the configuration (`jwt_peer_auth_zone`, or the default one). `name` must
/// outlive the cycle (a directive argument from the configuration pool, or a static);
/// `sources` (living as long as the cycle) are the key sources the zone's init claims slots
/// for.
pub fn add<C: Claims + 'static>(
    cf: &mut ngx_conf_t,
    name: ngx_str_t,
    size: usize,
    tag: *mut c_void,
    sources: *mut C,
) -> Option<*mut ngx_shm_zone_t> {
    // `Served<C>` is a transparent wrapper of `C`: the same pointer.
    shm::add(cf, name, size, tag, sources.cast::<Served<C>>())
}
