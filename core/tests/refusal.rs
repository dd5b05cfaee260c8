//! What a per-worker refusal cache may remember (`Rejection::lasting`), checked against
//! verification itself: a remembered refusal, answered again later with `Lasting::at`, is
//! exactly what verifying the same token afresh with the same keys and policy answers then.

mod common;

use common::*;
use jwt_peer_auth_core::{b64, verify, AlgSet, Algorithm, KeySet, Lasting, Policy, Reason, Rejection};
use serde_json::json;

fn set(keys: &[&TestKey]) -> KeySet {
    KeySet::parse(jwks(keys).as_bytes()).expect("test jwks")
}

fn corrupt(t: &str) -> String {
    // Flip one bit in the middle of the signature (still canonical base64url).
    let (input, sig) = t.rsplit_once('.').unwrap();
    let mut sig = b64::decode(sig.as_bytes()).unwrap();
    let mid = sig.len() / 2;
    sig[mid] ^= 1;
    format!("{input}.{}", b64::encode(&sig))
}

/// Tokens refused for every reason verification can give, with the policy they are checked under.
fn refused_tokens(t0: i64) -> Vec<(&'static str, String, Policy)> {
    let k = keys();
    let p = Policy::default();
    let claims = |extra: serde_json::Value| {
        let mut c = json!({"sub": "peer-1", "iat": t0, "exp": t0 + 3600});
        for (name, v) in extra.as_object().unwrap() {
            c[name] = v.clone();
        }
        c
    };
    let rs_only = Policy {
        algorithms: AlgSet::empty().with(Algorithm::RS256),
        leeway: 0,
    };
    vec![
        ("bad signature", corrupt(&sign(&k.rsa, &claims(json!({})))), p),
        (
            "bad signature ES256",
            corrupt(&sign(&k.es256, &claims(json!({})))),
            p,
        ),
        (
            "bad signature EdDSA",
            corrupt(&sign(&k.ed, &claims(json!({})))),
            p,
        ),
        (
            "empty signature",
            {
                let t = sign(&k.rsa, &claims(json!({})));
                format!("{}.", t.rsplit_once('.').unwrap().0)
            },
            p,
        ),
        ("two parts", "abc.def".to_owned(), p),
        (
            "header not JSON",
            format!("{}.e30.c2ln", b64::encode(b"{nope")),
            p,
        ),
        (
            "crit",
            rsa_raw(
                &k.rsa,
                r#"{"alg":"RS256","kid":"rsa-1","crit":["x"]}"#,
                "{}",
                false,
            ),
            p,
        ),
        (
            "payload not JSON",
            rsa_raw(&k.rsa, r#"{"alg":"RS256","kid":"rsa-1"}"#, "[1]", false),
            p,
        ),
        (
            "exp not a number",
            sign(&k.rsa, &claims(json!({"exp": "soon"}))),
            p,
        ),
        ("expired", sign(&k.rsa, &claims(json!({"exp": t0 - 10}))), p),
        (
            "expired within leeway's reach",
            sign(&k.rsa, &claims(json!({"exp": t0 - 10}))),
            Policy { leeway: 5, ..p },
        ),
        (
            "expired and not yet valid",
            sign(&k.es256, &claims(json!({"exp": t0 - 1, "nbf": t0 + 60}))),
            p,
        ),
        ("not yet valid", sign(&k.rsa, &claims(json!({"nbf": t0 + 60}))), p),
        (
            "unknown kid",
            sign_as(&k.rsa, k.rsa.alg, Some("nobody"), &claims(json!({}))),
            p,
        ),
        ("alg none", raw(r#"{"alg":"none"}"#, "{}", b""), p),
        ("alg not allowed", sign(&k.es256, &claims(json!({}))), rs_only),
        ("no exp", sign(&k.rsa, &json!({"sub": "peer-1"})), p),
    ]
}

#[test]
fn a_lasting_refusal_is_what_verification_answers_later() {
    let k = keys();
    let ks = set(&[&k.rsa, &k.es256, &k.ed]);
    let t0 = now();
    let mut lasting = 0;
    for (name, token, policy) in refused_tokens(t0) {
        let first = verify(token.as_bytes(), &[&ks], &policy, t0).expect_err(name);
        let Some(l) = first.lasting() else { continue };
        lasting += 1;
        assert_eq!(l.at(t0).as_ref(), Some(&first), "{name}: answered again at once");
        for later in [t0 + 1, t0 + 61, t0 + 3601, t0 + 86_400 * 400] {
            let fresh = verify(token.as_bytes(), &[&ks], &policy, later).expect_err(name);
            assert_eq!(l.at(later), Some(fresh), "{name}: at {later}");
        }
    }
    assert_eq!(lasting, 12, "the refusals above that may be remembered");
}

#[test]
fn only_malformed_signature_and_expired_last() {
    let k = keys();
    let ks = set(&[&k.rsa, &k.es256, &k.ed]);
    let t0 = now();
    for (name, token, policy) in refused_tokens(t0) {
        let r = verify(token.as_bytes(), &[&ks], &policy, t0).expect_err(name);
        let expect = matches!(r.reason, Reason::Malformed | Reason::Signature | Reason::Expired);
        assert_eq!(r.lasting().is_some(), expect, "{name}: {r}");
    }
    // The refusals made outside verification never last either.
    let empty = KeySet::default();
    let token = sign(&k.rsa, &good_claims());
    let no_keys = verify(token.as_bytes(), &[&empty], &Policy::default(), t0).unwrap_err();
    assert_eq!(no_keys.reason, Reason::NoKeys);
    for r in [
        no_keys,
        Rejection::new(
            Reason::Claim,
            "a \"jwt_peer_auth_require\" value is empty or \"0\"",
        ),
        Rejection::with_value(Reason::Revoked, "listed on the revocation list:", "identifier"),
        Rejection::new(Reason::Binding, "no client certificate"),
        Rejection::new(Reason::Missing, "no \"Authorization\" header"),
        Rejection::new(
            Reason::InvalidRequest,
            "\"Authorization: Bearer\" is not exactly one token",
        ),
        Rejection::new(Reason::NotYetValid, "x"),
        Rejection::new(Reason::UnknownKid, "no key with this kid after a refetch"),
        Rejection::new(Reason::Algorithm, "x"),
        // A detail with a value from the token would need heap memory: not remembered.
        Rejection::with_value(Reason::Malformed, "x", "y"),
    ] {
        assert_eq!(r.lasting(), None, "{r}");
    }
}

#[test]
fn an_expired_refusal_does_not_outlive_a_clock_that_went_back() {
    let k = keys();
    let ks = set(&[&k.rsa]);
    let t0 = now();
    let token = sign(&k.rsa, &json!({"exp": t0 - 10}));
    let l = verify(token.as_bytes(), &[&ks], &Policy::default(), t0)
        .unwrap_err()
        .lasting()
        .unwrap();
    assert_eq!(
        l,
        Lasting::Expired {
            exp: t0 - 10,
            leeway: 0
        }
    );
    assert!(l.at(t0 - 10).is_some(), "expired at exp itself");
    assert_eq!(l.at(t0 - 11), None, "before exp: verify again");
    assert!(verify(token.as_bytes(), &[&ks], &Policy::default(), t0 - 11).is_ok());
}

#[test]
fn a_signature_refusal_holds_only_for_the_keys_it_was_made_with() {
    // Why a cache keys refusals by key source and generation: the same bytes refused under one
    // key set verify under the next (the signer's key arrived with a rotation).
    let k = keys();
    let token = sign_as(&k.rsa_other, k.rsa_other.alg, Some("rsa-1"), &good_claims());
    let old = set(&[&k.rsa]);
    let r = verify(token.as_bytes(), &[&old], &Policy::default(), now()).unwrap_err();
    assert_eq!(r.reason, Reason::Signature);
    assert!(r.lasting().is_some());
    let mut rotated: serde_json::Value = k.rsa_other.jwk.clone();
    rotated["kid"] = json!("rsa-1");
    let new = KeySet::parse(json!({"keys": [rotated]}).to_string().as_bytes()).unwrap();
    assert!(verify(token.as_bytes(), &[&new], &Policy::default(), now()).is_ok());
}
