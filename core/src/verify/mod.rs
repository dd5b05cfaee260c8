//! Compact JWS parsing and verification (RFC 7515, RFC 7519, RFC 8725).
//!
//! Order of checks, cheapest and most telling first: size and structure, header JSON, algorithm
//! policy, key choice, signature, then (only for an authentic token) payload JSON and time
//! claims. Nothing in the payload is looked at before its signature verified.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::alg::{AlgSet, Algorithm};
use crate::b64;
use crate::json;
use crate::jwk::{Jwk, KeySet};
use crate::reason::{Reason, Rejection};
use crate::token::{PayloadError, Token};

mod keyring;
mod signature;
mod times;

pub use keyring::{
    check_issuer, issuer_allows, unverified_issuer, verify_ring, KeyRing, RingEntry, MAX_ISSUER_LEN,
};
pub use signature::{verify_signature, RsaMath, RsaMathError};
pub use times::{check_times, parse_times};

/// Longest token accepted. JWThenticator's are about 600 bytes; 8 KiB leaves room for issuers
/// with many claims while bounding every allocation a token can cause.
pub const MAX_TOKEN_LEN: usize = 8192;

/// How many candidate keys a token without `kid` may be tried against; bounds the CPU a single
/// request can cost.
pub const MAX_KEY_TRIES: usize = 8;

/// What a location requires of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub algorithms: AlgSet,
    /// Allowed clock skew in seconds for `exp` and `nbf`.
    pub leeway: u64,
}

/// The time claims, parsed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

/// Which key verified a token: index of the key set in the slice given to [`verify`], and of
/// the key in that set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub set: usize,
    pub key: usize,
}

/// What verification established about an authentic token, as the per-worker token cache
/// keeps it: the fields every check needs, parsed, and the JOSE header and payload JSON texts
/// exactly as signed (not their parsed form: a parsed header and claim set cost several times
/// the text; [`Verified`] parses them when a request asks).
///
/// Only [`verify`] and [`Verified::from_texts`] make one, and both only from texts that
/// [`json::parse_object`] accepted: parsing them again always succeeds, with the same result.
#[derive(Debug)]
pub struct Checked {
    pub alg: Algorithm,
    pub times: Times,
    pub key: KeyRef,
    /// The `kid` of the key that verified the signature (which a token need not name).
    pub key_kid: Option<Box<str>>,
    /// The header JSON text, then the payload JSON text, then the verified `iss` (when the
    /// payload has a string `iss`): one allocation.
    text: Box<str>,
    header_len: usize,
    payload_end: usize,
    /// The text after `payload_end` is the verified `iss`.
    has_iss: bool,
}

impl Checked {
    /// The JOSE header JSON text exactly as signed.
    pub fn header_text(&self) -> &str {
        &self.text[..self.header_len]
    }

    /// The payload JSON text exactly as signed.
    pub fn payload(&self) -> &str {
        &self.text[self.header_len..self.payload_end]
    }

    /// The verified payload's `iss`, when it is a string: what an issuer-bound location needs
    /// to choose its key sources for a cached token without parsing anything.
    pub fn issuer(&self) -> Option<&str> {
        self.has_iss.then(|| &self.text[self.payload_end..])
    }

    /// Builds the cached part: the header and payload texts and the payload's string `iss`
    /// in one allocation.
    fn new(
        alg: Algorithm,
        times: Times,
        key: KeyRef,
        key_kid: Option<Box<str>>,
        header: &str,
        payload: &str,
        iss: Option<&str>,
    ) -> Checked {
        let mut text = String::with_capacity(header.len() + payload.len() + iss.map_or(0, str::len));
        text.push_str(header);
        text.push_str(payload);
        let payload_end = text.len();
        if let Some(iss) = iss {
            text.push_str(iss);
        }
        Checked {
            alg,
            times,
            key,
            key_kid,
            text: text.into_boxed_str(),
            header_len: header.len(),
            payload_end,
            has_iss: iss.is_some(),
        }
    }
}

/// An authentic token that passed the policy, as one request uses it: the cached part
/// ([`Checked`], shared with the token cache), and its header and claims, parsed from the
/// texts the first time they are asked for and kept for the rest of the request only.
#[derive(Debug, Clone)]
pub struct Verified {
    checked: Rc<Checked>,
    header: OnceCell<Map<String, Value>>,
    claims: OnceCell<Map<String, Value>>,
}

impl core::ops::Deref for Verified {
    type Target = Checked;

