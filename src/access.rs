//! The access-phase handler: token source → verification → allow, or refusal with an RFC 6750
//! challenge and one log line naming the reason.

use jwt_peer_auth_core::bearer::{self, BearerError};
use jwt_peer_auth_core::{Reason, Rejection};
use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_ALERT, NGX_LOG_ERR,
    NGX_LOG_INFO,
};
use ngx::http::{HttpModuleLocationConf, Request};
use ngx::ngx_log_error;

use crate::config::LocConf;
use crate::glue;
use crate::JwtPeerAuthModule;

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

fn handle(request: &mut Request) -> ngx_int_t {
    let Some(lc) = JwtPeerAuthModule::location_conf(request) else {
        return Status::NGX_DECLINED.into();
    };
    if !lc.enabled() {
        return Status::NGX_DECLINED.into();
    }
    match check(request.as_ref(), lc) {
        Ok(()) => Status::NGX_OK.into(),
        Err(rejection) => refuse(request, lc, &rejection),
    }
}

fn check(r: &ngx_http_request_t, lc: &LocConf) -> Result<(), Rejection> {
    let header = glue::authorization(r)
        .ok_or_else(|| Rejection::new(Reason::Missing, "no \"Authorization\" header"))?;
    let token = bearer::from_authorization(header).map_err(|e| match e {
        BearerError::NotBearer => Rejection::new(Reason::Missing, "no \"Bearer\" credentials"),
        BearerError::Invalid => Rejection::new(
            Reason::Malformed,
            "\"Authorization: Bearer\" is not one token",
        ),
    })?;
    let file = lc.jwks_file.as_ref().map(|f| &f.keys);
    let sets: &[&jwt_peer_auth_core::KeySet] = match &file {
        Some(keys) => std::slice::from_ref(keys),
        None => &[],
    };
    jwt_peer_auth_core::verify(token, sets, &lc.policy, ngx::ffi::ngx_time()).map(|_| ())
}

fn refuse(request: &mut Request, lc: &'static LocConf, rejection: &Rejection) -> ngx_int_t {
    let reason = rejection.reason;
    let level = if reason == Reason::NoKeys {
        NGX_LOG_ERR
    } else {
        NGX_LOG_INFO
    };
    ngx_log_error!(
        level,
        request.log(),
        "jwt_peer_auth: token rejected: {rejection}"
    );
    let status = reason.http_status();
    if status == 401 {
        let challenge = if reason.invalid_token() {
            &lc.challenge_invalid
        } else {
            &lc.challenge
        };
        if !glue::set_www_authenticate(request.as_mut(), challenge) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
    }
    ngx_int_t::from(i16::try_from(status).unwrap_or(500))
}
