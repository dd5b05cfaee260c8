//! The access-phase handler: token → cheap header checks → keys → verification → policy →
//! allow, or a refusal with an RFC 6750 challenge and one log line naming the reason.
//!
//! The handler runs after NGINX's own access handlers (allow/deny, auth_basic, auth_request),
//! so `satisfy any` lets an allowed client through without waiting for keys. The decision is
//! kept in the request's context: after an internal redirect (`try_files`, named locations)
//! a location that trusts the decision does not verify or log the token again. A refused
//! request reaching a protected location (its error page) is checked there again, as
//! `auth_basic` does: only a location with the module off serves it unchecked.
//!
//! The same checks run from the preaccess phase where a location says so ([`crate::phase`]);
//! each location is checked by the handler of its own phase only. Under `optional` and
//! `shadow` a refusal that is not enforced lets the request go on without identity.

use jwt_peer_auth_core::enforcement::Enforcement;
use jwt_peer_auth_core::token::Token;
use jwt_peer_auth_core::{Reason, Rejection};
use ngx::core::Status;
use ngx::ffi::{ngx_http_request_t, ngx_int_t, NGX_HTTP_FORBIDDEN, NGX_HTTP_INTERNAL_SERVER_ERROR};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, Request};

use crate::config::{LocConf, MainConf, Mode, Phase, MAX_LEVEL_SOURCES};
use crate::ctx::{self, Identity, Outcome, RequestCtx};
use crate::keys::{self, FetchedKeys, Keys, Retry};
use crate::token_cache::Source;
use crate::zone::{Counters, Zone};
use crate::JwtPeerAuthModule;

mod checks;
mod respond;
mod ring;

use crate::log::{debug, log};
use checks::{check_policy, token};
use respond::{allow, refusal_status, refuse, server_error};
use ring::{for_issuer, key_ring, verify_token};

/// The phase handler registered in postconfiguration.
pub extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    run(r, Phase::Access)
}

/// Runs the checks for the handler of `phase`. Panics never cross into NGINX: one answers 500
/// and is logged.
pub fn run(r: *mut ngx_http_request_t, phase: Phase) -> ngx_int_t {
    guarded(r, |request| handle(request, phase, false))
}

/// The preaccess handler after the limiters ([`crate::phase`]): verifies the token that the
/// first preaccess handler left pending. It checks every main request of a preaccess location,
/// not only those marked pending: one already decided there re-enters that decision for
/// nothing, and one left undecided by any path is verified, never let through.
pub fn run_pending(r: *mut ngx_http_request_t) -> ngx_int_t {
    guarded(r, |request| {
        // Sub-requests (the key request itself) are not checked, and share the main
        // request's state: they must not touch it.
        if !request.is_main() {
            return DECLINED;
        }
        let rc = handle(request, Phase::Preaccess, true);
        // Pending until decided: a key request to wait for (NGX_AGAIN) runs this handler
        // again.
        if rc != AGAIN {
            if let Some(c) = ctx::get(request.as_ref()) {
                c.pending.set(false);
            }
        }
        rc
    })
}

/// Runs a phase handler's work: panics never cross into NGINX, one answers 500 and is logged.
fn guarded(r: *mut ngx_http_request_t, work: impl FnOnce(&mut Request) -> ngx_int_t) -> ngx_int_t {
    // SAFETY: NGINX calls phase handlers with a valid request pointer.
    let request = unsafe { Request::from_ngx_http_request(r) };
    let log = request.log();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(request))) {
        Ok(rc) => rc,
        Err(_) => {
            log!(ALERT, log, "internal error (panic) while verifying");
            SERVER_ERROR
        }
    }
}

const AGAIN: ngx_int_t = Status::NGX_AGAIN.0;
const DECLINED: ngx_int_t = Status::NGX_DECLINED.0;
const OK: ngx_int_t = Status::NGX_OK.0;
const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// What one request's checks work with, resolved once.
struct Job<'a> {
    lc: &'static LocConf,
    mc: &'static MainConf,
    zone: Option<Zone>,
    ctx: &'a RequestCtx,
    /// A token that needs a signature verification is left pending for the handler after the
    /// limiters, not verified now.
    defer: bool,
}