    fn deref(&self) -> &Checked {
        &self.checked
    }
}

impl Verified {
    /// A request's view of a token verified earlier (from the token cache).
    pub fn from_checked(checked: Rc<Checked>) -> Verified {
        Verified {
            checked,
            header: OnceCell::new(),
            claims: OnceCell::new(),
        }
    }

    /// A token's verified parts from their JSON texts (for tests and tools: no signature is
    /// checked here). `None` if either text is not a JSON object.
    pub fn from_texts(
        header: &str,
        payload: &str,
        alg: Algorithm,
        times: Times,
        key: KeyRef,
    ) -> Option<Verified> {
        let h = json::parse_object(header.as_bytes()).ok()?;
        let c = json::parse_object(payload.as_bytes()).ok()?;
        let iss = c.get("iss").and_then(Value::as_str);
        let checked = Checked::new(alg, times, key, None, header, payload, iss);
        Some(Verified {
            checked: Rc::new(checked),
            header: OnceCell::from(h),
            claims: OnceCell::from(c),
        })
    }

    /// The same token as verified by a key with this `kid` (for tests and tools).
    pub fn with_key_kid(self, kid: &str) -> Verified {
        let c = &self.checked;
        let checked = Checked {
            alg: c.alg,
            times: c.times,
            key: c.key,
            key_kid: Some(kid.into()),
            text: c.text.clone(),
            header_len: c.header_len,
            payload_end: c.payload_end,
            has_iss: c.has_iss,
        };
        Verified {
            checked: Rc::new(checked),
            header: self.header,
            claims: self.claims,
        }
    }

    /// The part the token cache keeps.
    pub fn checked(&self) -> &Rc<Checked> {
        &self.checked
    }

    /// The JOSE header, parsed (once per request).
    pub fn header(&self) -> &Map<String, Value> {
        self.header.get_or_init(|| reparse(self.checked.header_text()))
    }

    /// The claims, parsed (once per request).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.get_or_init(|| reparse(self.checked.payload()))
    }

    /// One top-level claim: from the parsed claims if this request parsed them already, else
    /// read alone from the payload text without parsing the others (a revocation check on a
    /// cached token reads one or two claims: cheaper than the whole claim set).
    pub fn claim(&self, name: &str) -> Option<Cow<'_, Value>> {
        match self.claims.get() {
            Some(claims) => claims.get(name).map(Cow::Borrowed),
            None => json::member(self.checked.payload().as_bytes(), name).map(Cow::Owned),
        }
    }

    pub fn kid(&self) -> Option<&str> {
        self.header().get("kid").and_then(Value::as_str)
    }
}

/// Parses a text [`json::parse_object`] accepted before (see [`Checked`]): it accepts it again.
fn reparse(text: &str) -> Map<String, Value> {
    let parsed = json::parse_object(text.as_bytes());
    debug_assert!(parsed.is_ok(), "a verified JSON text parses again");
    parsed.unwrap_or_default()
}

pub(crate) fn malformed(what: &'static str) -> Rejection {
    Rejection::new(Reason::Malformed, what)
}

/// Splits a compact serialization into its three parts.
pub(crate) fn split(token: &[u8]) -> Result<[&[u8]; 3], Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed("token longer than 8192 bytes"));
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("not three dot-separated parts"));
    };
    match parts.count() {
        0 => {}
        2 => return Err(malformed("JWE (five parts) is not supported")),
        _ => return Err(malformed("not three dot-separated parts")),
    }
    if h.is_empty() || p.is_empty() {
        return Err(malformed("empty header or payload part"));
    }
    Ok([h, p, s])
}

/// Checks the JOSE header and returns the algorithm to verify with.
pub(crate) fn check_header(header: &Map<String, Value>, allowed: AlgSet) -> Result<Algorithm, Rejection> {
    // RFC 8725 §3.11, RFC 9449 §4.2: a DPoP proof is never an access token.
    if let Some(Value::String(typ)) = header.get("typ") {
        if crate::dpop::is_proof_type(typ) {
            return Err(malformed("a DPoP proof (typ dpop+jwt) is not an access token"));
        }
    }
    check_jose(header, allowed)
}

