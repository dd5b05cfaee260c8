//! Requests whose token names a `kid` the published keys lack, waiting for the next refetch
//! instead of being refused while the refetch budget (`min_refresh`) is spent: the request
//! sleeps on the timer of [`super::wait`] and runs its phases again, as `limit_req` delays.
//!
//! Bounded per request in time ([`MAX_WAIT_MS`]) and per worker and key source in number
//! ([`MAX_WAITERS`]; past it a request is refused at once), so a flood of random `kid`s holds
//! no more timers than that. The first fetch that started after the request came answers it
//! (found: verified; not found: refused, the `kid` remembered absent), see
//! `SourceState::unknown_kid` in the core.

use std::cell::Cell;
use std::ffi::c_void;

use ngx::ffi::{ngx_http_request_t, ngx_msec_t};

use crate::glue::{add_cleanup, find_cleanup};
use crate::zone::MAX_SOURCES;

/// Most requests of one worker that wait for a refetch of one key source.
pub const MAX_WAITERS: u32 = 32;
/// Longest time a request waits for a refetch (the next one may start within a second; the
/// rest is for the key service to answer).
pub const MAX_WAIT_MS: ngx_msec_t = 3000;

thread_local! {
    /// Requests of this worker waiting for a refetch, per key source slot.
    static WAITERS: [Cell<u32>; MAX_SOURCES] = const { [const { Cell::new(0) }; MAX_SOURCES] };
}

/// Requests of this worker now waiting for a refetch of `slot`.
pub fn waiters(slot: usize) -> u32 {
    WAITERS.with(|w| w[slot].get())
}

/// The unknown-`kid` state of one request, in a cleanup of its pool (dropped with it, which
/// gives back its place among the waiters if the client goes away while it waits).
#[derive(Default)]
pub struct KidWait {
    /// Waiting for (or running) a refetch of `slot`.
    active: Cell<bool>,
    slot: Cell<usize>,
    /// The source's lease count when the request first saw its `kid` unknown.
    since: Cell<u64>,
    /// Holds a place among the waiters of `slot` (a request running the refetch itself does
    /// not).
    counted: Cell<bool>,
    /// `ngx_current_msec` past which it stops waiting (0: no limit, it runs the refetch).
    deadline: Cell<ngx_msec_t>,
    /// The slot's version and the next refetch time when it last looked: until one of them
    /// moves, a timer poll has nothing to look at.
    version: Cell<u64>,
    next_force_at: Cell<i64>,
}

extern "C" fn drop_kid_wait(data: *mut c_void) {
    // SAFETY: `data` is the KidWait written by `of`, dropped exactly once, with its pool.
    let _ = std::panic::catch_unwind(|| unsafe { std::ptr::drop_in_place(data.cast::<KidWait>()) });
}

impl Drop for KidWait {
    fn drop(&mut self) {
        self.uncount();
    }
}

/// The current time in milliseconds, as NGINX's timers see it.
pub fn now_ms() -> ngx_msec_t {
    // SAFETY: NGINX's cached time, updated by the event loop of this (single-threaded) worker.
    unsafe { ngx::ffi::ngx_current_msec }
}

/// The request's unknown-`kid` state, created on first use; `None` only if the pool cannot
/// grow. The state lives in the request pool, not in the request structure, so the reference
/// is not tied to the borrow of `r` (shared-only: it never aliases a `&mut`).
pub fn of<'w>(r: &ngx_http_request_t, create: bool) -> Option<&'w KidWait> {
    let found = find_cleanup(r.pool, drop_kid_wait).cast::<KidWait>();
    // SAFETY: NULL or the KidWait this module wrote into the pool, alive until it is destroyed.
    if let Some(w) = unsafe { found.as_ref() } {
        return Some(w);
    }
    if !create {
        return None;
    }
    let p = add_cleanup(r.pool, KidWait::default(), drop_kid_wait);
    // SAFETY: NULL or the KidWait just written into the pool.
    unsafe { p.as_ref() }
}

impl KidWait {
    /// The lease count when the request first saw its `kid` unknown for `slot`, if it is
    /// waiting for (or running) a refetch of it.
    pub fn since(&self, slot: usize) -> Option<u64> {
        (self.active.get() && self.slot.get() == slot).then(|| self.since.get())
    }

    /// Whether a timer poll has nothing new to look at: nothing changed in the slot since the
    /// last look, the next refetch may not start yet, and the wait is not over.
    pub fn unchanged(&self, slot: usize, version: u64, now: i64) -> bool {
        self.since(slot).is_some()
            && self.counted.get()
            && version == self.version.get()
            && now < self.next_force_at.get()
            && !self.expired()
    }

    /// Whether a polling wait is over.
    pub fn expired(&self) -> bool {
        let d = self.deadline.get();
        self.counted.get() && d != 0 && now_ms().wrapping_sub(d) < ngx_msec_t::MAX / 2
    }

    /// Starts or goes on waiting for a refetch of `slot`. A new wait takes a place among the
    /// slot's waiters: `false` (nothing changed) when there is none left.
    pub fn wait(&self, slot: usize, since: u64, version: u64, next_force_at: i64) -> bool {
        if !(self.since(slot).is_some() && self.counted.get()) {
            if waiters(slot) >= MAX_WAITERS {
                return false;
            }
            self.end();
            WAITERS.with(|w| w[slot].set(w[slot].get() + 1));
            self.counted.set(true);
            self.active.set(true);
            self.slot.set(slot);
            self.since.set(since);
            self.deadline.set(now_ms().wrapping_add(MAX_WAIT_MS).max(1));
        }
        self.version.set(version);
        self.next_force_at.set(next_force_at);
        true
    }

    /// The request runs the refetch of `slot` itself (no place among the waiters, no time
    /// limit but the key request's own).
    pub fn run(&self, slot: usize, since: u64) {
        let keep = self.since(slot);
        self.end();
        self.active.set(true);
        self.slot.set(slot);
        self.since.set(keep.unwrap_or(since));
    }

    /// The request no longer waits (answered, or refused).
    pub fn end(&self) {
        self.uncount();
        self.active.set(false);
    }

    fn uncount(&self) {
        if self.counted.replace(false) {
            let slot = self.slot.get();
            WAITERS.with(|w| w[slot].set(w[slot].get().saturating_sub(1)));
        }
    }
}
