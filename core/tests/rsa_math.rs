//! Outside RSA arithmetic ([`RsaMath`]): the core uses it for exactly the final check of an
//! already chosen and accepted RSA key, with the digest it computed, and keeps every decision.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use jwt_peer_auth_core::verify::{RsaMath, RsaMathError};
use jwt_peer_auth_core::{b64, verify, AlgSet, Algorithm, KeySet, Policy, Reason};

/// What a fake arithmetic was asked: algorithm, digest, signature length.
type Calls = Arc<Mutex<Vec<(Algorithm, Vec<u8>, usize)>>>;

/// What a fake arithmetic answers, and what it was asked.
struct Fake {
    answer: Result<bool, RsaMathError>,
    calls: Calls,
}

impl RsaMath for Fake {
    fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError> {
        self.calls.lock().unwrap().push((alg, digest.to_vec(), sig.len()));
        self.answer
    }
}

/// The RSA key (and an EC key) with a fake arithmetic answering `answer`.
fn set_with(answer: Result<bool, RsaMathError>) -> (KeySet, Calls) {
    let k = keys();
    let mut ks = KeySet::parse(jwks(&[&k.rsa, &k.es256]).as_bytes()).unwrap();
    let calls = Calls::default();
    let c = calls.clone();
    let attached = ks.attach_rsa_math(move |_| {
        Some(Box::new(Fake {
            answer,
            calls: c.clone(),
        }))
    });
    assert_eq!(attached, 1, "only the RSA key");
    (ks, calls)
}

fn check(token: &str, ks: &KeySet, policy: &Policy) -> Result<(), Reason> {
    verify(token.as_bytes(), &[ks], policy, now())
        .map(|_| ())
        .map_err(|r| r.reason)
}

/// A token whose header is RS256 (kid rsa-1) and whose signature is `len` bytes of garbage.
fn garbage_signed(len: usize) -> String {
    let claims = good_claims().to_string();
    raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, &claims, &vec![0x5a; len])
}

fn input_of(token: &str) -> &[u8] {
    &token.as_bytes()[..token.rfind('.').unwrap()]
}

