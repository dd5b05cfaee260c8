//! The token and the checks after the signature: the bearer token's bytes, then revocation,
//! certificate binding, `max_age` and claim rules (for a cached token too).

use jwt_peer_auth_core::bearer::{self, BearerError};
use jwt_peer_auth_core::{binding, policy, Reason, Rejection, Verified};
use ngx::ffi::ngx_http_request_t;

use crate::config::CertBinding;
use crate::ctx::RequestCtx;
use crate::glue;
use crate::revocation::list::List;

use super::Job;
use crate::log::log;

/// The bearer token: from the configured variable, or from `Authorization: Bearer`. The bytes
/// live in request memory (a header or the request pool), valid for the whole request.
pub(super) fn token<'p>(
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
    let ctx = crate::ctx::get(r);
    if let Some(t) = crate::dpop::check::token(r, header, ctx) {
        return t;
    }
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
pub(super) fn check_policy(
    r: &mut ngx_http_request_t,
    job: &Job,
    v: &Verified,
    now: i64,
) -> Result<(), Rejection> {
    let lc = job.lc;
    crate::dpop::check::check(r, lc, job.ctx, v, now)?;
    if let Some(names) = lc.revocation_check.as_deref().filter(|n| !n.is_empty()) {
        crate::revocation::feed::gate(r, lc.revocation_feed_here, job.mc.revocation.as_deref())?;
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
pub(super) fn check_revocation(job: &Job, v: &Verified, names: &[String], now: i64) -> Result<(), Rejection> {
    let list = job.mc.revocation.as_deref().and_then(List::of);
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
pub(super) fn client_thumbprint(
    r: &mut ngx_http_request_t,
    ctx: &RequestCtx,
    b: &CertBinding,
) -> Option<String> {
    let value = glue::complex_value(r, b.cert.0)?;
    match binding::thumbprint_from_value(value, b.escaped) {
        Ok(t) => {
            *ctx.thumbprint.borrow_mut() = t.clone();
            t
        }
        Err(e) => {
            // SAFETY: a live request's connection and its log.
            let log = unsafe { (*r.connection).log };
            log!(INFO, log, "client certificate not usable: {e}");
            None
        }
    }
}
