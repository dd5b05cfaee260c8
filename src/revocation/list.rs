//! The revocation list's shared zone: one typed layout ([`Shared`]), a header that tells a
//! zone of another layout apart, a lock-free entry count (a location checks nothing while the
//! list is empty), and the entries in an NGINX red-black tree allocated from the zone's slab
//! pool, with an expiry index (a second tree in expiry order). Keys are `name NUL value` (see
//! the core's `revocation::key`); each entry holds its expiry.
//!
//! Requests only read (the lock, one tree look-up per value checked). Changes come from the
//! revocation API, the journal ([`super::journal`]) and the zone's init; each is one locked
//! pass of O(log n): the next change drops at most a few expired entries (the first ones of
//! the expiry index), never the whole tree; expired entries are never matched meanwhile. The
//! zone also records how far it has applied the journal.
//!
//! The zone's header, lock, add, init and attach are [`crate::shm`]'s. The lock is the slab
//! pool's own mutex ([`SlabMutex`]), as NGINX's limit_req and limit_conn use it: when a worker dies holding it, the master unlocks it
//! ("shared memory zone ... was locked by"), so one crashed worker cannot hang the others.
//! Tree nodes are allocated while it is held, with the slab's `_locked` functions
//! ([`HeldSlab`]).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use jwt_peer_auth_core::feed::Change;
use jwt_peer_auth_core::journal::{Net, Until};
use jwt_peer_auth_core::revocation::{self, Entry, KEY_LEN};
use jwt_peer_auth_core::Verified;
use ngx::collections::RbTreeMap;
use ngx::core::NgxString;
use ngx::ffi::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use super::feed::FeedShared;
use super::Revocation;
use crate::shm::{self, Attached, HeldSlab, Record, SlabHeld, SlabMutex};

const MAGIC: u64 = u64::from_be_bytes(*b"jwtrevk\0");
/// Bumped whenever [`Shared`] changes shape.
const LAYOUT_VERSION: u32 = 4;

/// Expired entries dropped per change, at most: a change costs O(log n) whatever the list
/// holds; with one change a second, a day's worth of expiries is gone within the day.
const PURGE_STEP: usize = 8;
/// Entries applied per lock hold when a run of the journal is applied: the lock that token
/// checks take is held for about this many tree operations at a time.
pub const APPLY_STEP: usize = 256;

/// Where an entry comes from: the revocation API (and its journal) or the feed. Each origin
/// has its own part of a tree entry: the feed never changes the API's part, and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Api,
    Feed,
}

/// One origin's part of an entry: listed until `expires` (0: not listed by it), refusing the
/// tokens issued before `before` (`revocation::ALL`: every token).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Part {
    expires: i64,
    before: i64,
}

impl Part {
    fn of(u: Until) -> Part {
        Part {
            expires: u.expires,
            before: u.before,
        }
    }

    fn until(self) -> Option<Until> {
        (self.expires != 0).then_some(Until {
            expires: self.expires,
            before: self.before,
        })
    }

    fn refuses(self, now: i64, iat: Option<i64>) -> bool {
        self.expires > now && revocation::refuses(self.before, iat)
    }
}

/// An entry's value in the tree.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Expiry {
    /// Its key in the expiry index: at least the later expiry of both parts (the entry is
    /// dropped once it passes).
    expires: i64,
    /// Its key in the expiry index.
    id: u64,
    api: Part,
    feed: Part,
}

impl Expiry {
    fn part(&mut self, o: Origin) -> &mut Part {
        match o {
            Origin::Api => &mut self.api,
            Origin::Feed => &mut self.feed,
        }
    }
}

/// A key of the expiry index: ordered by expiry. Its hash is constant: `RbTreeMap` orders by
/// hash first, then by key, so this tree is in expiry order and its first entries are the
/// ones that expire first.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ExpKey {
    expires: i64,
    id: u64,
}

