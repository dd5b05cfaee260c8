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

use std::rc::Rc;

use jwt_peer_auth_core::bearer::{self, BearerError};
use jwt_peer_auth_core::digest::Digest;
use jwt_peer_auth_core::enforcement::Enforcement;
use jwt_peer_auth_core::token::Token;
use jwt_peer_auth_core::verify::KeyRing;
use jwt_peer_auth_core::{binding, policy, Reason, Rejection, Verified};
use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_FORBIDDEN, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_ALERT,
    NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, Request};
use ngx::ngx_log_error;

use crate::config::{CertBinding, LocConf, MainConf, Mode, Phase, MAX_LEVEL_SOURCES};
use crate::ctx::{self, Identity, Outcome, RequestCtx};
use crate::keys::{self, FetchedKeys, Keys, Retry};
use crate::revocation::list::List;
use crate::token_cache::{self, RingKey, Source};
use crate::zone::{Counters, Zone};
use crate::{glue, JwtPeerAuthModule};

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
            ngx_log_error!(
                NGX_LOG_ALERT,
                log,
                "jwt_peer_auth: internal error (panic) while verifying"
            );
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
        ngx_log_error!(
            NGX_LOG_INFO,
            request.log(),
            "jwt_peer_auth: the preaccess phase ended before the token was checked there \
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
    let t = match token(request.as_mut(), source) {
        Ok(t) => t,
        Err(rejection) => return refuse(request, &job, &rejection, None),
    };
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
                ngx_log_error!(
                    NGX_LOG_ERR,
                    request.log(),
                    "jwt_peer_auth: the shared zone is not available"
                );
                return server_error(&job);
            };
            match keys::for_request(request.as_mut(), lc, src, zone, ctx, || view.precheck(&lc.policy)) {
                Keys::Wait => return AGAIN,
                Keys::Gone => return crate::fetch::wait::gone(request.as_mut()),
                Keys::Refused(rejection) => return refuse(request, &job, &rejection, None),
                Keys::Error(msg) => {
                    ngx_log_error!(NGX_LOG_ERR, request.log(), "jwt_peer_auth: {msg}");
                    return server_error(&job);
                }
                Keys::Ready(None) => {
                    unavailable.get_or_insert(src.slot);
                }
                Keys::Ready(Some(k)) => fetched[n] = Some(k),
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
                        lc,
                        src,
                        zone,
                        ctx,
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

/// The token passed: record the identity, then `jwt_peer_auth_require` (whose values may use
/// the claim variables set here).
fn allow(request: &mut Request, job: &Job, identity: Identity) -> ngx_int_t {
    job.ctx.again.set(false);
    job.ctx.decide(job.lc, Outcome::Allowed, Some(identity));
    for rule in job.lc.requires.iter().flatten() {
        let passes = rule
            .values
            .iter()
            .all(|cv| glue::complex_value(request.as_mut(), cv.0).is_some_and(policy::require_passes));
        if passes {
            continue;
        }
        if rule.status == 403 {
            return forbid(request, job);
        }
        let rejection = Rejection::new(
            Reason::Claim,
            "a \"jwt_peer_auth_require\" value is empty or \"0\"",
        );
        return refuse(request, job, &rejection, None);
    }
    job.count(|c| &c.verified);
    OK
}

/// Refuses the request by `jwt_peer_auth_require ... error=403`: no identity, counted, logged.
fn forbid(request: &mut Request, job: &Job) -> ngx_int_t {
    // No identity is left for the variables from here on.
    job.ctx.decide(job.lc, Outcome::Forbidden, None);
    if !job.ctx.again.replace(false) {
        job.count(|c| &c.forbidden);
    }
    if !job.lc.enforcement().enforces(Reason::Claim) {
        job.count(|c| &c.unenforced);
        job.ctx.decide(job.lc, Outcome::Passed(Reason::Claim), None);
        ngx_log_error!(
            NGX_LOG_INFO,
            request.log(),
            "jwt_peer_auth: shadow: request would be forbidden by \"jwt_peer_auth_require\""
        );
        return DECLINED;
    }
    ngx_log_error!(
        NGX_LOG_INFO,
        request.log(),
        "jwt_peer_auth: request forbidden by \"jwt_peer_auth_require\""
    );
    NGX_HTTP_FORBIDDEN as ngx_int_t
}

/// The key sources one request verifies with: a level's files, then its fetched sets (at
/// most [`MAX_LEVEL_SOURCES`] in all at one level: a fixed array, no allocation).
type Ring<'k> = KeyRing<'k, Source, MAX_LEVEL_SOURCES>;

/// The request's key ring: the location's files, then its fetched sources with the keys this
/// request got (none for a source skipped for the token's issuer, bit `n` of `looked_at`
/// clear, or without usable keys): the core still learns whose they would be (a token no
/// source is for is refused as such, not for want of keys).
fn key_ring<'k>(
    job: &Job,
    sources: &[usize],
    fetched: &'k [Option<FetchedKeys>],
    looked_at: u32,
) -> Ring<'k> {
    let lc = job.lc;
    let mut ring = Ring::default();
    for f in lc.jwks_files.iter().take(MAX_LEVEL_SOURCES) {
        ring.push(Some(&f.keys), f.issuer.as_deref(), Source::File(&f.keys));
    }
    for (n, (k, &i)) in fetched.iter().zip(sources).enumerate() {
        match k {
            Some(k) => {
                let source = Source::Fetched {
                    slot: k.slot,
                    generation: k.generation,
                };
                ring.push(Some(&k.keys), k.issuer, source)
            }
            None => {
                let s = job.mc.sources.get(i);
                let source = Source::Without {
                    slot: s.map_or(usize::MAX, |s| s.slot),
                    skipped: looked_at & (1 << n) == 0,
                };
                ring.push(None, s.and_then(|s| s.issuer.as_deref()), source)
            }
        };
    }
    ring
}

