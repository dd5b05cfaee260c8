//! The access-phase handler: token source → key sets → verification → policy → allow, or
//! refusal with an RFC 6750 challenge and one log line naming the reason.

use std::rc::Rc;

use jwt_peer_auth_core::bearer::{self, BearerError};
use jwt_peer_auth_core::freshness::{CacheSettings, Plan};
use jwt_peer_auth_core::{policy, KeySet, Reason, Rejection, Verified};

use crate::token_cache::{self, Source};
use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_ALERT, NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, Request};
use ngx::ngx_log_error;

use crate::config::{KeyRequest, LocConf, Mode};
use crate::ctx::{self, RequestCtx};
use crate::fetch::{self, POLL_MS};
use crate::zone::{Counters, Zone};
use crate::{glue, keys, JwtPeerAuthModule};
use std::sync::atomic::AtomicU64;

/// The phase handler registered in postconfiguration. Panics never cross into NGINX: one
/// would answer 500 and be logged.
pub extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: NGINX calls phase handlers with a valid request pointer.
    let request = unsafe { Request::from_ngx_http_request(r) };
    let log = request.log();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(request))) {
        Ok(rc) => rc,
        Err(_) => {
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "jwt_peer_auth: internal error (panic) while verifying"
            );
            NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t
        }
    }
}

const AGAIN: ngx_int_t = Status::NGX_AGAIN.0;
const OK: ngx_int_t = Status::NGX_OK.0;
const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

fn handle(request: &mut Request) -> ngx_int_t {
    let Some(lc) = JwtPeerAuthModule::location_conf(request) else {
        return Status::NGX_DECLINED.into();
    };
    let Some(Mode::On { token: source, .. }) = &lc.mode else {
        return Status::NGX_DECLINED.into();
    };
    let Some(ctx_ptr) = ctx::get_or_create(request) else {
        return SERVER_ERROR;
    };
    // Requests without a usable bearer token are refused before any key is looked at.
    let t = match token(request.as_mut(), *source) {
        Ok(t) => t,
        Err(rejection) => return refuse(request, lc, ctx_ptr, &rejection),
    };
    let fetched = match lc.key_request.as_deref() {
        None => None,
        Some(kr) => match fetched_keys(request, lc, kr, ctx_ptr) {
            Fetched::Wait => return AGAIN,
            Fetched::Error(msg) => {
                ngx_log_error!(NGX_LOG_ERR, request.log(), "jwt_peer_auth: {msg}");
                return SERVER_ERROR;
            }
            Fetched::Keys(keys) => keys,
        },
    };
    let mut sets: Vec<&KeySet> = Vec::with_capacity(2);
    let mut sources: Vec<Source> = Vec::with_capacity(2);
    if let Some(f) = &lc.jwks_file {
        sets.push(&f.keys);
        sources.push(Source::File(&f.keys));
    }
    if let Some(k) = &fetched {
        sets.push(&k.keys);
        sources.push(Source::Fetched {
            slot: k.slot,
            generation: k.generation,
        });
    }
    let now = ngx::ffi::ngx_time();
    let result = verify_token(request, lc, t, &sets, &sources, now);
    let verified = match result {
        Ok(v) => v,
        // Another worker may have published newer keys since this one last looked: verify
        // once more with them before asking the key service.
        Err(r) if r.reason == Reason::UnknownKid && newer_keys_published(ctx_ptr, fetched.as_ref()) => {
            return handle(request);
        }
        Err(r)
            if r.reason == Reason::UnknownKid
                && lc.key_request.is_some()
                && force_refetch(request, lc, ctx_ptr) =>
        {
            return AGAIN;
        }
        Err(rejection) => return refuse(request, lc, ctx_ptr, &rejection),
    };
    // SAFETY: the context lives in the request pool; no other reference is held now.
    let ctx = unsafe { &mut *ctx_ptr };
    ctx.verified = Some(verified);
    ctx.status = Some(Ok(()));
    // `require` runs last: its values may use the claim variables set just above.
    let rc = require(request, lc, ctx_ptr);
    if rc == OK {
        count(request, |c| &c.verified);
    }
    rc
}

/// Adds one to a shared counter.
fn count(request: &Request, which: impl Fn(&Counters) -> &AtomicU64) {
    if let Some(zone) = zone(request) {
        Counters::add(which(zone.counters()));
    }
}

