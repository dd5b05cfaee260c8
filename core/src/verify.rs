//! Compact JWS parsing and verification (RFC 7515, RFC 7519, RFC 8725).
//!
//! Order of checks, cheapest and most telling first: size and structure, header JSON, algorithm
//! policy, key choice, signature, then (only for an authentic token) payload JSON and time
//! claims. Nothing in the payload is looked at before its signature verified.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::rc::Rc;

use ring::{hmac, signature};
use serde_json::{Map, Value};

use crate::alg::{AlgSet, Algorithm};
use crate::b64;
use crate::json;
use crate::jwk::{Jwk, KeyMaterial, KeySet};
use crate::reason::{Detail, Reason, Rejection};
use crate::token::{PayloadError, Token};

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

/// The arithmetic of an RSA signature check, done outside the core for a key the core
/// accepted: the module hands it to the OpenSSL NGINX links, which keeps the key prepared
/// (ring 0.17 rebuilds its public key, R² mod n included, on every verification; see the
/// README's Performance section). Attached per key with [`KeySet::attach_rsa_math`].
///
/// Everything that decides stays in the core and runs before: the algorithm allow-list, key
/// choice (`kid`, `alg`, `kty`, `use`, `key_ops`), the key rules (2048 to 8192 bits, an odd
/// exponent of at least 3, an odd modulus, no ROCA fingerprint), a signature exactly as long
/// as the modulus, and the message digest, computed by ring with the algorithm's hash.
///
/// `Send + Sync` like the rest of a key set (a configuration's key files live in `static`
/// and `Arc` places): an implementation keeping per-use state guards it.
///
/// [`KeySet::attach_rsa_math`]: crate::jwk::KeySet::attach_rsa_math
pub trait RsaMath: Send + Sync {
    /// Whether `sig` is an `alg` signature (RS256 to PS512) of a message whose digest under
    /// `alg`'s hash is `digest`. PKCS #1 v1.5 for RS*; for PS*, PSS with MGF1 of the same hash
    /// and a salt exactly as long as the digest (RFC 7518 §3.5). `Ok(false)`: not a valid
    /// signature. `Err`: the arithmetic could not be done (the caller then asks ring).
    fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError>;
}

/// [`RsaMath`] could not check a signature (not: the signature is wrong). The implementation
/// reports the cause itself; the core then verifies with ring, so a failure of the outside
/// library neither accepts a token nor refuses one that ring would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaMathError;

/// The hash of an RSA algorithm, for the digest [`RsaMath`] gets.
fn rsa_digest(alg: Algorithm) -> &'static ring::digest::Algorithm {
    match alg {
        Algorithm::RS384 | Algorithm::PS384 => &ring::digest::SHA384,
        Algorithm::RS512 | Algorithm::PS512 => &ring::digest::SHA512,
        _ => &ring::digest::SHA256,
    }
}

/// Verifies one signature. Constant-time where it matters (HMAC via ring). RSA signatures go
/// to the key's [`RsaMath`] when it has one, else to ring.
pub fn verify_signature(key: &Jwk, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
    use signature::VerificationAlgorithm as _;
    let rsa: &signature::RsaParameters = match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    };
    match (&key.material, alg) {
        (KeyMaterial::Rsa(c), a) if a.family() == crate::alg::KeyFamily::Rsa => {
            // RFC 8017 §8.2.2 step 1, §8.1.2 step 1: a signature is exactly as long as the
            // modulus (`n` has no leading zero bytes). ring checks it too; checked here for
            // any arithmetic (OpenSSL 3.0's PSS verification takes a shorter one as a smaller
            // number: a PS256 signature with its leading zero byte dropped verifies).
            if sig.len() != c.n.len() {
                return false;
            }
            if let Some(math) = key.rsa_math() {
                let digest = ring::digest::digest(rsa_digest(a), input);
                if let Ok(valid) = math.verify_digest(a, digest.as_ref(), sig) {
                    return valid;
                }
            }
            c.verify(rsa, input, sig).is_ok()
        }
        (KeyMaterial::EcP256(p), Algorithm::ES256) => signature::ECDSA_P256_SHA256_FIXED
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::EcP384(p), Algorithm::ES384) => signature::ECDSA_P384_SHA384_FIXED
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::Ed25519(p), Algorithm::EdDSA) => signature::ED25519
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::Oct(k), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
            let h = match alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                _ => hmac::HMAC_SHA512,
            };
            hmac::verify(&hmac::Key::new(h, k), input, sig).is_ok()
        }
        _ => false,
    }
}

fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => Ok(Some(v)),
            None if n.is_u64() => Err(malformed_claim(name, "is out of range")),
            None => Err(malformed_claim(name, "is not an integer")),
        },
        Some(_) => Err(malformed_claim(name, "is not a number")),
    }
}

fn malformed_claim(claim: &'static str, what: &'static str) -> Rejection {
    Rejection {
        reason: Reason::Malformed,
        detail: Detail::ClaimType { claim, what },
    }
}

