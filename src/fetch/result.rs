//! Taking a key request's result: only a `200` with an identity-encoded body that the core
//! parses into usable keys is published; anything else is a failure that keeps the last good
//! keys and backs off. The outcome is recorded once, under the fetch's own lease (a fetch that
//! outlived its lease changes nothing), and the response buffer is released at once.

use std::ffi::c_void;

use jwt_peer_auth_core::KeySet;
use ngx::ffi::{ngx_http_request_t, ngx_int_t, ngx_log_t, NGX_LOG_ERR, NGX_LOG_INFO};

use super::{discovery, Fetch, Stage};
use crate::log::{debug, log};
use crate::{ctx, keys};

/// The post-subrequest handler of every key request. Panics never cross into NGINX.
pub unsafe extern "C" fn key_fetched(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    // SAFETY: NGINX passes the finished sub-request and the `data` given at its creation: the
    // Fetch in the main request's pool, which outlives its sub-requests.
    let (Some(sr), Some(fetch)) = (unsafe { sr.as_mut() }, unsafe { data.cast::<Fetch>().as_ref() }) else {
        return rc;
    };
    // Output still in flight (aio, threads, postponed data): NGINX finalizes again when done.
    let still_writing = sr.buffered() != 0 || !sr.postponed.is_null();
    if rc == ngx::ffi::NGX_AGAIN as ngx_int_t
        || (still_writing && (rc == 0 || rc == ngx::ffi::NGX_DONE as ngx_int_t))
    {
        return rc;
    }
    // SAFETY: a request's connection and its log are valid while the request is.
    let log = unsafe { (*sr.connection).log };
    // An error status is not the outcome yet: NGINX now runs the key location's `error_page`
    // (an internal redirect that may still deliver the keys) or sends its own error page, and
    // finalizes the sub-request again; the outcome is taken then.
    if special_response_pending(sr, rc) {
        if fetch.pending.get() {
            fetch.nginx_status.set(rc);
        }
        return rc;
    }
    // NGINX may finalize a sub-request more than once: only the first outcome counts.
    if !fetch.pending.replace(false) {
        return for_parent(rc);
    }
    let continued =
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| finish(sr, fetch, rc, log))) {
            Ok(continued) => continued,
            Err(_) => {
                log!(ALERT, log, "internal error (panic) after key request");
                false
            }
        };
    // Whatever happened, the buffer goes and the waiting request resumes (and decides from
    // the zone's state).
    fetch.release_buffer();
    sr.out = stub_out(sr);
    // A discovery document that started the key set's request: the request waits on.
    if fetch.waited && !continued {
        if let Some(c) = ctx::get(sr) {
            c.waits.waiting.set(false);
        }
        // NGINX wakes the parent of a waited sub-request, not of a background one: the key
        // set's request of a discovery source runs in the background (see `start::start_stage`)
        // and wakes the waiting client request itself, whose phases then run again.
        if sr.background() != 0 {
            // SAFETY: the main request of a live sub-request is live; posting it only queues
            // its current write event handler for this connection's posted requests.
            unsafe { ngx::ffi::ngx_http_post_request(sr.main, std::ptr::null_mut()) };
        }
    }
    for_parent(rc)
}

/// Whether NGINX will handle `rc` as a special response (error page) and finalize again,
/// rather than terminate the request (timeouts, `444`, a client gone, errors).
fn special_response_pending(sr: &ngx_http_request_t, rc: ngx_int_t) -> bool {
    const CREATED: ngx_int_t = 201;
    const NO_CONTENT: ngx_int_t = 204;
    const TIME_OUT: ngx_int_t = 408;
    const CLOSE: ngx_int_t = 444;
    const CLIENT_CLOSED: ngx_int_t = 499;
    // SAFETY: a sub-request's connection is valid while it is.
    let error = unsafe { (*sr.connection).error() } != 0;
    !error
        && (rc >= 300 && !matches!(rc, TIME_OUT | CLOSE | CLIENT_CLOSED)
            || matches!(rc, CREATED | NO_CONTENT))
}

