//! The revocation list's shared zone: one typed layout ([`Shared`]), a header that tells a
//! zone of another layout apart, a lock-free entry count (a location checks nothing while the
//! list is empty), and the entries in an NGINX red-black tree allocated from the zone's slab
//! pool, under a reader-writer lock. Keys are `name NUL value` (see the core's
//! `revocation::key`); each entry holds its expiry.
//!
//! Requests only read (the lock, one tree look-up per value checked). Changes come from the
//! revocation API and the zone's init; expired entries are dropped by the next change and are
//! never matched in the meantime.
//!
//! The lock is the slab pool's own mutex ([`SlabMutex`], as the key zone's), as NGINX's
//! limit_req and limit_conn use it: when a worker dies holding it, the master unlocks it
//! ("shared memory zone ... was locked by"), so one crashed worker cannot hang the others.
//! Tree nodes are allocated while it is held, with the slab's `_locked` functions
//! ([`HeldSlab`]).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use jwt_peer_auth_core::revocation::{self, Entry, KEY_LEN};
use jwt_peer_auth_core::Verified;
use ngx::collections::RbTreeMap;
use ngx::core::{NgxString, SlabPool, Status};
use ngx::ffi::{ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_str_t};

use super::Revocation;
use crate::zone::{Header, HeldSlab, SlabHeld, SlabMutex};

const MAGIC: u64 = u64::from_be_bytes(*b"jwtrevk\0");
/// Bumped whenever [`Shared`] changes shape.
const LAYOUT_VERSION: u32 = 1;

/// An entry's value in the tree.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Expiry {
    /// Unix time after which the entry no longer counts.
    expires: i64,
}

type Tree = RbTreeMap<NgxString<HeldSlab>, Expiry, HeldSlab>;

const CURRENT: Header = Header::of::<Shared>(MAGIC, LAYOUT_VERSION);

/// The zone's one allocation, pointed to by the slab pool's `data`.
#[repr(C)]
struct Shared {
    header: Header,
    /// Entries in the tree (expired ones included until they are dropped): 0 lets a request
    /// skip the lock.
    count: AtomicU64,
    /// Only reached through [`List::lock`].
    tree: SlabMutex<Tree>,
}

/// A handle to the list, valid in every worker.
#[derive(Clone)]
pub struct List {
    shared: &'static Shared,
    pool: SlabPool,
}

/// What adding an entry did.
#[derive(Debug, Clone, Copy)]
pub struct Added {
    /// The entry was new (not an extension of a listed one).
    pub created: bool,
    /// Its expiry now.
    pub expires: i64,
    /// Its expiry before, for [`List::undo`].
    pub previous: Option<i64>,
}

/// The zone has no room for another entry.
#[derive(Debug)]
pub struct Full;

impl List {
    /// The list behind `shm_zone`, if its init ran.
    pub fn from_shm(shm_zone: *mut ngx_shm_zone_t) -> Option<List> {
        // SAFETY: `shm_zone` is NULL or the zone `add` registered; after init its `shm.addr`
        // is the slab pool NGINX set up, mapped at the same address in every process.
        let shm_zone = unsafe { shm_zone.as_ref() }?;
        // SAFETY: as above; a slab pool is at the start of every shared zone.
        let pool = unsafe { SlabPool::from_shm_zone(shm_zone) }?;
        // SAFETY: `data` is NULL or was set by `init` to a `Shared` allocated as a `Shared` in
        // this zone (its header checked there); it lives as long as the zone.
        let shared = unsafe { pool.as_ref().data.cast::<Shared>().as_ref() }?;
        Some(List { shared, pool })
    }

