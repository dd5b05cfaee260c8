//! An isolated sub-request: an in-memory GET to one of the module's internal locations (a key
//! source's, the revocation feed's) that sees none of the client's headers, body or cached
//! variables, and carries only the headers the module gives it. Used by the key fetch
//! (`fetch/`) and the revocation feed (`revocation/feed_fetch.rs`); each keeps its own
//! outcome, body limit and `Accept`.
//!
//! - [`start`]: starts one. `ngx_http_subrequest` copies the client's `headers_in` and shares
//!   its variable cache; an isolated sub-request gets a fresh, empty set of headers (`Host`,
//!   `Accept` and what the caller adds with [`push_header`]) and a cache of its own, so no
//!   client `Authorization`, `Cookie`, `Range`, `If-*` or `Accept-Encoding` can shape or
//!   poison what the service answers.
//! - [`data_of`]: the caller's state of a sub-request, recognised by its post-subrequest
//!   handler (which survives NGINX's internal redirects inside the location: `error_page`,
//!   `try_files`, `X-Accel-Redirect`).
//! - [`outcome_due`], [`for_parent`]: the start and the end of a post-subrequest handler.
//! - [`empty_out`]: an output chain with no room, for NGINX's postpone filter to find.
//! - [`output_filters!`]: a caller's header and body filters linked into NGINX's chains.

use std::cell::Cell;
use std::ffi::{c_void, CStr};

use ngx::ffi::{
    ngx_chain_t, ngx_hash_key, ngx_http_post_subrequest_t, ngx_http_request_body_t, ngx_http_request_t,
    ngx_http_subrequest, ngx_http_variable_value_t, ngx_int_t, ngx_list_init, ngx_list_push, ngx_pool_t,
    ngx_str_t, ngx_table_elt_t, NGX_HTTP_GET, NGX_HTTP_SUBREQUEST_BACKGROUND, NGX_HTTP_SUBREQUEST_IN_MEMORY,
    NGX_HTTP_SUBREQUEST_WAITED,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

/// A post-subrequest handler: it also identifies the caller's sub-requests ([`data_of`]).
pub type PostHandler = unsafe extern "C" fn(*mut ngx_http_request_t, *mut c_void, ngx_int_t) -> ngx_int_t;

/// What an isolated sub-request asks for.
pub struct Get {
    /// The internal location (configuration memory).
    pub uri: &'static str,
    /// Its `Accept` header.
    pub accept: &'static [u8],
    /// How many headers the caller adds after `Host` and `Accept`.
    pub extra_headers: usize,
    /// The client request waits for it (else it runs in the background).
    pub waited: bool,
}

/// Starts an isolated GET sub-request of the main request `r`; `handler` gets `data` when it
/// ends. Its headers are `Host`, `Accept` and those `add` pushes ([`push_header`]). `false`:
/// not started, or started without its isolation: the caller does not count on its outcome.
pub fn start(
    r: &mut ngx_http_request_t,
    get: &Get,
    handler: PostHandler,
    data: *mut c_void,
    add: impl FnOnce(&mut ngx_http_request_t) -> bool,
) -> bool {
    // SAFETY: the request pool is valid; NULL or zeroed memory for one post_subrequest.
    let post = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_post_subrequest_t>()) };
    // SAFETY: as above: NULL or a zeroed post_subrequest.
    let Some(post) = (unsafe { post.cast::<ngx_http_post_subrequest_t>().as_mut() }) else {
        return false;
    };
    // SAFETY: NULL or a zeroed request body from the request pool.
    let body = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_request_body_t>()) }
        .cast::<ngx_http_request_body_t>();
    if data.is_null() || body.is_null() {
        return false;
    }
    post.handler = Some(handler);
    post.data = data;
    let mut name = ngx_str_t {
        len: get.uri.len(),
        data: get.uri.as_ptr().cast_mut(),
    };
    let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
        | if get.waited {
            NGX_HTTP_SUBREQUEST_WAITED
        } else {
            NGX_HTTP_SUBREQUEST_BACKGROUND
        };
    let mut sr: *mut ngx_http_request_t = std::ptr::null_mut();
    // SAFETY: `r` is the main request in its (pre)access phase; `name` points into configuration
    // memory that outlives the request; `post` lives in the request pool.
    let rc = unsafe { ngx_http_subrequest(r, &mut name, std::ptr::null_mut(), &mut sr, post, flags as _) };
    // SAFETY: on success `sr` is the new sub-request.
    let Some(sr) = (unsafe { sr.as_mut() }) else {
        return false;
    };
    if rc != 0 {
        return false;
    }
    // GET and no request body, whatever the client sent.
    sr.method = NGX_HTTP_GET as _;
    sr.method_name = ngx_str_t {
        len: 3,
        data: c"GET".as_ptr().cast_mut().cast(),
    };
    sr.request_body = body;
    sr.set_header_only(0);
    sr.unparsed_uri = name;
    own_variables(sr) && own_headers(sr, get.accept, get.extra_headers) && add(sr)
}

