//! JWS algorithms (RFC 7518 §3, RFC 8037) and the allow-list.

use core::fmt;

/// The kind of key an algorithm needs. An algorithm is only ever tried with a key of its own
/// family, which is what makes HS/RS confusion impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Oct,
}

/// A JWS signature algorithm this module can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// Parses a JOSE `alg` value. Names are case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    pub fn family(self) -> KeyFamily {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::EcP256,
            Algorithm::ES384 => KeyFamily::EcP384,
            Algorithm::EdDSA => KeyFamily::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Oct,
        }
    }

    /// For HMAC algorithms, the shortest key they may use: the size of the hash output (RFC 7518
    /// §3.2: "A key of the same size as the hash output ... or larger MUST be used").
    pub fn hmac_min_key_len(self) -> Option<usize> {
        match self {
            Algorithm::HS256 => Some(32),
            Algorithm::HS384 => Some(48),
            Algorithm::HS512 => Some(64),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgError {
    /// `none` in any spelling: never accepted (RFC 8725 §3.1).
    None(String),
    /// Not a JWS algorithm this module knows.
    Unknown(String),
}

impl fmt::Display for AlgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlgError::None(n) => write!(f, "the \"{n}\" algorithm is never accepted"),
            AlgError::Unknown(n) => write!(f, "unknown algorithm \"{n}\""),
        }
    }
}

/// A set of allowed algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgSet(u16);

impl AlgSet {
    pub const fn empty() -> AlgSet {
        AlgSet(0)
    }

    /// The default allow-list: every asymmetric algorithm. HMAC algorithms must be listed
    /// explicitly, and then only ever verify with `kty: oct` keys.
    pub fn default_asymmetric() -> AlgSet {
        Algorithm::ALL
            .iter()
            .filter(|a| a.family() != KeyFamily::Oct)
            .fold(AlgSet::empty(), |s, a| s.with(*a))
    }

    pub fn with(self, alg: Algorithm) -> AlgSet {
        AlgSet(self.0 | alg.bit())
    }

    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Parses `jwt_peer_auth_algorithms` arguments.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<AlgSet, AlgError> {
        let mut set = AlgSet::empty();
        for name in names {
            if name.eq_ignore_ascii_case("none") {
                return Err(AlgError::None(name.to_string()));
            }
            let alg = Algorithm::from_name(name).ok_or_else(|| AlgError::Unknown(name.into()))?;
            set = set.with(alg);
        }
        Ok(set)
    }
}

impl Default for AlgSet {
    fn default() -> Self {
        AlgSet::default_asymmetric()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(Algorithm::from_name("rs256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
    }

    #[test]
    fn hmac_key_lengths_are_the_hash_sizes() {
        assert_eq!(Algorithm::HS256.hmac_min_key_len(), Some(32));
        assert_eq!(Algorithm::HS384.hmac_min_key_len(), Some(48));
        assert_eq!(Algorithm::HS512.hmac_min_key_len(), Some(64));
        assert_eq!(Algorithm::RS256.hmac_min_key_len(), None);
        assert_eq!(Algorithm::EdDSA.hmac_min_key_len(), None);
    }

    #[test]
    fn default_has_no_hmac() {
        let d = AlgSet::default();
        assert!(d.contains(Algorithm::RS256) && d.contains(Algorithm::EdDSA));
        assert!(!d.contains(Algorithm::HS256));
        assert_eq!(d.iter().count(), 9);
    }

    #[test]
    fn parse_refuses_none_and_unknown() {
        assert_eq!(AlgSet::parse(["NoNe"]), Err(AlgError::None("NoNe".into())));
        assert_eq!(AlgSet::parse(["RS1"]), Err(AlgError::Unknown("RS1".into())));
        let s = AlgSet::parse(["RS256", "HS256"]).unwrap();
        assert!(s.contains(Algorithm::HS256) && !s.contains(Algorithm::ES256));
    }
}
