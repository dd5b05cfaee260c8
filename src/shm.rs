//! The module's shared-memory zones, written once: a layout header and its version, the slab
//! pool's mutex with its guards, and a typed zone with add, init and attach. Each zone keeps
//! only its own data structure: the key zone ([`crate::zone`]) and the revocation list
//! ([`crate::revocation::list`]).
//!
//! # Adding a zone
//!
//! 1. A layout: one `#[repr(C)]` struct, its first field a [`Header`], the rest atomics (read
//!    and written without the lock) and one [`SlabMutex`] around everything that needs the
//!    lock. `unsafe impl Layout for Shared { const MAGIC = ..; const VERSION = 1; }`: a magic
//!    number of its own (8 ASCII bytes, `b"jwtXXXX\0"`) and version 1.
//! 2. A record: what the zone serves, a value of the configuration (configuration pool or a
//!    `Box` in `MainConf`, living as long as the cycle) that the zone's `shm_zone.data` points
//!    at. `impl Record for It { type Layout = Shared; const KIND = "... zone"; fn create ..;
//!    fn loaded .. }`: `create` builds a fresh layout (allocating from the slab with the
//!    [`HeldSlab`] it is given), `loaded` runs at every configuration load (claims, initial
//!    entries when `fresh`).
//! 3. The directive calls [`add`] with the zone's name (memory that outlives the cycle: the
//!    directive's argument), its size, a tag of its own (`&STATIC as *const u8`: NGINX then
//!    refuses the same name for another kind of zone) and the record.
//! 4. At request time, [`Attached::attach`] (NULL, or a zone whose init did not run, gives
//!    `None`: fail closed) and [`Attached::lock`] for the locked part.
//!
//! # Invariants
//!
//! - **Allocated as the type it is used as.** A zone's one allocation is a whole `Layout`
//!   value written by [`init`] (`ngx::allocator::allocate`), and the slab pool's `data` points
//!   at it. Nothing in a zone is a cast of bytes allocated for another type: variable-size data
//!   (a JWKS body, tree nodes) is its own slab allocation, reached through a pointer in the
//!   layout, under the lock.
//! - **Layout version.** The header holds the magic number, the version and the layout's size.
//!   NGINX reuses a zone across `nginx -s reload` (same name, size and tag) and a binary upgrade
//!   starts new zones; a reload into a build with another layout must not misread the old one:
//!   [`init`] reads only the header of what it finds, and anything but the current header is
//!   left in the slab and replaced by a fresh layout (`loaded(.., fresh = true)`). Bump
//!   `VERSION` whenever the layout changes shape (fields, types, order, array sizes): the size
//!   check catches most changes, not a reordering.
//! - **Lock rules.** The lock is the slab pool's own mutex, the one NGINX's slab allocator and
//!   `limit_req` use. It is not recursive: take it once per operation (each method of a zone
//!   handle locks at most once and calls nothing that locks while holding it), and allocate
//!   under it only through [`SlabHeld::slab`] ([`HeldSlab`]: `ngx_slab_alloc_locked`; the plain
//!   allocator would take the mutex again and wait for itself). Work under it is constant or
//!   O(log n), never O(n) in the request path, never a parse, never a log line.
//! - **A worker that dies holding the lock.** NGINX's master force-unlocks every zone's slab
//!   mutex held by a dead worker ("shared memory zone ... was locked by"), so the other workers
//!   go on. The next holder sees whatever the dead one stored: updates under the lock are
//!   ordered so that a half-done one stays safe (a count raised before its entry is linked, a
//!   pointer cleared before its length changes, a number taken before it is used). Say in the
//!   zone's own file how each of its updates stays safe when cut short.
//! - **unsafe lives here.** A zone file reaches its layout only through [`Attached`] (a shared
//!   reference) and [`SlabHeld`] (exclusive, under the lock); a zone's own `unsafe` is limited
//!   to the raw pointers its layout keeps (its slab allocations).

use std::alloc::Layout as AllocLayout;
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr::NonNull;

use ngx::allocator::{AllocError, Allocator};
use ngx::core::{SlabPool, Status};
use ngx::ffi::{
    ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_shmtx_lock, ngx_shmtx_unlock,
    ngx_slab_alloc_locked, ngx_slab_free_locked, ngx_slab_pool_t, ngx_str_t,
};

