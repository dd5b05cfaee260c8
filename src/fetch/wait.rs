//! Waiting for another request's fetch: the request sleeps on a short timer and then runs its
//! phases again (the limit_req delay pattern), until keys appear or the fetch's lease ends.
//!
//! A client that goes away while its request waits is let go at once with 499, as NGINX's own
//! `ngx_http_test_reading` does: with epoll, a FIN that came with (or right after) the request
//! was reported before the wait began (`pending_eof`) and gives no new read event, so every
//! poll looks at it ([`client_gone`]); a request whose client is gone never starts a fetch
//! (its abandonment would put every other request of the source in a cool-down) nor waits.

use crate::log::log;
use ngx::ffi::{
    ngx_add_timer, ngx_handle_read_event, ngx_handle_write_event, ngx_http_block_reading,
    ngx_http_core_run_phases, ngx_http_finalize_request, ngx_http_request_t, ngx_http_test_reading,
    NGX_HTTP_CLIENT_CLOSED_REQUEST, NGX_HTTP_INTERNAL_SERVER_ERROR,
};

/// How often a request waiting for another request's fetch looks again.
pub const POLL_MS: usize = 25;

/// Makes `r` wait `POLL_MS` and then run its phases again.
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
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| resume(r))).is_err() {
        // SAFETY: the live request.
        unsafe { ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as _) };
    }
}

/// Whether the client of `r` closed its side of the connection: NGINX's epoll module noted
/// the FIN (`EPOLLRDHUP`) as `pending_eof`, or a read saw the end (`eof`). NGINX ends a
/// request waiting without reading on the same sign (`ngx_http_test_reading`).
pub fn client_gone(r: &ngx_http_request_t) -> bool {
    // SAFETY: a live request has a valid connection with a read event.
    let rev = unsafe { &*(*r.connection).read };
    rev.pending_eof() != 0 || rev.eof() != 0
}

/// Marks the connection of `r`, whose client is gone, as failed and logs it; returns 499 for a
/// phase handler to end the request with (NGINX then terminates it without a response).
pub fn gone(r: &mut ngx_http_request_t) -> ngx::ffi::ngx_int_t {
    // SAFETY: the live request's connection and its log.
    let c = unsafe { &mut *r.connection };
    log!(
        INFO,
        c.log,
        "client closed the connection while its request waited for keys"
    );
    c.set_error(1);
    NGX_HTTP_CLIENT_CLOSED_REQUEST as _
}

/// Ends `r`, whose client is gone, with 499 (as `ngx_http_test_reading` does); the caller
/// must not touch `r` afterwards.
fn let_go(r: &mut ngx_http_request_t) {
    let rc = gone(r);
    // SAFETY: the live request.
    unsafe { ngx_http_finalize_request(r, rc) };
}

fn resume(r: &mut ngx_http_request_t) {
    // SAFETY: the live request's connection and its events are valid.
    unsafe {
        let wev = (*r.connection).write;
        if (*wev).delayed() != 0 {
            if ngx_handle_write_event(wev, 0) != 0 {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as _);
            }
            return;
        }
        if client_gone(r) {
            let_go(r);
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
