//! Claim rules applied after the signature verified: `jwt_peer_auth_claim`,
//! `jwt_peer_auth_require`, `jwt_peer_auth_max_age`, and how claims render as NGINX variables.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::reason::{Detail, Reason, Rejection};
use crate::verify::Times;

/// The text of a claim value as a variable shows it, unambiguous for every JSON type: strings
/// as is, numbers and booleans as JSON text, `null` as the empty string, arrays and objects as
/// compact JSON text (so `["x,admin"]` renders `["x,admin"]` and `["x","admin"]` renders
/// `["x","admin"]`: no two different arrays render alike).
pub fn render(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

/// Whether a value may be passed on in an HTTP header (`proxy_set_header`, `add_header`): no
/// control characters (below 0x20, or DEL), so no header splitting or injected lines.
pub fn forwardable(value: &[u8]) -> bool {
    !value.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// The value at a path of member names into nested objects: `["org", "name"]` is
/// `claims.org.name`. Names are compared exactly (case-sensitive). `None` if a step is missing
/// or not an object, or the path is empty.
pub fn lookup<'a>(root: &'a Map<String, Value>, path: &[impl AsRef<str>]) -> Option<&'a Value> {
    let (last, steps) = path.split_last()?;
    let mut obj = root;
    for name in steps {
        obj = obj.get(name.as_ref())?.as_object()?;
    }
    obj.get(last.as_ref())
}

/// Whether a scalar claim value equals `want` (strings exactly, numbers/booleans by JSON text).
fn scalar_equals(v: &Value, want: &[u8]) -> bool {
    match v {
        Value::String(s) => s.as_bytes() == want,
        Value::Number(_) | Value::Bool(_) => v.to_string().as_bytes() == want,
        _ => false,
    }
}

/// `jwt_peer_auth_claim name value ...`: the claim must equal one of `allowed`; for an array
/// claim (such as `aud`), any element equal to one of them is enough. A missing claim fails.
pub fn claim_matches(claims: &Map<String, Value>, name: &str, allowed: &[&[u8]]) -> bool {
    match claims.get(name) {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|i| allowed.iter().any(|a| scalar_equals(i, a))),
        Some(v) => allowed.iter().any(|a| scalar_equals(v, a)),
    }
}

/// The refusal for a failed `jwt_peer_auth_claim`.
pub fn claim_rejection(name: &str) -> Rejection {
    Rejection::with_value(Reason::Claim, "claim does not have an allowed value:", name)
}

/// `jwt_peer_auth_require`: a value passes when it is non-empty and not "0" (as NGINX Plus's
/// `auth_jwt_require`), so `map` can express any rule.
pub fn require_passes(value: &[u8]) -> bool {
    !value.is_empty() && value != b"0"
}

