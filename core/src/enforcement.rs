//! What a refusal does: `jwt_peer_auth realm [optional | shadow]`.
//!
//! - [`Enforcement::Enforce`] (the default): every refusal is answered (401, 400, 403, 500).
//! - [`Enforcement::Optional`] (Envoy's `allow_missing`): a request without a token passes,
//!   without identity; a token that is present is held to every check.
//! - [`Enforcement::Shadow`]: every token is verified, counted and logged, but no refusal is
//!   answered: for running beside an existing check before switching over.
//!
//! A refusal that is not enforced leaves the request without identity either way: the
//! verified claims are only ever exposed for a token that passed every check.

use crate::Reason;

/// How refusals are treated in a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    #[default]
    Enforce,
    Optional,
    Shadow,
}

impl Enforcement {
    /// The `jwt_peer_auth` parameter naming a mode other than the default.
    pub fn parse(word: &str) -> Option<Enforcement> {
        match word {
            "optional" => Some(Enforcement::Optional),
            "shadow" => Some(Enforcement::Shadow),
            _ => None,
        }
    }

    /// Whether a refusal for `reason` is answered. A refusal by `jwt_peer_auth_require ...
    /// error=403` is asked as [`Reason::Claim`].
    pub fn enforces(self, reason: Reason) -> bool {
        match self {
            Enforcement::Enforce => true,
            Enforcement::Optional => reason != Reason::Missing,
            Enforcement::Shadow => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_words() {
        assert_eq!(Enforcement::parse("optional"), Some(Enforcement::Optional));
        assert_eq!(Enforcement::parse("shadow"), Some(Enforcement::Shadow));
        assert_eq!(Enforcement::parse("Optional"), None);
        assert_eq!(Enforcement::parse("enforce"), None);
        assert_eq!(Enforcement::parse(""), None);
    }

    #[test]
    fn enforce_answers_every_refusal() {
        assert!(Reason::ALL.iter().all(|r| Enforcement::Enforce.enforces(*r)));
    }

    #[test]
    fn optional_lets_only_a_missing_token_pass() {
        for r in Reason::ALL {
            assert_eq!(Enforcement::Optional.enforces(r), r != Reason::Missing, "{r:?}");
        }
        // `Authorization: Bearer` with no token, or two, is a present but invalid credential.
        assert!(Enforcement::Optional.enforces(Reason::InvalidRequest));
    }

    #[test]
    fn shadow_answers_nothing() {
        assert!(!Reason::ALL.iter().any(|r| Enforcement::Shadow.enforces(*r)));
    }
}
