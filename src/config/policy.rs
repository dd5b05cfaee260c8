//! What a verified token must also satisfy: `jwt_peer_auth_algorithms`, `_leeway`, `_claim`,
//! `_require`, `_max_age` and `_cert_binding` (RFC 8705).

use jwt_peer_auth_core::AlgSet;
use ngx::ffi::{ngx_conf_t, ngx_str_t};

use super::directive::{compile, directive_fn, ConfError};
use super::{CertBinding, ClaimRule, ComplexValue, LocConf, Require};
use crate::glue;

directive_fn!(cmd_algorithms, set_algorithms);
directive_fn!(cmd_leeway, set_leeway);
directive_fn!(cmd_claim, set_claim);
directive_fn!(cmd_require, set_require);
directive_fn!(cmd_max_age, set_max_age);
directive_fn!(cmd_cert_binding, set_cert_binding);

fn set_algorithms(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.algorithms.is_some() {
        return Err(ConfError::Duplicate);
    }
    let set = AlgSet::parse(args.iter().copied()).map_err(|e| e.to_string())?;
    lc.algorithms = Some(set);
    Ok(())
}

fn set_leeway(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.leeway.is_some() {
        return Err(ConfError::Duplicate);
    }
    let secs = glue::parse_time_sec(args[0]).ok_or_else(|| format!("invalid time value \"{}\"", args[0]))?;
    lc.leeway = Some(secs);
    Ok(())
}

fn set_claim(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    let name = args[0];
    if name.is_empty() || name.bytes().any(|b| b <= b' ') {
        return Err(format!("invalid claim name \"{name}\"").into());
    }
    let values = (2..=args.len())
        .map(|i| compile(cf, i, 0))
        .collect::<Result<Vec<_>, _>>()?;
    lc.claims.get_or_insert_with(Vec::new).push(ClaimRule {
        name: name.to_owned(),
        values,
    });
    Ok(())
}

fn set_require(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    let mut status = 401;
    let mut values = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let Some(code) = a.strip_prefix("error=") {
            status = match code {
                "401" => 401,
                "403" => 403,
                _ => {
                    return Err(format!("invalid \"error=\" value \"{code}\": 401 or 403 is expected").into())
                }
            };
        } else {
            values.push(compile(cf, i + 1, 0)?);
        }
    }
    if values.is_empty() {
        return Err("no value to check".to_string().into());
    }
    lc.requires
        .get_or_insert_with(Vec::new)
        .push(Require { values, status });
    Ok(())
}

fn set_cert_binding(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    use jwt_peer_auth_core::binding::Mode;
    if lc.cert_binding.is_some() {
        return Err(ConfError::Duplicate);
    }
    let mode = match args[0] {
        "off" => Mode::Off,
        "on" => Mode::On,
        "optional" => Mode::Optional,
        other => {
            return Err(
                format!("invalid value \"{other}\": \"off\", \"on\" or \"optional\" is expected").into(),
            )
        }
    };
    let (cert, escaped) = match args.get(1) {
        None if mode == Mode::Off => (ComplexValue(std::ptr::null_mut()), false),
        None => {
            // The connection's own client certificate; needs NGINX built with SSL.
            const RAW: &str = "$ssl_client_raw_cert";
            let value = ngx_str_t {
                len: RAW.len(),
                data: RAW.as_ptr().cast_mut(),
            };
            let cv = glue::compile_complex_value(cf, value)
                .ok_or_else(|| "\"$ssl_client_raw_cert\" is not available (NGINX without SSL?)".to_owned())?;
            (ComplexValue(cv), false)
        }
        Some(param) => {
            let Some(var) = param.strip_prefix("cert=") else {
                return Err(format!("invalid parameter \"{param}\"").into());
            };
            if mode == Mode::Off || !var.starts_with('$') {
                return Err(format!("invalid parameter \"{param}\": \"cert=$variable\" with \"on\" or \"optional\" is expected").into());
            }
            (compile(cf, 2, "cert=".len())?, true)
        }
    };
    lc.cert_binding = Some(CertBinding { mode, cert, escaped });
    Ok(())
}

fn set_max_age(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.max_age.is_some() {
        return Err(ConfError::Duplicate);
    }
    let secs = glue::parse_time_sec(args[0]).ok_or_else(|| format!("invalid time value \"{}\"", args[0]))?;
    lc.max_age = Some(secs);
    Ok(())
}
