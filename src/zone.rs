//! The shared-memory zone: for each fetched key source, the last good JWKS body, its
//! generation and its fetch state, shared by all workers and kept across `nginx -s reload`
//! (NGINX reuses a zone with the same name and size).
//!
//! Writes happen under the zone's lock and are short: bytes are copied in, the generation is
//! bumped. Nothing is parsed under the lock; a body is only published after the core parsed it
//! into at least one usable key.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use jwt_peer_auth_core::freshness::{CacheSettings, SourceState};
use ngx::collections::Vec as SlabVec;
use ngx::core::{SlabPool, Status};
use ngx::ffi::{ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_str_t};
use ngx::sync::RwLock;

/// Most key sources (distinct `jwt_peer_auth_key_request` URIs) one zone tracks.
pub const MAX_SOURCES: usize = 32;
const MAX_NAME: usize = 256;

/// Fetch counters of one key source.
#[derive(Debug, Default, Clone, Copy)]
pub struct FetchStats {
    pub ok: u64,
    pub failed: u64,
}

struct Slot {
    name: [u8; MAX_NAME],
    name_len: usize,
    state: SourceState,
    body: Option<SlabVec<u8, SlabPool>>,
    stats: FetchStats,
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            name: [0; MAX_NAME],
            name_len: 0,
            state: SourceState::default(),
            body: None,
            stats: FetchStats::default(),
        }
    }

    fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// What lives in shared memory under the lock.
pub struct ZoneState {
    slots: [Slot; MAX_SOURCES],
}

/// Request counters of all workers, updated without the lock.
#[derive(Default)]
pub struct Counters {
    pub verified: AtomicU64,
    /// Refusals by reason, in `Reason::ALL` order.
    pub rejected: [AtomicU64; 9],
    /// Refused by `jwt_peer_auth_require ... error=403`.
    pub forbidden: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

struct Shared {
    state: RwLock<ZoneState>,
    counters: Counters,
}

/// A handle to the zone, valid in every worker.
#[derive(Clone)]
pub struct Zone {
    shared: &'static Shared,
    pool: SlabPool,
}

/// Why a body could not be published.
#[derive(Debug)]
pub enum PublishError {
    /// The zone has no room for a body of this many bytes.
    NoMemory(usize),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::NoMemory(n) => write!(f, "no room in the zone for {n} bytes"),
        }
    }
}

impl Zone {
    /// The zone behind `shm_zone`, created in it on first use.
    pub fn from_shm(shm_zone: *mut ngx_shm_zone_t) -> Option<Zone> {
        // SAFETY: `shm_zone` is the zone this module added; after init its `shm.addr` is the
        // slab pool NGINX set up for it, mapped at the same address in every process.
        let shm_zone = unsafe { shm_zone.as_ref() }?;
        // SAFETY: as above; a slab pool is at the start of every shared zone.
        let mut pool = unsafe { SlabPool::from_shm_zone(shm_zone) }?;
        if pool.as_ref().data.is_null() {
            let state = ZoneState {
                slots: std::array::from_fn(|_| Slot::empty()),
            };
            let p = ngx::allocator::allocate(RwLock::new(state), &pool).ok()?;
            pool.as_mut().data = p.as_ptr().cast();
        }
        // SAFETY: `data` was set above (or by the previous cycle's init, for a reused zone) to
        // a `Shared` allocated in this zone, which lives as long as the zone.
        let shared = unsafe { pool.as_ref().data.cast::<Shared>().as_ref() }?;
        Some(Zone { shared, pool })
    }

