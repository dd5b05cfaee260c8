//! The OpenSSL 3 calls of `jwt_peer_auth`'s RSA signature checks, declared once ([`ffi`]) and
//! wrapped once ([`RsaKey`]), for the module (`src/openssl_rsa.rs`, with the libcrypto NGINX
//! loaded) and for `jwt-mint time` (which links libcrypto itself to compare with ring).
//!
//! An [`RsaKey`] is the public key made once with `EVP_PKEY_fromdata` and, per algorithm on
//! its first use, a verification context set up once (padding, hash, for PSS the MGF1 hash and
//! a salt exactly as long as the digest); a check is then one `EVP_PKEY_verify` over the digest
//! the core computed. Everything that decides is the core's ([`RsaMath`]); an OpenSSL failure
//! other than "the signature is wrong" goes to the key's failure hook and leaves the verdict to
//! ring.
//!
//! Every `unsafe` of this crate is here, in small owned wrappers: the key ([`Pkey`]) and a
//! verification context ([`VerifyCtx`]), each freed exactly once by its owner.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_ulong, CStr};
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, PoisonError};

use jwt_peer_auth_core::verify::{RsaMath, RsaMathError};
use jwt_peer_auth_core::Algorithm;

#[allow(non_camel_case_types)]
pub mod ffi;

/// The RSA algorithms, in the order of [`RsaKey`]'s contexts.
const ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// An OpenSSL call that failed, and OpenSSL's last error code then (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub call: &'static str,
    pub code: c_ulong,
}

impl Failure {
    /// Records the failure of `call` and empties OpenSSL's error queue: it is per thread, and
    /// NGINX's SSL code reads it after its own calls.
    fn of(call: &'static str) -> Failure {
        // SAFETY: only reads this thread's OpenSSL error queue.
        let code = unsafe { ffi::ERR_peek_last_error() };
        clear_errors();
        Failure { call, code }
    }

    /// OpenSSL's text for the error code.
    pub fn text(&self) -> ErrorText {
        let mut text = [0 as c_char; 256];
        // SAFETY: OpenSSL writes at most `text.len()` bytes, NUL included, into `text`.
        unsafe { ffi::ERR_error_string_n(self.code, text.as_mut_ptr(), text.len()) };
        ErrorText(text)
    }
}

/// OpenSSL's text for an error code (NUL-terminated in a fixed buffer: no allocation).
pub struct ErrorText([c_char; 256]);

impl fmt::Display for ErrorText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: the buffer was zeroed and OpenSSL NUL-terminates what it writes into it, so
        // a NUL lies within it.
        let text = unsafe { CStr::from_ptr(self.0.as_ptr()) };
        f.write_str(text.to_str().unwrap_or("?"))
    }
}

/// Empties this thread's OpenSSL error queue.
fn clear_errors() {
    // SAFETY: only touches this thread's OpenSSL error queue.
    unsafe { ffi::ERR_clear_error() };
}

/// `bytes` (a big-endian unsigned integer) in the byte order OSSL_PARAM_construct_BN takes:
/// the machine's.
fn native_endian(bytes: &[u8]) -> Vec<u8> {
    if cfg!(target_endian = "little") {
        bytes.iter().rev().copied().collect()
    } else {
        bytes.to_vec()
    }
}

/// An RSA public key, owned: made by [`Pkey::rsa_public`], freed on drop.
pub struct Pkey(NonNull<ffi::EVP_PKEY>);

// SAFETY: openssl-threads(7): an OpenSSL object may be used by several threads at once as long
// as none modifies it. Nothing modifies this key after EVP_PKEY_fromdata made it: contexts made
// from it only take a reference (an atomic count), and it is freed once, by its only owner.
unsafe impl Send for Pkey {}
// SAFETY: as for Send.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: the key is owned by this value alone; contexts made from it hold references
        // of their own.
        unsafe { ffi::EVP_PKEY_free(self.0.as_ptr()) };
    }
}

