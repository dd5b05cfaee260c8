//! Fetching the revocation feed: a background GET sub-request to the feed's internal location,
//! with the isolation of the key fetch (`src/fetch/start.rs`: no client header, body or cached
//! variable reaches it) plus the only headers it adds, `If-None-Match` and
//! `If-Modified-Since` from the last answer, so that an unchanged feed costs a `304`.
//!
//! Its body is collected by this file's filters into a buffer of its own (up to the core's
//! `feed::MAX_FEED`), never passed on. A `200` is handed to a thread that parses it, diffs it
//! against the snapshot of the feed applied last, applies only the changes
//! ([`List::apply_feed`]: a few hundred tree operations per lock hold), then writes the new
//! snapshot (a new file renamed over the old one); the worker's event loop never parses or
//! applies a large feed. Any other answer (status, size, `Content-Encoding`, JSON) keeps the
//! last list and is logged.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::sync::atomic::Ordering;

use jwt_peer_auth_core::feed::{self, Change, Validators, MAX_FEED};
use jwt_peer_auth_core::jwk::printable;
use jwt_peer_auth_core::revocation::Entry;
use ngx::ffi::{
    ngx_chain_t, ngx_hash_key, ngx_http_output_body_filter_pt, ngx_http_output_header_filter_pt,
    ngx_http_post_subrequest_t, ngx_http_request_body_t, ngx_http_request_t, ngx_http_subrequest,
    ngx_http_variable_value_t, ngx_int_t, ngx_list_init, ngx_list_push, ngx_log_t, ngx_str_t,
    ngx_table_elt_t, NGX_ERROR, NGX_HTTP_GET, NGX_HTTP_SUBREQUEST_BACKGROUND, NGX_HTTP_SUBREQUEST_IN_MEMORY,
    NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_NOTICE,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};
use ngx::ngx_log_error;

use super::feed::{fresh, now_ms, Feed, FETCH_STALE_MS};
use super::list::List;

const ACCEPT: &[u8] = b"application/json";

/// One feed request, in a cleanup entry of the client request's pool.
struct FeedFetch {
    list: List,
    feed: &'static Feed,
    /// The outcome is not taken yet.
    pending: Cell<bool>,
    /// Validators were sent (a `304` is only an answer to them).
    conditional: bool,
    body: RefCell<Vec<u8>>,
    too_big: Cell<bool>,
    /// The upstream's temporary file could not be read.
    unreadable: Cell<bool>,
    /// The status NGINX itself set (an upstream error) before an error page ran.
    nginx_status: Cell<ngx_int_t>,
}

impl Drop for FeedFetch {
    fn drop(&mut self) {
        if self.pending.get() {
            // Never answered (the request ended first): the next due refresh may start.
            self.list.feed().busy_ms.store(0, Ordering::Release);
        }
    }
}

extern "C" fn drop_fetch(data: *mut c_void) {
    // SAFETY: `data` is the FeedFetch written by `start`, dropped exactly once, with its pool.
    let _ = std::panic::catch_unwind(|| unsafe { std::ptr::drop_in_place(data.cast::<FeedFetch>()) });
}

