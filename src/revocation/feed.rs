//! `jwt_peer_auth_revocation_feed uri [interval=time] [max_stale=time]`: the revocation list
//! follows a feed every node of a fleet pulls over HTTP (see the core's `feed`).
//!
//! - The directive (`super::feed_config`): one feed per list; it may be repeated (in servers
//!   and locations, identically) to say where requests start its refreshes.
//! - At configuration time ([`configure`]), the last feed applied, kept in a snapshot file next
//!   to the state file (`<state>.feed`), is loaded so that a restarted node enforces it before
//!   its first fetch.
//! - [`gate`], at each token check of a location that checks the list: starts a refresh when
//!   one is due (a background sub-request, [`super::feed_fetch`]), and refuses while the feed
//!   is stale (no successful fetch for `max_stale`: fail closed, one `[error]` per episode).
//!
//! The zone holds the feed's state ([`FeedShared`], lock-free; [`FeedText`] under the list's
//! lock), shared by every worker.

use std::sync::atomic::{AtomicU64, Ordering};

use jwt_peer_auth_core::feed::{Validators, MAX_VALIDATOR};
use jwt_peer_auth_core::revocation::Entry;
use jwt_peer_auth_core::{Reason, Rejection};
use ngx::ffi::{ngx_conf_t, ngx_http_request_t, NGX_LOG_ERR, NGX_LOG_NOTICE};
use ngx::{ngx_conf_log_error, ngx_log_error};

use super::list::List;

/// The default `interval=`.
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// The default `max_stale=`: a day without a successful fetch.
pub const DEFAULT_MAX_STALE_MS: u64 = 24 * 3600 * 1000;
/// A refresh still running after this is taken over by the next due one (its worker died, or
/// the feed service hangs longer than the feed location's timeouts).
pub const FETCH_STALE_MS: u64 = 120_000;

/// `jwt_peer_auth_revocation_feed` as configured.
#[derive(Debug)]
pub struct Feed {
    /// The internal location that proxies to the feed.
    pub uri: String,
    pub interval_ms: u64,
    pub max_stale_ms: u64,
    /// Where the directive first appeared (file:line).
    pub declared_at: String,
    /// The snapshot of the last feed applied: `<state>.feed` (set by [`configure`]).
    pub snapshot: String,
    /// The snapshot's entries, loaded into a new zone.
    pub initial: Vec<Entry>,
    pub initial_validators: Validators,
    /// When the snapshot was last confirmed (its mtime, Unix ms; 0: no snapshot).
    pub initial_ok_ms: u64,
    /// The snapshot's identity (device, inode).
    pub initial_file: (u64, u64),
}

/// The feed's state in the zone, read and written lock-free by every worker.
#[repr(C)]
#[derive(Default)]
pub struct FeedShared {
    /// When this zone began following the feed (Unix ms; 0: not yet).
    pub since_ms: AtomicU64,
    /// The last successful fetch (a `200` applied or a `304`), Unix ms.
    pub ok_ms: AtomicU64,
    /// When the last refresh was started, Unix ms.
    pub tried_ms: AtomicU64,
    /// A refresh is running since (Unix ms; 0: none).
    pub busy_ms: AtomicU64,
    /// 1 while a stale episode has been logged.
    pub stale_logged: AtomicU64,
    /// Answers counted: `200` applied, `304`, failures.
    pub fetched: AtomicU64,
    pub not_modified: AtomicU64,
    pub failures: AtomicU64,
    /// Entries of the feed applied last.
    pub entries: AtomicU64,
    /// The snapshot file this zone applied last (device, inode): a refresh diffs against it
    /// only if it is still the file on disk.
    pub file_dev: AtomicU64,
    pub file_ino: AtomicU64,
}

impl FeedShared {
    /// A new zone starts with the snapshot loaded at configuration time.
    pub fn loaded(&self, f: &Feed) {
        self.ok_ms.store(f.initial_ok_ms, Ordering::Release);
        self.entries.store(f.initial.len() as u64, Ordering::Release);
        self.file_dev.store(f.initial_file.0, Ordering::Release);
        self.file_ino.store(f.initial_file.1, Ordering::Release);
    }
}

/// A bounded text in the zone.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Text {
            len: 0,
            bytes: [0; N],
        }
    }
}

impl<const N: usize> Text<N> {
    pub fn set(&mut self, s: &[u8]) {
        let n = s.len().min(N);
        self.bytes[..n].copy_from_slice(&s[..n]);
        self.len = n as u16;
    }

    pub fn get(&self) -> Option<String> {
        let n = usize::from(self.len).min(N);
        (n > 0).then(|| String::from_utf8_lossy(&self.bytes[..n]).into_owned())
    }
}

/// The feed's texts in the zone, under the list's lock.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct FeedText {
    pub etag: Text<MAX_VALIDATOR>,
    pub last_modified: Text<MAX_VALIDATOR>,
    /// Why the last refresh failed (empty: it did not).
    pub error: Text<200>,
}

impl FeedText {
    pub fn set_validators(&mut self, v: &Validators) {
        self.etag.set(v.etag.as_deref().unwrap_or_default().as_bytes());
        self.last_modified
            .set(v.last_modified.as_deref().unwrap_or_default().as_bytes());
    }

    pub fn validators(&self) -> Validators {
        Validators {
            etag: self.etag.get(),
            last_modified: self.last_modified.get(),
        }
    }
}

/// Now, Unix ms (NGINX's cached time).
pub fn now_ms() -> u64 {
    // SAFETY: NGINX sets `ngx_cached_time` before any configuration or request and updates it
    // in this process's event loop; the pointed-to slot stays valid.
    let t = unsafe { ngx::ffi::ngx_cached_time.as_ref() };
    t.map_or(0, |t| t.sec as u64 * 1000 + t.msec as u64)
}

