//! `jwt_peer_auth_status`: counters of all workers and the state of every fetched key source,
//! as JSON or (with `?format=prometheus`) the Prometheus text exposition format.

use std::fmt::Write as _;

use jwt_peer_auth_core::Reason;
use ngx::core::Buffer;
use ngx::ffi::{ngx_chain_t, ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR};
use ngx::http::{HttpModuleMainConf, Request};
use std::sync::atomic::Ordering;

use crate::zone::Zone;
use crate::{glue, JwtPeerAuthModule};

/// One key source as the status page shows it: read from the zone as it is (nothing is
/// parsed, no worker state changes).
struct SourceView {
    uri: String,
    live: bool,
    generation: u64,
    age: Option<i64>,
    state: &'static str,
    failures: u32,
    fetches_ok: u64,
    fetches_failed: u64,
    kids: Vec<String>,
    last_result: String,
    last_result_age: Option<i64>,
    next_attempt_in: i64,
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus label value: backslash, quote and newline escaped, other control characters
/// replaced.
fn prom_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn collect(zone: &Zone, now: i64) -> Vec<SourceView> {
    zone.sources()
        .into_iter()
        .map(|v| {
            let published = v.state.generation > 0;
            SourceView {
                uri: v.label,
                live: v.live,
                generation: v.state.generation,
                age: published.then(|| now - v.state.fetched_at),
                state: if published { "published" } else { "no_keys" },
                failures: v.state.failures,
                fetches_ok: v.stats.ok,
                fetches_failed: v.stats.failed,
                kids: v
                    .kids
                    .split(' ')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect(),
                last_result: v.result,
                last_result_age: (v.result_at > 0).then(|| now - v.result_at),
                next_attempt_in: (v.state.next_attempt - now).max(0),
            }
        })
        .collect()
}

fn render_json(zone: &Zone, sources: &[SourceView]) -> String {
    let c = zone.counters();
    let mut s = String::from("{\"requests\":{\"ok\":");
    let _ = write!(s, "{}", c.verified.load(Ordering::Relaxed));
    for (i, r) in Reason::ALL.iter().enumerate() {
        let _ = write!(s, ",\"{}\":{}", r.word(), c.rejected[i].load(Ordering::Relaxed));
    }
    let _ = write!(
        s,
        ",\"forbidden\":{}}},\"token_cache\":{{\"hits\":{},\"misses\":{}}},\"refusal_cache\":{{\"hits\":{}}},\"key_sources\":[",
        c.forbidden.load(Ordering::Relaxed),
        c.cache_hits.load(Ordering::Relaxed),
        c.cache_misses.load(Ordering::Relaxed),
        c.refusal_cache_hits.load(Ordering::Relaxed)
    );
    for (i, src) in sources.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let kids: Vec<String> = src.kids.iter().map(|k| json_str(k)).collect();
        let _ = write!(
            s,
            "{{\"uri\":{},\"live\":{},\"state\":\"{}\",\"generation\":{},\"age_seconds\":{},\"consecutive_failures\":{},\
             \"fetches\":{{\"ok\":{},\"failed\":{}}},\"last_result\":{},\"last_result_age_seconds\":{},\"next_attempt_in\":{},\"kids\":[{}]}}",
            json_str(&src.uri),
            src.live,
            src.state,
            src.generation,
            src.age.map_or("null".to_owned(), |a| a.to_string()),
            src.failures,
            src.fetches_ok,
            src.fetches_failed,
            json_str(&src.last_result),
            src.last_result_age.map_or("null".to_owned(), |a| a.to_string()),
            src.next_attempt_in,
            kids.join(",")
        );
    }
    s.push_str("]}\n");
    s
}