/// Starts a refresh if one is due: `interval` after the last one started, none running (or the
/// running one older than [`FETCH_STALE_MS`]). One worker wins the due slot.
pub fn maybe_start(r: &mut ngx_http_request_t, f: &'static Feed, list: &List, now: u64) {
    let st = list.feed();
    let tried = st.tried_ms.load(Ordering::Acquire);
    if tried != 0 && now.saturating_sub(tried) < f.interval_ms {
        return;
    }
    let busy = st.busy_ms.load(Ordering::Acquire);
    if busy != 0 && now.saturating_sub(busy) < FETCH_STALE_MS {
        return;
    }
    if st
        .tried_ms
        .compare_exchange(tried, now, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    st.busy_ms.store(now, Ordering::Release);
    if !start(r, f, list) {
        st.busy_ms.store(0, Ordering::Release);
        // SAFETY: a live request's connection and its log.
        let log = unsafe { (*r.connection).log };
        ngx_log_error!(
            NGX_LOG_ERR,
            log,
            "jwt_peer_auth: revocation feed \"{}\": the feed request could not be started",
            f.uri
        );
    }
}

fn start(r: &mut ngx_http_request_t, f: &'static Feed, list: &List) -> bool {
    let validators = list.with_feed_text(|t| t.validators());
    let fetch = FeedFetch {
        list: list.clone(),
        feed: f,
        pending: Cell::new(false),
        conditional: validators.etag.is_some() || validators.last_modified.is_some(),
        body: RefCell::new(Vec::new()),
        too_big: Cell::new(false),
        unreadable: Cell::new(false),
        nginx_status: Cell::new(0),
    };
    let fetch = crate::glue::add_cleanup(r.pool, fetch, drop_fetch);
    // SAFETY: the request pool is valid; NULL or zeroed memory for one post_subrequest.
    let post = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_post_subrequest_t>()) };
    // SAFETY: as above.
    let Some(post) = (unsafe { post.cast::<ngx_http_post_subrequest_t>().as_mut() }) else {
        return false;
    };
    // SAFETY: NULL or a zeroed request body from the request pool.
    let body = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_request_body_t>()) }
        .cast::<ngx_http_request_body_t>();
    if fetch.is_null() || body.is_null() {
        return false;
    }
    post.handler = Some(feed_fetched);
    post.data = fetch.cast();
    let mut name = ngx_str_t {
        len: f.uri.len(),
        data: f.uri.as_ptr().cast_mut(),
    };
    let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY | NGX_HTTP_SUBREQUEST_BACKGROUND;
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
    sr.method = NGX_HTTP_GET as _;
    sr.method_name = ngx_str_t {
        len: 3,
        data: c"GET".as_ptr().cast_mut().cast(),
    };
    sr.request_body = body;
    sr.set_header_only(0);
    sr.unparsed_uri = name;
    if !own_variables(sr) || !own_headers(sr, &validators) {
        return false;
    }
    // SAFETY: `fetch` was written above and lives in the request pool.
    unsafe { (*fetch).pending.set(true) };
    true
}

/// The sub-request's own variable values (NGINX shares the parent's cache), as the key fetch.
fn own_variables(sr: &mut ngx_http_request_t) -> bool {
    // SAFETY: the request's main configuration array is valid for the request.
    let request = unsafe { ngx::http::Request::from_ngx_http_request(sr) };
    let Some(n) = NgxHttpCoreModule::main_conf(request).map(|cmcf| cmcf.variables.nelts) else {
        return false;
    };
    // SAFETY: zeroed memory from the request pool for `n` variable values (not yet evaluated).
    let vars = unsafe { ngx::ffi::ngx_pcalloc(sr.pool, n.max(1) * size_of::<ngx_http_variable_value_t>()) };
    if vars.is_null() {
        return false;
    }
    sr.variables = vars.cast();
    true
}

