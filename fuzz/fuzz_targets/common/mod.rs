//! What the targets share: the fixed key set (fuzz/keys/jwks.json: RSA, EC P-256 and P-384,
//! Ed25519 and a shared `oct` secret, made by fuzz/make-seeds.sh), a policy that
//! allows every algorithm, a fixed clock, and the invariants every answer must keep.
#![allow(dead_code)]

use std::sync::OnceLock;

use jwt_peer_auth_core::{b64, verify, AlgSet, Algorithm, KeySet, Policy, Rejection, Verified};

/// The fixed clock: 2027-01-15. The seed tokens expire in 2100.
pub const NOW: i64 = 1_800_000_000;

pub const JWKS: &[u8] = include_bytes!("../../keys/jwks.json");

/// The fixed keys as two sets: the public keys, and the `oct` key on its own (a set that mixes
/// shared secrets with public keys has its secrets skipped).
pub fn keysets() -> &'static [KeySet; 2] {
    static SETS: OnceLock<[KeySet; 2]> = OnceLock::new();
    SETS.get_or_init(|| {
        let doc: serde_json::Value = serde_json::from_slice(JWKS).expect("fuzz/keys/jwks.json is JSON");
        let keys = doc["keys"].as_array().expect("a keys array");
        let (oct, public): (Vec<_>, Vec<_>) = keys.iter().cloned().partition(|k| k["kty"] == "oct");
        let parse = |keys: Vec<serde_json::Value>| {
            let text = serde_json::json!({ "keys": keys }).to_string();
            let set = KeySet::parse(text.as_bytes()).expect("fuzz/keys/jwks.json parses");
            assert!(set.skipped.is_empty(), "every fuzz key is usable: {:?}", set.skipped);
            set
        };
        [parse(public), parse(oct)]
    })
}

/// The shared secret of the `oct` key (kid "oct").
pub fn oct_secret() -> Vec<u8> {
    let doc: serde_json::Value = serde_json::from_slice(JWKS).unwrap();
    let k = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "oct")
        .expect("an oct key");
    b64::decode(k["k"].as_str().unwrap().as_bytes()).unwrap()
}

/// Every algorithm, HMAC included.
pub fn policy_all() -> Policy {
    Policy {
        algorithms: Algorithm::ALL.iter().fold(AlgSet::empty(), |s, a| s.with(*a)),
        leeway: 0,
    }
}

/// A log line must stay one line of printable ASCII whatever the token holds (no log
/// injection, no terminal escapes).
pub fn assert_printable(line: &str) {
    assert!(
        line.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "not printable: {line:?}"
    );
}

/// The invariants of one verification outcome.
pub fn check_outcome(token: &[u8], policy: &Policy, r: &Result<Verified, Rejection>) {
    match r {
        Err(rej) => {
            assert_printable(&rej.to_string());
            assert!(matches!(rej.reason.http_status(), 400 | 401 | 500));
        }
        Ok(v) => {
            // Accepted: exactly three canonical base64url parts, a non-empty signature, an
            // allowed algorithm, an unexpired token, and the payload exactly as signed.
            let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
            assert_eq!(parts.len(), 3, "accepted a token without three parts");
            assert!(!parts[2].is_empty(), "accepted an empty signature");
            for p in &parts {
                let raw = b64::decode(p).expect("accepted non-base64url");
                assert_eq!(b64::encode(&raw).as_bytes(), *p, "accepted a non-canonical part");
            }
            assert_eq!(b64::decode(parts[1]).unwrap(), v.payload().as_bytes());
            assert!(policy.algorithms.contains(v.alg));
            assert_eq!(v.header().get("alg").and_then(|a| a.as_str()), Some(v.alg.name()));
            assert!(!v.header().contains_key("crit"));
            assert!(v.times.exp > NOW);
            assert!(v.times.nbf.is_none_or(|n| n <= NOW));
            // A cached token passes the same policy again at the same moment.
            assert!(jwt_peer_auth_core::recheck(v, policy, NOW).is_ok());
            // Claims render without panicking (variables).
            for val in v.claims().values() {
                let _ = jwt_peer_auth_core::policy::render(val);
            }
        }
    }
}

/// Verifies `token` against the fixed key set and checks the invariants.
pub fn verify_and_check(token: &[u8]) -> Result<Verified, Rejection> {
    let policy = policy_all();
    let [public, oct] = keysets();
    let r = verify(token, &[public, oct], &policy, NOW);
    check_outcome(token, &policy, &r);
    r
}
