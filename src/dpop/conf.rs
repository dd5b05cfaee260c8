//! A location's DPoP settings as the request path reads them ([`DpopConf`]) and what the merge
//! adds to them (the challenges). Plain data beside the configuration types: the directives
//! that fill it are in [`super::config`].

use std::rc::Rc;

use jwt_peer_auth_core::dpop::{Mode, NonceKey, Settings};
use jwt_peer_auth_core::Reason;

use crate::glue::ComplexValue;

/// A location's `jwt_peer_auth_dpop`.
#[derive(Debug)]
pub struct DpopConf {
    pub mode: Mode,
    /// Algorithms and `max_age` (the leeway is the location's `jwt_peer_auth_leeway`).
    pub settings: Settings,
    /// The request URL the proof's `htu` must name.
    pub url: ComplexValue,
    pub nonce: Option<NonceKey>,
    /// `WWW-Authenticate: DPoP algs="..."` with each reason's error, and without one.
    pub challenges: Vec<Vec<u8>>,
    pub plain: Vec<u8>,
    /// `Bearer realm="..."` without an error (the second challenge under `optional`).
    pub bearer_plain: Vec<u8>,
}

/// At merge, for an enabled location (the setting itself is inherited with the others): the
/// challenges. Under `on`, every refusal's challenge is the `DPoP` one (RFC 9449 §7.1).
pub fn merge(dpop: &mut Option<Rc<DpopConf>>, realm: &str) {
    let Some(d) = dpop.as_mut() else {
        return;
    };
    if d.mode == Mode::Off || !d.challenges.is_empty() {
        return;
    }
    let algs = d.settings.algs();
    let dpop = |code: Option<&str>| {
        let mut c = format!("DPoP algs=\"{algs}\"");
        if let Some(code) = code {
            c.push_str(&format!(", error=\"{code}\""));
        }
        c.into_bytes()
    };
    let challenges: Vec<Vec<u8>> = Reason::ALL.iter().map(|r| dpop(r.error_code())).collect();
    let plain = dpop(None);
    let bearer_plain = format!("Bearer realm=\"{realm}\"").into_bytes();
    // Made once per location conf (inherited ones share theirs).
    if let Some(d) = Rc::get_mut(d) {
        d.challenges = challenges;
        d.plain = plain;
        d.bearer_plain = bearer_plain;
    } else {
        let old = d.clone();
        *d = Rc::new(DpopConf {
            mode: old.mode,
            settings: old.settings,
            url: old.url,
            nonce: old.nonce.clone(),
            challenges,
            plain,
            bearer_plain,
        });
    }
}
