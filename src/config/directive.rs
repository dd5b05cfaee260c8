//! What every directive handler shares: safe arguments, one error type, the `[emerg]` that
//! names the directive, and the `extern "C"` entry NGINX calls ([`directive_fn!`]).
//!
//! A feature's directives are plain functions `fn(&mut ngx_conf_t, &[&str], &mut Conf) ->
//! Result<(), ConfError>` in the feature's own file, each given its entry with
//! `directive_fn!(cmd_name, set_name);` and one line in [`super::commands`].

use std::ffi::{c_char, c_void};

use ngx::ffi::{ngx_conf_t, ngx_str_t, NGX_LOG_EMERG};
use ngx::ngx_conf_log_error;

use super::ComplexValue;
use crate::glue;

/// What a directive handler reports.
pub enum ConfError {
    Duplicate,
    Emerg(String),
}

impl From<String> for ConfError {
    fn from(s: String) -> Self {
        ConfError::Emerg(s)
    }
}

pub type Handler<T> = fn(&mut ngx_conf_t, &[&str], &mut T) -> Result<(), ConfError>;

/// Runs a directive handler with safe arguments and turns its error into an `[emerg]`.
pub fn run<T>(cf: *mut ngx_conf_t, conf: *mut c_void, handler: Handler<T>) -> *mut c_char {
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

/// Compiles directive argument `index` (skipping `skip` leading bytes) as a complex value.
pub fn compile(cf: &mut ngx_conf_t, index: usize, skip: usize) -> Result<ComplexValue, ConfError> {
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

/// Defines `extern "C" fn $name`, the entry NGINX calls for a directive, around a handler.
macro_rules! directive_fn {
    ($name:ident, $handler:path) => {
        pub extern "C" fn $name(
            cf: *mut ngx::ffi::ngx_conf_t,
            _cmd: *mut ngx::ffi::ngx_command_t,
            conf: *mut std::ffi::c_void,
        ) -> *mut std::ffi::c_char {
            $crate::config::directive::run(cf, conf, $handler)
        }
    };
}
pub(crate) use directive_fn;
