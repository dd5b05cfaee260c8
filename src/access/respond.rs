//! The answers of the access checks: an allowed token (then `jwt_peer_auth_require`), a
//! refusal with its status, RFC 6750 challenge and one log line, a refusal not enforced, and
//! the 500 of a module that cannot decide.

use jwt_peer_auth_core::enforcement::Enforcement;
use jwt_peer_auth_core::{policy, Reason, Rejection};
use ngx::ffi::{ngx_int_t, NGX_HTTP_FORBIDDEN, NGX_LOG_ERR, NGX_LOG_INFO};
use ngx::http::Request;

use crate::ctx::{Identity, Outcome};
use crate::glue;

use super::{Job, DECLINED, OK, SERVER_ERROR};
use crate::log::{debug, log};

/// The token passed: record the identity, then `jwt_peer_auth_require` (whose values may use
/// the claim variables set here).
pub(super) fn allow(request: &mut Request, job: &Job, identity: Identity) -> ngx_int_t {
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
    debug!(request.log(), "decision: allowed");
    OK
}

/// Refuses the request by `jwt_peer_auth_require ... error=403`: no identity, counted, logged.
pub(super) fn forbid(request: &mut Request, job: &Job) -> ngx_int_t {
    // No identity is left for the variables from here on.
    job.ctx.decide(job.lc, Outcome::Forbidden, None);
    if !job.ctx.again.replace(false) {
        job.count(|c| &c.forbidden);
    }
    if !job.lc.enforcement().enforces(Reason::Claim) {
        job.count(|c| &c.unenforced);
        job.ctx.decide(job.lc, Outcome::Passed(Reason::Claim), None);
        log!(
            INFO,
            request.log(),
            "shadow: request would be forbidden by \"jwt_peer_auth_require\""
        );
        return DECLINED;
    }
    log!(
        INFO,
        request.log(),
        "request forbidden by \"jwt_peer_auth_require\""
    );
    NGX_HTTP_FORBIDDEN as ngx_int_t
}

/// Refuses the request: no identity is left for the variables, the refusal is counted and
/// logged once (`no_keys` as an error once per change of the key source's state), and a 401
/// carries the challenge.
pub(super) fn refuse(
    request: &mut Request,
    job: &Job,
    rejection: &Rejection,
    slot: Option<usize>,
) -> ngx_int_t {
    let reason = rejection.reason;
    let enforced = job.lc.enforcement().enforces(reason);
    let outcome = match enforced {
        true => Outcome::Refused(reason),
        false => Outcome::Passed(reason),
    };
    job.ctx.decide(job.lc, outcome, None);
    debug!(
        request.log(),
        "decision: {} ({reason})",
        if enforced { "refused" } else { "passed unenforced" }
    );
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
        log!(@ level, request.log(), "error page refused too: {rejection}"
        );
    } else {
        log!(@ level, request.log(), "token rejected: {rejection}");
    }
    refusal_status(request, job, reason, true)
}

/// A refusal the location does not enforce: the request goes on without identity. A shadow
/// check logs what it would have refused; an optional token's absence is not worth a line.
pub(super) fn pass_unenforced(request: &Request, job: &Job, rejection: &Rejection, level: u32) -> ngx_int_t {
    job.count(|c| &c.unenforced);
    if job.lc.enforcement() == Enforcement::Shadow {
        log!(@ level, request.log(), "shadow: token would be rejected: {rejection}"
        );
    }
    DECLINED
}

/// The module cannot decide (no shared zone, a key request that cannot start): 500, except
/// under `shadow`, which never stops a request (it passes as `no_keys`; the cause is logged).
pub(super) fn server_error(job: &Job) -> ngx_int_t {
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
pub(super) fn refusal_status(request: &mut Request, job: &Job, reason: Reason, challenge: bool) -> ngx_int_t {
    let status = reason.http_status();
    let (ours, value) = job.ctx.challenge.get();
    // SAFETY: NULL or the element this module pushed on the request's output header list
    // (request pool memory, valid for the whole request); only read.
    let challenged =
        unsafe { ours.as_ref() }.is_some_and(|h| h.hash != 0 && std::ptr::eq(h.value.data, value));
    if challenge && !challenged && matches!(status, 400 | 401) {
        let (text, second) = crate::dpop::check::challenges(job.lc, job.ctx, reason)
            .unwrap_or((job.lc.challenge(reason), None));
        if !glue::set_www_authenticate(request.as_mut(), text) {
            return SERVER_ERROR;
        }
        if !crate::dpop::check::more_headers(request.as_mut(), job.lc, second) {
            return SERVER_ERROR;
        }
        // set_www_authenticate made it the head of the response's WWW-Authenticate headers.
        job.ctx
            .challenge
            .set((request.as_ref().headers_out.www_authenticate, text.as_ptr()));
    }
    status as ngx_int_t
}
