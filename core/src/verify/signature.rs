//! Signatures, per algorithm family: RSA (with the outside arithmetic of [`RsaMath`] when a key
//! has it, else ring), ECDSA P-256 and P-384, Ed25519, HMAC.

use ring::{hmac, signature};

use crate::alg::Algorithm;
use crate::jwk::{Jwk, KeyMaterial};

/// The arithmetic of an RSA signature check, done outside the core for a key the core
/// accepted: the module hands it to the OpenSSL NGINX links, which keeps the key prepared
/// (ring 0.17 rebuilds its public key, R² mod n included, on every verification; see the
/// README's Performance section). Attached per key with [`KeySet::attach_rsa_math`].
///
/// Everything that decides stays in the core and runs before: the algorithm allow-list, key
/// choice (`kid`, `alg`, `kty`, `use`, `key_ops`), the key rules (2048 to 8192 bits, an odd
/// exponent of at least 3, an odd modulus, no ROCA fingerprint), a signature exactly as long
/// as the modulus, and the message digest, computed by ring with the algorithm's hash.
///
/// `Send + Sync` like the rest of a key set (a configuration's key files live in `static`
/// and `Arc` places): an implementation keeping per-use state guards it.
///
/// [`KeySet::attach_rsa_math`]: crate::jwk::KeySet::attach_rsa_math
pub trait RsaMath: Send + Sync {
    /// Whether `sig` is an `alg` signature (RS256 to PS512) of a message whose digest under
    /// `alg`'s hash is `digest`. PKCS #1 v1.5 for RS*; for PS*, PSS with MGF1 of the same hash
    /// and a salt exactly as long as the digest (RFC 7518 §3.5). `Ok(false)`: not a valid
    /// signature. `Err`: the arithmetic could not be done (the caller then asks ring).
    fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError>;
}

/// [`RsaMath`] could not check a signature (not: the signature is wrong). The implementation
/// reports the cause itself; the core then verifies with ring, so a failure of the outside
/// library neither accepts a token nor refuses one that ring would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaMathError;

/// The hash of an RSA algorithm, for the digest [`RsaMath`] gets.
fn rsa_digest(alg: Algorithm) -> &'static ring::digest::Algorithm {
    match alg {
        Algorithm::RS384 | Algorithm::PS384 => &ring::digest::SHA384,
        Algorithm::RS512 | Algorithm::PS512 => &ring::digest::SHA512,
        _ => &ring::digest::SHA256,
    }
}

/// Verifies one signature. Constant-time where it matters (HMAC via ring). RSA signatures go
/// to the key's [`RsaMath`] when it has one, else to ring.
pub fn verify_signature(key: &Jwk, alg: Algorithm, input: &[u8], sig: &[u8]) -> bool {
    use signature::VerificationAlgorithm as _;
    let rsa: &signature::RsaParameters = match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    };
    match (&key.material, alg) {
        (KeyMaterial::Rsa(c), a) if a.family() == crate::alg::KeyFamily::Rsa => {
            // RFC 8017 §8.2.2 step 1, §8.1.2 step 1: a signature is exactly as long as the
            // modulus (`n` has no leading zero bytes). ring checks it too; checked here for
            // any arithmetic (OpenSSL 3.0's PSS verification takes a shorter one as a smaller
            // number: a PS256 signature with its leading zero byte dropped verifies).
            if sig.len() != c.n.len() {
                return false;
            }
            if let Some(math) = key.rsa_math() {
                let digest = ring::digest::digest(rsa_digest(a), input);
                if let Ok(valid) = math.verify_digest(a, digest.as_ref(), sig) {
                    return valid;
                }
            }
            c.verify(rsa, input, sig).is_ok()
        }
        (KeyMaterial::EcP256(p), Algorithm::ES256) => signature::ECDSA_P256_SHA256_FIXED
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::EcP384(p), Algorithm::ES384) => signature::ECDSA_P384_SHA384_FIXED
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::Ed25519(p), Algorithm::EdDSA) => signature::ED25519
            .verify(p.as_slice().into(), input.into(), sig.into())
            .is_ok(),
        (KeyMaterial::Oct(k), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
            let h = match alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                _ => hmac::HMAC_SHA512,
            };
            hmac::verify(&hmac::Key::new(h, k), input, sig).is_ok()
        }
        _ => false,
    }
}
