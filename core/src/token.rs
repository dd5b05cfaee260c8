//! A token as one request reads it: the bytes, borrowed, and their JOSE header and payload,
//! each decoded and parsed at most once, when first asked for. The checks that need no key
//! ([`Token::precheck`]), the issuer filter ([`Token::claimed_issuer`]) and verification
//! ([`crate::verify::verify_ring`]) all read the same view, so a request parses its token once
//! however many of them run (and not at all when a cache answers first).
//!
//! Nothing here decides: what each check refuses, and in which order, is
//! [`crate::verify`]'s. The view only remembers what was parsed, failures included.

use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::reason::Rejection;
use crate::verify::{self, Policy, MAX_TOKEN_LEN};
use crate::{b64, json};

/// A compact JWS, parsed lazily.
#[derive(Debug)]
pub struct Token<'t> {
    bytes: &'t [u8],
    header: OnceCell<Result<Header<'t>, Rejection>>,
    payload: OnceCell<Result<Payload, PayloadError>>,
}

/// The three parts and the decoded, parsed JOSE header: what the checks before key choice
/// accepted (structure, base64url, a JSON object).
#[derive(Debug)]
pub(crate) struct Header<'t> {
    pub(crate) parts: [&'t [u8]; 3],
    /// The header's JSON text.
    pub(crate) text: Vec<u8>,
    pub(crate) map: Map<String, Value>,
}

/// The decoded payload (of the second dot-separated segment) and its claims.
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) claims: Map<String, Value>,
}

/// Why the payload could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadError {
    NotBase64,
    NotObject,
}

impl<'t> Token<'t> {
    /// A view of `bytes`; nothing is parsed yet.
    pub fn new(bytes: &'t [u8]) -> Token<'t> {
        Token {
            bytes,
            header: OnceCell::new(),
            payload: OnceCell::new(),
        }
    }

    /// The token bytes.
    pub fn bytes(&self) -> &'t [u8] {
        self.bytes
    }

    /// The parts and the parsed header, or the refusal of the checks before the header's
    /// members (size, three parts, base64url, a JSON object).
    pub(crate) fn header(&self) -> Result<&Header<'t>, Rejection> {
        self.header
            .get_or_init(|| {
                let parts = verify::split(self.bytes)?;
                let text = b64::decode(parts[0]).map_err(|_| verify::malformed("header is not base64url"))?;
                let map = json::parse_object(&text)
                    .map_err(|_| verify::malformed("header is not a JSON object"))?;
                Ok(Header { parts, text, map })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The decoded payload of the second dot-separated segment, whatever the number of
    /// segments (verification reads it only once the structure is checked).
    pub(crate) fn payload(&self) -> Result<&Payload, PayloadError> {
        self.payload
            .get_or_init(|| {
                let segment = self.bytes.split(|&b| b == b'.').nth(1).unwrap_or_default();
                let bytes = b64::decode(segment).map_err(|_| PayloadError::NotBase64)?;
                let claims = json::parse_object(&bytes).map_err(|_| PayloadError::NotObject)?;
                Ok(Payload { bytes, claims })
            })
            .as_ref()
            .map_err(|e| *e)
    }

    /// Takes the parsed header and payload out (once verified: [`crate::verify::Verified`]
    /// keeps them). A later call parses again.
    pub(crate) fn take(&mut self) -> (Option<Header<'t>>, Option<Payload>) {
        (
            self.header.take().and_then(Result::ok),
            self.payload.take().and_then(Result::ok),
        )
    }

    /// The cheap part of verification: structure and JOSE header against the policy, with no
    /// keys, no signature work and no payload parsing. A token it refuses, verification refuses
    /// with the same [`Rejection`], so a caller may run it before it has (or fetches) keys.
    pub fn precheck(&self, policy: &Policy) -> Result<(), Rejection> {
        verify::check_header(&self.header()?.map, policy.algorithms).map(|_| ())
    }

    /// The `iss` of the payload, read WITHOUT verifying anything: only to choose which key
    /// sources are worth looking at (a source bound to another issuer cannot verify the token).
    /// Never a basis for accepting a token: verification checks `iss` again on the verified
    /// payload. `None`: no string `iss`, a payload that cannot be read, or a token too long.
    pub fn claimed_issuer(&self) -> Option<&str> {
        if self.bytes.len() > MAX_TOKEN_LEN {
            return None;
        }
        match self.payload().ok()?.claims.get("iss")? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::AlgSet;
    use crate::reason::Reason;

    fn b64(s: &str) -> String {
        b64::encode(s.as_bytes())
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    #[test]
    fn parses_lazily_and_once() {
        let t = token(r#"{"alg":"RS256","kid":"k"}"#, r#"{"iss":"https://a/","exp":1}"#);
        let v = Token::new(t.as_bytes());
        assert!(v.header.get().is_none() && v.payload.get().is_none());
        assert_eq!(v.claimed_issuer(), Some("https://a/"));
        assert!(v.header.get().is_none(), "the issuer needs no header");
        let p1: *const Payload = v.payload().unwrap();
        assert!(std::ptr::eq(p1, v.payload().unwrap()), "parsed once");
        assert!(v.precheck(&Policy::default()).is_ok());
        let h1: *const Header = v.header().unwrap();
        assert!(v.precheck(&Policy::default()).is_ok());
        assert!(std::ptr::eq(h1, v.header().unwrap()), "parsed once");
    }

    #[test]
    fn precheck_matches_the_old_one() {
        let cases = [
            token(r#"{"alg":"RS256"}"#, "{}"),
            token(r#"{"alg":"none"}"#, "{}"),
            token(r#"{"alg":"HS256"}"#, "{}"),
            token(r#"{"alg":"RS256","crit":["x"]}"#, "{}"),
            token(r#"{"alg":"RS256","kid":1}"#, "{}"),
            "a.b".to_owned(),
            "!!.e30.x".to_owned(),
            format!("{}.e30.x", b64("[1]")),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ];
        let policy = Policy {
            algorithms: AlgSet::empty().with(crate::alg::Algorithm::RS256),
            leeway: 0,
        };
        for t in &cases {
            let view = Token::new(t.as_bytes());
            // Twice: a remembered failure answers as the first time.
            for _ in 0..2 {
                assert_eq!(
                    view.precheck(&policy),
                    verify::precheck(t.as_bytes(), &policy),
                    "{t}"
                );
            }
        }
        let v = Token::new(cases[1].as_bytes());
        assert_eq!(v.precheck(&policy).unwrap_err().reason, Reason::Algorithm);
    }

    #[test]
    fn claimed_issuer_as_unverified_issuer_read_it() {
        let long = format!(
            "{}.{}.",
            b64(r#"{"alg":"RS256"}"#),
            b64(&format!(r#"{{"iss":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN)))
        );
        let cases = [
            token(r#"{"alg":"RS256"}"#, r#"{"iss":"A"}"#),
            token(r#"{"alg":"RS256"}"#, r#"{"iss":1}"#),
            token(r#"{"alg":"RS256"}"#, r#"{}"#),
            format!("x.{}.y.z", b64(r#"{"iss":"four parts"}"#)),
            format!("x.{}", b64(r#"{"iss":"two parts"}"#)),
            "x.!!.y".to_owned(),
            format!("x.{}.y", b64("[]")),
            long,
        ];
        let want = [
            Some("A"),
            None,
            None,
            Some("four parts"),
            Some("two parts"),
            None,
            None,
            None,
        ];
        for (t, want) in cases.iter().zip(want) {
            assert_eq!(Token::new(t.as_bytes()).claimed_issuer(), want, "{t}");
        }
    }
}
