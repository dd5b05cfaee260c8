//! Runtime revocation (`jwt_peer_auth_revocation zone=name:size [state=path] [ttl=time]`): the
//! list lives in its own shared zone, so every worker sees a change at its next request and
//! the list survives `nginx -s reload`; with `state=` every change is also appended to a
//! journal (see [`state`]) that is loaded at start, so it survives a restart, and that every
//! worker follows ([`journal`]), so that a change served by a worker of another generation (a
//! binary upgrade, a reload that replaced the zone) is enforced by all within a second.
//!
//! - [`list`]: the typed zone layout and its operations.
//! - [`state`]: the state file (read at configuration time, appended to by the API,
//!   compacted).
//! - [`journal`]: each worker follows the journal into its zone.
//! - [`api`]: the `jwt_peer_auth_revocation_api` content handler.
//! - [`config`]: the revocation directives.
//! - [`feed`], [`feed_config`], [`feed_fetch`]: `jwt_peer_auth_revocation_feed`, a list every
//!   node of a fleet pulls.

pub mod api;
pub mod config;
pub mod feed;
pub mod feed_config;
pub mod feed_fetch;
pub mod journal;
pub mod list;
pub mod state;

use jwt_peer_auth_core::revocation::Entry;
use ngx::ffi::ngx_shm_zone_t;

/// `jwt_peer_auth_revocation` as configured (http level).
#[derive(Debug)]
pub struct Revocation {
    pub shm_zone: *mut ngx_shm_zone_t,
    /// The zone's name, for log lines.
    pub zone_name: String,
    /// `state=`: the state file's full path.
    pub state: Option<String>,
    /// `ttl=`: how long an entry added without a `ttl` lives, in seconds.
    pub ttl: u64,
    /// The entries read from the state file at configuration time: loaded into a new zone
    /// (a zone kept across a reload keeps its own, newer list).
    pub initial: Vec<Entry>,
    /// Where in the state file `initial` ends: a new zone follows the journal from there.
    pub initial_mark: list::Mark,
    /// `jwt_peer_auth_revocation_feed` (set once the http block is parsed).
    pub feed: Option<Box<feed::Feed>>,
}

/// The default `ttl=`: JWThenticator's token lifetime. Past it, no token issued before the
/// revocation is still valid.
pub const DEFAULT_TTL: u64 = 25 * 3600;
