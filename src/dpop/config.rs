//! `jwt_peer_auth_dpop off | on | optional [htu=string] [max_age=time] [algorithms=list]
//! [nonce] [nonce_key=file] [nonce_lifetime=time]` and `jwt_peer_auth_dpop_zone name:size`.

use std::rc::Rc;

use jwt_peer_auth_core::dpop::{Mode, NonceKey, Settings};
use jwt_peer_auth_core::AlgSet;
use ngx::ffi::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};
use ngx::http::HttpModuleMainConf;

use super::conf::DpopConf;
use crate::config::directive::{directive_fn, ConfError};
use crate::config::{LocConf, MainConf};
use crate::glue::ComplexValue;
use crate::{glue, JwtPeerAuthModule};

/// The URL a proof's `htu` is compared with when `htu=` is not given: scheme, host and port
/// as the client addressed them (the `Host` header, or HTTP/2's `:authority`), and the path
/// (the query is ignored).
const DEFAULT_URL: &str = "$scheme://$http_host$request_uri";

/// The default `nonce_lifetime=`.
pub const DEFAULT_NONCE_LIFETIME: u64 = 300;

directive_fn!(cmd_dpop, set_dpop_conf);
directive_fn!(cmd_dpop_zone, set_zone_conf);

fn conf_error(msg: String) -> ConfError {
    match msg.as_str() {
        "is duplicate" => ConfError::Duplicate,
        _ => ConfError::Emerg(msg),
    }
}

fn set_dpop_conf(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    set_dpop(cf, args, lc).map_err(conf_error)
}

fn set_zone_conf(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    set_zone(cf, args, mc).map_err(conf_error)
}

/// `jwt_peer_auth_dpop`: parsed at its level; the zone and challenges at merge.
pub fn set_dpop(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), String> {
    if lc.dpop.is_some() {
        return Err("is duplicate".into());
    }
    let mode = Mode::parse(args[0].as_bytes()).ok_or_else(|| {
        format!(
            "invalid value \"{}\": \"off\", \"on\" or \"optional\" is expected",
            args[0]
        )
    })?;
    if mode == Mode::Off && args.len() > 1 {
        return Err(format!("invalid parameter \"{}\" with \"off\"", args[1]));
    }
    let mut settings = Settings::default();
    let mut url = None;
    let (mut nonce, mut nonce_file, mut lifetime) = (false, None, None);
    for (i, a) in args.iter().enumerate().skip(1) {
        match a.split_once('=') {
            Some(("htu", v)) if url.is_none() && !v.is_empty() => {
                url = Some(compile(cf, i + 1, "htu=".len())?);
            }
            Some(("max_age", v)) if !v.is_empty() => {
                settings.max_age = glue::parse_time_sec(v)
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("invalid \"max_age\" value \"{v}\""))?;
            }
            Some(("algorithms", v)) => {
                let set = AlgSet::parse(v.split(',')).map_err(|e| format!("\"algorithms\": {e}"))?;
                Settings::algorithms_allowed(set).map_err(|e| format!("\"algorithms={v}\": {e}"))?;
                settings.algorithms = set;
            }
            Some(("nonce_key", v)) if !v.is_empty() => nonce_file = Some(v.to_owned()),
            Some(("nonce_lifetime", v)) => {
                lifetime = Some(
                    glue::parse_time_sec(v)
                        .filter(|&s| s > 0)
                        .ok_or_else(|| format!("invalid \"nonce_lifetime\" value \"{v}\""))?,
                );
            }
            None if *a == "nonce" => nonce = true,
            _ => return Err(format!("invalid parameter \"{a}\"")),
        }
    }
    let lifetime = lifetime.unwrap_or(DEFAULT_NONCE_LIFETIME);
    let nonce = match nonce_file {
        Some(f) => {
            let path = glue::conf_full_name(cf, &f).ok_or_else(|| format!("invalid path \"{f}\""))?;
            let secret =
                std::fs::read(&path).map_err(|e| format!("\"{path}\": {}", glue::io_error_text(&e)))?;
            Some(NonceKey::new(&secret, lifetime).map_err(|e| format!("\"{path}\": {e}"))?)
        }
        // A random key per configuration load, the same in every worker (made here, in the
        // master): nonces issued before a reload are refused once after it (use_dpop_nonce).
        None if nonce => {
            let mut secret = [0u8; 32];
            ring_fill(&mut secret).ok_or("cannot make a random nonce key")?;
            Some(NonceKey::new(&secret, lifetime).map_err(str::to_owned)?)
        }
        None => None,
    };
    let url = match url {
        Some(u) => u,
        None => {
            let value = ngx_str_t {
                len: DEFAULT_URL.len(),
                data: DEFAULT_URL.as_ptr().cast_mut(),
            };
            ComplexValue(glue::compile_complex_value(cf, value).ok_or("cannot compile the default URL")?)
        }
    };
    if mode != Mode::Off {
        let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
        mc.dpop_used = true;
    }
    lc.dpop = Some(Rc::new(DpopConf {
        mode,
        settings,
        url,
        nonce,
        challenges: Vec::new(),
        plain: Vec::new(),
        bearer_plain: Vec::new(),
    }));
    Ok(())
}