impl Job<'_> {
    fn count(&self, which: impl Fn(&Counters) -> &std::sync::atomic::AtomicU64) {
        if let Some(z) = &self.zone {
            Counters::add(which(z.counters()));
        }
    }
}

/// `late`: the preaccess handler after the limiters, for a pending token.
fn handle(request: &mut Request, phase: Phase, late: bool) -> ngx_int_t {
    let Some(lc) = JwtPeerAuthModule::location_conf(request) else {
        return Status::NGX_DECLINED.into();
    };
    let Some(Mode::On {
        token: source,
        enforcement,
        ..
    }) = &lc.mode
    else {
        return Status::NGX_DECLINED.into();
    };
    // Each location is checked by the handler of its phase; the access phase never sees
    // sub-requests, and neither does the preaccess handler.
    match (phase, lc.preaccess) {
        (Phase::Access, true) => return preaccess_vote(request, lc, *source, *enforcement),
        (Phase::Preaccess, false) => return DECLINED,
        (Phase::Preaccess, true) if !request.is_main() => return DECLINED,
        _ => {}
    }
    let rc = check(request, lc, *source, phase == Phase::Preaccess && !late);
    // NGX_OK ends the preaccess phase (limit_req and limit_conn would not run) and, under
    // `satisfy any`, admits the request in the access phase: a shadow check never admits.
    if rc == OK && (phase == Phase::Preaccess || *enforcement == Enforcement::Shadow) {
        return DECLINED;
    }
    rc
}

/// The access phase of a location checked in the preaccess phase: nothing is verified again,
/// but a token allowed there is this module's "yes" under `satisfy any`, as it would have been
/// in the access phase (a shadow check never admits anything).
///
/// Another module's preaccess handler may end that phase with NGX_OK (NGINX then skips the rest
/// of the phase): before the module's first preaccess handler, or between it and the handler
/// after the limiters, with a token still pending. A request the preaccess checks did not
/// decide for this location is checked here, never let through unchecked.
fn preaccess_vote(
    request: &mut Request,
    lc: &'static LocConf,
    source: Option<crate::config::ComplexValue>,
    enforcement: Enforcement,
) -> ngx_int_t {
    let decided = ctx::get(request.as_ref())
        .filter(|c| !c.pending.get() && c.decided_for(lc))
        .and_then(|c| c.outcome());
    if let Some(outcome) = decided {
        return match outcome {
            Outcome::Allowed if enforcement != Enforcement::Shadow => OK,
            _ => DECLINED,
        };
    }
    // Once per request (a wait for keys runs this handler again).
    let Some(c) = ctx::get_or_create(request.as_ref()) else {
        return SERVER_ERROR;
    };
    if !c.late_check.replace(true) {
        log!(
            INFO,
            request.log(),
            "the preaccess phase ended before the token was checked there \
             (another module's handler): checked in the access phase"
        );
    }
    let rc = check(request, lc, source, false);
    if rc != AGAIN {
        c.pending.set(false);
    }
    if rc == OK && enforcement == Enforcement::Shadow {
        return DECLINED;
    }
    rc
}

