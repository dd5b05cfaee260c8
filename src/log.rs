//! The module's log lines: the `jwt_peer_auth: ` prefix in one place, NGINX's levels, and
//! debug lines at each decision of the request path.
//!
//! - `log!(LEVEL, log, "...")`: one line at `LEVEL` (`EMERG`, `ALERT`, `CRIT`, `ERR`, `WARN`,
//!   `NOTICE`, `INFO`) to an `*mut ngx_log_t`, written only when the log's level lets it through
//!   (formatted into a stack buffer: no allocation); `log!(@ level, log, "...")` for a level
//!   chosen at run time.
//! - `debug!(log, "...")`: an `NGX_LOG_DEBUG_HTTP` line, compiled in only when NGINX was built
//!   `--with-debug` (ngx-rust's `DEBUG`), shown with `error_log ... debug`.
//! - [`conf_emerg`], [`conf_warn`]: an `[emerg]` or a `[warn]` about the configuration, with
//!   the file and line NGINX adds.

use ngx::ffi::{ngx_conf_t, ngx_log_t, NGX_LOG_EMERG, NGX_LOG_WARN};

/// The prefix of every line this module writes outside a directive's own `[emerg]`.
pub const PREFIX: &str = "jwt_peer_auth: ";

/// One line at an NGINX level: `log!(WARN, r.connection().log, "key request {uri} failed")`.
macro_rules! log {
    (EMERG, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_EMERG, $($rest)+) };
    (ALERT, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_ALERT, $($rest)+) };
    (CRIT, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_CRIT, $($rest)+) };
    (ERR, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_ERR, $($rest)+) };
    (WARN, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_WARN, $($rest)+) };
    (NOTICE, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_NOTICE, $($rest)+) };
    (INFO, $($rest:tt)+) => { $crate::log::log!(@ ngx::ffi::NGX_LOG_INFO, $($rest)+) };
    (@ $level:expr, $log:expr, $($arg:tt)+) => {{
        ngx::ngx_log_error!($level, $log, "jwt_peer_auth: {}", format_args!($($arg)+));
    }};
}
pub(crate) use log;

/// A debug line (`NGX_LOG_DEBUG_HTTP`) at a decision of the request path; nothing unless NGINX
/// was built `--with-debug` and the log's level is `debug`.
macro_rules! debug {
    ($log:expr, $($arg:tt)+) => {{
        ngx::ngx_log_debug_mask!(DebugMask::Http, $log, "jwt_peer_auth: {}", format_args!($($arg)+));
    }};
}
pub(crate) use debug;

/// An `[emerg]` about the configuration being read (NGINX adds "in file:line").
pub fn conf_emerg(cf: &mut ngx_conf_t, msg: &str) {
    ngx::ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{PREFIX}{msg}");
}

/// A `[warn]` about the configuration being read (NGINX adds "in file:line"): it is used anyway.
pub fn conf_warn(cf: &mut ngx_conf_t, msg: &str) {
    ngx::ngx_conf_log_error!(NGX_LOG_WARN, cf, "{PREFIX}{msg}");
}

/// A log for a thread other than the worker's event loop: a copy of the first plain-file log
/// of `log`'s chain, alone (no `next`, no handler). NGINX's other log writers are not safe off
/// the event loop (syslog opens its socket with a connection of the cycle on first use; the
/// memory writer's buffer is the event loop's), and a plain file log is a single `write(2)`.
/// Without a plain-file log the copy has level 0: nothing is written. Box it and keep it with
/// the thread's work.
pub fn for_thread(log: *mut ngx_log_t) -> ngx_log_t {
    let mut first: Option<ngx_log_t> = None;
    let mut cur = log;
    // Bounded: NGINX's chains are a few logs long; a cycle would be a bug, cut at 64.
    for _ in 0..64 {
        // SAFETY: `log` and its `next` chain are the cycle's logs, valid while the cycle is.
        let Some(l) = (unsafe { cur.as_ref() }) else {
            break;
        };
        first.get_or_insert(*l);
        if l.writer.is_none() && !l.file.is_null() {
            return alone(*l, l.log_level);
        }
        cur = l.next;
    }
    match first {
        Some(l) => alone(l, 0),
        None => {
            // SAFETY: ngx_log_t is a plain C struct; all-zero is a log of level 0 with no file,
            // which NGINX's ngx_log_error_core never writes to at level 0 messages this module
            // does not emit.
            unsafe { std::mem::zeroed() }
        }
    }
}

fn alone(mut l: ngx_log_t, level: usize) -> ngx_log_t {
    l.log_level = level as _;
    l.next = std::ptr::null_mut();
    l.handler = None;
    l.data = std::ptr::null_mut();
    l.writer = None;
    l.action = std::ptr::null_mut();
    l
}
