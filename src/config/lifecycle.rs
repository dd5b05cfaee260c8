//! What NGINX calls once the directives are read: the merge of each level (with the key
//! sources it registers), the http level's init (the default zone), and postconfiguration
//! (sources resolved against the location trees, the revocation check, the phase handlers).

use std::ffi::{c_char, c_void};

use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{ngx_array_push, ngx_conf_t, ngx_http_handler_pt, ngx_http_phases_NGX_HTTP_ACCESS_PHASE};
use ngx::http::{HttpModuleMainConf, NgxHttpCoreModule};

use super::{caches, LocConf, MainConf};
use crate::{access, fetch, glue, log, phase, revocation, sources, JwtPeerAuthModule};

/// Runs `f` with panics caught; an error is one `[emerg]`.
fn conf_step(cf: &mut ngx_conf_t, f: impl FnOnce(&mut ngx_conf_t) -> Result<(), String>) -> *mut c_char {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(cf))) {
        Ok(Ok(())) => NGX_CONF_OK,
        Ok(Err(msg)) => {
            log::conf_emerg(cf, &msg);
            NGX_CONF_ERROR
        }
        Err(_) => NGX_CONF_ERROR,
    }
}

/// `merge_loc_conf`: a level's settings merged with the enclosing level's.
pub extern "C" fn merge_loc_conf(cf: *mut ngx_conf_t, prev: *mut c_void, conf: *mut c_void) -> *mut c_char {
    let (Some(prev), Some(conf), Some(cf)) = (
        glue::loc_conf_mut::<LocConf>(prev),
        glue::loc_conf_mut::<LocConf>(conf),
        glue::conf_mut(cf),
    ) else {
        return NGX_CONF_ERROR;
    };
    conf_step(cf, |cf| conf.merge_level(prev, cf))
}

/// `init_main_conf`: after the http block is parsed, the default zone if none was given.
pub extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    let (Some(cf), Some(mc)) = (glue::conf_mut(cf), glue::loc_conf_mut::<MainConf>(conf)) else {
        return NGX_CONF_ERROR;
    };
    conf_step(cf, |cf| {
        crate::dpop::config::init_main(cf, mc)?;
        caches::init_main(cf, mc)
    })
}

/// `postconfiguration`: NGX_OK, or NGX_ERROR after an `[emerg]`.
pub fn postconfiguration(cf: &mut ngx_conf_t) -> bool {
    conf_step(cf, postconfigure) == NGX_CONF_OK
}

/// Checks the key sources against the built location trees, links the key-request filters,
/// and adds the access handler so that it runs after NGINX's own access handlers (and, where
/// a location verifies in the preaccess phase, the preaccess handler before the limiters).
fn postconfigure(cf: &mut ngx_conf_t) -> Result<(), String> {
    let mut preaccess = false;
    if let Some(mc) = JwtPeerAuthModule::main_conf_mut(cf) {
        sources::resolve(cf, &mut mc.sources)?;
        revocation::config::check(mc)?;
        revocation::feed::configure(cf, mc.revocation_feed.take(), mc.revocation.as_deref_mut())?;
        preaccess = mc.preaccess;
    }
    fetch::filters::install();
    revocation::feed_fetch::install_filters();
    if preaccess {
        phase::install(cf)?;
    }
    let cmcf = NgxHttpCoreModule::main_conf_mut(cf).ok_or("no http core configuration")?;
    let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_ACCESS_PHASE as usize].handlers;
    // SAFETY: the access phase handler array is initialised by the http core module.
    let h = unsafe { ngx_array_push(phase) }.cast::<ngx_http_handler_pt>();
    if h.is_null() {
        return Err("cannot add the access handler".into());
    }
    // NGINX runs a phase's handlers last-added first: putting this one at the start of the
    // array makes it run after allow/deny, auth_basic and auth_request.
    // SAFETY: `phase` holds `nelts` initialised handler slots (the new one included) of
    // ngx_http_handler_pt; the copy moves the old ones one slot up within the array.
    unsafe {
        let base = phase.elts.cast::<ngx_http_handler_pt>();
        let n = phase.nelts;
        std::ptr::copy(base, base.add(1), n - 1);
        base.write(Some(access::access_handler));
    }
    Ok(())
}
