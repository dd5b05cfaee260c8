//! Key sources as the configuration defines them. A key source is not just a URI: it is the
//! `jwt_peer_auth_key_request` URI *in one server*, bound to its `issuer=` (if any), resolved to
//! that server's exact-match `internal` location, under one configuration. Its identity (a
//! digest of the configuration files, the server's position, the URI and the issuer) names its
//! slot in the shared zone:
//!
//! - two servers that proxy the same URI to different key services never share keys;
//! - the same URI with another `issuer=` (or none) is another source, with its own keys,
//!   refresh, `kid`-miss refetch and status-page entry;
//! - a reload keeps a source's keys only when no configuration file changed; any change (for
//!   example the key location now proxying elsewhere) starts the source cold, so keys of the
//!   old configuration are never used by the new one.

use jwt_peer_auth_core::freshness::CacheSettings;
use ngx::ffi::{
    ngx_close_glob, ngx_conf_t, ngx_cycle_t, ngx_glob_t, ngx_http_core_loc_conf_t, ngx_http_core_srv_conf_t,
    ngx_open_glob, ngx_read_glob, ngx_str_t,
};
use ngx::http::{HttpModuleMainConf, HttpModuleServerConf, NgxHttpCoreModule};

use std::sync::Arc;

use crate::zone::Identity;

/// What a discovery source (`jwt_peer_auth_discovery`) fetches first and what it expects of
/// the document.
#[derive(Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The internal location that returns the discovery document.
    pub uri: String,
    pub expect: jwt_peer_auth_core::discovery::Expectation,
}

/// Most key sources (`jwt_peer_auth_jwks_file` and `jwt_peer_auth_key_request` together) at
/// one level: a request looks at each, so they are few and kept in fixed-size arrays.
pub const MAX_LEVEL_SOURCES: usize = 8;

/// Most configuration files read for the fingerprint.
const MAX_FILES: usize = 1000;

/// One key source of the configuration.
#[derive(Debug)]
pub struct KeySource {
    pub uri: String,
    /// `issuer=`: the keys only verify tokens with this `iss`.
    pub issuer: Option<String>,
    /// `jwt_peer_auth_discovery`: `uri` fetches the key set from the URL a discovery
    /// document names.
    pub discovery: Option<Arc<Discovery>>,
    server: *const ngx_http_core_srv_conf_t,
    /// Where `jwt_peer_auth` was enabled with it, for error messages.
    declared_at: String,
    /// Set by [`resolve`].
    pub label: String,
    pub identity: Identity,
    /// The zone slot, set by the zone's init (in the master, before workers start).
    pub slot: usize,
    /// The key cache settings the status page judges this source by: the strictest of the
    /// locations that use it (shortest `valid`, shortest `valid + stale`).
    pub status_cache: CacheSettings,
}

/// The key sources of one configuration.
#[derive(Debug, Default)]
pub struct Sources {
    pub list: Vec<KeySource>,
}

impl Sources {
    /// The index of the source for `uri` bound to `issuer` in `server`, added on first use;
    /// `cache`: the key cache settings of the location using it.
    pub fn register(
        &mut self,
        server: *const ngx_http_core_srv_conf_t,
        uri: &str,
        issuer: Option<&str>,
        discovery: Option<&Arc<Discovery>>,
        declared_at: &str,
        cache: CacheSettings,
    ) -> usize {
        if let Some(i) = self.list.iter().position(|s| {
            s.server == server
                && s.uri == uri
                && s.issuer.as_deref() == issuer
                && s.discovery.as_deref() == discovery.map(|d| &**d)
        }) {
            let s = &mut self.list[i];
            s.status_cache = strictest(s.status_cache, cache);
            return i;
        }
        self.list.push(KeySource {
            uri: uri.to_owned(),
            issuer: issuer.map(str::to_owned),
            discovery: discovery.cloned(),
            server,
            declared_at: declared_at.to_owned(),
            label: String::new(),
            identity: [0; 32],
            slot: usize::MAX,
            status_cache: cache,
        });
        self.list.len() - 1
    }

    pub fn get(&self, index: usize) -> Option<&KeySource> {
        self.list.get(index).filter(|s| s.slot != usize::MAX)
    }
}

/// Fresh as long as the location wanting it shortest allows, usable as long as the one
/// allowing least does.
fn strictest(a: CacheSettings, b: CacheSettings) -> CacheSettings {
    let usable = |c: &CacheSettings| c.valid.saturating_add(c.stale);
    let valid = a.valid.min(b.valid);
    CacheSettings {
        valid,
        stale: usable(&a).min(usable(&b)).saturating_sub(valid),
        ..a
    }
}