    /// The slot of key source `name`, claimed on first use.
    pub fn slot(&self, name: &[u8]) -> Option<usize> {
        if name.len() > MAX_NAME {
            return None;
        }
        if let Some(i) = self
            .shared
            .state
            .read()
            .slots
            .iter()
            .position(|s| s.name() == name)
        {
            return Some(i);
        }
        let mut z = self.shared.state.write();
        if let Some(i) = z.slots.iter().position(|s| s.name() == name) {
            return Some(i);
        }
        let i = z.slots.iter().position(|s| s.name_len == 0)?;
        let slot = &mut z.slots[i];
        slot.name[..name.len()].copy_from_slice(name);
        slot.name_len = name.len();
        Some(i)
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Slot, name, state and fetch counters of every key source in use.
    pub fn sources(&self) -> Vec<(usize, String, SourceState, FetchStats)> {
        let z = self.shared.state.read();
        z.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name_len > 0)
            .map(|(i, s)| {
                (
                    i,
                    String::from_utf8_lossy(s.name()).into_owned(),
                    s.state,
                    s.stats,
                )
            })
            .collect()
    }

    pub fn state(&self, slot: usize) -> SourceState {
        self.shared.state.read().slots[slot].state
    }

    /// Takes the fetch lease if a fetch may start now (for `forced`, also within the
    /// unknown-`kid` rate limit).
    pub fn try_start(&self, slot: usize, cfg: &CacheSettings, now: i64, forced: bool) -> bool {
        let mut z = self.shared.state.write();
        let s = &mut z.slots[slot].state;
        let ok = if forced {
            s.may_force(cfg, now)
        } else {
            s.may_start(now)
        };
        if ok {
            s.start(cfg, now, forced);
        }
        ok
    }

    /// Publishes a validated JWKS body; returns the generation, which only moves when the body
    /// differs from the published one.
    pub fn publish(&self, slot: usize, body: &[u8], now: i64) -> Result<u64, PublishError> {
        {
            let mut z = self.shared.state.write();
            let s = &mut z.slots[slot];
            if s.body.as_deref() == Some(body) {
                s.state.succeed(now, false);
                s.stats.ok += 1;
                return Ok(s.state.generation);
            }
        }
        let mut copy = SlabVec::new_in(self.pool.clone());
        copy.try_reserve_exact(body.len())
            .map_err(|_| PublishError::NoMemory(body.len()))?;
        copy.extend_from_slice(body);
        let old = {
            let mut z = self.shared.state.write();
            let s = &mut z.slots[slot];
            s.state.succeed(now, true);
            s.stats.ok += 1;
            let old = s.body.replace(copy);
            (old, s.state.generation)
        };
        // The old body is freed outside the lock.
        Ok(old.1)
    }

    pub fn fail(&self, slot: usize, now: i64) {
        let mut z = self.shared.state.write();
        let s = &mut z.slots[slot];
        s.state.fail(now);
        s.stats.failed += 1;
    }

    pub fn abandon(&self, slot: usize) {
        self.shared.state.write().slots[slot].state.abandon();
    }

    /// A copy of the published body and its generation.
    pub fn body(&self, slot: usize) -> Option<(u64, Vec<u8>)> {
        let z = self.shared.state.read();
        let s = &z.slots[slot];
        s.body.as_ref().map(|b| (s.state.generation, b.to_vec()))
    }
}

/// Adds the zone to the configuration (`jwt_peer_auth_zone`, or the default one). `name` must
/// outlive the cycle (a directive argument from the configuration pool, or a static).
pub fn add(
    cf: &mut ngx_conf_t,
    mut name: ngx_str_t,
    size: usize,
    tag: *mut c_void,
) -> Option<*mut ngx_shm_zone_t> {
    // SAFETY: called while parsing the http block with a valid `cf`; NGINX keeps the pointer
    // of `name` (see above) and reports conflicting sizes itself.
    let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, tag) };
    // SAFETY: NULL or a zone owned by the cycle.
    let z = unsafe { zone.as_mut() }?;
    z.init = Some(init_zone);
    Some(zone)
}

extern "C" fn init_zone(shm_zone: *mut ngx_shm_zone_t, _data: *mut c_void) -> ngx_int_t {
    match Zone::from_shm(shm_zone) {
        Some(_) => Status::NGX_OK.into(),
        None => Status::NGX_ERROR.into(),
    }
}
