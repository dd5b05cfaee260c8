//! `$jwt_claim_<name>`, `$jwt_header_<name>`, `$jwt_payload`, `$jwt_peer_auth_status`,
//! `$jwt_peer_auth_cert_thumbprint`, `$jwt_peer_auth_dpop_jkt`, `$jwt_peer_auth_unverified_addr`,
//! `$jwt_peer_auth_jwks_uri` (in a discovery source's key request: `fetch::discovery`), and the
//! variables of `jwt_peer_auth_claim_set` / `jwt_peer_auth_header_set`: read lazily from the
//! request context the access handler filled; nothing is parsed again.
//!
//! Values are safe to forward: one with a control character (a byte below 0x20, or 0x7f)
//! would let a token inject headers through `proxy_set_header`/`add_header`, so such a
//! variable is not found (empty), and the request's log says so once.

use std::borrow::Cow;

use jwt_peer_auth_core::{policy, Verified};
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t, ngx_str_t,
    ngx_uint_t, NGX_HTTP_VAR_NOCACHEABLE, NGX_HTTP_VAR_PREFIX,
};
use ngx::http::HttpModuleMainConf;
use serde_json::{Map, Value};

use crate::ctx::{self, Outcome, RequestCtx};
use crate::log::log;
use crate::JwtPeerAuthModule;

type GetFn =
    unsafe extern "C" fn(*mut ngx_http_request_t, *mut ngx_http_variable_value_t, usize) -> ngx_int_t;

const VARS: [(&str, GetFn, u32); 8] = [
    ("jwt_claim_", get_claim, NGX_HTTP_VAR_PREFIX),
    ("jwt_header_", get_header, NGX_HTTP_VAR_PREFIX),
    ("jwt_payload", get_payload, 0),
    ("jwt_peer_auth_status", get_status, 0),
    ("jwt_peer_auth_cert_thumbprint", get_thumbprint, 0),
    ("jwt_peer_auth_dpop_jkt", get_dpop_jkt, 0),
    (crate::phase::UNVERIFIED_ADDR, get_unverified_addr, 0),
    ("jwt_peer_auth_jwks_uri", crate::fetch::discovery::get_jwks_uri, 0),
];

/// Registers the variables (preconfiguration).
pub fn add(cf: &mut ngx_conf_t) -> bool {
    VARS.iter()
        .all(|(name, get, flags)| define(cf, name.as_bytes(), *get, *flags, 0))
}

/// Adds variable `name` with getter `get` and `data`.
pub fn define(cf: &mut ngx_conf_t, name: &[u8], get: GetFn, flags: u32, data: usize) -> bool {
    let mut n = ngx_str_t {
        len: name.len(),
        data: name.as_ptr().cast_mut(),
    };
    // SAFETY: `cf` is valid while configuring; NGINX copies the name.
    let v = unsafe { ngx_http_add_variable(cf, &mut n, (flags | NGX_HTTP_VAR_NOCACHEABLE) as ngx_uint_t) };
    // SAFETY: NULL or a variable owned by the configuration.
    let Some(v) = (unsafe { v.as_mut() }) else {
        return false;
    };
    v.get_handler = Some(get);
    v.data = data;
    true
}

/// What a variable shows, and what to name in the log if it is withheld.
struct Shown<'a> {
    value: Option<Cow<'a, [u8]>>,
    what: &'a str,
}

/// Runs a getter: panics become "not found", never unwind into NGINX.
fn getter(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    read: impl FnOnce(&ngx_http_request_t, &RequestCtx) -> Option<(Option<String>, String)>,
) -> ngx_int_t {
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: NGINX passes a live request.
        let req = unsafe { r.as_ref() }?;
        // A key request carries nothing of the client's, identity included.
        if crate::fetch::of_request(req).is_some() {
            return None;
        }
        let c = ctx::get(req)?;
        read(req, c).map(|(value, what)| (value, what, c))
    }));
    match out {
        Ok(Some((value, what, c))) => set(
            r,
            v,
            Shown {
                value: value.map(|s| Cow::Owned(s.into_bytes())),
                what: &what,
            },
            Some(c),
        ),
        Ok(None) => set(
            r,
            v,
            Shown {
                value: None,
                what: "",
            },
            None,
        ),
        Err(_) => set(
            r,
            v,
            Shown {
                value: None,
                what: "",
            },
            None,
        ),
    }
}

/// Whether withholding `what` is news for this request's log (at most 16 names remembered).
fn first_time(c: &RequestCtx, what: &str) -> bool {
    let mut seen = c.withheld.borrow_mut();
    if seen.iter().any(|w| w == what) || seen.len() >= 16 {
        return false;
    }
    seen.push(what.to_owned());
    true
}