fn ring_fill(out: &mut [u8]) -> Option<()> {
    jwt_peer_auth_core::dpop::nonce::random(out)
}

/// Argument `index` as a complex value (the configuration's own compile, its error as text).
fn compile(cf: &mut ngx_conf_t, index: usize, skip: usize) -> Result<ComplexValue, String> {
    crate::config::directive::compile(cf, index, skip).map_err(|e| match e {
        ConfError::Emerg(msg) => msg,
        ConfError::Duplicate => "is duplicate".into(),
    })
}

/// `jwt_peer_auth_dpop_zone name:size`.
pub fn set_zone(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), String> {
    if mc.dpop_zone.is_some() {
        return Err("is duplicate".into());
    }
    let value = args[0];
    let (name, size) = value
        .split_once(':')
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("invalid zone \"{value}\": \"name:size\" is expected"))?;
    let size = glue::parse_size(size).ok_or_else(|| format!("invalid zone size \"{size}\""))?;
    if size < 32 * 1024 {
        return Err(format!("zone \"{name}\" is too small (at least 32k)"));
    }
    // The zone keeps a pointer to its name: the argument's own memory (configuration pool).
    let raw = glue::conf_args(cf)[1];
    let name_str = ngx_str_t {
        len: name.len(),
        data: raw.data,
    };
    let zone = super::zone::add(cf, name_str, size).ok_or_else(|| format!("cannot add zone \"{name}\""))?;
    mc.dpop_zone = Some(zone);
    Ok(())
}

/// After the http block is parsed: the default zone when a location uses DPoP without
/// `jwt_peer_auth_dpop_zone`.
pub fn init_main(cf: &mut ngx_conf_t, mc: &mut MainConf) -> Result<(), String> {
    if mc.dpop_used && mc.dpop_zone.is_none() {
        let name = ngx_str_t {
            len: super::zone::DEFAULT_ZONE.len(),
            data: super::zone::DEFAULT_ZONE.as_ptr().cast_mut(),
        };
        let zone = super::zone::add(cf, name, super::zone::DEFAULT_ZONE_SIZE)
            .ok_or_else(|| format!("cannot add zone \"{}\"", super::zone::DEFAULT_ZONE))?;
        mc.dpop_zone = Some(zone);
    }
    Ok(())
}

/// The replay zone of the configuration.
pub fn zone_of(mc: &MainConf) -> *mut ngx_shm_zone_t {
    mc.dpop_zone.as_ref().map_or(std::ptr::null_mut(), |z| z.shm_zone)
}