/// The server configuration of the block being merged.
pub fn current_server(cf: &ngx_conf_t) -> *const ngx_http_core_srv_conf_t {
    NgxHttpCoreModule::server_conf(cf).map_or(std::ptr::null(), std::ptr::from_ref)
}

/// After the location trees are built (postconfiguration): checks that every key-request URI
/// leads to an exact-match `internal` location of its server, and computes identities and
/// labels. An error names the directive and the fix.
pub fn resolve(cf: &mut ngx_conf_t, sources: &mut Sources) -> Result<(), String> {
    if sources.list.is_empty() {
        return Ok(());
    }
    let Some(cmcf) = NgxHttpCoreModule::main_conf(cf) else {
        return Err("no http core configuration".into());
    };
    // SAFETY: `servers` is the core module's array of server configuration pointers.
    let servers: &[*mut ngx_http_core_srv_conf_t] = unsafe { cmcf.servers.as_slice() };
    let fingerprint = config_fingerprint(cf.cycle);
    for i in 0..sources.list.len() {
        let s = &sources.list[i];
        let index = servers
            .iter()
            .position(|p| std::ptr::eq(*p, s.server))
            .ok_or_else(|| format!("\"jwt_peer_auth_key_request\": \"{}\": server not found", s.uri))?;
        // SAFETY: a server configuration of this cycle.
        let server = unsafe { &*s.server };
        let directive = if s.discovery.is_some() {
            "jwt_peer_auth_discovery"
        } else {
            "jwt_peer_auth_key_request"
        };
        let doc_uri = s.discovery.as_ref().map(|d| d.uri.as_str());
        for uri in std::iter::once(s.uri.as_str()).chain(doc_uri) {
            if !leads_to_internal_exact(server, uri.as_bytes()) {
                return Err(format!(
                    "\"{directive}\": \"{uri}\" must lead to an exact-match internal location \
                     (\"location = {uri} {{ internal; ... }}\") in the server at {srv} (\"jwt_peer_auth\" in {at})",
                    srv = server_place(server),
                    at = s.declared_at
                ));
            }
        }
        let shared_uri = sources
            .list
            .iter()
            .filter(|o| o.uri == s.uri && o.issuer == s.issuer && o.discovery == s.discovery)
            .count()
            > 1;
        let mut label = if shared_uri {
            format!("{} (server {})", s.uri, server_place(server))
        } else {
            s.uri.clone()
        };
        if let Some(doc) = doc_uri {
            label.push_str(&format!(" (discovery {doc})"));
        }
        if let Some(issuer) = &s.issuer {
            label.push_str(&format!(" (issuer {issuer})"));
        }
        let index = (index as u64).to_le_bytes();
        let mut parts: [&[u8]; 4] = [&fingerprint, &index, s.uri.as_bytes(), &[]];
        let n = match &s.issuer {
            Some(issuer) => {
                parts[3] = issuer.as_bytes();
                4
            }
            None => 3,
        };
        // A discovery source is another source than a key request of the same URI and issuer:
        // its document location and accepted origins are part of what it is.
        let discovered = s.discovery.as_ref().map(|d| {
            let origins: Vec<String> = d.expect.origins.iter().map(ToString::to_string).collect();
            format!("discovery\0{}\0{}", d.uri, origins.join(" "))
        });
        let mut parts = parts[..n].to_vec();
        if let Some(d) = &discovered {
            parts.push(d.as_bytes());
        }
        let identity = jwt_peer_auth_core::digest::sha256(&parts);
        let s = &mut sources.list[i];
        s.label = label;
        s.identity = identity;
    }
    Ok(())
}

/// "file:line" of a server block.
fn server_place(server: &ngx_http_core_srv_conf_t) -> String {
    if server.file_name.is_null() {
        return "?".into();
    }
    // SAFETY: `file_name` is the NUL-terminated name of the file the server block is in.
    let file = unsafe { std::ffi::CStr::from_ptr(server.file_name.cast()) };
    format!("{}:{}", file.to_string_lossy(), server.line)
}

