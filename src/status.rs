//! `jwt_peer_auth_status`: counters of all workers and the state of every fetched key source,
//! as JSON, (with `?format=prometheus`) the Prometheus text exposition format, or (with
//! `?format=html`, or for a browser's `Accept`) an HTML page.
//!
//! This file only reads the zone once into a [`Snapshot`] and sends the chosen view of it; the
//! views and the format choice are in the core (`jwt_peer_auth_core::status`, unit-tested).

use jwt_peer_auth_core::status::{self as page, Counts, Format, Snapshot, Source};
use ngx::core::Buffer;
use std::ffi::{c_char, c_void};

use ngx::ffi::{
    ngx_chain_t, ngx_command_t, ngx_conf_t, ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, Request};
use std::sync::atomic::Ordering;

use crate::revocation::Revocation;
use crate::sources::Sources;
use crate::zone::Zone;
use crate::{glue, JwtPeerAuthModule};

/// Reads the zone once: counters and every key source (nothing is parsed, no worker state
/// changes). `configured` (the answering configuration's key sources) gives each source's key
/// cache settings; `revocation`, the list shown.
fn collect(
    zone: &Zone,
    configured: &Sources,
    revocation: Option<&'static Revocation>,
    now: i64,
    log: *mut ngx::ffi::ngx_log_t,
) -> Snapshot {
    let c = zone.counters();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let counts = Counts {
        verified: load(&c.verified),
        rejected: std::array::from_fn(|i| load(&c.rejected[i])),
        forbidden: load(&c.forbidden),
        cache_hits: load(&c.cache_hits),
        cache_misses: load(&c.cache_misses),
        refusal_cache_hits: load(&c.refusal_cache_hits),
        unenforced: load(&c.unenforced),
    };
    let sources = zone
        .sources()
        .into_iter()
        .map(|v| Source {
            cache: configured
                .list
                .iter()
                .find(|s| s.slot == v.slot && zone.owns(s.slot, &s.identity))
                .map(|s| s.status_cache),
            uri: v.label,
            live: v.live,
            fetch: v.state,
            fetches_ok: v.stats.ok,
            fetches_failed: v.stats.failed,
            kid_waits: v.stats.kid_waits,
            kid_absent: v.stats.kid_absent,
            kid_full: v.stats.kid_full,
            absent_kids: v.absent_kids as u64,
            kids: v
                .kids
                .split(' ')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            last_result: v.result,
            last_result_at: v.result_at,
            discovery: configured
                .list
                .iter()
                .any(|s| s.slot == v.slot && s.discovery.is_some() && zone.owns(s.slot, &s.identity))
                .then_some(page::DiscoveryView {
                    jwks_uri: v.jwks_uri,
                    last_error: v.discovery_error,
                    last_error_at: v.discovery_error_at,
                }),
        })
        .collect();
    let revocation = revocation.and_then(|r| {
        let list = crate::revocation::list::List::of(r)?;
        Some(page::Revocations {
            zone: r.zone_name.clone(),
            // As the API's GET: from the journal when there is a state file, so that the lock
            // token checks take is not held for a walk of the zone (a feed's 100,000 entries
            // included) at every poll of the page.
            entries: crate::revocation::api::listing(log, r, &list, now),
            feed: crate::revocation::feed::status(r).map(|f| page::FeedState {
                uri: f.uri,
                state: f.state.to_owned(),
                age: f.age,
                entries: f.entries,
                fetched: f.fetched,
                not_modified: f.not_modified,
                failures: f.failures,
                error: f.error,
            }),
        })
    });
    Snapshot {
        now,
        counts,
        sources,
        revocation,
        dpop: None,
    }
}

/// The content handler of `jwt_peer_auth_status`.
pub extern "C" fn status_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: NGINX calls content handlers with a valid request.
    let request = unsafe { Request::from_ngx_http_request(r) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| respond(request))) {
        Ok(rc) => rc,
        Err(_) => NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
    }
}

fn respond(request: &mut Request) -> ngx_int_t {
    let Some(mc) = JwtPeerAuthModule::main_conf(request) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let Some(zone) = Zone::from_shm(mc.shm_zone) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let accept = request
        .headers_in_iterator()
        .filter(|(k, _)| k.as_bytes().eq_ignore_ascii_case(b"accept"))
        .map(|(_, v)| v.as_bytes());
    let (format, negotiated) = page::choose_format(glue::query_arg(request.as_ref(), b"format"), accept);
    let mut snapshot = collect(
        &zone,
        &mc.sources,
        mc.revocation.as_deref(),
        ngx::ffi::ngx_time(),
        request.log(),
    );
    snapshot.dpop = crate::dpop::zone::Zone::attach(crate::dpop::config::zone_of(mc)).map(|z| z.snapshot());
    let (body, content_type) = match format {
        Format::Prometheus => (page::render_prometheus(&snapshot), "text/plain; version=0.0.4"),
        Format::Json => (page::render_json(&snapshot), "application/json"),
        Format::Html => (page::render_html(&snapshot), "text/html; charset=utf-8"),
    };
    // Memory for the answer could not be reserved.
    let Some(body) = body else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let rc = request.discard_request_body();
    if rc != ngx::core::Status::NGX_OK {
        return rc.into();
    }
    let Some(mut buf) = request.pool().create_buffer_from_str(&body) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    buf.set_last_buf(request.is_main());
    buf.set_last_in_chain(true);
    let mut out = ngx_chain_t {
        buf: buf.as_ngx_buf_mut(),
        next: std::ptr::null_mut(),
    };
    request.set_status(ngx::http::HTTPStatus::OK);
    request.set_content_length_n(body.len());
    glue::set_content_type(request.as_mut(), content_type);
    // The answer depends on Accept unless ?format= chose it; the page gets a strict policy.
    let vary: &[(&str, &str)] = if negotiated { &[("Vary", "Accept")] } else { &[] };
    let html: &[(&str, &str)] = if format == Format::Html {
        &[
            ("Content-Security-Policy", page::HTML_CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
        ]
    } else {
        &[]
    };
    for (key, value) in vary.iter().chain(html) {
        if !glue::add_header(request.as_mut(), key, value) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        }
    }
    let rc = request.send_header();
    if rc == ngx::core::Status::NGX_ERROR || rc.0 > 0 || request.header_only() {
        return rc.into();
    }
    request.output_filter(&mut out).into()
}

/// `jwt_peer_auth_status`: this location answers with the status page.
pub extern "C" fn cmd_status(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let Some(cf) = glue::conf_mut(cf) else {
        return ngx::core::NGX_CONF_ERROR;
    };
    match ngx::http::NgxHttpCoreModule::location_conf_mut(cf) {
        Some(clcf) => {
            clcf.handler = Some(status_handler);
            ngx::core::NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
}