/// The sub-request's own request headers: `Host`, `Accept` and the validators of the last
/// answer, none of the client's.
fn own_headers(sr: &mut ngx_http_request_t, v: &Validators) -> bool {
    let server = sr.headers_in.server;
    // SAFETY: ngx_http_headers_in_t is plain data; all-zero is its empty state, as ngx_pcalloc
    // gives a new request.
    sr.headers_in = unsafe { std::mem::zeroed() };
    sr.headers_in.server = server;
    sr.headers_in.content_length_n = -1;
    sr.headers_in.keep_alive_n = -1;
    // SAFETY: the sub-request's pool is valid; the list is initialised in place.
    if unsafe {
        ngx_list_init(
            &mut sr.headers_in.headers,
            sr.pool,
            4,
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
        len: ACCEPT.len(),
        data: ACCEPT.as_ptr().cast_mut(),
    };
    if push_header(sr, c"Accept", c"accept", accept).is_none() {
        return false;
    }
    if let Some(etag) = v.etag.as_deref().filter(|e| feed::usable_validator(e.as_bytes())) {
        let Some(value) = pool_str(sr, etag) else {
            return false;
        };
        let Some(h) = push_header(sr, c"If-None-Match", c"if-none-match", value) else {
            return false;
        };
        sr.headers_in.if_none_match = h;
    }
    if let Some(lm) = v
        .last_modified
        .as_deref()
        .filter(|e| feed::usable_validator(e.as_bytes()))
    {
        let Some(value) = pool_str(sr, lm) else {
            return false;
        };
        let Some(h) = push_header(sr, c"If-Modified-Since", c"if-modified-since", value) else {
            return false;
        };
        sr.headers_in.if_modified_since = h;
    }
    true
}

/// A copy of `s` in the sub-request's pool.
fn pool_str(sr: &ngx_http_request_t, s: &str) -> Option<ngx_str_t> {
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

fn push_header(
    sr: &mut ngx_http_request_t,
    key: &'static std::ffi::CStr,
    lowcase: &'static std::ffi::CStr,
    value: ngx_str_t,
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: the list was initialised by own_headers; NULL or an uninitialised element.
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

/// The feed request `r` runs, if it is one (also after internal redirects in its location).
fn of_request<'f>(r: &ngx_http_request_t) -> Option<&'f FeedFetch> {
    if std::ptr::eq(r.main, r) {
        return None;
    }
    // SAFETY: NULL or the post_subrequest given to ngx_http_subrequest, in the request pool.
    let ps = unsafe { r.post_subrequest.as_ref() }?;
    let ours =
        feed_fetched as unsafe extern "C" fn(*mut ngx_http_request_t, *mut c_void, ngx_int_t) -> ngx_int_t;
    if !ps.handler.is_some_and(|h| std::ptr::fn_addr_eq(h, ours)) {
        return None;
    }
    // SAFETY: for our handler, `data` is the FeedFetch written by `start` into the pool shared
    // by the main request and its sub-requests.
    unsafe { ps.data.cast::<FeedFetch>().as_ref() }
}

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;
static mut NEXT_BODY_FILTER: ngx_http_output_body_filter_pt = None;

/// Links the feed request's filters into NGINX's chains (postconfiguration).
pub fn install_filters() {
    // SAFETY: called once from postconfiguration, single-threaded, as every NGINX filter
    // module links itself into the chains.
    unsafe {
        NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
        ngx::ffi::ngx_http_top_header_filter = Some(header_filter);
        NEXT_BODY_FILTER = ngx::ffi::ngx_http_top_body_filter;
        ngx::ffi::ngx_http_top_body_filter = Some(body_filter);
    }
}

extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: NGINX calls header filters with a live request.
        let Some(req) = (unsafe { r.as_mut() }) else {
            return;
        };
        if let Some(fetch) = of_request(req) {
            if usize::try_from(req.headers_out.content_length_n).is_ok_and(|n| n > MAX_FEED) {
                fetch.too_big.set(true);
            }
            if req.out.is_null() {
                // NGINX's postpone filter would size a buffer of its own to the response
                // (refusing one over `subrequest_output_buffer_size`) at the first call that
                // reaches it: the body filter below keeps the data, only empty calls pass.
                req.out = stub_out(req);
            }
        }
    });
    // SAFETY: the next filter was set before this one was installed.
    match unsafe { NEXT_HEADER_FILTER } {
        // SAFETY: NGINX's next header filter, called with the request it gave this one.
        Some(next) => unsafe { next(r) },
        None => 0,
    }
}

