//! One test per rule of RFC 9449 §4.3 and §7.1 as [`check_proof`] and [`check_binding`]
//! apply them.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use super::*;
use crate::verify::{KeyRef, Times};

const NOW: i64 = 1_700_000_000;
const URL: &[u8] = b"https://api.example.com/resource";
const TOKEN: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

enum Key {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    fn ec() -> Key {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Key::Ec(
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng)
                .unwrap(),
        )
    }

    fn ed() -> Key {
        let pk8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Key::Ed(Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Ec(_) => "ES256",
            Key::Ed(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Key::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64::encode(&p[1..33]), "y": b64::encode(&p[33..])})
            }
            Key::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(k.public_key().as_ref())}),
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::Ec(k) => k.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec(),
            Key::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    fn jkt(&self) -> String {
        thumbprint(self.jwk().as_object().unwrap()).unwrap()
    }
}

fn header(key: &Key) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.alg(), "jwk": key.jwk()})
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "GET", "htu": "https://api.example.com/resource", "iat": NOW,
        "ath": ath(TOKEN)})
}

fn mint(key: &Key, header: &Value, claims: &Value) -> Vec<u8> {
    let input = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64::encode(&sig)).into_bytes()
}

fn req() -> Request<'static> {
    Request {
        method: b"GET",
        url: URL,
        access_token: TOKEN,
        access_token_digest: None,
        nonce: None,
    }
}

fn check(proof: &[u8]) -> Result<Proof, Rejection> {
    check_proof(proof, &req(), &Settings::default(), NOW)
}

fn refused(proof: &[u8], reason: Reason, text: &str) {
    let r = check(proof).unwrap_err();
    assert_eq!(r.reason, reason, "{r}");
    assert!(r.to_string().contains(text), "{r} lacks {text}");
}

fn with_claim(name: &str, v: Value) -> Value {
    let mut c = claims();
    c[name] = v;
    c
}

fn without_claim(name: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    c
}

#[test]
fn a_good_proof_passes_with_its_thumbprint() {
    for key in [Key::ec(), Key::ed()] {
        let p = check(&mint(&key, &header(&key), &claims())).unwrap();
        assert_eq!(p.jkt, key.jkt());
        assert_eq!(p.jkt.len(), 43);
        assert_eq!(p.expires, NOW + DEFAULT_MAX_AGE as i64);
        assert_eq!(p.replay_key, replay::key(&p.jkt, "j-1"));
    }
}

