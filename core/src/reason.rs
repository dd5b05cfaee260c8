//! Why a request was refused: one status word (for `$jwt_peer_auth_status`), the HTTP status,
//! and a log detail that names the exact cause.

use core::fmt;

/// The refusal classes. Their words are part of the product (logged and exposed as a variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No bearer token in the request.
    Missing,
    /// Not a well-formed compact JWS/JWT (encoding, JSON, structure, unsupported header).
    Malformed,
    Expired,
    NotYetValid,
    /// The signature does not verify with the selected key(s).
    Signature,
    /// The token names a `kid` that no configured key has.
    UnknownKid,
    /// The algorithm is `none`, unknown, not allowed, or does not fit the key.
    Algorithm,
    /// A required claim is missing or has the wrong value.
    Claim,
    /// No keys are available to verify with (a server-side fault: 500, not 401).
    NoKeys,
    /// The request's credentials are not one well-formed bearer token: `Bearer` with no token,
    /// or with more than one (RFC 6750 §3.1 `invalid_request`, 400).
    InvalidRequest,
    /// The token is not bound to the client certificate of the request (RFC 8705 §3,
    /// `jwt_peer_auth_cert_binding`): no certificate, no `cnf.x5t#S256`, or another thumbprint.
    Binding,
    /// A checked claim (or the `kid`) has a value on the revocation list
    /// (`jwt_peer_auth_revocation_check`).
    Revoked,
    /// A DPoP proof (RFC 9449 §4.3) is missing, malformed, or fails one of its checks
    /// (`invalid_dpop_proof`).
    DpopProof,
    /// A DPoP proof seen before within its window (RFC 9449 §11.1).
    DpopReplay,
    /// A DPoP proof without a current server nonce (RFC 9449 §8, `use_dpop_nonce`).
    DpopNonce,
    /// The token is not bound to the proof's key (`cnf.jkt`, RFC 9449 §7.1), a bound token
    /// came as `Bearer`, or a `Bearer` token came where only DPoP is accepted.
    DpopBinding,
    /// The DPoP replay cache could not remember the proof (its bucket was full): refused, as
    /// it could be replayed (503).
    DpopFull,
}

impl Reason {
    /// Every reason, in a fixed order: status counters and per-reason tables are indexed by
    /// position here (see [`Reason::index`]). New reasons are only ever appended.
    pub const ALL: [Reason; 17] = [
        Reason::Missing,
        Reason::Malformed,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::Signature,
        Reason::UnknownKid,
        Reason::Algorithm,
        Reason::Claim,
        Reason::NoKeys,
        Reason::InvalidRequest,
        Reason::Binding,
        Reason::Revoked,
        Reason::DpopProof,
        Reason::DpopReplay,
        Reason::DpopNonce,
        Reason::DpopBinding,
        Reason::DpopFull,
    ];

    /// How many reasons there are: the length of per-reason tables.
    pub const COUNT: usize = Reason::ALL.len();

