//! Small, individually justified `unsafe` accessors to NGINX structures. Everything else in the
//! module works on the safe values these return.

use std::ffi::c_void;

use ngx::ffi::{
    ngx_conf_full_name, ngx_conf_t, ngx_http_request_t, ngx_list_push, ngx_parse_time, ngx_pool_cleanup_add,
    ngx_pool_cleanup_t, ngx_pool_t, ngx_str_t, ngx_table_elt_t, NGX_ERROR,
};

/// The directive handler's `cf`.
pub fn conf_mut<'a>(cf: *mut ngx_conf_t) -> Option<&'a mut ngx_conf_t> {
    // SAFETY: NGINX passes directive and merge handlers a valid, exclusive `cf` for the call.
    unsafe { cf.as_mut() }
}

/// The module's configuration structure (any level) passed to a directive or merge handler.
pub fn loc_conf_mut<'a, T>(conf: *mut c_void) -> Option<&'a mut T> {
    // SAFETY: `conf` is the structure our create_*_conf allocated as `T` for this level
    // (NGX_HTTP_LOC_CONF_OFFSET), alive for the configuration cycle.
    unsafe { conf.cast::<T>().as_mut() }
}

/// The directive's words, the directive name first. The array is separate from `cf` and
/// lives until the directive handler returns.
pub fn conf_args<'a>(cf: &ngx_conf_t) -> &'a [ngx_str_t] {
    if cf.args.is_null() {
        return &[];
    }
    // SAFETY: `cf.args` is an ngx_array_t of ngx_str_t filled by the parser for this directive.
    unsafe { (*cf.args).as_slice() }
}

/// "file:line" of the directive being parsed.
pub fn conf_location(cf: &ngx_conf_t) -> String {
    // SAFETY: while a directive is parsed `conf_file` points to the file being read.
    match unsafe { cf.conf_file.as_ref() } {
        Some(f) => format!("{}:{}", String::from_utf8_lossy(f.file.name.as_bytes()), f.line),
        None => "configuration".to_owned(),
    }
}

