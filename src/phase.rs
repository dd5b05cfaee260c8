//! Verification in NGINX's preaccess phase (`jwt_peer_auth_phase preaccess`, and `shadow`
//! where no level sets the phase): before `limit_req` and `limit_conn`, so that their keys can
//! use the verified identity (`limit_req_zone $jwt_claim_identifier ...`), and before
//! `auth_request`, so that a shadow check sees every request.
//!
//! The checks are the access handler's ([`crate::access`]); it also answers for how the
//! preaccess phase reads a handler's result: NGX_OK would end the phase (the limiters would not
//! run), so an allowed request is NGX_DECLINED there, and sub-requests, which the preaccess
//! phase (unlike the access phase) runs handlers for, are left alone.
//!
//! Where the configuration uses `$jwt_peer_auth_unverified_addr`, the preaccess work is split
//! around the limiters: the first handler decides what needs no signature verification (no
//! token, a bad header, a token or refusal cache hit, keys to wait for) and leaves the request
//! marked as pending otherwise; the limiters then see the client address in that variable and
//! can throttle it (`limit_req zone=... ` with `limit_req_status`); the second handler, last in
//! the phase, verifies the pending token. A cached token costs nothing more, and its identity is
//! known to the limiters as before; an uncached token's identity is not (it is verified after
//! them).

use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_handler_pt, ngx_http_phases_NGX_HTTP_PREACCESS_PHASE,
    ngx_http_request_t, ngx_http_variable_t, ngx_int_t,
};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

use crate::access;
use crate::config::Phase;
use crate::JwtPeerAuthModule;

/// The variable whose use in the configuration splits the preaccess work.
pub const UNVERIFIED_ADDR: &str = "jwt_peer_auth_unverified_addr";

/// The preaccess phase handler, added in postconfiguration only when some location uses it.
pub extern "C" fn preaccess_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    access::run(r, Phase::Preaccess)
}

/// The last preaccess handler, after the limiters: verifies a token the first one left pending.
pub extern "C" fn verify_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    access::run_pending(r)
}

/// Adds the preaccess handler so that it runs first in its phase, and, where the configuration
/// uses `$jwt_peer_auth_unverified_addr`, the verifying handler so that it runs last.
pub fn install(cf: &mut ngx_conf_t) -> Result<(), String> {
    let cmcf = NgxHttpCoreModule::main_conf_mut(cf).ok_or("no http core configuration")?;
    let split = uses_variable(&cmcf.variables, UNVERIFIED_ADDR);
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
    if split {
        // SAFETY: as above.
        let h = unsafe { ngx_array_push(phase) }.cast::<ngx_http_handler_pt>();
        if h.is_null() {
            return Err("cannot add the preaccess handler".into());
        }
        // At the start of the array: it runs after every other preaccess handler.
        // SAFETY: `phase` holds `nelts` initialised handler slots (the new one included) of
        // ngx_http_handler_pt; the copy moves the old ones one slot up within the array.
        unsafe {
            let base = phase.elts.cast::<ngx_http_handler_pt>();
            std::ptr::copy(base, base.add(1), phase.nelts - 1);
            base.write(Some(verify_handler));
        }
    }
    let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
    mc.verify_after_limiters = split;
    Ok(())
}

/// Whether the configuration refers to variable `name`: NGINX indexes every variable a
/// directive's value uses (`limit_req_zone`'s key, `map`, `log_format`, ...) while parsing.
fn uses_variable(variables: &ngx::ffi::ngx_array_t, name: &str) -> bool {
    if variables.elts.is_null() {
        return false;
    }
    // SAFETY: the core module's indexed variables: `nelts` initialised ngx_http_variable_t.
    let vars =
        unsafe { std::slice::from_raw_parts(variables.elts.cast::<ngx_http_variable_t>(), variables.nelts) };
    vars.iter().any(|v| v.name.as_bytes() == name.as_bytes())
}