/// The first field of every shared-zone layout of this module: which layout the zone holds, so
/// that a zone left by a build with another layout is re-initialised, never misread.
#[repr(C)]
pub struct Header {
    magic: u64,
    layout_version: u32,
    layout_size: u32,
}

impl Header {
    /// The header of a layout `T` with this magic number and version.
    pub const fn of<T>(magic: u64, layout_version: u32) -> Header {
        Header {
            magic,
            layout_version,
            layout_size: std::mem::size_of::<T>() as u32,
        }
    }

    /// Whether `self` (read from a zone) is `current`.
    pub fn matches(&self, current: &Header) -> bool {
        self.magic == current.magic
            && self.layout_version == current.layout_version
            && self.layout_size == current.layout_size
    }
}

/// A zone's layout: the one value its slab pool's `data` points at.
///
/// # Safety
///
/// The type is `#[repr(C)]` and its first field is a [`Header`] equal to [`Layout::HEADER`]
/// in every value [`Record::create`] returns; every other field is safe to share between
/// processes (atomics, plain data, [`SlabMutex`], pointers into the same zone's slab).
pub unsafe trait Layout: Sized + 'static {
    /// Eight bytes of its own, e.g. `u64::from_be_bytes(*b"jwtpeer\0")`.
    const MAGIC: u64;
    /// Bumped whenever the layout changes shape.
    const VERSION: u32;
    /// The header a value of the current layout starts with.
    const HEADER: Header = Header::of::<Self>(Self::MAGIC, Self::VERSION);
}

/// What a zone serves: the configuration value its `shm_zone.data` points at, and what the
/// zone's init does with it at each configuration load (in the master, before any worker).
pub trait Record: 'static {
    type Layout: Layout;
    /// Names the zone in `[emerg]` lines: `{KIND} "name": why`.
    const KIND: &'static str;
    /// Whether the slab allocator logs its own "no memory" lines (off where the zone reports
    /// a full zone itself).
    const LOG_NOMEM: bool = true;
    /// A fresh layout (a new zone, or one left by another layout). `slab` allocates from the
    /// zone, whose mutex is held.
    fn create(&mut self, slab: &HeldSlab) -> Result<Self::Layout, String>;
    /// Every configuration load, once the zone holds a current layout; `fresh`: just created.
    fn loaded(&mut self, zone: &Attached<Self::Layout>, fresh: bool) -> Result<(), String>;
}

/// Adds a zone serving `record` to the configuration. `name` must outlive the cycle (a
/// directive argument, or a static); `tag` is the same for every zone of this kind (NGINX
/// reuses a zone across a reload only with the same name, size and tag, and refuses a name
/// used with another tag). `record` lives as long as the cycle.
pub fn add<R: Record>(
    cf: &mut ngx_conf_t,
    mut name: ngx_str_t,
    size: usize,
    tag: *mut c_void,
    record: *mut R,
) -> Option<*mut ngx_shm_zone_t> {
    // SAFETY: called while parsing the http block with a valid `cf`; NGINX keeps the pointer
    // of `name` (see above) and reports conflicting sizes and tags itself.
    let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, tag) };
    // SAFETY: NULL or a zone owned by the cycle.
    let z = unsafe { zone.as_mut() }?;
    // The init handler for this record type: only it reads `data`, as an `R`.
    z.init = Some(init::<R>);
    z.data = record.cast();
    Some(zone)
}

/// A zone's init handler (in the master, at every configuration load): keeps a current layout,
/// replaces any other, then [`Record::loaded`]. A failure is an `[emerg]`: NGINX does not
/// start, or a reload keeps the running configuration.
extern "C" fn init<R: Record>(shm_zone: *mut ngx_shm_zone_t, _old: *mut c_void) -> ngx_int_t {
    // SAFETY: NGINX calls init with the zone `add` registered for this configuration.
    let Some(shm) = (unsafe { shm_zone.as_ref() }) else {
        return Status::NGX_ERROR.into();
    };
    let run = || -> Result<(), String> {
        // SAFETY: `add` registered `init::<R>` with `data` set to a `*mut R`, a configuration
        // value that lives as long as the cycle; nothing else borrows it during init.
        let record = unsafe { shm.data.cast::<R>().as_mut() }.ok_or("no configuration")?;
        let fresh = prepare(shm, record)?;
        let zone = Attached::<R::Layout>::attach(shm_zone).ok_or("cannot set up the zone")?;
        record.loaded(&zone, fresh)
    };
    let why = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(())) => return Status::NGX_OK.into(),
        Ok(Err(why)) => why,
        Err(_) => "internal error (panic)".to_owned(),
    };
    crate::log::log!(
        EMERG,
        shm.shm.log,
        "{} \"{}\": {why}",
        R::KIND,
        String::from_utf8_lossy(shm.shm.name.as_bytes())
    );
    Status::NGX_ERROR.into()
}