#[test]
fn rfc7638_example_thumbprint() {
    // RFC 7638 §3.1.
    let jwk = json!({"kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"});
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn rfc9449_example_ath() {
    // RFC 9449 §7.1: the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" has
    // ath "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo".
    assert_eq!(
        ath(b"Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn structure() {
    refused(b"", Reason::DpopProof, "three parts");
    refused(b"a.b", Reason::DpopProof, "three parts");
    refused(b"a.b.c.d.e", Reason::DpopProof, "three parts");
    refused(b"!!.e30.", Reason::DpopProof, "header is not base64url");
    refused(&vec![b'a'; 9000], Reason::DpopProof, "three parts");
    let key = Key::ec();
    let mut p = mint(&key, &header(&key), &claims());
    p.extend_from_slice(b"x");
    refused(&p, Reason::DpopProof, "signature");
}

#[test]
fn typ() {
    let key = Key::ec();
    for (typ, ok) in [
        (json!("dpop+jwt"), true),
        (json!("DPoP+JWT"), true),
        (json!("application/dpop+jwt"), true),
        (json!("JWT"), false),
        (json!("at+jwt"), false),
        (json!(1), false),
    ] {
        let mut h = header(&key);
        h["typ"] = typ.clone();
        let r = check(&mint(&key, &h, &claims()));
        assert_eq!(r.is_ok(), ok, "{typ}: {r:?}");
    }
    let mut h = header(&key);
    h.as_object_mut().unwrap().remove("typ");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "no \"typ\"");
}

#[test]
fn alg_allow_list_and_asymmetric_only() {
    let key = Key::ec();
    let mut h = header(&key);
    h["alg"] = json!("none");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "unsigned");
    h["alg"] = json!("HS256");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "alg not allowed");
    // Even if an HMAC algorithm reached the settings, it is not allowed for proofs.
    let s = Settings {
        algorithms: AlgSet::parse(["HS256", "ES256"]).unwrap(),
        ..Settings::default()
    };
    assert!(check_proof(&mint(&key, &h, &claims()), &req(), &s, NOW).is_err());
    assert!(Settings::algorithms_allowed(AlgSet::parse(["HS256"]).unwrap()).is_err());
    assert!(Settings::algorithms_allowed(AlgSet::empty()).is_err());
    assert!(Settings::algorithms_allowed(AlgSet::parse(["ES256", "EdDSA"]).unwrap()).is_ok());
    // Not on the location's list.
    let s = Settings {
        algorithms: AlgSet::parse(["EdDSA"]).unwrap(),
        ..Settings::default()
    };
    let r = check_proof(&mint(&key, &header(&key), &claims()), &req(), &s, NOW).unwrap_err();
    assert!(r.to_string().contains("alg not allowed \"ES256\""), "{r}");
    assert_eq!(s.algs(), "EdDSA Ed25519");
    // An algorithm that does not fit the jwk.
    let mut h = header(&key);
    h["alg"] = json!("EdDSA");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "does not fit");
    // crit is fatal as for any JWS.
    let mut h = header(&key);
    h["crit"] = json!(["x"]);
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "crit");
}

#[test]
fn ed25519_is_eddsa_with_an_ed25519_key() {
    // RFC 9864's fully-specified name, as the `dpop` npm client sends it.
    let key = Key::ed();
    let mut h = header(&key);
    h["alg"] = json!("Ed25519");
    assert_eq!(check(&mint(&key, &h, &claims())).unwrap().jkt, key.jkt());
    // Not with another key type, nor where EdDSA is not allowed.
    let ec = Key::ec();
    let mut h = header(&ec);
    h["alg"] = json!("Ed25519");
    refused(&mint(&ec, &h, &claims()), Reason::DpopProof, "does not fit");
    let s = Settings {
        algorithms: AlgSet::parse(["ES256"]).unwrap(),
        ..Settings::default()
    };
    let mut h = header(&key);
    h["alg"] = json!("Ed25519");
    assert!(check_proof(&mint(&key, &h, &claims()), &req(), &s, NOW).is_err());
    assert_eq!(s.algs(), "ES256");
    assert!(Settings::default().algs().ends_with("EdDSA Ed25519"));
}

#[test]
fn jwk_public_only() {
    let key = Key::ec();
    for m in PRIVATE_MEMBERS {
        let mut h = header(&key);
        h["jwk"][m] = json!("AAAA");
        refused(
            &mint(&key, &h, &claims()),
            Reason::DpopProof,
            "private key member",
        );
    }
    let mut h = header(&key);
    h.as_object_mut().unwrap().remove("jwk");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "no \"jwk\"");
    let mut h = header(&key);
    h["jwk"] = json!("a string");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "no \"jwk\"");
    let mut h = header(&key);
    h["jwk"] = json!({"kty": "oct"});
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "not a usable key");
    let mut h = header(&key);
    h["jwk"]["crv"] = json!("P-521");
    refused(&mint(&key, &h, &claims()), Reason::DpopProof, "not a usable key");
}

#[test]
fn signature_with_that_jwk() {
    let (a, b) = (Key::ec(), Key::ec());
    // Signed by b, naming a's key.
    refused(
        &mint(&b, &header(&a), &claims()),
        Reason::DpopProof,
        "signature does not verify",
    );
    let p = mint(&a, &header(&a), &claims());
    let dot = p.iter().rposition(|&c| c == b'.').unwrap();
    refused(&p[..=dot], Reason::DpopProof, "signature does not verify");
    let mut bad = p.clone();
    let i = dot + 5;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    refused(&bad, Reason::DpopProof, "signature");
}

