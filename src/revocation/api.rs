//! `jwt_peer_auth_revocation_api`: the content handler that reads and changes the list.
//!
//! - `GET` (`HEAD`): the entries that have not expired, as JSON.
//! - `POST` with `Content-Type: application/json` and `{"name":..,"value":..,"ttl":..}`: adds
//!   an entry (201) or extends a listed one (200).
//! - `DELETE ?name=..&value=..`: removes an entry (200; 404 if it is not listed).
//!
//! Bad input answers 4xx with `{"error": "..."}` and changes nothing. A change is applied to
//! the zone (one locked pass, O(log n)), then appended to the state file's journal (if any, one
//! line, flushed); if that append fails, the change is taken back and the answer is 500: the
//! zone and the file never disagree after an answer. Every other worker, of this zone or
//! another (a binary upgrade), applies the change from the journal within a second.

use jwt_peer_auth_core::jwk::printable;
use jwt_peer_auth_core::revocation::{self, MAX_BODY};
use ngx::core::{Buffer, Status};
use ngx::ffi::{
    ngx_chain_t, ngx_http_finalize_request, ngx_http_read_client_request_body, ngx_http_request_t, ngx_int_t,
    NGX_HTTP_DELETE, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_POST,
    NGX_HTTP_SPECIAL_RESPONSE,
};
use ngx::http::{HttpModuleMainConf, Request};

use jwt_peer_auth_core::journal::{Record, Until};

use super::list::{Full, List};
use super::Revocation;
use crate::log::log;
use crate::{glue, JwtPeerAuthModule};

const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// The content handler.
pub extern "C" fn api_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: NGINX calls content handlers with a valid request.
    let request = unsafe { Request::from_ngx_http_request(r) };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| respond(request))).unwrap_or(SERVER_ERROR)
}

/// The configuration and the list, resolved for a request.
fn resolve(request: &Request) -> Option<(&'static Revocation, List)> {
    let rev = JwtPeerAuthModule::main_conf(request)?.revocation.as_deref()?;
    Some((rev, List::of(rev)?))
}

/// The names some location checks.
fn checked_names(request: &Request) -> &'static [String] {
    JwtPeerAuthModule::main_conf(request).map_or(&[], |mc| mc.revocation_names.as_slice())
}

fn respond(request: &mut Request) -> ngx_int_t {
    let method = request.as_ref().method;
    if method == NGX_HTTP_POST as usize {
        return start_post(request);
    }
    let rc = request.discard_request_body();
    if rc != Status::NGX_OK {
        return rc.into();
    }
    let Some((rev, list)) = resolve(request) else {
        return SERVER_ERROR;
    };
    let now = ngx::ffi::ngx_time();
    if method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize != 0 {
        let body = revocation::render_list(&listing(request.log(), rev, &list, now), now);
        return send(request, 200, &body);
    }
    if method == NGX_HTTP_DELETE as usize {
        let args = glue::request_args(request.as_ref());
        return match revocation::parse_delete(args) {
            Ok((name, value)) => delete(request, rev, &list, &name, &value, now),
            Err(why) => error(request, 400, &why),
        };
    }
    if request
        .add_header_out("Allow", "GET, HEAD, POST, DELETE")
        .is_none()
    {
        return SERVER_ERROR;
    }
    error(
        request,
        405,
        "the method is not allowed: GET, POST or DELETE is expected",
    )
}

/// The entries for `GET`: with a state file, the journal folded (read without the zone's lock:
/// the lock that token checks take is never held for the O(n) copy; every generation's
/// changes are in it); without one, or when the journal cannot be read, the zone's list.
/// Also the status page's list (its entries counted and shown).
pub fn listing(
    log: *mut ngx::ffi::ngx_log_t,
    rev: &Revocation,
    list: &List,
    now: i64,
) -> Vec<revocation::Entry> {
    if let Some(path) = &rev.state {
        match super::state::load(path, now) {
            Ok(l) => {
                let mut e = l.entries;
                e.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
                return e;
            }
            Err(why) => {
                log!(ERR, log, "revocation: {why}: the zone's list is answered");
            }
        }
    }
    list.entries(now)
}

/// `POST`: checks what can be checked before the body is read, then reads it.
fn start_post(request: &mut Request) -> ngx_int_t {
    let r = request.as_ref();
    // A JSON content type: a browser cannot send one cross-site without a CORS preflight.
    if !glue::content_type(r).is_some_and(is_json) {
        let rc = request.discard_request_body();
        if rc != Status::NGX_OK {
            return rc.into();
        }
        return error(request, 415, "\"Content-Type: application/json\" is expected");
    }
    if r.headers_in.content_length_n > MAX_BODY as i64 {
        let rc = request.discard_request_body();
        if rc != Status::NGX_OK {
            return rc.into();
        }
        return error(request, 413, &format!("the body is larger than {MAX_BODY} bytes"));
    }
    // SAFETY: a main request in its content handler; NGINX calls `body_read` once the body is
    // in, with the request reference count raised until then.
    let rc = unsafe { ngx_http_read_client_request_body(request.as_mut(), Some(body_read)) };
    if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
        return rc;
    }
    Status::NGX_DONE.into()
}

fn is_json(value: &[u8]) -> bool {
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    media.trim_ascii().eq_ignore_ascii_case(b"application/json")
}

