//! Starting a key request: an isolated in-memory GET sub-request to the key source's location
//! (see [`crate::subrequest`]: none of the client's headers or cached variables, only `Host`
//! and `Accept`), so that no client `Authorization`, `Cookie`, `Range`, `If-*` or
//! `Accept-Encoding` can shape or poison what the key service answers and what every worker
//! then trusts.

use std::cell::Cell;

use ngx::ffi::ngx_http_request_t;

use super::{drop_fetch, result, Fetch, Stage, MAX_BODY};
use crate::glue::add_cleanup;
use crate::log::debug;
use crate::sources::KeySource;
use crate::subrequest;
use crate::zone::Zone;

const ACCEPT: &[u8] = b"application/jwk-set+json, application/json";
const ACCEPT_DOCUMENT: &[u8] = b"application/json";

/// Starts a key request for `source` under `lease` (for a discovery source, its document
/// first); `waited`: the client request waits for it (else a background refresh). On `false`
/// nothing was started and the caller frees the lease.
pub fn start(
    r: &mut ngx_http_request_t,
    source: &'static KeySource,
    zone: &Zone,
    lease: u64,
    waited: bool,
) -> bool {
    let stage = match source.discovery {
        Some(_) => Stage::Document,
        None => Stage::Keys(None),
    };
    start_stage(r, source, zone, lease, waited, stage)
}

/// Starts the sub-request of one stage of a fetch (see [`start`]); `r` is the main request.
pub fn start_stage(
    r: &mut ngx_http_request_t,
    source: &'static KeySource,
    zone: &Zone,
    lease: u64,
    waited: bool,
    stage: Stage,
) -> bool {
    let (uri, limit, accept) = match (&stage, &source.discovery) {
        (Stage::Document, Some(d)) => (
            d.uri.as_str(),
            jwt_peer_auth_core::discovery::MAX_DOCUMENT,
            ACCEPT_DOCUMENT,
        ),
        (Stage::Document, None) => return false,
        (Stage::Keys(_), _) => (source.uri.as_str(), MAX_BODY, ACCEPT),
    };
    let second_stage = matches!(stage, Stage::Keys(Some(_)));
    let fetch = Fetch {
        zone: zone.clone(),
        source,
        stage,
        limit,
        slot: source.slot,
        lease,
        label: source.label.as_str(),
        waited,
        pending: Cell::new(false),
        too_big: Cell::new(false),
        nginx_status: Cell::new(0),
        buffer_pool: Cell::new(std::ptr::null_mut()),
    };
    let fetch = add_cleanup(r.pool, fetch, drop_fetch);
    if fetch.is_null() {
        return false;
    }
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*r.connection).log };
    debug!(log, "key request \"{}\" started (waited: {waited})", source.label);
    // The key set of a discovery source is requested from the document's post-subrequest
    // handler, while the document is still the connection's active request: NGINX would queue
    // a waited sub-request behind it in the client request's output, where only the client
    // request's next body output releases it (a HEAD or a 304 has none: the connection would
    // hang until send_timeout). It runs in the background instead, and a client request
    // waiting for it is woken by `result::key_fetched`.
    let get = subrequest::Get {
        uri,
        accept,
        extra_headers: 0,
        waited: waited && !second_stage,
    };
    if !subrequest::start(r, &get, result::key_fetched, fetch.cast(), |_| true) {
        return false;
    }
    // SAFETY: `fetch` was written above and lives in the request pool.
    unsafe { (*fetch).pending.set(true) };
    true
}