impl Pkey {
    /// The RSA public key (`n`, `e`: big-endian unsigned integers).
    pub fn rsa_public(n: &[u8], e: &[u8]) -> Result<Pkey, Failure> {
        let mut n_ne = native_endian(n);
        let mut e_ne = native_endian(e);
        // SAFETY: a NUL-terminated name; null library context and properties (the defaults).
        let build = unsafe { ffi::EVP_PKEY_CTX_new_from_name(ptr::null_mut(), c"RSA".as_ptr(), ptr::null()) };
        if build.is_null() {
            return Err(Failure::of("EVP_PKEY_CTX_new_from_name"));
        }
        // SAFETY: the parameters point into `n_ne` and `e_ne`, which outlive the
        // EVP_PKEY_fromdata call (it copies them into the key); the names are the
        // NUL-terminated OSSL_PKEY_PARAM_RSA_N/_E; `build` is the valid context made above,
        // freed once here; `pkey` is written only on success.
        let pkey = unsafe {
            let mut params = [
                ffi::OSSL_PARAM_construct_BN(c"n".as_ptr(), n_ne.as_mut_ptr(), n_ne.len()),
                ffi::OSSL_PARAM_construct_BN(c"e".as_ptr(), e_ne.as_mut_ptr(), e_ne.len()),
                ffi::OSSL_PARAM_construct_end(),
            ];
            let mut pkey = ptr::null_mut();
            let ok = ffi::EVP_PKEY_fromdata_init(build) > 0
                && ffi::EVP_PKEY_fromdata(build, &mut pkey, ffi::EVP_PKEY_PUBLIC_KEY, params.as_mut_ptr())
                    > 0;
            ffi::EVP_PKEY_CTX_free(build);
            if ok {
                NonNull::new(pkey)
            } else {
                None
            }
        };
        pkey.map(Pkey).ok_or_else(|| Failure::of("EVP_PKEY_fromdata"))
    }
}

/// A verification context of one key for one algorithm, owned: set up completely by
/// [`VerifyCtx::new`], freed on drop.
pub struct VerifyCtx(NonNull<ffi::EVP_PKEY_CTX>);

// SAFETY: openssl-threads(7): an object used by one thread at a time may move between threads;
// `verify` takes `&mut self`, so one thread at a time uses it.
unsafe impl Send for VerifyCtx {}

impl Drop for VerifyCtx {
    fn drop(&mut self) {
        // SAFETY: the context is owned by this value alone.
        unsafe { ffi::EVP_PKEY_CTX_free(self.0.as_ptr()) };
    }
}

impl VerifyCtx {
    /// A context verifying `alg` (one of [`ALGS`]) signatures with `pkey`.
    fn new(pkey: &Pkey, alg: Algorithm) -> Result<VerifyCtx, Failure> {
        let pss = matches!(alg, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
        // SAFETY: these return OpenSSL's static digest descriptions.
        let md = unsafe {
            match alg {
                Algorithm::RS384 | Algorithm::PS384 => ffi::EVP_sha384(),
                Algorithm::RS512 | Algorithm::PS512 => ffi::EVP_sha512(),
                _ => ffi::EVP_sha256(),
            }
        };
        // SAFETY: `pkey` is a valid key; the context takes a reference of its own.
        let ctx = unsafe { ffi::EVP_PKEY_CTX_new_from_pkey(ptr::null_mut(), pkey.0.as_ptr(), ptr::null()) };
        // Owned from here on: freed on every way out.
        let ctx = VerifyCtx(NonNull::new(ctx).ok_or_else(|| Failure::of("EVP_PKEY_CTX_new_from_pkey"))?);
        let c = ctx.0.as_ptr();
        let padding = if pss {
            ffi::RSA_PKCS1_PSS_PADDING
        } else {
            ffi::RSA_PKCS1_PADDING
        };
        // SAFETY: `c` is the valid context made above; `md` a static digest. PSS parameters are
        // set after the PSS padding, which they need.
        let ok = unsafe {
            ffi::EVP_PKEY_verify_init(c) > 0
                && ffi::EVP_PKEY_CTX_set_rsa_padding(c, padding) > 0
                && ffi::EVP_PKEY_CTX_set_signature_md(c, md) > 0
                && (!pss
                    || ffi::EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) > 0
                        // RFC 7518 §3.5: the salt is exactly as long as the digest; never
                        // OpenSSL's default for verification, any length ("auto").
                        && ffi::EVP_PKEY_CTX_set_rsa_pss_saltlen(c, ffi::RSA_PSS_SALTLEN_DIGEST) > 0)
        };
        if !ok {
            return Err(Failure::of("setting up the verification context"));
        }
        Ok(ctx)
    }

    /// Whether `sig` signs `digest`: `Ok(false)` is "the signature does not verify".
    fn verify(&mut self, digest: &[u8], sig: &[u8]) -> Result<bool, Failure> {
        // SAFETY: a valid context set up for verification, used by this thread alone (`&mut`);
        // the pointers and lengths are those of the two slices. EVP_PKEY_verify may be called
        // again and again on a context set up once (EVP_PKEY_verify(3)).
        let rc = unsafe {
            ffi::EVP_PKEY_verify(
                self.0.as_ptr(),
                sig.as_ptr(),
                sig.len(),
                digest.as_ptr(),
                digest.len(),
            )
        };
        match rc {
            1 => Ok(true),
            // EVP_PKEY_verify(3): 0 is "the signature does not verify" only.
            0 => {
                clear_errors();
                Ok(false)
            }
            _ => Err(Failure::of("EVP_PKEY_verify")),
        }
    }
}