/// Sets `v` to the value, copied into the request pool, or marks it not found.
fn set(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    shown: Shown<'_>,
    c: Option<&RequestCtx>,
) -> ngx_int_t {
    // SAFETY: NGINX passes a live request and its variable value slot.
    let (Some(r), Some(v)) = (unsafe { r.as_mut() }, unsafe { v.as_mut() }) else {
        return -1;
    };
    let value = match shown.value {
        Some(value) if !policy::forwardable(&value) => {
            if let Some(c) = c {
                if first_time(c, shown.what) {
                    // SAFETY: a live request's connection and log.
                    let log = unsafe { (*r.connection).log };
                    log!(
                        WARN,
                        log,
                        "{} has a control character: not exposed as a variable",
                        shown.what
                    );
                }
            }
            None
        }
        other => other,
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

/// The part of the variable's name after `prefix` (`data` is the full name for prefix
/// variables).
fn suffix<'a>(data: usize, prefix: &str) -> Option<&'a str> {
    // SAFETY: for NGX_HTTP_VAR_PREFIX variables NGINX passes the requested name as ngx_str_t.
    let name = unsafe { (data as *const ngx_str_t).as_ref() }?;
    std::str::from_utf8(name.as_bytes()).ok()?.strip_prefix(prefix)
}

/// The verified token, where the request's location may show it: the location that decided
/// (also by re-checking a carried-over decision), or one that verifies nothing. A protected
/// location that has not decided (reached by an internal redirect, before its own check, or
/// admitted by another module under `satisfy any`) shows no identity. For a sub-request, its
/// main request's location.
fn verified(req: &ngx_http_request_t, c: &RequestCtx) -> Option<std::rc::Rc<Verified>> {
    let v = c.verified()?;
    decided_here(req, c).then_some(v)
}

/// Whether the request's location may show what the module decided: the location that decided
/// (also by re-checking a carried-over decision), or one that verifies nothing (an error page
/// with the module off). For a sub-request, its main request's location. The identity, the
/// status and the certificate thumbprint are all gated so.
fn decided_here(req: &ngx_http_request_t, c: &RequestCtx) -> bool {
    // SAFETY: `main` is the live main request of `req` (`req` itself for a main request); only
    // a shared reference is made.
    let Some(main) = (unsafe { req.main.as_ref() }) else {
        return false;
    };
    let Some(lc) = <JwtPeerAuthModule as ngx::http::HttpModuleLocationConf>::location_conf(main) else {
        return false;
    };
    !lc.enabled() || c.decided_for(lc)
}

/// A value rendered for a variable, and the log name of what it is.
fn member(t: &Verified, header: bool, path: &[String]) -> (Option<String>, String) {
    let root: &Map<String, Value> = if header { t.header() } else { t.claims() };
    let value = policy::lookup(root, path).map(|v| policy::render(v).into_owned());
    let kind = if header { "header member" } else { "claim" };
    (value, format!("{kind} \"{}\"", path.join(".")))
}

unsafe extern "C" fn get_claim(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        let name = suffix(data, "jwt_claim_")?.to_owned();
        Some(member(verified(req, c)?.as_ref(), false, &[name]))
    })
}

unsafe extern "C" fn get_header(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        let name = suffix(data, "jwt_header_")?.to_owned();
        Some(member(verified(req, c)?.as_ref(), true, &[name]))
    })
}

/// `jwt_peer_auth_claim_set` / `jwt_peer_auth_header_set`: `data` indexes the main
/// configuration's list of member paths.
pub unsafe extern "C" fn get_member_set(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    data: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        // SAFETY: the request's main configuration array is valid for the request.
        let request =
            unsafe { ngx::http::Request::from_ngx_http_request(std::ptr::from_ref(req).cast_mut()) };
        let mc = JwtPeerAuthModule::main_conf(request)?;
        let set = mc.member_sets.get(data)?;
        Some(member(verified(req, c)?.as_ref(), set.header, &set.path))
    })
}

unsafe extern "C" fn get_payload(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        Some((
            Some(verified(req, c)?.payload().to_owned()),
            "the payload".to_owned(),
        ))
    })
}

unsafe extern "C" fn get_status(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        if !decided_here(req, c) {
            return None;
        }
        let word = match c.outcome()? {
            Outcome::Allowed => "ok",
            Outcome::Refused(reason) => reason.word(),
            Outcome::Forbidden => jwt_peer_auth_core::Reason::Claim.word(),
            Outcome::Passed(reason) => reason.word(),
        };
        Some((Some(word.to_owned()), "the status".to_owned()))
    })
}

unsafe extern "C" fn get_thumbprint(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        if !decided_here(req, c) {
            return None;
        }
        let t = c.thumbprint.borrow().clone()?;
        Some((Some(t), "the certificate thumbprint".to_owned()))
    })
}

/// `$jwt_peer_auth_dpop_jkt`: the thumbprint of the request's accepted DPoP proof key, for a
/// request this location admitted; not found otherwise.
unsafe extern "C" fn get_dpop_jkt(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        if !decided_here(req, c) || c.outcome() != Some(Outcome::Allowed) {
            return None;
        }
        let t = c.dpop.borrow().jkt.clone()?;
        Some((Some(t), "the DPoP key thumbprint".to_owned()))
    })
}

/// `$jwt_peer_auth_unverified_addr`: the client address while the request's token waits for a
/// signature verification after the limiters (preaccess), not found otherwise: a `limit_req`
/// keyed by it counts only those requests.
unsafe extern "C" fn get_unverified_addr(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _: usize,
) -> ngx_int_t {
    getter(r, v, |req, c| {
        if !c.pending.get() {
            return None;
        }
        // SAFETY: a live request's connection; its address text lives as long.
        let addr = unsafe { req.connection.as_ref() }?.addr_text;
        let text = String::from_utf8_lossy(addr.as_bytes()).into_owned();
        Some((Some(text), "the client address".to_owned()))
    })
}
