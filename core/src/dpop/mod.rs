//! DPoP (RFC 9449) at the resource server: `jwt_peer_auth_dpop off | on | optional`.
//!
//! A client proves possession of a key on every request with a proof JWT in the `DPoP` header,
//! and its access token carries that key's RFC 7638 thumbprint (`"cnf": {"jkt": ...}`). Here:
//!
//! - [`check_proof`]: every check of RFC 9449 §4.3 on a proof (`typ`, `alg`, `jwk`, signature,
//!   `jti`, `htm`, `htu`, `iat`, `ath`, `nonce`), in that order, each refused with its own
//!   detail;
//! - [`check_binding`]: the access token's `cnf.jkt` against the proof's key (§7.1), and the
//!   rule of the mode for a token sent as `Bearer` (no downgrade of a bound token);
//! - [`thumbprint`]: the RFC 7638 SHA-256 thumbprint of a JWK;
//! - [`from_authorization`]: the token of `Authorization: DPoP <token>`;
//! - [`htu`]: the URL comparison; [`replay`]: the replay cache; [`nonce`]: server nonces.
//!
//! The refusals are [`Reason::DpopProof`] (`invalid_dpop_proof`), [`Reason::DpopReplay`],
//! [`Reason::DpopNonce`] (`use_dpop_nonce`), [`Reason::DpopBinding`] (`invalid_token`: the
//! token is not bound to the proof's key) and [`Reason::DpopFull`] (the replay cache could not
//! remember the proof). None of them is a [`crate::Lasting`] refusal: a proof failure is never
//! remembered as the token's.

pub mod htu;
pub mod nonce;
pub mod replay;

use ring::digest::{digest, SHA256};
use serde_json::{Map, Value};

use crate::alg::{AlgSet, Algorithm, KeyFamily};
use crate::bearer::{self, BearerError};
use crate::reason::{Reason, Rejection};
use crate::verify::{self, verify_signature, Verified};
use crate::{b64, json, jwk};

pub use nonce::NonceKey;
pub use replay::ReplayKey;

/// `jwt_peer_auth_dpop off | on | optional`: the same three modes as certificate binding
/// (`Off`: `Authorization: DPoP` is not a credential and `cnf.jkt` is not looked at; `On`: only
/// a DPoP-bound token with a valid proof; `Optional`: Bearer tokens without `cnf.jkt` as before,
/// DPoP requests checked fully, a token with `cnf.jkt` only with a valid proof).
pub use crate::binding::Mode;

/// The scheme of the request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The default `max_age=`: how old (by its `iat`) a proof may be.
pub const DEFAULT_MAX_AGE: u64 = 60;

/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;

/// A location's proof rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Allowed proof algorithms: asymmetric only ([`Settings::algorithms_allowed`]).
    pub algorithms: AlgSet,
    /// How old a proof may be, in seconds.
    pub max_age: u64,
    /// Clock skew allowed for `iat`, in seconds.
    pub leeway: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            algorithms: AlgSet::default_asymmetric(),
            max_age: DEFAULT_MAX_AGE,
            leeway: 0,
        }
    }
}

impl Settings {
    /// Checks an `algorithms=` list: never HMAC (a proof's key is public).
    pub fn algorithms_allowed(set: AlgSet) -> Result<(), &'static str> {
        if set.iter().any(|a| a.family() == KeyFamily::Oct) {
            return Err("HMAC algorithms cannot sign DPoP proofs");
        }
        if set.is_empty() {
            return Err("no algorithm");
        }
        Ok(())
    }

    /// The `algs` attribute of the `DPoP` challenge: the allowed algorithms, space-separated
    /// (with `Ed25519`, RFC 9864's name for EdDSA with an Ed25519 key, where EdDSA is allowed).
    pub fn algs(&self) -> String {
        let mut names: Vec<&str> = self.algorithms.iter().map(Algorithm::name).collect();
        if self.algorithms.contains(Algorithm::EdDSA) {
            names.push("Ed25519");
        }
        names.join(" ")
    }
}