/// Verifies `t` (or takes it from the token cache, re-checked) and applies the location's
/// claim rules.
fn verify_token(
    request: &mut Request,
    lc: &LocConf,
    t: &[u8],
    sets: &[&KeySet],
    sources: &[Source],
    now: i64,
) -> Result<Rc<Verified>, Rejection> {
    let cached = token_cache::get(t, sources);
    count(request, |c| {
        if cached.is_some() {
            &c.cache_hits
        } else {
            &c.cache_misses
        }
    });
    let verified = match cached {
        Some(v) => jwt_peer_auth_core::recheck(&v, &lc.policy, now)
            .map(|()| v)
            .inspect_err(|_| token_cache::forget(t)),
        None => jwt_peer_auth_core::verify(t, sets, &lc.policy, now).map(|v| {
            let capacity = JwtPeerAuthModule::main_conf(request)
                .map_or(token_cache::DEFAULT_ENTRIES, |m| m.token_cache_entries());
            let source = sources[v.key.set];
            let v = Rc::new(v);
            token_cache::put(t, v.clone(), source, capacity);
            v
        }),
    }?;
    check_policy(request.as_mut(), lc, &verified, now)?;
    Ok(verified)
}

/// The bearer token: from the configured variable, or from `Authorization: Bearer`. The bytes
/// live in request memory (a header or the request pool), valid for the whole request.
fn token<'p>(
    r: &mut ngx_http_request_t,
    source: Option<crate::config::ComplexValue>,
) -> Result<&'p [u8], Rejection> {
    if let Some(cv) = source {
        return match glue::complex_value(r, cv.0) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Rejection::new(Reason::Missing, "the token variable is empty")),
        };
    }
    let header = glue::authorization(r)
        .ok_or_else(|| Rejection::new(Reason::Missing, "no \"Authorization\" header"))?;
    bearer::from_authorization(header).map_err(|e| match e {
        BearerError::NotBearer => Rejection::new(Reason::Missing, "no \"Bearer\" credentials"),
        BearerError::Invalid => {
            Rejection::new(Reason::Malformed, "\"Authorization: Bearer\" is not one token")
        }
    })
}

/// `jwt_peer_auth_max_age` and `jwt_peer_auth_claim`, after the signature and time checks.
fn check_policy(r: &mut ngx_http_request_t, lc: &LocConf, v: &Verified, now: i64) -> Result<(), Rejection> {
    if let Some(max_age) = lc.max_age {
        policy::check_max_age(&v.times, max_age, lc.policy.leeway, now)?;
    }
    for rule in lc.claims.iter().flatten() {
        let mut allowed: Vec<&[u8]> = Vec::with_capacity(rule.values.len());
        for cv in &rule.values {
            allowed.push(glue::complex_value(r, cv.0).unwrap_or_default());
        }
        if !policy::claim_matches(&v.claims, &rule.name, &allowed) {
            return Err(policy::claim_rejection(&rule.name));
        }
    }
    Ok(())
}

/// `jwt_peer_auth_require`: every value non-empty and not "0", else 401 or 403.
fn require(request: &mut Request, lc: &'static LocConf, ctx_ptr: *mut RequestCtx) -> ngx_int_t {
    for rule in lc.requires.iter().flatten() {
        let failed = rule
            .values
            .iter()
            .any(|cv| !glue::complex_value(request.as_mut(), cv.0).is_some_and(policy::require_passes));
        if !failed {
            continue;
        }
        if rule.status == 403 {
            // SAFETY: see handle.
            unsafe { (*ctx_ptr).status = Some(Err(Reason::Claim)) };
            ngx_log_error!(
                NGX_LOG_INFO,
                request.log(),
                "jwt_peer_auth: request forbidden by \"jwt_peer_auth_require\""
            );
            count(request, |c| &c.forbidden);
            return 403;
        }
        let rejection = Rejection::new(
            Reason::Claim,
            "a \"jwt_peer_auth_require\" value is empty or \"0\"",
        );
        return refuse(request, lc, ctx_ptr, &rejection);
    }
    OK
}

/// A fetched key set as this request uses it.
struct FetchedKeys {
    keys: Rc<KeySet>,
    slot: usize,
    generation: u64,
}

enum Fetched {
    Keys(Option<FetchedKeys>),
    Wait,
    Error(String),
}

fn zone(request: &Request) -> Option<Zone> {
    let mc = JwtPeerAuthModule::main_conf(request)?;
    Zone::from_shm(mc.shm_zone)
}

