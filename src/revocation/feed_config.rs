//! `jwt_peer_auth_revocation_feed uri [interval=time] [max_stale=time]`: the directive (see
//! [`super::feed`]). One feed per list: a repetition must be identical; the location where it
//! applies starts the refreshes.

use jwt_peer_auth_core::feed::Validators;
use ngx::ffi::ngx_conf_t;

use super::feed::{Feed, DEFAULT_INTERVAL_MS, DEFAULT_MAX_STALE_MS};
use crate::config::directive::{directive_fn, ConfError};
use crate::config::LocConf;
use crate::glue;

directive_fn!(cmd_feed, set_feed);

fn set_feed(cf: &mut ngx_conf_t, strs: &[&str], lc: &mut LocConf) -> Result<(), ConfError> {
    if lc.revocation_feed_here {
        // The `[emerg]` this directive has always given (not NGINX's "directive is duplicate").
        return Err(ConfError::Emerg("is duplicate".to_owned()));
    }
    let uri = strs[0];
    if !uri.starts_with('/') || uri.bytes().any(|b| b <= b' ' || b == b'?' || b == 0x7f) {
        return Err(format!("invalid uri \"{uri}\": the path of an internal location is expected").into());
    }
    let mut interval = None;
    let mut max_stale = None;
    for a in &strs[1..] {
        let ms = |v: &str, what: &str| -> Result<u64, String> {
            glue::parse_time_sec(v)
                .filter(|t| (1..=366 * 86400).contains(t))
                .map(|t| t * 1000)
                .ok_or_else(|| format!("invalid \"{what}=\" value \"{v}\" (1s to 366d)"))
        };
        match a.split_once('=') {
            Some(("interval", v)) if interval.is_none() => interval = Some(ms(v, "interval")?),
            Some(("max_stale", v)) if max_stale.is_none() => max_stale = Some(ms(v, "max_stale")?),
            _ => return Err(format!("invalid parameter \"{a}\"").into()),
        }
    }
    let interval_ms = interval.unwrap_or(DEFAULT_INTERVAL_MS);
    let max_stale_ms = max_stale.unwrap_or(DEFAULT_MAX_STALE_MS);
    if max_stale_ms <= interval_ms {
        return Err(format!(
            "\"max_stale=\" must be longer than \"interval=\" ({}s)",
            interval_ms / 1000
        )
        .into());
    }
    let at = glue::conf_location(cf);
    let mc = <crate::JwtPeerAuthModule as ngx::http::HttpModuleMainConf>::main_conf_mut(cf)
        .ok_or_else(|| "no main configuration".to_owned())?;
    match &mc.revocation_feed {
        Some(f) if f.uri != uri || f.interval_ms != interval_ms || f.max_stale_ms != max_stale_ms => {
            return Err(format!(
                "a revocation list follows one feed: \"{}\" was set in {} with other parameters",
                f.uri, f.declared_at
            )
            .into())
        }
        Some(_) => {}
        None => {
            mc.revocation_feed = Some(Box::new(Feed {
                uri: uri.to_owned(),
                interval_ms,
                max_stale_ms,
                declared_at: at,
                snapshot: String::new(),
                initial: Vec::new(),
                initial_validators: Validators::default(),
                initial_ok_ms: 0,
                initial_file: (0, 0),
            }))
        }
    }
    lc.revocation_feed_here = true;
    Ok(())
}