/// After the buffer is released, `out` must not dangle: NGINX's postpone filter reads it for
/// any later output call (it gets no data: the body filter swallows it). A stub of one byte
/// from the request pool; NULL only if that allocation fails.
fn stub_out(sr: &ngx_http_request_t) -> *mut ngx::ffi::ngx_chain_t {
    // SAFETY: a buffer and a chain link from the (main request's) pool, valid while it is.
    unsafe {
        let b = ngx::ffi::ngx_create_temp_buf(sr.pool, 1);
        let cl = ngx::ffi::ngx_alloc_chain_link(sr.pool);
        if b.is_null() || cl.is_null() {
            return std::ptr::null_mut();
        }
        (*b).end = (*b).last;
        (*cl).buf = b;
        (*cl).next = std::ptr::null_mut();
        cl
    }
}

/// The code handed back to NGINX: the outcome is recorded by then, and a key request never
/// fails its parent, so NGX_ERROR and 444 (which would terminate the client's request) become
/// NGX_OK.
fn for_parent(rc: ngx_int_t) -> ngx_int_t {
    const CLOSE: ngx_int_t = 444;
    if rc == ngx::ffi::NGX_ERROR as ngx_int_t || rc == CLOSE {
        0
    } else {
        rc
    }
}

fn response_body(sr: &ngx_http_request_t) -> &[u8] {
    // SAFETY: for an in-memory sub-request `out` is NULL or one buffer holding the whole
    // response body between `pos` and `last`.
    unsafe {
        match sr.out.as_ref().and_then(|c| c.buf.as_ref()) {
            Some(b) if !b.pos.is_null() && b.last >= b.pos => {
                std::slice::from_raw_parts(b.pos, b.last.offset_from(b.pos) as usize)
            }
            _ => &[],
        }
    }
}

/// The response's `Content-Encoding`, if it is not identity.
fn content_encoding(sr: &ngx_http_request_t) -> Option<String> {
    // SAFETY: NULL or an element of the sub-request's output header list.
    let h = unsafe { sr.headers_out.content_encoding.as_ref() }?;
    let v = h.value.as_bytes();
    if h.hash == 0 || v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
        return None;
    }
    Some(jwt_peer_auth_core::jwk::printable(
        &String::from_utf8_lossy(v),
        32,
    ))
}

/// Whether the response is complete: the key service answered and NGINX finished reading it.
fn complete(sr: &ngx_http_request_t, rc: ngx_int_t) -> bool {
    read_ok(rc) && sr.headers_out.status != 0
}

/// Whether NGINX finished the sub-request without an error of its own.
fn read_ok(rc: ngx_int_t) -> bool {
    rc != ngx::ffi::NGX_ERROR as ngx_int_t && rc < 300
}

