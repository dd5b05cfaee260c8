//! Server-provided nonces (RFC 9449 §8), stateless: a nonce is a time window and the HMAC of
//! that window under a secret key, so every worker and every node holding the same key
//! accepts it, without a shared table, until its window is over.
//!
//! A nonce of window `w` (`w = now / lifetime`) is accepted during windows `w` and `w + 1`:
//! between `lifetime` and twice `lifetime` seconds after it was issued. Nonces are issued in
//! the current window, so every worker issues the same one.

use ring::hmac;

use crate::b64;

/// The shortest secret a nonce key may have.
pub const MIN_SECRET_LEN: usize = 32;

/// Bytes of the HMAC kept in a nonce.
const MAC_LEN: usize = 16;

/// A nonce key: what `jwt_peer_auth_dpop ... nonce_key=FILE` reads, or a random secret.
#[derive(Clone)]
pub struct NonceKey {
    key: hmac::Key,
    lifetime: u64,
}

impl core::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NonceKey(lifetime {}s)", self.lifetime)
    }
}

impl NonceKey {
    /// A key from `secret` (at least [`MIN_SECRET_LEN`] bytes), for nonces valid `lifetime`
    /// to twice `lifetime` seconds (at least 1).
    pub fn new(secret: &[u8], lifetime: u64) -> Result<NonceKey, &'static str> {
        if secret.len() < MIN_SECRET_LEN {
            return Err("the nonce key is shorter than 32 bytes");
        }
        if lifetime == 0 {
            return Err("the nonce lifetime is zero");
        }
        Ok(NonceKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            lifetime,
        })
    }

    fn window(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.lifetime
    }

    fn mac(&self, window: u64) -> hmac::Tag {
        let mut msg = [0u8; 18];
        msg[..10].copy_from_slice(b"dpop-nonce");
        msg[10..].copy_from_slice(&window.to_be_bytes());
        hmac::sign(&self.key, &msg)
    }

    /// The nonce to hand out at `now`: 32 base64url characters.
    pub fn issue(&self, now: i64) -> String {
        let w = self.window(now);
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&w.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(w).as_ref()[..MAC_LEN]);
        b64::encode(&raw)
    }

    /// Whether `nonce` was issued with this key in the current window or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(raw) = b64::decode(nonce.as_bytes()) else {
            return false;
        };
        if raw.len() != 8 + MAC_LEN {
            return false;
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&raw[..8]);
        let w = u64::from_be_bytes(w);
        let current = self.window(now);
        if w != current && w.checked_add(1) != Some(current) {
            return false;
        }
        // Constant time: ring compares the whole tag; recompute and compare the prefix with
        // a constant-time fold.
        let tag = self.mac(w);
        let diff = tag.as_ref()[..MAC_LEN]
            .iter()
            .zip(&raw[8..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}

/// Fills `out` with random bytes (a nonce key made at configuration time).
pub fn random(out: &mut [u8]) -> Option<()> {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_nonces_are_accepted_for_one_to_two_lifetimes() {
        let k = NonceKey::new(&[7u8; 32], 60).unwrap();
        let n = k.issue(120);
        assert_eq!(n.len(), 32);
        assert_eq!(k.issue(179), n, "the same window, the same nonce");
        assert!(k.accepts(&n, 120) && k.accepts(&n, 239));
        assert!(!k.accepts(&n, 240), "expired after the next window");
        assert!(!k.accepts(&n, 119), "not before its window");
    }

    #[test]
    fn another_key_or_a_forged_nonce_is_refused() {
        let a = NonceKey::new(&[1u8; 32], 60).unwrap();
        let b = NonceKey::new(&[2u8; 32], 60).unwrap();
        let same = NonceKey::new(&[1u8; 32], 60).unwrap();
        let n = a.issue(1000);
        assert!(!b.accepts(&n, 1000));
        assert!(same.accepts(&n, 1000), "another node with the same key file");
        let mut raw = b64::decode(n.as_bytes()).unwrap();
        raw[20] ^= 1;
        assert!(!a.accepts(&b64::encode(&raw), 1000));
        for bad in ["", "x", "!!!!", &n[..31]] {
            assert!(!a.accepts(bad, 1000), "{bad}");
        }
    }

    #[test]
    fn key_rules() {
        assert!(NonceKey::new(&[0u8; 31], 60).is_err());
        assert!(NonceKey::new(&[0u8; 32], 0).is_err());
    }
}
