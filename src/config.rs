//! Directives, their parsing into typed per-location settings, and merging.
//!
//! Every configuration error is an `[emerg]` naming the directive and the problem; the
//! decisions themselves (what is a valid algorithm, a usable JWKS) belong to the core.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;

use jwt_peer_auth_core::enforcement::Enforcement;
use jwt_peer_auth_core::freshness::CacheSettings;
use jwt_peer_auth_core::{AlgSet, KeySet, Policy, Reason};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_shm_zone_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_2MORE,
    NGX_CONF_TAKE1, NGX_CONF_TAKE12, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF,
    NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_LOG_WARN,
};
use ngx::http::HttpModuleLocationConf;
use ngx::{ngx_conf_log_error, ngx_string};

use crate::glue;
use crate::zone;

/// Name and size of the zone used when `jwt_peer_auth_zone` is not given.
pub const DEFAULT_ZONE: &str = "jwt_peer_auth";
pub const DEFAULT_ZONE_SIZE: usize = 1024 * 1024;

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

/// Most key sources (`jwt_peer_auth_jwks_file` and `jwt_peer_auth_key_request` together) at
/// one level: a request looks at each, so they are few and kept in fixed-size arrays.
pub const MAX_LEVEL_SOURCES: usize = 8;

/// `jwt_peer_auth_key_request uri [issuer=string]`: keys come from a sub-request to this URI.
#[derive(Debug)]
pub struct KeyRequest {
    pub uri: String,
    /// `issuer=`: its keys only verify tokens with this `iss`.
    pub issuer: Option<String>,
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

/// A compiled NGINX complex value (text with variables), evaluated per request.
#[derive(Debug, Clone, Copy)]
pub struct ComplexValue(pub *mut ngx::ffi::ngx_http_complex_value_t);

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
    declared_at: String,
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
    /// `jwt_peer_auth_phase`.
    pub phase: Option<Phase>,
    /// `jwt_peer_auth_dpop`.
    pub dpop: Option<std::rc::Rc<crate::dpop::config::DpopConf>>,

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
        if self.key_cache.is_none() {
            self.key_cache = prev.key_cache;
        }
        if self.algorithms.is_none() {
            self.algorithms = prev.algorithms;
        }
        if self.leeway.is_none() {
            self.leeway = prev.leeway;
        }
        // Like NGINX's own array directives, a level that sets any replaces the inherited list.
        if self.claims.is_none() {
            self.claims = prev.claims.clone();
        }
        if self.requires.is_none() {
            self.requires = prev.requires.clone();
        }
        if self.cert_binding.is_none() {
            self.cert_binding = prev.cert_binding;
        }
        if self.max_age.is_none() {
            self.max_age = prev.max_age;
        }
        if self.revocation_check.is_none() {
            self.revocation_check = prev.revocation_check.clone();
        }
        if self.phase.is_none() {
            self.phase = prev.phase;
        }
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
            if self.dpop.is_none() {
                self.dpop = prev.dpop.clone();
            }
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
        self.challenges = Reason::ALL.iter().map(|r| challenge(realm, *r)).collect();
        let realm = realm.clone();
        crate::dpop::config::merge(self, prev.dpop.as_ref(), &realm);
        Ok(())
    }
}