    /// Takes the slab pool's mutex: the only way to the tree. Never called while held (NGINX's
    /// mutex is not recursive): every method locks once.
    fn lock(&self) -> SlabHeld<'_, Tree> {
        // SAFETY: `self.pool` is the slab pool of the zone that holds `self.shared` (both come
        // from the same `ngx_shm_zone_t` in `from_shm`), mapped in every process.
        unsafe { self.shared.tree.lock(&self.pool) }
    }

    /// Whether the list may have entries (lock-free).
    pub fn is_empty(&self) -> bool {
        self.shared.count.load(Ordering::Acquire) == 0
    }

    /// The first of `names` whose value in `v` is listed and not expired.
    pub fn revoked<'n>(&self, v: &Verified, names: &'n [String], now: i64) -> Option<&'n str> {
        if self.is_empty() {
            return None;
        }
        let tree = self.lock();
        let mut buf = [0u8; KEY_LEN];
        names
            .iter()
            .find(|name| {
                revocation::any_value(v, name, |value| {
                    revocation::key(name, value, &mut buf)
                        .and_then(|k| tree.get(k))
                        .is_some_and(|e| e.expires > now)
                })
            })
            .map(String::as_str)
    }

    /// Adds an entry, or extends a listed one to `expires` (an entry is never shortened by an
    /// add). Expired entries are dropped first. `Full`: nothing changed.
    pub fn add(&self, name: &str, value: &str, expires: i64, now: i64) -> Result<Added, Full> {
        let mut buf = [0u8; KEY_LEN];
        let k = revocation::key(name, value, &mut buf).ok_or(Full)?;
        let mut tree = self.lock();
        self.purge(&mut tree, now);
        if let Some(e) = tree.get_mut(k) {
            let previous = e.expires;
            e.expires = e.expires.max(expires);
            return Ok(Added {
                created: false,
                expires: e.expires,
                previous: Some(previous),
            });
        }
        let key = NgxString::try_from_bytes_in(k, tree.slab()).map_err(|_| Full)?;
        // Counted before it is linked: a worker that dies in between leaves the count too high
        // (harmless), never too low. With a count of 0 `revoked` skips the list, and a repeated
        // add only extends the entry: the revoked token would pass for good.
        self.shared.count.fetch_add(1, Ordering::AcqRel);
        if tree.try_insert(key, Expiry { expires }).is_err() {
            self.shared.count.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        Ok(Added {
            created: true,
            expires,
            previous: None,
        })
    }

    /// Removes an entry; returns its expiry, `None` if it was not listed (or had expired).
    pub fn remove(&self, name: &str, value: &str, now: i64) -> Option<i64> {
        let mut buf = [0u8; KEY_LEN];
        let k = revocation::key(name, value, &mut buf)?;
        let mut tree = self.lock();
        self.purge(&mut tree, now);
        let e = tree.remove(k)?;
        self.shared.count.fetch_sub(1, Ordering::AcqRel);
        Some(e.expires)
    }

    /// Takes back an add (the state file could not be written): the entry's previous expiry,
    /// or no entry.
    pub fn undo_add(&self, name: &str, value: &str, added: &Added) {
        let mut buf = [0u8; KEY_LEN];
        let Some(k) = revocation::key(name, value, &mut buf) else {
            return;
        };
        let mut tree = self.lock();
        match added.previous {
            Some(p) => {
                if let Some(e) = tree.get_mut(k) {
                    e.expires = p;
                }
            }
            None => {
                if tree.remove(k).is_some() {
                    self.shared.count.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// The entries that have not expired, sorted by name and value.
    pub fn entries(&self, now: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = {
            let tree = self.lock();
            tree.iter()
                .filter(|(_, e)| e.expires > now)
                .filter_map(|(k, e)| {
                    let (name, value) = revocation::split_key(AsRef::<[u8]>::as_ref(k))?;
                    Some(Entry {
                        name: name.to_owned(),
                        value: value.to_owned(),
                        expires: e.expires,
                    })
                })
                .collect()
        };
        out.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
        out
    }

    /// How many entries the tree holds (expired ones not yet dropped included).
    pub fn len(&self) -> u64 {
        self.shared.count.load(Ordering::Acquire)
    }

    fn purge(&self, tree: &mut Tree, now: i64) {
        let expired: Vec<Vec<u8>> = tree
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(k, _)| AsRef::<[u8]>::as_ref(k).to_vec())
            .collect();
        for k in expired {
            if tree.remove(k.as_slice()).is_some() {
                self.shared.count.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Sets the zone up for a configuration load: keeps a current layout (a reload: its list
    /// is the newest), else starts a new list with `initial` (the state file).
    fn init(shm_zone: &ngx_shm_zone_t, initial: &[Entry], now: i64) -> Result<List, String> {
        // SAFETY: see from_shm.
        let mut pool = unsafe { SlabPool::from_shm_zone(shm_zone) }.ok_or("no slab pool")?;
        // A full zone is reported by the API (507) and its own log line, not by the slab
        // allocator's generic one.
        pool.as_mut().set_log_nomem(0);
        let data = pool.as_ref().data;
        // SAFETY: a non-NULL `data` is the first allocation of the zone's slab pool, at least
        // as large as a `Header` in every layout this module writes (the header comes first);
        // it is only read as a `Shared` once the header says it is one.
        let current = !data.is_null() && unsafe { (*data.cast::<Header>()).matches(&CURRENT) };
        if !current {
            // NGINX runs zone init in the master before any worker exists: the pool's mutex
            // is taken for the allocations, as `HeldSlab` requires.
            let locked = pool.lock();
            // SAFETY: `locked` holds the mutex for the allocations below; afterwards the tree
            // only allocates under `SlabMutex::lock`.
            let held = unsafe { HeldSlab::new(&pool) };
            let tree = Tree::try_new_in(held).map_err(|_| "the zone is too small")?;
            let shared = Shared {
                header: CURRENT,
                count: AtomicU64::new(0),
                tree: SlabMutex::new(tree),
            };
            let p = ngx::allocator::allocate(shared, &locked).map_err(|_| "the zone is too small")?;
            drop(locked);
            pool.as_mut().data = p.as_ptr().cast();
        }
        let list = List::from_shm(std::ptr::from_ref(shm_zone).cast_mut()).ok_or("cannot set up the zone")?;
        if !current {
            for e in initial {
                list.add(&e.name, &e.value, e.expires, now).map_err(|_| {
                    format!(
                        "the zone is too small for the {} entries of the state file",
                        initial.len()
                    )
                })?;
            }
        }
        Ok(list)
    }
}

/// Adds the list's zone to the configuration. `name` must outlive the cycle (a directive
/// argument); `data` is the [`Revocation`] whose state-file entries a new zone starts with.
pub fn add(
    cf: &mut ngx_conf_t,
    mut name: ngx_str_t,
    size: usize,
    data: *mut Revocation,
) -> Option<*mut ngx_shm_zone_t> {
    // Its own tag: NGINX refuses a name already used by another kind of zone (the key zone
    // included) with "already declared for a different use".
    let tag = std::ptr::addr_of!(ZONE_TAG).cast_mut().cast::<c_void>();
    // SAFETY: called while parsing the http block with a valid `cf`; NGINX keeps the pointer
    // of `name` and reports a zone of the same name with another size or tag itself.
    let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, tag) };
    // SAFETY: NULL or a zone owned by the cycle.
    let z = unsafe { zone.as_mut() }?;
    z.init = Some(init_zone);
    z.data = data.cast();
    Some(zone)
}

/// The tag of revocation zones (its address is what counts).
static ZONE_TAG: u8 = 0;

/// The zone's init handler (in the master, for every configuration load).
extern "C" fn init_zone(shm_zone: *mut ngx_shm_zone_t, _old: *mut c_void) -> ngx_int_t {
    // SAFETY: NGINX calls init with the zone `add` registered for this configuration.
    let Some(shm) = (unsafe { shm_zone.as_ref() }) else {
        return Status::NGX_ERROR.into();
    };
    let run = || -> Result<(), String> {
        // SAFETY: `data` was set by `add` to this configuration's `Revocation`, boxed in the
        // MainConf (configuration pool), which lives as long as the cycle.
        let conf = unsafe { shm.data.cast::<Revocation>().as_ref() }.ok_or("no configuration")?;
        List::init(shm, &conf.initial, ngx::ffi::ngx_time()).map(|_| ())
    };
    let why = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(())) => return Status::NGX_OK.into(),
        Ok(Err(why)) => why,
        Err(_) => "internal error (panic)".to_owned(),
    };
    ngx::ngx_log_error!(
        ngx::ffi::NGX_LOG_EMERG,
        shm.shm.log,
        "jwt_peer_auth: revocation zone \"{}\": {why}",
        String::from_utf8_lossy(shm.shm.name.as_bytes())
    );
    Status::NGX_ERROR.into()
}
