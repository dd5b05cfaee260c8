//! The DPoP replay cache's shared zone (`jwt_peer_auth_dpop_zone name:size`, or the default
//! `jwt_peer_auth_dpop:1m`): the core's replay table ([`replay::Slot`]s) in one slab
//! allocation sized from the zone when it is first set up, shared by every worker and kept
//! across reloads (NGINX reuses a zone of the same name and size; its data survives).
//!
//! Every look-up and insertion is [`replay::insert`] under the zone's slab mutex: a constant
//! 16 slots, never a scan. The counters are atomics read without the lock (status page).
//!
//! Written against NGINX's slab pool directly; when the shared `src/shm.rs` of issue 22 lands
//! this moves onto it: the table is one `#[repr(C)]` value and one array, set up in `init`.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use jwt_peer_auth_core::dpop::replay::{self, Insert, Slot};
use ngx::core::{SlabPool, Status};
use ngx::ffi::{ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_slab_alloc, ngx_str_t};

use crate::zone::SlabMutex;

const MAGIC: u64 = u64::from_be_bytes(*b"jpadpop\0");
const VERSION: u64 = 2;

/// Refusals for a full cache closer together than this (seconds) are one episode.
pub const EPISODE_GAP: i64 = 10;

/// Name and size of the zone used when `jwt_peer_auth_dpop_zone` is not given.
pub const DEFAULT_ZONE: &str = "jwt_peer_auth_dpop";
pub const DEFAULT_ZONE_SIZE: usize = 1024 * 1024;

/// The counters of the status page.
#[repr(C)]
#[derive(Default)]
pub struct Stats {
    /// Proofs remembered.
    pub stored: AtomicU64,
    /// Proofs refused as replays.
    pub replays: AtomicU64,
    /// Proofs refused because the cache could not remember them.
    pub full: AtomicU64,
    /// Episodes of refusals for a full cache (one `[error]` each).
    pub full_episodes: AtomicU64,
    /// Slots holding an entry, live or expired (an expired one is reused in place).
    pub used: AtomicU64,
}

#[repr(C)]
struct Table {
    slots: *mut Slot,
    len: usize,
}

/// The zone's one header allocation, pointed to by the slab pool's `data`.
#[repr(C)]
struct Shared {
    magic: u64,
    version: u64,
    capacity: u64,
    stats: Stats,
    /// When a proof was last refused for a full cache (Unix seconds): refusals less than
    /// [`EPISODE_GAP`] seconds apart are one episode, with one `[error]`.
    last_full: AtomicI64,
    table: SlabMutex<Table>,
}

/// A handle to the zone, valid in every worker.
pub struct Zone {
    shared: &'static Shared,
    pool: SlabPool,
}

/// What [`Zone::insert`] found.
pub enum Remembered {
    Fresh,
    Replay,
    /// Not remembered; `first`: the first refusal of this episode.
    Full {
        first: bool,
    },
}

impl Zone {
    pub fn from_shm(shm_zone: *mut ngx_shm_zone_t) -> Option<Zone> {
        // SAFETY: NULL or the zone this module added; after init its `shm.addr` is the slab
        // pool NGINX set up for it, mapped at the same address in every process.
        let shm_zone = unsafe { shm_zone.as_ref() }?;
        // SAFETY: as above; a slab pool is at the start of every shared zone.
        let pool = unsafe { SlabPool::from_shm_zone(shm_zone) }?;
        // SAFETY: `data` is NULL or was set by `init_zone` to a `Shared` allocated as one in
        // this zone (magic and version checked there), living as long as the zone.
        let shared = unsafe { pool.as_ref().data.cast::<Shared>().as_ref() }?;
        (shared.magic == MAGIC && shared.version == VERSION).then_some(Zone { shared, pool })
    }