/// The RFC 6750 challenge for a refusal: no error code when there were no credentials,
/// `invalid_token` otherwise, with a fixed description where it helps and reveals nothing.
fn challenge(realm: &str, reason: Reason) -> Vec<u8> {
    let mut c = format!("Bearer realm=\"{realm}\"");
    if let Some(code) = reason.error_code() {
        c.push_str(&format!(", error=\"{code}\""));
        if let Some(d) = reason.description() {
            c.push_str(&format!(", error_description=\"{d}\""));
        }
    }
    c.into_bytes()
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

/// What a directive handler reports.
enum ConfError {
    Duplicate,
    Emerg(String),
}

impl From<String> for ConfError {
    fn from(s: String) -> Self {
        ConfError::Emerg(s)
    }
}

type Handler<T> = fn(&mut ngx_conf_t, &[&str], &mut T) -> Result<(), ConfError>;

/// Runs a directive handler with safe arguments and turns its error into an `[emerg]`.
fn run<T>(cf: *mut ngx_conf_t, conf: *mut c_void, handler: Handler<T>) -> *mut c_char {
    let (Some(cf), Some(conf)) = (glue::conf_mut(cf), glue::loc_conf_mut::<T>(conf)) else {
        return ngx::core::NGX_CONF_ERROR;
    };
    let args = glue::conf_args(cf);
    let name = args
        .first()
        .map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut strs = Vec::with_capacity(args.len());
    for a in args.iter().skip(1) {
        match a.to_str() {
            Ok(s) => strs.push(s),
            Err(_) => {
                ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{name}\": argument is not valid UTF-8");
                return ngx::core::NGX_CONF_ERROR;
            }
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(cf, &strs, conf)));
    match result {
        Ok(Ok(())) => ngx::core::NGX_CONF_OK,
        Ok(Err(ConfError::Duplicate)) => c"is duplicate".as_ptr().cast_mut(),
        Ok(Err(ConfError::Emerg(msg))) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{name}\": {msg}");
            ngx::core::NGX_CONF_ERROR
        }
        Err(_) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{name}\": internal error while parsing");
            ngx::core::NGX_CONF_ERROR
        }
    }
}

fn set_mode(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.mode.is_some() {
        return Err(ConfError::Duplicate);
    }
    let value = args[0];
    if value == "off" {
        if let Some(extra) = args.get(1) {
            return Err(format!("invalid parameter \"{extra}\" after \"off\"").into());
        }
        lc.mode = Some(Mode::Off);
        return Ok(());
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || *c == '"' || *c == '\\')
    {
        return Err(format!("invalid character {bad:?} in realm \"{value}\"").into());
    }
    let mut token = None;
    let mut enforcement = None;
    for (i, param) in args.iter().enumerate().skip(1) {
        if let Some(var) = param.strip_prefix("token=") {
            if token.is_some() {
                return Err(format!("duplicate parameter \"{param}\"").into());
            }
            if !var.starts_with('$') {
                return Err(format!("\"token=\" needs a variable, not \"{var}\"").into());
            }
            // `args` starts after the directive's name.
            token = Some(compile(cf, i + 1, "token=".len())?);
        } else if let Some(e) = Enforcement::parse(param) {
            match enforcement.replace(e) {
                Some(prev) if prev == e => return Err(format!("duplicate parameter \"{param}\"").into()),
                Some(_) => {
                    return Err("\"optional\" and \"shadow\" are mutually exclusive"
                        .to_owned()
                        .into())
                }
                None => {}
            }
        } else {
            return Err(format!("invalid parameter \"{param}\"").into());
        }
    }
    lc.mode = Some(Mode::On {
        realm: value.to_owned(),
        token,
        enforcement: enforcement.unwrap_or_default(),
    });
    lc.declared_at = glue::conf_location(cf);
    Ok(())
}

fn set_phase(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.phase.is_some() {
        return Err(ConfError::Duplicate);
    }
    lc.phase = Some(match args[0] {
        "access" => Phase::Access,
        "preaccess" => Phase::Preaccess,
        other => {
            return Err(format!("invalid value \"{other}\": \"access\" or \"preaccess\" is expected").into())
        }
    });
    Ok(())
}

/// The `issuer=string` parameter of a key-source directive, if given.
fn issuer_param(args: &[&str]) -> Result<Option<String>, String> {
    let Some(param) = args.get(1) else {
        return Ok(None);
    };
    let Some(issuer) = param.strip_prefix("issuer=") else {
        return Err(format!(
            "invalid parameter \"{param}\": \"issuer=string\" is expected"
        ));
    };
    jwt_peer_auth_core::verify::check_issuer(issuer)
        .map_err(|why| format!("invalid \"issuer=\" value \"{}\": {why}", issuer.escape_debug()))?;
    Ok(Some(issuer.to_owned()))
}