/// Reads `exp` (required), `nbf` and `iat`.
pub fn parse_times(claims: &Map<String, Value>) -> Result<Times, Rejection> {
    let exp =
        numeric_date(claims, "exp")?.ok_or_else(|| Rejection::new(Reason::Claim, "no \"exp\" claim"))?;
    Ok(Times {
        exp,
        nbf: numeric_date(claims, "nbf")?,
        iat: numeric_date(claims, "iat")?,
    })
}

/// Checks `exp` and `nbf` against `now` with `leeway` seconds of clock skew. Runs on every
/// request, also for tokens served from a cache.
pub fn check_times(t: &Times, leeway: u64, now: i64) -> Result<(), Rejection> {
    let skew = i64::try_from(leeway).unwrap_or(i64::MAX);
    if now.saturating_sub(skew) >= t.exp {
        return Err(Rejection {
            reason: Reason::Expired,
            detail: Detail::Expired {
                exp: t.exp,
                now,
                leeway,
            },
        });
    }
    if let Some(nbf) = t.nbf {
        if now.saturating_add(skew) < nbf {
            return Err(Rejection {
                reason: Reason::NotYetValid,
                detail: Detail::NotYetValid {
                    claim: "nbf",
                    at: nbf,
                    now,
                    leeway,
                },
            });
        }
    }
    Ok(())
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

/// The longest `issuer=` value a key source may be bound to.
pub const MAX_ISSUER_LEN: usize = 1024;

/// Checks an `issuer=` value: the exact `iss` string (RFC 7519 §4.1.1, StringOrURI) a key
/// source's keys verify tokens of. Not empty, at most [`MAX_ISSUER_LEN`] bytes, no control
/// characters.
pub fn check_issuer(issuer: &str) -> Result<(), &'static str> {
    if issuer.is_empty() {
        return Err("is empty");
    }
    if issuer.len() > MAX_ISSUER_LEN {
        return Err("is longer than 1024 bytes");
    }
    if issuer.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

/// The `iss` of a token's payload, read WITHOUT verifying anything: only to choose which key
/// sources are worth looking at (a source bound to another issuer cannot verify the token).
/// Never a basis for accepting a token: [`verify_bound`] checks `iss` again on the verified
/// payload. `None`: no string `iss`, or a payload that cannot be read.
pub fn unverified_issuer(token: &[u8]) -> Option<String> {
    Token::new(token).claimed_issuer().map(str::to_owned)
}

/// Whether a key set bound to `bound` (`None`: to no issuer) may verify a token whose `iss`
/// is `iss` (`None`: no string `iss`).
pub fn issuer_allows(bound: Option<&str>, iss: Option<&str>) -> bool {
    match bound {
        None => true,
        Some(want) => iss == Some(want),
    }
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

/// [`verify_bound`] with the key sets of a [`KeyRing`]: [`KeyRef::set`] of the result is the
/// index of the ring entry whose key verified the token.
pub fn verify_ring<S: Copy, const N: usize>(
    token: &mut Token<'_>,
    ring: &KeyRing<'_, S, N>,
    policy: &Policy,
    now: i64,
) -> Result<Verified, Rejection> {
    let set = |si: usize| ring.entries[si].map_or(&EMPTY_KEYS, |e| e.keys);
    let bound = |si: usize| ring.entries[si].and_then(|e| e.issuer);
    verify_with(token, ring.len(), set, bound, policy, now)
}

/// An empty key set: what a ring entry without keys verifies with.
static EMPTY_KEYS: KeySet = KeySet {
    keys: Vec::new(),
    skipped: Vec::new(),
};

/// One key source as a request verifies with it: its keys (empty: none usable, or skipped for
/// the token's issuer), the issuer they are bound to, and what the caller calls the source.
#[derive(Debug, Clone, Copy)]
pub struct RingEntry<'k, S> {
    pub keys: &'k KeySet,
    pub issuer: Option<&'k str>,
    pub source: S,
}

/// The key sources one request verifies with, in order, in a fixed array of `N` (no
/// allocation): what [`verify_ring`] tries, and what the caller's caches are keyed by.
#[derive(Debug, Clone, Copy)]
pub struct KeyRing<'k, S, const N: usize> {
    entries: [Option<RingEntry<'k, S>>; N],
    len: usize,
}

impl<'k, S: Copy, const N: usize> Default for KeyRing<'k, S, N> {
    fn default() -> Self {
        KeyRing {
            entries: [None; N],
            len: 0,
        }
    }
}

impl<'k, S: Copy, const N: usize> KeyRing<'k, S, N> {
    /// Adds a source; `None` (none usable, or skipped) verifies nothing. `false`: the ring is
    /// full, nothing was added.
    pub fn push(&mut self, keys: Option<&'k KeySet>, issuer: Option<&'k str>, source: S) -> bool {
        let Some(slot) = self.entries.get_mut(self.len) else {
            return false;
        };
        *slot = Some(RingEntry {
            keys: keys.unwrap_or(&EMPTY_KEYS),
            issuer,
            source,
        });
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`, in the order pushed.
    pub fn get(&self, i: usize) -> Option<&RingEntry<'k, S>> {
        self.entries.get(i)?.as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &RingEntry<'k, S>> {
        self.entries[..self.len].iter().flatten()
    }

    /// The sources, in order.
    pub fn sources(&self) -> impl Iterator<Item = S> + '_ {
        self.iter().map(|e| e.source)
    }
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
