//! `ngx_http_jwt_peer_auth_module`: verifies JWT bearer tokens in NGINX's access phase (or,
//! where a location says so, its preaccess phase).
//!
//! This file only wires the module together (its table, its configuration types, its
//! handle): directives and their merge live in [`config`], the phase handler in [`access`]
//! (and its preaccess entry in [`phase`]), the `unsafe` accessors in [`glue`], log lines in
//! [`log`], and every validity decision in the NGINX-free `jwt_peer_auth_core` crate.

// Every unsafe block says why it is sound (`// SAFETY:`), and clippy holds the line.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::c_void;
use std::ptr;

use ngx::core::Status;
use ngx::ffi::{ngx_conf_t, ngx_http_module_t, ngx_int_t, ngx_module_t, ngx_uint_t, NGX_HTTP_MODULE};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};

mod access;
mod config;
mod conn_memo;
mod ctx;
mod dpop;
mod fetch;
mod glue;
mod keys;
mod log;
mod openssl_rsa;
mod phase;
mod revocation;
mod shm;
mod sources;
mod status;
mod subrequest;
mod token_cache;
mod variables;
mod zone;

use config::{lifecycle, LocConf, MainConf};

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
        match glue::conf_mut(cf).map(lifecycle::postconfiguration) {
            Some(true) => Status::NGX_OK.into(),
            _ => Status::NGX_ERROR.into(),
        }
    }
}

/// The module's address, the tag of its shared zones.
pub(crate) fn module_tag() -> *mut c_void {
    ptr::addr_of_mut!(ngx_http_jwt_peer_auth_module).cast()
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

static NGX_HTTP_JWT_PEER_AUTH_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(JwtPeerAuthModule::preconfiguration),
    postconfiguration: Some(JwtPeerAuthModule::postconfiguration),
    create_main_conf: Some(JwtPeerAuthModule::create_main_conf),
    init_main_conf: Some(lifecycle::init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(JwtPeerAuthModule::create_loc_conf),
    merge_loc_conf: Some(lifecycle::merge_loc_conf),
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
    commands: unsafe { ptr::addr_of_mut!(config::commands::COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    ..ngx_module_t::default()
};
