//! Following the journal: each worker checks, at most every [`SYNC_MS`] (at its next token
//! check or API call), whether the state file grew or was replaced, and applies what the zone
//! has not applied yet (a change served by a worker of another zone: an older generation
//! during a binary upgrade, or during a reload that replaced the zone). The check is one
//! `stat`; the zone records how far it has applied the journal, so one worker per zone applies
//! each run (claimed under the lock by its pid; the mark moves only once the run is applied, and
//! a claim older than [`super::list::CLAIM_STALE_MS`] is taken over, so a worker that dies
//! applying leaves the run to the next one), [`list::APPLY_STEP`] entries per lock hold, at most
//! [`READ_MAX`] bytes per check.
//! Damage is reported in the error log (once per file and size) and skipped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use jwt_peer_auth_core::journal::{self, Fold};
use ngx::ffi::NGX_LOG_ERR;

use super::list::{List, Mark};
use super::state;
use crate::log::log;

/// How often a worker looks at the journal, at most.
pub const SYNC_MS: u64 = 200;
/// Bytes of journal read per check, at most (about 10,000 records).
pub const READ_MAX: u64 = 1 << 20;
/// A journal larger than this and than [`COMPACT_FACTOR`] times its live entries is compacted.
const COMPACT_MIN: u64 = 1 << 20;
const COMPACT_FACTOR: u64 = 4;
/// A rough size of one entry's `add` line, to compare the journal with the live list.
const LINE_ESTIMATE: u64 = 100;

static LAST_MS: AtomicU64 = AtomicU64::new(0);
/// The last check left records to read: the next one does not wait.
static BEHIND: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The last problem reported (a text), so that a lasting one is logged once.
    static REPORTED: RefCell<String> = const { RefCell::new(String::new()) };
}

fn log() -> *mut ngx::ffi::ngx_log_t {
    // SAFETY: NGINX sets `ngx_cycle` before any request or configuration; its log lives as
    // long as the cycle.
    unsafe { (*ngx::ffi::ngx_cycle).log }
}

fn report_once(level: u32, why: String) {
    let fresh = REPORTED.with(|r| {
        let mut r = r.borrow_mut();
        if *r == why {
            return false;
        }
        r.clone_from(&why);
        true
    });
    if fresh {
        log!(@ level as usize, log(), "revocation: {why}");
    }
}

/// Follows the journal into `list`'s zone if it is time (or `now_anyway`).
pub fn follow(list: &List, now_anyway: bool) {
    let Some(path) = list.conf.and_then(|c| c.state.as_deref()) else {
        return;
    };
    // SAFETY: NGINX's cached time, updated by the event loop of this process.
    let now_ms = unsafe { ngx::ffi::ngx_current_msec } as u64;
    if !now_anyway
        && !BEHIND.load(Ordering::Relaxed)
        && now_ms.wrapping_sub(LAST_MS.load(Ordering::Relaxed)) < SYNC_MS
    {
        return;
    }
    LAST_MS.store(now_ms, Ordering::Relaxed);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(list, path)));
}

fn step(list: &List, path: &str) {
    let now = ngx::ffi::ngx_time();
    let cur = list.mark();
    let st = match state::stat(path) {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            return report_once(
                NGX_LOG_ERR,
                format!(
                    "cannot read the state file \"{path}\": {}",
                    crate::glue::io_error_text(&e)
                ),
            )
        }
    };
    let same = (st.dev, st.ino) == (cur.dev, cur.ino) && st.applied >= cur.applied;
    if same && st.applied == cur.applied {
        BEHIND.store(false, Ordering::Relaxed);
        return;
    }
    let from = if same { cur.applied } else { 0 };
    let (mut text, mut file) = match state::read_file(path, from, READ_MAX) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(why) => return report_once(NGX_LOG_ERR, why),
    };
    if from == 0 && journal::is_v1(&text) {
        // A version 1 file is one document: read whole (once per file).
        match state::read_file(path, 0, jwt_peer_auth_core::revocation::MAX_STATE as u64) {
            Ok(Some(r)) => (text, file) = r,
            Ok(None) => return,
            Err(why) => return report_once(NGX_LOG_ERR, why),
        }
    }
    let mut fold = Fold::default();
    let (consumed, damage) = if from == 0 && journal::is_v1(&text) {
        match journal::read_all(&text, now) {
            Ok((f, n, d)) => {
                fold = f;
                (n, d)
            }
            Err(why) => {
                report_once(NGX_LOG_ERR, format!("damaged state file \"{path}\": {why}"));
                (text.len(), Vec::new())
            }
        }
    } else if from == 0 && !journal::has_header(&text[..text.len().min(journal::HEADER.len())]) {
        // Another file in the journal's place: nothing of it is applied (the zone keeps its
        // list), and it is not read again until it changes.
        report_once(
            NGX_LOG_ERR,
            format!("the state file \"{path}\" is not a revocation journal: ignored until it changes"),
        );
        (text.len(), Vec::new())
    } else {
        let c = journal::parse_chunk(&text, from);
        for r in c.records {
            fold.push(r);
        }
        (c.consumed, c.damage)
    };
    if consumed == 0 {
        return;
    }
    let to = Mark {
        dev: file.dev,
        ino: file.ino,
        applied: from + consumed as u64,
    };
    // SAFETY: NGINX's cached time, updated by the event loop of this process.
    let now_ms = unsafe { ngx::ffi::ngx_current_msec } as u64;
    if !list.claim(cur, now_ms) {
        return;
    }
    BEHIND.store(to.applied < file.applied, Ordering::Relaxed);
    for (at, why) in damage.iter().take(8) {
        log!(
            ERR,
            log(),
            "revocation: damaged state file \"{path}\" at byte {at}: {why}: the line is skipped"
        );
    }
    if damage.len() > 8 {
        log!(
            ERR,
            log(),
            "revocation: damaged state file \"{path}\": {} more damaged lines skipped",
            damage.len() - 8
        );
    }
    let full = list.apply(&fold.items, now);
    // Only now: a worker that dies applying the run leaves it claimed, not applied.
    list.applied(cur, to);
    if full > 0 {
        let zone = list.conf.map_or("", |c| c.zone_name.as_str());
        log!(
            ERR,
            log(),
            "revocation zone \"{zone}\" is full: {full} entries of the state file were not applied"
        );
    }
    if file.applied > COMPACT_MIN && file.applied > COMPACT_FACTOR * LINE_ESTIMATE * list.len().max(1) {
        state::compact_in_background(path, now);
    }
}