/// Which of an issuer-bound location's fetched `sources` (bit `n` for `sources[n]`) may hold
/// the key of token `t`: those bound to no issuer or to the token's `iss`. Without parsing
/// when the token is cached (its verified `iss`) or a refusal of it by the same sources is
/// remembered (the sources it skipped); else the `iss` the token claims, NOT verified: only
/// to skip sources, never to accept (the core checks `iss` again on the verified payload).
fn for_issuer(job: &Job, sources: &[usize], t: &Token, d: &Digest) -> u32 {
    let mc = job.mc;
    let mask = |iss: Option<&str>| {
        sources.iter().enumerate().fold(0u32, |m, (n, &i)| {
            let allows = mc
                .sources
                .get(i)
                .is_some_and(|s| jwt_peer_auth_core::verify::issuer_allows(s.issuer.as_deref(), iss));
            m | (u32::from(allows) << n)
        })
    };
    if let Some(m) = token_cache::issuer(d, mask) {
        return m;
    }
    if let Some(m) = token_cache::refused_with(d).and_then(|key| skipped_by(job, sources, &key)) {
        return m;
    }
    mask(t.claimed_issuer())
}

/// The fetched sources a remembered refusal looked at, if it was made with this location's
/// sources in this order (then it skipped the same ones for the same token).
fn skipped_by(job: &Job, sources: &[usize], key: &RingKey) -> Option<u32> {
    let files = &job.lc.jwks_files[..job.lc.jwks_files.len().min(MAX_LEVEL_SOURCES)];
    if files.len() + sources.len() > key.len()
        || key.get(files.len() + sources.len()).is_some_and(|&c| c != 0)
    {
        return None;
    }
    if !files
        .iter()
        .zip(key)
        .all(|(f, &c)| token_cache::is_file(c, &f.keys))
    {
        return None;
    }
    let mut m = 0;
    for (n, (&i, &c)) in sources.iter().zip(&key[files.len()..]).enumerate() {
        let slot = job.mc.sources.get(i)?.slot;
        if !token_cache::skipped(c, slot)? {
            m |= 1 << n;
        }
    }
    Some(m)
}