/// Records the outcome; `true` when the fetch goes on (a discovery document started the key
/// set's request).
fn finish(sr: &ngx_http_request_t, fetch: &Fetch, rc: ngx_int_t, log: *mut ngx_log_t) -> bool {
    let now = ngx::ffi::ngx_time();
    let status = sr.headers_out.status;
    debug!(
        log,
        "key request \"{}\" ended: status {status}, NGINX status {rc}", fetch.label
    );
    // The client went away before the key service answered: nothing is known about the key
    // service, so only free the lease (after a short cool-down). A complete answer is still
    // used: a background refresh publishes whether or not its client is still there.
    // SAFETY: a sub-request's connection is valid while it is.
    let client_gone = rc == ngx::ffi::NGX_HTTP_CLIENT_CLOSED_REQUEST as ngx_int_t
        || unsafe { (*sr.connection).error() } != 0;
    if client_gone && !complete(sr, rc) {
        fetch.zone.abandon(fetch.slot, fetch.lease, now);
        log!(
            INFO,
            log,
            "key request \"{}\" abandoned: the client closed the connection",
            fetch.label
        );
        return false;
    }
    let body = response_body(sr);
    let http: Result<&[u8], String> = if fetch.too_big.get() {
        Err(format!("response body larger than {} bytes", fetch.limit))
    } else if status == 0 {
        Err(format!("no response from the key service (NGINX status {rc})"))
    } else if usize::try_from(fetch.nginx_status.get()).is_ok_and(|s| s == status) {
        // NGINX's own error page for a status it set itself (no error_page took over).
        Err(format!(
            "no response from the key service (NGINX status {status})"
        ))
    } else if status != 200 {
        Err(format!("status {status}"))
    } else if !read_ok(rc) {
        Err(format!("the response could not be read (NGINX status {rc})"))
    } else if let Some(enc) = content_encoding(sr) {
        Err(format!("response has Content-Encoding \"{enc}\""))
    } else {
        Ok(body)
    };
    let outcome: Result<KeySet, String> = match &fetch.stage {
        Stage::Document => match discovery::document_fetched(sr, fetch, http, now, log) {
            Ok(()) => return true,
            Err(why) => Err(why),
        },
        Stage::Keys(jwks_uri) => {
            let from = jwks_uri
                .as_deref()
                .map(|u| format!(" from \"{}\"", jwt_peer_auth_core::jwk::printable(u, 128)))
                .unwrap_or_default();
            http.and_then(|body| {
                KeySet::parse(body).map_err(|e| format!("invalid JWKS{from} ({e}, {} bytes)", body.len()))
            })
            .map_err(|e| {
                if e.starts_with("invalid JWKS") {
                    e
                } else {
                    format!("{e}{from}")
                }
            })
        }
    };
    match outcome {
        Ok(set) => publish(fetch, set, body, now, log),
        Err(why) => {
            if !fetch.zone.fail(fetch.slot, fetch.lease, &why, now) {
                log!(
                    INFO,
                    log,
                    "key request \"{}\" failed after its lease ended: {why}",
                    fetch.label
                );
                return false;
            }
            let (_, st) = fetch.zone.state(fetch.slot);
            let keeping = if st.generation > 0 {
                "keeping the last good keys"
            } else {
                "no keys yet"
            };
            log!(
                ERR,
                log,
                "key request \"{}\" failed: {why}; {keeping}, next attempt in {}s",
                fetch.label,
                (st.next_attempt - now).max(0)
            );
        }
    }
    false
}

fn publish(fetch: &Fetch, set: KeySet, body: &[u8], now: i64, log: *mut ngx_log_t) {
    for skipped in &set.skipped {
        log!(WARN, log, "key request \"{}\": skipped {skipped}", fetch.label);
    }
    // Key ids come from the key service: printable and bounded before they reach a log line
    // or the status page.
    let mut kids: Vec<String> = set
        .kids()
        .take(8)
        .map(|k| jwt_peer_auth_core::jwk::printable(k, 64).replace(' ', "?"))
        .collect();
    if set.len() > 8 {
        kids.push("...".to_owned());
    }
    let kids = kids.join(" ");
    match fetch.zone.publish(fetch.slot, fetch.lease, body, &kids, now) {
        Ok(Some(generation)) => {
            log!(
                INFO,
                log,
                "key request \"{}\": {} keys (kids: {kids}), generation {generation}",
                fetch.label,
                set.len()
            );
            keys::install(fetch.slot, generation, set, crate::token_cache::clear);
        }
        Ok(None) => {
            log!(
                INFO,
                log,
                "key request \"{}\" ended after its lease: its keys are not published",
                fetch.label
            );
        }
        Err(e) => {
            fetch
                .zone
                .fail(fetch.slot, fetch.lease, "no room in the zone", now);
            let crate::zone::PublishError::NoMemory { first, .. } = e;
            let level = if first { NGX_LOG_ERR } else { NGX_LOG_INFO };
            log!(@ level, log, "key request \"{}\": {e}; enlarge \"jwt_peer_auth_zone\"",
                fetch.label
            );
        }
    }
}
