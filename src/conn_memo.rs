//! The token digest of a connection's previous request: a peer sends the same token on every
//! request of its kept-alive connection, so the SHA-256 that keys the per-worker caches
//! ([`jwt_peer_auth_core::digest::token`]) is computed once per connection and token, not once
//! per request (about 0.4 µs of a cached token's cost, `bench/run.sh`).
//!
//! It only remembers which digest belongs to which bytes: a request reuses it only when its
//! token is byte for byte the previous one (length and every byte compared), so it cannot
//! make one token pass for another; what the digest then finds in the caches is checked as
//! for any request.
//!
//! Switched on by the request's HTTP version, 1.x (and the 0.9 that `post_action` or an
//! HTTP/0.9 upstream answer set): there the request's connection is the TCP connection and its
//! pool lives as long as it. An HTTP/2 stream's connection is a per-stream copy of the TCP
//! connection (sharing its pool) and an HTTP/3 stream's has a pool of its own; neither is
//! used, to keep one simple rule (a 0.9 on an HTTP/2 stream still shares one memo per TCP
//! connection, which is as correct: requests of a connection run one at a time and nothing is
//! held between them). The copy lives in the connection's pool: one buffer, grown by
//! doubling up to [`MAX_TOKEN`] bytes (at most about 8 KiB per connection in all); a longer
//! token is hashed every time. Nothing here can abort the worker: an allocation NGINX cannot
//! make just means hashing.

use std::ffi::c_void;

use jwt_peer_auth_core::digest::{self, Digest};
use ngx::ffi::{ngx_http_request_t, ngx_pnalloc, NGX_HTTP_VERSION_11};

use crate::glue::{add_cleanup, find_cleanup};

/// The longest token remembered.
pub const MAX_TOKEN: usize = 4096;

/// The smallest buffer made for a connection's first token.
const FIRST_BUFFER: usize = 512;

/// The previous token of a connection and its digest (in the connection's pool; plain data,
/// nothing to drop).
#[repr(C)]
struct Memo {
    buf: *mut u8,
    cap: usize,
    len: usize,
    digest: Digest,
}

/// Marks the cleanup entry that holds a [`Memo`]: there is nothing to release (the buffer is
/// pool memory).
extern "C" fn memo_entry(_data: *mut c_void) {}

/// The SHA-256 of `token`, the token of request `r` (a main request).
pub fn token_digest(r: &ngx_http_request_t, token: &[u8]) -> Digest {
    if r.http_version > NGX_HTTP_VERSION_11 as usize || token.len() > MAX_TOKEN {
        return digest::token(token);
    }
    // SAFETY: a request's connection is valid while the request is; its pool lives as long as
    // the connection (HTTP/1.x, checked above).
    let Some(pool) = (unsafe { r.connection.as_ref() }).map(|c| c.pool) else {
        return digest::token(token);
    };
    let found = find_cleanup(pool, memo_entry).cast::<Memo>();
    // SAFETY: NULL or the Memo written by `add_cleanup` below into this pool.
    if let Some(m) = unsafe { found.as_ref() } {
        if m.len == token.len() && previous(m) == token {
            return m.digest;
        }
    }
    let d = digest::token(token);
    let memo = if found.is_null() {
        let empty = Memo {
            buf: std::ptr::null_mut(),
            cap: 0,
            len: 0,
            digest: [0; 32],
        };
        add_cleanup(pool, empty, memo_entry)
    } else {
        found
    };
    // SAFETY: NULL, or this connection's Memo: no other reference to it is alive (the one
    // above ended; one request runs at a time on an HTTP/1.x connection).
    if let Some(m) = unsafe { memo.as_mut() } {
        remember(m, pool, token, d);
    }
    d
}

/// The bytes of the remembered token.
fn previous(m: &Memo) -> &[u8] {
    if m.buf.is_null() {
        return &[];
    }
    // SAFETY: `buf` holds `len` (≤ `cap`) bytes written by `remember`, in the connection pool.
    unsafe { std::slice::from_raw_parts(m.buf, m.len) }
}

/// Makes `token` (≤ MAX_TOKEN bytes) and its digest the remembered ones, growing the buffer if
/// needed; when the pool cannot give more, the previous token stays remembered with its own
/// digest (never an emptied token with the previous digest, which an empty token would match).
fn remember(m: &mut Memo, pool: *mut ngx::ffi::ngx_pool_t, token: &[u8], d: Digest) {
    if token.len() > m.cap {
        let cap = token.len().max(m.cap * 2).clamp(FIRST_BUFFER, MAX_TOKEN);
        // SAFETY: `pool` is the connection's live pool; NULL on failure.
        let buf = unsafe { ngx_pnalloc(pool, cap) }.cast::<u8>();
        if buf.is_null() {
            return;
        }
        (m.buf, m.cap) = (buf, cap);
    }
    // SAFETY: `buf` has `cap` ≥ token.len() bytes; the token is request memory, not the buffer.
    unsafe { std::ptr::copy_nonoverlapping(token.as_ptr(), m.buf, token.len()) };
    m.len = token.len();
    m.digest = d;
}
