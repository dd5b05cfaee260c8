//! The request side of DPoP: the `Authorization: DPoP` credentials, the proof of each request
//! (after the token verified, or came from the token cache), the replay cache, the challenges
//! and `DPoP-Nonce`. The rules are the core's ([`jwt_peer_auth_core::dpop`]).

use std::cell::RefCell;

use jwt_peer_auth_core::bearer::BearerError;
use jwt_peer_auth_core::dpop::{self, Mode, Request as ProofRequest, Scheme};
use jwt_peer_auth_core::{Reason, Rejection, Verified};
use ngx::ffi::{ngx_http_request_t, ngx_table_elt_t};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf};

use super::conf::DpopConf;
use super::zone::{Remembered, Zone};
use crate::config::LocConf;
use crate::ctx::RequestCtx;
use crate::log::log;
use crate::{glue, JwtPeerAuthModule};

/// What one request established about DPoP (in the request context).
#[derive(Debug, Default)]
pub struct State {
    /// The scheme of the credentials, when the location uses DPoP.
    pub scheme: Option<Scheme>,
    /// The thumbprint of the request's accepted proof (`$jwt_peer_auth_dpop_jkt`): a proof is
    /// checked (and remembered) once per request, also across internal redirects.
    pub jkt: Option<String>,
    /// The rules that accepted it (a location's `jwt_peer_auth_dpop`) and its replay key: a
    /// location with other rules, reached by an internal redirect, checks the proof again by
    /// its own (a nonce, algorithms, `max_age`, `htu=`), without taking the proof for its own
    /// replay.
    pub accepted_by: Option<*const DpopConf>,
    /// The replay key of the proof remembered for this request.
    pub remembered: Option<dpop::ReplayKey>,
}

pub type Cell = RefCell<State>;

fn location(r: &ngx_http_request_t) -> Option<&'static LocConf> {
    // SAFETY: the location configuration of a live request; lives as long as the cycle.
    let req = unsafe { ngx::http::Request::from_ngx_http_request(std::ptr::from_ref(r).cast_mut()) };
    JwtPeerAuthModule::location_conf(req)
}

/// The token of `Authorization: DPoP <token>` at a location that uses DPoP. `None`: not
/// DPoP credentials (or DPoP is off here): the caller reads a Bearer token.
pub fn token<'p>(
    r: &mut ngx_http_request_t,
    header: &'p [u8],
    ctx: Option<&RequestCtx>,
) -> Option<Result<&'p [u8], Rejection>> {
    location(r)?.dpop.as_deref().filter(|d| d.mode != Mode::Off)?;
    let set = |s| {
        if let Some(c) = ctx {
            c.dpop.borrow_mut().scheme = Some(s);
        }
    };
    match dpop::from_authorization(header) {
        Ok(t) => {
            set(Scheme::Dpop);
            Some(Ok(t))
        }
        Err(BearerError::Invalid) => Some(Err(Rejection::new(
            Reason::InvalidRequest,
            "\"Authorization: DPoP\" is not exactly one token",
        ))),
        Err(BearerError::NotBearer) => {
            set(Scheme::Bearer);
            None
        }
    }
}

/// The values of the request's `DPoP` headers: `Err` unless exactly one.
fn proof_header<'p>(r: &ngx_http_request_t) -> Result<&'p [u8], Rejection> {
    let mut found: Option<&[u8]> = None;
    let mut part = &r.headers_in.headers.part;
    loop {
        // SAFETY: the request's header list: each part holds `nelts` initialised elements.
        let elts = unsafe { std::slice::from_raw_parts(part.elts.cast::<ngx_table_elt_t>(), part.nelts) };
        for h in elts {
            if h.key.len == 4 && h.key.as_bytes().eq_ignore_ascii_case(b"dpop") {
                if found.is_some() {
                    return Err(Rejection::new(Reason::DpopProof, "more than one \"DPoP\" header"));
                }
                // SAFETY: a header value in request memory, `len` bytes, valid for the request.
                found = Some(unsafe { std::slice::from_raw_parts(h.value.data, h.value.len) });
            }
        }
        // SAFETY: NULL or the next part of the same list.
        match unsafe { part.next.as_ref() } {
            Some(next) => part = next,
            None => break,
        }
    }
    found.ok_or_else(|| Rejection::new(Reason::DpopProof, "no \"DPoP\" header"))
}

