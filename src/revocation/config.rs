//! The revocation directives: `jwt_peer_auth_revocation` (the list's zone and journal),
//! `jwt_peer_auth_revocation_check` and `jwt_peer_auth_revocation_api`.

use std::ffi::{c_char, c_void};

use ngx::ffi::{ngx_command_t, ngx_conf_t, ngx_str_t, NGX_LOG_WARN};
use ngx::http::HttpModuleLocationConf;
use ngx::ngx_conf_log_error;

use crate::config::directive::{directive_fn, ConfError};
use crate::config::{LocConf, MainConf};
use crate::glue;

directive_fn!(cmd_revocation, set_revocation);
directive_fn!(cmd_revocation_check, set_revocation_check);

/// `jwt_peer_auth_revocation zone=name:size [state=path] [ttl=time]`.
pub fn set_revocation(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    use crate::revocation::{list, state, Revocation, DEFAULT_TTL};
    use jwt_peer_auth_core::revocation::MAX_TTL;
    if mc.revocation.is_some() {
        return Err(ConfError::Duplicate);
    }
    let mut zone = None;
    let mut state_path = None;
    let mut ttl = None;
    for (i, a) in args.iter().enumerate() {
        match a.split_once('=') {
            Some(("zone", v)) if zone.is_none() => {
                let (name, size) = v
                    .split_once(':')
                    .filter(|(n, s)| !n.is_empty() && !s.is_empty())
                    .ok_or_else(|| format!("invalid zone \"{v}\": \"name:size\" is expected"))?;
                let size = glue::parse_size(size).ok_or_else(|| format!("invalid zone size \"{size}\""))?;
                if size < 8 * 4096 {
                    return Err(format!("zone \"{name}\" is too small (at least 32k)").into());
                }
                // The zone keeps a pointer to its name: the argument's own memory.
                let raw = glue::conf_args(cf)[i + 1];
                let name_str = ngx_str_t {
                    len: name.len(),
                    data: raw.data.wrapping_add("zone=".len()),
                };
                zone = Some((name.to_owned(), name_str, size));
            }
            Some(("state", v)) if state_path.is_none() && !v.is_empty() => {
                state_path =
                    Some(glue::conf_full_name(cf, v).ok_or_else(|| format!("invalid path \"{v}\""))?);
            }
            Some(("ttl", v)) if ttl.is_none() => {
                ttl = glue::parse_time_sec(v)
                    .filter(|t| (1..=MAX_TTL).contains(t))
                    .map(Some)
                    .ok_or_else(|| format!("invalid \"ttl=\" value \"{v}\" (1s to {}d)", MAX_TTL / 86400))?;
            }
            _ => return Err(format!("invalid parameter \"{a}\"").into()),
        }
    }
    let Some((zone_name, name_str, size)) = zone else {
        return Err("\"zone=name:size\" is required".to_owned().into());
    };
    let mut loaded = match &state_path {
        Some(p) => {
            state::check_dir(p)?;
            state::load(p, ngx::ffi::ngx_time())?
        }
        None => state::Loaded::default(),
    };
    // A version 1 file (an earlier version's) becomes a journal now, in the master, rather
    // than at the first change in a worker's event loop; `nginx -t` changes nothing.
    // SAFETY: NGINX sets `ngx_test_config` from the command line before it parses a
    // configuration and never changes it afterwards.
    if loaded.v1 && unsafe { ngx::ffi::ngx_test_config } == 0 {
        if let Some(p) = &state_path {
            let compacted = state::compact(p, ngx::ffi::ngx_time()).and_then(|()| state::stat(p));
            if let Ok(Some(mark)) = compacted {
                // The journal holds what was loaded: a new zone follows it from its end.
                loaded.mark = mark;
            } else if let Err(e) = compacted {
                ngx_conf_log_error!(
                    NGX_LOG_WARN,
                    cf,
                    "\"jwt_peer_auth_revocation\": cannot turn the state file \"{p}\" into a journal: {}",
                    glue::io_error_text(&e)
                );
            }
        }
    }
    for (at, why) in &loaded.damage {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "\"jwt_peer_auth_revocation\": damaged state file \"{}\" at byte {at}: {why}: the line is skipped",
            state_path.as_deref().unwrap_or_default()
        );
    }
    let rev = mc.revocation.insert(Box::new(Revocation {
        shm_zone: std::ptr::null_mut(),
        zone_name,
        state: state_path,
        ttl: ttl.unwrap_or(DEFAULT_TTL),
        initial: loaded.entries,
        initial_mark: loaded.mark,
        feed: None,
    }));
    let data: *mut Revocation = &mut **rev;
    rev.shm_zone = list::add(cf, name_str, size, data)
        .ok_or_else(|| format!("cannot add zone \"{}\"", rev.zone_name))?;
    Ok(())
}

/// Records the first directive that needs `jwt_peer_auth_revocation`.
fn uses_revocation(cf: &mut ngx_conf_t, directive: &'static str) -> Result<(), ConfError> {
    let at = glue::conf_location(cf);
    let mc = <crate::JwtPeerAuthModule as ngx::http::HttpModuleMainConf>::main_conf_mut(cf)
        .ok_or_else(|| "no main configuration".to_owned())?;
    mc.revocation_used_at.get_or_insert((directive, at));
    Ok(())
}

/// `jwt_peer_auth_revocation_check name ... | off`.
fn set_revocation_check(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.revocation_check.is_some() {
        return Err(ConfError::Duplicate);
    }
    if args == ["off"] {
        lc.revocation_check = Some(Vec::new());
        return Ok(());
    }
    let mut names: Vec<String> = Vec::new();
    for a in args {
        if *a == "off" {
            return Err("\"off\" cannot be combined with names".to_owned().into());
        }
        jwt_peer_auth_core::revocation::check_name(a)
            .map_err(|why| format!("invalid name \"{a}\": {}", why.replace("\"name\" ", "")))?;
        if !names.iter().any(|n| n == a) {
            names.push((*a).to_owned());
        }
    }
    if names.len() > 8 {
        return Err("at most 8 names can be checked".to_owned().into());
    }
    uses_revocation(cf, "jwt_peer_auth_revocation_check")?;
    if let Some(mc) = <crate::JwtPeerAuthModule as ngx::http::HttpModuleMainConf>::main_conf_mut(cf) {
        for n in &names {
            if !mc.revocation_names.contains(n) {
                mc.revocation_names.push(n.clone());
            }
        }
    }
    lc.revocation_check = Some(names);
    Ok(())
}

/// Checks, once the http block is parsed, that what needs the revocation list has one.
pub fn check(mc: &MainConf) -> Result<(), String> {
    match (&mc.revocation, &mc.revocation_used_at) {
        (None, Some((directive, at))) => Err(format!(
            "\"{directive}\" (in {at}) needs \"jwt_peer_auth_revocation zone=name:size\" in the http block"
        )),
        _ => Ok(()),
    }
}

pub extern "C" fn cmd_revocation_api(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let Some(cf) = glue::conf_mut(cf) else {
        return ngx::core::NGX_CONF_ERROR;
    };
    if uses_revocation(cf, "jwt_peer_auth_revocation_api").is_err() {
        return ngx::core::NGX_CONF_ERROR;
    }
    match ngx::http::NgxHttpCoreModule::location_conf_mut(cf) {
        Some(clcf) => {
            clcf.handler = Some(crate::revocation::api::api_handler);
            ngx::core::NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
}