/// Verifies `t` (or takes it from the token cache, re-checked; or answers a refusal the token
/// cannot outgrow from the refusal cache) and applies the location's claim rules. `None`: the
/// token needs a signature verification, which `job.defer` leaves for later.
fn verify_token(
    request: &mut Request,
    job: &Job,
    t: &mut Token,
    d: &Digest,
    ring: &Ring,
    now: i64,
) -> Result<Option<(Rc<Verified>, Source)>, Rejection> {
    let lc = job.lc;
    // Refusals are remembered by the exact sources (and their generations) they were made
    // with.
    let used = token_cache::ring_key(ring.sources());
    let cached = token_cache::get(d, ring.sources());
    let capacity = job.mc.token_cache_entries();
    let (verified, by) = match cached {
        Some((checked, by)) => {
            job.count(|c| &c.cache_hits);
            let v = Verified::from_checked(checked);
            match jwt_peer_auth_core::recheck(&v, &lc.policy, now) {
                Ok(()) => (Rc::new(v), by),
                Err(rejection) => {
                    token_cache::forget(d);
                    // Expired under the sources this location uses: it stays expired.
                    if let Some(used) = &used {
                        token_cache::remember_refusal(d, used, &lc.policy, &rejection, capacity);
                    }
                    return Err(rejection);
                }
            }
        }
        None => {
            if let Some(rejection) = used
                .as_ref()
                .and_then(|u| token_cache::refused(d, u, &lc.policy, now))
            {
                job.count(|c| &c.cache_misses);
                job.count(|c| &c.refusal_cache_hits);
                return Err(rejection);
            }
            if job.defer {
                return Ok(None);
            }
            // Counted here: one miss per signature verification.
            job.count(|c| &c.cache_misses);
            match jwt_peer_auth_core::verify::verify_ring(t, ring, &lc.policy, now) {
                Ok(v) => {
                    let Some(source) = ring.get(v.key.set).map(|e| e.source) else {
                        return Err(Rejection::new(Reason::NoKeys, "no keys to verify with"));
                    };
                    token_cache::put(d, v.checked().clone(), source, capacity);
                    (Rc::new(v), source)
                }
                Err(rejection) => {
                    if let Some(used) = &used {
                        token_cache::remember_refusal(d, used, &lc.policy, &rejection, capacity);
                    }
                    return Err(rejection);
                }
            }
        }
    };
    check_policy(request.as_mut(), job, &verified, now)?;
    Ok(Some((verified, by)))
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
        BearerError::Invalid => Rejection::new(
            Reason::InvalidRequest,
            "\"Authorization: Bearer\" is not exactly one token",
        ),
    })
}

/// `jwt_peer_auth_revocation_check`, `jwt_peer_auth_cert_binding`, `jwt_peer_auth_max_age`
/// and `jwt_peer_auth_claim`, after the signature and time checks (for a cached token too).
fn check_policy(r: &mut ngx_http_request_t, job: &Job, v: &Verified, now: i64) -> Result<(), Rejection> {
    let lc = job.lc;
    if let Some(names) = lc.revocation_check.as_deref().filter(|n| !n.is_empty()) {
        crate::revocation::feed::gate(r, lc, job.mc)?;
        check_revocation(job, v, names, now)?;
    }
    if let Some(b) = lc.cert_binding.filter(|b| b.mode != binding::Mode::Off) {
        let thumbprint = client_thumbprint(r, job.ctx, &b);
        binding::check_cnf(v.claim("cnf").as_deref(), b.mode, thumbprint.as_deref())?;
    }
    if let Some(max_age) = lc.max_age {
        policy::check_max_age(&v.times, max_age, lc.policy.leeway, now)?;
    }
    for rule in lc.claims.iter().flatten() {
        let mut allowed: Vec<&[u8]> = Vec::with_capacity(rule.values.len());
        for cv in &rule.values {
            allowed.push(glue::complex_value(r, cv.0).unwrap_or_default());
        }
        if !policy::claim_matches(v.claims(), &rule.name, &allowed) {
            return Err(policy::claim_rejection(&rule.name));
        }
    }
    Ok(())
}

/// `jwt_peer_auth_revocation_check`: refused if a checked name has a listed value. Fails
/// closed: a list that cannot be read refuses the token.
fn check_revocation(job: &Job, v: &Verified, names: &[String], now: i64) -> Result<(), Rejection> {
    let list = job
        .mc
        .revocation
        .as_deref()
        .and_then(|r| List::from_shm(r.shm_zone));
    let Some(list) = list else {
        return Err(Rejection::new(
            Reason::Revoked,
            "the revocation list is not available",
        ));
    };
    match list.revoked(v, names, now) {
        Some(name) => Err(Rejection::with_value(
            Reason::Revoked,
            "listed on the revocation list:",
            name,
        )),
        None => Ok(()),
    }
}

