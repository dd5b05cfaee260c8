//! The verification core against tokens minted at test time by an independent implementation
//! (jsonwebtoken) and hand-made hostile tokens.

mod common;

use common::*;
use jwt_peer_auth_core::{b64, verify, AlgSet, Algorithm, KeySet, Policy, Reason};
use serde_json::json;

fn set(keys: &[&TestKey]) -> KeySet {
    KeySet::parse(jwks(keys).as_bytes()).expect("test jwks")
}

fn all_keys() -> KeySet {
    let k = keys();
    set(&[&k.rsa, &k.es256, &k.es384, &k.ed])
}

fn check(token: &str, ks: &KeySet, policy: &Policy) -> Result<jwt_peer_auth_core::Verified, Reason> {
    verify(token.as_bytes(), &[ks], policy, now()).map_err(|r| r.reason)
}

fn reason(token: &str) -> Reason {
    check(token, &all_keys(), &Policy::default()).expect_err("token must be refused")
}

#[test]
fn accepts_every_default_algorithm() {
    let k = keys();
    let ks = all_keys();
    let p = Policy::default();
    for alg in [
        jsonwebtoken::Algorithm::RS256,
        jsonwebtoken::Algorithm::RS384,
        jsonwebtoken::Algorithm::RS512,
        jsonwebtoken::Algorithm::PS256,
        jsonwebtoken::Algorithm::PS384,
        jsonwebtoken::Algorithm::PS512,
    ] {
        let t = sign_as(&k.rsa, alg, Some("rsa-1"), &good_claims());
        let v = check(&t, &ks, &p).unwrap_or_else(|r| panic!("{alg:?}: {r}"));
        assert_eq!(v.alg.name(), format!("{alg:?}"));
    }
    for key in [&k.es256, &k.es384, &k.ed] {
        let v = check(&sign(key, &good_claims()), &ks, &p).unwrap();
        assert_eq!(v.kid(), Some(key.kid));
        assert_eq!(v.claims()["sub"], "peer-1");
    }
}

#[test]
fn accepts_real_jwthenticator_token() {
    let jwks = include_str!("fixtures/jwthenticator-jwks.json");
    let token = include_str!("fixtures/jwthenticator-token.jwt").trim();
    let ks = KeySet::parse(jwks.as_bytes()).unwrap();
    // Verify at a fixed moment inside the token's lifetime (it was issued at iat=1795387910).
    let v = verify(token.as_bytes(), &[&ks], &Policy::default(), 1_795_387_970).unwrap();
    assert_eq!(v.claims()["identifier"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(v.times.exp, 1_795_477_910);
    assert_eq!(v.header()["typ"], "JWT");
    // One second past exp it is expired.
    let r = verify(token.as_bytes(), &[&ks], &Policy::default(), 1_795_477_910).unwrap_err();
    assert_eq!(r.reason, Reason::Expired);
    // A flipped signature bit is caught.
    let mut bad = token.to_string();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'Q' } else { 'A' });
    let r = verify(bad.as_bytes(), &[&ks], &Policy::default(), 1_795_387_970).unwrap_err();
    assert!(matches!(r.reason, Reason::Signature | Reason::Malformed), "{r}");
}

#[test]
fn token_without_kid_uses_keys_that_fit_its_alg() {
    let k = keys();
    let ks = set(&[&k.es256, &k.rsa_other, &k.rsa]);
    let t = sign_as(&k.rsa, jsonwebtoken::Algorithm::RS256, None, &good_claims());
    let v = check(&t, &ks, &Policy::default()).unwrap();
    assert_eq!(v.key.key, 2, "verified by the third key");
    let t = sign_as(&k.es256, jsonwebtoken::Algorithm::ES256, None, &good_claims());
    assert!(check(&t, &ks, &Policy::default()).is_ok());
}

#[test]
fn several_key_sets_are_searched() {
    let k = keys();
    let file = set(&[&k.es256]);
    let fetched = set(&[&k.rsa]);
    let t = sign(&k.rsa, &good_claims());
    let v = verify(t.as_bytes(), &[&file, &fetched], &Policy::default(), now()).unwrap();
    assert_eq!((v.key.set, v.key.key), (1, 0));
}

