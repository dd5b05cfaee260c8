//! Key sets bound to an issuer (`jwt_peer_auth_jwks_file path issuer=...`,
//! `jwt_peer_auth_key_request uri issuer=...`): a key of a bound set only verifies tokens whose
//! verified `iss` is that issuer, whatever the `kid`.

mod common;

use common::*;
use jwt_peer_auth_core::verify::{check_issuer, issuer_allows, unverified_issuer};
use jwt_peer_auth_core::{verify_bound, KeySet, Policy, Reason, Verified};
use serde_json::{json, Value};

/// A set holding `key` under the kid `kid` (two issuers may publish the same kid).
fn set_as(key: &TestKey, kid: &str) -> KeySet {
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!(kid);
    KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).expect("test jwks")
}

fn claims_of(iss: Option<Value>) -> Value {
    let mut c = good_claims();
    if let Some(iss) = iss {
        c["iss"] = iss;
    }
    c
}

fn token(key: &TestKey, kid: &str, iss: Option<Value>) -> String {
    sign_as(key, key.alg, Some(kid), &claims_of(iss))
}

/// The index of the set whose key verified `t`, or why it was refused.
fn run(t: &str, sets: &[&KeySet], issuers: &[Option<&str>]) -> Result<usize, Reason> {
    verify_bound(t.as_bytes(), sets, issuers, &Policy::default(), now())
        .map(|v: Verified| v.key.set)
        .map_err(|r| r.reason)
}

#[test]
fn each_issuer_verifies_with_its_own_keys() {
    let k = keys();
    let (a, b) = (set_as(&k.rsa, "k1"), set_as(&k.rsa_other, "k1"));
    let issuers = [Some("A"), Some("B")];
    assert_eq!(
        run(&token(&k.rsa, "k1", Some(json!("A"))), &[&a, &b], &issuers),
        Ok(0)
    );
    assert_eq!(
        run(&token(&k.rsa_other, "k1", Some(json!("B"))), &[&a, &b], &issuers),
        Ok(1)
    );
}

#[test]
fn issuer_a_signed_with_b_key_is_refused_even_with_the_same_kid() {
    let k = keys();
    let (a, b) = (set_as(&k.rsa, "k1"), set_as(&k.rsa_other, "k1"));
    // B's key, kid that both publish, iss A: A's key does not verify it, B's may not be used.
    let t = token(&k.rsa_other, "k1", Some(json!("A")));
    assert_eq!(
        run(&t, &[&a, &b], &[Some("A"), Some("B")]),
        Err(Reason::Signature)
    );
    // Also in the other order of sets.
    assert_eq!(
        run(&t, &[&b, &a], &[Some("B"), Some("A")]),
        Err(Reason::Signature)
    );
    // Unbound, the same sets accept it: the binding is what refuses it.
    assert!(run(&t, &[&a, &b], &[]).is_ok());
}

#[test]
fn a_token_without_a_string_iss_is_refused_by_bound_sets() {
    let k = keys();
    let a = set_as(&k.rsa, "k1");
    for iss in [None, Some(json!(1)), Some(json!(["A"])), Some(json!(null))] {
        let t = token(&k.rsa, "k1", iss.clone());
        assert_eq!(run(&t, &[&a], &[Some("A")]), Err(Reason::Claim), "iss {iss:?}");
    }
    // An unknown issuer, too.
    let t = token(&k.rsa, "k1", Some(json!("C")));
    assert_eq!(run(&t, &[&a], &[Some("A")]), Err(Reason::Claim));
    // Case and whitespace matter.
    let t = token(&k.rsa, "k1", Some(json!("a")));
    assert_eq!(run(&t, &[&a], &[Some("A")]), Err(Reason::Claim));
}

#[test]
fn an_unbound_set_beside_bound_ones_verifies_any_issuer() {
    let k = keys();
    let (a, any) = (set_as(&k.rsa, "k1"), set_as(&k.es256, "e1"));
    let issuers = [Some("A"), None];
    let t = sign_as(&k.es256, k.es256.alg, Some("e1"), &claims_of(None));
    assert_eq!(run(&t, &[&a, &any], &issuers).unwrap(), 1);
    let t = sign_as(&k.es256, k.es256.alg, Some("e1"), &claims_of(Some(json!("A"))));
    assert_eq!(run(&t, &[&a, &any], &issuers).unwrap(), 1);
    // A's key never verifies a token of another issuer, even beside an unbound set.
    let t = token(&k.rsa, "k1", Some(json!("B")));
    assert_eq!(run(&t, &[&a, &any], &issuers), Err(Reason::UnknownKid));
}