/// A chain of one empty buffer with no room (from the request's pool): the postpone filter
/// takes it for its in-memory buffer and finds nothing to copy. NULL only if that allocation
/// fails (the postpone filter then allocates its own and may refuse a large feed: logged).
fn stub_out(r: &ngx_http_request_t) -> *mut ngx_chain_t {
    // SAFETY: a buffer and a chain link from the request's pool, valid while it is.
    unsafe {
        let b = ngx::ffi::ngx_create_temp_buf(r.pool, 1);
        let cl = ngx::ffi::ngx_alloc_chain_link(r.pool);
        if b.is_null() || cl.is_null() {
            return std::ptr::null_mut();
        }
        (*b).end = (*b).last;
        (*b).set_last_buf(1);
        (*cl).buf = b;
        (*cl).next = std::ptr::null_mut();
        cl
    }
}

extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    let swallowed = std::panic::catch_unwind(|| {
        // SAFETY: NGINX calls body filters with a live request.
        let req = unsafe { r.as_ref() }?;
        let fetch = of_request(req)?;
        let mut had_data = false;
        let mut cl = chain;
        // SAFETY: the chain links and buffers are valid for the filter call and this filter's
        // to consume (nothing of a feed request is passed on).
        while let Some(link) = unsafe { cl.as_ref() } {
            // SAFETY: as above.
            if let Some(b) = unsafe { link.buf.as_mut() } {
                let in_memory = b.memory() != 0 || b.temporary() != 0 || b.mmap() != 0;
                // A large answer may come in buffers of the upstream's temporary file.
                let in_file = !in_memory && b.in_file() != 0 && !b.file.is_null() && b.file_last > b.file_pos;
                if (in_memory && b.last > b.pos) || in_file {
                    had_data = true;
                    let mut body = fetch.body.borrow_mut();
                    let len = if in_memory {
                        b.last as usize - b.pos as usize
                    } else {
                        (b.file_last - b.file_pos) as usize
                    };
                    if fetch.pending.get() && !fetch.too_big.get() {
                        if body.len() + len > MAX_FEED || body.try_reserve(len).is_err() {
                            fetch.too_big.set(true);
                            *body = Vec::new();
                        } else if in_memory {
                            // SAFETY: `pos..last` is the buffer's data.
                            body.extend_from_slice(unsafe { std::slice::from_raw_parts(b.pos, len) });
                        } else {
                            let at = body.len();
                            body.resize(at + len, 0);
                            // SAFETY: `file` is the upstream's open temporary file holding
                            // `file_pos..file_last`; the destination has room for `len` bytes.
                            let n = unsafe {
                                ngx::ffi::ngx_read_file(b.file, body[at..].as_mut_ptr(), len, b.file_pos)
                            };
                            if usize::try_from(n).ok() != Some(len) {
                                // Read short or failed: the answer is not used.
                                fetch.too_big.set(true);
                                fetch.unreadable.set(true);
                                *body = Vec::new();
                            }
                        }
                    }
                    b.pos = b.last;
                    b.file_pos = b.file_last;
                }
            }
            cl = link.next;
        }
        Some(had_data)
    });
    match swallowed {
        Ok(Some(true)) => return 0,
        Ok(_) => {}
        Err(_) => return NGX_ERROR as ngx_int_t,
    }
    // SAFETY: the next filter was set before this one was installed.
    match unsafe { NEXT_BODY_FILTER } {
        // SAFETY: NGINX's next body filter, called with the request and chain it gave this one.
        Some(next) => unsafe { next(r, chain) },
        None => 0,
    }
}

/// Whether NGINX will run an error page for `rc` and finalize again (as the key fetch).
fn special_response_pending(sr: &ngx_http_request_t, rc: ngx_int_t) -> bool {
    // SAFETY: a sub-request's connection is valid while it is.
    let error = unsafe { (*sr.connection).error() } != 0;
    !error && (rc >= 300 && !matches!(rc, 408 | 444 | 499) || matches!(rc, 201 | 204))
}

fn for_parent(rc: ngx_int_t) -> ngx_int_t {
    if rc == NGX_ERROR as ngx_int_t || rc == 444 {
        0
    } else {
        rc
    }
}