/// The checks of a JOSE header any JWS gets (access token or DPoP proof): `alg` (never `none`,
/// on `allowed`), no `crit`, no unencoded payload, a string `kid`.
pub(crate) fn check_jose(header: &Map<String, Value>, allowed: AlgSet) -> Result<Algorithm, Rejection> {
    let name = match header.get("alg") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("\"alg\" is not a string")),
        None => return Err(malformed("header has no \"alg\"")),
    };
    if name.eq_ignore_ascii_case("none") {
        return Err(Rejection::with_value(
            Reason::Algorithm,
            "unsigned token, alg",
            name,
        ));
    }
    let alg = Algorithm::from_name(name)
        .ok_or_else(|| Rejection::with_value(Reason::Algorithm, "unsupported alg", name))?;
    if !allowed.contains(alg) {
        return Err(Rejection::with_value(Reason::Algorithm, "alg not allowed", name));
    }
    // RFC 7515 §4.1.11: this implementation understands no extension, so any "crit" is fatal.
    if header.contains_key("crit") {
        return Err(malformed("unsupported \"crit\" header parameter"));
    }
    // RFC 7797 unencoded payloads are not supported.
    if header.get("b64").is_some_and(|v| v != &Value::Bool(true)) {
        return Err(malformed("unsupported \"b64\" header parameter"));
    }
    if let Some(kid) = header.get("kid") {
        if !kid.is_string() {
            return Err(malformed("\"kid\" is not a string"));
        }
    }
    // "jku", "x5u", "x5c" and "jwk" are ignored: keys only ever come from configuration.
    Ok(alg)
}

/// Picks the keys a token may be verified with: those of the sets `keep` lets through that fit
/// its algorithm and, when the token names a `kid`, carry that `kid`.
fn candidates<'k>(
    sets: usize,
    set: impl Fn(usize) -> &'k KeySet,
    alg: Algorithm,
    kid: Option<&str>,
    keep: impl Fn(usize) -> bool,
) -> Result<Vec<(KeyRef, &'k Jwk)>, Rejection> {
    let mut found = Vec::new();
    let mut kid_seen = false;
    for (si, set) in (0..sets).filter(|&si| keep(si)).map(|si| (si, set(si))) {
        for (ki, key) in set.keys.iter().enumerate() {
            if let Some(kid) = kid {
                if key.kid.as_deref() != Some(kid) {
                    continue;
                }
                kid_seen = true;
            }
            if key.fits(alg) {
                found.push((KeyRef { set: si, key: ki }, key));
            }
        }
    }
    if found.is_empty() {
        return Err(match kid {
            Some(kid) if !kid_seen => Rejection::with_value(Reason::UnknownKid, "no key with kid", kid),
            Some(_) => Rejection::with_value(
                Reason::Algorithm,
                "the key with this kid does not allow alg",
                alg.name(),
            ),
            None => Rejection::with_value(Reason::Algorithm, "no key allows alg", alg.name()),
        });
    }
    Ok(found)
}

/// The checks that still apply to a token verified earlier (served from a cache): its
/// algorithm must be allowed by this policy and its time claims valid now.
pub fn recheck(v: &Verified, policy: &Policy, now: i64) -> Result<(), Rejection> {
    if !policy.algorithms.contains(v.alg) {
        return Err(Rejection::with_value(
            Reason::Algorithm,
            "alg not allowed",
            v.alg.name(),
        ));
    }
    check_times(&v.times, policy.leeway, now)
}

/// The cheap part of [`verify`]: structure and JOSE header against the policy, with no keys,
/// no signature work and no payload parsing. A token it refuses, [`verify`] refuses with the
/// same [`Rejection`], so a caller may run it before it has (or fetches) keys.
pub fn precheck(token: &[u8], policy: &Policy) -> Result<(), Rejection> {
    Token::new(token).precheck(policy)
}

/// Verifies a compact JWS token against the given key sets and policy at time `now` (Unix
/// seconds).
pub fn verify(token: &[u8], sets: &[&KeySet], policy: &Policy, now: i64) -> Result<Verified, Rejection> {
    verify_bound(token, sets, &[], policy, now)
}

/// [`verify`], with key sets bound to issuers: `issuers[i]` (when given and not `None`) is the
/// only `iss` the keys of `sets[i]` verify tokens of. Sets bound to another issuer than the
/// token's (unverified) `iss` are not even tried; the verified payload's `iss` is checked
/// against the set whose key verified the signature before the token is accepted.
pub fn verify_bound(
    token: &[u8],
    sets: &[&KeySet],
    issuers: &[Option<&str>],
    policy: &Policy,
    now: i64,
) -> Result<Verified, Rejection> {
    let bound = |si: usize| issuers.get(si).copied().flatten();
    verify_with(
        &mut Token::new(token),
        sets.len(),
        |si| sets[si],
        bound,
        policy,
        now,
    )
}