#[test]
fn the_arithmetic_gets_the_digest_and_its_answer_decides() {
    let k = keys();
    let p = Policy::default();
    // "true" accepts a signature ring would refuse: the wiring is used...
    let (ks, calls) = set_with(Ok(true));
    let t = garbage_signed(256);
    assert_eq!(check(&t, &ks, &p), Ok(()));
    let digest = ring::digest::digest(&ring::digest::SHA256, input_of(&t));
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(Algorithm::RS256, digest.as_ref().to_vec(), 256)]
    );
    // ...and the digest is the algorithm's hash of the signing input.
    calls.lock().unwrap().clear();
    for (alg, hash, len) in [
        (jsonwebtoken::Algorithm::RS384, &ring::digest::SHA384, 48),
        (jsonwebtoken::Algorithm::PS256, &ring::digest::SHA256, 32),
        (jsonwebtoken::Algorithm::PS512, &ring::digest::SHA512, 64),
    ] {
        let t = sign_as(&k.rsa, alg, Some("rsa-1"), &good_claims());
        assert_eq!(check(&t, &ks, &p), Ok(()), "{alg:?}");
        let (got_alg, got, sig_len) = calls.lock().unwrap().pop().unwrap();
        assert_eq!(got_alg.name(), format!("{alg:?}"));
        assert_eq!((got.len(), sig_len), (len, 256));
        assert_eq!(got, ring::digest::digest(hash, input_of(&t)).as_ref());
    }
    // "false" refuses a token ring would accept.
    let (ks, calls) = set_with(Ok(false));
    let good = sign(&k.rsa, &good_claims());
    assert_eq!(check(&good, &ks, &p), Err(Reason::Signature));
    assert_eq!(calls.lock().unwrap().len(), 1);
    // Keys of other families never reach it.
    let ec = sign(&k.es256, &good_claims());
    assert_eq!(check(&ec, &ks, &p), Ok(()));
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[test]
fn a_failing_arithmetic_leaves_the_verdict_to_ring() {
    let k = keys();
    let p = Policy::default();
    let (ks, calls) = set_with(Err(RsaMathError));
    assert_eq!(check(&sign(&k.rsa, &good_claims()), &ks, &p), Ok(()));
    assert_eq!(check(&garbage_signed(256), &ks, &p), Err(Reason::Signature));
    let other = sign_as(
        &k.rsa_other,
        jsonwebtoken::Algorithm::RS256,
        Some("rsa-1"),
        &good_claims(),
    );
    assert_eq!(check(&other, &ks, &p), Err(Reason::Signature));
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[test]
fn the_core_decides_before_the_arithmetic_is_asked() {
    let k = keys();
    // Even an arithmetic that accepts everything gets nothing the core refuses.
    let (ks, calls) = set_with(Ok(true));
    let p = Policy::default();
    // A signature not exactly as long as the modulus: one byte short, one byte long.
    for len in [255, 257, 0, 512] {
        let r = check(&garbage_signed(len), &ks, &p);
        assert!(matches!(r, Err(Reason::Signature)), "{len}: {r:?}");
    }
    // A good signature with its leading zero byte dropped (or one added).
    let good = sign(&k.rsa, &good_claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let sig = b64::decode(sig.as_bytes()).unwrap();
    let mut longer = vec![0];
    longer.extend_from_slice(&sig);
    let t = format!("{input}.{}", b64::encode(&longer));
    assert_eq!(check(&t, &ks, &p), Err(Reason::Signature));
    // An algorithm the location does not allow, a key pinned to another algorithm, no such
    // kid, HS256 with the key's bytes, alg none.
    let rs_only = Policy {
        algorithms: AlgSet::parse(["RS256"]).unwrap(),
        ..Policy::default()
    };
    let ps = sign_as(
        &k.rsa,
        jsonwebtoken::Algorithm::PS256,
        Some("rsa-1"),
        &good_claims(),
    );
    assert_eq!(check(&ps, &ks, &rs_only), Err(Reason::Algorithm));
    let claims = good_claims().to_string();
    let unknown = raw(r#"{"alg":"RS256","kid":"nope"}"#, &claims, &[0x5a; 256]);
    assert_eq!(check(&unknown, &ks, &p), Err(Reason::UnknownKid));
    let hs = hs256(r#"{"alg":"HS256","kid":"rsa-1"}"#, &claims, &k.rsa.public_der);
    let hs_policy = Policy {
        algorithms: AlgSet::parse(["RS256", "HS256"]).unwrap(),
        ..Policy::default()
    };
    assert_eq!(check(&hs, &ks, &hs_policy), Err(Reason::Algorithm));
    let none = raw(r#"{"alg":"none","kid":"rsa-1"}"#, &claims, &[0x5a; 256]);
    assert_eq!(check(&none, &ks, &p), Err(Reason::Algorithm));
    // Nothing after the signature is skipped: an expired token stays expired.
    let mut old = good_claims();
    old["exp"] = (now() - 60).into();
    let expired = raw(r#"{"alg":"RS256","kid":"rsa-1"}"#, &old.to_string(), &[0x5a; 256]);
    assert_eq!(check(&expired, &ks, &p), Err(Reason::Expired));
    // Only the expired one (signature "valid", then the time check) reached the arithmetic.
    assert_eq!(calls.lock().unwrap().len(), 1);
    // A key pinned to RS256 is never asked for PS256.
    let mut pinned = k.rsa.jwk.clone();
    pinned["alg"] = "RS256".into();
    let mut ks = KeySet::parse(serde_json::json!({ "keys": [pinned] }).to_string().as_bytes()).unwrap();
    let calls2 = Calls::default();
    let c = calls2.clone();
    ks.attach_rsa_math(move |_| {
        Some(Box::new(Fake {
            answer: Ok(true),
            calls: c.clone(),
        }))
    });
    assert_eq!(check(&ps, &ks, &p), Err(Reason::Algorithm));
    assert!(calls2.lock().unwrap().is_empty());
}
