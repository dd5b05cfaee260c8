//! Directives, their parsing into typed per-location settings, and merging.
//!
//! Every configuration error is an `[emerg]` naming the directive and the problem; the
//! decisions themselves (what is a valid algorithm, a usable JWKS) belong to the core.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::Arc;

use jwt_peer_auth_core::{AlgSet, KeySet, Policy};
use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_TAKE1,
    NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
    NGX_LOG_EMERG, NGX_LOG_WARN,
};
use ngx::{ngx_conf_log_error, ngx_string};

use crate::glue;

/// `jwt_peer_auth <realm> | off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Off,
    On { realm: String },
}

/// A JWKS file read at configuration time.
#[derive(Debug)]
pub struct FileKeys {
    pub path: String,
    pub keys: KeySet,
}

/// Per-location settings. `None` means "not set here": inherited from the enclosing level.
#[derive(Debug, Default)]
pub struct LocConf {
    pub mode: Option<Mode>,
    /// Where `jwt_peer_auth` was set (file:line), for error messages about its settings.
    declared_at: String,
    pub jwks_file: Option<Arc<FileKeys>>,
    pub algorithms: Option<AlgSet>,
    pub leeway: Option<u64>,

    // Resolved by merge.
    pub policy: Policy,
    /// `Bearer realm="..."`: the challenge for a request without a token.
    pub challenge: Vec<u8>,
    /// The same with `, error="invalid_token"`.
    pub challenge_invalid: Vec<u8>,
}

impl LocConf {
    pub fn enabled(&self) -> bool {
        matches!(self.mode, Some(Mode::On { .. }))
    }

    /// Inherits unset values from `prev` and resolves the effective policy.
    pub fn merge(&mut self, prev: &LocConf) -> Result<(), String> {
        if self.mode.is_none() {
            self.mode = prev.mode.clone();
            self.declared_at = prev.declared_at.clone();
        }
        if self.jwks_file.is_none() {
            self.jwks_file = prev.jwks_file.clone();
        }
        if self.algorithms.is_none() {
            self.algorithms = prev.algorithms;
        }
        if self.leeway.is_none() {
            self.leeway = prev.leeway;
        }
        self.policy = Policy {
            algorithms: self.algorithms.unwrap_or_default(),
            leeway: self.leeway.unwrap_or(0),
        };

        let Some(Mode::On { realm }) = &self.mode else {
            return Ok(());
        };
        let Some(file) = &self.jwks_file else {
            return Err(format!(
                "\"jwt_peer_auth\" is enabled (in {}) but no key source is configured: add \
                 \"jwt_peer_auth_jwks_file\" at the same or an enclosing level",
                self.declared_at
            ));
        };
        let usable = file
            .keys
            .keys
            .iter()
            .any(|k| self.policy.algorithms.iter().any(|a| k.fits(a)));
        if !usable {
            let algs: Vec<&str> = self.policy.algorithms.iter().map(|a| a.name()).collect();
            return Err(format!(
                "no key in \"{}\" can verify any of the allowed algorithms ({})",
                file.path,
                algs.join(" ")
            ));
        }
        self.challenge = format!("Bearer realm=\"{realm}\"").into_bytes();
        self.challenge_invalid =
            format!("Bearer realm=\"{realm}\", error=\"invalid_token\"").into_bytes();
        Ok(())
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

type Handler = fn(&mut ngx_conf_t, &[&str], &mut LocConf) -> Result<(), ConfError>;

/// Runs a directive handler with safe arguments and turns its error into an `[emerg]`.
fn run(cf: *mut ngx_conf_t, conf: *mut c_void, handler: Handler) -> *mut c_char {
    let (Some(cf), Some(conf)) = (glue::conf_mut(cf), glue::loc_conf_mut::<LocConf>(conf)) else {
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
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(cf, &strs, conf)));
    match result {
        Ok(Ok(())) => ngx::core::NGX_CONF_OK,
        Ok(Err(ConfError::Duplicate)) => c"is duplicate".as_ptr().cast_mut(),
        Ok(Err(ConfError::Emerg(msg))) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{name}\": {msg}");
            ngx::core::NGX_CONF_ERROR
        }
        Err(_) => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"{name}\": internal error while parsing"
            );
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
        lc.mode = Some(Mode::Off);
        return Ok(());
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || *c == '"' || *c == '\\')
    {
        return Err(format!("invalid character {bad:?} in realm \"{value}\"").into());
    }
    lc.mode = Some(Mode::On {
        realm: value.to_owned(),
    });
    lc.declared_at = glue::conf_location(cf);
    Ok(())
}

fn set_jwks_file(cf: &mut ngx_conf_t, args: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.jwks_file.is_some() {
        return Err(ConfError::Duplicate);
    }
    let path =
        glue::conf_full_name(cf, args[0]).ok_or_else(|| format!("invalid path \"{}\"", args[0]))?;
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read \"{path}\": {}", glue::io_error_text(&e)))?;
    let keys = KeySet::parse(&bytes).map_err(|e| format!("invalid JWKS in \"{path}\": {e}"))?;
    for skipped in &keys.skipped {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "\"jwt_peer_auth_jwks_file\": \"{path}\": skipped {skipped}"
        );
    }
    lc.jwks_file = Some(Arc::new(FileKeys { path, keys }));
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
    let secs = glue::parse_time_sec(args[0])
        .ok_or_else(|| format!("invalid time value \"{}\"", args[0]))?;
    lc.leeway = Some(secs);
    Ok(())
}

macro_rules! directive_fn {
    ($name:ident, $handler:path) => {
        extern "C" fn $name(
            cf: *mut ngx_conf_t,
            _cmd: *mut ngx_command_t,
            conf: *mut c_void,
        ) -> *mut c_char {
            run(cf, conf, $handler)
        }
    };
}

directive_fn!(cmd_mode, set_mode);
directive_fn!(cmd_jwks_file, set_jwks_file);
directive_fn!(cmd_algorithms, set_algorithms);
directive_fn!(cmd_leeway, set_leeway);

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

const fn command(
    name: ngx_str_t,
    args: u32,
    set: extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (ANY_LEVEL | args) as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut COMMANDS: [ngx_command_t; 5] = [
    command(ngx_string!("jwt_peer_auth"), NGX_CONF_TAKE1, cmd_mode),
    command(
        ngx_string!("jwt_peer_auth_jwks_file"),
        NGX_CONF_TAKE1,
        cmd_jwks_file,
    ),
    command(
        ngx_string!("jwt_peer_auth_algorithms"),
        NGX_CONF_1MORE,
        cmd_algorithms,
    ),
    command(
        ngx_string!("jwt_peer_auth_leeway"),
        NGX_CONF_TAKE1,
        cmd_leeway,
    ),
    ngx_command_t::empty(),
];
