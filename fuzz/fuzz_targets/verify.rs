//! Arbitrary bytes as a token (and as an `Authorization` header value), verified against the
//! fixed key set with every algorithm allowed. Nothing may panic, no hostile token may pass,
//! and every refusal must log as one printable line.
#![no_main]

use jwt_peer_auth_core::bearer;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::verify_and_check(data);
    if let Ok(token) = bearer::from_authorization(data) {
        assert!(!token.is_empty());
        assert!(data.ends_with(token));
        let _ = common::verify_and_check(token);
    }
});
