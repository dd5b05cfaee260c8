//! The `WWW-Authenticate` challenge of a refusal (RFC 6750 §3), and what a realm may hold.

use crate::Reason;

/// Why a realm cannot be a quoted-string of the challenge: the first character that is not a
/// printable ASCII character or a space, or that would end or escape the quoted-string.
pub fn check_realm(realm: &str) -> Result<(), char> {
    match realm
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || *c == '"' || *c == '\\')
    {
        Some(bad) => Err(bad),
        None => Ok(()),
    }
}

/// The challenge for a refusal: no error code when there were no credentials, `invalid_token`
/// otherwise, with a fixed description where it helps and reveals nothing. `realm` passed
/// [`check_realm`].
pub fn challenge(realm: &str, reason: Reason) -> Vec<u8> {
    let mut c = format!("Bearer realm=\"{realm}\"");
    if let Some(code) = reason.error_code() {
        c.push_str(&format!(", error=\"{code}\""));
        if let Some(d) = reason.description() {
            c.push_str(&format!(", error_description=\"{d}\""));
        }
    }
    c.into_bytes()
}

/// The challenge of every reason, indexed by [`Reason::index`].
pub fn table(realm: &str) -> Vec<Vec<u8>> {
    Reason::ALL.iter().map(|r| challenge(realm, *r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(realm: &str, reason: Reason) -> String {
        String::from_utf8(challenge(realm, reason)).unwrap()
    }

    #[test]
    fn missing_credentials_carry_no_error_code() {
        assert_eq!(text("mesh", Reason::Missing), "Bearer realm=\"mesh\"");
        // A server-side fault is not the token's.
        assert_eq!(text("mesh", Reason::NoKeys), "Bearer realm=\"mesh\"");
    }

    #[test]
    fn refused_tokens_are_invalid_token() {
        for r in [
            Reason::Malformed,
            Reason::Signature,
            Reason::UnknownKid,
            Reason::Algorithm,
            Reason::Claim,
            Reason::Binding,
            Reason::Revoked,
        ] {
            assert_eq!(
                text("a b", r),
                "Bearer realm=\"a b\", error=\"invalid_token\"",
                "{r}"
            );
        }
        assert_eq!(
            text("x", Reason::Expired),
            "Bearer realm=\"x\", error=\"invalid_token\", error_description=\"The access token expired\""
        );
        assert_eq!(
            text("x", Reason::NotYetValid),
            "Bearer realm=\"x\", error=\"invalid_token\", error_description=\"The access token is not valid yet\""
        );
    }

    #[test]
    fn not_one_bearer_token_is_invalid_request() {
        assert_eq!(
            text("x", Reason::InvalidRequest),
            "Bearer realm=\"x\", error=\"invalid_request\""
        );
    }

    #[test]
    fn table_is_indexed_by_reason() {
        let t = table("r");
        assert_eq!(t.len(), Reason::COUNT);
        for r in Reason::ALL {
            assert_eq!(t[r.index()], challenge("r", r));
        }
    }

    #[test]
    fn realms_that_would_break_the_quoted_string_are_refused() {
        assert_eq!(check_realm("peer mesh-1"), Ok(()));
        assert_eq!(check_realm("a\"b"), Err('"'));
        assert_eq!(check_realm("a\\b"), Err('\\'));
        assert_eq!(check_realm("a\tb"), Err('\t'));
        assert_eq!(check_realm("é"), Err('é'));
        assert_eq!(check_realm("a\x7fb"), Err('\x7f'));
    }
}