/// The DPoP checks for a verified (or cached) token `t`: the proof of this request (once per
/// request), the replay cache, and the binding rule of the location's mode.
pub fn check(
    r: &mut ngx_http_request_t,
    lc: &LocConf,
    ctx: &RequestCtx,
    v: &Verified,
    now: i64,
) -> Result<(), Rejection> {
    let Some(d) = lc.dpop.as_deref().filter(|d| d.mode != Mode::Off) else {
        return Ok(());
    };
    let token_jkt = dpop::token_jkt(v)?;
    let scheme = ctx.dpop.borrow().scheme.unwrap_or(Scheme::Bearer);
    let accepted_here = ctx
        .dpop
        .borrow()
        .accepted_by
        .is_some_and(|by| std::ptr::eq(by, d));
    if scheme == Scheme::Dpop && !accepted_here {
        {
            // Nothing of another location's acceptance shows while this one checks.
            let mut state = ctx.dpop.borrow_mut();
            state.jkt = None;
            state.accepted_by = None;
        }
        let proof = proof_header(r)?;
        // The token the scheme was read from (request memory).
        let t = glue::authorization(r)
            .and_then(|h| dpop::from_authorization(h).ok())
            .unwrap_or_default();
        let url = glue::complex_value(r, d.url.0).unwrap_or_default();
        let method = r.method_name.as_bytes();
        // `ath` from the token's SHA-256 the caches are keyed by (the same bytes, kept per
        // connection by conn_memo.rs): not hashed again.
        let token_sha256 = crate::conn_memo::token_digest(r, t);
        let req = ProofRequest {
            method,
            url,
            access_token: t,
            access_token_digest: Some(&token_sha256),
            nonce: d.nonce.as_ref(),
        };
        let settings = dpop::Settings {
            leeway: lc.policy.leeway,
            ..d.settings
        };
        let accepted = dpop::check_proof(proof, &req, &settings, now)?;
        // The token must be bound to the proof's key before the proof takes a place in the
        // replay cache: a token with someone else's key (a stolen one) fills nothing.
        dpop::check_binding(d.mode, scheme, token_jkt.as_deref(), Some(&accepted.jkt))?;
        // Accepted before in this request (by another location's rules): already remembered.
        if ctx.dpop.borrow().remembered == Some(accepted.replay_key) {
            let mut state = ctx.dpop.borrow_mut();
            state.accepted_by = Some(d);
            state.jkt = Some(accepted.jkt);
            drop(state);
            return binding(d, scheme, token_jkt.as_deref(), ctx);
        }
        let mc = {
            // SAFETY: a live request.
            let req = unsafe { ngx::http::Request::from_ngx_http_request(r) };
            JwtPeerAuthModule::main_conf(req)
        };
        let zone = mc.and_then(|mc| Zone::attach(super::config::zone_of(mc)));
        let Some(zone) = zone else {
            return Err(Rejection::new(
                Reason::DpopFull,
                "the DPoP replay cache is not available",
            ));
        };
        // `expires` is the proof's `iat` + max_age + leeway (check_proof).
        let span = i64::try_from(settings.max_age.saturating_add(settings.leeway)).unwrap_or(i64::MAX);
        if accepted.expires.saturating_sub(span) < zone.created() {
            return Err(Rejection::new(
                Reason::DpopReplay,
                "the proof was issued before the replay cache was made (a restart, or a reload that changed the zone)",
            ));
        }
        match zone.insert(&accepted.replay_key, accepted.expires, now) {
            Remembered::Fresh => {}
            Remembered::Replay => {
                return Err(Rejection::new(
                    Reason::DpopReplay,
                    "the proof's jti was seen before",
                ));
            }
            Remembered::Full { first } => {
                if first {
                    // SAFETY: a live request's connection and its log.
                    let log = unsafe { (*r.connection).log };
                    log!(
                        ERR,
                        log,
                        "the DPoP replay cache is full ({} entries): proofs are refused until entries expire; make \"jwt_peer_auth_dpop_zone\" larger",
                        zone.capacity()
                    );
                }
                return Err(Rejection::new(Reason::DpopFull, "the DPoP replay cache is full"));
            }
        }
        let mut state = ctx.dpop.borrow_mut();
        state.accepted_by = Some(d);
        state.remembered = Some(accepted.replay_key);
        state.jkt = Some(accepted.jkt);
    }
    binding(d, scheme, token_jkt.as_deref(), ctx)
}

fn binding(d: &DpopConf, scheme: Scheme, token_jkt: Option<&str>, ctx: &RequestCtx) -> Result<(), Rejection> {
    let state = ctx.dpop.borrow();
    dpop::check_binding(d.mode, scheme, token_jkt, state.jkt.as_deref())
}

/// The challenges of a refusal at a DPoP location: the first (`WWW-Authenticate` as the module
/// sets it) and a second one under `optional`. `None`: not a DPoP location.
pub fn challenges<'a>(
    lc: &'a LocConf,
    ctx: &RequestCtx,
    reason: Reason,
) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let d = lc.dpop.as_deref().filter(|d| d.mode != Mode::Off)?;
    let dpop_err = d.challenges.get(reason.index())?.as_slice();
    let dpop_used = reason.is_dpop() || ctx.dpop.borrow().scheme == Some(Scheme::Dpop);
    Some(match d.mode {
        Mode::On => (dpop_err, None),
        _ if dpop_used => (dpop_err, Some(d.bearer_plain.as_slice())),
        _ => (lc.challenge(reason), Some(d.plain.as_slice())),
    })
}

/// After the first challenge of a refusal: the second (`optional`), and `DPoP-Nonce` at a
/// location with server nonces (RFC 9449 §8). `false`: no memory for a header.
pub fn more_headers(r: &mut ngx_http_request_t, lc: &LocConf, second: Option<&[u8]>) -> bool {
    if let Some(s) = second {
        // SAFETY: the challenge texts live in the location configuration (the cycle).
        let s: &'static [u8] = unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) };
        if glue::push_header(r, b"WWW-Authenticate", s).is_none() {
            return false;
        }
    }
    nonce_header(r, lc)
}

fn nonce_header(r: &mut ngx_http_request_t, lc: &LocConf) -> bool {
    let Some(key) = lc.dpop.as_deref().and_then(|d| d.nonce.as_ref()) else {
        return true;
    };
    let nonce = key.issue(ngx::ffi::ngx_time());
    // SAFETY: the request's pool; the copy lives as long as the request (its headers).
    let p = unsafe { ngx::ffi::ngx_pnalloc(r.pool, nonce.len()) }.cast::<u8>();
    if p.is_null() {
        return false;
    }
    // SAFETY: `p` has room for `nonce.len()` bytes.
    let value: &'static [u8] = unsafe {
        std::ptr::copy_nonoverlapping(nonce.as_ptr(), p, nonce.len());
        std::slice::from_raw_parts(p, nonce.len())
    };
    glue::push_header(r, b"DPoP-Nonce", value).is_some()
}