/// Whether looking `uri` up in `server` (as ngx_http_core_find_static_location does) ends on
/// an exact-match location marked `internal`.
fn leads_to_internal_exact(server: &ngx_http_core_srv_conf_t, uri: &[u8]) -> bool {
    // SAFETY: the server's conf ctx and its loc_conf array live as long as the cycle; the
    // core module's slot is its root ngx_http_core_loc_conf_t.
    let root = unsafe {
        server.ctx.as_ref().and_then(|ctx| {
            ctx.loc_conf
                .add(ngx::ffi::ngx_http_core_module.ctx_index)
                .read()
                .cast::<ngx_http_core_loc_conf_t>()
                .as_ref()
        })
    };
    let Some(root) = root else { return false };
    let mut node = root.static_locations;
    let mut rest = uri;
    // Bounded by the URI length: each step either consumes bytes or moves down the tree.
    for _ in 0..4096 {
        // SAFETY: nodes of the static location tree built by ngx_http_init_static_location_trees,
        // each with `len` name bytes allocated after it.
        let Some(n) = (unsafe { node.as_ref() }) else {
            return false;
        };
        // SAFETY: as above: `len` name bytes follow the node, in the configuration pool.
        let name = unsafe { std::slice::from_raw_parts(n.name.as_ptr(), usize::from(n.len)) };
        let k = rest.len().min(name.len());
        match rest[..k].cmp(&name[..k]) {
            std::cmp::Ordering::Less => node = n.left,
            std::cmp::Ordering::Greater => node = n.right,
            std::cmp::Ordering::Equal if rest.len() > name.len() => {
                if n.inclusive.is_null() {
                    node = n.right;
                } else {
                    node = n.tree;
                    rest = &rest[k..];
                }
            }
            std::cmp::Ordering::Equal if rest.len() == name.len() => {
                // SAFETY: NULL or the location's core configuration.
                return unsafe { n.exact.as_ref() }.is_some_and(|clcf| clcf.internal == 1);
            }
            std::cmp::Ordering::Equal => node = n.left,
        }
    }
    false
}

/// A digest of every configuration file of this load: the main file and, recursively, the
/// files its `include` directives name.
fn config_fingerprint(cycle: *mut ngx_cycle_t) -> [u8; 32] {
    // SAFETY: the cycle being configured; its conf_file is the absolute main file name.
    let main = unsafe { cycle.as_ref() }
        .map(|c| c.conf_file.as_bytes().to_vec())
        .unwrap_or_default();
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut queue = vec![main];
    while let Some(path) = queue.pop() {
        if files.len() >= MAX_FILES || files.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let text = std::fs::read(std::ffi::OsStr::new(&*String::from_utf8_lossy(&path))).unwrap_or_default();
        for pattern in jwt_peer_auth_core::conffile::includes(&text) {
            queue.extend(expand(cycle, &pattern));
        }
        files.push((path, text));
    }
    let mut parts: Vec<&[u8]> = Vec::with_capacity(files.len() * 2);
    for (p, t) in &files {
        parts.push(p);
        parts.push(t);
    }
    jwt_peer_auth_core::digest::sha256(&parts)
}

/// The files an `include` argument names: relative to the configuration prefix, globbed.
fn expand(cycle: *mut ngx_cycle_t, pattern: &[u8]) -> Vec<Vec<u8>> {
    let mut full = if pattern.starts_with(b"/") {
        pattern.to_vec()
    } else {
        // SAFETY: the cycle being configured; conf_prefix ends with a slash.
        let prefix = unsafe { cycle.as_ref() }
            .map(|c| c.conf_prefix.as_bytes().to_vec())
            .unwrap_or_default();
        [prefix.as_slice(), pattern].concat()
    };
    if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
        return vec![full];
    }
    full.push(0);
    let mut out = Vec::new();
    // SAFETY: a zeroed ngx_glob_t with a NUL-terminated pattern, as ngx_conf_include sets it
    // up; every opened glob is closed; names point into the glob until it is closed.
    unsafe {
        let mut gl: ngx_glob_t = std::mem::zeroed();
        gl.pattern = full.as_mut_ptr();
        gl.log = (*cycle).log;
        gl.test = 1;
        if ngx_open_glob(&mut gl) != 0 {
            return out;
        }
        let mut name = ngx_str_t {
            len: 0,
            data: std::ptr::null_mut(),
        };
        while out.len() < MAX_FILES && ngx_read_glob(&mut gl, &mut name) == 0 {
            out.push(name.as_bytes().to_vec());
        }
        ngx_close_glob(&mut gl);
    }
    out
}

/// The key sources as the zone's init sees them.
impl crate::zone::Claims for Sources {
    fn claims(&mut self) -> Vec<(Identity, String)> {
        self.list.iter().map(|s| (s.identity, s.label.clone())).collect()
    }

    fn assign(&mut self, index: usize, slot: usize) {
        self.list[index].slot = slot;
    }
}
