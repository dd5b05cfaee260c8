//! `jwt_peer_auth_status`: counters of all workers and the state of every fetched key source,
//! as JSON, (with `?format=prometheus`) the Prometheus text exposition format, or (with
//! `?format=html`, or for a browser's `Accept`) an HTML page.
//!
//! The zone is read once into a [`Snapshot`]; each format is a view of it. The HTML view and
//! the format choice are in the core (`jwt_peer_auth_core::status`, unit-tested).

use std::fmt::Write as _;

use jwt_peer_auth_core::status::{self as page, Counts, Format, Snapshot, Source};
use jwt_peer_auth_core::Reason;
use ngx::core::Buffer;
use ngx::ffi::{ngx_chain_t, ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR};
use ngx::http::{HttpModuleMainConf, Request};
use std::sync::atomic::Ordering;

use crate::config::MainConf;
use crate::zone::Zone;
use crate::{glue, JwtPeerAuthModule};

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

/// Reads the zone once: counters and every key source (nothing is parsed, no worker state
/// changes). `mc` (the answering configuration) gives each of its sources' key cache settings.
fn collect(zone: &Zone, mc: &MainConf, now: i64) -> Snapshot {
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
            cache: mc
                .sources
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
        })
        .collect();
    let revocation = mc.revocation.as_deref().and_then(|r| {
        let list = crate::revocation::list::List::from_shm(r.shm_zone)?;
        Some(page::Revocations {
            zone: r.zone_name.clone(),
            entries: list.entries(now),
        })
    });
    Snapshot {
        now,
        counts,
        sources,
        revocation,
    }
}

fn render_json(snap: &Snapshot) -> String {
    let (c, now) = (&snap.counts, snap.now);
    let mut s = String::from("{\"requests\":{\"ok\":");
    let _ = write!(s, "{}", c.verified);
    for (i, r) in Reason::ALL.iter().enumerate() {
        let _ = write!(s, ",\"{}\":{}", r.word(), c.rejected[i]);
    }
    let _ = write!(
        s,
        ",\"forbidden\":{}}},\"unenforced\":{},\"token_cache\":{{\"hits\":{},\"misses\":{}}},\"refusal_cache\":{{\"hits\":{}}},\"key_sources\":[",
        c.forbidden, c.unenforced, c.cache_hits, c.cache_misses, c.refusal_cache_hits
    );
    for (i, src) in snap.sources.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let kids: Vec<String> = src.kids.iter().map(|k| json_str(k)).collect();
        let _ = write!(
            s,
            "{{\"uri\":{},\"live\":{},\"state\":\"{}\",\"generation\":{},\"age_seconds\":{},\"consecutive_failures\":{},\
             \"fetches\":{{\"ok\":{},\"failed\":{}}},\"unknown_kid\":{{\"waited\":{},\"refused_absent\":{},\"refused_busy\":{}}},\
             \"absent_kids\":{},\"last_result\":{},\"last_result_age_seconds\":{},\"next_attempt_in\":{},\"kids\":[{}]}}",
            json_str(&src.uri),
            src.live,
            if src.published() { "published" } else { "no_keys" },
            src.fetch.generation,
            src.age(now).map_or("null".to_owned(), |a| a.to_string()),
            src.fetch.failures,
            src.fetches_ok,
            src.fetches_failed,
            src.kid_waits,
            src.kid_absent,
            src.kid_full,
            src.absent_kids,
            json_str(&src.last_result),
            src.last_result_age(now).map_or("null".to_owned(), |a| a.to_string()),
            src.next_attempt_in(now),
            kids.join(",")
        );
    }
    s.push(']');
    if let Some(rev) = &snap.revocation {
        let _ = write!(
            s,
            ",\"revocation\":{{\"zone\":{},\"entries\":{}}}",
            json_str(&rev.zone),
            rev.entries.len()
        );
    }
    s.push_str("}\n");
    s
}

