//! `ngx_http_jwt_peer_auth_module`: verifies JWT bearer tokens in NGINX's access phase (or,
//! where a location says so, its preaccess phase).
//!
//! This file only wires the module together: directives live in [`config`], the phase handler
//! in [`access`] (and its preaccess entry in [`phase`]), the `unsafe` accessors in [`glue`],
//! and every validity decision in the NGINX-free `jwt_peer_auth_core` crate.

// Every unsafe block says why it is sound (`// SAFETY:`), and clippy holds the line.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void};
use std::ptr;

use ngx::core::{Status, NGX_CONF_ERROR, NGX_CONF_OK};
use ngx::ffi::{
    ngx_array_push, ngx_conf_t, ngx_http_handler_pt, ngx_http_module_t,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_int_t, ngx_module_t, ngx_uint_t, NGX_HTTP_MODULE,
    NGX_LOG_EMERG,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};
use ngx::ngx_conf_log_error;

mod access;
mod config;
mod conn_memo;
mod ctx;
mod dpop;
mod fetch;
mod glue;
mod keys;
mod openssl_rsa;
mod phase;
mod revocation;
mod shm;
mod sources;
mod status;
mod token_cache;
mod variables;
mod zone;

use config::{LocConf, MainConf};

pub struct JwtPeerAuthModule;

impl HttpModule for JwtPeerAuthModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the module static is only mutated by NGINX while loading configuration.
        unsafe { &*ptr::addr_of!(ngx_http_jwt_peer_auth_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        let ok = std::panic::catch_unwind(|| glue::conf_mut(cf).map(variables::add));
        match ok {
            Ok(Some(true)) => Status::NGX_OK.into(),
            _ => Status::NGX_ERROR.into(),
        }
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        let Some(cf) = glue::conf_mut(cf) else {
            return Status::NGX_ERROR.into();
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| postconfigure(cf))) {
            Ok(Ok(())) => Status::NGX_OK.into(),
            Ok(Err(msg)) => {
                ngx_conf_log_error!(NGX_LOG_EMERG, cf, "jwt_peer_auth: {msg}");
                Status::NGX_ERROR.into()
            }
            Err(_) => Status::NGX_ERROR.into(),
        }
    }
}

/// Checks the key sources against the built location trees, links the key-request filters,
/// and adds the access handler so that it runs after NGINX's own access handlers (and, where
/// a location verifies in the preaccess phase, the preaccess handler before the limiters).
fn postconfigure(cf: &mut ngx_conf_t) -> Result<(), String> {
    let mut preaccess = false;
    if let Some(mc) = JwtPeerAuthModule::main_conf_mut(cf) {
        sources::resolve(cf, &mut mc.sources)?;
        config::check_revocation(mc)?;
        preaccess = mc.preaccess;
    }
    fetch::filters::install();
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

/// The module's address, the tag of its shared zones.
pub(crate) fn module_tag() -> *mut c_void {
    ptr::addr_of_mut!(ngx_http_jwt_peer_auth_module).cast()
}

/// After the http block is parsed: adds the default zone if keys are fetched.
extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    let (Some(cf), Some(mc)) = (glue::conf_mut(cf), glue::loc_conf_mut::<MainConf>(conf)) else {
        return NGX_CONF_ERROR;
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config::init_main(cf, mc))) {
        Ok(Ok(())) => NGX_CONF_OK,
        Ok(Err(msg)) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "jwt_peer_auth: {msg}");
            NGX_CONF_ERROR
        }
        Err(_) => NGX_CONF_ERROR,
    }
}

// SAFETY: the main configuration of this module is always a `MainConf`, allocated by
// `create_main_conf`.
unsafe impl HttpModuleMainConf for JwtPeerAuthModule {
    type MainConf = MainConf;
}

// SAFETY: the location configuration of this module is always a `LocConf`, allocated by
// `create_loc_conf`.
unsafe impl HttpModuleLocationConf for JwtPeerAuthModule {
    type LocationConf = LocConf;
}

/// Merges a level's settings with the enclosing level's; a problem is an `[emerg]`.
extern "C" fn merge_loc_conf(cf: *mut ngx_conf_t, prev: *mut c_void, conf: *mut c_void) -> *mut c_char {
    let (Some(prev), Some(conf)) = (
        glue::loc_conf_mut::<LocConf>(prev),
        glue::loc_conf_mut::<LocConf>(conf),
    ) else {
        return NGX_CONF_ERROR;
    };
    let Some(cf) = glue::conf_mut(cf) else {
        return NGX_CONF_ERROR;
    };
    let merged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        conf.merge(prev)?;
        if conf.enabled() && conf.preaccess {
            let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
            mc.preaccess = true;
        }
        // A location that fetches keys: each key source is a URI (and issuer) in this server.
        if conf.enabled() && !conf.key_requests.is_empty() {
            let server = sources::current_server(cf);
            let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
            let cache = conf.key_cache.unwrap_or_default();
            conf.key_sources = conf
                .key_requests
                .iter()
                .map(|kr| {
                    let issuer = kr.issuer.as_deref();
                    mc.sources
                        .register(server, &kr.uri, issuer, conf.declared_at(), cache)
                })
                .collect();
        }
        Ok::<(), String>(())
    }));
    match merged {
        Ok(Ok(())) => NGX_CONF_OK,
        Ok(Err(msg)) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "jwt_peer_auth: {msg}");
            NGX_CONF_ERROR
        }
        Err(_) => NGX_CONF_ERROR,
    }
}

static NGX_HTTP_JWT_PEER_AUTH_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(JwtPeerAuthModule::preconfiguration),
    postconfiguration: Some(JwtPeerAuthModule::postconfiguration),
    create_main_conf: Some(JwtPeerAuthModule::create_main_conf),
    init_main_conf: Some(init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(JwtPeerAuthModule::create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

// The `ngx_modules` table that makes the cdylib loadable with `load_module`.
#[cfg(feature = "export-modules")]
ngx::ngx_modules!(ngx_http_jwt_peer_auth_module);

#[used]
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "export-modules"), no_mangle)]
pub static mut ngx_http_jwt_peer_auth_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_JWT_PEER_AUTH_MODULE_CTX).cast_mut().cast(),
    // SAFETY: taking the address of the static command table, never moved.
    commands: unsafe { ptr::addr_of_mut!(config::COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    ..ngx_module_t::default()
};
