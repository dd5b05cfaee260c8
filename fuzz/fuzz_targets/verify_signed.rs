//! Arbitrary header and payload JSON that carry a *valid* HMAC signature (made here with the
//! fixed `oct` key), so the fuzzer gets past the signature into the header rules, the payload
//! JSON and the time claims. Input: header bytes, a NUL byte, payload bytes. The HMAC hash is
//! the one the header text names (HS384/HS512, else HS256).
//!
//! Besides "no panic", an accepted token is checked against serde_json as a second parser:
//! both must see the same header and claims (a strict parser that disagreed with a lenient one
//! would be a confusion hazard, RFC 8725 §3.11).
#![no_main]

use std::sync::OnceLock;

use jwt_peer_auth_core::b64;
use libfuzzer_sys::fuzz_target;
use ring::hmac;
use serde_json::Value;

mod common;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    static SECRET: OnceLock<Vec<u8>> = OnceLock::new();
    let secret = SECRET.get_or_init(common::oct_secret);
    let (header, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let hash = if contains(header, b"HS512") {
        hmac::HMAC_SHA512
    } else if contains(header, b"HS384") {
        hmac::HMAC_SHA384
    } else {
        hmac::HMAC_SHA256
    };
    let input = format!("{}.{}", b64::encode(header), b64::encode(payload));
    let tag = hmac::sign(&hmac::Key::new(hash, secret), input.as_bytes());
    let token = format!("{input}.{}", b64::encode(tag.as_ref()));
    if let Ok(v) = common::verify_and_check(token.as_bytes()) {
        let h: Value = serde_json::from_slice(header).expect("accepted header serde_json refuses");
        assert_eq!(
            h,
            Value::Object(v.header().clone()),
            "parsers disagree on the header"
        );
        let c: Value = serde_json::from_slice(payload).expect("accepted payload serde_json refuses");
        assert_eq!(
            c,
            Value::Object(v.claims().clone()),
            "parsers disagree on the claims"
        );
        assert_eq!(v.payload().as_bytes(), payload);
        assert!(v.alg.name().starts_with("HS"));
        assert!(v.header().get("b64").is_none_or(|b| b == &Value::Bool(true)));
    }
});