/// Room for one more key source at this level.
fn room_for_source(lc: &LocConf) -> Result<(), String> {
    if lc.jwks_files.len() + lc.key_requests.len() >= MAX_LEVEL_SOURCES {
        return Err(format!(
            "too many key sources at one level (at most {MAX_LEVEL_SOURCES} \"jwt_peer_auth_jwks_file\" and \
             \"jwt_peer_auth_key_request\" together)"
        ));
    }
    Ok(())
}

fn set_jwks_file(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    room_for_source(lc)?;
    let issuer = issuer_param(args)?;
    let path = glue::conf_full_name(cf, args[0]).ok_or_else(|| format!("invalid path \"{}\"", args[0]))?;
    if lc.jwks_files.iter().any(|f| f.path == path && f.issuer == issuer) {
        return Err(format!("duplicate key source \"{}\"", args[0]).into());
    }
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read \"{path}\": {}", glue::io_error_text(&e)))?;
    let mut keys = KeySet::parse(&bytes).map_err(|e| format!("invalid JWKS in \"{path}\": {e}"))?;
    crate::openssl_rsa::attach(&mut keys);
    for skipped in &keys.skipped {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "\"jwt_peer_auth_jwks_file\": \"{path}\": skipped {skipped}"
        );
    }
    lc.jwks_files.push(Arc::new(FileKeys { path, keys, issuer }));
    Ok(())
}

fn set_algorithms(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.algorithms.is_some() {
        return Err(ConfError::Duplicate);
    }
    let set = AlgSet::parse(args.iter().copied()).map_err(|e| e.to_string())?;
    lc.algorithms = Some(set);
    Ok(())
}

fn set_leeway(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.leeway.is_some() {
        return Err(ConfError::Duplicate);
    }
    let secs = glue::parse_time_sec(args[0]).ok_or_else(|| format!("invalid time value \"{}\"", args[0]))?;
    lc.leeway = Some(secs);
    Ok(())
}

/// Compiles directive argument `index` (skipping `skip` leading bytes) as a complex value.
fn compile(cf: &mut ngx_conf_t, index: usize, skip: usize) -> Result<ComplexValue, ConfError> {
    let arg = glue::conf_args(cf)[index];
    let value = ngx_str_t {
        len: arg.len - skip,
        data: arg.data.wrapping_add(skip),
    };
    glue::compile_complex_value(cf, value)
        .map(ComplexValue)
        .ok_or_else(|| {
            ConfError::Emerg(format!(
                "invalid value \"{}\"",
                String::from_utf8_lossy(value.as_bytes())
            ))
        })
}

fn set_claim(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    let name = args[0];
    if name.is_empty() || name.bytes().any(|b| b <= b' ') {
        return Err(format!("invalid claim name \"{name}\"").into());
    }
    let values = (2..=args.len())
        .map(|i| compile(cf, i, 0))
        .collect::<Result<Vec<_>, _>>()?;
    lc.claims.get_or_insert_with(Vec::new).push(ClaimRule {
        name: name.to_owned(),
        values,
    });
    Ok(())
}

fn set_require(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    let mut status = 401;
    let mut values = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if let Some(code) = a.strip_prefix("error=") {
            status = match code {
                "401" => 401,
                "403" => 403,
                _ => {
                    return Err(format!("invalid \"error=\" value \"{code}\": 401 or 403 is expected").into())
                }
            };
        } else {
            values.push(compile(cf, i + 1, 0)?);
        }
    }
    if values.is_empty() {
        return Err("no value to check".to_string().into());
    }
    lc.requires
        .get_or_insert_with(Vec::new)
        .push(Require { values, status });
    Ok(())
}