/// Resolves a path relative to the configuration prefix, as NGINX does for its own files.
pub fn conf_full_name(cf: &mut ngx_conf_t, path: &str) -> Option<String> {
    let mut name = ngx_str_t {
        len: path.len(),
        data: path.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_conf_full_name only reads `name.data` and, for a relative path, points
    // `name` at a new buffer allocated from the cycle pool; `cf.cycle` is valid while parsing.
    let rc = unsafe { ngx_conf_full_name(cf.cycle, &mut name, 1) };
    if rc != 0 {
        return None;
    }
    name.to_str().ok().map(str::to_owned)
}

/// Parses an NGINX time value ("30s", "5m", "1h 30m") into seconds.
pub fn parse_time_sec(value: &str) -> Option<u64> {
    let mut s = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_parse_time only reads `s`.
    let v = unsafe { ngx_parse_time(&mut s, 1) };
    if v == NGX_ERROR as isize {
        None
    } else {
        u64::try_from(v).ok()
    }
}

/// Parses an NGINX size value ("64k", "1m") into bytes.
pub fn parse_size(value: &str) -> Option<usize> {
    let mut s = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    // SAFETY: ngx_parse_size only reads `s`.
    let v = unsafe { ngx::ffi::ngx_parse_size(&mut s) };
    usize::try_from(v).ok()
}

/// The value of the request's `Authorization` header, if it has one. The bytes are in the
/// request's header memory, valid for the whole request (not tied to the borrow of `r`).
pub fn authorization<'p>(r: &ngx_http_request_t) -> Option<&'p [u8]> {
    // SAFETY: `headers_in.authorization` is NULL or points to an element of the request's
    // header list, which lives as long as the request.
    let h = unsafe { r.headers_in.authorization.as_ref() }?;
    if h.value.len == 0 {
        return Some(&[]);
    }
    // SAFETY: a header value in request memory, `len` bytes long.
    Some(unsafe { std::slice::from_raw_parts(h.value.data, h.value.len) })
}

/// Adds `WWW-Authenticate: <value>` to the response, as ngx_http_auth_basic_module does.
/// `value` must outlive the request (it points into location configuration).
pub fn set_www_authenticate(r: &mut ngx_http_request_t, value: &'static [u8]) -> bool {
    match push_header(r, b"WWW-Authenticate", value) {
        Some(h) => {
            r.headers_out.www_authenticate = h;
            true
        }
        None => false,
    }
}

/// Adds a response header whose name and value outlive the request (nothing is copied).
pub fn add_header(r: &mut ngx_http_request_t, key: &'static str, value: &'static str) -> bool {
    push_header(r, key.as_bytes(), value.as_bytes()).is_some()
}

pub fn push_header(
    r: &mut ngx_http_request_t,
    key: &'static [u8],
    value: &'static [u8],
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: `headers_out.headers` is the request's initialised output header list.
    let h = unsafe { ngx_list_push(&mut r.headers_out.headers) }.cast::<ngx_table_elt_t>();
    // SAFETY: ngx_list_push returns NULL or a pointer to an uninitialised element of the list;
    // every field NGINX reads is set below.
    let e = unsafe { h.as_mut() }?;
    e.hash = 1;
    #[cfg(ngx_table_elt_next)]
    {
        e.next = std::ptr::null_mut();
    }
    e.key = ngx_str_t {
        len: key.len(),
        data: key.as_ptr().cast_mut(),
    };
    e.value = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    e.lowcase_key = std::ptr::null_mut();
    Some(h)
}

/// An I/O error as NGINX words it ("No such file or directory"), without Rust's "(os error N)".
pub fn io_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Compiles `value` (configuration memory) as a complex value allocated in the cf pool.
pub fn compile_complex_value(
    cf: &mut ngx_conf_t,
    mut value: ngx_str_t,
) -> Option<*mut ngx::ffi::ngx_http_complex_value_t> {
    // SAFETY: allocation from the configuration pool, zeroed as ngx_http_compile_complex_value
    // expects; `cf` is valid while parsing.
    unsafe {
        let cv = ngx::ffi::ngx_pcalloc(cf.pool, std::mem::size_of::<ngx::ffi::ngx_http_complex_value_t>())
            .cast::<ngx::ffi::ngx_http_complex_value_t>();
        if cv.is_null() {
            return None;
        }
        let mut ccv: ngx::ffi::ngx_http_compile_complex_value_t = std::mem::zeroed();
        ccv.cf = cf;
        ccv.value = &mut value;
        ccv.complex_value = cv;
        (ngx::ffi::ngx_http_compile_complex_value(&mut ccv) == 0).then_some(cv)
    }
}

/// Evaluates a complex value for the request. The bytes live in the request pool, so the
/// slice is not tied to the borrow of `r`: callers keep it only while handling the request.
pub fn complex_value<'p>(
    r: &mut ngx_http_request_t,
    cv: *mut ngx::ffi::ngx_http_complex_value_t,
) -> Option<&'p [u8]> {
    let mut out = ngx_str_t {
        len: 0,
        data: std::ptr::null_mut(),
    };
    // SAFETY: `cv` was compiled at configuration time and lives as long as the cycle; the
    // result is allocated from the request pool.
    let rc = unsafe { ngx::ffi::ngx_http_complex_value(r, cv, &mut out) };
    if rc != 0 {
        return None;
    }
    if out.len == 0 {
        return Some(&[]);
    }
    // SAFETY: on success `out` points to `len` bytes in the request pool.
    Some(unsafe { std::slice::from_raw_parts(out.data, out.len) })
}

/// The value of query argument `name`, if present.
pub fn query_arg<'p>(r: &ngx_http_request_t, name: &[u8]) -> Option<&'p [u8]> {
    if r.args.len == 0 {
        return None;
    }
    // SAFETY: `args` points into the request line, valid for the request.
    let args: &'p [u8] = unsafe { std::slice::from_raw_parts(r.args.data, r.args.len) };
    args.split(|&b| b == b'&').find_map(|kv| {
        let mut it = kv.splitn(2, |&b| b == b'=');
        (it.next() == Some(name)).then(|| it.next().unwrap_or_default())
    })
}

/// Sets the response's Content-Type to a static string.
pub fn set_content_type(r: &mut ngx_http_request_t, value: &'static str) {
    r.headers_out.content_type = ngx_str_t {
        len: value.len(),
        data: value.as_ptr().cast_mut(),
    };
    r.headers_out.content_type_len = value.len();
    r.headers_out.content_type_lowcase = std::ptr::null_mut();
}

/// The request's query string (after `?`), empty if none.
pub fn request_args<'p>(r: &ngx_http_request_t) -> &'p [u8] {
    if r.args.len == 0 || r.args.data.is_null() {
        return &[];
    }
    // SAFETY: `args` points into the request line, valid for the request.
    unsafe { std::slice::from_raw_parts(r.args.data, r.args.len) }
}

