//! Arbitrary bytes into the strict JSON parser. Nothing may panic or overflow the stack, and
//! it must agree with serde_json (the lenient reference) except that it refuses duplicate
//! member names: whatever it accepts, serde_json reads the same way; whatever serde_json
//! refuses, it refuses.
#![no_main]

use jwt_peer_auth_core::json::{parse_object, JsonError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let strict = parse_object(data);
    let lenient = serde_json::from_slice::<Value>(data);
    match (&strict, &lenient) {
        (Ok(m), Ok(v)) => assert_eq!(&Value::Object(m.clone()), v, "parsers disagree"),
        (Ok(_), Err(e)) => panic!("strict accepted what serde_json refuses: {e}"),
        (Err(JsonError::NotObject), Ok(v)) => assert!(!v.is_object()),
        (Err(JsonError::NotObject), Err(e)) => panic!("NotObject but serde_json refuses: {e}"),
        // Refused by strict only: only a duplicate member name does that, so the document
        // is a container (serde_json kept the last of the duplicates).
        (Err(JsonError::Invalid), Ok(v)) => {
            assert!(v.is_object() || v.is_array(), "strict refused a plain value: {v}")
        }
        (Err(JsonError::Invalid), Err(_)) => {}
    }
});
