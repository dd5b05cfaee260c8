//! JWK Sets (RFC 7517) turned into verification-ready keys.
//!
//! Parsing happens once per key-set change (config time for files, once per fetched body for
//! the key endpoint). Every member is decoded here, so the request path never touches base64 or
//! JSON for keys. Keys that cannot be used for signature verification are skipped with a note;
//! a set without a single usable key is an error.
//!
//! Besides each key on its own, a set is checked as a whole, per JWKS document:
//!
//! - **Shared secrets next to public keys.** A set that has at least one usable asymmetric key
//!   (RSA, EC, OKP) and also `oct` keys keeps only the asymmetric keys; every `oct` key is
//!   skipped ("oct key in a set with public keys"). A published set carrying shared secrets
//!   beside public keys is either a leak or the setup of an algorithm-confusion attack. A set of
//!   only `oct` keys is used as it is; configure shared secrets in a file of their own.
//! - **Duplicate `kid`.** RFC 7517 §4.5 lets keys share a `kid` only as equivalent
//!   alternatives of different key types. Two keys with the same `kid` and the same key family
//!   (RSA; EC P-256; EC P-384; Ed25519; oct: the keys one algorithm could use) would make the
//!   verifying key ambiguous, so the first in document order is kept and each later one is
//!   skipped ("duplicate kid ..."). Keys with the same `kid` and different families (an RSA and
//!   an EC key, say) are all kept: no algorithm can use both, so a token's `alg` and `kid`
//!   still select at most one of them.
//!
//! The shared-secret rule runs first, so an `oct` key dropped by it does not count as a
//! duplicate. Keys without a `kid` are never duplicates.

use core::fmt;

use ring::signature::RsaPublicKeyComponents;
use serde_json::{Map, Value};

use crate::alg::{Algorithm, KeyFamily};
use crate::b64;
use crate::json;
use crate::verify::RsaMath;

/// Limits on what a JWKS may contain.
pub const MAX_KEYS: usize = 256;
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// Public (or, for `oct`, shared) key material, decoded and checked.
pub enum KeyMaterial {
    Rsa(RsaPublicKeyComponents<Vec<u8>>),
    /// Uncompressed SEC1 point `04 || x || y`.
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    Ed25519(Vec<u8>),
    Oct(Vec<u8>),
}

impl KeyMaterial {
    pub fn family(&self) -> KeyFamily {
        match self {
            KeyMaterial::Rsa(_) => KeyFamily::Rsa,
            KeyMaterial::EcP256(_) => KeyFamily::EcP256,
            KeyMaterial::EcP384(_) => KeyFamily::EcP384,
            KeyMaterial::Ed25519(_) => KeyFamily::Ed25519,
            KeyMaterial::Oct(_) => KeyFamily::Oct,
        }
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyMaterial::Rsa(c) => write!(f, "RSA-{}", bits(&c.n)),
            KeyMaterial::EcP256(_) => f.write_str("EC P-256"),
            KeyMaterial::EcP384(_) => f.write_str("EC P-384"),
            KeyMaterial::Ed25519(_) => f.write_str("OKP Ed25519"),
            KeyMaterial::Oct(k) => write!(f, "oct ({} bytes)", k.len()),
        }
    }
}

/// One usable verification key.
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, if it names one: then only that algorithm may use it.
    pub alg: Option<Algorithm>,
    pub material: KeyMaterial,
    /// For an RSA key: the arithmetic of its signature checks done elsewhere (the module: by
    /// NGINX's OpenSSL, with the key prepared once). `None`: by ring. See [`RsaMath`].
    rsa_math: Option<Box<dyn RsaMath>>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("material", &self.material)
            .field("rsa_math", &self.rsa_math.is_some())
            .finish()
    }
}

impl Jwk {
    /// The outside RSA arithmetic given to this key by [`KeySet::attach_rsa_math`], if any.
    pub fn rsa_math(&self) -> Option<&dyn RsaMath> {
        self.rsa_math.as_deref()
    }

