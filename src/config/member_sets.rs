//! `jwt_peer_auth_claim_set $var name ...` and `jwt_peer_auth_header_set`: variables that
//! read a member of the claims (or the JOSE header) of the admitted token.

use ngx::ffi::ngx_conf_t;

use super::directive::{directive_fn, ConfError};
use super::{MainConf, MemberSet};

directive_fn!(cmd_claim_set, set_claim_set);
directive_fn!(cmd_header_set, set_header_set);

fn member_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf, header: bool) -> Result<(), ConfError> {
    let var = args[0];
    let Some(name) = var.strip_prefix('$').filter(|n| !n.is_empty()) else {
        return Err(format!("invalid variable name \"{var}\": \"$name\" is expected").into());
    };
    let path: Vec<String> = args[1..].iter().map(|s| (*s).to_owned()).collect();
    if let Some(bad) = path
        .iter()
        .find(|p| p.is_empty() || p.bytes().any(|b| b < 0x20 || b == 0x7f))
    {
        return Err(format!("invalid member name \"{bad}\"").into());
    }
    mc.member_sets.push(MemberSet { header, path });
    let index = mc.member_sets.len() - 1;
    if !crate::variables::define(cf, name.as_bytes(), crate::variables::get_member_set, 0, index) {
        return Err(format!("cannot add variable \"{var}\"").into());
    }
    Ok(())
}

fn set_claim_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    member_set(cf, args, mc, false)
}

fn set_header_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    member_set(cf, args, mc, true)
}