/// The checks of an enabled location: token → keys → verification → policy.
fn check(
    request: &mut Request,
    lc: &'static LocConf,
    source: Option<crate::config::ComplexValue>,
    early: bool,
) -> ngx_int_t {
    let (Some(mc), Some(ctx)) = (
        JwtPeerAuthModule::main_conf(request),
        ctx::get_or_create(request.as_ref()),
    ) else {
        return SERVER_ERROR;
    };
    let job = Job {
        lc,
        mc,
        zone: Zone::from_shm(mc.shm_zone),
        ctx,
        defer: early && mc.verify_after_limiters,
    };
    // A token left pending before an internal redirect (limit_req's error page) is not this
    // location's: it decides afresh.
    if early {
        ctx.pending.set(false);
    }
    if let Some(outcome) = ctx.outcome() {
        if let Some(rc) = reenter(request, &job, outcome) {
            return rc;
        }
    }
    // Requests without a usable bearer token are refused before any key is looked at; tokens
    // that fail the checks that need no key never start or wait for a fetch (keys.rs).
    let from = match source {
        Some(_) => "the \"token=\" variable",
        None => "the \"Authorization\" header",
    };
    let t = match token(request.as_mut(), source) {
        Ok(t) => t,
        Err(rejection) => {
            debug!(request.log(), "no token from {from}");
            return refuse(request, &job, &rejection, None);
        }
    };
    debug!(request.log(), "token from {from}, {} bytes", t.len());
    // Both caches are keyed by the token's SHA-256 (see token_cache.rs; computed once per
    // kept-alive connection and token, conn_memo.rs), looked up before anything is parsed.
    let d = crate::conn_memo::token_digest(request.as_ref(), t);
    // The token parsed at most once, when first needed: by the issuer filter, the checks
    // before keys, or verification (not at all when a cache answers).
    let mut view = Token::new(t);
    let sources = &lc.key_sources[..lc.key_sources.len().min(MAX_LEVEL_SOURCES)];
    // The fetched sources worth looking at: not those bound to another issuer than the token's
    // (no fetch, no wait, no refetch for them).
    let looked_at = match lc.issuer_bound {
        true => for_issuer(&job, sources, &view, &d),
        false => u32::MAX,
    };
    debug!(
        request.log(),
        "key sources: {} files, {} key requests (issuer filter {looked_at:#x})",
        lc.jwks_files.len(),
        sources.len()
    );
    let wanted = |n: usize, i: usize| mc.sources.get(i).filter(|_| looked_at & (1 << n) != 0);
    // At most once more per fetched source: after another worker published newer keys.
    for _ in 0..=sources.len() {
        let mut fetched: [Option<FetchedKeys>; MAX_LEVEL_SOURCES] = Default::default();
        // A source that may hold the token's key but has none usable: fail closed, unless
        // another source's key verifies the token.
        let mut unavailable = None;
        for (n, src) in sources
            .iter()
            .enumerate()
            .filter_map(|(n, &i)| Some((n, wanted(n, i)?)))
        {
            let Some(zone) = &job.zone else {
                log!(ERR, request.log(), "the shared zone is not available");
                return server_error(&job);
            };
            let on_new_keys = crate::token_cache::clear;
            let cache = lc.key_cache.unwrap_or_default();
            match keys::for_request(
                request.as_mut(),
                &cache,
                src,
                zone,
                &ctx.waits,
                on_new_keys,
                || view.precheck(&lc.policy),
            ) {
                Keys::Wait => {
                    debug!(request.log(), "key source \"{}\": waiting for keys", src.label);
                    return AGAIN;
                }
                Keys::Gone => return crate::fetch::wait::gone(request.as_mut()),
                Keys::Refused(rejection) => return refuse(request, &job, &rejection, None),
                Keys::Error(msg) => {
                    log!(ERR, request.log(), "{msg}");
                    return server_error(&job);
                }
                Keys::Ready(None) => {
                    debug!(request.log(), "key source \"{}\": no usable keys", src.label);
                    unavailable.get_or_insert(src.slot);
                }
                Keys::Ready(Some(k)) => {
                    debug!(
                        request.log(),
                        "key source \"{}\": {} keys, generation {}",
                        src.label,
                        k.keys.keys.len(),
                        k.generation
                    );
                    fetched[n] = Some(k);
                }
            }
        }
        let now = ngx::ffi::ngx_time();
        let ring = key_ring(&job, sources, &fetched, looked_at);
        match verify_token(request, &job, &mut view, &d, &ring, now) {
            // Left for the handler after the limiters ($jwt_peer_auth_unverified_addr).
            Ok(None) => {
                ctx.pending.set(true);
                return DECLINED;
            }
            Ok(Some((v, by))) => {
                let identity = Identity {
                    verified: v,
                    by,
                    token: (t.as_ptr(), t.len()),
                };
                return allow(request, &job, identity);
            }
            Err(_) if unavailable.is_some() => {
                let rejection = Rejection::new(Reason::NoKeys, "no usable keys from the key request");
                return refuse(request, &job, &rejection, unavailable);
            }
            Err(r) if r.reason == Reason::UnknownKid => {
                let Some(zone) = &job.zone else {
                    return refuse(request, &job, &r, None);
                };
                let mut again = false;
                let mut note = None;
                for (n, src) in sources
                    .iter()
                    .enumerate()
                    .filter_map(|(n, &i)| Some((n, wanted(n, i)?)))
                {
                    match keys::after_unknown_kid(
                        request.as_mut(),
                        &lc.key_cache.unwrap_or_default(),
                        src,
                        zone,
                        &ctx.waits,
                        fetched[n].as_ref(),
                        t,
                    ) {
                        Retry::VerifyAgain => again = true,
                        Retry::Wait => return AGAIN,
                        Retry::Gone => return crate::fetch::wait::gone(request.as_mut()),
                        Retry::No(why) => {
                            note = note.or(why);
                            continue;
                        }
                    }
                    break;
                }
                if !again {
                    let r = match note {
                        Some(why) => r.noted(why),
                        None => r,
                    };
                    return refuse(request, &job, &r, None);
                }
            }
            Err(rejection) => return refuse(request, &job, &rejection, None),
        }
    }
    let rejection = Rejection::new(Reason::UnknownKid, "no key with this kid after a refetch");
    refuse(request, &job, &rejection, None)
}

