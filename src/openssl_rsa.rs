//! The arithmetic of RSA signature checks by the OpenSSL NGINX links (issue 16).
//!
//! ring 0.17 rebuilds an RSA public key (R² mod n included) on every verification and has no
//! way to keep one; OpenSSL keeps it. Measured in one process (`jwt-mint time`, README
//! Performance): a 2048-bit RS256 check costs about 21 µs here against 26.5 µs with ring, PS256
//! 22 against 28, and 4096-bit keys about 22 % less. That holds only with the key and a
//! verification context per algorithm made once: `EVP_DigestVerifyInit` per call costs about
//! as much as it saves. ECDSA and EdDSA stay with ring, which is faster there.
//!
//! Each RSA key of a key set gets a `jwt_peer_auth_ossl::RsaKey` when the set is loaded (a
//! worker's fetched set, once per generation; a `jwt_peer_auth_jwks_file`, once at
//! configuration time): the `EVP_PKEY` from `n` and `e`, and per algorithm, on its first use,
//! an `EVP_PKEY_CTX` set up for verification. A request then costs one `EVP_PKEY_verify` over
//! the digest the core computed. The OpenSSL declarations and their owned wrappers are in the
//! `ossl/` crate (shared with `jwt-mint time`); it links no library: the symbols resolve from
//! the libcrypto NGINX loaded. This file checks the hand-written declarations against NGINX's
//! bindings, logs OpenSSL's failures (the verdict then goes to ring) and says which keys got
//! OpenSSL.
//!
//! Needs NGINX built with OpenSSL 3 (as Debian's, the official images and the vendored build
//! are); without SSL in NGINX ([`attach`] does nothing) every signature is checked by ring.

use jwt_peer_auth_core::KeySet;

/// Gives the RSA keys of `set` their OpenSSL arithmetic. A key OpenSSL cannot take stays with
/// ring (and an error line says so).
pub fn attach(set: &mut KeySet) {
    #[cfg(ngx_feature = "ssl")]
    imp::attach(set);
    #[cfg(not(ngx_feature = "ssl"))]
    let _ = set;
}

#[cfg(ngx_feature = "ssl")]
mod imp {
    use std::ffi::c_int;
    use std::ptr;

    use jwt_peer_auth_core::jwk::printable;
    use jwt_peer_auth_core::KeySet;
    use jwt_peer_auth_ossl::{ffi, Failure, RsaKey};
    use ngx::ffi::{ngx_log_t, OPENSSL_VERSION_MAJOR};

    use crate::log::log;

    // EVP_PKEY_fromdata, EVP_PKEY_CTX_new_from_pkey and the EVP_PKEY_CTX_set_rsa_* functions
    // are OpenSSL 3 API.
    const _: () = assert!(
        OPENSSL_VERSION_MAJOR >= 3,
        "jwt_peer_auth needs NGINX built with OpenSSL 3"
    );
    // The constants and the OSSL_PARAM layout written by hand in ossl/ are those of the
    // OpenSSL headers NGINX is built with (its bindgen output).
    const _: () = assert!(
        ffi::EVP_PKEY_PUBLIC_KEY == ngx::ffi::EVP_PKEY_PUBLIC_KEY as c_int
            && ffi::RSA_PKCS1_PADDING == ngx::ffi::RSA_PKCS1_PADDING as c_int
            && ffi::RSA_PKCS1_PSS_PADDING == ngx::ffi::RSA_PKCS1_PSS_PADDING as c_int
            && ffi::RSA_PSS_SALTLEN_DIGEST == ngx::ffi::RSA_PSS_SALTLEN_DIGEST as c_int
            && size_of::<ffi::OSSL_PARAM>() == size_of::<ngx::ffi::OSSL_PARAM>()
            && align_of::<ffi::OSSL_PARAM>() == align_of::<ngx::ffi::OSSL_PARAM>(),
        "ossl/src/ffi.rs differs from NGINX's OpenSSL headers"
    );

    /// Logs an OpenSSL failure at error level, with OpenSSL's text for the error code.
    fn log_failure(what: &str, f: Failure) {
        let log = cycle_log();
        if !log.is_null() {
            log!(
                ERR,
                log,
                "OpenSSL: {what}: {} failed ({}); verifying with ring instead",
                f.call,
                f.text()
            );
        }
    }

    /// The current cycle's log (no request's log reaches a key set's arithmetic).
    fn cycle_log() -> *mut ngx_log_t {
        // SAFETY: NGINX sets `ngx_cycle` before it loads any configuration and only replaces
        // it on the thread that runs this module; a non-null cycle has a valid `log`.
        unsafe {
            let cycle = ngx::ffi::ngx_cycle;
            if cycle.is_null() {
                ptr::null_mut()
            } else {
                (*cycle).log
            }
        }
    }

    pub fn attach(set: &mut KeySet) {
        let mut failed = None;
        let attached = set.attach_rsa_math(|c| match RsaKey::new(&c.n, &c.e, log_failure) {
            Ok(key) => Some(Box::new(key)),
            Err(f) => {
                failed.get_or_insert(f);
                None
            }
        });
        if let Some(f) = failed {
            log_failure("preparing an RSA key", f);
        }
        let log = cycle_log();
        if attached > 0 && !log.is_null() {
            // Key ids come from the key service: printable and bounded before a log line.
            let mut kids: Vec<String> = set
                .keys
                .iter()
                .filter(|k| k.rsa_math().is_some())
                .take(8)
                .map(|k| printable(k.kid.as_deref().unwrap_or("-"), 64).replace(' ', "?"))
                .collect();
            if attached > 8 {
                kids.push("...".to_owned());
            }
            log!(
                INFO,
                log,
                "OpenSSL prepared {attached} RSA key(s) of a key set (kids: {})",
                kids.join(" ")
            );
        }
    }
}