#[test]
fn time_claims() {
    let k = keys();
    let n = now();
    assert_eq!(reason(&sign(&k.rsa, &json!({"exp": n - 1}))), Reason::Expired);
    assert_eq!(reason(&sign(&k.rsa, &json!({"exp": n}))), Reason::Expired);
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": n + 60, "nbf": n + 30}))),
        Reason::NotYetValid
    );
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"iat": n}))),
        Reason::Claim,
        "exp is required"
    );
    // Leeway covers small skews both ways.
    let lenient = Policy {
        leeway: 10,
        ..Policy::default()
    };
    let ks = all_keys();
    assert!(check(&sign(&k.rsa, &json!({"exp": n - 5})), &ks, &lenient).is_ok());
    assert!(check(
        &sign(&k.rsa, &json!({"exp": n + 60, "nbf": n + 5})),
        &ks,
        &lenient
    )
    .is_ok());
    assert_eq!(
        check(&sign(&k.rsa, &json!({"exp": n - 11})), &ks, &lenient).unwrap_err(),
        Reason::Expired
    );
    // A future iat alone is not refused (clocks of peers differ); its type is checked.
    assert!(check(
        &sign(&k.rsa, &json!({"exp": n + 60, "iat": n + 30})),
        &ks,
        &Policy::default()
    )
    .is_ok());
}

#[test]
fn bad_time_claim_types() {
    let k = keys();
    let n = now();
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": (n + 60).to_string()}))),
        Reason::Malformed
    );
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": (n + 60) as f64 + 0.5}))),
        Reason::Malformed
    );
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": u64::MAX}))),
        Reason::Malformed
    );
    assert_eq!(reason(&sign(&k.rsa, &json!({"exp": -1}))), Reason::Expired);
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": n + 60, "nbf": "soon"}))),
        Reason::Malformed
    );
    assert_eq!(
        reason(&sign(&k.rsa, &json!({"exp": n + 60, "iat": null}))),
        Reason::Malformed
    );
}

