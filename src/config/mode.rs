//! `jwt_peer_auth <realm> [token=$variable] [optional | shadow] | off` and
//! `jwt_peer_auth_phase`: whether and how a location verifies.

use jwt_peer_auth_core::challenge::check_realm;
use jwt_peer_auth_core::enforcement::Enforcement;
use ngx::ffi::ngx_conf_t;

use super::directive::{compile, directive_fn, ConfError};
use super::{LocConf, Mode, Phase};
use crate::glue;

directive_fn!(cmd_mode, set_mode);
directive_fn!(cmd_phase, set_phase);

fn set_mode(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.mode.is_some() {
        return Err(ConfError::Duplicate);
    }
    let value = args[0];
    if value == "off" {
        if let Some(extra) = args.get(1) {
            return Err(format!("invalid parameter \"{extra}\" after \"off\"").into());
        }
        lc.mode = Some(Mode::Off);
        return Ok(());
    }
    if let Err(bad) = check_realm(value) {
        return Err(format!("invalid character {bad:?} in realm \"{value}\"").into());
    }
    let mut token = None;
    let mut enforcement = None;
    for (i, param) in args.iter().enumerate().skip(1) {
        if let Some(var) = param.strip_prefix("token=") {
            if token.is_some() {
                return Err(format!("duplicate parameter \"{param}\"").into());
            }
            if !var.starts_with('$') {
                return Err(format!("\"token=\" needs a variable, not \"{var}\"").into());
            }
            // `args` starts after the directive's name.
            token = Some(compile(cf, i + 1, "token=".len())?);
        } else if let Some(e) = Enforcement::parse(param) {
            match enforcement.replace(e) {
                Some(prev) if prev == e => return Err(format!("duplicate parameter \"{param}\"").into()),
                Some(_) => {
                    return Err("\"optional\" and \"shadow\" are mutually exclusive"
                        .to_owned()
                        .into())
                }
                None => {}
            }
        } else {
            return Err(format!("invalid parameter \"{param}\"").into());
        }
    }
    lc.mode = Some(Mode::On {
        realm: value.to_owned(),
        token,
        enforcement: enforcement.unwrap_or_default(),
    });
    lc.declared_at = glue::conf_location(cf);
    Ok(())
}

fn set_phase(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.phase.is_some() {
        return Err(ConfError::Duplicate);
    }
    lc.phase = Some(match args[0] {
        "access" => Phase::Access,
        "preaccess" => Phase::Preaccess,
        other => {
            return Err(format!("invalid value \"{other}\": \"access\" or \"preaccess\" is expected").into())
        }
    });
    Ok(())
}