impl std::hash::Hash for ExpKey {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

type Tree = RbTreeMap<NgxString<HeldSlab>, Expiry, HeldSlab>;
/// The expiry index: each entry's expiry and id, to its key in [`Tree`].
type ExpTree = RbTreeMap<ExpKey, NgxString<HeldSlab>, HeldSlab>;

/// What the slab mutex guards.
#[repr(C)]
struct Trees {
    by_key: Tree,
    by_expiry: ExpTree,
    next_id: u64,
    /// The feed's texts (validators, last error).
    feed: super::feed::FeedText,
}

/// The zone's one allocation, pointed to by the slab pool's `data`.
#[repr(C)]
pub struct Shared {
    header: shm::Header,
    /// Entries in the tree (expired ones included until they are dropped): 0 lets a request
    /// skip the lock.
    count: AtomicU64,
    /// How far this zone has applied the journal: the file (device, inode) and the offset of
    /// the first byte not applied yet. Read without the lock (a quick "anything new?"),
    /// written under it.
    journal_dev: AtomicU64,
    journal_ino: AtomicU64,
    journal_applied: AtomicU64,
    /// Only reached through [`List::lock`].
    trees: SlabMutex<Trees>,
    /// The worker applying a run of the journal (its pid; 0: none) and when it claimed it
    /// (`ngx_current_msec`, the monotonic clock every process reads): the mark moves only once
    /// the run is applied, so a worker that dies in between leaves the run to the next one
    /// (after [`CLAIM_STALE_MS`]). Written under the lock. After `trees`, so that the fields
    /// before keep their offsets.
    journal_owner: AtomicU64,
    journal_owned_ms: AtomicU64,
    /// The feed's state (`jwt_peer_auth_revocation_feed`), lock-free.
    feed: FeedShared,
}

// SAFETY: `#[repr(C)]`, its first field the header `Revocation::create` sets to `HEADER`; the
// rest atomics, and under the slab mutex the trees (their nodes in this zone's slab).
unsafe impl shm::Layout for Shared {
    const MAGIC: u64 = MAGIC;
    const VERSION: u32 = LAYOUT_VERSION;
}

/// A claim on a run of the journal older than this is taken over (its worker died, or is
/// stalled: applying a run takes milliseconds).
pub const CLAIM_STALE_MS: u64 = 1000;

/// A journal position: which file, how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub dev: u64,
    pub ino: u64,
    pub applied: u64,
}

/// This process's pid (NGINX's `ngx_pid`, set in each worker at its start).
fn own_pid() -> u64 {
    // SAFETY: NGINX sets `ngx_pid` in the master and again in each process it forks, before
    // any request; only this process writes it.
    unsafe { ngx::ffi::ngx_pid as u64 }
}

/// A handle to the list, valid in every worker.
#[derive(Clone)]
pub struct List {
    shared: &'static Shared,
    zone: Attached<Shared>,
    /// The configuration the zone was added by (its state file).
    pub conf: Option<&'static Revocation>,
}

/// What adding an entry did.
#[derive(Debug, Clone, Copy)]
pub struct Added {
    /// The entry was new for its origin (not an extension of a listed one).
    pub created: bool,
    /// How it is listed now.
    pub until: Until,
    /// How it was listed before, for [`List::undo_add`].
    pub previous: Option<Until>,
}

/// The zone has no room for another entry.
#[derive(Debug)]
pub struct Full;