/// What the proof is checked against: the request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request method, as received.
    pub method: &'a [u8],
    /// The request's URL as the client addressed it (query and fragment are ignored).
    pub url: &'a [u8],
    /// The access token of `Authorization: DPoP`, for `ath`.
    pub access_token: &'a [u8],
    /// The SHA-256 of `access_token` when the caller has it already (the token caches are keyed
    /// by it, [`crate::digest::token`]): `ath` is then checked without hashing the token again.
    pub access_token_digest: Option<&'a crate::digest::Digest>,
    /// The nonce key, when the location requires server nonces.
    pub nonce: Option<&'a NonceKey>,
}

/// An accepted proof: its key's thumbprint, and what the replay cache remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's `jwk`, base64url (43 characters).
    pub jkt: String,
    pub replay_key: ReplayKey,
    /// The last second this proof is accepted for its age: how long the cache remembers it.
    pub expires: i64,
}

fn refuse(text: &'static str) -> Rejection {
    Rejection::new(Reason::DpopProof, text)
}

fn refuse_value(text: &'static str, v: &str) -> Rejection {
    Rejection::with_value(Reason::DpopProof, text, v)
}

/// The token of `Authorization: DPoP <token>` (RFC 9449 §7.1): the scheme is case-insensitive,
/// exactly one token68 follows. [`BearerError::NotBearer`]: another scheme.
pub fn from_authorization(value: &[u8]) -> Result<&[u8], BearerError> {
    bearer::with_scheme(value, b"dpop")
}

/// The `typ` values of a DPoP proof (RFC 9449 §4.2; media types are case-insensitive, and the
/// `application/` prefix may be left out, RFC 7515 §4.1.9).
pub fn is_proof_type(typ: &str) -> bool {
    let t = typ.as_bytes();
    let t = if t.len() > 12 && t[..12].eq_ignore_ascii_case(b"application/") {
        &t[12..]
    } else {
        t
    };
    t.eq_ignore_ascii_case(b"dpop+jwt")
}

/// The members of a JWK that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 thumbprint of a public JWK: the SHA-256 of its required members, in
/// lexicographic order, without whitespace, base64url.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, &'static str> {
    let s = |name: &str| -> Result<&str, &'static str> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or("a required JWK member is missing")
    };
    // Members in lexicographic order, no whitespace, strings escaped as JSON requires
    // (RFC 7638 §3.3), written into one buffer.
    let members: [(&str, &str); 4];
    let members: &[(&str, &str)] = match s("kty")? {
        "EC" => {
            members = [("crv", s("crv")?), ("kty", "EC"), ("x", s("x")?), ("y", s("y")?)];
            &members
        }
        "RSA" => {
            members = [("e", s("e")?), ("kty", "RSA"), ("n", s("n")?), ("", "")];
            &members[..3]
        }
        "OKP" => {
            members = [("crv", s("crv")?), ("kty", "OKP"), ("x", s("x")?), ("", "")];
            &members[..3]
        }
        _ => return Err("unsupported \"kty\""),
    };
    let mut text =
        String::with_capacity(members.iter().map(|(n, v)| n.len() + v.len() + 6).sum::<usize>() + 2);
    for (i, (name, v)) in members.iter().enumerate() {
        text.push(if i == 0 { '{' } else { ',' });
        text.push('"');
        text.push_str(name);
        text.push_str("\":");
        push_json_string(&mut text, v);
    }
    text.push('}');
    Ok(b64::encode(digest(&SHA256, text.as_bytes()).as_ref()))
}

/// `v` as a JSON string: quoted, escaped as `serde_json` escapes (only when it must: the
/// members of a usable key are base64url or short names).
fn push_json_string(out: &mut String, v: &str) {
    if v.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(v);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
}

/// `ath`: the base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &[u8]) -> String {
    b64::encode(digest(&SHA256, access_token).as_ref())
}

/// Whether `claimed` is the `ath` of the token whose SHA-256 is `sha256` (its base64url
/// encoding, 43 characters without padding).
fn ath_matches(claimed: &str, sha256: &crate::digest::Digest) -> bool {
    // Public values (a hash of the token the client sent): no constant-time comparison needed.
    claimed.len() == 43 && b64::encode(sha256).as_bytes() == claimed.as_bytes()
}

fn normalized_url(url: &[u8]) -> Result<String, Rejection> {
    htu::normalize(url).map_err(|_| {
        refuse_value(
            "the request URL cannot be normalized:",
            &String::from_utf8_lossy(url),
        )
    })
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'c str>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(refuse_value("a claim is not a string:", name)),
    }
}