fn set_cert_binding(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    use jwt_peer_auth_core::binding::Mode;
    if lc.cert_binding.is_some() {
        return Err(ConfError::Duplicate);
    }
    let mode = match args[0] {
        "off" => Mode::Off,
        "on" => Mode::On,
        "optional" => Mode::Optional,
        other => {
            return Err(
                format!("invalid value \"{other}\": \"off\", \"on\" or \"optional\" is expected").into(),
            )
        }
    };
    let (cert, escaped) = match args.get(1) {
        None if mode == Mode::Off => (ComplexValue(std::ptr::null_mut()), false),
        None => {
            // The connection's own client certificate; needs NGINX built with SSL.
            const RAW: &str = "$ssl_client_raw_cert";
            let value = ngx_str_t {
                len: RAW.len(),
                data: RAW.as_ptr().cast_mut(),
            };
            let cv = glue::compile_complex_value(cf, value)
                .ok_or_else(|| "\"$ssl_client_raw_cert\" is not available (NGINX without SSL?)".to_owned())?;
            (ComplexValue(cv), false)
        }
        Some(param) => {
            let Some(var) = param.strip_prefix("cert=") else {
                return Err(format!("invalid parameter \"{param}\"").into());
            };
            if mode == Mode::Off || !var.starts_with('$') {
                return Err(format!("invalid parameter \"{param}\": \"cert=$variable\" with \"on\" or \"optional\" is expected").into());
            }
            (compile(cf, 2, "cert=".len())?, true)
        }
    };
    lc.cert_binding = Some(CertBinding { mode, cert, escaped });
    Ok(())
}

fn set_max_age(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.max_age.is_some() {
        return Err(ConfError::Duplicate);
    }
    let secs = glue::parse_time_sec(args[0]).ok_or_else(|| format!("invalid time value \"{}\"", args[0]))?;
    lc.max_age = Some(secs);
    Ok(())
}

fn set_key_request(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    room_for_source(lc)?;
    let issuer = issuer_param(args)?;
    let uri = args[0];
    if !uri.starts_with('/') || uri.len() > 255 || uri.bytes().any(|b| b <= b' ' || b == b'?') {
        return Err(format!("invalid URI \"{uri}\": a local path like \"/_jwks\" is expected").into());
    }
    if lc.key_requests.iter().any(|k| k.uri == uri && k.issuer == issuer) {
        return Err(format!("duplicate key source \"{uri}\"").into());
    }
    lc.key_requests.push(Arc::new(KeyRequest {
        uri: uri.to_owned(),
        issuer,
    }));
    Ok(())
}

fn set_key_cache(_cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.key_cache.is_some() {
        return Err(ConfError::Duplicate);
    }
    let time = |v: &str| glue::parse_time_sec(v).ok_or_else(|| format!("invalid time value \"{v}\""));
    let mut cfg = CacheSettings {
        valid: time(args[0])?,
        ..CacheSettings::default()
    };
    if cfg.valid == 0 {
        return Err(format!(
            "invalid time value \"{}\": keys must stay fresh for at least 1s (0 would fetch keys for every request)",
            args[0]
        )
        .into());
    }
    for a in &args[1..] {
        match a.split_once('=') {
            Some(("stale", v)) => cfg.stale = time(v)?,
            Some(("min_refresh", v)) => cfg.min_refresh = time(v)?,
            _ => return Err(format!("invalid parameter \"{a}\"").into()),
        }
    }
    lc.key_cache = Some(cfg);
    Ok(())
}