/// The phase runs again for a request already decided: after an internal redirect to another
/// location, or an error page. Nothing is verified or logged twice in one location; `None`: the
/// decision does not carry over to this location, check it from scratch.
///
/// A refused request goes on only to an error page (or `post_action`). As with `auth_basic`,
/// a protected location there checks the request again: its own checks may admit the token;
/// a second refusal ends in NGINX's own page for the status (`recursive_error_pages off`), or
/// in the redirect cycle's 500 (`on`). Only a location with `jwt_peer_auth off` serves the
/// page of a refused request unchecked (`handle` never gets here for it).
fn reenter(request: &mut Request, job: &Job, outcome: Outcome) -> Option<ngx_int_t> {
    let ctx = job.ctx;
    let same_location = ctx.decided_for(job.lc);
    let rc = match outcome {
        // The same checks again would give the same answer: refused again, not logged again.
        Outcome::Refused(reason) if same_location => refusal_status(request, job, reason, false),
        Outcome::Forbidden if same_location => NGX_HTTP_FORBIDDEN as ngx_int_t,
        Outcome::Refused(_) | Outcome::Forbidden => {
            ctx.again.set(true);
            ctx.forget();
            return None;
        }
        // Passed without identity: only where that was decided; elsewhere checked afresh.
        Outcome::Passed(_) if same_location => DECLINED,
        Outcome::Passed(_) => {
            ctx.forget();
            return None;
        }
        Outcome::Allowed if same_location => OK,
        Outcome::Allowed => {
            // Another location: the decision carries over only for a key source this location
            // trusts too, and the token it would read.
            let identity = ctx.identity()?;
            if !trusts_decision(request, job, &identity) {
                ctx.forget();
                return None;
            }
            let v = &identity.verified;
            // Its own checks apply to the same verified token: no signature work.
            let now = ngx::ffi::ngx_time();
            let checked = jwt_peer_auth_core::recheck(v, &job.lc.policy, now)
                .and_then(|()| check_policy(request.as_mut(), job, v, now));
            match checked {
                Ok(()) => allow(request, job, identity),
                Err(rejection) => refuse(request, job, &rejection, None),
            }
        }
    };
    Some(rc)
}

/// Whether this location trusts the key source that verified the request's token, and reads
/// the same token.
fn trusts_decision(request: &mut Request, job: &Job, identity: &Identity) -> bool {
    let trusted = match identity.by {
        Source::File(p) => job.lc.jwks_files.iter().any(|f| std::ptr::eq(&f.keys, p)),
        Source::Fetched { slot, .. } => job
            .lc
            .key_sources
            .iter()
            .filter_map(|&i| job.mc.sources.get(i))
            .any(|s| s.slot == slot),
        // Verifies nothing: never what verified a token.
        Source::Without { .. } => false,
    };
    let Some(Mode::On { token: source, .. }) = &job.lc.mode else {
        return false;
    };
    let (p, n) = identity.token;
    let same_token = match token(request.as_mut(), *source) {
        // SAFETY: `token` points to `n` bytes of request memory (a header or the request
        // pool), valid for the whole request.
        Ok(t) => !p.is_null() && t == unsafe { std::slice::from_raw_parts(p, n) },
        Err(_) => false,
    };
    trusted && same_token
}