fn render_prometheus(snap: &Snapshot) -> String {
    let (c, now, sources) = (&snap.counts, snap.now, &snap.sources);
    let mut s = String::new();
    s.push_str("# HELP jwt_peer_auth_requests_total Requests checked by jwt_peer_auth, by result.\n");
    s.push_str("# TYPE jwt_peer_auth_requests_total counter\n");
    let _ = writeln!(s, "jwt_peer_auth_requests_total{{result=\"ok\"}} {}", c.verified);
    for (i, r) in Reason::ALL.iter().enumerate() {
        let _ = writeln!(
            s,
            "jwt_peer_auth_requests_total{{result=\"{}\"}} {}",
            r.word(),
            c.rejected[i]
        );
    }
    let _ = writeln!(
        s,
        "jwt_peer_auth_requests_total{{result=\"forbidden\"}} {}",
        c.forbidden
    );
    s.push_str(
        "# HELP jwt_peer_auth_unenforced_total Refusals (also counted by result) that shadow or optional did not enforce: the request went on.\n",
    );
    s.push_str("# TYPE jwt_peer_auth_unenforced_total counter\n");
    let _ = writeln!(s, "jwt_peer_auth_unenforced_total {}", c.unenforced);
    s.push_str("# HELP jwt_peer_auth_token_cache_total Verified-token cache lookups, by result.\n");
    s.push_str("# TYPE jwt_peer_auth_token_cache_total counter\n");
    let _ = writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"hit\"}} {}",
        c.cache_hits
    );
    let _ = writeln!(
        s,
        "jwt_peer_auth_token_cache_total{{result=\"miss\"}} {}",
        c.cache_misses
    );
    s.push_str(
        "# HELP jwt_peer_auth_refusal_cache_hits_total Refusals answered from the refusal cache (also counted by reason).\n",
    );
    s.push_str("# TYPE jwt_peer_auth_refusal_cache_hits_total counter\n");
    let _ = writeln!(
        s,
        "jwt_peer_auth_refusal_cache_hits_total {}",
        c.refusal_cache_hits
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
    s.push_str("# HELP jwt_peer_auth_unknown_kid_total Requests with a kid the keys lack: waited for a refetch, or refused at once (absent at the last refetch; too many waiting).\n");
    s.push_str("# TYPE jwt_peer_auth_unknown_kid_total counter\n");
    for src in sources {
        let u = prom_label(&src.uri);
        for (what, n) in [
            ("waited", src.kid_waits),
            ("refused_absent", src.kid_absent),
            ("refused_busy", src.kid_full),
        ] {
            let _ = writeln!(
                s,
                "jwt_peer_auth_unknown_kid_total{{source=\"{u}\",result=\"{what}\"}} {n}"
            );
        }
    }
    s.push_str("# HELP jwt_peer_auth_absent_kids Kids remembered absent from the published key set.\n");
    s.push_str("# TYPE jwt_peer_auth_absent_kids gauge\n");
    for src in sources {
        let _ = writeln!(
            s,
            "jwt_peer_auth_absent_kids{{source=\"{}\"}} {}",
            prom_label(&src.uri),
            src.absent_kids
        );
    }
    s.push_str("# HELP jwt_peer_auth_key_generation Generation of the published key set.\n");
    s.push_str("# TYPE jwt_peer_auth_key_generation gauge\n");
    for src in sources {
        let _ = writeln!(
            s,
            "jwt_peer_auth_key_generation{{source=\"{}\"}} {}",
            prom_label(&src.uri),
            src.fetch.generation
        );
    }
    s.push_str("# HELP jwt_peer_auth_key_age_seconds Seconds since the published key set was fetched.\n");
    s.push_str("# TYPE jwt_peer_auth_key_age_seconds gauge\n");
    for src in sources {
        if let Some(age) = src.age(now) {
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
    if let Some(rev) = &snap.revocation {
        s.push_str("# HELP jwt_peer_auth_revocation_entries Entries on the revocation list.\n");
        s.push_str("# TYPE jwt_peer_auth_revocation_entries gauge\n");
        let _ = writeln!(
            s,
            "jwt_peer_auth_revocation_entries{{zone=\"{}\"}} {}",
            prom_label(&rev.zone),
            rev.entries.len()
        );
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
    let snapshot = collect(&zone, mc, ngx::ffi::ngx_time());
    let (body, content_type) = match format {
        Format::Prometheus => (render_prometheus(&snapshot), "text/plain; version=0.0.4"),
        Format::Json => (render_json(&snapshot), "application/json"),
        Format::Html => match page::render_html(&snapshot) {
            Some(html) => (html, "text/html; charset=utf-8"),
            None => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        },
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