fn set_zone(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    if !mc.shm_zone.is_null() {
        return Err(ConfError::Duplicate);
    }
    let value = args[0];
    let (name, size) = value
        .split_once(':')
        .filter(|(n, s)| !n.is_empty() && !s.is_empty())
        .ok_or_else(|| format!("invalid zone \"{value}\": \"name:size\" is expected"))?;
    let size = glue::parse_size(size).ok_or_else(|| format!("invalid zone size \"{size}\""))?;
    if size < 8 * 4096 {
        return Err(format!("zone \"{name}\" is too small (at least 32k)").into());
    }
    // The zone keeps a pointer to its name: use the argument's own memory (configuration pool).
    let raw = glue::conf_args(cf)[1];
    let name_str = ngx_str_t {
        len: name.len(),
        data: raw.data,
    };
    let data = std::ptr::from_mut(&mut mc.sources);
    mc.shm_zone = zone::add(cf, name_str, size, crate::module_tag(), data)
        .ok_or_else(|| format!("cannot add zone \"{name}\""))?;
    Ok(())
}

fn set_token_cache(_cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    if mc.token_cache.is_some() {
        return Err(ConfError::Duplicate);
    }
    let n = match args[0] {
        "off" => 0,
        v => match v.parse::<usize>() {
            Ok(n) if (1..=10_000_000).contains(&n) => n,
            _ => return Err(format!("invalid number of entries \"{v}\" (1 to 10000000, or \"off\")").into()),
        },
    };
    mc.token_cache = Some(n);
    Ok(())
}

fn member_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf, header: bool) -> Result<(), ConfError> {
    let var = args[0];
    let Some(name) = var.strip_prefix('$').filter(|n| !n.is_empty()) else {
        return Err(format!("invalid variable name \"{var}\": \"$name\" is expected").into());
    };
    let path: Vec<String> = args[1..].iter().map(|s| (*s).to_owned()).collect();
    if let Some(bad) = path
        .iter()
        .find(|p| p.is_empty() || p.bytes().any(|b| b < 0x20 || b == 0x7f))
    {
        return Err(format!("invalid member name \"{bad}\"").into());
    }
    mc.member_sets.push(MemberSet { header, path });
    let index = mc.member_sets.len() - 1;
    if !crate::variables::define(cf, name.as_bytes(), crate::variables::get_member_set, 0, index) {
        return Err(format!("cannot add variable \"{var}\"").into());
    }
    Ok(())
}

fn set_claim_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    member_set(cf, args, mc, false)
}

fn set_header_set(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    member_set(cf, args, mc, true)
}