/// What a key does with a failure of OpenSSL (the algorithm's name, the failure) before it
/// leaves the check to ring: the module logs it.
pub type OnFailure = fn(&str, Failure);

/// An RSA public key prepared by OpenSSL, and a verification context per algorithm.
pub struct RsaKey {
    /// Per algorithm of [`ALGS`], its verification context, made on first use. A worker has
    /// one thread, so the lock is never contended (an atomic operation or two against the
    /// ~20 µs of a verification). Declared before `pkey`: dropped first.
    ctxs: Mutex<[Option<VerifyCtx>; 6]>,
    pkey: Pkey,
    /// Bytes of the modulus: the length of every valid signature.
    modulus_len: usize,
    on_failure: OnFailure,
}

impl RsaKey {
    /// The public key (`n`, `e`: big-endian, without leading zeros, checked by the core).
    pub fn new(n: &[u8], e: &[u8], on_failure: OnFailure) -> Result<RsaKey, Failure> {
        Ok(RsaKey {
            ctxs: Mutex::default(),
            pkey: Pkey::rsa_public(n, e)?,
            modulus_len: n.len(),
            on_failure,
        })
    }

    /// Whether `sig` is an `alg` signature over `digest`.
    pub fn verify(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, Failure> {
        // The core checked it already; checked here again: OpenSSL 3.0's PSS verification
        // takes a shorter signature as a smaller number (a PS256 signature with its leading
        // zero byte dropped verifies), and RFC 8017 wants exactly the modulus length.
        if sig.len() != self.modulus_len {
            return Ok(false);
        }
        let Some(i) = ALGS.iter().position(|a| *a == alg) else {
            return Err(Failure {
                call: "an RSA algorithm",
                code: 0,
            });
        };
        // Nothing panics while holding the lock; were it poisoned, the contexts would still be
        // whole (each is set up completely before it is stored).
        let mut ctxs = self.ctxs.lock().unwrap_or_else(PoisonError::into_inner);
        let ctx = match &mut ctxs[i] {
            Some(ctx) => ctx,
            slot => slot.insert(VerifyCtx::new(&self.pkey, alg)?),
        };
        ctx.verify(digest, sig)
    }
}

impl RsaMath for RsaKey {
    fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError> {
        self.verify(alg, digest, sig).map_err(|f| {
            (self.on_failure)(alg.name(), f);
            RsaMathError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    // The module takes libcrypto from NGINX and jwt-mint links it in its build.rs; the tests
    // of this crate link it here.
    #[link(name = "crypto")]
    extern "C" {}

    fn no_failure(what: &str, f: Failure) {
        panic!("{what}: {} failed ({})", f.call, f.text());
    }

    /// RFC 8017 §9.2 note 1: the DER DigestInfo prefix of a SHA-256 digest.
    const SHA256_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
        0x04, 0x20,
    ];

    #[test]
    fn rs256_verifies_only_the_exact_signature() {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let digest = ring::digest::digest(&ring::digest::SHA256, b"header.payload");
        let sig = key
            .sign(
                rsa::Pkcs1v15Sign::new_unprefixed(),
                &[&SHA256_INFO[..], digest.as_ref()].concat(),
            )
            .unwrap();
        let ossl = RsaKey::new(&n, &e, no_failure).unwrap();
        assert_eq!(ossl.verify(Algorithm::RS256, digest.as_ref(), &sig), Ok(true));
        // Again, on the context made by the first check.
        assert_eq!(ossl.verify(Algorithm::RS256, digest.as_ref(), &sig), Ok(true));
        let mut bad = sig.clone();
        bad[100] ^= 1;
        assert_eq!(ossl.verify(Algorithm::RS256, digest.as_ref(), &bad), Ok(false));
        let other = ring::digest::digest(&ring::digest::SHA256, b"header.payload2");
        assert_eq!(ossl.verify(Algorithm::RS256, other.as_ref(), &sig), Ok(false));
        // Not as long as the modulus: refused before OpenSSL sees it.
        assert_eq!(
            ossl.verify(Algorithm::RS256, digest.as_ref(), &sig[1..]),
            Ok(false)
        );
        // A PKCS #1 v1.5 signature is no PSS signature.
        assert_eq!(ossl.verify(Algorithm::PS256, digest.as_ref(), &sig), Ok(false));
        // Not an RSA algorithm: the verdict goes back to ring.
        assert_eq!(
            ossl.verify(Algorithm::ES256, digest.as_ref(), &sig)
                .map_err(|f| f.call),
            Err("an RSA algorithm")
        );
    }
}