/// The post-subrequest handler of feed requests. Panics never cross into NGINX.
unsafe extern "C" fn feed_fetched(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    // SAFETY: NGINX passes the finished sub-request and the `data` given at its creation.
    let (Some(sr), Some(fetch)) = (unsafe { sr.as_mut() }, unsafe {
        data.cast::<FeedFetch>().as_ref()
    }) else {
        return rc;
    };
    let still_writing = sr.buffered() != 0 || !sr.postponed.is_null();
    if rc == ngx::ffi::NGX_AGAIN as ngx_int_t
        || (still_writing && (rc == 0 || rc == ngx::ffi::NGX_DONE as ngx_int_t))
    {
        return rc;
    }
    if special_response_pending(sr, rc) {
        if fetch.pending.get() {
            fetch.nginx_status.set(rc);
        }
        return rc;
    }
    if !fetch.pending.replace(false) {
        return for_parent(rc);
    }
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*sr.connection).log };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(sr, fetch, rc, log))).is_err() {
        fetch.list.feed().busy_ms.store(0, Ordering::Release);
        ngx_log_error!(
            ngx::ffi::NGX_LOG_ALERT,
            log,
            "jwt_peer_auth: internal error (panic) after the revocation feed request"
        );
    }
    for_parent(rc)
}

/// A response header's value, if set.
fn header(h: *mut ngx_table_elt_t) -> Option<String> {
    // SAFETY: NULL or an element of the sub-request's output header list.
    let h = unsafe { h.as_ref() }?;
    (h.hash != 0).then(|| String::from_utf8_lossy(h.value.as_bytes()).into_owned())
}

fn finish(sr: &ngx_http_request_t, fetch: &FeedFetch, rc: ngx_int_t, log: *mut ngx_log_t) {
    let status = sr.headers_out.status;
    let encoding = header(sr.headers_out.content_encoding).filter(|e| !e.eq_ignore_ascii_case("identity"));
    let failure = if fetch.unreadable.get() {
        Some("the answer's temporary file could not be read".to_owned())
    } else if fetch.too_big.get() {
        Some(format!("the answer is larger than {MAX_FEED} bytes"))
    } else if status == 0 || usize::try_from(fetch.nginx_status.get()).is_ok_and(|s| s == status) {
        let code = if status == 0 { rc as i64 } else { status as i64 };
        Some(format!("no answer from the feed (NGINX status {code})"))
    } else if status == 304 && fetch.conditional {
        None
    } else if status != 200 {
        Some(format!("status {status}"))
    } else if rc == NGX_ERROR as ngx_int_t || rc >= 300 {
        Some(format!("the answer could not be read (NGINX status {rc})"))
    } else {
        encoding.map(|enc| format!("the answer has Content-Encoding \"{}\"", printable(&enc, 32)))
    };
    let list = &fetch.list;
    let st = list.feed();
    if let Some(why) = failure {
        return failed(list, fetch.feed, &why, log);
    }
    if status == 304 {
        st.not_modified.fetch_add(1, Ordering::AcqRel);
        list.with_feed_text(|t| t.error.set(b""));
        fresh(list, log, &fetch.feed.uri, now_ms());
        touch_snapshot(&fetch.feed.snapshot);
        st.busy_ms.store(0, Ordering::Release);
        ngx_log_error!(
            NGX_LOG_INFO,
            log,
            "jwt_peer_auth: revocation feed \"{}\": not modified",
            fetch.feed.uri
        );
        return;
    }
    let validators = Validators {
        etag: header(sr.headers_out.etag).filter(|v| feed::usable_validator(v.as_bytes())),
        last_modified: header(sr.headers_out.last_modified).filter(|v| feed::usable_validator(v.as_bytes())),
    };
    let body = std::mem::take(&mut *fetch.body.borrow_mut());
    let job = Job {
        list: list.clone(),
        feed: fetch.feed,
        body,
        validators,
        // The cycle's log: the request's (its connection's) may be gone before the thread ends.
        // SAFETY: NGINX sets `ngx_cycle` before any request; its log lives as long as the cycle.
        log: unsafe { (*ngx::ffi::ngx_cycle).log },
    };
    // Parsing, diffing and applying a large feed takes longer than a request may wait: a
    // thread of its own (file and zone work only; the zone's lock is taken per slice).
    let spawned = std::thread::Builder::new()
        .name("jwt-rev-feed".into())
        .spawn(move || {
            let job = job;
            let list = job.list.clone();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&job))).is_err() {
                list.with_feed_text(|t| t.error.set(b"internal error (panic) applying the feed"));
            }
            list.feed().busy_ms.store(0, Ordering::Release);
        });
    if spawned.is_err() {
        failed(
            list,
            fetch.feed,
            "cannot start the thread that applies the feed",
            log,
        );
    }
}

