//! The configuration types (http level and per location) and their one merge.
//!
//! A location's setting is `Option<T>` when unset means "inherit": the merge writes that rule
//! once ([`inherit!`]); a feature adds its fields here and its name to that list.

use std::sync::Arc;

use jwt_peer_auth_core::enforcement::Enforcement;
use jwt_peer_auth_core::freshness::CacheSettings;
use jwt_peer_auth_core::{AlgSet, KeySet, Policy, Reason};
use ngx::ffi::{ngx_conf_t, ngx_shm_zone_t};
use ngx::http::HttpModuleMainConf;

use crate::sources;
use crate::JwtPeerAuthModule;

/// http-level settings.
#[derive(Debug)]
pub struct MainConf {
    pub shm_zone: *mut ngx_shm_zone_t,
    /// `jwt_peer_auth_token_cache`: entries per worker (0: off); `None`: the default.
    pub token_cache: Option<usize>,
    /// Key sources (key-request URI per server), registered while merging.
    pub sources: crate::sources::Sources,
    /// `jwt_peer_auth_claim_set` / `jwt_peer_auth_header_set`, indexed by variable data.
    pub member_sets: Vec<MemberSet>,
    /// `jwt_peer_auth_revocation` (boxed: its zone points to it).
    pub revocation: Option<Box<crate::revocation::Revocation>>,
    /// The first `jwt_peer_auth_revocation_check` or `_api` (directive, file:line): it needs
    /// `jwt_peer_auth_revocation`, checked once the http block is parsed.
    pub revocation_used_at: Option<(&'static str, String)>,
    /// Every name some `jwt_peer_auth_revocation_check` checks: the API refuses entries no
    /// location would ever match (a typo).
    pub revocation_names: Vec<String>,
    /// `jwt_peer_auth_revocation_feed`, until the http block is parsed.
    pub revocation_feed: Option<Box<crate::revocation::feed::Feed>>,
    /// Some enabled location verifies in the preaccess phase (set while merging): only then
    /// is the preaccess handler added.
    pub preaccess: bool,
    /// The configuration uses `$jwt_peer_auth_unverified_addr`: preaccess locations verify
    /// signatures after `limit_req` and `limit_conn` (set in postconfiguration, [`crate::phase`]).
    pub verify_after_limiters: bool,
    /// `jwt_peer_auth_dpop_zone` (or the default, when a location uses DPoP).
    pub dpop_zone: Option<Box<crate::dpop::zone::Replay>>,
    pub dpop_used: bool,
}

/// `jwt_peer_auth_claim_set $var name ...` (or `_header_set`): a path of case-sensitive member
/// names into the claims (or the JOSE header).
#[derive(Debug)]
pub struct MemberSet {
    pub header: bool,
    pub path: Vec<String>,
}

impl Default for MainConf {
    fn default() -> Self {
        MainConf {
            shm_zone: std::ptr::null_mut(),
            token_cache: None,
            sources: Default::default(),
            member_sets: Vec::new(),
            revocation: None,
            revocation_used_at: None,
            revocation_names: Vec::new(),
            revocation_feed: None,
            preaccess: false,
            verify_after_limiters: false,
            dpop_zone: None,
            dpop_used: false,
        }
    }
}

impl MainConf {
    pub fn token_cache_entries(&self) -> usize {
        self.token_cache.unwrap_or(crate::token_cache::DEFAULT_ENTRIES)
    }
}

pub use crate::sources::MAX_LEVEL_SOURCES;

/// `jwt_peer_auth_key_request uri [issuer=string]`: keys come from a sub-request to this URI.
#[derive(Debug)]
pub struct KeyRequest {
    pub uri: String,
    /// `issuer=`: its keys only verify tokens with this `iss`.
    pub issuer: Option<String>,
    /// `jwt_peer_auth_discovery`: the URL of the keys comes from a discovery document.
    pub discovery: Option<Arc<crate::sources::Discovery>>,
}

/// `jwt_peer_auth <realm> [token=$variable] [optional | shadow] | off`.
#[derive(Debug, Clone)]
pub enum Mode {
    Off,
    On {
        realm: String,
        token: Option<ComplexValue>,
        enforcement: Enforcement,
    },
}

/// `jwt_peer_auth_phase access | preaccess`: the NGINX phase whose handler verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Access,
    Preaccess,
}