impl Trees {
    /// Lists `k` for `origin` as `until`: merged with how it is listed (`extend`: an add never
    /// weakens an entry) or exactly (`!extend`). `Full`: nothing changed.
    fn upsert(
        &mut self,
        slab: HeldSlab,
        count: &AtomicU64,
        k: &[u8],
        origin: Origin,
        until: Until,
        extend: bool,
    ) -> Result<Added, Full> {
        if let Some(e) = self.by_key.get_mut(k) {
            let previous = e.part(origin).until();
            let new = match previous {
                Some(p) if extend => p.merge(until),
                _ => until,
            };
            let mut next = *e;
            *next.part(origin) = Part::of(new);
            let want = next.api.expires.max(next.feed.expires);
            if want > e.expires {
                // Re-indexed: the new index entry first, so that running out of room changes
                // nothing. A shorter expiry keeps its later index entry (dropped then).
                let copy = NgxString::try_from_bytes_in(k, slab).map_err(|_| Full)?;
                let id = e.id;
                self.by_expiry
                    .try_insert(ExpKey { expires: want, id }, copy)
                    .map_err(|_| Full)?;
                self.by_expiry.remove(&ExpKey {
                    expires: e.expires,
                    id,
                });
                next.expires = want;
            }
            *e = next;
            return Ok(Added {
                created: previous.is_none(),
                until: new,
                previous,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let key = NgxString::try_from_bytes_in(k, slab.clone()).map_err(|_| Full)?;
        let copy = NgxString::try_from_bytes_in(k, slab).map_err(|_| Full)?;
        let ek = ExpKey {
            expires: until.expires,
            id,
        };
        let mut value = Expiry {
            expires: until.expires,
            id,
            api: Part::default(),
            feed: Part::default(),
        };
        *value.part(origin) = Part::of(until);
        // Counted before it is linked: a worker that dies in between leaves the count too high
        // (harmless), never too low. With a count of 0 `revoked` skips the list, and a repeated
        // add only extends the entry: the revoked token would pass for good. The entry is
        // linked before its expiry index entry: a worker dying in between leaves an entry that
        // is checked (only never purged early), never an index entry without one.
        count.fetch_add(1, Ordering::AcqRel);
        if self.by_key.try_insert(key, value).is_err() {
            count.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        if self.by_expiry.try_insert(ek, copy).is_err() {
            self.by_key.remove(k);
            count.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        Ok(Added {
            created: true,
            until,
            previous: None,
        })
    }

    /// Takes `origin`'s part of `k` away (the entry goes with its last part); returns how it
    /// was listed.
    fn remove(&mut self, count: &AtomicU64, k: &[u8], origin: Origin) -> Option<Until> {
        let e = self.by_key.get_mut(k)?;
        let was = e.part(origin).until()?;
        *e.part(origin) = Part::default();
        if e.api.expires != 0 || e.feed.expires != 0 {
            // The other origin still lists it: its index entry stays (at least as late).
            return Some(was);
        }
        let e = self.by_key.remove(k)?;
        count.fetch_sub(1, Ordering::AcqRel);
        self.by_expiry.remove(&ExpKey {
            expires: e.expires,
            id: e.id,
        });
        Some(was)
    }

    /// Drops at most `max` expired entries, those that expired first: O(max log n).
    fn purge(&mut self, count: &AtomicU64, now: i64, max: usize) {
        let mut victims = [ExpKey { expires: 0, id: 0 }; PURGE_STEP];
        let mut n = 0;
        for (ek, _) in self.by_expiry.iter().take(max.min(PURGE_STEP)) {
            if ek.expires > now {
                break;
            }
            victims[n] = *ek;
            n += 1;
        }
        for ek in &victims[..n] {
            if let Some((_, key)) = self.by_expiry.remove_entry(ek) {
                if self.by_key.remove(AsRef::<[u8]>::as_ref(&key)).is_some() {
                    count.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }
}

impl List {
    /// The list of `rev`'s zone, if its init ran.
    pub fn of(rev: &'static Revocation) -> Option<List> {
        let mut list = List::attached(Attached::attach(rev.shm_zone)?);
        list.conf = Some(rev);
        Some(list)
    }

    fn attached(zone: Attached<Shared>) -> List {
        List {
            shared: zone.shared(),
            zone,
            conf: None,
        }
    }

    /// Takes the slab pool's mutex: the only way to the trees. Never called while held (NGINX's
    /// mutex is not recursive): every method locks once.
    fn lock(&self) -> SlabHeld<'_, Trees> {
        self.zone.lock(|s| &s.trees)
    }

    /// Whether the list may have entries (lock-free).
    pub fn is_empty(&self) -> bool {
        self.shared.count.load(Ordering::Acquire) == 0
    }

    /// The first of `names` whose value in `v` is listed and not expired. Follows the journal
    /// first (at most every [`super::journal::SYNC_MS`] per worker).
    pub fn revoked<'n>(&self, v: &Verified, names: &'n [String], now: i64) -> Option<&'n str> {
        super::journal::follow(self, false);
        if self.is_empty() {
            return None;
        }
        let iat = v.times.iat;
        let trees = self.lock();
        let mut buf = [0u8; KEY_LEN];
        names
            .iter()
            .find(|name| {
                revocation::any_value(v, name, |value| {
                    revocation::key(name, value, &mut buf)
                        .and_then(|k| trees.by_key.get(k))
                        .is_some_and(|e| e.api.refuses(now, iat) || e.feed.refuses(now, iat))
                })
            })
            .map(String::as_str)
    }

    /// Adds an API entry, or merges it into a listed one (an add never weakens an entry: the
    /// later expiry, the later `issued_before`), or (`exact`) sets it so. A few expired
    /// entries are dropped first. `Full`: nothing changed.
    pub fn add(&self, name: &str, value: &str, until: Until, now: i64, exact: bool) -> Result<Added, Full> {
        let mut buf = [0u8; KEY_LEN];
        let k = revocation::key(name, value, &mut buf).ok_or(Full)?;
        let mut trees = self.lock();
        let slab = trees.slab();
        trees.purge(&self.shared.count, now, PURGE_STEP);
        trees.upsert(slab, &self.shared.count, k, Origin::Api, until, !exact)
    }

    /// Removes an API entry (the feed's part of the same entry stays); returns how it was
    /// listed, `None` if the API did not list it (or it had expired).
    pub fn remove(&self, name: &str, value: &str, now: i64) -> Option<Until> {
        let mut buf = [0u8; KEY_LEN];
        let k = revocation::key(name, value, &mut buf)?;
        let mut trees = self.lock();
        trees.purge(&self.shared.count, now, PURGE_STEP);
        let u = trees.remove(&self.shared.count, k, Origin::Api)?;
        (u.expires > now).then_some(u)
    }

    /// Takes back an add (the state file could not be written): the entry's previous expiry,
    /// or no entry.
    pub fn undo_add(&self, name: &str, value: &str, added: &Added) {
        let mut buf = [0u8; KEY_LEN];
        let Some(k) = revocation::key(name, value, &mut buf) else {
            return;
        };
        let mut trees = self.lock();
        let slab = trees.slab();
        match added.previous {
            Some(p) => {
                let _ = trees.upsert(slab, &self.shared.count, k, Origin::Api, p, false);
            }
            None => {
                trees.remove(&self.shared.count, k, Origin::Api);
            }
        }
    }

    /// The API's entries that have not expired, sorted by name and value. O(n) under the lock:
    /// used by `GET` only without a state file (with one, `GET` reads the journal).
    pub fn entries(&self, now: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = {
            let trees = self.lock();
            trees
                .by_key
                .iter()
                .filter(|(_, e)| e.api.expires > now)
                .filter_map(|(k, e)| {
                    let (name, value) = revocation::split_key(AsRef::<[u8]>::as_ref(k))?;
                    Some(e.api.until()?.entry(name, value))
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

    /// How far this zone has applied the journal (lock-free).
    pub fn mark(&self) -> Mark {
        Mark {
            dev: self.shared.journal_dev.load(Ordering::Acquire),
            ino: self.shared.journal_ino.load(Ordering::Acquire),
            applied: self.shared.journal_applied.load(Ordering::Acquire),
        }
    }

    fn set_mark(&self, m: Mark) {
        self.shared.journal_dev.store(m.dev, Ordering::Release);
        self.shared.journal_ino.store(m.ino, Ordering::Release);
        self.shared.journal_applied.store(m.applied, Ordering::Release);
    }

    /// Claims the run of the journal after `from` for this worker if the zone is still at
    /// `from` and no other worker has claimed it (within [`CLAIM_STALE_MS`]): under the lock,
    /// so that one worker applies each run. `false`: another worker has it. The mark does not
    /// move yet: [`List::applied`] moves it once the run is applied.
    pub fn claim(&self, from: Mark, now_ms: u64) -> bool {
        let me = own_pid();
        let _held = self.lock();
        if self.mark() != from {
            return false;
        }
        let owner = self.shared.journal_owner.load(Ordering::Acquire);
        let since = self.shared.journal_owned_ms.load(Ordering::Acquire);
        if owner != 0 && owner != me && now_ms.wrapping_sub(since) < CLAIM_STALE_MS {
            return false;
        }
        self.shared.journal_owner.store(me, Ordering::Release);
        self.shared.journal_owned_ms.store(now_ms, Ordering::Release);
        true
    }

    /// The run claimed from `from` is applied up to `to`: the mark moves there if this worker
    /// still holds the claim (a stalled worker whose claim was taken over moves nothing).
    pub fn applied(&self, from: Mark, to: Mark) {
        let me = own_pid();
        let _held = self.lock();
        if self.shared.journal_owner.load(Ordering::Acquire) != me {
            return;
        }
        if self.mark() == from {
            self.set_mark(to);
        }
        self.shared.journal_owner.store(0, Ordering::Release);
    }

    /// Applies changes of the feed, [`APPLY_STEP`] per lock hold (the lock that token checks
    /// take is never held for more than that many tree operations). Returns how many did not
    /// fit.
    pub fn apply_feed(&self, changes: &[Change], now: i64) -> usize {
        let mut full = 0;
        for chunk in changes.chunks(APPLY_STEP) {
            let mut trees = self.lock();
            let slab = trees.slab();
            trees.purge(&self.shared.count, now, PURGE_STEP);
            let mut buf = [0u8; KEY_LEN];
            for c in chunk {
                match c {
                    Change::Put(e) => {
                        let Some(k) = revocation::key(&e.name, &e.value, &mut buf) else {
                            continue;
                        };
                        if trees
                            .upsert(
                                slab.clone(),
                                &self.shared.count,
                                k,
                                Origin::Feed,
                                Until::of(e),
                                false,
                            )
                            .is_err()
                        {
                            full += 1;
                        }
                    }
                    Change::Lift { name, value } => {
                        if let Some(k) = revocation::key(name, value, &mut buf) {
                            trees.remove(&self.shared.count, k, Origin::Feed);
                        }
                    }
                }
            }
        }
        full
    }

    /// The feed's part of every entry (expired ones not yet dropped included), sorted by name
    /// and value: what this zone applied of the feed, to diff a new feed against when the
    /// snapshot on disk is not (see `feed_fetch::apply`). O(n) under the lock, in one hold (the
    /// tree has no cursor to resume from): only on that rare path, a walk that copies keys
    /// (about 10 ms for 100,000 entries), never on a refresh that finds its snapshot.
    pub fn feed_entries(&self) -> Vec<Entry> {
        let mut out: Vec<Entry> = {
            let trees = self.lock();
            trees
                .by_key
                .iter()
                .filter_map(|(k, e)| {
                    let (name, value) = revocation::split_key(AsRef::<[u8]>::as_ref(k))?;
                    Some(e.feed.until()?.entry(name, value))
                })
                .collect()
        };
        out.sort_unstable_by(jwt_peer_auth_core::feed::by_key);
        out
    }

    /// The feed's state in the zone.
    pub fn feed(&self) -> &FeedShared {
        &self.shared.feed
    }

    /// Reads or changes the feed's texts, under the lock (a few hundred bytes copied).
    pub fn with_feed_text<R>(&self, f: impl FnOnce(&mut super::feed::FeedText) -> R) -> R {
        let mut trees = self.lock();
        f(&mut trees.feed)
    }

    /// Applies the net effect of a run of the journal, [`APPLY_STEP`] entries per lock hold.
    /// Returns how many adds did not fit. Never inlined: t/035 stops a worker at its symbol.
    #[inline(never)]
    pub fn apply(&self, nets: &[((String, String), Net)], now: i64) -> usize {
        let mut full = 0;
        for chunk in nets.chunks(APPLY_STEP) {
            let mut trees = self.lock();
            let slab = trees.slab();
            trees.purge(&self.shared.count, now, PURGE_STEP);
            let mut buf = [0u8; KEY_LEN];
            for ((name, value), net) in chunk {
                let Some(k) = revocation::key(name, value, &mut buf) else {
                    continue;
                };
                let r = match *net {
                    Net::Extend(u) if u.expires > now => trees
                        .upsert(slab.clone(), &self.shared.count, k, Origin::Api, u, true)
                        .map(drop),
                    Net::Set(u) if u.expires > now => trees
                        .upsert(slab.clone(), &self.shared.count, k, Origin::Api, u, false)
                        .map(drop),
                    _ => {
                        trees.remove(&self.shared.count, k, Origin::Api);
                        Ok(())
                    }
                };
                if r.is_err() {
                    full += 1;
                }
            }
        }
        full
    }
}

/// The zone serves the configuration's [`Revocation`]: a new zone starts with its state file's
/// entries.
impl Record for Revocation {
    type Layout = Shared;
    const KIND: &'static str = "revocation zone";
    // A full zone is reported by the API (507) and its own log line, not by the slab
    // allocator's generic one.
    const LOG_NOMEM: bool = false;

    fn create(&mut self, slab: &HeldSlab) -> Result<Shared, String> {
        let by_key = Tree::try_new_in(slab.clone()).map_err(|_| "the zone is too small")?;
        let by_expiry = ExpTree::try_new_in(slab.clone()).map_err(|_| "the zone is too small")?;
        Ok(Shared {
            header: <Shared as shm::Layout>::HEADER,
            count: AtomicU64::new(0),
            journal_dev: AtomicU64::new(0),
            journal_ino: AtomicU64::new(0),
            journal_applied: AtomicU64::new(0),
            trees: SlabMutex::new(Trees {
                by_key,
                by_expiry,
                next_id: 0,
                feed: super::feed::FeedText::default(),
            }),
            journal_owner: AtomicU64::new(0),
            journal_owned_ms: AtomicU64::new(0),
            feed: FeedShared::default(),
        })
    }

    /// A zone kept across a reload keeps its list (the newest); a new one starts with the
    /// state file's entries, following the journal from where they end.
    fn loaded(&mut self, zone: &Attached<Shared>, fresh: bool) -> Result<(), String> {
        if !fresh {
            return Ok(());
        }
        let list = List::attached(zone.clone());
        let mut trees = list.lock();
        let slab = trees.slab();
        let mut buf = [0u8; KEY_LEN];
        for e in &self.initial {
            let k = revocation::key(&e.name, &e.value, &mut buf).ok_or("a bad entry")?;
            trees
                .upsert(
                    slab.clone(),
                    &list.shared.count,
                    k,
                    Origin::Api,
                    Until::of(e),
                    true,
                )
                .map_err(|_| {
                    format!(
                        "the zone is too small for the {} entries of the state file",
                        self.initial.len()
                    )
                })?;
        }
        let feed = self.feed.as_deref();
        for e in feed.map_or(&[][..], |f| f.initial.as_slice()) {
            let k = revocation::key(&e.name, &e.value, &mut buf).ok_or("a bad entry")?;
            trees
                .upsert(
                    slab.clone(),
                    &list.shared.count,
                    k,
                    Origin::Feed,
                    Until::of(e),
                    false,
                )
                .map_err(|_| "the zone is too small for the entries of the last feed".to_owned())?;
        }
        if let Some(f) = feed {
            trees.feed.set_validators(&f.initial_validators);
        }
        drop(trees);
        list.set_mark(self.initial_mark);
        if let Some(f) = feed {
            list.shared.feed.loaded(f);
        }
        Ok(())
    }
}

/// Adds the list's zone to the configuration. `name` must outlive the cycle (a directive
/// argument); `data` is the [`Revocation`] whose state-file entries a new zone starts with.
pub fn add(
    cf: &mut ngx_conf_t,
    name: ngx_str_t,
    size: usize,
    data: *mut Revocation,
) -> Option<*mut ngx_shm_zone_t> {
    // Its own tag: NGINX refuses a name already used by another kind of zone (the key zone
    // included) with "already declared for a different use".
    let tag = std::ptr::addr_of!(ZONE_TAG).cast_mut().cast::<c_void>();
    shm::add(cf, name, size, tag, data)
}

/// The tag of revocation zones (its address is what counts).
static ZONE_TAG: u8 = 0;
