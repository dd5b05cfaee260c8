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

use crate::ctx::RequestCtx;
use crate::{keys, JwtPeerAuthModule};
use ngx::http::HttpModule;

/// Largest JWKS body accepted from the key request.
pub const MAX_BODY: usize = 1024 * 1024;

/// How often a request waiting for another request's fetch looks again.
pub const POLL_MS: usize = 25;

/// Starts a sub-request to `ctx.uri`; `background` refreshes without making `r` wait.
pub fn start(r: &mut Request, ctx: *mut RequestCtx, background: bool) -> bool {
    let pool = r.pool();
    let ps = pool.calloc_type::<ngx_http_post_subrequest_t>();
    let body = pool.calloc_type::<ngx_http_request_body_t>();
    // SAFETY: `ctx` points to the request's context, alive as long as the request pool.
    let uri = unsafe {
        (*ctx).too_big = false;
        (*ctx).uri
    };
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
    // The sub-request has its own copy of `headers_in`: no body means no Content-Length to
    // announce upstream (auth_request setups need `proxy_set_header Content-Length ""`).
    sr.headers_in.content_length_n = 0;
    sr.headers_in.set_chunked(0);
    // SAFETY: as above.
    unsafe { (*ctx).pending = true };
    // Mark it as a key request for the header filter.
    // SAFETY: the sub-request's `ctx` array has a slot per HTTP module.
    unsafe { *sr.ctx.add(JwtPeerAuthModule::module().ctx_index) = ctx.cast() };
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
    // NGINX may finalize a sub-request more than once (an error page after an upstream error):
    // only the first outcome counts.
    if !ctx.pending {
        return for_parent(rc);
    }
    ctx.pending = false;
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*sr.connection).log };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(sr, ctx, rc, log))).is_err() {
        ngx_log_error!(
            NGX_LOG_ALERT,
            log,
            "jwt_peer_auth: internal error (panic) after key request"
        );
    }
    for_parent(rc)
}

