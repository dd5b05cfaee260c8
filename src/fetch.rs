//! Fetching a JWKS through a sub-request to the `jwt_peer_auth_key_request` location.
//!
//! - Cold or unusable cache: the request starts an in-memory sub-request and waits for it
//!   (`NGX_HTTP_SUBREQUEST_WAITED`, as auth_request does), or, when another request holds the
//!   fetch lease, waits on a short timer (as limit_req delays) until keys appear or the lease
//!   ends.
//! - Stale keys: a background sub-request refreshes them (`NGX_HTTP_SUBREQUEST_BACKGROUND`, as
//!   proxy_cache_background_update does) while the request is verified with the cached keys.
//!
//! The fetched body is validated by the core before it is published in the zone.

use std::ffi::c_void;
use std::rc::Rc;

use jwt_peer_auth_core::KeySet;
use ngx::ffi::{
    ngx_add_timer, ngx_handle_read_event, ngx_handle_write_event, ngx_http_block_reading,
    ngx_http_core_run_phases, ngx_http_finalize_request, ngx_http_post_subrequest_t, ngx_http_request_body_t,
    ngx_http_request_t, ngx_http_subrequest, ngx_http_test_reading, ngx_int_t, ngx_log_t, ngx_str_t,
    NGX_HTTP_GET, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_SUBREQUEST_BACKGROUND,
    NGX_HTTP_SUBREQUEST_IN_MEMORY, NGX_HTTP_SUBREQUEST_WAITED, NGX_LOG_ALERT, NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::Request;
use ngx::ngx_log_error;

use crate::keys;
use crate::zone::Zone;

/// How often a request waiting for another request's fetch looks again.
pub const POLL_MS: usize = 25;

/// Per-request state of the module, in the request pool (dropped with it).
pub struct RequestCtx {
    pub zone: Option<Zone>,
    pub slot: usize,
    pub uri: &'static str,
    /// This request started the fetch in flight and holds its lease.
    pub lease: bool,
    /// A waited sub-request is in flight.
    pub waiting: bool,
    /// An unknown-kid refetch was already done for this request.
    pub forced: bool,
    /// Timer polls so far while waiting for another request's fetch.
    pub polls: u32,
}

impl RequestCtx {
    pub fn new() -> RequestCtx {
        RequestCtx {
            zone: None,
            slot: 0,
            uri: "",
            lease: false,
            waiting: false,
            forced: false,
            polls: 0,
        }
    }
}

impl Drop for RequestCtx {
    /// A request that goes away with its fetch unfinished frees the lease at once.
    fn drop(&mut self) {
        if self.lease {
            if let Some(z) = &self.zone {
                z.abandon(self.slot);
            }
        }
    }
}

/// Starts a sub-request to `ctx.uri`; `background` refreshes without making `r` wait.
pub fn start(r: &mut Request, ctx: *mut RequestCtx, background: bool) -> bool {
    let pool = r.pool();
    let ps = pool.calloc_type::<ngx_http_post_subrequest_t>();
    let body = pool.calloc_type::<ngx_http_request_body_t>();
    // SAFETY: `ctx` points to the request's context, alive as long as the request pool.
    let uri = unsafe { (*ctx).uri };
    // SAFETY: `ps` is NULL or a zeroed post_subrequest from the request pool.
    let Some(post) = (unsafe { ps.as_mut() }) else {
        return false;
    };
    if body.is_null() {
        return false;
    }
    post.handler = Some(key_fetched);
    post.data = ctx.cast();
    let mut name = ngx_str_t {
        len: uri.len(),
        data: uri.as_ptr().cast_mut(),
    };
    let mut sr: *mut ngx_http_request_t = std::ptr::null_mut();
    let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
        | if background {
            NGX_HTTP_SUBREQUEST_BACKGROUND
        } else {
            NGX_HTTP_SUBREQUEST_WAITED
        };
    let r: *mut ngx_http_request_t = r.into();
    // SAFETY: `r` is the main request in its access phase; `name` points into configuration
    // memory that outlives the request; `ps` lives in the request pool.
    let rc = unsafe { ngx_http_subrequest(r, &mut name, std::ptr::null_mut(), &mut sr, ps, flags as _) };
    // SAFETY: on success `sr` is the new sub-request.
    let Some(sr) = (unsafe { sr.as_mut() }) else {
        return false;
    };
    if rc != 0 {
        return false;
    }
    // A JWKS is fetched with GET and no request body, whatever the client sent.
    sr.method = NGX_HTTP_GET as _;
    sr.method_name = ngx_str_t {
        len: 3,
        data: c"GET".as_ptr().cast_mut().cast(),
    };
    sr.request_body = body;
    sr.set_header_only(0);
    true
}

/// The post-subrequest handler: validates the body and publishes it, or records the failure.
unsafe extern "C" fn key_fetched(sr: *mut ngx_http_request_t, data: *mut c_void, rc: ngx_int_t) -> ngx_int_t {
    // SAFETY: NGINX passes the finished sub-request and the `data` given at its creation,
    // our RequestCtx in the main request's pool, which outlives its sub-requests.
    let (Some(sr), Some(ctx)) = (unsafe { sr.as_mut() }, unsafe {
        data.cast::<RequestCtx>().as_mut()
    }) else {
        return rc;
    };
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*sr.connection).log };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(sr, ctx, rc, log))).is_err() {
        ngx_log_error!(
            NGX_LOG_ALERT,
            log,
            "jwt_peer_auth: internal error (panic) after key request"
        );
    }
    // The outcome is recorded; an in-memory key request never fails its parent.
    if rc == ngx::ffi::NGX_ERROR as ngx_int_t {
        0
    } else {
        rc
    }
}