    /// Whether a token signed with `alg` may be verified with this key: the key family fits,
    /// the key's own `alg` (if any) is `alg`, and an `oct` key is at least as long as the hash
    /// output of `alg` (RFC 7518 §3.2; a 48-byte key fits HS256 and HS384, not HS512).
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.material.family() == alg.family()
            && self.alg.is_none_or(|a| a == alg)
            && match (&self.material, alg.hmac_min_key_len()) {
                (KeyMaterial::Oct(k), Some(min)) => k.len() >= min,
                _ => true,
            }
    }
}

/// A parsed JWK Set.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
    /// One line per key that was skipped, saying why (for the error log).
    pub skipped: Vec<String>,
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    Json,
    NoKeysMember,
    TooManyKeys(usize),
    NoUsableKey(Vec<String>),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Json => f.write_str("invalid JSON"),
            JwksError::NoKeysMember => f.write_str("no \"keys\" array"),
            JwksError::TooManyKeys(n) => write!(f, "{n} keys, more than the limit of {MAX_KEYS}"),
            JwksError::NoUsableKey(why) if why.is_empty() => f.write_str("no keys"),
            JwksError::NoUsableKey(why) => write!(f, "no usable key ({})", why.join("; ")),
        }
    }
}

impl KeySet {
    /// Parses a JWK Set document (`{"keys":[...]}`).
    pub fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc = json::parse_object(bytes).map_err(|_| JwksError::Json)?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err(JwksError::NoKeysMember);
        };
        if keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys(keys.len()));
        }
        let mut set = KeySet::default();
        let note = |i: usize, kid: Option<&str>, why: &str| {
            format!("key #{i} kid \"{}\": {why}", printable(kid.unwrap_or(""), 64))
        };
        // Each usable key with its position in the document, for the notes.
        let mut usable = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            match parse_jwk(key) {
                Ok(jwk) => usable.push((i, jwk)),
                Err(why) => {
                    let kid = key.get("kid").and_then(Value::as_str);
                    set.skipped.push(note(i, kid, &why));
                }
            }
        }
        if usable.iter().any(|(_, k)| k.material.family() != KeyFamily::Oct) {
            usable.retain(|(i, k)| {
                let oct = k.material.family() == KeyFamily::Oct;
                if oct {
                    let why = "oct key in a set with public keys";
                    set.skipped.push(note(*i, k.kid.as_deref(), why));
                }
                !oct
            });
        }
        // For each kept key, its position in the document.
        let mut positions = Vec::with_capacity(usable.len());
        for (i, jwk) in usable {
            let first = jwk.kid.as_ref().and_then(|kid| {
                set.keys
                    .iter()
                    .position(|k| k.kid.as_ref() == Some(kid) && k.material.family() == jwk.material.family())
            });
            match first {
                Some(j) => {
                    let why = format!("duplicate kid of the same key type as key #{}", positions[j]);
                    set.skipped.push(note(i, jwk.kid.as_deref(), &why));
                }
                None => {
                    positions.push(i);
                    set.keys.push(jwk);
                }
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKey(set.skipped));
        }
        Ok(set)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids in this set, for logs and status output.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Gives each RSA key of the set the outside arithmetic `make` prepares for it (from its
    /// modulus and exponent, which passed every check of [`KeySet::parse`]); a key for which
    /// `make` returns `None` stays with ring. Returns how many keys got one. Nothing else
    /// changes: which keys exist, which algorithms they fit, and every check before and around
    /// the arithmetic stay the core's (see [`RsaMath`]).
    pub fn attach_rsa_math(
        &mut self,
        mut make: impl FnMut(&RsaPublicKeyComponents<Vec<u8>>) -> Option<Box<dyn RsaMath>>,
    ) -> usize {
        let mut attached = 0;
        for key in &mut self.keys {
            if let KeyMaterial::Rsa(c) = &key.material {
                key.rsa_math = make(c);
                attached += usize::from(key.rsa_math.is_some());
            }
        }
        attached
    }
}

fn str_member<'a>(o: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("\"{name}\" is not a string")),
    }
}

