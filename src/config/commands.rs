//! The command table: one line per directive. Each handler lives in its feature's file.

use std::ffi::{c_char, c_void};
use std::ptr;

use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_2MORE, NGX_CONF_TAKE1,
    NGX_CONF_TAKE12, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF,
    NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF,
};
use ngx::ngx_string;

use super::{caches, discovery, key_sources, member_sets, mode, policy};
use crate::dpop::config as dpop;
use crate::revocation::config as revocation;
use crate::status;

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

type SetFn = extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

const fn command(name: ngx_str_t, args: u32, set: SetFn) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (ANY_LEVEL | args) as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

const fn main_command(name: ngx_str_t, args: u32, set: SetFn) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (NGX_HTTP_MAIN_CONF | args) as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_MAIN_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

/// The directives. A new directive is one line here; its handler lives in its feature's file.
pub static mut COMMANDS: [ngx_command_t; 24] = [
    ngx_command_t {
        name: ngx_string!("jwt_peer_auth_status"),
        type_: (NGX_HTTP_LOC_CONF | ngx::ffi::NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(status::cmd_status),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    main_command(
        ngx_string!("jwt_peer_auth_token_cache"),
        NGX_CONF_TAKE1,
        caches::cmd_token_cache,
    ),
    command(ngx_string!("jwt_peer_auth"), NGX_CONF_1MORE, mode::cmd_mode),
    command(
        ngx_string!("jwt_peer_auth_phase"),
        NGX_CONF_TAKE1,
        mode::cmd_phase,
    ),
    command(
        ngx_string!("jwt_peer_auth_claim"),
        NGX_CONF_2MORE,
        policy::cmd_claim,
    ),
    command(
        ngx_string!("jwt_peer_auth_require"),
        NGX_CONF_1MORE,
        policy::cmd_require,
    ),
    command(
        ngx_string!("jwt_peer_auth_max_age"),
        NGX_CONF_TAKE1,
        policy::cmd_max_age,
    ),
    command(
        ngx_string!("jwt_peer_auth_cert_binding"),
        NGX_CONF_TAKE12,
        policy::cmd_cert_binding,
    ),
    command(
        ngx_string!("jwt_peer_auth_jwks_file"),
        NGX_CONF_TAKE12,
        key_sources::cmd_jwks_file,
    ),
    command(
        ngx_string!("jwt_peer_auth_key_request"),
        NGX_CONF_TAKE12,
        key_sources::cmd_key_request,
    ),
    command(
        ngx_string!("jwt_peer_auth_discovery"),
        ngx::ffi::NGX_CONF_TAKE3 | ngx::ffi::NGX_CONF_TAKE4,
        discovery::cmd_discovery,
    ),
    command(
        ngx_string!("jwt_peer_auth_key_cache"),
        NGX_CONF_1MORE,
        key_sources::cmd_key_cache,
    ),
    command(
        ngx_string!("jwt_peer_auth_algorithms"),
        NGX_CONF_1MORE,
        policy::cmd_algorithms,
    ),
    command(
        ngx_string!("jwt_peer_auth_leeway"),
        NGX_CONF_TAKE1,
        policy::cmd_leeway,
    ),
    command(ngx_string!("jwt_peer_auth_dpop"), NGX_CONF_1MORE, dpop::cmd_dpop),
    main_command(
        ngx_string!("jwt_peer_auth_dpop_zone"),
        NGX_CONF_TAKE1,
        dpop::cmd_dpop_zone,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_zone"),
        NGX_CONF_TAKE1,
        caches::cmd_zone,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_claim_set"),
        NGX_CONF_2MORE,
        member_sets::cmd_claim_set,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_header_set"),
        NGX_CONF_2MORE,
        member_sets::cmd_header_set,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_revocation"),
        NGX_CONF_1MORE,
        revocation::cmd_revocation,
    ),
    command(
        ngx_string!("jwt_peer_auth_revocation_check"),
        NGX_CONF_1MORE,
        revocation::cmd_revocation_check,
    ),
    command(
        ngx_string!("jwt_peer_auth_revocation_feed"),
        ngx::ffi::NGX_CONF_TAKE123,
        crate::revocation::feed_config::cmd_feed,
    ),
    ngx_command_t {
        name: ngx_string!("jwt_peer_auth_revocation_api"),
        type_: (NGX_HTTP_LOC_CONF | ngx::ffi::NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(revocation::cmd_revocation_api),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];