/// The body is in: answers the `POST` and finalizes the request.
extern "C" fn body_read(r: *mut ngx_http_request_t) {
    // SAFETY: NGINX calls the body handler with the live request.
    let request = unsafe { Request::from_ngx_http_request(r) };
    let rc = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| post(request))).unwrap_or(SERVER_ERROR);
    // SAFETY: as above; finalizing once balances the count raised by reading the body.
    unsafe { ngx_http_finalize_request(r, rc) };
}

fn post(request: &mut Request) -> ngx_int_t {
    let Some((rev, list)) = resolve(request) else {
        return SERVER_ERROR;
    };
    let body = match glue::request_body(request.as_ref(), MAX_BODY) {
        Ok(b) => b,
        Err(glue::BodyError::TooLarge) => {
            return error(request, 413, &format!("the body is larger than {MAX_BODY} bytes"))
        }
        Err(glue::BodyError::InFile) => {
            return error(
                request,
                413,
                "the body was buffered to a file (\"client_body_buffer_size\" below 4k, or \"client_body_in_file_only\")",
            )
        }
        Err(glue::BodyError::NoMemory) => return SERVER_ERROR,
    };
    let add = match revocation::parse_add(&body, rev.ttl) {
        Ok(a) => a,
        Err(why) => return error(request, 400, &why),
    };
    // An entry no location checks would never refuse anything: most likely a typo.
    let names = checked_names(request);
    if !names.contains(&add.name) {
        let why = format!(
            "no location checks \"{}\" (\"jwt_peer_auth_revocation_check\" names: {})",
            add.name,
            names.join(", ")
        );
        return error(request, 400, &why);
    }
    let now = ngx::ffi::ngx_time();
    let expires = now.saturating_add(add.ttl as i64);
    let asked = revocation::Entry {
        name: add.name.clone(),
        value: add.value.clone(),
        expires,
        issued_before: add.issued_before,
    };
    // Changes other workers made that this zone has not applied yet come first.
    super::journal::follow(&list, true);
    let added = match list.add(&add.name, &add.value, Until::of(&asked), now, false) {
        Ok(a) => a,
        Err(Full) => {
            log!(
                ERR,
                request.log(),
                "revocation zone \"{}\" is full ({} entries): \"{}\" \"{}\" not added",
                rev.zone_name,
                list.len(),
                add.name,
                printable(&add.value, 64)
            );
            return error(
                request,
                507,
                &format!(
                    "the revocation zone \"{}\" is full: nothing was added",
                    rev.zone_name
                ),
            );
        }
    };
    let record = Record::Add(asked);
    if let Err(why) = persist(request, rev, &record, now) {
        list.undo_add(&add.name, &add.value, &added);
        return error(request, 500, &why);
    }
    let entry = added.until.entry(&add.name, &add.value);
    log!(
        NOTICE,
        request.log(),
        "revocation: {} {} \"{}\" until {}{}",
        if added.created { "added" } else { "extended" },
        add.name,
        printable(&add.value, 64),
        entry.expires,
        entry
            .issued_before
            .map_or(String::new(), |t| format!(" (tokens issued before {t})"))
    );
    let status = if added.created { 201 } else { 200 };
    send(request, status, &revocation::render_entry(&entry, now))
}

fn delete(
    request: &mut Request,
    rev: &Revocation,
    list: &List,
    name: &str,
    value: &str,
    now: i64,
) -> ngx_int_t {
    super::journal::follow(list, true);
    let Some(until) = list.remove(name, value, now) else {
        return error(request, 404, "no such entry");
    };
    let record = Record::Del {
        name: name.to_owned(),
        value: value.to_owned(),
        at: now,
    };
    if let Err(why) = persist(request, rev, &record, now) {
        // Room was just freed: putting the entry back cannot run out of it.
        let _ = list.add(name, value, until, now, true);
        return error(request, 500, &why);
    }
    log!(
        NOTICE,
        request.log(),
        "revocation: removed {name} \"{}\"",
        printable(value, 64)
    );
    let entry = until.entry(name, value);
    send(request, 200, &revocation::render_entry(&entry, now))
}

/// Appends `record` to the journal, if there is a state file.
fn persist(request: &mut Request, rev: &Revocation, record: &Record, now: i64) -> Result<(), String> {
    let Some(path) = &rev.state else {
        return Ok(());
    };
    super::state::append(path, record, now).map_err(|e| {
        let why = format!(
            "cannot write the state file \"{path}\": {}",
            glue::io_error_text(&e)
        );
        log!(ERR, request.log(), "revocation: {why}");
        format!("{why}: nothing was changed")
    })
}

fn error(request: &mut Request, status: usize, message: &str) -> ngx_int_t {
    send(request, status, &revocation::render_error(message))
}

/// Sends a JSON answer.
fn send(request: &mut Request, status: usize, body: &str) -> ngx_int_t {
    let Some(mut buf) = request.pool().create_buffer_from_str(body) else {
        return SERVER_ERROR;
    };
    buf.set_last_buf(request.is_main());
    buf.set_last_in_chain(true);
    let mut out = ngx_chain_t {
        buf: buf.as_ngx_buf_mut(),
        next: std::ptr::null_mut(),
    };
    request.set_status(ngx::http::HTTPStatus(status));
    request.set_content_length_n(body.len());
    glue::set_content_type(request.as_mut(), "application/json");
    let rc = request.send_header();
    if rc == Status::NGX_ERROR || rc.0 > 0 || request.header_only() {
        return rc.into();
    }
    request.output_filter(&mut out).into()
}