/// The value of the request's `Content-Type` header, if any.
pub fn content_type<'p>(r: &ngx_http_request_t) -> Option<&'p [u8]> {
    // SAFETY: NULL or an element of the request's header list, which lives as long as the
    // request.
    let h = unsafe { r.headers_in.content_type.as_ref() }?;
    if h.value.len == 0 {
        return Some(&[]);
    }
    // SAFETY: the value's bytes are in the request's header memory.
    Some(unsafe { std::slice::from_raw_parts(h.value.data, h.value.len) })
}

/// Why a request body could not be taken.
#[derive(Debug)]
pub enum BodyError {
    /// More than the limit.
    TooLarge,
    /// NGINX wrote it to a temporary file (a `client_body_buffer_size` below the limit).
    InFile,
    NoMemory,
}

/// The request body read by `ngx_http_read_client_request_body`, copied out of its buffers, at
/// most `limit` bytes.
pub fn request_body(r: &ngx_http_request_t, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    // SAFETY: NULL, or the body NGINX read for this request, with its buffer chain.
    let Some(rb) = (unsafe { r.request_body.as_ref() }) else {
        return Ok(out);
    };
    if !rb.temp_file.is_null() {
        return Err(BodyError::InFile);
    }
    let mut cl = rb.bufs;
    // SAFETY: each link of the chain is NULL or a valid ngx_chain_t of the request's pool.
    while let Some(link) = unsafe { cl.as_ref() } {
        // SAFETY: a chain link points to a valid buffer.
        let Some(b) = (unsafe { link.buf.as_ref() }) else {
            break;
        };
        if b.in_file() != 0 {
            return Err(BodyError::InFile);
        }
        let n = (b.last as usize).saturating_sub(b.pos as usize);
        if n > 0 {
            if out.len() + n > limit {
                return Err(BodyError::TooLarge);
            }
            out.try_reserve(n).map_err(|_| BodyError::NoMemory)?;
            // SAFETY: an in-memory buffer holds `last - pos` readable bytes from `pos`.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(b.pos, n) });
        }
        cl = link.next;
    }
    Ok(out)
}

/// The cleanup entry of `pool` that holds a value dropped by `handler`, if any.
pub fn find_cleanup(pool: *mut ngx_pool_t, handler: extern "C" fn(*mut c_void)) -> *mut c_void {
    // SAFETY: a live pool's cleanup list is a NULL-terminated list of entries in the pool.
    let mut c = unsafe { pool.as_ref() }.map_or(std::ptr::null_mut(), |p| p.cleanup);
    // SAFETY: as above.
    while let Some(entry) = unsafe { c.as_ref() } {
        // NGINX's idiom (ngx_http_realip_module finds its context so): the entry is ours when
        // its handler is. Both are non-generic `extern "C"` functions with one symbol each.
        if entry
            .handler
            .is_some_and(|h| std::ptr::fn_addr_eq(h, handler as extern "C" fn(*mut c_void)))
        {
            return entry.data;
        }
        c = entry.next;
    }
    std::ptr::null_mut()
}

/// Allocates `value` in a cleanup entry of `pool`, dropped with the pool by `handler`.
pub fn add_cleanup<T>(pool: *mut ngx_pool_t, value: T, handler: extern "C" fn(*mut c_void)) -> *mut T {
    debug_assert!(std::mem::align_of::<T>() <= std::mem::size_of::<usize>());
    // SAFETY: `pool` is a live pool; the entry's data is `size_of::<T>()` bytes aligned to
    // NGX_ALIGNMENT (a word), enough for T (checked above).
    let c: *mut ngx_pool_cleanup_t = unsafe { ngx_pool_cleanup_add(pool, std::mem::size_of::<T>()) };
    // SAFETY: NULL or a fresh cleanup entry.
    let Some(c) = (unsafe { c.as_mut() }) else {
        return std::ptr::null_mut();
    };
    let p = c.data.cast::<T>();
    // SAFETY: `p` is uninitialised memory for one T.
    unsafe { p.write(value) };
    c.handler = Some(handler);
    p
}

/// A compiled NGINX complex value (text with variables), evaluated per request.
#[derive(Debug, Clone, Copy)]
pub struct ComplexValue(pub *mut ngx::ffi::ngx_http_complex_value_t);