#[test]
fn claims_jti_htm_htu() {
    let key = Key::ec();
    let m = |c: Value| mint(&key, &header(&key), &c);
    refused(&m(without_claim("jti")), Reason::DpopProof, "no \"jti\"");
    refused(
        &m(with_claim("jti", json!(""))),
        Reason::DpopProof,
        "\"jti\" is empty",
    );
    refused(
        &m(with_claim("jti", json!("x".repeat(257)))),
        Reason::DpopProof,
        "256",
    );
    refused(&m(with_claim("jti", json!(5))), Reason::DpopProof, "not a string");
    refused(&m(without_claim("htm")), Reason::DpopProof, "no \"htm\"");
    refused(
        &m(with_claim("htm", json!("POST"))),
        Reason::DpopProof,
        "\"htm\" is not the request method",
    );
    refused(&m(with_claim("htm", json!("get"))), Reason::DpopProof, "\"htm\"");
    refused(&m(without_claim("htu")), Reason::DpopProof, "no \"htu\"");
    refused(
        &m(with_claim("htu", json!("https://api.example.com/other"))),
        Reason::DpopProof,
        "\"htu\" is not the request URL",
    );
    refused(
        &m(with_claim("htu", json!("https://evil.example/resource"))),
        Reason::DpopProof,
        "htu",
    );
    refused(
        &m(with_claim("htu", json!("http://api.example.com/resource"))),
        Reason::DpopProof,
        "htu",
    );
    refused(
        &m(with_claim("htu", json!("https://api.example.com:8443/resource"))),
        Reason::DpopProof,
        "htu",
    );
    refused(
        &m(with_claim("htu", json!("not a url"))),
        Reason::DpopProof,
        "not an http(s) URL",
    );
    // Normalized: case, default port, dot segments, percent-encoding, query and fragment.
    for ok in [
        "HTTPS://API.example.COM:443/resource",
        "https://api.example.com/a/../resource?x=1#f",
        "https://api.example.com/%72esource",
    ] {
        assert!(check(&m(with_claim("htu", json!(ok)))).is_ok(), "{ok}");
    }
    // A request URL that cannot be normalized (a hostile Host) refuses.
    let r = Request {
        url: b"https://a b/resource",
        ..req()
    };
    let e = check_proof(&m(claims()), &r, &Settings::default(), NOW).unwrap_err();
    assert!(e.to_string().contains("request URL cannot be normalized"), "{e}");
}

#[test]
fn iat_within_max_age_and_leeway() {
    let key = Key::ec();
    let m = |c: Value| mint(&key, &header(&key), &c);
    let s = Settings {
        max_age: 30,
        leeway: 5,
        ..Settings::default()
    };
    let at = |iat: i64| check_proof(&m(with_claim("iat", json!(iat))), &req(), &s, NOW);
    assert!(at(NOW).is_ok());
    assert!(at(NOW - 35).is_ok());
    assert_eq!(at(NOW - 35).unwrap().expires, NOW);
    assert!(at(NOW + 5).is_ok());
    assert!(at(NOW - 36)
        .unwrap_err()
        .to_string()
        .contains("older than max_age"));
    assert!(at(NOW + 6).unwrap_err().to_string().contains("in the future"));
    refused(&m(without_claim("iat")), Reason::DpopProof, "no \"iat\"");
    refused(
        &m(with_claim("iat", json!("1"))),
        Reason::DpopProof,
        "not a number",
    );
    refused(
        &m(with_claim("iat", json!(1.5))),
        Reason::DpopProof,
        "not an integer",
    );
}