fn render_prometheus(zone: &Zone, sources: &[SourceView]) -> String {
    let c = zone.counters();
    let mut s = String::new();
    s.push_str("# HELP jwt_peer_auth_requests_total Requests checked by jwt_peer_auth, by result.\n");
    s.push_str("# TYPE jwt_peer_auth_requests_total counter\n");
    let _ = writeln!(
        s,
        "jwt_peer_auth_requests_total{{result=\"ok\"}} {}",
        c.verified.load(Ordering::Relaxed)
    );
    for (i, r) in Reason::ALL.iter().enumerate() {
        let _ = writeln!(
            s,
            "jwt_peer_auth_requests_total{{result=\"{}\"}} {}",
            r.word(),
            c.rejected[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        s,
        "jwt_peer_auth_requests_total{{result=\"forbidden\"}} {}",
        c.forbidden.load(Ordering::Relaxed)
    );
    s.push_str("# HELP jwt_peer_auth_token_cache_total Verified-token cache lookups, by result.\n");
    s.push_str("# TYPE jwt_peer_auth_token_cache_total counter\n");
    let _ = writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"hit\"}} {}",
        c.cache_hits.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"miss\"}} {}",
        c.cache_misses.load(Ordering::Relaxed)
    );
    s.push_str(
        "# HELP jwt_peer_auth_refusal_cache_hits_total Refusals answered from the refusal cache (also counted by reason).\n",
    );
    s.push_str("# TYPE jwt_peer_auth_refusal_cache_hits_total counter\n");
    let _ = writeln!(
        s,
        "jwt_peer_auth_refusal_cache_hits_total {}",
        c.refusal_cache_hits.load(Ordering::Relaxed)
    );
    s.push_str("# HELP jwt_peer_auth_key_fetches_total Key requests, by key source and result.\n");
    s.push_str("# TYPE jwt_peer_auth_key_fetches_total counter\n");
    for src in sources {
        let u = prom_label(&src.uri);
        let _ = writeln!(
            s,
            "jwt_peer_auth_key_fetches_total{{source=\"{u}\",result=\"ok\"}} {}",
            src.fetches_ok
        );
        let _ = writeln!(
            s,
            "jwt_peer_auth_key_fetches_total{{source=\"{u}\",result=\"failed\"}} {}",
            src.fetches_failed
        );
    }
    s.push_str("# HELP jwt_peer_auth_key_generation Generation of the published key set.\n");
    s.push_str("# TYPE jwt_peer_auth_key_generation gauge\n");
    for src in sources {
        let _ = writeln!(
            s,
            "jwt_peer_auth_key_generation{{source=\"{}\"}} {}",
            prom_label(&src.uri),
            src.generation
        );
    }
    s.push_str("# HELP jwt_peer_auth_key_age_seconds Seconds since the published key set was fetched.\n");
    s.push_str("# TYPE jwt_peer_auth_key_age_seconds gauge\n");
    for src in sources {
        if let Some(age) = src.age {
            let _ = writeln!(
                s,
                "jwt_peer_auth_key_age_seconds{{source=\"{}\"}} {age}",
                prom_label(&src.uri)
            );
        }
    }
    s.push_str("# HELP jwt_peer_auth_key_info A published key, by key source and kid.\n");
    s.push_str("# TYPE jwt_peer_auth_key_info gauge\n");
    for src in sources {
        for kid in &src.kids {
            let _ = writeln!(
                s,
                "jwt_peer_auth_key_info{{source=\"{}\",kid=\"{}\"}} 1",
                prom_label(&src.uri),
                prom_label(kid)
            );
        }
    }
    s
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
    let Some(zone) = JwtPeerAuthModule::main_conf(request).and_then(|m| Zone::from_shm(m.shm_zone)) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let prometheus = glue::query_arg(request.as_ref(), b"format").is_some_and(|v| v == b"prometheus");
    let sources = collect(&zone, ngx::ffi::ngx_time());
    let (body, content_type) = if prometheus {
        (render_prometheus(&zone, &sources), "text/plain; version=0.0.4")
    } else {
        (render_json(&zone, &sources), "application/json")
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
    let rc = request.send_header();
    if rc == ngx::core::Status::NGX_ERROR || rc.0 > 0 || request.header_only() {
        return rc.into();
    }
    request.output_filter(&mut out).into()
}