/// Decides, per the key source's shared state, whether to verify now, refresh in the
/// background, or wait for a fetch.
fn fetched_keys(
    request: &mut Request,
    lc: &'static LocConf,
    kr: &'static KeyRequest,
    ctx_ptr: *mut RequestCtx,
) -> Fetched {
    // SAFETY: the context lives in the request pool; this is the only reference while the
    // handler runs (the post-subrequest handler runs later, on the same thread).
    let ctx = unsafe { &mut *ctx_ptr };
    if ctx.waiting {
        return Fetched::Wait;
    }
    let Some(zone) = zone(request) else {
        return Fetched::Error("the shared zone is not available".into());
    };
    let Some(slot) = keys::slot(&zone, &kr.uri) else {
        return Fetched::Error(format!("no room for key source \"{}\" in the zone", kr.uri));
    };
    ctx.zone = Some(zone.clone());
    ctx.slot = slot;
    ctx.uri = kr.uri.as_str();
    let cfg = lc.key_cache.unwrap_or_default();
    let now = ngx::ffi::ngx_time();
    let state = keys::state(&zone, slot, &cfg, now);
    match state.plan(&cfg, now) {
        Plan::Verify => {}
        Plan::VerifyAndRefresh => {
            if zone.try_start(slot, &cfg, now, false) {
                ctx.lease = true;
                if !fetch::start(request, ctx_ptr, true) {
                    ctx.lease = false;
                    zone.abandon(slot);
                }
            }
        }
        Plan::FetchAndWait => {
            if zone.try_start(slot, &cfg, now, false) {
                return start_waited(request, ctx_ptr, &zone, slot);
            }
            return wait_for_other(request, ctx, &cfg);
        }
        Plan::WaitForOther => return wait_for_other(request, ctx, &cfg),
        Plan::Unavailable => return Fetched::Keys(None),
    }
    Fetched::Keys(
        keys::get(&zone, slot, state.generation).map(|(generation, keys)| FetchedKeys {
            keys,
            slot,
            generation,
        }),
    )
}

fn start_waited(request: &mut Request, ctx_ptr: *mut RequestCtx, zone: &Zone, slot: usize) -> Fetched {
    // SAFETY: see fetched_keys.
    let ctx = unsafe { &mut *ctx_ptr };
    ctx.lease = true;
    ctx.waiting = true;
    if fetch::start(request, ctx_ptr, false) {
        return Fetched::Wait;
    }
    ctx.lease = false;
    ctx.waiting = false;
    zone.abandon(slot);
    Fetched::Error(format!("cannot start the key request \"{}\"", ctx.uri))
}

fn wait_for_other(request: &mut Request, ctx: &mut RequestCtx, cfg: &CacheSettings) -> Fetched {
    let max_polls = u32::try_from(cfg.lease.max(1) * 1000 / POLL_MS as u64).unwrap_or(u32::MAX);
    if ctx.polls < max_polls && fetch::poll_later(request.as_mut()) {
        ctx.polls += 1;
        return Fetched::Wait;
    }
    Fetched::Keys(None)
}

/// Whether the zone holds a newer key set than the one just used (read from the zone itself,
/// not the worker's once-a-second copy). Checked once per request.
fn newer_keys_published(ctx_ptr: *mut RequestCtx, used: Option<&FetchedKeys>) -> bool {
    // SAFETY: see fetched_keys.
    let ctx = unsafe { &mut *ctx_ptr };
    let (Some(zone), Some(used)) = (ctx.zone.as_ref(), used) else {
        return false;
    };
    if ctx.rechecked {
        return false;
    }
    ctx.rechecked = true;
    keys::forget_state(used.slot);
    zone.state(used.slot).generation > used.generation
}

/// A token with an unknown `kid`: refetch at once (rate-limited), then verify again.
fn force_refetch(request: &mut Request, lc: &'static LocConf, ctx_ptr: *mut RequestCtx) -> bool {
    // SAFETY: see fetched_keys.
    let ctx = unsafe { &mut *ctx_ptr };
    let Some(zone) = ctx.zone.clone() else {
        return false;
    };
    if ctx.forced {
        return false;
    }
    let cfg = lc.key_cache.unwrap_or_default();
    if !zone.try_start(ctx.slot, &cfg, ngx::ffi::ngx_time(), true) {
        return false;
    }
    ctx.forced = true;
    matches!(start_waited(request, ctx_ptr, &zone, ctx.slot), Fetched::Wait)
}

fn refuse(
    request: &mut Request,
    lc: &'static LocConf,
    ctx_ptr: *mut RequestCtx,
    rejection: &Rejection,
) -> ngx_int_t {
    let reason = rejection.reason;
    // SAFETY: see handle.
    unsafe { (*ctx_ptr).status = Some(Err(reason)) };
    let i = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
    count(request, |c| &c.rejected[i]);
    let level = if reason == Reason::NoKeys {
        NGX_LOG_ERR
    } else {
        NGX_LOG_INFO
    };
    ngx_log_error!(level, request.log(), "jwt_peer_auth: token rejected: {rejection}");
    let status = reason.http_status();
    if status == 401 && !glue::set_www_authenticate(request.as_mut(), lc.challenge(reason)) {
        return SERVER_ERROR;
    }
    ngx_int_t::from(i16::try_from(status).unwrap_or(500))
}
