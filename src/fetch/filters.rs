//! The header and body filters of key requests. NGINX's postpone filter would collect an
//! in-memory sub-request's body in a buffer of `subrequest_output_buffer_size` (4k or 8k) from
//! the client request's pool, and drop the client's connection when the body does not fit.
//! For a key request the header filter instead allocates one buffer sized to the body (up to
//! its limit: [`super::MAX_BODY`], a discovery document's smaller) in a pool of the fetch's own, released as soon as the outcome is recorded, so
//! a long-lived request (a websocket) that happened to trigger a fetch does not hold it; the
//! body filter drops what would overflow and marks the fetch too big.

use ngx::ffi::{
    ngx_alloc_chain_link, ngx_chain_t, ngx_create_pool, ngx_create_temp_buf, ngx_http_request_t, ngx_int_t,
    NGX_ERROR,
};

use super::{of_request, Fetch};

crate::subrequest::output_filters!(install, header_filter, body_filter);

/// Allocates the key request's response buffer in a pool of the fetch's own.
fn allocate_buffer(r: &mut ngx_http_request_t, fetch: &Fetch) -> bool {
    let len = usize::try_from(r.headers_out.content_length_n).map_or(fetch.limit, |n| n.min(fetch.limit));
    // SAFETY: a new pool for this fetch (released by Fetch::release_buffer) and one buffer and
    // chain link from it, as the postpone filter would allocate them.
    unsafe {
        let pool = ngx_create_pool(4096, (*r.connection).log);
        if pool.is_null() {
            return false;
        }
        fetch.release_buffer();
        fetch.buffer_pool.set(pool);
        let b = ngx_create_temp_buf(pool, len.max(1));
        let cl = ngx_alloc_chain_link(pool);
        if b.is_null() || cl.is_null() {
            return false;
        }
        (*b).set_last_buf(1);
        (*cl).buf = b;
        (*cl).next = std::ptr::null_mut();
        r.out = cl;
    }
    true
}

extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    let ok = std::panic::catch_unwind(|| {
        // SAFETY: NGINX calls header filters with a live request.
        let Some(req) = (unsafe { r.as_mut() }) else {
            return true;
        };
        match of_request(req) {
            Some(fetch) if fetch.pending.get() && req.out.is_null() => allocate_buffer(req, fetch),
            _ => true,
        }
    });
    if !matches!(ok, Ok(true)) {
        return NGX_ERROR as ngx_int_t;
    }
    next_header(r)
}

/// Bytes of data in `chain`.
fn chain_len(chain: *mut ngx_chain_t) -> usize {
    let mut len = 0usize;
    let mut cl = chain;
    // SAFETY: the chain links and buffers are valid for the filter call.
    while let Some(link) = unsafe { cl.as_ref() } {
        // SAFETY: a link's buffer is NULL or valid for the filter call.
        if let Some(b) = unsafe { link.buf.as_ref() } {
            if b.memory() != 0 || b.temporary() != 0 || b.mmap() != 0 {
                len += b.last as usize - b.pos as usize;
            }
        }
        cl = link.next;
    }
    len
}

/// Marks every buffer of `chain` consumed.
fn consume(chain: *mut ngx_chain_t) {
    let mut cl = chain;
    // SAFETY: as in chain_len; the buffers are the filter's to consume.
    while let Some(link) = unsafe { cl.as_ref() } {
        // SAFETY: a link's buffer is NULL or valid for the filter call, and the filter's to
        // consume; no other reference to it is held here.
        if let Some(b) = unsafe { link.buf.as_mut() } {
            b.pos = b.last;
            b.file_pos = b.file_last;
        }
        cl = link.next;
    }
}

/// Room left in the key request's buffer.
fn room(r: &ngx_http_request_t) -> usize {
    // SAFETY: `out` is NULL (never allocated, or reset when the buffer was released) or the
    // buffer allocate_buffer made, alive while the fetch is pending.
    unsafe { r.out.as_ref().and_then(|c| c.buf.as_ref()) }.map_or(0, |b| b.end as usize - b.last as usize)
}

extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    let pass = std::panic::catch_unwind(|| {
        // SAFETY: NGINX calls body filters with a live request.
        let Some(req) = (unsafe { r.as_ref() }) else {
            return true;
        };
        let Some(fetch) = of_request(req) else { return true };
        let len = chain_len(chain);
        // A key request whose outcome is recorded (output after an error page) or whose body
        // would overflow: its data is swallowed, never passed on to overflow NGINX's buffer
        // (calls without data still pass, so buffered output can drain).
        if len > 0 && (!fetch.pending.get() || fetch.too_big.get() || len > room(req)) {
            if fetch.pending.get() {
                fetch.too_big.set(true);
            }
            consume(chain);
            return false;
        }
        true
    });
    match pass {
        Ok(true) => {}
        Ok(false) => return 0,
        Err(_) => return NGX_ERROR as ngx_int_t,
    }
    next_body(r, chain)
}