/// Gives the sub-request its own variable values: NGINX shares the parent's cache with a
/// sub-request, so a header variable cached by either side (`$http_authorization`,
/// `$http_cookie`, `$http_host` ...) would leak into the other.
fn own_variables(sr: &mut ngx_http_request_t) -> bool {
    // SAFETY: the request's main configuration array is valid for the request.
    let request = unsafe { ngx::http::Request::from_ngx_http_request(sr) };
    let Some(n) = NgxHttpCoreModule::main_conf(request).map(|cmcf| cmcf.variables.nelts) else {
        return false;
    };
    // SAFETY: zeroed memory from the request pool for `n` variable values, as
    // ngx_http_create_request allocates them (all-zero: not yet evaluated).
    let vars = unsafe { ngx::ffi::ngx_pcalloc(sr.pool, n.max(1) * size_of::<ngx_http_variable_value_t>()) };
    if vars.is_null() {
        return false;
    }
    sr.variables = vars.cast();
    true
}

/// Gives the sub-request its own request headers: none of the client's, only `Host` (the
/// name the server was reached with, for `$host` and `$http_host`) and `Accept`, with room
/// for `extra` more.
fn own_headers(sr: &mut ngx_http_request_t, accept: &'static [u8], extra: usize) -> bool {
    let server = sr.headers_in.server;
    // SAFETY: ngx_http_headers_in_t is plain data (pointers, lengths, flags); all-zero is its
    // empty state, as ngx_pcalloc gives a new request.
    sr.headers_in = unsafe { std::mem::zeroed() };
    sr.headers_in.server = server;
    sr.headers_in.content_length_n = -1;
    sr.headers_in.keep_alive_n = -1;
    // SAFETY: the sub-request's pool is valid; the list is initialised in place.
    if unsafe {
        ngx_list_init(
            &mut sr.headers_in.headers,
            sr.pool,
            2 + extra,
            size_of::<ngx_table_elt_t>(),
        )
    } != 0
    {
        return false;
    }
    let Some(host) = push_header(sr, c"Host", c"host", server) else {
        return false;
    };
    sr.headers_in.host = host;
    let accept = ngx_str_t {
        len: accept.len(),
        data: accept.as_ptr().cast_mut(),
    };
    push_header(sr, c"Accept", c"accept", accept).is_some()
}

/// Adds a request header to a sub-request started by [`start`] (static name, value in
/// request or static memory, see [`pool_str`]).
pub fn push_header(
    sr: &mut ngx_http_request_t,
    key: &'static CStr,
    lowcase: &'static CStr,
    value: ngx_str_t,
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: the list was initialised by own_headers; push returns NULL or an uninitialised
    // element.
    let p = unsafe { ngx_list_push(&mut sr.headers_in.headers) }.cast::<ngx_table_elt_t>();
    // SAFETY: as above.
    let h = unsafe { p.as_mut() }?;
    let low = lowcase.to_bytes();
    // SAFETY: ngx_hash_key only reads `len` bytes of the static lowercase name.
    h.hash = unsafe { ngx_hash_key(low.as_ptr().cast_mut(), low.len()) };
    h.key = ngx_str_t {
        len: key.to_bytes().len(),
        data: key.as_ptr().cast_mut().cast(),
    };
    h.value = value;
    h.lowcase_key = lowcase.as_ptr().cast_mut().cast();
    #[cfg(ngx_table_elt_next)]
    {
        h.next = std::ptr::null_mut();
    }
    Some(p)
}