fn failed(list: &List, f: &Feed, why: &str, log: *mut ngx_log_t) {
    let st = list.feed();
    st.failures.fetch_add(1, Ordering::AcqRel);
    list.with_feed_text(|t| t.error.set(why.as_bytes()));
    st.busy_ms.store(0, Ordering::Release);
    ngx_log_error!(
        NGX_LOG_ERR,
        log,
        "jwt_peer_auth: revocation feed \"{}\" failed: {why}; keeping the last list",
        f.uri
    );
}

/// A `200` to apply, moved to the applying thread.
struct Job {
    list: List,
    feed: &'static Feed,
    body: Vec<u8>,
    validators: Validators,
    log: *mut ngx_log_t,
}

// SAFETY: the List refers to the shared zone, mapped for the life of the process and only
// changed under its lock (the slab mutex, an atomic word any thread can take); the Feed is
// configuration memory that lives as long as the worker; the log is the cycle's, whose writes
// are single write(2) calls.
unsafe impl Send for Job {}

fn unix_now() -> (i64, u64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.as_millis() as u64)
}

fn apply(job: &Job) {
    let (now, started) = unix_now();
    let f = job.feed;
    let list = &job.list;
    let new = match feed::parse(&job.body, now) {
        Ok(e) => e,
        Err(why) => {
            return failed(
                list,
                f,
                &format!("invalid feed ({why}, {} bytes)", job.body.len()),
                job.log,
            )
        }
    };
    let st = list.feed();
    let applied = (
        st.file_dev.load(Ordering::Acquire),
        st.file_ino.load(Ordering::Acquire),
    );
    let base = match read_snapshot(&f.snapshot, now) {
        Ok(Some(s)) if s.file == applied => s.entries,
        Ok(None) if applied == (0, 0) => Vec::new(),
        // The snapshot is not what this zone applied last (another generation wrote it, it was
        // deleted or damaged, or this zone's last write failed): the diff is against the
        // zone's own feed entries, so that whatever the feed dropped is lifted.
        _ => list.feed_entries(),
    };
    let changes = feed::diff(&base, &new);
    // Until the new snapshot is written the zone matches none: a worker that exits while this
    // thread applies (a reload), a full zone or a failed write leave it so, and the next
    // refresh diffs against the zone's own feed entries.
    unmatched(st);
    let full = list.apply_feed(&changes, now);
    if full > 0 {
        let zone = list.conf.map_or("", |c| c.zone_name.as_str());
        return failed(
            list,
            f,
            &format!("the revocation zone \"{zone}\" is full: {full} changes of the feed were not applied"),
            job.log,
        );
    }
    let written = write_snapshot(&f.snapshot, &job.validators, &job.body);
    match &written {
        Ok(file) => {
            st.file_dev.store(file.0, Ordering::Release);
            st.file_ino.store(file.1, Ordering::Release);
        }
        Err(_) => unmatched(st),
    }
    if let Err(e) = &written {
        ngx_log_error!(
            NGX_LOG_ERR,
            job.log,
            "jwt_peer_auth: revocation feed \"{}\": cannot write \"{}\": {}: a restart will enforce the previous feed until its first fetch",
            f.uri,
            f.snapshot,
            crate::glue::io_error_text(e)
        );
    }
    st.entries.store(new.len() as u64, Ordering::Release);
    st.fetched.fetch_add(1, Ordering::AcqRel);
    list.with_feed_text(|t| {
        t.set_validators(&job.validators);
        t.error.set(b"");
    });
    let (_, done) = unix_now();
    fresh(list, job.log, &f.uri, done);
    let lifted = changes
        .iter()
        .filter(|c| matches!(c, Change::Lift { .. }))
        .count();
    ngx_log_error!(
        NGX_LOG_NOTICE,
        job.log,
        "jwt_peer_auth: revocation feed \"{}\": {} entries, {} put, {} lifted, applied in {} ms",
        f.uri,
        new.len(),
        changes.len() - lifted,
        lifted,
        done.saturating_sub(started)
    );
}