/// The verification of [`verify_bound`] and [`verify_ring`]: `sets` key sets, `set(i)` the
/// keys of set `i`, `bound(i)` the issuer it is bound to.
fn verify_with<'k>(
    token: &mut Token<'_>,
    sets: usize,
    set: impl Fn(usize) -> &'k KeySet,
    bound: impl Fn(usize) -> Option<&'k str>,
    policy: &Policy,
    now: i64,
) -> Result<Verified, Rejection> {
    let checked = check_token(token, sets, set, bound, policy, now)?;
    // The header and claims this verification parsed, for the request (the variables).
    let (header, payload) = token.take();
    let verified = Verified::from_checked(Rc::new(checked));
    if let Some(h) = header {
        let _ = verified.header.set(h.map);
    }
    if let Some(p) = payload {
        let _ = verified.claims.set(p.claims);
    }
    Ok(verified)
}

/// The checks of [`verify_with`] on the token's view, parsed at most once.
fn check_token<'k>(
    token: &Token<'_>,
    sets: usize,
    set: impl Fn(usize) -> &'k KeySet,
    bound: impl Fn(usize) -> Option<&'k str>,
    policy: &Policy,
    now: i64,
) -> Result<Checked, Rejection> {
    let parsed = token.header()?;
    let alg = check_header(&parsed.map, policy.algorithms)?;
    let ([h, p, s], header) = (parsed.parts, &parsed.map);

    // Only to skip sets that cannot verify this token: `iss` is checked again once verified.
    let claimed = if (0..sets).any(|si| bound(si).is_some()) {
        token.claimed_issuer()
    } else {
        None
    };
    let keep = |si: usize| issuer_allows(bound(si), claimed);
    if !(0..sets).any(keep) {
        return Err(match &claimed {
            Some(iss) => Rejection::with_value(Reason::Claim, "no key source for the issuer", iss),
            None => Rejection::new(
                Reason::Claim,
                "no \"iss\" claim, and every key source is bound to an issuer",
            ),
        });
    }
    // A token no source is for is refused above, whether keys are available or not.
    if (0..sets).filter(|&si| keep(si)).all(|si| set(si).is_empty()) {
        return Err(Rejection::new(Reason::NoKeys, "no keys to verify with"));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let keys = candidates(sets, &set, alg, kid, keep)?;

    if s.is_empty() {
        return Err(Rejection::new(Reason::Signature, "empty signature"));
    }
    let sig = b64::decode(s).map_err(|_| malformed("signature is not base64url"))?;
    let signing_input = &token.bytes()[..h.len() + 1 + p.len()];
    let key = keys
        .iter()
        .take(MAX_KEY_TRIES)
        .find(|(_, k)| verify_signature(k, alg, signing_input, &sig))
        .map(|(r, _)| *r)
        .ok_or_else(|| Rejection::new(Reason::Signature, "signature does not verify"))?;

    let payload = token.payload().map_err(|e| match e {
        PayloadError::NotBase64 => malformed("payload is not base64url"),
        PayloadError::NotObject => malformed("payload is not a JSON object"),
    })?;
    let (payload_bytes, claims) = (&payload.bytes, &payload.claims);
    if std::str::from_utf8(payload_bytes).is_err() {
        return Err(malformed("payload is not UTF-8"));
    }
    // The issuer binding, on the verified payload: the set whose key verified the signature.
    let iss = claims.get("iss").and_then(Value::as_str);
    if !issuer_allows(bound(key.set), iss) {
        return Err(Rejection::new(
            Reason::Claim,
            "\"iss\" is not the issuer of the key source that verified the signature",
        ));
    }
    let times = parse_times(claims)?;
    check_times(&times, policy.leeway, now)?;

    let key_kid = set(key.set)
        .keys
        .get(key.key)
        .and_then(|k| k.kid.as_deref())
        .map(Box::from);
    // The header and payload texts and the verified `iss` in one allocation: what the token
    // cache keeps.
    let header_text = std::str::from_utf8(&parsed.text).map_err(|_| malformed("header is not UTF-8"))?;
    let payload_text = std::str::from_utf8(payload_bytes).map_err(|_| malformed("payload is not UTF-8"))?;
    Ok(Checked::new(
        alg,
        times,
        key,
        key_kid,
        header_text,
        payload_text,
        iss,
    ))
}
