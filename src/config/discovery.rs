//! `jwt_peer_auth_discovery discovery_uri jwks_uri issuer=string [jwks_origins=list]`: a key
//! source whose key set is found through the provider's OpenID Connect discovery document.
//!
//! It is a `jwt_peer_auth_key_request` source (the same list, limits, cache, refresh and
//! status entry) whose fetch runs in two steps: the document from `discovery_uri`, checked by
//! the core (`jwt_peer_auth_core::discovery`), then the key set from `jwks_uri`, with the URL
//! the document named in `$jwt_peer_auth_jwks_uri` (see `fetch::discovery`).

use std::sync::Arc;

use jwt_peer_auth_core::discovery::Expectation;
use ngx::ffi::ngx_conf_t;

use super::directive::{directive_fn, ConfError};
use super::key_sources::{issuer_param, room_for_source};
use super::{KeyRequest, LocConf};
use crate::sources::Discovery;

directive_fn!(cmd_discovery, set_discovery);

/// A local path for a sub-request: `/...`, no spaces, controls or query.
fn local_uri(what: &str, uri: &str) -> Result<(), String> {
    if !uri.starts_with('/') || uri.len() > 255 || uri.bytes().any(|b| b <= b' ' || b == b'?' || b == 0x7f) {
        return Err(format!(
            "invalid {what} \"{}\": a local path like \"/_oidc\" is expected",
            uri.escape_debug()
        ));
    }
    Ok(())
}

fn set_discovery(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    room_for_source(lc)?;
    let (doc_uri, jwks_uri) = (args[0], args[1]);
    local_uri("discovery URI", doc_uri)?;
    local_uri("jwks URI", jwks_uri)?;
    if doc_uri == jwks_uri {
        return Err(format!(
            "the discovery URI and the jwks URI are the same location \"{doc_uri}\": the document and the \
             keys need two locations"
        )
        .into());
    }
    let mut issuer = None;
    let mut origins: Option<Vec<&str>> = None;
    for param in &args[2..] {
        if param.starts_with("issuer=") {
            if issuer.is_some() {
                return Err("duplicate \"issuer=\"".to_owned().into());
            }
            issuer = issuer_param(&["", param])?;
        } else if let Some(list) = param.strip_prefix("jwks_origins=") {
            if origins.is_some() {
                return Err("duplicate \"jwks_origins=\"".to_owned().into());
            }
            if list.is_empty() {
                return Err("empty \"jwks_origins=\"".to_owned().into());
            }
            origins = Some(list.split(',').collect());
        } else {
            return Err(format!(
                "invalid parameter \"{}\": \"issuer=string\" or \"jwks_origins=list\" is expected",
                param.escape_debug()
            )
            .into());
        }
    }
    let Some(issuer) = issuer else {
        return Err(
            "\"issuer=\" is required: the discovery document must name the issuer it is for"
                .to_owned()
                .into(),
        );
    };
    let expect = Expectation::new(&issuer, origins.as_deref().unwrap_or_default())?;
    if lc
        .key_requests
        .iter()
        .any(|k| k.uri == jwks_uri && k.issuer.as_deref() == Some(issuer.as_str()))
    {
        return Err(format!("duplicate key source \"{jwks_uri}\"").into());
    }
    lc.key_requests.push(Arc::new(KeyRequest {
        uri: jwks_uri.to_owned(),
        issuer: Some(issuer),
        discovery: Some(Arc::new(Discovery {
            uri: doc_uri.to_owned(),
            expect,
        })),
    }));
    Ok(())
}