#[test]
fn forged_signatures() {
    let k = keys();
    let good = sign(&k.rsa, &good_claims());
    // Flip one bit in the middle of the signature.
    let dot = good.rfind('.').unwrap();
    let mut bytes = good.into_bytes();
    let i = dot + 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(reason(std::str::from_utf8(&bytes).unwrap()), Reason::Signature);
    // Signed by another key but claiming our kid.
    let other = sign_as(
        &k.rsa_other,
        jsonwebtoken::Algorithm::RS256,
        Some("rsa-1"),
        &good_claims(),
    );
    assert_eq!(reason(&other), Reason::Signature);
    // Unknown kid.
    assert_eq!(reason(&sign(&k.rsa_other, &good_claims())), Reason::UnknownKid);
    // Payload swapped under a valid header and signature.
    let t = sign(&k.rsa, &good_claims());
    let parts: Vec<&str> = t.split('.').collect();
    let evil = jwt_peer_auth_core::b64::encode(br#"{"sub":"admin","exp":9999999999}"#);
    assert_eq!(
        reason(&format!("{}.{}.{}", parts[0], evil, parts[2])),
        Reason::Signature
    );
    // Empty signature.
    assert_eq!(reason(&format!("{}.{}.", parts[0], parts[1])), Reason::Signature);
}

#[test]
fn algorithm_policy() {
    let k = keys();
    let exp = now() + 60;
    let payload = format!(r#"{{"exp":{exp}}}"#);
    for none in ["none", "None", "NONE"] {
        let t = raw(&format!(r#"{{"alg":"{none}","kid":"rsa-1"}}"#), &payload, b"");
        assert_eq!(reason(&t), Reason::Algorithm, "{none}");
    }
    // HS256 with the RSA public key bytes as the secret (the classic confusion attack).
    for secret in [k.rsa.public_der.clone(), pem(&k.rsa.public_der).into_bytes()] {
        let t = hs256(r#"{"alg":"HS256","kid":"rsa-1"}"#, &payload, &secret);
        assert_eq!(reason(&t), Reason::Algorithm);
        // Even when HS256 is allowed, an RSA key never verifies an HMAC.
        let p = Policy {
            algorithms: AlgSet::default().with(Algorithm::HS256),
            leeway: 0,
        };
        assert_eq!(check(&t, &all_keys(), &p).unwrap_err(), Reason::Algorithm);
    }
    // Outside a narrowed allow-list.
    let only_es = Policy {
        algorithms: AlgSet::parse(["ES256"]).unwrap(),
        leeway: 0,
    };
    assert_eq!(
        check(&sign(&k.rsa, &good_claims()), &all_keys(), &only_es).unwrap_err(),
        Reason::Algorithm
    );
    // Unknown algorithm name.
    assert_eq!(
        reason(&raw(r#"{"alg":"RS1","kid":"rsa-1"}"#, &payload, b"x")),
        Reason::Algorithm
    );
    // A key pinned to RS256 does not verify PS256.
    let mut pinned = k.rsa.jwk.clone();
    pinned["alg"] = json!("RS256");
    let ks = KeySet::parse(json!({"keys": [pinned]}).to_string().as_bytes()).unwrap();
    let ps = sign_as(
        &k.rsa,
        jsonwebtoken::Algorithm::PS256,
        Some("rsa-1"),
        &good_claims(),
    );
    assert_eq!(
        check(&ps, &ks, &Policy::default()).unwrap_err(),
        Reason::Algorithm
    );
    // RS256 header over a PS256 signature and the reverse.
    let h_rs = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let h_ps = r#"{"alg":"PS256","kid":"rsa-1"}"#;
    let t = rsa_raw(&k.rsa, h_rs, &payload, true);
    assert_eq!(reason(&t), Reason::Signature);
    let t = rsa_raw(&k.rsa, h_ps, &payload, false);
    assert_eq!(reason(&t), Reason::Signature);
    // And both, correctly signed, pass.
    assert!(check(
        &rsa_raw(&k.rsa, h_rs, &payload, false),
        &all_keys(),
        &Policy::default()
    )
    .is_ok());
    assert!(check(
        &rsa_raw(&k.rsa, h_ps, &payload, true),
        &all_keys(),
        &Policy::default()
    )
    .is_ok());
}

#[test]
fn hmac_only_with_oct_keys_and_only_when_listed() {
    let k = keys();
    let oct = json!({"keys": [{"kty": "oct", "kid": "shared", "k": jwt_peer_auth_core::b64::encode(&k.hmac_secret)}]});
    let ks = KeySet::parse(oct.to_string().as_bytes()).unwrap();
    let payload = format!(r#"{{"exp":{}}}"#, now() + 60);
    let t = hs256(r#"{"alg":"HS256","kid":"shared"}"#, &payload, &k.hmac_secret);
    assert_eq!(
        check(&t, &ks, &Policy::default()).unwrap_err(),
        Reason::Algorithm,
        "not by default"
    );
    let p = Policy {
        algorithms: AlgSet::parse(["HS256"]).unwrap(),
        leeway: 0,
    };
    assert!(check(&t, &ks, &p).is_ok());
    let wrong = hs256(
        r#"{"alg":"HS256","kid":"shared"}"#,
        &payload,
        b"another secret of thirty-two byte",
    );
    assert_eq!(check(&wrong, &ks, &p).unwrap_err(), Reason::Signature);
}

#[test]
fn header_rules() {
    let k = keys();
    let payload = format!(r#"{{"exp":{}}}"#, now() + 60);
    let signed = |h: &str| rsa_raw(&k.rsa, h, &payload, false);
    assert_eq!(
        reason(&signed(r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}"#)),
        Reason::Malformed
    );
    assert_eq!(
        reason(&signed(
            r#"{"alg":"RS256","kid":"rsa-1","b64":false,"crit":["b64"]}"#
        )),
        Reason::Malformed
    );
    assert_eq!(
        reason(&signed(r#"{"alg":"RS256","kid":"rsa-1","b64":false}"#)),
        Reason::Malformed
    );
    assert_eq!(
        reason(&signed(r#"{"alg":"none","alg":"RS256","kid":"rsa-1"}"#)),
        Reason::Malformed
    );
    assert_eq!(reason(&signed(r#"{"alg":"RS256","kid":7}"#)), Reason::Malformed);
    assert_eq!(reason(&signed(r#"{"kid":"rsa-1"}"#)), Reason::Malformed);
    assert_eq!(reason(&signed(r#"["RS256"]"#)), Reason::Malformed);
    // jku / x5u / x5c / jwk never select a key: only configured keys verify.
    let h = r#"{"alg":"RS256","kid":"rsa-1","jku":"http://127.0.0.1:1/evil","x5u":"http://127.0.0.1:1/x","x5c":["AAAA"]}"#;
    assert!(check(&signed(h), &all_keys(), &Policy::default()).is_ok());
    let evil = rsa_raw(
        &k.rsa_other,
        r#"{"alg":"RS256","jku":"http://127.0.0.1:1/jwks","kid":"rsa-2"}"#,
        &payload,
        false,
    );
    assert_eq!(reason(&evil), Reason::UnknownKid);
    let mut evil_jwk = k.rsa_other.jwk.clone();
    evil_jwk["kid"] = json!("rsa-1");
    let h = format!(r#"{{"alg":"RS256","kid":"rsa-1","jwk":{evil_jwk}}}"#);
    assert_eq!(
        reason(&rsa_raw(&k.rsa_other, &h, &payload, false)),
        Reason::Signature
    );
    // Duplicate claims are refused even when signed.
    let dup = rsa_raw(
        &k.rsa,
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        r#"{"exp":1,"exp":9999999999}"#,
        false,
    );
    assert_eq!(reason(&dup), Reason::Malformed);
}

#[test]
fn structure_and_encoding() {
    let k = keys();
    let t = sign(&k.rsa, &good_claims());
    let p: Vec<&str> = t.split('.').collect();
    assert_eq!(reason(&format!("{}.{}", p[0], p[1])), Reason::Malformed);
    assert_eq!(reason(&format!("{t}.x")), Reason::Malformed);
    assert_eq!(reason(&format!("{t}.x.y")), Reason::Malformed, "JWE");
    assert_eq!(reason(&format!(".{}.{}", p[1], p[2])), Reason::Malformed);
    assert_eq!(reason(&format!("{}..{}", p[0], p[2])), Reason::Malformed);
    assert_eq!(reason(&format!("{}=.{}.{}", p[0], p[1], p[2])), Reason::Malformed);
    assert_eq!(
        reason(&format!("{}.{}.{}", p[0].replace('J', "+"), p[1], p[2])),
        Reason::Malformed
    );
    assert_eq!(reason(&format!("{}.{}.{}=", p[0], p[1], p[2])), Reason::Malformed);
    assert_eq!(reason("a.b.c"), Reason::Malformed);
    assert_eq!(reason(""), Reason::Malformed);
    assert_eq!(reason(&"A".repeat(16 * 1024)), Reason::Malformed);
    let big = json!({"exp": now() + 60, "pad": "x".repeat(9000)});
    assert_eq!(
        reason(&sign(&k.rsa, &big)),
        Reason::Malformed,
        "longer than the limit"
    );
}

#[test]
fn no_keys_is_a_server_fault() {
    let k = keys();
    let empty = KeySet::default();
    let r = verify(
        sign(&k.rsa, &good_claims()).as_bytes(),
        &[&empty],
        &Policy::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(r.reason, Reason::NoKeys);
    assert_eq!(r.reason.http_status(), 500);
}

fn pem(der: &[u8]) -> String {
    use std::fmt::Write;
    // Standard base64 with padding, 64 columns, as a PEM file has it.
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b = String::new();
    for c in der.chunks(3) {
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                b.push(STD[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN RSA PUBLIC KEY-----\n");
    for line in b.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", std::str::from_utf8(line).unwrap());
    }
    out.push_str("-----END RSA PUBLIC KEY-----\n");
    out
}

#[test]
fn recheck_applies_the_current_policy_and_clock() {
    let k = keys();
    let ks = all_keys();
    let n = now();
    let v = verify(
        sign(&k.rsa, &json!({"exp": n + 10})).as_bytes(),
        &[&ks],
        &Policy::default(),
        n,
    )
    .unwrap();
    assert!(jwt_peer_auth_core::recheck(&v, &Policy::default(), n).is_ok());
    assert_eq!(
        jwt_peer_auth_core::recheck(&v, &Policy::default(), n + 10)
            .unwrap_err()
            .reason,
        Reason::Expired
    );
    let only_es = Policy {
        algorithms: AlgSet::parse(["ES256"]).unwrap(),
        leeway: 0,
    };
    assert_eq!(
        jwt_peer_auth_core::recheck(&v, &only_es, n).unwrap_err().reason,
        Reason::Algorithm
    );
}

#[test]
fn precheck_refuses_exactly_as_verify_does() {
    let k = keys();
    let ks = all_keys();
    let n = now();
    let policy = Policy::default();
    let t = sign(&k.rsa, &good_claims());
    let p: Vec<&str> = t.split('.').collect();
    let payload = format!(r#"{{"exp":{}}}"#, n + 60);
    let faults = [
        format!("{}.{}", p[0], p[1]),
        format!("{t}.x.y"),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}.{}", b64::encode(b"[1]"), p[1], p[2]),
        "A".repeat(16 * 1024),
        // Header faults, with a real signature: only the header is wrong.
        rsa_raw(
            &k.rsa,
            r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#,
            &payload,
            false,
        ),
        rsa_raw(&k.rsa, r#"{"alg":"RS256","kid":7}"#, &payload, false),
        // alg not allowed by the policy (HS256 is not in the default list), unknown, none.
        hs256(r#"{"alg":"HS256","kid":"rsa-1"}"#, &payload, &k.hmac_secret),
        raw(r#"{"alg":"XS256"}"#, &payload, b"sig"),
        raw(r#"{"alg":"nOnE"}"#, &payload, b""),
    ];
    for token in &faults {
        let pre = jwt_peer_auth_core::precheck(token.as_bytes(), &policy).expect_err(token);
        let full = verify(token.as_bytes(), &[&ks], &policy, n).expect_err(token);
        assert_eq!(pre, full, "{token}");
    }
    let not_allowed = jwt_peer_auth_core::precheck(faults[7].as_bytes(), &policy).unwrap_err();
    assert_eq!(not_allowed.reason, Reason::Algorithm);
    assert_eq!(not_allowed.to_string(), "algorithm (alg not allowed \"HS256\")");

    // A valid token passes; so do tokens whose faults need keys, a signature or the payload.
    assert!(jwt_peer_auth_core::precheck(t.as_bytes(), &policy).is_ok());
    assert!(verify(t.as_bytes(), &[&ks], &policy, n).is_ok());
    let needs_keys = [
        sign_as(
            &k.rsa,
            jsonwebtoken::Algorithm::RS256,
            Some("nobody"),
            &good_claims(),
        ),
        format!("{}.{}.{}", p[0], p[1], b64::encode(b"forged")),
        rsa_raw(&k.rsa, r#"{"alg":"RS256","kid":"rsa-1"}"#, r#"{"exp":1}"#, false),
    ];
    for token in &needs_keys {
        assert!(
            jwt_peer_auth_core::precheck(token.as_bytes(), &policy).is_ok(),
            "{token}"
        );
        assert!(verify(token.as_bytes(), &[&ks], &policy, n).is_err(), "{token}");
    }
}

#[test]
fn hmac_key_shorter_than_the_hash_never_verifies() {
    // RFC 7518 §3.2: a 48-byte key is enough for HS384, not for HS512, even with a valid tag.
    let secret = [9u8; 48];
    let jwks = json!({"keys": [{"kty": "oct", "kid": "k48", "k": b64::encode(&secret)}]});
    let ks = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
    let policy = Policy {
        algorithms: AlgSet::parse(["HS384", "HS512"]).unwrap(),
        leeway: 0,
    };
    let payload = format!(r#"{{"exp":{}}}"#, now() + 60);
    let tagged = |alg: &str, h: ring::hmac::Algorithm| {
        let input = format!(
            "{}.{}",
            b64::encode(format!(r#"{{"alg":"{alg}","kid":"k48"}}"#).as_bytes()),
            b64::encode(payload.as_bytes())
        );
        let tag = ring::hmac::sign(&ring::hmac::Key::new(h, &secret), input.as_bytes());
        format!("{input}.{}", b64::encode(tag.as_ref()))
    };
    assert!(check(&tagged("HS384", ring::hmac::HMAC_SHA384), &ks, &policy).is_ok());
    let r = verify(
        tagged("HS512", ring::hmac::HMAC_SHA512).as_bytes(),
        &[&ks],
        &policy,
        now(),
    )
    .unwrap_err();
    assert_eq!(
        r.to_string(),
        "algorithm (the key with this kid does not allow alg \"HS512\")"
    );
}

#[test]
fn a_cached_token_reads_as_the_fresh_one() {
    // The token cache keeps only `Checked` (the texts and the parsed fields the checks need);
    // a request's `Verified` made from it parses header and claims again, to the same values.
    let k = keys();
    let ks = all_keys();
    let claims = json!({"sub": "peer-1", "aud": ["a", "b"], "cnf": {"x5t#S256": "abc"},
        "identifier": "11111111-2222-3333-4444-555555555555", "iat": now(), "exp": now() + 60});
    for key in [&k.rsa, &k.es256, &k.ed] {
        let token = sign(key, &claims);
        let fresh = check(&token, &ks, &Policy::default()).unwrap();
        let cached = jwt_peer_auth_core::Verified::from_checked(fresh.checked().clone());
        assert_eq!(cached.claims(), fresh.claims());
        assert_eq!(cached.header(), fresh.header());
        assert_eq!(cached.kid(), Some(key.kid));
        assert_eq!(
            (cached.alg, cached.times, cached.key),
            (fresh.alg, fresh.times, fresh.key)
        );
        // The texts exactly as signed.
        let mut parts = token.split('.');
        let header = b64::decode(parts.next().unwrap().as_bytes()).unwrap();
        let payload = b64::decode(parts.next().unwrap().as_bytes()).unwrap();
        assert_eq!(cached.header_text().as_bytes(), header);
        assert_eq!(cached.payload().as_bytes(), payload);
    }
}
