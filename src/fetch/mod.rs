//! Fetching a JWKS through a sub-request to a key source's exact-match internal location.
//!
//! - [`start`]: starts the key request, with only the headers the module chooses.
//! - [`result`]: takes its result (a `200` with an identity-encoded body that the core parses
//!   into usable keys), publishes it in the zone or records the failure.
//! - [`filters`]: give the key request its own in-memory body buffer, sized to the body, in a
//!   pool released when the fetch ends.
//! - [`wait`]: the timer on which a request waits for another request's fetch.
//!
//! A key request is recognised by its post-subrequest handler, which survives NGINX's own
//! internal redirects inside the key location (`error_page`, `try_files`, `X-Accel-Redirect`).

use std::cell::Cell;
use std::ffi::c_void;

use ngx::ffi::{ngx_destroy_pool, ngx_http_request_t, ngx_int_t, ngx_pool_t};

use crate::sources::KeySource;
use crate::zone::Zone;

pub mod discovery;
pub mod filters;
pub mod kid_wait;
pub mod result;
pub mod start;
pub mod wait;

/// Largest JWKS body accepted from a key request.
pub const MAX_BODY: usize = 1024 * 1024;

/// What a sub-request of a fetch asks for.
#[derive(Debug)]
pub enum Stage {
    /// The discovery document of a `jwt_peer_auth_discovery` source.
    Document,
    /// The key set; for a discovery source, from the URL its document named
    /// (`$jwt_peer_auth_jwks_uri`).
    Keys(Option<String>),
}

/// One started key request, in a cleanup entry of the client request's pool. Dropped with
/// that pool; a fetch that never reported frees its lease (after a short cool-down). A
/// discovery source's fetch is two of these under one lease: the document's hands the lease
/// to the key set's when it starts it.
pub struct Fetch {
    pub zone: Zone,
    pub source: &'static KeySource,
    pub stage: Stage,
    /// The largest body accepted.
    pub limit: usize,
    pub slot: usize,
    pub lease: u64,
    /// The key source's label, for logs (configuration memory).
    pub label: &'static str,
    /// The client request waits for this fetch (not a background refresh).
    pub waited: bool,
    /// The outcome is not recorded yet.
    pub pending: Cell<bool>,
    /// The response was larger than `limit` and was dropped.
    pub too_big: Cell<bool>,
    /// The status NGINX itself turned the key request into (an upstream error, a 404 ...),
    /// before an error page ran: 0 if none.
    pub nginx_status: Cell<ngx_int_t>,
    /// The pool holding the response buffer, released when the outcome is recorded.
    pub buffer_pool: Cell<*mut ngx_pool_t>,
}

impl Fetch {
    /// Releases the response buffer.
    pub fn release_buffer(&self) {
        let p = self.buffer_pool.replace(std::ptr::null_mut());
        if !p.is_null() {
            // SAFETY: a pool created by the header filter for this fetch, owned by it alone.
            unsafe { ngx_destroy_pool(p) };
        }
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if self.pending.get() {
            self.zone.abandon(self.slot, self.lease, ngx::ffi::ngx_time());
        }
        self.release_buffer();
    }
}

extern "C" fn drop_fetch(data: *mut c_void) {
    // SAFETY: `data` is the Fetch written by `start`, dropped exactly once, with its pool.
    let _ = std::panic::catch_unwind(|| unsafe { std::ptr::drop_in_place(data.cast::<Fetch>()) });
}

/// The fetch a request runs, if it is a key request (also after internal redirects inside the
/// key location). The Fetch lives in the pool, not in the request structure: the reference is
/// not tied to the borrow of `r`, and is only kept while handling the request.
pub fn of_request<'f>(r: &ngx_http_request_t) -> Option<&'f Fetch> {
    let data = crate::subrequest::data_of(r, result::key_fetched)?;
    // SAFETY: for our handler, `data` is the Fetch written by `start` into the pool shared by
    // the main request and its sub-requests, alive until that pool is destroyed.
    unsafe { data.cast::<Fetch>().as_ref() }
}
