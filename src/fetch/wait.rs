//! Waiting for another request's fetch: the request sleeps on a short timer and then runs its
//! phases again (the limit_req delay pattern), until keys appear or the fetch's lease ends.

use ngx::ffi::{
    ngx_add_timer, ngx_handle_read_event, ngx_handle_write_event, ngx_http_block_reading,
    ngx_http_core_run_phases, ngx_http_finalize_request, ngx_http_request_t, ngx_http_test_reading,
    NGX_HTTP_INTERNAL_SERVER_ERROR,
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
        if ngx_handle_read_event((*r.connection).read, 0) != 0 {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR as _);
            return;
        }
        r.read_event_handler = Some(ngx_http_block_reading);
        r.write_event_handler = Some(ngx_http_core_run_phases);
        ngx_http_core_run_phases(r);
    }
}
