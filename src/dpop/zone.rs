//! The DPoP replay cache's shared zone (`jwt_peer_auth_dpop_zone name:size`, or the default
//! `jwt_peer_auth_dpop:1m`), on [`crate::shm`]: the core's replay table ([`replay::Slot`]s) in
//! one slab allocation sized from the zone when it is created, shared by every worker and kept
//! across reloads (NGINX reuses a zone of the same name, size and tag; a current layout is
//! kept by `shm::init`).
//!
//! Every look-up and insertion is [`replay::insert`] under the zone's slab mutex: 16 slots, a
//! constant, never a scan. The counters are atomics read without the lock (status page).
//!
//! Cut short (a worker dying under the lock): an insertion writes one 24-byte slot, key and
//! expiry; a half-written slot is at worst a key that never matches a real proof, or an
//! entry that expires early (one proof that could then be replayed once: the cost of a worker
//! killed in the middle of 16 stores, not a lasting state).

use std::alloc::Layout as AllocLayout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use jwt_peer_auth_core::dpop::replay::{self, Insert, Slot};
use ngx::allocator::Allocator;
use ngx::ffi::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use crate::shm::{self, Attached, Header, HeldSlab, Layout, Record, SlabMutex};

/// Name and size of the zone used when `jwt_peer_auth_dpop_zone` is not given.
pub const DEFAULT_ZONE: &str = "jwt_peer_auth_dpop";
pub const DEFAULT_ZONE_SIZE: usize = 1024 * 1024;

/// Refusals for a full cache closer together than this (seconds) are one episode.
pub const EPISODE_GAP: i64 = 10;

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

/// The slot array (its own slab allocation), reached only under the lock.
#[repr(C)]
struct Table {
    slots: *mut Slot,
    len: usize,
}

/// The zone's layout.
#[repr(C)]
pub struct Shared {
    header: Header,
    capacity: u64,
    stats: Stats,
    /// When a proof was last refused for a full cache (Unix seconds): refusals less than
    /// [`EPISODE_GAP`] seconds apart are one episode, with one `[error]`.
    last_full: AtomicI64,
    /// When the zone was made (Unix seconds): a proof issued before may have been accepted by
    /// the cache this one replaced (a restart, a binary upgrade, a reload that changed the
    /// zone's size or name), so it is refused as a possible replay.
    created: i64,
    table: SlabMutex<Table>,
}

// SAFETY: `#[repr(C)]`, a `Header` first (set to `HEADER` by `create`); atomics, plain data,
// a `SlabMutex` and a pointer into the zone's own slab.
unsafe impl Layout for Shared {
    const MAGIC: u64 = u64::from_be_bytes(*b"jpadpop\0");
    const VERSION: u32 = 2;
}

/// What the zone serves: its size (the slot array is sized from it when the zone is created).
#[derive(Debug)]
pub struct Replay {
    pub shm_zone: *mut ngx_shm_zone_t,
    size: usize,
}

impl Record for Replay {
    type Layout = Shared;
    const KIND: &'static str = "DPoP replay zone";
    /// The slot array is tried at decreasing sizes: the slab's "no memory" lines are noise.
    const LOG_NOMEM: bool = false;

    fn create(&mut self, slab: &HeldSlab) -> Result<Shared, String> {
        // The largest slot array the zone holds: from the zone size, smaller by an eighth
        // until it fits, with one page kept free for the layout itself (allocated after).
        let page = AllocLayout::from_size_align(4096, 8).map_err(|e| e.to_string())?;
        let reserve = slab
            .allocate(page)
            .map_err(|_| "too small for the replay cache")?;
        let mut bytes = self.size - self.size / 8;
        let found = loop {
            let len = replay::capacity(bytes);
            if len == 0 {
                break None;
            }
            let layout = AllocLayout::array::<Slot>(len).map_err(|e| e.to_string())?;
            if let Ok(p) = slab.allocate(layout) {
                break Some((p.cast::<Slot>(), len));
            }
            bytes -= bytes / 8 + 1;
        };
        // SAFETY: `reserve` was allocated just above from this slab, with this layout.
        unsafe { slab.deallocate(reserve.cast(), page) };
        let (slots, len) = found.ok_or("too small for the replay cache")?;
        // SAFETY: `slots` is a fresh allocation of `len` slots; an all-zero Slot is empty.
        unsafe { std::ptr::write_bytes(slots.as_ptr(), 0, len) };
        Ok(Shared {
            header: Shared::HEADER,
            capacity: len as u64,
            stats: Stats::default(),
            last_full: AtomicI64::new(0),
            created: ngx::ffi::ngx_time(),
            table: SlabMutex::new(Table {
                slots: slots.as_ptr(),
                len,
            }),
        })
    }

    fn loaded(&mut self, _zone: &Attached<Shared>, _fresh: bool) -> Result<(), String> {
        Ok(())
    }
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

/// The zone as a worker uses it.
pub struct Zone(Attached<Shared>);

impl Zone {
    pub fn attach(shm_zone: *mut ngx_shm_zone_t) -> Option<Zone> {
        Attached::attach(shm_zone).map(Zone)
    }

    /// When the zone was made: proofs issued before it cannot be told from replays.
    pub fn created(&self) -> i64 {
        self.0.shared().created
    }

    pub fn capacity(&self) -> u64 {
        self.0.shared().capacity
    }

    /// Remembers a proof until `expires`, or says it was seen.
    pub fn insert(&self, key: &replay::ReplayKey, expires: i64, now: i64) -> Remembered {
        let answer = {
            let table = self.0.lock(|s| &s.table);
            let Some(slots) = NonNull::new(table.slots) else {
                return Remembered::Full { first: false };
            };
            // SAFETY: `slots` is the array of `len` slots `create` allocated as such in this
            // zone; reached only under the zone's mutex, held by `table`.
            let slots = unsafe { std::slice::from_raw_parts_mut(slots.as_ptr(), table.len) };
            replay::insert(slots, key, expires, now)
        };
        let shared = self.0.shared();
        let stats = &shared.stats;
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
                let last = shared.last_full.swap(now, Ordering::Relaxed);
                let first = now.saturating_sub(last) >= EPISODE_GAP;
                if first {
                    stats.full_episodes.fetch_add(1, Ordering::Relaxed);
                }
                Remembered::Full { first }
            }
        }
    }

    /// The status page's view (atomics, no lock).
    pub fn snapshot(&self) -> jwt_peer_auth_core::status::ReplayCache {
        let shared = self.0.shared();
        let s = &shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        jwt_peer_auth_core::status::ReplayCache {
            capacity: shared.capacity,
            used: get(&s.used),
            stored: get(&s.stored),
            replays: get(&s.replays),
            full: get(&s.full),
            full_episodes: get(&s.full_episodes),
        }
    }
}

/// Adds the zone. `name` must outlive the cycle (a directive argument, or a static).
pub fn add(cf: &mut ngx_conf_t, name: ngx_str_t, size: usize) -> Option<Box<Replay>> {
    let mut record = Box::new(Replay {
        shm_zone: std::ptr::null_mut(),
        size,
    });
    let p: *mut Replay = &mut *record;
    record.shm_zone = shm::add(cf, name, size, dpop_tag(), p)?;
    Some(record)
}

/// The tag of the replay zone: its own, so a name given to another kind of zone is refused.
fn dpop_tag() -> *mut std::ffi::c_void {
    static TAG: u8 = 0;
    std::ptr::addr_of!(TAG).cast_mut().cast()
}