/// `jwt_peer_auth_max_age`: `iat` must be present, at most `max_age` (+ leeway) seconds ago,
/// and not in the future beyond the leeway (a token "issued" later than now would otherwise
/// stretch its own age limit; refused as [`Reason::NotYetValid`], worded as the `nbf` check).
pub fn check_max_age(t: &Times, max_age: u64, leeway: u64, now: i64) -> Result<(), Rejection> {
    let Some(iat) = t.iat else {
        return Err(Rejection::new(
            Reason::Claim,
            "no \"iat\" claim, required by max_age",
        ));
    };
    let skew = i64::try_from(leeway).unwrap_or(i64::MAX);
    if now.saturating_add(skew) < iat {
        return Err(Rejection {
            reason: Reason::NotYetValid,
            detail: Detail::NotYetValid {
                claim: "iat",
                at: iat,
                now,
                leeway,
            },
        });
    }
    let limit = i64::try_from(max_age.saturating_add(leeway)).unwrap_or(i64::MAX);
    if now.saturating_sub(iat) > limit {
        return Err(Rejection::new(Reason::Claim, "token older than max_age"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn renders_like_the_variables_promise() {
        assert_eq!(render(&json!("peer")), "peer");
        assert_eq!(render(&json!(42)), "42");
        assert_eq!(render(&json!(true)), "true");
        assert_eq!(render(&json!(-1.5)), "-1.5");
        assert_eq!(render(&json!(["a", "b"])), "[\"a\",\"b\"]");
        assert_eq!(render(&json!([1, "b"])), "[1,\"b\"]");
        assert_eq!(render(&json!({"k": [1]})), "{\"k\":[1]}");
        assert_eq!(render(&json!([])), "[]");
        assert_eq!(render(&json!({})), "{}");
        assert_eq!(render(&Value::Null), "");
        assert_eq!(render(&json!("")), "");
        assert_eq!(
            render(&json!("a\"b")),
            "a\"b",
            "strings are not quoted or escaped"
        );
    }

    #[test]
    fn render_is_unambiguous_for_arrays() {
        assert_eq!(render(&json!(["x,admin"])), "[\"x,admin\"]");
        assert_eq!(render(&json!(["x", "admin"])), "[\"x\",\"admin\"]");
        assert_ne!(render(&json!(["x,admin"])), render(&json!(["x", "admin"])));
        assert_eq!(render(&json!(["a\"b"])), "[\"a\\\"b\"]");
        assert_eq!(render(&json!([null])), "[null]");
        assert_ne!(render(&json!([null])), render(&json!([])));
    }

    #[test]
    fn forwardable_refuses_control_characters() {
        assert!(forwardable(b""));
        assert!(forwardable(b"peer-1 ~!\"{}"));
        assert!(
            forwardable("caf\u{e9}".as_bytes()),
            "UTF-8 is not a control character"
        );
        assert!(!forwardable(b"a\r\nX-Admin: 1"));
        assert!(!forwardable(b"a\nb"));
        assert!(!forwardable(b"tab\there"));
        assert!(!forwardable(b"\0"));
        assert!(!forwardable(b"\x1f"));
        assert!(!forwardable(b"del\x7f"));
        assert!(forwardable(b"\x20\x7e\x80"));
    }

    #[test]
    fn lookup_follows_nested_objects() {
        let c = claims(json!({
            "sub": "p", "org": {"name": "acme", "Name": "other", "unit": {"id": 7}, "tags": ["a"]},
            "a.b": 1, "n": null
        }));
        assert_eq!(lookup(&c, &["sub"]), Some(&json!("p")));
        assert_eq!(lookup(&c, &["org", "name"]), Some(&json!("acme")));
        assert_eq!(
            lookup(&c, &["org", "Name"]),
            Some(&json!("other")),
            "case-sensitive"
        );
        assert_eq!(lookup(&c, &["org", "unit", "id"]), Some(&json!(7)));
        assert_eq!(lookup(&c, &["org", "unit"]), Some(&json!({"id": 7})));
        assert_eq!(
            lookup(&c, &["a.b"]),
            Some(&json!(1)),
            "names are not split on dots"
        );
        assert_eq!(lookup(&c, &["n"]), Some(&Value::Null));
        assert_eq!(lookup(&c, &["ORG", "name"]), None);
        assert_eq!(lookup(&c, &["org", "missing"]), None);
        assert_eq!(lookup(&c, &["sub", "x"]), None, "a string is not an object");
        assert_eq!(lookup(&c, &["org", "tags", "0"]), None, "arrays are not indexed");
        assert_eq!(lookup(&c, &["org", "unit", "id", "x"]), None);
        let empty: [&str; 0] = [];
        assert_eq!(lookup(&c, &empty), None);
        let owned = vec![String::from("org"), String::from("name")];
        assert_eq!(lookup(&c, &owned), Some(&json!("acme")));
    }

    #[test]
    fn claim_rules_strings_arrays_numbers() {
        let c = claims(json!({"iss": "jwth", "aud": ["a", "b"], "n": 7, "admin": false}));
        assert!(claim_matches(&c, "iss", &[b"x", b"jwth"]));
        assert!(!claim_matches(&c, "iss", &[b"JWTH"]));
        assert!(claim_matches(&c, "aud", &[b"b"]));
        assert!(!claim_matches(&c, "aud", &[b"a,b"]));
        assert!(claim_matches(&c, "n", &[b"7"]));
        assert!(claim_matches(&c, "admin", &[b"false"]));
        assert!(
            !claim_matches(&c, "sub", &[b""]),
            "missing claim fails, even against an empty value"
        );
    }

    #[test]
    fn require_semantics() {
        assert!(require_passes(b"1"));
        assert!(require_passes(b"yes"));
        assert!(!require_passes(b""));
        assert!(!require_passes(b"0"));
        assert!(require_passes(b"00"));
    }

    #[test]
    fn max_age() {
        let t = Times {
            exp: 1000,
            nbf: None,
            iat: Some(100),
        };
        assert!(check_max_age(&t, 60, 0, 160).is_ok());
        assert_eq!(check_max_age(&t, 60, 0, 161).unwrap_err().reason, Reason::Claim);
        assert!(check_max_age(&t, 60, 5, 165).is_ok());
        let no_iat = Times { iat: None, ..t };
        assert!(check_max_age(&no_iat, 60, 0, 100).is_err());
        assert_eq!(
            check_max_age(&no_iat, 60, 0, 100).unwrap_err().reason,
            Reason::Claim
        );
    }

    #[test]
    fn max_age_refuses_iat_in_the_future_beyond_leeway() {
        let t = Times {
            exp: 10_000,
            nbf: None,
            iat: Some(1005),
        };
        // iat = now + leeway passes, now + leeway + 1 is refused.
        assert!(check_max_age(&t, 60, 5, 1000).is_ok());
        let r = check_max_age(&t, 60, 4, 1000).unwrap_err();
        assert_eq!(r.reason, Reason::NotYetValid);
        assert_eq!(
            r.to_string(),
            "not_yet_valid (\"iat\" 1005 is in the future, now 1000, leeway 4s)"
        );
        assert!(check_max_age(&t, 60, 0, 1005).is_ok());
        assert_eq!(
            check_max_age(&t, 60, 0, 1004).unwrap_err().reason,
            Reason::NotYetValid
        );
        // Huge values saturate instead of overflowing.
        let far = Times {
            iat: Some(i64::MAX),
            ..t
        };
        assert_eq!(
            check_max_age(&far, 60, 0, 0).unwrap_err().reason,
            Reason::NotYetValid
        );
        assert!(check_max_age(&far, 60, u64::MAX, 0).is_ok());
    }
}