    /// This reason's position in [`Reason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Reason::Missing => 0,
            Reason::Malformed => 1,
            Reason::Expired => 2,
            Reason::NotYetValid => 3,
            Reason::Signature => 4,
            Reason::UnknownKid => 5,
            Reason::Algorithm => 6,
            Reason::Claim => 7,
            Reason::NoKeys => 8,
            Reason::InvalidRequest => 9,
            Reason::Binding => 10,
            Reason::Revoked => 11,
            Reason::DpopProof => 12,
            Reason::DpopReplay => 13,
            Reason::DpopNonce => 14,
            Reason::DpopBinding => 15,
            Reason::DpopFull => 16,
        }
    }

    /// Whether this is a refusal of DPoP (answered with a `DPoP` challenge).
    pub fn is_dpop(self) -> bool {
        matches!(
            self,
            Reason::DpopProof
                | Reason::DpopReplay
                | Reason::DpopNonce
                | Reason::DpopBinding
                | Reason::DpopFull
        )
    }

    /// The short word used in `$jwt_peer_auth_status` and status counters.
    pub fn word(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Signature => "signature",
            Reason::UnknownKid => "unknown_kid",
            Reason::Algorithm => "algorithm",
            Reason::Claim => "claim",
            Reason::NoKeys => "no_keys",
            Reason::InvalidRequest => "invalid_request",
            Reason::Binding => "binding",
            Reason::Revoked => "revoked",
            Reason::DpopProof => "dpop_proof",
            Reason::DpopReplay => "dpop_replay",
            Reason::DpopNonce => "dpop_nonce",
            Reason::DpopBinding => "dpop_binding",
            Reason::DpopFull => "dpop_full",
        }
    }

    /// The HTTP status a refusal for this reason answers with.
    pub fn http_status(self) -> u16 {
        match self {
            Reason::NoKeys => 500,
            Reason::InvalidRequest => 400,
            Reason::DpopFull => 503,
            _ => 401,
        }
    }

    /// A fixed `error_description` for the challenge, where one helps the client and reveals
    /// nothing about the keys.
    pub fn description(self) -> Option<&'static str> {
        match self {
            Reason::Expired => Some("The access token expired"),
            Reason::NotYetValid => Some("The access token is not valid yet"),
            _ => None,
        }
    }

    /// The `error` attribute of the `WWW-Authenticate` challenge (RFC 6750 §3.1): none when the
    /// request simply had no credentials (§3.1: "SHOULD NOT include an error code") or the
    /// fault is the server's; `invalid_request` for credentials that are not one bearer token;
    /// `invalid_token` for every refused token.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Reason::Missing | Reason::NoKeys | Reason::DpopFull => None,
            Reason::InvalidRequest => Some("invalid_request"),
            Reason::DpopProof | Reason::DpopReplay => Some("invalid_dpop_proof"),
            Reason::DpopNonce => Some("use_dpop_nonce"),
            _ => Some("invalid_token"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The detail of a refusal, for the one error-log line about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Text(&'static str),
    /// Text plus an untrusted value from the token, already made printable and bounded.
    TextValue(&'static str, String),
    /// As `TextValue`, and what the module did about it ("a refetch did not find it").
    TextValueNote(&'static str, String, &'static str),
    /// A claim of the wrong JSON type or range.
    ClaimType {
        claim: &'static str,
        what: &'static str,
    },
    Expired {
        exp: i64,
        now: i64,
        leeway: u64,
    },
    NotYetValid {
        claim: &'static str,
        at: i64,
        now: i64,
        leeway: u64,
    },
}

/// A refused token: the class and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: Detail,
}

impl Rejection {
    pub fn new(reason: Reason, text: &'static str) -> Rejection {
        Rejection {
            reason,
            detail: Detail::Text(text),
        }
    }

    pub fn with_value(reason: Reason, text: &'static str, value: &str) -> Rejection {
        Rejection {
            reason,
            detail: Detail::TextValue(text, crate::jwk::printable(value, 64)),
        }
    }

    /// The same refusal, saying what was done about it (after the detail, "; note"). Only a
    /// detail of text and value takes a note; others stay as they are.
    pub fn noted(self, note: &'static str) -> Rejection {
        match self.detail {
            Detail::TextValue(t, v) => Rejection {
                reason: self.reason,
                detail: Detail::TextValueNote(t, v, note),
            },
            _ => self,
        }
    }
}

/// A refusal the same token cannot outgrow while the keys and the location's policy stay the
/// same, so a per-worker cache may answer it again without verifying (see [`Rejection::lasting`]).
///
/// It holds no heap memory: a cache of these is bounded by its entry count alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lasting {
    /// `malformed` or `signature`, with its fixed detail text.
    Text(Reason, &'static str),
    /// `malformed`: a time claim of the wrong JSON type or range.
    ClaimType { claim: &'static str, what: &'static str },
    /// `expired` at `exp` with `leeway` seconds of skew: still expired at any later time.
    Expired { exp: i64, leeway: u64 },
}

impl Rejection {
    /// Whether this refusal may be remembered for the token it refused, and what to remember.
    ///
    /// [`crate::verify`] is a function of the token bytes, the key sets, the policy (allowed
    /// algorithms, leeway) and the time. A caller that keys what it remembers by the token's
    /// digest, the key sets (their source and generation) and the policy gets the same answer
    /// again for:
    /// - `malformed`: the token's bytes do not change;
    /// - `signature`: the same bytes under the same keys never verify (a new key generation
    ///   may verify them: the caller forgets on any key change);
    /// - `expired`: time only moves on; [`Lasting::at`] answers with the current time in the
    ///   detail, and not at all if the clock went back.
    ///
    /// Never remembered:
    /// - `not_yet_valid`: a token grows into validity;
    /// - `unknown_kid`, `no_keys`: the answer to those is to look for (new) keys;
    /// - `algorithm`: settled from the JOSE header alone, before any key or signature work (a
    ///   base64 and small JSON decode, a few µs at most: nothing worth remembering), and in
    ///   part the location's own allow-list, a policy result;
    /// - `claim`, `binding`, `revoked`: a location's policy about a valid token (claim rules,
    ///   `require`, `max_age`, the client certificate, a revocation list that may change);
    /// - `missing`, `invalid_request`: not about a token;
    /// - anything whose detail carries a value from the token (it would need heap memory).
    pub fn lasting(&self) -> Option<Lasting> {
        match (self.reason, &self.detail) {
            (Reason::Malformed | Reason::Signature, Detail::Text(t)) => Some(Lasting::Text(self.reason, t)),
            (Reason::Malformed, Detail::ClaimType { claim, what }) => {
                Some(Lasting::ClaimType { claim, what })
            }
            (Reason::Expired, Detail::Expired { exp, leeway, .. }) => Some(Lasting::Expired {
                exp: *exp,
                leeway: *leeway,
            }),
            _ => None,
        }
    }
}

impl Lasting {
    /// The refusal again at time `now`: what verifying the token afresh would answer. `None`
    /// if it may no longer hold (an expired token before its `exp`: the clock went back).
    pub fn at(self, now: i64) -> Option<Rejection> {
        let (reason, detail) = match self {
            Lasting::Text(reason, t) => (reason, Detail::Text(t)),
            Lasting::ClaimType { claim, what } => (Reason::Malformed, Detail::ClaimType { claim, what }),
            Lasting::Expired { exp, leeway } => {
                let skew = i64::try_from(leeway).unwrap_or(i64::MAX);
                if now.saturating_sub(skew) < exp {
                    return None;
                }
                (Reason::Expired, Detail::Expired { exp, now, leeway })
            }
        };
        Some(Rejection { reason, detail })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.reason)?;
        match &self.detail {
            Detail::Text(t) => f.write_str(t),
            Detail::TextValue(t, v) => write!(f, "{t} \"{v}\""),
            Detail::TextValueNote(t, v, note) => write!(f, "{t} \"{v}\"; {note}"),
            Detail::ClaimType { claim, what } => write!(f, "\"{claim}\" {what}"),
            Detail::Expired { exp, now, leeway } => {
                write!(f, "token expired at {exp}, now {now}, leeway {leeway}s")
            }
            Detail::NotYetValid {
                claim,
                at,
                now,
                leeway,
            } => write!(
                f,
                "\"{claim}\" {at} is in the future, now {now}, leeway {leeway}s"
            ),
        }?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_statuses() {
        assert_eq!(Reason::NotYetValid.word(), "not_yet_valid");
        assert_eq!(Reason::NoKeys.http_status(), 500);
        assert_eq!(Reason::Expired.http_status(), 401);
        assert_eq!(Reason::InvalidRequest.word(), "invalid_request");
        assert_eq!(Reason::InvalidRequest.http_status(), 400);
        assert_eq!(Reason::Binding.word(), "binding");
        assert_eq!(Reason::Binding.http_status(), 401);
        assert_eq!(Reason::Binding.description(), None);
        assert_eq!(Reason::Revoked.word(), "revoked");
        assert_eq!(Reason::Revoked.http_status(), 401);
    }

    #[test]
    fn error_codes_follow_rfc6750() {
        assert_eq!(Reason::Missing.error_code(), None);
        assert_eq!(Reason::NoKeys.error_code(), None);
        assert_eq!(Reason::InvalidRequest.error_code(), Some("invalid_request"));
        for r in [
            Reason::Malformed,
            Reason::Expired,
            Reason::NotYetValid,
            Reason::Signature,
            Reason::UnknownKid,
            Reason::Algorithm,
            Reason::Claim,
            Reason::Binding,
            Reason::Revoked,
            Reason::DpopBinding,
        ] {
            assert_eq!(r.error_code(), Some("invalid_token"), "{r}");
        }
        assert_eq!(Reason::DpopProof.error_code(), Some("invalid_dpop_proof"));
        assert_eq!(Reason::DpopReplay.error_code(), Some("invalid_dpop_proof"));
        assert_eq!(Reason::DpopNonce.error_code(), Some("use_dpop_nonce"));
        assert_eq!(Reason::DpopFull.error_code(), None);
        assert_eq!(Reason::DpopFull.http_status(), 503);
    }

    #[test]
    fn index_is_the_position_in_all() {
        assert_eq!(Reason::COUNT, 17);
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
        // Existing positions keep their meaning; the new reason is appended.
        assert_eq!(Reason::Missing.index(), 0);
        assert_eq!(Reason::NoKeys.index(), 8);
        assert_eq!(Reason::InvalidRequest.index(), 9);
        assert_eq!(Reason::Binding.index(), 10);
        assert_eq!(Reason::Revoked.index(), 11);
        assert_eq!(Reason::ALL[Reason::COUNT - 1], Reason::DpopFull, "appended last");
        let words: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.word()).collect();
        assert_eq!(words.len(), Reason::COUNT, "words are distinct");
    }

    #[test]
    fn display_names_the_cause() {
        let r = Rejection {
            reason: Reason::Expired,
            detail: Detail::Expired {
                exp: 5,
                now: 9,
                leeway: 1,
            },
        };
        assert_eq!(r.to_string(), "expired (token expired at 5, now 9, leeway 1s)");
        let r = Rejection::with_value(Reason::UnknownKid, "no key with kid", "a\nb");
        assert_eq!(r.to_string(), "unknown_kid (no key with kid \"a?b\")");
        let r = r.noted("a refetch did not find it");
        assert_eq!(
            r.to_string(),
            "unknown_kid (no key with kid \"a?b\"; a refetch did not find it)"
        );
        assert_eq!(r.lasting(), None);
        let r = Rejection::new(Reason::Binding, "x").noted("y");
        assert_eq!(r.to_string(), "binding (x)");
        let r = Rejection::new(Reason::Binding, "no client certificate");
        assert_eq!(r.to_string(), "binding (no client certificate)");
    }
}
