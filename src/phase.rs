//! Verification in NGINX's preaccess phase (`jwt_peer_auth_phase preaccess`, and `shadow`
//! where no level sets the phase): before `limit_req` and `limit_conn`, so that their keys can
//! use the verified identity (`limit_req_zone $jwt_claim_identifier ...`), and before
//! `auth_request`, so that a shadow check sees every request.
//!
//! The checks are the access handler's ([`crate::access`]); it also answers for how the
//! preaccess phase reads a handler's result: NGX_OK would end the phase (the limiters would not
//! run), so an allowed request is NGX_DECLINED there, and sub-requests, which the preaccess
//! phase (unlike the access phase) runs handlers for, are left alone.

use ngx::ffi::{
    ngx_array_push, ngx_http_core_main_conf_t, ngx_http_handler_pt, ngx_http_phases_NGX_HTTP_PREACCESS_PHASE,
    ngx_http_request_t, ngx_int_t,
};

use crate::access;
use crate::config::Phase;

/// The preaccess phase handler, added in postconfiguration only when some location uses it.
pub extern "C" fn preaccess_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    access::run(r, Phase::Preaccess)
}

/// Adds the preaccess handler so that it runs first in its phase.
pub fn install(cmcf: &mut ngx_http_core_main_conf_t) -> Result<(), String> {
    let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_PREACCESS_PHASE as usize].handlers;
    // SAFETY: the preaccess phase handler array is initialised by the http core module.
    let h = unsafe { ngx_array_push(phase) }.cast::<ngx_http_handler_pt>();
    if h.is_null() {
        return Err("cannot add the preaccess handler".into());
    }
    // NGINX runs a phase's handlers last-added first. The static modules that use this phase
    // (limit_conn, limit_req, realip) added theirs in their own postconfiguration, which runs
    // before a dynamic module's: the handler added last here runs before all of them.
    // SAFETY: `h` is the new, uninitialised last slot of an array of ngx_http_handler_pt.
    unsafe { h.write(Some(preaccess_handler)) };
    Ok(())
}