/// Checks a proof against the request (RFC 9449 §4.3) at time `now`. Does not look at the
/// replay cache: the caller remembers [`Proof::replay_key`] only for a proof that passed
/// everything else (so a forged proof never takes a place in it).
pub fn check_proof(proof: &[u8], req: &Request<'_>, s: &Settings, now: i64) -> Result<Proof, Rejection> {
    // 2, 3: one well-formed JWT.
    let [h, p, sig] = verify::split(proof).map_err(|_| refuse("not a compact JWS of three parts"))?;
    let header_text = b64::decode(h).map_err(|_| refuse("header is not base64url"))?;
    let header = json::parse_object(&header_text).map_err(|_| refuse("header is not a JSON object"))?;
    // 4: typ.
    match header.get("typ") {
        Some(Value::String(t)) if is_proof_type(t) => {}
        Some(Value::String(t)) => return Err(refuse_value("\"typ\" is not dpop+jwt:", t)),
        _ => return Err(refuse("no \"typ\" dpop+jwt")),
    }
    // 5: alg: on the allow-list, asymmetric (the allow-list never holds HMAC, and `none` is
    // refused by name); `crit` and `b64` as for any JWS.
    let allowed = s.algorithms.iter().filter(|a| a.family() != KeyFamily::Oct);
    let allowed = allowed.fold(AlgSet::empty(), AlgSet::with);
    // RFC 9864: "Ed25519" is the fully-specified name of EdDSA with an Ed25519 key (what the
    // `dpop` npm client sends); the key must then be an Ed25519 key (checked below).
    let renamed;
    let header_ref = match header.get("alg") {
        Some(Value::String(a)) if a == "Ed25519" => {
            let mut h = header.clone();
            h.insert("alg".into(), Value::from("EdDSA"));
            renamed = h;
            &renamed
        }
        _ => &header,
    };
    let alg = verify::check_jose(header_ref, allowed).map_err(|r| Rejection {
        reason: Reason::DpopProof,
        detail: r.detail,
    })?;
    // 6: jwk, a public key.
    let Some(jwk_value @ Value::Object(jwk_obj)) = header.get("jwk") else {
        return Err(refuse("no \"jwk\" header member"));
    };
    if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| jwk_obj.contains_key(**m)) {
        return Err(refuse_value("\"jwk\" has a private key member", m));
    }
    let key = jwk::parse_public(jwk_value)
        .map_err(|why| Rejection::with_value(Reason::DpopProof, "\"jwk\" is not a usable key:", &why))?;
    if !key.fits(alg) {
        return Err(refuse_value("\"jwk\" does not fit alg", alg.name()));
    }
    // 7: the signature, with that key.
    let sig = b64::decode(sig).map_err(|_| refuse("signature is not base64url"))?;
    if sig.is_empty() || !verify_signature(&key, alg, &proof[..h.len() + 1 + p.len()], &sig) {
        return Err(refuse("signature does not verify with its \"jwk\""));
    }
    let payload = b64::decode(p).map_err(|_| refuse("payload is not base64url"))?;
    let claims = json::parse_object(&payload).map_err(|_| refuse("payload is not a JSON object"))?;
    // jti
    let jti = string_claim(&claims, "jti")?.ok_or_else(|| refuse("no \"jti\""))?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(refuse("\"jti\" is empty or longer than 256 bytes"));
    }
    // 8: htm.
    let htm = string_claim(&claims, "htm")?.ok_or_else(|| refuse("no \"htm\""))?;
    if htm.as_bytes() != req.method {
        return Err(refuse_value("\"htm\" is not the request method:", htm));
    }
    // 9: htu.
    let htu = string_claim(&claims, "htu")?.ok_or_else(|| refuse("no \"htu\""))?;
    let named =
        htu::normalize(htu.as_bytes()).map_err(|_| refuse_value("\"htu\" is not an http(s) URL:", htu))?;
    // The same bytes (up to query and fragment) normalize alike: the request URL is
    // normalized only when the client wrote its htu otherwise.
    let same = htu::without_query(htu.as_bytes()) == htu::without_query(req.url);
    if !same && named != normalized_url(req.url)? {
        return Err(refuse_value("\"htu\" is not the request URL:", htu));
    }
    // 11: iat.
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| refuse("\"iat\" is not an integer"))?,
        Some(_) => return Err(refuse("\"iat\" is not a number")),
        None => return Err(refuse("no \"iat\"")),
    };
    let leeway = i64::try_from(s.leeway).unwrap_or(i64::MAX);
    let max_age = i64::try_from(s.max_age).unwrap_or(i64::MAX);
    if iat > now.saturating_add(leeway) {
        return Err(refuse("\"iat\" is in the future"));
    }
    let expires = iat.saturating_add(max_age).saturating_add(leeway);
    if expires < now {
        return Err(refuse("\"iat\" is older than max_age"));
    }
    // 12: ath.
    let computed;
    let token_sha256 = match req.access_token_digest {
        Some(d) => d,
        None => {
            computed = crate::digest::token(req.access_token);
            &computed
        }
    };
    match string_claim(&claims, "ath")? {
        Some(a) if ath_matches(a, token_sha256) => {}
        Some(_) => return Err(refuse("\"ath\" is not the hash of the access token")),
        None => return Err(refuse("no \"ath\"")),
    }
    let jkt = thumbprint(jwk_obj).map_err(|w| refuse_value("\"jwk\":", w))?;
    // 10: nonce, last: a client that lacks it learns one from the answer (§8).
    if let Some(key) = req.nonce {
        match string_claim(&claims, "nonce").map_err(|r| Rejection {
            reason: Reason::DpopNonce,
            detail: r.detail,
        })? {
            Some(n) if key.accepts(n, now) => {}
            Some(_) => {
                return Err(Rejection::new(
                    Reason::DpopNonce,
                    "\"nonce\" is not a current nonce",
                ))
            }
            None => return Err(Rejection::new(Reason::DpopNonce, "no \"nonce\"")),
        }
    }
    Ok(Proof {
        replay_key: replay::key(&jkt, jti),
        jkt,
        expires,
    })
}

