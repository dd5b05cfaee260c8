//! Starting a key request: an in-memory GET sub-request to the key source's location that
//! carries only the headers the module chooses. `ngx_http_subrequest` copies the client's
//! `headers_in`; a key request gets a fresh, empty set instead, so no client `Authorization`,
//! `Cookie`, `Range`, `If-*` or `Accept-Encoding` can shape or poison what the key service
//! answers and what every worker then trusts. It also gets its own variable cache, which NGINX
//! would otherwise share between the client's request and the sub-request.

use std::cell::Cell;

use ngx::ffi::{
    ngx_hash_key, ngx_http_post_subrequest_t, ngx_http_request_body_t, ngx_http_request_t,
    ngx_http_subrequest, ngx_http_variable_value_t, ngx_list_init, ngx_list_push, ngx_str_t, ngx_table_elt_t,
    NGX_HTTP_GET, NGX_HTTP_SUBREQUEST_BACKGROUND, NGX_HTTP_SUBREQUEST_IN_MEMORY, NGX_HTTP_SUBREQUEST_WAITED,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

use super::{drop_fetch, result, Fetch, Stage, MAX_BODY};
use crate::glue::add_cleanup;
use crate::log::debug;
use crate::sources::KeySource;
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
    // SAFETY: the request pool is valid; NULL or zeroed memory for one post_subrequest.
    let post = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_post_subrequest_t>()) };
    // SAFETY: as above: NULL or a zeroed post_subrequest.
    let Some(post) = (unsafe { post.cast::<ngx_http_post_subrequest_t>().as_mut() }) else {
        return false;
    };
    // SAFETY: NULL or a zeroed request body from the request pool.
    let body = unsafe { ngx::ffi::ngx_pcalloc(r.pool, size_of::<ngx_http_request_body_t>()) }
        .cast::<ngx_http_request_body_t>();
    if fetch.is_null() || body.is_null() {
        return false;
    }
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*r.connection).log };
    debug!(log, "key request \"{}\" started (waited: {waited})", source.label);
    post.handler = Some(result::key_fetched);
    post.data = fetch.cast();
    let mut name = ngx_str_t {
        len: uri.len(),
        data: uri.as_ptr().cast_mut(),
    };
    // The key set of a discovery source is requested from the document's post-subrequest
    // handler, while the document is still the connection's active request: NGINX would queue
    // a waited sub-request behind it in the client request's output, where only the client
    // request's next body output releases it (a HEAD or a 304 has none: the connection would
    // hang until send_timeout). It runs in the background instead, and a client request
    // waiting for it is woken by `result::key_fetched`.
    let flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
        | if waited && !second_stage {
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
    // A JWKS is fetched with GET and no request body, whatever the client sent.
    sr.method = NGX_HTTP_GET as _;
    sr.method_name = ngx_str_t {
        len: 3,
        data: c"GET".as_ptr().cast_mut().cast(),
    };
    sr.request_body = body;
    sr.set_header_only(0);
    sr.unparsed_uri = name;
    if !own_variables(sr) || !own_headers(sr, accept) {
        return false;
    }
    // SAFETY: `fetch` was written above and lives in the request pool.
    unsafe { (*fetch).pending.set(true) };
    true
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
/// name the server was reached with, for `$host` and `$http_host`) and `Accept`.
fn own_headers(sr: &mut ngx_http_request_t, accept: &'static [u8]) -> bool {
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
            2,
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

/// Adds a request header (static name, value in request or static memory).
fn push_header(
    sr: &mut ngx_http_request_t,
    key: &'static std::ffi::CStr,
    lowcase: &'static std::ffi::CStr,
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
