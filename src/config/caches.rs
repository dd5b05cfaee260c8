//! The http-level stores: `jwt_peer_auth_zone` (the shared key zone, added with its default
//! name and size when not given) and `jwt_peer_auth_token_cache` (entries per worker).

use ngx::ffi::{ngx_conf_t, ngx_str_t};

use super::directive::{directive_fn, ConfError};
use super::MainConf;
use crate::{glue, zone};

/// Name and size of the zone used when `jwt_peer_auth_zone` is not given.
pub const DEFAULT_ZONE: &str = "jwt_peer_auth";
pub const DEFAULT_ZONE_SIZE: usize = 1024 * 1024;

directive_fn!(cmd_zone, set_zone);
directive_fn!(cmd_token_cache, set_token_cache);

fn set_zone(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    if !mc.shm_zone.is_null() {
        return Err(ConfError::Duplicate);
    }
    let value = args[0];
    let (name, size) = value
        .split_once(':')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
        .ok_or_else(|| format!("invalid zone \"{value}\": \"name:size\" is expected"))?;
    let size = glue::parse_size(size).ok_or_else(|| format!("invalid zone size \"{size}\""))?;
    if size < 8 * 4096 {
        return Err(format!("zone \"{name}\" is too small (at least 32k)").into());
    }
    // The zone keeps a pointer to its name: use the argument's own memory (configuration pool).
    let raw = glue::conf_args(cf)[1];
    let name_str = ngx_str_t {
        len: name.len(),
        data: raw.data,
    };
    let data = std::ptr::from_mut(&mut mc.sources);
    mc.shm_zone = zone::add(cf, name_str, size, crate::module_tag(), data)
        .ok_or_else(|| format!("cannot add zone \"{name}\""))?;
    Ok(())
}

fn set_token_cache(_cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    if mc.token_cache.is_some() {
        return Err(ConfError::Duplicate);
    }
    let n = match args[0] {
        "off" => 0,
        v => match v.parse::<usize>() {
            Ok(n) if (1..=10_000_000).contains(&n) => n,
            _ => return Err(format!("invalid number of entries \"{v}\" (1 to 10000000, or \"off\")").into()),
        },
    };
    mc.token_cache = Some(n);
    Ok(())
}

/// Adds the default zone when `jwt_peer_auth_zone` was not given.
pub fn init_main(cf: &mut ngx_conf_t, mc: &mut MainConf) -> Result<(), String> {
    // The zone also holds the request counters of the status page, so it always exists.
    if mc.shm_zone.is_null() {
        let name = ngx_str_t {
            len: DEFAULT_ZONE.len(),
            data: DEFAULT_ZONE.as_ptr().cast_mut(),
        };
        let data = std::ptr::from_mut(&mut mc.sources);
        mc.shm_zone = zone::add(cf, name, DEFAULT_ZONE_SIZE, crate::module_tag(), data)
            .ok_or_else(|| format!("cannot add zone \"{DEFAULT_ZONE}\""))?;
    }
    Ok(())
}