/// The `cnf.jkt` of a verified access token: `Ok(None)` without `cnf` or without `jkt` in it.
pub fn token_jkt(token: &Verified) -> Result<Option<String>, Rejection> {
    let Some(cnf) = token.claim("cnf") else {
        return Ok(None);
    };
    let Value::Object(cnf) = cnf.as_ref() else {
        return Err(Rejection::new(Reason::DpopBinding, "\"cnf\" is not an object"));
    };
    match cnf.get("jkt") {
        None => Ok(None),
        Some(Value::String(j)) => Ok(Some(j.clone())),
        Some(_) => Err(Rejection::new(Reason::DpopBinding, "\"cnf.jkt\" is not a string")),
    }
}

/// The rule of `mode` for a verified token: its `cnf.jkt` (from [`token_jkt`]), the scheme it
/// came with, and the thumbprint of its accepted proof (`Some` exactly when the scheme is
/// DPoP and the proof passed).
pub fn check_binding(
    mode: Mode,
    scheme: Scheme,
    token_jkt: Option<&str>,
    proof_jkt: Option<&str>,
) -> Result<(), Rejection> {
    match (mode, scheme) {
        (Mode::Off, _) => Ok(()),
        (Mode::On, Scheme::Bearer) => Err(Rejection::new(
            Reason::DpopBinding,
            "a Bearer token where DPoP is required",
        )),
        (Mode::Optional, Scheme::Bearer) => match token_jkt {
            None => Ok(()),
            Some(_) => Err(Rejection::new(
                Reason::DpopBinding,
                "a DPoP-bound token (cnf.jkt) sent as Bearer",
            )),
        },
        (_, Scheme::Dpop) => match (token_jkt, proof_jkt) {
            (_, None) => Err(refuse("no accepted proof")),
            (None, Some(_)) => Err(Rejection::new(
                Reason::DpopBinding,
                "the token is not DPoP-bound (no cnf.jkt)",
            )),
            // Both are base64url text of a SHA-256: compared whole (public values).
            (Some(t), Some(p)) if t == p => Ok(()),
            (Some(t), Some(_)) => Err(Rejection::with_value(
                Reason::DpopBinding,
                "cnf.jkt is not the thumbprint of the proof's key:",
                t,
            )),
        },
    }
}

#[cfg(test)]
mod tests;