fn b64_member(o: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = str_member(o, name)?.ok_or_else(|| format!("missing \"{name}\""))?;
    b64::decode_lenient(s).map_err(|_| format!("\"{name}\" is not base64url"))
}

/// One public key (a DPoP proof's `jwk`): as a JWKS member, but never `oct`.
pub fn parse_public(v: &Value) -> Result<Jwk, String> {
    if v.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err("a symmetric key (\"kty\" oct)".into());
    }
    parse_jwk(v)
}

fn parse_jwk(v: &Value) -> Result<Jwk, String> {
    let o = v.as_object().ok_or("not an object")?;
    let kty = str_member(o, "kty")?.ok_or("missing \"kty\"")?;
    if let Some(u) = str_member(o, "use")? {
        if u != "sig" {
            return Err(format!("\"use\" is \"{}\", not \"sig\"", printable(u, 16)));
        }
    }
    if let Some(ops) = o.get("key_ops") {
        let ok = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|op| op.as_str() == Some("verify")));
        if !ok {
            return Err("\"key_ops\" does not allow \"verify\"".into());
        }
    }
    let alg = match str_member(o, "alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_name(name)
                .ok_or_else(|| format!("unsupported \"alg\" \"{}\"", printable(name, 16)))?,
        ),
    };
    let kid = str_member(o, "kid")?.map(str::to_owned);

    let material = match kty {
        "RSA" => {
            let n = strip_zeros(b64_member(o, "n")?);
            let e = strip_zeros(b64_member(o, "e")?);
            let nbits = bits(&n);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&nbits) {
                return Err(format!("RSA modulus of {nbits} bits (need 2048 to 8192)"));
            }
            // An odd exponent of 3 to 2^32 - 1, an odd modulus: what ring requires of a key, and
            // checked here so that it holds whichever library does the arithmetic (with e = 1
            // any message is its own signature).
            if e.is_empty() || e.len() > 4 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
                return Err("invalid RSA exponent".into());
            }
            if n.last().is_some_and(|b| b & 1 == 0) {
                return Err("invalid RSA modulus (even)".into());
            }
            if crate::roca::has_roca_fingerprint(&n) {
                return Err("RSA modulus with the ROCA fingerprint (CVE-2017-15361): factorable".into());
            }
            KeyMaterial::Rsa(RsaPublicKeyComponents { n, e })
        }
        "EC" => {
            let crv = str_member(o, "crv")?.ok_or("missing \"crv\"")?;
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                other => return Err(format!("unsupported curve \"{}\"", printable(other, 16))),
            };
            let x = b64_member(o, "x")?;
            let y = b64_member(o, "y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("EC coordinates are not {size} bytes"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            if size == 32 {
                KeyMaterial::EcP256(point)
            } else {
                KeyMaterial::EcP384(point)
            }
        }
        "OKP" => {
            let crv = str_member(o, "crv")?.ok_or("missing \"crv\"")?;
            if crv != "Ed25519" {
                return Err(format!("unsupported curve \"{}\"", printable(crv, 16)));
            }
            let x = b64_member(o, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".into());
            }
            KeyMaterial::Ed25519(x)
        }
        "oct" => {
            let k = b64_member(o, "k")?;
            // RFC 7518 §3.2: no HMAC algorithm may use a key shorter than its hash output.
            let min = alg.and_then(Algorithm::hmac_min_key_len).unwrap_or(32);
            if k.len() < min {
                return Err(match alg {
                    Some(a) if min > 32 => {
                        format!(
                            "oct key shorter than {min} bytes, as {a} needs ({} bytes)",
                            k.len()
                        )
                    }
                    _ => format!("oct key shorter than 32 bytes ({} bytes)", k.len()),
                });
            }
            KeyMaterial::Oct(k)
        }
        other => return Err(format!("unsupported \"kty\" \"{}\"", printable(other, 16))),
    };

    let jwk = Jwk {
        kid,
        alg,
        material,
        rsa_math: None,
    };
    if let Some(a) = alg {
        if a.family() != jwk.material.family() {
            return Err(format!("\"alg\" {a} does not fit \"kty\" {kty}"));
        }
    }
    Ok(jwk)
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let nz = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v.drain(..nz);
    v
}