/// `jwt_peer_auth_revocation zone=name:size [state=path] [ttl=time]`.
fn set_revocation(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    use crate::revocation::{list, state, Revocation, DEFAULT_TTL};
    use jwt_peer_auth_core::revocation::MAX_TTL;
    if mc.revocation.is_some() {
        return Err(ConfError::Duplicate);
    }
    let mut zone = None;
    let mut state_path = None;
    let mut ttl = None;
    for (i, a) in args.iter().enumerate() {
        match a.split_once('=') {
            Some(("zone", v)) if zone.is_none() => {
                let (name, size) = v
                    .split_once(':')
                    .filter(|(n, s)| !n.is_empty() && !s.is_empty())
                    .ok_or_else(|| format!("invalid zone \"{v}\": \"name:size\" is expected"))?;
                let size = glue::parse_size(size).ok_or_else(|| format!("invalid zone size \"{size}\""))?;
                if size < 8 * 4096 {
                    return Err(format!("zone \"{name}\" is too small (at least 32k)").into());
                }
                // The zone keeps a pointer to its name: the argument's own memory.
                let raw = glue::conf_args(cf)[i + 1];
                let name_str = ngx_str_t {
                    len: name.len(),
                    data: raw.data.wrapping_add("zone=".len()),
                };
                zone = Some((name.to_owned(), name_str, size));
            }
            Some(("state", v)) if state_path.is_none() && !v.is_empty() => {
                state_path =
                    Some(glue::conf_full_name(cf, v).ok_or_else(|| format!("invalid path \"{v}\""))?);
            }
            Some(("ttl", v)) if ttl.is_none() => {
                ttl = glue::parse_time_sec(v)
                    .filter(|t| (1..=MAX_TTL).contains(t))
                    .map(Some)
                    .ok_or_else(|| format!("invalid \"ttl=\" value \"{v}\" (1s to {}d)", MAX_TTL / 86400))?;
            }
            _ => return Err(format!("invalid parameter \"{a}\"").into()),
        }
    }
    let Some((zone_name, name_str, size)) = zone else {
        return Err("\"zone=name:size\" is required".to_owned().into());
    };
    let mut loaded = match &state_path {
        Some(p) => {
            state::check_dir(p)?;
            state::load(p, ngx::ffi::ngx_time())?
        }
        None => state::Loaded::default(),
    };
    // A version 1 file (an earlier version's) becomes a journal now, in the master, rather
    // than at the first change in a worker's event loop; `nginx -t` changes nothing.
    // SAFETY: NGINX sets `ngx_test_config` from the command line before it parses a
    // configuration and never changes it afterwards.
    if loaded.v1 && unsafe { ngx::ffi::ngx_test_config } == 0 {
        if let Some(p) = &state_path {
            let compacted = state::compact(p, ngx::ffi::ngx_time()).and_then(|()| state::stat(p));
            if let Ok(Some(mark)) = compacted {
                // The journal holds what was loaded: a new zone follows it from its end.
                loaded.mark = mark;
            } else if let Err(e) = compacted {
                ngx_conf_log_error!(
                    NGX_LOG_WARN,
                    cf,
                    "\"jwt_peer_auth_revocation\": cannot turn the state file \"{p}\" into a journal: {}",
                    glue::io_error_text(&e)
                );
            }
        }
    }
    for (at, why) in &loaded.damage {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "\"jwt_peer_auth_revocation\": damaged state file \"{}\" at byte {at}: {why}: the line is skipped",
            state_path.as_deref().unwrap_or_default()
        );
    }
    let rev = mc.revocation.insert(Box::new(Revocation {
        shm_zone: std::ptr::null_mut(),
        zone_name,
        state: state_path,
        ttl: ttl.unwrap_or(DEFAULT_TTL),
        initial: loaded.entries,
        initial_mark: loaded.mark,
    }));
    let data: *mut Revocation = &mut **rev;
    rev.shm_zone = list::add(cf, name_str, size, data)
        .ok_or_else(|| format!("cannot add zone \"{}\"", rev.zone_name))?;
    Ok(())
}

/// Records the first directive that needs `jwt_peer_auth_revocation`.
fn uses_revocation(cf: &mut ngx_conf_t, directive: &'static str) -> Result<(), ConfError> {
    let at = glue::conf_location(cf);
    let mc = <crate::JwtPeerAuthModule as ngx::http::HttpModuleMainConf>::main_conf_mut(cf)
        .ok_or_else(|| "no main configuration".to_owned())?;
    mc.revocation_used_at.get_or_insert((directive, at));
    Ok(())
}

/// `jwt_peer_auth_revocation_check name ... | off`.
fn set_revocation_check(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.revocation_check.is_some() {
        return Err(ConfError::Duplicate);
    }
    if args == ["off"] {
        lc.revocation_check = Some(Vec::new());
        return Ok(());
    }
    let mut names: Vec<String> = Vec::new();
    for a in args {
        if *a == "off" {
            return Err("\"off\" cannot be combined with names".to_owned().into());
        }
        jwt_peer_auth_core::revocation::check_name(a)
            .map_err(|why| format!("invalid name \"{a}\": {}", why.replace("\"name\" ", "")))?;
        if !names.iter().any(|n| n == a) {
            names.push((*a).to_owned());
        }
    }
    if names.len() > 8 {
        return Err("at most 8 names can be checked".to_owned().into());
    }
    uses_revocation(cf, "jwt_peer_auth_revocation_check")?;
    if let Some(mc) = <crate::JwtPeerAuthModule as ngx::http::HttpModuleMainConf>::main_conf_mut(cf) {
        for n in &names {
            if !mc.revocation_names.contains(n) {
                mc.revocation_names.push(n.clone());
            }
        }
    }
    lc.revocation_check = Some(names);
    Ok(())
}

