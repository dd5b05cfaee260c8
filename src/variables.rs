//! `$jwt_claim_<name>`, `$jwt_header_<name>`, `$jwt_payload`, `$jwt_peer_auth_status`: read
//! lazily from the request context the access handler filled; nothing is parsed again.

use std::borrow::Cow;

use jwt_peer_auth_core::{policy, Verified};
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t, ngx_str_t,
    ngx_uint_t, NGX_HTTP_VAR_NOCACHEABLE, NGX_HTTP_VAR_PREFIX,
};
use serde_json::{Map, Value};

use crate::ctx::{self, RequestCtx};

type GetFn =
    unsafe extern "C" fn(*mut ngx_http_request_t, *mut ngx_http_variable_value_t, usize) -> ngx_int_t;

const VARS: [(&str, GetFn, u32); 4] = [
    ("jwt_claim_", get_claim, NGX_HTTP_VAR_PREFIX),
    ("jwt_header_", get_header, NGX_HTTP_VAR_PREFIX),
    ("jwt_payload", get_payload, 0),
    ("jwt_peer_auth_status", get_status, 0),
];

/// Registers the variables (preconfiguration).
pub fn add(cf: &mut ngx_conf_t) -> bool {
    for (name, get, flags) in VARS {
        let mut n = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        // SAFETY: `cf` is valid during preconfiguration; NGINX copies the name.
        let v =
            unsafe { ngx_http_add_variable(cf, &mut n, (flags | NGX_HTTP_VAR_NOCACHEABLE) as ngx_uint_t) };
        // SAFETY: NULL or a variable owned by the configuration.
        let Some(v) = (unsafe { v.as_mut() }) else {
            return false;
        };
        v.get_handler = Some(get);
        v.data = 0;
    }
    true
}

/// Sets `v` to `value`, copied into the request pool, or marks it not found.
fn set(r: *mut ngx_http_request_t, v: *mut ngx_http_variable_value_t, value: Option<&[u8]>) -> ngx_int_t {
    // SAFETY: NGINX passes a live request and its variable value slot.
    let (Some(r), Some(v)) = (unsafe { r.as_mut() }, unsafe { v.as_mut() }) else {
        return -1;
    };
    let Some(value) = value else {
        v.set_not_found(1);
        return 0;
    };
    // SAFETY: a copy in the request pool, which outlives the variable's use.
    let data = unsafe { ngx::ffi::ngx_pnalloc(r.pool, value.len().max(1)) }.cast::<u8>();
    if data.is_null() {
        return -1;
    }
    // SAFETY: `data` has room for `value.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), data, value.len()) };
    v.data = data;
    v.set_len(value.len() as u32);
    v.set_valid(1);
    v.set_no_cacheable(0);
    v.set_not_found(0);
    0
}

fn with_ctx<'a>(r: *mut ngx_http_request_t) -> Option<&'a RequestCtx> {
    // SAFETY: NGINX passes a live request.
    ctx::of_main(unsafe { r.as_ref() }?)
}

/// The part of the variable's name after `prefix` (`data` is the full name for prefix
/// variables).
fn suffix<'a>(data: usize, prefix: &str) -> Option<&'a str> {
    // SAFETY: for NGX_HTTP_VAR_PREFIX variables NGINX passes the requested name as ngx_str_t.
    let name = unsafe { (data as *const ngx_str_t).as_ref() }?;
    std::str::from_utf8(name.as_bytes()).ok()?.strip_prefix(prefix)
}

/// A member of the verified token's claims or header, named by the variable's suffix.
fn get_member(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
    prefix: &str,
    map: fn(&Verified) -> &Map<String, Value>,
) -> ngx_int_t {
    let value: Option<Cow<'_, str>> = with_ctx(r)
        .and_then(|c| c.verified.as_deref())
        .zip(suffix(data, prefix))
        .and_then(|(t, name)| map(t).get(name))
        .map(policy::render);
    set(r, v, value.as_deref().map(str::as_bytes))
}

unsafe extern "C" fn get_claim(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    get_member(r, v, data, "jwt_claim_", |t| &t.claims)
}

unsafe extern "C" fn get_header(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    get_member(r, v, data, "jwt_header_", |t| &t.header)
}

unsafe extern "C" fn get_payload(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    let value = with_ctx(r)
        .and_then(|c| c.verified.as_ref())
        .map(|t| t.payload.as_bytes());
    set(r, v, value)
}

unsafe extern "C" fn get_status(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    let value = with_ctx(r).and_then(|c| c.status).map(|s| match s {
        Ok(()) => "ok",
        Err(reason) => reason.word(),
    });
    set(r, v, value.map(str::as_bytes))
}