/// Once the http block is parsed: the feed needs the list and its state file; the snapshot of
/// the last feed is loaded (a damaged one is reported and ignored: the node starts stale and
/// fetches).
pub fn configure(
    cf: &mut ngx_conf_t,
    feed: Option<Box<Feed>>,
    rev: Option<&mut super::Revocation>,
) -> Result<(), String> {
    let Some(mut f) = feed else {
        return Ok(());
    };
    let Some(rev) = rev else {
        return Err(format!(
            "\"jwt_peer_auth_revocation_feed\" (in {}) needs \"jwt_peer_auth_revocation zone=name:size state=path\" in the http block",
            f.declared_at
        ));
    };
    let Some(state) = rev.state.as_deref() else {
        return Err(format!(
            "\"jwt_peer_auth_revocation_feed\" (in {}) needs \"state=\" on \"jwt_peer_auth_revocation\": the last feed is kept next to the state file",
            f.declared_at
        ));
    };
    f.snapshot = format!("{state}.feed");
    match super::feed_fetch::read_snapshot(&f.snapshot, ngx::ffi::ngx_time()) {
        Ok(Some(s)) => {
            f.initial = s.entries;
            f.initial_validators = s.validators;
            f.initial_ok_ms = s.mtime_ms;
            f.initial_file = s.file;
        }
        Ok(None) => {}
        Err(why) => {
            ngx_conf_log_error!(
                ngx::ffi::NGX_LOG_WARN,
                cf,
                "jwt_peer_auth: revocation feed: {why}: ignored (the feed is fetched afresh)"
            );
        }
    }
    rev.feed = Some(f);
    Ok(())
}

/// At a token check of a location that checks the list: starts a refresh if one is due (`here`:
/// the feed directive applies to the location), then refuses while the feed is stale.
pub fn gate(
    r: &mut ngx_http_request_t,
    here: bool,
    rev: Option<&'static super::Revocation>,
) -> Result<(), Rejection> {
    let Some(rev) = rev else {
        return Ok(());
    };
    let Some(f) = rev.feed.as_deref() else {
        return Ok(());
    };
    let Some(list) = List::of(rev) else {
        return Ok(());
    };
    let now = now_ms();
    let st = list.feed();
    let _ = st
        .since_ms
        .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    if here && std::ptr::eq(r.main, r) {
        super::feed_fetch::maybe_start(r, f, &list, now);
    }
    let fresh_from = fresh_from(st);
    if now.saturating_sub(fresh_from) <= f.max_stale_ms {
        return Ok(());
    }
    if st.stale_logged.swap(1, Ordering::AcqRel) == 0 {
        let why = list
            .with_feed_text(|t| t.error.get())
            .unwrap_or_else(|| "no answer yet".into());
        // SAFETY: a live request's connection and its log.
        let log = unsafe { (*r.connection).log };
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "jwt_peer_auth: revocation feed \"{}\" is stale: no successful fetch for {}s (max_stale {}s; last error: {why}): tokens checked against the list are refused until a fetch succeeds",
            f.uri,
            now.saturating_sub(fresh_from) / 1000,
            f.max_stale_ms / 1000
        );
    }
    Err(Rejection::new(Reason::Revoked, "the revocation feed is stale"))
}

/// Where `max_stale` counts from: the last successful fetch (a snapshot loaded at start counts
/// from its mtime, its last confirmation: a node restarted after longer than `max_stale` is
/// stale at once), or, for a zone that never had a feed, when it began following it.
fn fresh_from(st: &FeedShared) -> u64 {
    match st.ok_ms.load(Ordering::Acquire) {
        0 => st.since_ms.load(Ordering::Acquire),
        ok => ok,
    }
}

/// A fetch succeeded: the feed is fresh; the end of a stale episode is logged.
pub fn fresh(list: &List, log: *mut ngx::ffi::ngx_log_t, uri: &str, now_ms: u64) {
    let st = list.feed();
    st.ok_ms.store(now_ms, Ordering::Release);
    if st.stale_logged.swap(0, Ordering::AcqRel) == 1 {
        ngx_log_error!(
            NGX_LOG_NOTICE,
            log,
            "jwt_peer_auth: revocation feed \"{uri}\" is fresh again: tokens are checked against the list"
        );
    }
}

/// The feed's state for the status page: (uri, state word, seconds since the last success,
/// entries, 200s, 304s, failures, last error).
pub fn status(rev: &'static super::Revocation) -> Option<FeedStatus> {
    let f = rev.feed.as_deref()?;
    let list = List::of(rev)?;
    let st = list.feed();
    let now = now_ms();
    let ok = st.ok_ms.load(Ordering::Acquire);
    let from = fresh_from(st);
    let stale = from != 0 && now.saturating_sub(from) > f.max_stale_ms;
    Some(FeedStatus {
        uri: f.uri.clone(),
        state: if stale {
            "stale"
        } else if ok == 0 {
            "waiting"
        } else {
            "fresh"
        },
        age: (ok != 0).then(|| now.saturating_sub(ok) / 1000),
        entries: st.entries.load(Ordering::Acquire),
        fetched: st.fetched.load(Ordering::Acquire),
        not_modified: st.not_modified.load(Ordering::Acquire),
        failures: st.failures.load(Ordering::Acquire),
        error: list.with_feed_text(|t| t.error.get()),
    })
}

/// What the status page shows of the feed.
#[derive(Debug)]
pub struct FeedStatus {
    pub uri: String,
    pub state: &'static str,
    pub age: Option<u64>,
    pub entries: u64,
    pub fetched: u64,
    pub not_modified: u64,
    pub failures: u64,
    pub error: Option<String>,
}
