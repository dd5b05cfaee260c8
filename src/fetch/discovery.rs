//! The first step of a `jwt_peer_auth_discovery` source's fetch: the discovery document. A
//! document the core accepts for the configured issuer gives the key set's URL: the second
//! step (the key request proper, under the same lease) starts at once with it, and the key
//! location reads it as `$jwt_peer_auth_jwks_uri`. A refused document is a failed fetch like a
//! failed key request: the last good keys stay within the staleness rules, the source backs
//! off, and the reason is logged and kept for the status page.

use jwt_peer_auth_core::jwk::printable;
use ngx::ffi::{ngx_http_request_t, ngx_http_variable_value_t, ngx_int_t, ngx_log_t};

use super::{of_request, start, Fetch, Stage};
use crate::log::log;

/// Takes the document (`body`: a clean `200` body, or why there is none). `Ok`: the key set's
/// request has started (the fetch goes on); `Err`: why the fetch failed.
pub fn document_fetched(
    sr: &ngx_http_request_t,
    fetch: &Fetch,
    body: Result<&[u8], String>,
    now: i64,
    log: *mut ngx_log_t,
) -> Result<(), String> {
    let Some(d) = fetch.source.discovery.as_ref() else {
        return Err("not a discovery source".into());
    };
    let checked = body.and_then(|body| {
        d.expect
            .check(body)
            .map_err(|e| format!("discovery document refused: {e} ({} bytes)", body.len()))
    });
    let jwks_uri = match checked {
        Ok(u) => u,
        Err(why) => {
            let why = if why.starts_with("discovery document") {
                why
            } else {
                format!("discovery document: {why}")
            };
            fetch.zone.discovered(fetch.slot, fetch.lease, Err(&why), now);
            return Err(why);
        }
    };
    let Some(changed) = fetch.zone.discovered(fetch.slot, fetch.lease, Ok(&jwks_uri), now) else {
        return Err("discovery document: ended after its lease".into());
    };
    if changed {
        log!(
            INFO,
            log,
            "key request \"{}\": the discovery document names jwks_uri \"{}\"",
            fetch.label,
            printable(&jwks_uri, 256)
        );
    }
    // SAFETY: the main request of a live sub-request is live; the key set's request is
    // started from it as the document's was.
    let Some(main) = (unsafe { sr.main.as_mut() }) else {
        return Err("no main request".into());
    };
    if start::start_stage(
        main,
        fetch.source,
        &fetch.zone,
        fetch.lease,
        fetch.waited,
        Stage::Keys(Some(jwks_uri)),
    ) {
        Ok(())
    } else {
        Err("the key set request could not start".into())
    }
}

/// `$jwt_peer_auth_jwks_uri`: in the key request of a discovery source, the URL its document
/// named; not found anywhere else (the client's requests included).
pub unsafe extern "C" fn get_jwks_uri(
    r: *mut ngx_http_request_t,
    v: *mut ngx_http_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    let found = std::panic::catch_unwind(|| {
        // SAFETY: NGINX passes a live request.
        let req = unsafe { r.as_ref() }?;
        match &of_request(req)?.stage {
            // The string lives in the Fetch, in the main request's pool: as long as the
            // sub-request that reads it.
            Stage::Keys(Some(u)) => Some((u.as_ptr(), u.len())),
            _ => None,
        }
    });
    // SAFETY: NGINX passes the variable value slot to fill.
    let Some(v) = (unsafe { v.as_mut() }) else {
        return -1;
    };
    match found {
        Ok(Some((data, len))) => {
            v.data = data.cast_mut();
            v.set_len(len as u32);
            v.set_valid(1);
            v.set_no_cacheable(1);
            v.set_not_found(0);
            0
        }
        Ok(None) => {
            v.set_not_found(1);
            0
        }
        Err(_) => -1,
    }
}
