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

use ngx::ffi::{ngx_conf_t, NGX_LOG_EMERG, NGX_LOG_WARN};

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