/// The code handed back to NGINX: the outcome is recorded by then, and a key request never
/// fails its parent, so NGX_ERROR (which would terminate the client's request) becomes NGX_OK.
fn for_parent(rc: ngx_int_t) -> ngx_int_t {
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
    // The client went away mid-fetch: nothing is known about the key service, so free the
    // lease without counting a failure or backing off.
    // SAFETY: a sub-request's connection is valid while it is.
    if rc == ngx::ffi::NGX_HTTP_CLIENT_CLOSED_REQUEST as ngx_int_t || unsafe { (*sr.connection).error() } != 0
    {
        zone.abandon(ctx.slot);
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "jwt_peer_auth: key request \"{}\" abandoned: the client closed the connection",
            ctx.uri
        );
        return;
    }
    let now = ngx::ffi::ngx_time();
    let status = sr.headers_out.status;
    let body = response_body(sr);
    let outcome: Result<KeySet, String> = if ctx.too_big {
        Err(format!("response body larger than {MAX_BODY} bytes"))
    } else if rc == ngx::ffi::NGX_ERROR as ngx_int_t {
        Err(format!("the response could not be read (status {status})"))
    } else if status == 0 {
        Err(format!("no response from the key service (NGINX status {rc})"))
    } else if !(200..300).contains(&status) {
        Err(format!("status {status}"))
    } else {
        KeySet::parse(body).map_err(|e| format!("invalid JWKS ({e}, {} bytes)", body.len()))
    };
    match outcome {
        Ok(set) => match zone.publish(ctx.slot, body, now) {
            Ok(generation) => {
                let mut kids: Vec<&str> = set.kids().take(8).collect();
                if set.len() > 8 {
                    kids.push("...");
                }
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

static mut NEXT_HEADER_FILTER: ngx::ffi::ngx_http_output_header_filter_pt = None;

/// Installs the header filter that gives key requests their in-memory body buffer.
pub fn install_header_filter() {
    // SAFETY: called once from postconfiguration, single-threaded, as every NGINX filter
    // module links itself into the chain.
    unsafe {
        NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
        ngx::ffi::ngx_http_top_header_filter = Some(header_filter);
    }
}

/// A key request is an in-memory sub-request that carries this module's context.
fn is_key_request(r: &ngx_http_request_t) -> bool {
    let idx = JwtPeerAuthModule::module().ctx_index;
    // SAFETY: every request has a `ctx` array with a slot per HTTP module.
    r.main != std::ptr::from_ref(r).cast_mut()
        && r.subrequest_in_memory() != 0
        && unsafe { !(*r.ctx.add(idx)).is_null() }
}

/// For a key request, allocates the in-memory response buffer before NGINX's postpone filter
/// would (sized by `subrequest_output_buffer_size`, 4k or 8k by default): sized to the body,
/// up to [`MAX_BODY`], so a real JWKS of tens of KiB works without extra configuration.
/// (A body that overflows an in-memory buffer makes NGINX drop the client connection, so the
/// body filter below never lets that happen.)
extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: NGINX calls header filters with a live request.
    if let Some(req) = unsafe { r.as_mut() } {
        if req.out.is_null() && is_key_request(req) {
            let n = req.headers_out.content_length_n;
            let len = usize::try_from(n).map_or(MAX_BODY, |n| n.min(MAX_BODY));
            {
                // SAFETY: buffers and chain links from the sub-request's pool, as the postpone
                // filter allocates them.
                unsafe {
                    let b = ngx::ffi::ngx_create_temp_buf(req.pool, len.max(1));
                    let cl = ngx::ffi::ngx_alloc_chain_link(req.pool);
                    if !b.is_null() && !cl.is_null() {
                        (*b).set_last_buf(1);
                        (*cl).buf = b;
                        (*cl).next = std::ptr::null_mut();
                        req.out = cl;
                    }
                }
            }
        }
    }
    // SAFETY: the next filter was set before this one was installed.
    match unsafe { NEXT_HEADER_FILTER } {
        Some(next) => unsafe { next(r) },
        None => 0,
    }
}

static mut NEXT_BODY_FILTER: ngx::ffi::ngx_http_output_body_filter_pt = None;

/// Installs the body filter that keeps key request bodies within their buffer.
pub fn install_body_filter() {
    // SAFETY: as for install_header_filter.
    unsafe {
        NEXT_BODY_FILTER = ngx::ffi::ngx_http_top_body_filter;
        ngx::ffi::ngx_http_top_body_filter = Some(body_filter);
    }
}

/// Drops a key request's body once it would overflow its buffer, marking it too big, instead
/// of letting the postpone filter fail the whole connection.
extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx::ffi::ngx_chain_t) -> ngx_int_t {
    // SAFETY: NGINX calls body filters with a live request and a chain of its buffers.
    if let Some(req) = unsafe { r.as_mut() } {
        if is_key_request(req) {
            // SAFETY: `out` was allocated by header_filter: one buffer in the sub-request pool;
            // the chain links and buffers are valid for this call.
            unsafe {
                if let Some(out) = req.out.as_ref().and_then(|c| c.buf.as_ref()) {
                    let room = out.end.offset_from(out.last) as usize;
                    let mut len = 0usize;
                    let mut cl = chain;
                    while let Some(link) = cl.as_ref() {
                        if let Some(b) = link.buf.as_ref() {
                            if b.memory() != 0 || b.temporary() != 0 || b.mmap() != 0 {
                                len += b.last.offset_from(b.pos) as usize;
                            }
                        }
                        cl = link.next;
                    }
                    let ctx = (*req.ctx.add(JwtPeerAuthModule::module().ctx_index)).cast::<RequestCtx>();
                    if len > room || ctx.as_ref().is_some_and(|c| c.too_big) {
                        if let Some(c) = ctx.as_mut() {
                            c.too_big = true;
                        }
                        let mut cl = chain;
                        while let Some(link) = cl.as_ref() {
                            if let Some(b) = link.buf.as_mut() {
                                b.pos = b.last;
                                b.file_pos = b.file_last;
                            }
                            cl = link.next;
                        }
                        return 0;
                    }
                }
            }
        }
    }
    // SAFETY: the next filter was set before this one was installed.
    match unsafe { NEXT_BODY_FILTER } {
        Some(next) => unsafe { next(r, chain) },
        None => 0,
    }
}