#[test]
fn ath_with_a_digest_given_is_checked_against_that_digest() {
    let key = Key::ec();
    let proof = mint(&key, &header(&key), &claims());
    let right = crate::digest::token(TOKEN);
    let wrong = crate::digest::token(b"another");
    let with = |d| Request {
        access_token_digest: Some(d),
        ..req()
    };
    assert!(check_proof(&proof, &with(&right), &Settings::default(), NOW).is_ok());
    let r = check_proof(&proof, &with(&wrong), &Settings::default(), NOW).unwrap_err();
    assert!(r.to_string().contains("\"ath\" is not the hash"), "{r}");
}

#[test]
fn htu_written_as_the_request_url_with_another_query_passes() {
    let key = Key::ec();
    let r = Request {
        url: b"https://api.example.com/resource?a=1",
        ..req()
    };
    let c = with_claim("htu", json!("https://api.example.com/resource?b=2#f"));
    assert!(check_proof(&mint(&key, &header(&key), &c), &r, &Settings::default(), NOW).is_ok());
    let c = with_claim("htu", json!("https://api.example.com/resourc"));
    assert!(check_proof(&mint(&key, &header(&key), &c), &r, &Settings::default(), NOW).is_err());
}

#[test]
fn ath_is_the_hash_of_the_access_token() {
    let key = Key::ec();
    let m = |c: Value| mint(&key, &header(&key), &c);
    refused(&m(without_claim("ath")), Reason::DpopProof, "no \"ath\"");
    refused(
        &m(with_claim("ath", json!(ath(b"another")))),
        Reason::DpopProof,
        "\"ath\" is not the hash",
    );
    let r = Request {
        access_token: b"another",
        access_token_digest: None,
        ..req()
    };
    assert!(check_proof(&m(claims()), &r, &Settings::default(), NOW).is_err());
}

#[test]
fn nonce_when_required() {
    let key = Key::ec();
    let m = |c: Value| mint(&key, &header(&key), &c);
    let nk = NonceKey::new(&[3u8; 32], 60).unwrap();
    let r = Request {
        nonce: Some(&nk),
        ..req()
    };
    let go = |p: &[u8]| check_proof(p, &r, &Settings::default(), NOW);
    assert_eq!(go(&m(claims())).unwrap_err().reason, Reason::DpopNonce);
    assert_eq!(
        go(&m(with_claim("nonce", json!("stale")))).unwrap_err().reason,
        Reason::DpopNonce
    );
    let other = NonceKey::new(&[4u8; 32], 60).unwrap().issue(NOW);
    assert_eq!(
        go(&m(with_claim("nonce", json!(other)))).unwrap_err().reason,
        Reason::DpopNonce
    );
    assert!(go(&m(with_claim("nonce", json!(nk.issue(NOW))))).is_ok());
    // A bad proof with a good nonce is refused for the proof (nonce checked last).
    let mut c = with_claim("nonce", json!(nk.issue(NOW)));
    c["htm"] = json!("POST");
    assert_eq!(go(&m(c)).unwrap_err().reason, Reason::DpopProof);
}

fn verified(payload: Value) -> Verified {
    let times = Times {
        exp: NOW + 60,
        nbf: None,
        iat: None,
    };
    Verified::from_texts(
        r#"{"alg":"RS256","typ":"at+jwt"}"#,
        &payload.to_string(),
        crate::Algorithm::RS256,
        times,
        KeyRef { set: 0, key: 0 },
    )
    .unwrap()
}

#[test]
fn token_jkt_reads_cnf() {
    assert_eq!(token_jkt(&verified(json!({"sub": "x"}))).unwrap(), None);
    assert_eq!(
        token_jkt(&verified(json!({"cnf": {"x5t#S256": "a"}}))).unwrap(),
        None
    );
    assert_eq!(
        token_jkt(&verified(json!({"cnf": {"jkt": "abc"}}))).unwrap(),
        Some("abc".into())
    );
    assert_eq!(
        token_jkt(&verified(json!({"cnf": "abc"}))).unwrap_err().reason,
        Reason::DpopBinding
    );
    assert_eq!(
        token_jkt(&verified(json!({"cnf": {"jkt": 1}})))
            .unwrap_err()
            .reason,
        Reason::DpopBinding
    );
}