fn bits(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&b) => n.len() * 8 - b.leading_zeros() as usize,
    }
}

/// Makes untrusted text safe for one log line: printable ASCII only, bounded length.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
            out.push(c);
        } else {
            out.push('?');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../tests/fixtures/jwthenticator-jwks.json");

    #[test]
    fn parses_real_jwthenticator_jwks() {
        let set = KeySet::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        let k = &set.keys[0];
        assert_eq!(k.kid.as_deref(), Some("6kTfL3HEEE_Hf4p5Gwk_jc47i5k"));
        assert_eq!(k.alg, Some(Algorithm::RS256));
        assert!(k.fits(Algorithm::RS256));
        assert!(!k.fits(Algorithm::PS256) && !k.fits(Algorithm::HS256));
        assert!(matches!(&k.material, KeyMaterial::Rsa(c) if bits(&c.n) == 2048));
    }

    #[test]
    fn skips_unusable_keys_and_keeps_good_ones() {
        let doc = br#"{"keys":[
            {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
            {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}"#;
        let set = KeySet::parse(doc).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["ed"]);
        assert_eq!(set.skipped.len(), 2);
        assert!(set.skipped[0].contains("not \"sig\""), "{:?}", set.skipped);
        assert!(set.skipped[1].contains("P-521"), "{:?}", set.skipped);
    }

    #[test]
    fn refuses_sets_without_usable_keys() {
        assert_eq!(
            KeySet::parse(b"{\"keys\":[]}").err(),
            Some(JwksError::NoUsableKey(vec![]))
        );
        assert_eq!(KeySet::parse(b"{}").err(), Some(JwksError::NoKeysMember));
        assert_eq!(KeySet::parse(b"not json").err(), Some(JwksError::Json));
        let small = br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#;
        let err = KeySet::parse(small).unwrap_err().to_string();
        assert!(err.contains("RSA modulus of 17 bits"), "{err}");
        let short = br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        let err = KeySet::parse(short).unwrap_err().to_string();
        assert!(err.contains("oct key shorter than 32 bytes (6 bytes)"), "{err}");
    }

    fn oct_jwk(kid: &str, len: usize, alg: Option<&str>) -> Value {
        let mut k = serde_json::json!({"kty": "oct", "kid": kid, "k": b64::encode(&vec![7u8; len])});
        if let Some(a) = alg {
            k["alg"] = Value::from(a);
        }
        k
    }

    fn parse_keys(keys: &[Value]) -> Result<KeySet, JwksError> {
        KeySet::parse(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn hmac_keys_fit_only_algorithms_they_are_long_enough_for() {
        let set = parse_keys(&[
            oct_jwk("32", 32, None),
            oct_jwk("48", 48, None),
            oct_jwk("64", 64, None),
        ])
        .unwrap();
        let fits = |i: usize| -> Vec<Algorithm> {
            [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
                .into_iter()
                .filter(|a| set.keys[i].fits(*a))
                .collect()
        };
        assert_eq!(fits(0), vec![Algorithm::HS256]);
        assert_eq!(fits(1), vec![Algorithm::HS256, Algorithm::HS384]);
        assert_eq!(
            fits(2),
            vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
        );
        assert!(!set.keys[2].fits(Algorithm::RS256));
        let set = parse_keys(&[oct_jwk("63", 63, None)]).unwrap();
        assert!(set.keys[0].fits(Algorithm::HS384) && !set.keys[0].fits(Algorithm::HS512));
    }

    #[test]
    fn hmac_keys_too_short_for_every_or_their_own_alg_are_skipped() {
        let set = parse_keys(&[oct_jwk("short", 31, None), oct_jwk("ok", 32, None)]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["ok"]);
        assert_eq!(
            set.skipped,
            vec!["key #0 kid \"short\": oct key shorter than 32 bytes (31 bytes)"]
        );
        // A key pinned to HS512 is useless below 64 bytes; pinned to HS256, 32 are enough.
        let set = parse_keys(&[
            oct_jwk("hs512", 48, Some("HS512")),
            oct_jwk("hs384", 48, Some("HS384")),
            oct_jwk("hs256", 32, Some("HS256")),
        ])
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["hs384", "hs256"]);
        assert_eq!(
            set.skipped,
            vec!["key #0 kid \"hs512\": oct key shorter than 64 bytes, as HS512 needs (48 bytes)"]
        );
        let err = parse_keys(&[oct_jwk("a", 16, None), oct_jwk("b", 31, Some("HS256"))]).unwrap_err();
        assert_eq!(
            err,
            JwksError::NoUsableKey(vec![
                "key #0 kid \"a\": oct key shorter than 32 bytes (16 bytes)".into(),
                "key #1 kid \"b\": oct key shorter than 32 bytes (31 bytes)".into(),
            ])
        );
    }

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn ed_jwk(kid: &str) -> Value {
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": ED_X})
    }

    /// The JWThenticator RSA key with another `kid`.
    fn rsa_jwk(kid: &str) -> Value {
        let mut k = json::parse_object(SAMPLE.as_bytes()).unwrap()["keys"][0].clone();
        k["kid"] = Value::from(kid);
        k
    }

    #[test]
    fn duplicate_kid_of_the_same_family_keeps_the_first() {
        let set = parse_keys(&[ed_jwk("a"), ed_jwk("b"), ed_jwk("a"), ed_jwk("a")]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(
            set.skipped,
            vec![
                "key #2 kid \"a\": duplicate kid of the same key type as key #0",
                "key #3 kid \"a\": duplicate kid of the same key type as key #0",
            ]
        );
        // The first usable one counts: an unusable key with the kid does not shadow a later one.
        let mut bad = ed_jwk("a");
        bad["x"] = Value::from("AA");
        let set = parse_keys(&[bad, ed_jwk("a")]).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped.len(), 1);
        assert!(set.skipped[0].contains("not 32 bytes"), "{:?}", set.skipped);
        // Two RSA keys, and two oct keys, follow the same rule.
        let set = parse_keys(&[rsa_jwk("r"), rsa_jwk("r")]).unwrap();
        assert_eq!(set.len(), 1);
        let set = parse_keys(&[oct_jwk("s", 32, None), oct_jwk("s", 64, None)]).unwrap();
        assert_eq!(set.len(), 1);
        assert!(matches!(&set.keys[0].material, KeyMaterial::Oct(k) if k.len() == 32));
        // Keys without kid are never duplicates.
        let mut a = ed_jwk("");
        a.as_object_mut().unwrap().remove("kid");
        let set = parse_keys(&[a.clone(), a]).unwrap();
        assert_eq!((set.len(), set.skipped.len()), (2, 0));
    }

    #[test]
    fn same_kid_of_different_families_is_kept() {
        // RFC 7517 §4.5: the same kid for equivalent keys of different types.
        let set = parse_keys(&[rsa_jwk("k"), ed_jwk("k")]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["k", "k"]);
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        let fams: Vec<_> = set.keys.iter().map(|k| k.material.family()).collect();
        assert_eq!(fams, vec![KeyFamily::Rsa, KeyFamily::Ed25519]);
    }

    #[test]
    fn oct_keys_next_to_public_keys_are_skipped() {
        let set = parse_keys(&[
            oct_jwk("s", 64, None),
            ed_jwk("e"),
            oct_jwk("t", 32, Some("HS256")),
        ])
        .unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["e"]);
        assert_eq!(
            set.skipped,
            vec![
                "key #0 kid \"s\": oct key in a set with public keys",
                "key #2 kid \"t\": oct key in a set with public keys",
            ]
        );
        // The rule runs first: an oct key it drops is not reported as a duplicate kid.
        let set = parse_keys(&[ed_jwk("x"), oct_jwk("x", 32, None)]).unwrap();
        assert_eq!(
            set.skipped,
            vec!["key #1 kid \"x\": oct key in a set with public keys"]
        );
        // A set of only oct keys is unchanged.
        let set = parse_keys(&[oct_jwk("s", 64, None), oct_jwk("t", 32, None)]).unwrap();
        assert_eq!((set.len(), set.skipped.len()), (2, 0));
        // An unusable public key does not make it a mixed set.
        let mut bad = ed_jwk("e");
        bad["crv"] = Value::from("X448");
        let set = parse_keys(&[oct_jwk("s", 32, None), bad]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["s"]);
    }

    #[test]
    fn skips_rsa_keys_with_the_roca_fingerprint() {
        let mut roca = rsa_jwk("infineon");
        roca["n"] = Value::from(crate::roca::ROCA_MODULUS);
        let set = parse_keys(&[roca.clone(), rsa_jwk("good")]).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["good"]);
        assert_eq!(set.skipped.len(), 1);
        assert!(
            set.skipped[0].starts_with("key #0 kid \"infineon\": "),
            "{:?}",
            set.skipped
        );
        assert!(set.skipped[0].contains("ROCA"), "{:?}", set.skipped);
        let err = parse_keys(&[roca]).unwrap_err().to_string();
        assert!(err.contains("ROCA fingerprint (CVE-2017-15361)"), "{err}");
    }

    #[test]
    fn rsa_exponent_and_modulus_rules() {
        let with = |member: &str, value: Value| {
            let mut k = rsa_jwk("k");
            k[member] = value;
            parse_keys(&[k])
        };
        // e = 1 makes every message its own signature; e = 3 is the smallest ring accepts.
        for (e, ok) in [
            ("AQ", false),
            ("AAAB", false),
            ("Ag", false),
            ("Aw", true),
            ("AQAB", true),
        ] {
            let r = with("e", Value::from(e));
            assert_eq!(r.is_ok(), ok, "e {e}: {r:?}");
            if !ok {
                assert!(
                    r.unwrap_err().to_string().contains("invalid RSA exponent"),
                    "e {e}"
                );
            }
        }
        assert!(with("e", Value::from("_____w")).is_ok(), "2^32 - 1");
        assert!(with("e", Value::from("AQAAAAE")).is_err(), "more than 32 bits");
        let mut n = b64::decode_lenient(rsa_jwk("k")["n"].as_str().unwrap()).unwrap();
        *n.last_mut().unwrap() &= 0xfe;
        let err = with("n", Value::from(b64::encode(&n))).unwrap_err().to_string();
        assert!(err.contains("invalid RSA modulus (even)"), "{err}");
    }

    #[test]
    fn attach_rsa_math_reaches_rsa_keys_only() {
        struct Never;
        impl RsaMath for Never {
            fn verify_digest(
                &self,
                _: Algorithm,
                _: &[u8],
                _: &[u8],
            ) -> Result<bool, crate::verify::RsaMathError> {
                Ok(false)
            }
        }
        let mut set = parse_keys(&[ed_jwk("e"), rsa_jwk("r1"), rsa_jwk("r2")]).unwrap();
        assert!(set.keys.iter().all(|k| k.rsa_math().is_none()));
        let mut moduli = Vec::new();
        let n = set.attach_rsa_math(|c| {
            moduli.push(c.n.len());
            (moduli.len() == 1).then(|| Box::new(Never) as Box<dyn RsaMath>)
        });
        assert_eq!((n, moduli), (1, vec![256, 256]));
        let have: Vec<bool> = set.keys.iter().map(|k| k.rsa_math().is_some()).collect();
        assert_eq!(have, vec![false, true, false]);
        assert!(format!("{:?}", set.keys[1]).contains("rsa_math: true"));
    }

    #[test]
    fn refuses_alg_kty_mismatch() {
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"RS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let err = KeySet::parse(doc).unwrap_err().to_string();
        assert!(err.contains("does not fit"), "{err}");
    }

    #[test]
    fn printable_escapes() {
        assert_eq!(printable("a\"b\n\\", 10), "a?b??");
        assert_eq!(printable("abcdef", 3), "abc...");
    }
}