/// A copy of `s` in the sub-request's pool.
pub fn pool_str(sr: &ngx_http_request_t, s: &str) -> Option<ngx_str_t> {
    // SAFETY: the pool is valid; NULL or `s.len()` bytes.
    let p = unsafe { ngx::ffi::ngx_pnalloc(sr.pool, s.len()) }.cast::<u8>();
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` has room for `s.len()` bytes and does not overlap `s`.
    unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len()) };
    Some(ngx_str_t {
        len: s.len(),
        data: p,
    })
}

/// The `data` a sub-request's post-subrequest handler gets, if `r` is a sub-request started
/// with `handler` (also after internal redirects inside its location); NULL-checked.
pub fn data_of(r: &ngx_http_request_t, handler: PostHandler) -> Option<*mut c_void> {
    if std::ptr::eq(r.main, r) {
        return None;
    }
    // SAFETY: NULL or the post_subrequest given to ngx_http_subrequest, in the request pool.
    let ps = unsafe { r.post_subrequest.as_ref() }?;
    // A non-generic `extern "C"` function has one symbol: its address identifies the caller's
    // sub-requests.
    if !ps.handler.is_some_and(|h| std::ptr::fn_addr_eq(h, handler)) {
        return None;
    }
    (!ps.data.is_null()).then_some(ps.data)
}

/// The start of a post-subrequest handler, called at each finalization with `rc`: `None` when
/// the outcome is to be taken now (once: `pending` is cleared), else the code to return.
///
/// - Output still in flight (aio, threads, postponed data): NGINX finalizes again when done.
/// - An error status is not the outcome yet: NGINX now runs the location's `error_page` (an
///   internal redirect that may still deliver the answer) or sends its own error page, and
///   finalizes again; the status NGINX set is kept in `nginx_status`.
/// - NGINX may finalize a sub-request more than once: only the first outcome counts.
pub fn outcome_due(
    sr: &ngx_http_request_t,
    rc: ngx_int_t,
    pending: &Cell<bool>,
    nginx_status: &Cell<ngx_int_t>,
) -> Option<ngx_int_t> {
    let still_writing = sr.buffered() != 0 || !sr.postponed.is_null();
    if rc == ngx::ffi::NGX_AGAIN as ngx_int_t
        || (still_writing && (rc == 0 || rc == ngx::ffi::NGX_DONE as ngx_int_t))
    {
        return Some(rc);
    }
    if special_response_pending(sr, rc) {
        if pending.get() {
            nginx_status.set(rc);
        }
        return Some(rc);
    }
    if !pending.replace(false) {
        return Some(for_parent(rc));
    }
    None
}

/// Whether NGINX will handle `rc` as a special response (error page) and finalize again,
/// rather than terminate the request (timeouts, `444`, a client gone, errors).
fn special_response_pending(sr: &ngx_http_request_t, rc: ngx_int_t) -> bool {
    const CREATED: ngx_int_t = 201;
    const NO_CONTENT: ngx_int_t = 204;
    const TIME_OUT: ngx_int_t = 408;
    const CLOSE: ngx_int_t = 444;
    const CLIENT_CLOSED: ngx_int_t = 499;
    // SAFETY: a sub-request's connection is valid while it is.
    let error = unsafe { (*sr.connection).error() } != 0;
    !error
        && (rc >= 300 && !matches!(rc, TIME_OUT | CLOSE | CLIENT_CLOSED)
            || matches!(rc, CREATED | NO_CONTENT))
}

/// The code handed back to NGINX: the outcome is recorded by then, and an isolated
/// sub-request never fails its parent, so NGX_ERROR and 444 (which would terminate the
/// client's request) become NGX_OK.
pub fn for_parent(rc: ngx_int_t) -> ngx_int_t {
    const CLOSE: ngx_int_t = 444;
    if rc == ngx::ffi::NGX_ERROR as ngx_int_t || rc == CLOSE {
        0
    } else {
        rc
    }
}

/// A chain of one empty buffer with no room, from `pool`: NGINX's postpone filter takes it
/// for its in-memory buffer and finds nothing to copy into it (so `out` never dangles and
/// never grows). `last_buf`: marked as the last buffer. NULL only if an allocation fails.
pub fn empty_out(pool: *mut ngx_pool_t, last_buf: bool) -> *mut ngx_chain_t {
    // SAFETY: a buffer and a chain link from the (request's) pool, valid while it is.
    unsafe {
        let b = ngx::ffi::ngx_create_temp_buf(pool, 1);
        let cl = ngx::ffi::ngx_alloc_chain_link(pool);
        if b.is_null() || cl.is_null() {
            return std::ptr::null_mut();
        }
        (*b).end = (*b).last;
        if last_buf {
            (*b).set_last_buf(1);
        }
        (*cl).buf = b;
        (*cl).next = std::ptr::null_mut();
        cl
    }
}

/// Defines the links of a caller's pair of output filters: `fn $install()` links
/// `$header` and `$body` into NGINX's chains (postconfiguration), and `next_header(r)` /
/// `next_body(r, chain)` call the filters after them.
macro_rules! output_filters {
    ($install:ident, $header:ident, $body:ident) => {
        static mut NEXT_HEADER_FILTER: ngx::ffi::ngx_http_output_header_filter_pt = None;
        static mut NEXT_BODY_FILTER: ngx::ffi::ngx_http_output_body_filter_pt = None;

        /// Links this file's header and body filters into NGINX's chains (postconfiguration).
        pub fn $install() {
            // SAFETY: called once from postconfiguration, single-threaded, as every NGINX
            // filter module links itself into the chains.
            unsafe {
                NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
                ngx::ffi::ngx_http_top_header_filter = Some($header);
                NEXT_BODY_FILTER = ngx::ffi::ngx_http_top_body_filter;
                ngx::ffi::ngx_http_top_body_filter = Some($body);
            }
        }

        /// The header filter after this file's.
        fn next_header(r: *mut ngx::ffi::ngx_http_request_t) -> ngx::ffi::ngx_int_t {
            // SAFETY: the next filter was set before this one was installed.
            match unsafe { NEXT_HEADER_FILTER } {
                // SAFETY: NGINX's next header filter, called with the request it gave this one.
                Some(next) => unsafe { next(r) },
                None => 0,
            }
        }

        /// The body filter after this file's.
        fn next_body(
            r: *mut ngx::ffi::ngx_http_request_t,
            chain: *mut ngx::ffi::ngx_chain_t,
        ) -> ngx::ffi::ngx_int_t {
            // SAFETY: the next filter was set before this one was installed.
            match unsafe { NEXT_BODY_FILTER } {
                // SAFETY: NGINX's next body filter, called with the request and chain it gave
                // this one.
                Some(next) => unsafe { next(r, chain) },
                None => 0,
            }
        }
    };
}
pub(crate) use output_filters;