    /// The status page's view (atomics, no lock).
    pub fn snapshot(&self) -> jwt_peer_auth_core::status::ReplayCache {
        let s = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        jwt_peer_auth_core::status::ReplayCache {
            capacity: self.shared.capacity,
            used: get(&s.used),
            stored: get(&s.stored),
            replays: get(&s.replays),
            full: get(&s.full),
            full_episodes: get(&s.full_episodes),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    /// Remembers a proof until `expires`, or says it was seen.
    pub fn insert(&self, key: &replay::ReplayKey, expires: i64, now: i64) -> Remembered {
        let answer = {
            // SAFETY: `pool` is the slab pool of the zone `shared` lives in.
            let table = unsafe { self.shared.table.lock(&self.pool) };
            // SAFETY: `slots` is the array of `len` slots allocated as such by `init_zone`
            // in this zone; only reached under the zone's mutex, held here.
            let slots = unsafe { std::slice::from_raw_parts_mut(table.slots, table.len) };
            replay::insert(slots, key, expires, now)
        };
        let stats = &self.shared.stats;
        match answer {
            Insert::Fresh { reused } => {
                stats.stored.fetch_add(1, Ordering::Relaxed);
                if !reused {
                    stats.used.fetch_add(1, Ordering::Relaxed);
                }
                Remembered::Fresh
            }
            Insert::Replay => {
                stats.replays.fetch_add(1, Ordering::Relaxed);
                Remembered::Replay
            }
            Insert::Full => {
                stats.full.fetch_add(1, Ordering::Relaxed);
                let last = self.shared.last_full.swap(now, Ordering::Relaxed);
                let first = now.saturating_sub(last) >= EPISODE_GAP;
                if first {
                    stats.full_episodes.fetch_add(1, Ordering::Relaxed);
                }
                Remembered::Full { first }
            }
        }
    }
}

/// Adds the zone. `name` must outlive the cycle (a directive argument, or a static).
pub fn add(cf: &mut ngx_conf_t, mut name: ngx_str_t, size: usize) -> Option<*mut ngx_shm_zone_t> {
    // SAFETY: called while configuring with a valid `cf`; NGINX keeps `name`'s pointer and
    // reports a conflicting size itself.
    let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, dpop_tag()) };
    // SAFETY: NULL or a zone owned by the cycle.
    let z = unsafe { zone.as_mut() }?;
    z.init = Some(init_zone);
    Some(zone)
}

/// The tag of the replay zone: not the module's (its main zone has that), so a zone name
/// given to both directives is refused by NGINX.
fn dpop_tag() -> *mut c_void {
    static TAG: u8 = 0;
    std::ptr::addr_of!(TAG).cast_mut().cast()
}

/// Sets the zone up (in the master, for every configuration load): keeps a current table
/// (reload), else allocates the header and the largest slot array the zone holds.
extern "C" fn init_zone(shm_zone: *mut ngx_shm_zone_t, _old: *mut c_void) -> ngx_int_t {
    let run = || -> Option<()> {
        if Zone::from_shm(shm_zone).is_some() {
            return Some(());
        }
        // SAFETY: NGINX calls init with the zone it added for this configuration.
        let shm = unsafe { shm_zone.as_ref() }?;
        // SAFETY: as in `from_shm`.
        let mut pool = unsafe { SlabPool::from_shm_zone(shm) }?;
        let header = Shared {
            magic: MAGIC,
            version: VERSION,
            capacity: 0,
            stats: Stats::default(),
            last_full: AtomicI64::new(0),
            table: SlabMutex::new(Table {
                slots: std::ptr::null_mut(),
                len: 0,
            }),
        };
        let p = ngx::allocator::allocate(header, &pool).ok()?;
        let raw = std::ptr::from_ref(pool.as_ref()).cast_mut();
        // The rest of the zone, in whole pages, less one page of slack for the slab.
        let page = 4096usize;
        let mut bytes = pool.as_ref().pfree.saturating_sub(1) * page;
        let (slots, len) = loop {
            let len = replay::capacity(bytes);
            if len == 0 {
                return None;
            }
            // SAFETY: the zone's slab pool; ngx_slab_alloc takes its mutex itself.
            let s = unsafe { ngx_slab_alloc(raw, len * std::mem::size_of::<Slot>()) }.cast::<Slot>();
            if !s.is_null() && s.align_offset(std::mem::align_of::<Slot>()) == 0 {
                break (s, len);
            }
            bytes /= 2;
        };
        // SAFETY: `slots` is a fresh allocation of `len` slots; an all-zero Slot is empty.
        unsafe { std::ptr::write_bytes(slots, 0, len) };
        // SAFETY: `p` was just allocated as a `Shared` in this pool; no other process runs yet.
        unsafe {
            let shared = p.as_ptr();
            (*shared).capacity = len as u64;
            let t = (*shared).table.lock(&pool);
            let mut t = t;
            t.slots = slots;
            t.len = len;
        }
        pool.as_mut().data = p.as_ptr().cast();
        Some(())
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Some(())) => Status::NGX_OK.into(),
        _ => {
            // SAFETY: the zone NGINX passed; its log is the cycle's.
            if let Some(shm) = unsafe { shm_zone.as_ref() } {
                ngx::ngx_log_error!(
                    ngx::ffi::NGX_LOG_EMERG,
                    shm.shm.log,
                    "jwt_peer_auth: zone \"{}\": cannot set up the DPoP replay cache (too small?)",
                    String::from_utf8_lossy(shm.shm.name.as_bytes())
                );
            }
            Status::NGX_ERROR.into()
        }
    }
}
