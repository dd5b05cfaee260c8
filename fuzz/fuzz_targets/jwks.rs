//! Arbitrary bytes as a JWK Set. Nothing may panic; a parsed set holds only keys within the
//! documented limits, skip notes and errors are printable log lines, and verifying fixed
//! tokens against whatever keys came out must not panic either (odd RSA exponents, EC points
//! off the curve, short Ed25519 keys reach ring here).
#![no_main]

use jwt_peer_auth_core::jwk::{KeyMaterial, MAX_KEYS};
use jwt_peer_auth_core::{verify, KeySet};
use libfuzzer_sys::fuzz_target;

mod common;

/// One seed token per key family, signed by the fixed keys (fuzz/seeds/verify).
const TOKENS: &[&[u8]] = &[
    include_bytes!("../seeds/verify/rs256"),
    include_bytes!("../seeds/verify/ps256"),
    include_bytes!("../seeds/verify/es256"),
    include_bytes!("../seeds/verify/eddsa"),
    include_bytes!("../seeds/verify/hs256"),
    include_bytes!("../seeds/verify/rs256-no-kid"),
];

fuzz_target!(|data: &[u8]| {
    match KeySet::parse(data) {
        Err(e) => common::assert_printable(&e.to_string()),
        Ok(set) => {
            assert!(!set.is_empty() && set.len() <= MAX_KEYS);
            for note in &set.skipped {
                common::assert_printable(note);
            }
            for k in &set.keys {
                match &k.material {
                    KeyMaterial::Rsa(c) => {
                        let n = &c.n;
                        assert!(n.first().is_some_and(|&b| b != 0));
                        assert!((256..=1024).contains(&n.len()));
                        assert!(!c.e.is_empty() && c.e.len() <= 4);
                    }
                    KeyMaterial::EcP256(p) => assert_eq!(p.len(), 65),
                    KeyMaterial::EcP384(p) => assert_eq!(p.len(), 97),
                    KeyMaterial::Ed25519(p) => assert_eq!(p.len(), 32),
                    KeyMaterial::Oct(s) => assert!(s.len() >= 32),
                }
                if let Some(a) = k.alg {
                    assert_eq!(a.family(), k.material.family());
                }
            }
            let policy = common::policy_all();
            for t in TOKENS {
                let t = t.strip_suffix(b"\n").unwrap_or(t);
                let r = verify(t, &[&set], &policy, common::NOW);
                common::check_outcome(t, &policy, &r);
            }
        }
    }
});