/// The base64url SHA-256 of the client certificate (RFC 8705 §3.1), from the connection or the
/// `cert=` variable; remembered for `$jwt_peer_auth_cert_thumbprint`. `None`: no (usable)
/// certificate.
fn client_thumbprint(r: &mut ngx_http_request_t, ctx: &RequestCtx, b: &CertBinding) -> Option<String> {
    let value = glue::complex_value(r, b.cert.0)?;
    match binding::thumbprint_from_value(value, b.escaped) {
        Ok(t) => {
            *ctx.thumbprint.borrow_mut() = t.clone();
            t
        }
        Err(e) => {
            // SAFETY: a live request's connection and its log.
            let log = unsafe { (*r.connection).log };
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "jwt_peer_auth: client certificate not usable: {e}"
            );
            None
        }
    }
}

/// Refuses the request: no identity is left for the variables, the refusal is counted and
/// logged once (`no_keys` as an error once per change of the key source's state), and a 401
/// carries the challenge.
fn refuse(request: &mut Request, job: &Job, rejection: &Rejection, slot: Option<usize>) -> ngx_int_t {
    let reason = rejection.reason;
    let enforced = job.lc.enforcement().enforces(reason);
    let outcome = match enforced {
        true => Outcome::Refused(reason),
        false => Outcome::Passed(reason),
    };
    job.ctx.decide(job.lc, outcome, None);
    // A request refused before, checked again at its error page, is counted once.
    let again = job.ctx.again.replace(false);
    if !again {
        job.count(|c| c.rejected(reason));
    }
    let level = match (reason, slot, &job.zone) {
        (Reason::NoKeys, Some(slot), Some(zone)) if zone.first_no_keys(slot) => NGX_LOG_ERR,
        (Reason::NoKeys, None, _) => NGX_LOG_ERR,
        _ => NGX_LOG_INFO,
    };
    if !enforced {
        return pass_unenforced(request, job, rejection, level);
    }
    if again {
        ngx_log_error!(
            level,
            request.log(),
            "jwt_peer_auth: error page refused too: {rejection}"
        );
    } else {
        ngx_log_error!(level, request.log(), "jwt_peer_auth: token rejected: {rejection}");
    }
    refusal_status(request, job, reason, true)
}

/// A refusal the location does not enforce: the request goes on without identity. A shadow
/// check logs what it would have refused; an optional token's absence is not worth a line.
fn pass_unenforced(request: &Request, job: &Job, rejection: &Rejection, level: u32) -> ngx_int_t {
    job.count(|c| &c.unenforced);
    if job.lc.enforcement() == Enforcement::Shadow {
        ngx_log_error!(
            level,
            request.log(),
            "jwt_peer_auth: shadow: token would be rejected: {rejection}"
        );
    }
    DECLINED
}

/// The module cannot decide (no shared zone, a key request that cannot start): 500, except
/// under `shadow`, which never stops a request (it passes as `no_keys`; the cause is logged).
fn server_error(job: &Job) -> ngx_int_t {
    if job.lc.enforcement().enforces(Reason::NoKeys) {
        return SERVER_ERROR;
    }
    job.ctx.again.set(false);
    job.ctx.decide(job.lc, Outcome::Passed(Reason::NoKeys), None);
    DECLINED
}

/// The status of a refusal, with its challenge (`challenge`: the first time). A response that
/// still carries this module's challenge (the first refusal's, before an error page) keeps
/// that one only: `auth_basic` adds its challenge again, but a second one adds nothing for the
/// client, which asked for the first location. Another module's challenge (`auth_basic` or
/// `auth_request` under `satisfy any`) does not count: the Bearer one goes beside it.
fn refusal_status(request: &mut Request, job: &Job, reason: Reason, challenge: bool) -> ngx_int_t {
    let status = reason.http_status();
    let (ours, value) = job.ctx.challenge.get();
    // SAFETY: NULL or the element this module pushed on the request's output header list
    // (request pool memory, valid for the whole request); only read.
    let challenged =
        unsafe { ours.as_ref() }.is_some_and(|h| h.hash != 0 && std::ptr::eq(h.value.data, value));
    if challenge && !challenged && matches!(status, 400 | 401) {
        let text = job.lc.challenge(reason);
        if !glue::set_www_authenticate(request.as_mut(), text) {
            return SERVER_ERROR;
        }
        // set_www_authenticate made it the head of the response's WWW-Authenticate headers.
        job.ctx
            .challenge
            .set((request.as_ref().headers_out.www_authenticate, text.as_ptr()));
    }
    status as ngx_int_t
}