pub use crate::glue::ComplexValue;

/// `jwt_peer_auth_claim name value ...`.
#[derive(Debug, Clone)]
pub struct ClaimRule {
    pub name: String,
    pub values: Vec<ComplexValue>,
}

/// `jwt_peer_auth_require value ... [error=401|403]`.
#[derive(Debug, Clone)]
pub struct Require {
    pub values: Vec<ComplexValue>,
    pub status: u16,
}

/// `jwt_peer_auth_cert_binding off | on | optional [cert=$variable]` (RFC 8705 §3).
#[derive(Debug, Clone, Copy)]
pub struct CertBinding {
    pub mode: jwt_peer_auth_core::binding::Mode,
    /// Where the client certificate comes from: `$ssl_client_raw_cert` (PEM), or the `cert=`
    /// variable (URL-escaped PEM, as `$ssl_client_escaped_cert`).
    pub cert: ComplexValue,
    pub escaped: bool,
}

/// A JWKS file read at configuration time (`jwt_peer_auth_jwks_file path [issuer=string]`).
#[derive(Debug)]
pub struct FileKeys {
    pub path: String,
    pub keys: KeySet,
    /// `issuer=`: its keys only verify tokens with this `iss`.
    pub issuer: Option<String>,
}

/// Per-location settings. `None` means "not set here": inherited from the enclosing level.
#[derive(Debug, Default)]
pub struct LocConf {
    pub mode: Option<Mode>,
    /// Where `jwt_peer_auth` was set (file:line), for error messages about its settings.
    pub(in crate::config) declared_at: String,
    /// `jwt_peer_auth_jwks_file` and `jwt_peer_auth_key_request` (repeatable): the key sources
    /// of a level, inherited together (a level that sets either replaces both lists).
    pub jwks_files: Vec<Arc<FileKeys>>,
    pub key_requests: Vec<Arc<KeyRequest>>,
    pub key_cache: Option<CacheSettings>,
    pub algorithms: Option<AlgSet>,
    pub leeway: Option<u64>,
    pub claims: Option<Vec<ClaimRule>>,
    pub requires: Option<Vec<Require>>,
    pub max_age: Option<u64>,
    /// `jwt_peer_auth_cert_binding`.
    pub cert_binding: Option<CertBinding>,
    /// `jwt_peer_auth_revocation_check`: the names checked against the revocation list (empty:
    /// `off`).
    pub revocation_check: Option<Vec<String>>,
    /// `jwt_peer_auth_revocation_feed` applies here: requests start its refreshes.
    pub revocation_feed_here: bool,
    /// `jwt_peer_auth_phase`.
    pub phase: Option<Phase>,
    /// `jwt_peer_auth_dpop`.
    pub dpop: Option<std::rc::Rc<crate::dpop::conf::DpopConf>>,

    // Resolved by merge.
    /// Verification runs in the preaccess phase: `jwt_peer_auth_phase preaccess`, or `shadow`
    /// where no level sets `jwt_peer_auth_phase`.
    pub preaccess: bool,
    /// The fetched key sources (indexes into `MainConf::sources`) of this location, in the
    /// order of its `jwt_peer_auth_key_request` directives.
    pub key_sources: Vec<usize>,
    /// Some key source of this location is bound to an issuer (`issuer=`).
    pub issuer_bound: bool,
    pub policy: Policy,
    /// The `WWW-Authenticate` value for each refusal reason (RFC 6750 §3).
    pub challenges: Vec<Vec<u8>>,
}

/// "Inherit if unset", once: each named `Option` field left `None` at this level takes the
/// enclosing level's value.
macro_rules! inherit {
    ($this:ident, $prev:ident: $($field:ident),+ $(,)?) => {
        $(
            if $this.$field.is_none() {
                $this.$field = $prev.$field.clone();
            }
        )+
    };
}

impl LocConf {
    /// Where `jwt_peer_auth` was enabled (file:line).
    pub fn declared_at(&self) -> &str {
        &self.declared_at
    }

    pub fn enabled(&self) -> bool {
        matches!(self.mode, Some(Mode::On { .. }))
    }

    /// Which refusals are answered here (`Enforce` where verification is off).
    pub fn enforcement(&self) -> Enforcement {
        match &self.mode {
            Some(Mode::On { enforcement, .. }) => *enforcement,
            _ => Enforcement::Enforce,
        }
    }

