//! The key sources of a location: `jwt_peer_auth_jwks_file`, `jwt_peer_auth_key_request`
//! (each at most [`MAX_LEVEL_SOURCES`] at one level, with an optional `issuer=`) and
//! `jwt_peer_auth_key_cache`; `jwt_peer_auth_discovery` is in [`super::discovery`]. The merge registers a location's fetched sources
//! ([`super::LocConf::merge`]).

use std::sync::Arc;

use jwt_peer_auth_core::freshness::CacheSettings;
use jwt_peer_auth_core::KeySet;
use ngx::ffi::{ngx_conf_t, NGX_LOG_WARN};
use ngx::ngx_conf_log_error;

use super::directive::{directive_fn, ConfError};
use super::{FileKeys, KeyRequest, LocConf, MAX_LEVEL_SOURCES};
use crate::glue;

directive_fn!(cmd_jwks_file, set_jwks_file);
directive_fn!(cmd_key_request, set_key_request);
directive_fn!(cmd_key_cache, set_key_cache);

/// The `issuer=string` parameter of a key-source directive, if given.
pub(super) fn issuer_param(args: &[&str]) -> Result<Option<String>, String> {
    let Some(param) = args.get(1) else {
        return Ok(None);
    };
    let Some(issuer) = param.strip_prefix("issuer=") else {
        return Err(format!(
            "invalid parameter \"{param}\": \"issuer=string\" is expected"
        ));
    };
    jwt_peer_auth_core::verify::check_issuer(issuer)
        .map_err(|why| format!("invalid \"issuer=\" value \"{}\": {why}", issuer.escape_debug()))?;
    Ok(Some(issuer.to_owned()))
}

/// Room for one more key source at this level.
pub(super) fn room_for_source(lc: &LocConf) -> Result<(), String> {
    if lc.jwks_files.len() + lc.key_requests.len() >= MAX_LEVEL_SOURCES {
        return Err(format!(
            "too many key sources at one level (at most {MAX_LEVEL_SOURCES} \"jwt_peer_auth_jwks_file\", \
             \"jwt_peer_auth_key_request\" and \"jwt_peer_auth_discovery\" together)"
        ));
    }
    Ok(())
}

fn set_jwks_file(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    room_for_source(lc)?;
    let issuer = issuer_param(args)?;
    let path = glue::conf_full_name(cf, args[0]).ok_or_else(|| format!("invalid path \"{}\"", args[0]))?;
    if lc.jwks_files.iter().any(|f| f.path == path && f.issuer == issuer) {
        return Err(format!("duplicate key source \"{}\"", args[0]).into());
    }
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read \"{path}\": {}", glue::io_error_text(&e)))?;
    let mut keys = KeySet::parse(&bytes).map_err(|e| format!("invalid JWKS in \"{path}\": {e}"))?;
    crate::openssl_rsa::attach(&mut keys);
    for skipped in &keys.skipped {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "\"jwt_peer_auth_jwks_file\": \"{path}\": skipped {skipped}"
        );
    }
    lc.jwks_files.push(Arc::new(FileKeys { path, keys, issuer }));
    Ok(())
}

fn set_key_request(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    room_for_source(lc)?;
    let issuer = issuer_param(args)?;
    let uri = args[0];
    if !uri.starts_with('/') || uri.len() > 255 || uri.bytes().any(|b| b <= b' ' || b == b'?') {
        return Err(format!("invalid URI \"{uri}\": a local path like \"/_jwks\" is expected").into());
    }
    if lc.key_requests.iter().any(|k| k.uri == uri && k.issuer == issuer) {
        return Err(format!("duplicate key source \"{uri}\"").into());
    }
    lc.key_requests.push(Arc::new(KeyRequest {
        uri: uri.to_owned(),
        issuer,
        discovery: None,
    }));
    Ok(())
}

fn set_key_cache(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.key_cache.is_some() {
        return Err(ConfError::Duplicate);
    }
    let time = |v: &str| glue::parse_time_sec(v).ok_or_else(|| format!("invalid time value \"{v}\""));
    let mut cfg = CacheSettings {
        valid: time(args[0])?,
        ..CacheSettings::default()
    };
    if cfg.valid == 0 {
        return Err(format!(
            "invalid time value \"{}\": keys must stay fresh for at least 1s (0 would fetch keys for every request)",
            args[0]
        )
        .into());
    }
    for a in &args[1..] {
        match a.split_once('=') {
            Some(("stale", v)) => cfg.stale = time(v)?,
            Some(("min_refresh", v)) => cfg.min_refresh = time(v)?,
            _ => return Err(format!("invalid parameter \"{a}\"").into()),
        }
    }
    lc.key_cache = Some(cfg);
    Ok(())
}