/// The zone's feed entries match no snapshot (a partial apply, a snapshot not written): the
/// next refresh diffs against the zone itself. Not (0, 0), which says "never applied a feed".
fn unmatched(st: &super::feed::FeedShared) {
    st.file_dev.store(0, Ordering::Release);
    st.file_ino.store(u64::MAX, Ordering::Release);
}

/// The snapshot as read.
pub struct Snapshot {
    pub entries: Vec<Entry>,
    pub validators: Validators,
    /// Its mtime (Unix ms): when the feed was last confirmed.
    pub mtime_ms: u64,
    pub file: (u64, u64),
}

/// Reads the snapshot at `path` (`None`: there is none). Not followed if a link, at most
/// the core's `MAX_FEED` bytes plus its header line.
pub fn read_snapshot(path: &str, now: i64) -> Result<Option<Snapshot>, String> {
    use std::io::Read as _;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((ngx::ffi::O_NOFOLLOW | ngx::ffi::O_NONBLOCK) as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read \"{path}\": {}",
                crate::glue::io_error_text(&e)
            ))
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read \"{path}\": {}", crate::glue::io_error_text(&e)))?;
    if !meta.is_file() {
        return Err(format!("\"{path}\" is not a regular file"));
    }
    let mut text = Vec::new();
    file.take((MAX_FEED + 4096) as u64)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read \"{path}\": {}", crate::glue::io_error_text(&e)))?;
    let (validators, doc) =
        feed::parse_snapshot(&text).map_err(|why| format!("damaged feed snapshot \"{path}\": {why}"))?;
    let entries = feed::parse(doc, now).map_err(|why| format!("damaged feed snapshot \"{path}\": {why}"))?;
    let mtime_ms = (meta.mtime().max(0) as u64) * 1000 + (meta.mtime_nsec().max(0) as u64) / 1_000_000;
    Ok(Some(Snapshot {
        entries,
        validators,
        mtime_ms,
        file: (meta.dev(), meta.ino()),
    }))
}

/// Writes the snapshot: a new file, flushed, renamed over the old one (never partial).
/// Returns the new file's identity.
fn write_snapshot(path: &str, v: &Validators, body: &[u8]) -> std::io::Result<(u64, u64)> {
    let tmp = format!("{path}.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .mode(0o640)
        .write(true)
        .create_new(true)
        .custom_flags(ngx::ffi::O_NOFOLLOW as i32)
        .open(&tmp)?;
    f.write_all(feed::snapshot_header(v).as_bytes())?;
    f.write_all(body)?;
    f.sync_data()?;
    let meta = f.metadata()?;
    std::fs::rename(&tmp, path)?;
    Ok((meta.dev(), meta.ino()))
}

/// A `304` renews the snapshot's mtime: a restarted node counts `max_stale` from the last
/// confirmation, not from the last change.
pub fn touch_snapshot(path: &str) {
    if let Ok(f) = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(ngx::ffi::O_NOFOLLOW as i32)
        .open(path)
    {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}