#[test]
fn binding_rules_of_each_mode() {
    use Mode::*;
    use Scheme::*;
    let b = |m, s, t: Option<&str>, p: Option<&str>| check_binding(m, s, t, p).map_err(|r| r.reason);
    // off: as before, cnf.jkt not looked at.
    assert_eq!(b(Off, Bearer, Some("k"), None), Ok(()));
    // on: DPoP only, the token bound to the proof's key.
    assert_eq!(b(On, Bearer, None, None), Err(Reason::DpopBinding));
    assert_eq!(b(On, Dpop, Some("k"), Some("k")), Ok(()));
    assert_eq!(b(On, Dpop, Some("k"), Some("other")), Err(Reason::DpopBinding));
    assert_eq!(b(On, Dpop, None, Some("k")), Err(Reason::DpopBinding));
    assert_eq!(b(On, Dpop, Some("k"), None), Err(Reason::DpopProof));
    // optional: unbound Bearer passes, a bound token as Bearer does not (no downgrade).
    assert_eq!(b(Optional, Bearer, None, None), Ok(()));
    assert_eq!(b(Optional, Bearer, Some("k"), None), Err(Reason::DpopBinding));
    assert_eq!(b(Optional, Dpop, Some("k"), Some("k")), Ok(()));
    assert_eq!(b(Optional, Dpop, Some("x"), Some("k")), Err(Reason::DpopBinding));
}

#[test]
fn dpop_authorization_scheme() {
    assert_eq!(from_authorization(b"DPoP abc.def.ghi"), Ok(&b"abc.def.ghi"[..]));
    assert_eq!(from_authorization(b"dpop  abc"), Ok(&b"abc"[..]));
    assert_eq!(from_authorization(b"Bearer abc"), Err(BearerError::NotBearer));
    assert_eq!(from_authorization(b"DPoPabc"), Err(BearerError::NotBearer));
    assert_eq!(from_authorization(b"DPoP"), Err(BearerError::Invalid));
    assert_eq!(from_authorization(b"DPoP a b"), Err(BearerError::Invalid));
}

#[test]
fn a_proof_is_never_an_access_token_but_at_jwt_is() {
    use crate::verify::check_header;
    let allowed = AlgSet::default();
    let h = |typ: &str| json!({"alg": "ES256", "typ": typ}).as_object().unwrap().clone();
    for t in ["dpop+jwt", "application/dpop+jwt", "DPOP+JWT"] {
        let r = check_header(&h(t), allowed).unwrap_err();
        assert_eq!(r.reason, Reason::Malformed);
        assert!(r.to_string().contains("DPoP proof"), "{r}");
    }
    for t in ["at+jwt", "application/at+jwt", "JWT"] {
        assert!(check_header(&h(t), allowed).is_ok(), "{t}");
    }
}

#[test]
fn no_proof_refusal_is_lasting() {
    for r in [
        Reason::DpopProof,
        Reason::DpopReplay,
        Reason::DpopNonce,
        Reason::DpopBinding,
        Reason::DpopFull,
    ] {
        assert!(Rejection::new(r, "x").lasting().is_none(), "{r}");
        assert!(r.is_dpop());
    }
}