    /// Inherits unset values from `prev` and resolves the effective policy.
    pub fn merge(&mut self, prev: &LocConf) -> Result<(), String> {
        if self.mode.is_none() {
            self.mode = prev.mode.clone();
            self.declared_at = prev.declared_at.clone();
        }
        // The key sources are one list: a level that sets any `jwt_peer_auth_jwks_file` or
        // `jwt_peer_auth_key_request` trusts exactly the sources it names.
        if self.jwks_files.is_empty() && self.key_requests.is_empty() {
            self.jwks_files = prev.jwks_files.clone();
            self.key_requests = prev.key_requests.clone();
        }
        self.issuer_bound = self.jwks_files.iter().any(|f| f.issuer.is_some())
            || self.key_requests.iter().any(|k| k.issuer.is_some());
        // Like NGINX's own array directives, a level that sets any `jwt_peer_auth_claim` (or
        // `_require`) replaces the inherited list.
        inherit!(self, prev: key_cache, algorithms, leeway, claims, requires, cert_binding, max_age,
            revocation_check, phase, dpop);
        self.revocation_feed_here |= prev.revocation_feed_here;
        // A shadow check must see every request, also those another access module refuses:
        // it runs before them unless a level says otherwise.
        self.preaccess = match self.phase {
            Some(phase) => phase == Phase::Preaccess,
            None => self.enforcement() == Enforcement::Shadow,
        };
        self.policy = Policy {
            algorithms: self.algorithms.unwrap_or_default(),
            leeway: self.leeway.unwrap_or(0),
        };

        let Some(Mode::On { realm, .. }) = &self.mode else {
            return Ok(());
        };
        if self.jwks_files.is_empty() && self.key_requests.is_empty() {
            return Err(format!(
                "\"jwt_peer_auth\" is enabled (in {}) but no key source is configured: add \
                 \"jwt_peer_auth_jwks_file\" or \"jwt_peer_auth_key_request\" at the same or \
                 an enclosing level",
                self.declared_at
            ));
        }
        // Keys from a file must be able to verify something, unless keys are also fetched.
        let fits = |k: &jwt_peer_auth_core::jwk::Jwk| self.policy.algorithms.iter().any(|a| k.fits(a));
        let useless = self.jwks_files.iter().find(|f| !f.keys.keys.iter().any(fits));
        if let (Some(file), true) = (useless, self.key_requests.is_empty()) {
            let algs: Vec<&str> = self.policy.algorithms.iter().map(|a| a.name()).collect();
            return Err(format!(
                "no key in \"{}\" can verify any of the allowed algorithms ({})",
                file.path,
                algs.join(" ")
            ));
        }
        self.challenges = jwt_peer_auth_core::challenge::table(realm);
        let realm = realm.clone();
        crate::dpop::conf::merge(&mut self.dpop, &realm);
        Ok(())
    }
}

impl LocConf {
    /// The challenge for `reason` (set by merge for enabled locations).
    pub fn challenge(&self, reason: Reason) -> &[u8] {
        self.challenges
            .get(reason.index())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

impl LocConf {
    /// The merge NGINX runs for each level: [`LocConf::merge`], then what the http level learns
    /// from an enabled location (the preaccess handler is needed; each fetched key source is
    /// registered as a URI and issuer in this server).
    pub fn merge_level(&mut self, prev: &LocConf, cf: &mut ngx_conf_t) -> Result<(), String> {
        self.merge(prev)?;
        if !self.enabled() {
            return Ok(());
        }
        if self.preaccess {
            let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
            mc.preaccess = true;
        }
        if self.key_requests.is_empty() {
            return Ok(());
        }
        let server = sources::current_server(cf);
        let mc = JwtPeerAuthModule::main_conf_mut(cf).ok_or("no main configuration")?;
        let cache = self.key_cache.unwrap_or_default();
        self.key_sources = self
            .key_requests
            .iter()
            .map(|kr| {
                mc.sources.register(
                    server,
                    &kr.uri,
                    kr.issuer.as_deref(),
                    kr.discovery.as_ref(),
                    &self.declared_at,
                    cache,
                )
            })
            .collect();
        Ok(())
    }
}