/// Checks, once the http block is parsed, that what needs the revocation list has one.
pub fn check_revocation(mc: &MainConf) -> Result<(), String> {
    match (&mc.revocation, &mc.revocation_used_at) {
        (None, Some((directive, at))) => Err(format!(
            "\"{directive}\" (in {at}) needs \"jwt_peer_auth_revocation zone=name:size\" in the http block"
        )),
        _ => Ok(()),
    }
}

/// Adds the default zone when `jwt_peer_auth_zone` was not given.
pub fn init_main(cf: &mut ngx_conf_t, mc: &mut MainConf) -> Result<(), String> {
    // The zone also holds the request counters of the status page, so it always exists.
    crate::dpop::config::init_main(cf, mc)?;
    if mc.shm_zone.is_null() {
        let name = ngx_str_t {
            len: DEFAULT_ZONE.len(),
            data: DEFAULT_ZONE.as_ptr().cast_mut(),
        };
        let data = std::ptr::from_mut(&mut mc.sources);
        mc.shm_zone = zone::add(cf, name, DEFAULT_ZONE_SIZE, crate::module_tag(), data)
            .ok_or_else(|| format!("cannot add zone \"{DEFAULT_ZONE}\""))?;
    }
    Ok(())
}

macro_rules! directive_fn {
    ($name:ident, $handler:path) => {
        extern "C" fn $name(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, conf: *mut c_void) -> *mut c_char {
            run(cf, conf, $handler)
        }
    };
}

directive_fn!(cmd_mode, set_mode);
directive_fn!(cmd_phase, set_phase);
directive_fn!(cmd_jwks_file, set_jwks_file);
directive_fn!(cmd_algorithms, set_algorithms);
directive_fn!(cmd_leeway, set_leeway);
directive_fn!(cmd_key_request, set_key_request);
directive_fn!(cmd_key_cache, set_key_cache);
directive_fn!(cmd_zone, set_zone);
directive_fn!(cmd_token_cache, set_token_cache);
directive_fn!(cmd_claim_set, set_claim_set);
directive_fn!(cmd_header_set, set_header_set);
directive_fn!(cmd_revocation, set_revocation);
directive_fn!(cmd_revocation_check, set_revocation_check);

