//! The key ring ([`KeyRing`]) and the parsed view ([`Token`]) the module's request path uses:
//! verification through them answers exactly as [`verify_bound`] with parallel slices, parses
//! the token once, and keeps the verified `iss` for the token cache.

mod common;

use common::*;
use jwt_peer_auth_core::token::Token;
use jwt_peer_auth_core::verify::{verify_ring, KeyRing};
use jwt_peer_auth_core::{verify_bound, KeySet, Policy, Reason};
use serde_json::{json, Value};

fn set_as(key: &TestKey, kid: &str) -> KeySet {
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!(kid);
    KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).expect("test jwks")
}

fn token(key: &TestKey, kid: &str, iss: Option<Value>) -> String {
    let mut c = good_claims();
    if let Some(iss) = iss {
        c["iss"] = iss;
    }
    sign_as(key, key.alg, Some(kid), &c)
}

#[test]
fn a_full_ring_refuses_more() {
    let k = keys();
    let a = set_as(&k.rsa, "k1");
    let mut ring: KeyRing<'_, u8, 2> = KeyRing::default();
    assert!(ring.is_empty());
    assert!(ring.push(Some(&a), None, 1));
    assert!(ring.push(None, Some("B"), 2));
    assert!(!ring.push(Some(&a), None, 3), "no room: nothing added");
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.sources().collect::<Vec<_>>(), [1, 2]);
    assert!(ring
        .get(1)
        .is_some_and(|e| e.keys.is_empty() && e.issuer == Some("B")));
    assert!(ring.get(2).is_none());
}

#[test]
fn the_ring_verifies_as_parallel_slices_do() {
    let k = keys();
    let (a, b) = (set_as(&k.rsa, "k1"), set_as(&k.rsa_other, "k1"));
    let empty = KeySet::default();
    let tokens = [
        token(&k.rsa, "k1", Some(json!("A"))),
        token(&k.rsa_other, "k1", Some(json!("B"))),
        token(&k.rsa_other, "k1", Some(json!("A"))),
        token(&k.rsa, "k1", None),
        token(&k.rsa, "k2", Some(json!("A"))),
        token(&k.rsa, "k1", Some(json!(7))),
        "not.a.token".to_owned(),
    ];
    // Each shape of ring: bound, unbound, with a source without keys.
    let shapes: [(&[&KeySet], &[Option<&str>]); 4] = [
        (&[&a, &b], &[Some("A"), Some("B")]),
        (&[&b, &a], &[Some("B"), None]),
        (&[&empty, &a], &[Some("B"), Some("A")]),
        (&[&a], &[None]),
    ];
    for t in &tokens {
        for (sets, issuers) in shapes {
            let want = verify_bound(t.as_bytes(), sets, issuers, &Policy::default(), now());
            let mut ring: KeyRing<'_, usize, 8> = KeyRing::default();
            for (n, (s, i)) in sets.iter().zip(issuers).enumerate() {
                let keys = (!s.is_empty()).then_some(*s);
                assert!(ring.push(keys, *i, n));
            }
            let got = verify_ring(&mut Token::new(t.as_bytes()), &ring, &Policy::default(), now());
            match (want, got) {
                (Ok(w), Ok(g)) => {
                    assert_eq!(w.key, g.key);
                    assert_eq!(w.payload(), g.payload());
                    assert_eq!(w.header_text(), g.header_text());
                    assert_eq!(ring.get(g.key.set).map(|e| e.source), Some(g.key.set));
                }
                (Err(w), Err(g)) => assert_eq!(w, g, "{t}"),
                (w, g) => panic!("{t}: {w:?} against {g:?}"),
            }
        }
    }
}

#[test]
fn a_verified_token_keeps_its_issuer_and_its_parsed_parts() {
    let k = keys();
    let a = set_as(&k.rsa, "k1");
    let mut ring: KeyRing<'_, (), 1> = KeyRing::default();
    ring.push(Some(&a), Some("https://a.example/"), ());
    let t = token(&k.rsa, "k1", Some(json!("https://a.example/")));
    let mut view = Token::new(t.as_bytes());
    // The issuer filter and the check before keys read the view first; verification reuses it.
    assert_eq!(view.claimed_issuer(), Some("https://a.example/"));
    assert!(view.precheck(&Policy::default()).is_ok());
    let v = verify_ring(&mut view, &ring, &Policy::default(), now()).expect("verifies");
    assert_eq!(v.issuer(), Some("https://a.example/"));
    assert_eq!(v.claims().get("iss"), Some(&json!("https://a.example/")));
    assert_eq!(v.kid(), Some("k1"));
    // The cached part alone (a token-cache hit) has the same issuer and texts.
    let again = jwt_peer_auth_core::Verified::from_checked(v.checked().clone());
    assert_eq!(again.issuer(), Some("https://a.example/"));
    assert_eq!(again.claims(), v.claims());

    // No string `iss`: none kept, the payload text unchanged.
    let mut ring: KeyRing<'_, (), 1> = KeyRing::default();
    ring.push(Some(&a), None, ());
    for iss in [None, Some(json!(["x"]))] {
        let t = token(&k.rsa, "k1", iss);
        let v = verify_ring(&mut Token::new(t.as_bytes()), &ring, &Policy::default(), now()).unwrap();
        assert_eq!(v.issuer(), None);
        assert!(v.payload().ends_with('}'));
    }
}

#[test]
fn a_bad_payload_is_refused_after_the_signature_as_before() {
    let k = keys();
    let a = set_as(&k.rsa, "k1");
    let mut ring: KeyRing<'_, (), 1> = KeyRing::default();
    ring.push(Some(&a), Some("A"), ());
    // A payload that is not JSON: the issuer filter finds no `iss`, so the only source, bound
    // to A, is for no token of this issuer: refused as such, before any signature work.
    let t = rsa_raw(&k.rsa, r#"{"alg":"RS256","kid":"k1"}"#, "not json", false);
    let r = verify_ring(&mut Token::new(t.as_bytes()), &ring, &Policy::default(), now()).unwrap_err();
    assert_eq!(r.reason, Reason::Claim);
    let mut ring: KeyRing<'_, (), 1> = KeyRing::default();
    ring.push(Some(&a), None, ());
    let r = verify_ring(&mut Token::new(t.as_bytes()), &ring, &Policy::default(), now()).unwrap_err();
    assert_eq!(r.reason, Reason::Malformed);
    assert_eq!(
        r,
        verify_bound(t.as_bytes(), &[&a], &[None], &Policy::default(), now()).unwrap_err()
    );
}