/// Makes the zone hold a current layout; `true` when it had to be created.
fn prepare<R: Record>(shm: &ngx_shm_zone_t, record: &mut R) -> Result<bool, String> {
    // SAFETY: in init, the zone is mapped and its slab pool set up by NGINX.
    let mut pool = unsafe { SlabPool::from_shm_zone(shm) }.ok_or("no slab pool")?;
    if !R::LOG_NOMEM {
        pool.as_mut().set_log_nomem(0);
    }
    let data = pool.as_ref().data;
    // SAFETY: a non-NULL `data` is the first allocation of the zone's slab pool, at least as
    // large as a `Header` in every layout this module ever wrote (the header comes first in
    // each); it is only read as the layout once the header says it is one.
    let current = !data.is_null() && unsafe { (*data.cast::<Header>()).matches(&R::Layout::HEADER) };
    if current {
        return Ok(false);
    }
    // A fresh zone, or an older layout (a reload into another build): start over. The old
    // allocation is left in the slab: what it points to cannot be told apart safely. NGINX runs
    // init in the master, before any worker: the mutex is free, taken for the allocations.
    let locked = pool.lock();
    // SAFETY: `locked` holds the pool's mutex while `slab` is used by `create`; afterwards the
    // layout allocates only under `SlabMutex::lock`.
    let slab = unsafe { HeldSlab::new(&pool) };
    let value = record.create(&slab)?;
    let p = ngx::allocator::allocate(value, &locked).map_err(|_| "the zone is too small")?;
    drop(locked);
    pool.as_mut().data = p.as_ptr().cast();
    Ok(true)
}

/// A zone of layout `L` as this process sees it, valid in every worker (and in the master's
/// init): its layout and its slab pool, together.
pub struct Attached<L: Layout> {
    shared: &'static L,
    pool: SlabPool,
}

impl<L: Layout> Clone for Attached<L> {
    fn clone(&self) -> Self {
        Attached {
            shared: self.shared,
            pool: self.pool.clone(),
        }
    }
}

impl<L: Layout> Attached<L> {
    /// The zone behind `shm_zone`, if its init ran with this layout (NULL, or a zone not
    /// initialised: `None`).
    pub fn attach(shm_zone: *mut ngx_shm_zone_t) -> Option<Attached<L>> {
        // SAFETY: `shm_zone` is NULL or a zone `add` registered; after init its `shm.addr` is
        // the slab pool NGINX set up, mapped at the same address in every process.
        let shm_zone = unsafe { shm_zone.as_ref() }?;
        // SAFETY: as above; a slab pool is at the start of every shared zone.
        let pool = unsafe { SlabPool::from_shm_zone(shm_zone) }?;
        let data = pool.as_ref().data;
        // SAFETY: a non-NULL `data` starts with a `Header` (see `prepare`), read alone first.
        if data.is_null() || !unsafe { (*data.cast::<Header>()).matches(&L::HEADER) } {
            return None;
        }
        // SAFETY: `data` was set by `prepare` to a value allocated as an `L` in this zone (its
        // header just checked), which lives as long as the zone.
        let shared = unsafe { data.cast::<L>().as_ref() }?;
        Some(Attached { shared, pool })
    }

    /// The layout (its lock-free part; [`Attached::lock`] for the rest).
    pub fn shared(&self) -> &'static L {
        self.shared
    }

    /// Takes the zone's slab mutex for `field`, a [`SlabMutex`] of this zone's layout; unlocks
    /// when the guard drops. Never call it while this process holds the mutex.
    ///
    /// # Panics
    ///
    /// If `field` is not inside this zone (a bug: the mutex would not guard it).
    pub fn lock<T>(&self, field: impl FnOnce(&'static L) -> &'static SlabMutex<T>) -> SlabHeld<'static, T> {
        let m = field(self.shared);
        let pool = self.pool.as_ref();
        let at = std::ptr::from_ref(m).cast::<u8>();
        let inside = at >= std::ptr::from_ref(pool).cast::<u8>()
            && at.wrapping_add(std::mem::size_of::<SlabMutex<T>>()) <= pool.end.cast_const();
        assert!(inside, "a SlabMutex locked with another zone's pool");
        // SAFETY: `m` lies in this zone (checked above), whose slab pool is `self.pool`,
        // mapped in this process.
        unsafe { m.lock(&self.pool) }
    }
}