fn response_body(sr: &ngx_http_request_t) -> &[u8] {
    // SAFETY: for an in-memory sub-request `out` is NULL or one buffer in the sub-request
    // pool holding the whole response body between `pos` and `last`.
    unsafe {
        match sr.out.as_ref().and_then(|c| c.buf.as_ref()) {
            Some(b) if !b.pos.is_null() && b.last >= b.pos => {
                std::slice::from_raw_parts(b.pos, b.last.offset_from(b.pos) as usize)
            }
            _ => &[],
        }
    }
}

fn finish(sr: &ngx_http_request_t, ctx: &mut RequestCtx, rc: ngx_int_t, log: *mut ngx_log_t) {
    ctx.lease = false;
    ctx.waiting = false;
    let Some(zone) = ctx.zone.clone() else { return };
    let now = ngx::ffi::ngx_time();
    let status = sr.headers_out.status;
    let body = response_body(sr);
    let outcome: Result<KeySet, String> = if rc == ngx::ffi::NGX_ERROR as ngx_int_t {
        Err(format!(
            "the response could not be read (status {status}); a body larger than \
             \"subrequest_output_buffer_size\" in the key request location is cut off like this"
        ))
    } else if !(200..300).contains(&status) {
        Err(format!("status {status}"))
    } else {
        KeySet::parse(body).map_err(|e| format!("invalid JWKS ({e}, {} bytes)", body.len()))
    };
    match outcome {
        Ok(set) => match zone.publish(ctx.slot, body, now) {
            Ok(generation) => {
                let kids: Vec<&str> = set.kids().collect();
                ngx_log_error!(
                    NGX_LOG_INFO,
                    log,
                    "jwt_peer_auth: key request \"{}\": {} keys (kids: {}), generation {}",
                    ctx.uri,
                    set.len(),
                    kids.join(" "),
                    generation
                );
                keys::install(ctx.slot, generation, Rc::new(set));
            }
            Err(e) => {
                zone.fail(ctx.slot, now);
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "jwt_peer_auth: key request \"{}\": {e}; enlarge \"jwt_peer_auth_zone\"",
                    ctx.uri
                );
            }
        },
        Err(why) => {
            zone.fail(ctx.slot, now);
            let st = zone.state(ctx.slot);
            let keeping = if st.generation > 0 {
                "keeping the last good keys"
            } else {
                "no keys yet"
            };
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "jwt_peer_auth: key request \"{}\" failed: {why}; {keeping}, next attempt in {}s",
                ctx.uri,
                (st.next_attempt - now).max(0)
            );
        }
    }
}

/// Makes `r` wait `POLL_MS` and then run its phases again (the limit_req delay pattern).
pub fn poll_later(r: &mut ngx_http_request_t) -> bool {
    // SAFETY: a live request has a valid connection with read and write events.
    unsafe {
        let c = &mut *r.connection;
        if ngx_handle_read_event(c.read, 0) != 0 {
            return false;
        }
        r.read_event_handler = Some(ngx_http_test_reading);
        r.write_event_handler = Some(poll_done);
        (*c.write).set_delayed(1);
        ngx_add_timer(c.write, POLL_MS as _);
    }
    true
}

extern "C" fn poll_done(r: *mut ngx_http_request_t) {
    // SAFETY: NGINX calls the write event handler with the live request.
    let Some(r) = (unsafe { r.as_mut() }) else { return };
    // SAFETY: as above, the connection and its events are valid.
    unsafe {
        let wev = (*r.connection).write;
        if (*wev).delayed() != 0 {
            if ngx_handle_write_event(wev, 0) != 0 {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as _);
            }
            return;
        }
        if ngx_handle_read_event((*r.connection).read, 0) != 0 {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as _);
            return;
        }
        r.read_event_handler = Some(ngx_http_block_reading);
        r.write_event_handler = Some(ngx_http_core_run_phases);
        ngx_http_core_run_phases(r);
    }
}