#[test]
fn review_jwk_of_one_kty_alg_of_another_and_off_curve_points() {
    let ec = Key::ec();
    // An EC key named with an RSA or EdDSA alg, an Ed25519 key named ES256: refused before
    // any signature check.
    for alg in ["RS256", "PS256", "EdDSA", "Ed25519"] {
        let mut h = header(&ec);
        h["alg"] = json!(alg);
        let r = check(&mint(&ec, &h, &claims())).unwrap_err();
        assert_eq!(r.reason, Reason::DpopProof, "{alg}: {r}");
    }
    let ed = Key::ed();
    let mut h = header(&ed);
    h["alg"] = json!("ES256");
    refused(&mint(&ed, &h, &claims()), Reason::DpopProof, "");
    // A point not on P-256 (y changed by one): never a usable key, whatever signs the proof.
    let mut h = header(&ec);
    let mut y = b64::decode(h["jwk"]["y"].as_str().unwrap().as_bytes()).unwrap();
    y[31] ^= 1;
    h["jwk"]["y"] = json!(b64::encode(&y));
    refused(&mint(&ec, &h, &claims()), Reason::DpopProof, "");
    // A P-384 curve name on a P-256 point.
    let mut h = header(&ec);
    h["jwk"]["crv"] = json!("P-384");
    refused(&mint(&ec, &h, &claims()), Reason::DpopProof, "");
}

/// The cost of a proof check and of its pieces, in µs (a measurement, not a test: run with
/// `cargo test --release -p jwt_peer_auth_core proof_check_cost -- --ignored --nocapture`).
#[test]
#[ignore]
fn proof_check_cost() {
    use std::hint::black_box;
    use std::time::Instant;
    let key = Key::ec();
    let proof = mint(&key, &header(&key), &claims());
    let token_sha256 = crate::digest::token(TOKEN);
    let n = 3000;
    let time = |what: &str, f: &mut dyn FnMut()| {
        for _ in 0..n / 10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{what:<40} {:>8.2} µs",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    };
    let s = Settings::default();
    time("check_proof (token hashed)", &mut || {
        black_box(check_proof(black_box(&proof), &req(), &s, NOW).unwrap());
    });
    let r = Request {
        access_token_digest: Some(&token_sha256),
        ..req()
    };
    time("check_proof (token digest given)", &mut || {
        black_box(check_proof(black_box(&proof), &r, &s, NOW).unwrap());
    });
    let [h, p, sig] = verify::split(&proof).unwrap();
    let header = json::parse_object(&b64::decode(h).unwrap()).unwrap();
    let jwk_value = header.get("jwk").unwrap().clone();
    let k = jwk::parse_public(&jwk_value).unwrap();
    let sig = b64::decode(sig).unwrap();
    let input = &proof[..h.len() + 1 + p.len()];
    time("signature only (ES256)", &mut || {
        black_box(verify_signature(&k, Algorithm::ES256, black_box(input), &sig));
    });
    time("header: base64 + JSON", &mut || {
        black_box(json::parse_object(&b64::decode(h).unwrap()).unwrap());
    });
    time("payload: base64 + JSON", &mut || {
        black_box(json::parse_object(&b64::decode(p).unwrap()).unwrap());
    });
    time("jwk::parse_public", &mut || {
        black_box(jwk::parse_public(black_box(&jwk_value)).unwrap());
    });
    let obj = jwk_value.as_object().unwrap();
    time("thumbprint", &mut || {
        black_box(thumbprint(black_box(obj)).unwrap());
    });
    time("htu::normalize (once)", &mut || {
        black_box(htu::normalize(black_box(URL)).unwrap());
    });
    let token = vec![b'a'; 800];
    time("ath of an 800-byte token", &mut || {
        black_box(ath(black_box(&token)));
    });
    time("replay::key", &mut || {
        black_box(replay::key(
            black_box("0123456789012345678901234567890123456789012"),
            "j-1",
        ));
    });
}

#[test]
fn thumbprint_escapes_members_as_json_requires() {
    let jwk = json!({"kty": "OKP", "crv": "Ed\"25519\\", "x": "a\u{1}b"});
    let text = r#"{"crv":"Ed\"25519\\","kty":"OKP","x":"a\u0001b"}"#;
    assert_eq!(
        thumbprint(jwk.as_object().unwrap()).unwrap(),
        b64::encode(digest(&SHA256, text.as_bytes()).as_ref())
    );
}