/// A value in a shared zone that only the zone's slab-pool mutex guards. NGINX's master
/// force-unlocks that mutex when a worker dies holding it, which a spinlock in the zone could
/// never be.
#[repr(transparent)]
pub struct SlabMutex<T>(UnsafeCell<T>);

impl<T> SlabMutex<T> {
    pub const fn new(value: T) -> SlabMutex<T> {
        SlabMutex(UnsafeCell::new(value))
    }

    /// Takes the slab pool's mutex: the only way to the value; unlocks when the guard drops.
    /// Never called while this process holds it (NGINX's mutex is not recursive: it would wait
    /// for itself forever), so each method of a zone handle locks once.
    ///
    /// # Safety
    ///
    /// `pool` is the slab pool of the zone `self` lives in, mapped in this process.
    unsafe fn lock<'a>(&'a self, pool: &SlabPool) -> SlabHeld<'a, T> {
        let pool = NonNull::from(pool.as_ref());
        // SAFETY: the zone's slab pool (the caller's contract), its mutex set up by NGINX.
        unsafe { ngx_shmtx_lock(std::ptr::addr_of_mut!((*pool.as_ptr()).mutex)) };
        // SAFETY: the value is only reached under this mutex, which serialises every process;
        // within this process a second `lock` would never return, so no other guard exists.
        let value = unsafe { &mut *self.0.get() };
        SlabHeld { pool, value }
    }
}

/// A [`SlabMutex`]'s value with the zone's slab mutex held by this process.
pub struct SlabHeld<'a, T> {
    pool: NonNull<ngx_slab_pool_t>,
    value: &'a mut T,
}

impl<T> SlabHeld<'_, T> {
    /// The zone's slab pool as an allocator for use under this guard.
    pub fn slab(&self) -> HeldSlab {
        HeldSlab(self.pool)
    }
}

impl<T> Drop for SlabHeld<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the mutex was locked by `SlabMutex::lock` in this process.
        unsafe { ngx_shmtx_unlock(std::ptr::addr_of_mut!((*self.pool.as_ptr()).mutex)) };
    }
}

impl<T> std::ops::Deref for SlabHeld<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> std::ops::DerefMut for SlabHeld<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

/// A zone's slab pool, used only while its mutex is held (under a [`SlabHeld`], or by the
/// zone's init with the pool locked): allocates with `ngx_slab_alloc_locked` and frees with
/// `ngx_slab_free_locked` (the plain functions take the mutex themselves: a deadlock here).
#[derive(Clone)]
pub struct HeldSlab(NonNull<ngx_slab_pool_t>);

impl HeldSlab {
    /// The allocator of `pool` for a value that keeps it, such as a tree in the zone.
    ///
    /// # Safety
    ///
    /// The pool's mutex is held by this process whenever the allocator is used.
    unsafe fn new(pool: &SlabPool) -> HeldSlab {
        HeldSlab(NonNull::from(pool.as_ref()))
    }
}

// SAFETY: allocations are slab blocks of at least `max(size, align)` bytes, checked for the
// alignment (small slab blocks are aligned to their power-of-two size, pages to the page); a
// block is freed only with the pool it came from. Callers hold the pool's mutex (see above).
unsafe impl Allocator for HeldSlab {
    fn allocate(&self, layout: AllocLayout) -> Result<NonNull<[u8]>, AllocError> {
        let size = layout.size().max(layout.align()).max(1);
        // SAFETY: the pool is a zone's, its mutex held by the caller.
        let p = unsafe { ngx_slab_alloc_locked(self.0.as_ptr(), size) };
        let p = NonNull::new(p.cast::<u8>()).ok_or(AllocError)?;
        if p.align_offset(layout.align()) != 0 {
            // SAFETY: `p` was just allocated from this pool.
            unsafe { ngx_slab_free_locked(self.0.as_ptr(), p.as_ptr().cast()) };
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, _layout: AllocLayout) {
        // SAFETY: `ptr` came from `allocate` on this pool (the trait's contract); mutex held.
        unsafe { ngx_slab_free_locked(self.0.as_ptr(), ptr.as_ptr().cast()) };
    }
}