#[test]
fn a_kid_only_another_issuer_has_is_unknown_to_this_one() {
    // Rotation at A (a new kid A does not publish yet) is A's unknown kid: the caller refetches
    // A's keys only, never B's.
    let k = keys();
    let (a, b) = (set_as(&k.rsa, "k1"), set_as(&k.rsa_other, "k2"));
    let t = token(&k.rsa_other, "k2", Some(json!("A")));
    assert_eq!(
        run(&t, &[&a, &b], &[Some("A"), Some("B")]),
        Err(Reason::UnknownKid)
    );
}

#[test]
fn a_token_without_kid_tries_only_its_issuer_keys() {
    let k = keys();
    let (a, b) = (set_as(&k.rsa, "k1"), set_as(&k.rsa_other, "k2"));
    let t = sign_as(&k.rsa_other, k.rsa_other.alg, None, &claims_of(Some(json!("A"))));
    assert_eq!(
        run(&t, &[&a, &b], &[Some("A"), Some("B")]),
        Err(Reason::Signature)
    );
    let t = sign_as(&k.rsa_other, k.rsa_other.alg, None, &claims_of(Some(json!("B"))));
    assert_eq!(run(&t, &[&a, &b], &[Some("A"), Some("B")]).unwrap(), 1);
}

#[test]
fn a_token_no_source_is_for_is_refused_also_without_keys() {
    let k = keys();
    let empty = KeySet {
        keys: Vec::new(),
        skipped: Vec::new(),
    };
    let a = set_as(&k.rsa, "k1");
    // B's source has no keys: a token of A is still A's to verify, one of C nobody's.
    let issuers = [Some("A"), Some("B")];
    assert_eq!(
        run(&token(&k.rsa, "k1", Some(json!("A"))), &[&a, &empty], &issuers),
        Ok(0)
    );
    assert_eq!(
        run(
            &token(&k.rsa, "k1", Some(json!("C"))),
            &[&empty, &empty],
            &issuers
        ),
        Err(Reason::Claim)
    );
    assert_eq!(
        run(&token(&k.rsa, "k1", None), &[&empty], &issuers[..1]),
        Err(Reason::Claim)
    );
    // Its own source without keys: no keys (a server-side fault).
    assert_eq!(
        run(&token(&k.rsa, "k1", Some(json!("B"))), &[&a, &empty], &issuers),
        Err(Reason::NoKeys)
    );
}

#[test]
fn the_verified_payload_decides() {
    assert!(issuer_allows(None, None));
    assert!(issuer_allows(None, Some("X")));
    assert!(issuer_allows(Some("A"), Some("A")));
    assert!(!issuer_allows(Some("A"), Some("B")));
    assert!(!issuer_allows(Some("A"), None));
}

#[test]
fn unverified_issuer_reads_only_a_string_iss() {
    let k = keys();
    assert_eq!(
        unverified_issuer(token(&k.rsa, "k1", Some(json!("A"))).as_bytes()).as_deref(),
        Some("A")
    );
    assert_eq!(
        unverified_issuer(token(&k.rsa, "k1", Some(json!(7))).as_bytes()),
        None
    );
    assert_eq!(unverified_issuer(token(&k.rsa, "k1", None).as_bytes()), None);
    assert_eq!(unverified_issuer(b"garbage"), None);
    assert_eq!(unverified_issuer(b"a.!!.c"), None);
    let long = format!("a.{}.c", "A".repeat(9000));
    assert_eq!(unverified_issuer(long.as_bytes()), None);
}

#[test]
fn issuer_values() {
    assert!(check_issuer("https://idp.example.com/").is_ok());
    assert!(check_issuer("A").is_ok());
    assert!(check_issuer("").is_err());
    assert!(check_issuer("a\u{7}b").is_err());
    assert!(check_issuer("a\nb").is_err());
    assert!(check_issuer(&"x".repeat(1025)).is_err());
    assert!(check_issuer(&"x".repeat(1024)).is_ok());
}