extern "C" fn cmd_revocation_api(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let Some(cf) = glue::conf_mut(cf) else {
        return ngx::core::NGX_CONF_ERROR;
    };
    if uses_revocation(cf, "jwt_peer_auth_revocation_api").is_err() {
        return ngx::core::NGX_CONF_ERROR;
    }
    match ngx::http::NgxHttpCoreModule::location_conf_mut(cf) {
        Some(clcf) => {
            clcf.handler = Some(crate::revocation::api::api_handler);
            ngx::core::NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
}

extern "C" fn cmd_status(cf: *mut ngx_conf_t, _cmd: *mut ngx_command_t, _conf: *mut c_void) -> *mut c_char {
    let Some(cf) = glue::conf_mut(cf) else {
        return ngx::core::NGX_CONF_ERROR;
    };
    match ngx::http::NgxHttpCoreModule::location_conf_mut(cf) {
        Some(clcf) => {
            clcf.handler = Some(crate::status::status_handler);
            ngx::core::NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
}
directive_fn!(cmd_claim, set_claim);
directive_fn!(cmd_require, set_require);
directive_fn!(cmd_max_age, set_max_age);
directive_fn!(cmd_cert_binding, set_cert_binding);
directive_fn!(cmd_dpop, set_dpop);
directive_fn!(cmd_dpop_zone, set_dpop_zone);

fn dpop_error(msg: String) -> ConfError {
    match msg.as_str() {
        "is duplicate" => ConfError::Duplicate,
        _ => ConfError::Emerg(msg),
    }
}

fn set_dpop(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    crate::dpop::config::set_dpop(cf, args, lc).map_err(dpop_error)
}

fn set_dpop_zone(cf: &mut ngx_conf_t, args: &[&str], mc: &mut MainConf) -> Result<(), ConfError> {
    crate::dpop::config::set_zone(cf, args, mc).map_err(dpop_error)
}

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

type SetFn = extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

const fn command(name: ngx_str_t, args: u32, set: SetFn) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (ANY_LEVEL | args) as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

const fn main_command(name: ngx_str_t, args: u32, set: SetFn) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (NGX_HTTP_MAIN_CONF | args) as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_MAIN_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut COMMANDS: [ngx_command_t; 22] = [
    ngx_command_t {
        name: ngx_string!("jwt_peer_auth_status"),
        type_: (NGX_HTTP_LOC_CONF | ngx::ffi::NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(cmd_status),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    main_command(
        ngx_string!("jwt_peer_auth_token_cache"),
        NGX_CONF_TAKE1,
        cmd_token_cache,
    ),
    command(ngx_string!("jwt_peer_auth"), NGX_CONF_1MORE, cmd_mode),
    command(ngx_string!("jwt_peer_auth_phase"), NGX_CONF_TAKE1, cmd_phase),
    command(ngx_string!("jwt_peer_auth_claim"), NGX_CONF_2MORE, cmd_claim),
    command(ngx_string!("jwt_peer_auth_require"), NGX_CONF_1MORE, cmd_require),
    command(ngx_string!("jwt_peer_auth_max_age"), NGX_CONF_TAKE1, cmd_max_age),
    command(
        ngx_string!("jwt_peer_auth_cert_binding"),
        NGX_CONF_TAKE12,
        cmd_cert_binding,
    ),
    command(
        ngx_string!("jwt_peer_auth_jwks_file"),
        NGX_CONF_TAKE12,
        cmd_jwks_file,
    ),
    command(
        ngx_string!("jwt_peer_auth_key_request"),
        NGX_CONF_TAKE12,
        cmd_key_request,
    ),
    command(
        ngx_string!("jwt_peer_auth_key_cache"),
        NGX_CONF_1MORE,
        cmd_key_cache,
    ),
    command(
        ngx_string!("jwt_peer_auth_algorithms"),
        NGX_CONF_1MORE,
        cmd_algorithms,
    ),
    command(ngx_string!("jwt_peer_auth_leeway"), NGX_CONF_TAKE1, cmd_leeway),
    command(ngx_string!("jwt_peer_auth_dpop"), NGX_CONF_1MORE, cmd_dpop),
    main_command(
        ngx_string!("jwt_peer_auth_dpop_zone"),
        NGX_CONF_TAKE1,
        cmd_dpop_zone,
    ),
    main_command(ngx_string!("jwt_peer_auth_zone"), NGX_CONF_TAKE1, cmd_zone),
    main_command(
        ngx_string!("jwt_peer_auth_claim_set"),
        NGX_CONF_2MORE,
        cmd_claim_set,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_header_set"),
        NGX_CONF_2MORE,
        cmd_header_set,
    ),
    main_command(
        ngx_string!("jwt_peer_auth_revocation"),
        NGX_CONF_1MORE,
        cmd_revocation,
    ),
    command(
        ngx_string!("jwt_peer_auth_revocation_check"),
        NGX_CONF_1MORE,
        cmd_revocation_check,
    ),
    ngx_command_t {
        name: ngx_string!("jwt_peer_auth_revocation_api"),
        type_: (NGX_HTTP_LOC_CONF | ngx::ffi::NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(cmd_revocation_api),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];
