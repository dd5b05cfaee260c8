//! The arithmetic of RSA signature checks by the OpenSSL NGINX links (issue 16).
//!
//! ring 0.17 rebuilds an RSA public key (R² mod n included) on every verification and has no
//! way to keep one; OpenSSL keeps it. Measured in one process (`jwt-mint time`, README
//! Performance): a 2048-bit RS256 check costs about 21 µs here against 26.5 µs with ring, PS256
//! 22 against 28, and 4096-bit keys about 22 % less. That holds only with the key and a
//! verification context per algorithm made once: `EVP_DigestVerifyInit` per call costs about
//! as much as it saves. ECDSA and EdDSA stay with ring, which is faster there.
//!
//! Each RSA key of a key set gets an `OpensslRsa` when the set is loaded (a worker's fetched
//! set, once per generation; a `jwt_peer_auth_jwks_file`, once at configuration time): the
//! `EVP_PKEY` from `n` and `e`, and per algorithm, on its first use, an `EVP_PKEY_CTX` set up
//! for verification (padding, hash, for PSS the MGF1 hash and a salt exactly as long as the
//! digest). A request then costs one `EVP_PKEY_verify` over the digest the core computed.
//! Everything that decides is the core's ([`RsaMath`]); an OpenSSL failure other than "the
//! signature is wrong" is logged and leaves the verdict to ring.
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
    use std::ffi::{c_char, c_int, c_ulong, CStr};
    use std::ptr::{self, NonNull};
    use std::sync::{Mutex, PoisonError};

    use jwt_peer_auth_core::jwk::printable;
    use jwt_peer_auth_core::verify::{RsaMath, RsaMathError};
    use jwt_peer_auth_core::{Algorithm, KeySet};
    use ngx::ffi::{
        ngx_log_t, ERR_clear_error, ERR_error_string_n, ERR_peek_last_error, EVP_PKEY_CTX_free,
        EVP_PKEY_CTX_new_from_name, EVP_PKEY_CTX_new_from_pkey, EVP_PKEY_CTX_set_rsa_mgf1_md,
        EVP_PKEY_CTX_set_rsa_padding, EVP_PKEY_CTX_set_rsa_pss_saltlen, EVP_PKEY_CTX_set_signature_md,
        EVP_PKEY_free, EVP_PKEY_fromdata, EVP_PKEY_fromdata_init, EVP_PKEY_verify, EVP_PKEY_verify_init,
        EVP_sha256, EVP_sha384, EVP_sha512, OSSL_PARAM_construct_BN, OSSL_PARAM_construct_end, EVP_MD,
        EVP_PKEY, EVP_PKEY_CTX, EVP_PKEY_PUBLIC_KEY, NGX_LOG_ERR, NGX_LOG_INFO, OPENSSL_VERSION_MAJOR,
        RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_DIGEST,
    };
    use ngx::ngx_log_error;

    // EVP_PKEY_fromdata, EVP_PKEY_CTX_new_from_pkey and the EVP_PKEY_CTX_set_rsa_* functions
    // are OpenSSL 3 API.
    const _: () = assert!(
        OPENSSL_VERSION_MAJOR >= 3,
        "jwt_peer_auth needs NGINX built with OpenSSL 3"
    );

    /// The RSA algorithms, in the order of [`OpensslRsa::ctxs`].
    const ALGS: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// An OpenSSL call that failed, and OpenSSL's last error code then.
    #[derive(Clone, Copy)]
    struct Failure {
        call: &'static str,
        code: c_ulong,
    }

    impl Failure {
        /// Records the failure of `call` and empties OpenSSL's error queue: it is per thread,
        /// and NGINX's SSL code reads it after its own calls.
        fn of(call: &'static str) -> Failure {
            // SAFETY: both only touch this thread's OpenSSL error queue.
            let code = unsafe { ERR_peek_last_error() };
            // SAFETY: as above.
            unsafe { ERR_clear_error() };
            Failure { call, code }
        }

        /// Logs the failure at error level, with OpenSSL's text for the error code.
        fn log(self, what: &str) {
            let mut text = [0 as c_char; 256];
            // SAFETY: OpenSSL writes at most `text.len()` bytes, NUL included, into `text`.
            unsafe { ERR_error_string_n(self.code, text.as_mut_ptr(), text.len()) };
            // SAFETY: `text` is NUL-terminated (zeroed, and OpenSSL terminates what it writes).
            let text = unsafe { CStr::from_ptr(text.as_ptr()) };
            let log = cycle_log();
            if !log.is_null() {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "jwt_peer_auth: OpenSSL: {what}: {} failed ({}); verifying with ring instead",
                    self.call,
                    text.to_str().unwrap_or("?")
                );
            }
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

    /// An RSA public key prepared by OpenSSL, and a verification context per algorithm.
    pub struct OpensslRsa {
        /// Per algorithm of [`ALGS`], its verification context, made on first use (null: not
        /// yet). A worker has one thread, so the lock is never contended (an atomic
        /// operation or two against the ~20 µs of a verification). Declared before `pkey`:
        /// dropped first.
        ctxs: Mutex<Ctxs>,
        pkey: Pkey,
        /// Bytes of the modulus: the length of every valid signature.
        modulus_len: usize,
    }

    /// The key, owned: made by `OpensslRsa::new()`, freed on drop.
    struct Pkey(NonNull<EVP_PKEY>);

    // SAFETY: openssl-threads(7): an OpenSSL object may be used by several threads at once as
    // long as none modifies it. Nothing modifies this key after EVP_PKEY_fromdata made it:
    // contexts made from it only take a reference (an atomic count), and it is freed once,
    // by its only owner, when no context of it is left.
    unsafe impl Send for Pkey {}
    // SAFETY: as for Send.
    unsafe impl Sync for Pkey {}

    impl Drop for Pkey {
        fn drop(&mut self) {
            // SAFETY: the key is owned by this value alone (see Pkey). The contexts made from
            // it are freed before (field order in OpensslRsa), and hold references of their
            // own anyway.
            unsafe { EVP_PKEY_free(self.0.as_ptr()) };
        }
    }

    /// The verification contexts of one key, owned.
    #[derive(Default)]
    struct Ctxs([*mut EVP_PKEY_CTX; 6]);

    // SAFETY: openssl-threads(7): an object used by one thread at a time may move between
    // threads; these contexts are only reached through the Mutex of their `OpensslRsa`.
    unsafe impl Send for Ctxs {}

    impl Drop for Ctxs {
        fn drop(&mut self) {
            for ctx in self.0 {
                // SAFETY: a context made by `OpensslRsa::ctx()` and owned by this value alone;
                // EVP_PKEY_CTX_free(NULL) does nothing.
                unsafe { EVP_PKEY_CTX_free(ctx) };
            }
        }
    }

    /// `bytes` (a big-endian unsigned integer) in the byte order OSSL_PARAM_construct_BN
    /// takes: the machine's.
    fn native_endian(bytes: &[u8]) -> Vec<u8> {
        if cfg!(target_endian = "little") {
            bytes.iter().rev().copied().collect()
        } else {
            bytes.to_vec()
        }
    }

    impl OpensslRsa {
        /// The public key (`n`, `e`: big-endian, without leading zeros, checked by the core).
        fn new(n: &[u8], e: &[u8]) -> Result<OpensslRsa, Failure> {
            let mut n_ne = native_endian(n);
            let mut e_ne = native_endian(e);
            // SAFETY: a NUL-terminated name; null library context and properties (defaults).
            let build = unsafe { EVP_PKEY_CTX_new_from_name(ptr::null_mut(), c"RSA".as_ptr(), ptr::null()) };
            if build.is_null() {
                return Err(Failure::of("EVP_PKEY_CTX_new_from_name"));
            }
            // SAFETY: the parameters point into `n_ne` and `e_ne`, which outlive the
            // EVP_PKEY_fromdata call (it copies them into the key); the names are the
            // NUL-terminated OSSL_PKEY_PARAM_RSA_N/_E; `build` is the valid context made above,
            // freed once below; `pkey` is written only on success.
            let pkey = unsafe {
                let mut params = [
                    OSSL_PARAM_construct_BN(c"n".as_ptr(), n_ne.as_mut_ptr(), n_ne.len()),
                    OSSL_PARAM_construct_BN(c"e".as_ptr(), e_ne.as_mut_ptr(), e_ne.len()),
                    OSSL_PARAM_construct_end(),
                ];
                let mut pkey = ptr::null_mut();
                let ok = EVP_PKEY_fromdata_init(build) > 0
                    && EVP_PKEY_fromdata(
                        build,
                        &mut pkey,
                        EVP_PKEY_PUBLIC_KEY as c_int,
                        params.as_mut_ptr(),
                    ) > 0;
                EVP_PKEY_CTX_free(build);
                if ok {
                    NonNull::new(pkey)
                } else {
                    None
                }
            };
            let pkey = pkey.ok_or_else(|| Failure::of("EVP_PKEY_fromdata"))?;
            Ok(OpensslRsa {
                ctxs: Mutex::default(),
                pkey: Pkey(pkey),
                modulus_len: n.len(),
            })
        }

        /// The verification context for `alg` in `ctxs` (this key's, locked), made on its
        /// first use.
        fn ctx(&self, ctxs: &mut Ctxs, alg: Algorithm) -> Result<*mut EVP_PKEY_CTX, Failure> {
            let Some(i) = ALGS.iter().position(|a| *a == alg) else {
                return Err(Failure {
                    call: "an RSA algorithm",
                    code: 0,
                });
            };
            if !ctxs.0[i].is_null() {
                return Ok(ctxs.0[i]);
            }
            // SAFETY: these return OpenSSL's static digest descriptions.
            let md: *const EVP_MD = unsafe {
                match alg {
                    Algorithm::RS384 | Algorithm::PS384 => EVP_sha384(),
                    Algorithm::RS512 | Algorithm::PS512 => EVP_sha512(),
                    _ => EVP_sha256(),
                }
            };
            let pss = i >= 3;
            // SAFETY: `self.pkey` is a valid key; the context takes a reference of its own.
            let ctx =
                unsafe { EVP_PKEY_CTX_new_from_pkey(ptr::null_mut(), self.pkey.0.as_ptr(), ptr::null()) };
            if ctx.is_null() {
                return Err(Failure::of("EVP_PKEY_CTX_new_from_pkey"));
            }
            // SAFETY: `ctx` is the valid context made above; `md` a static digest. PSS
            // parameters are set after the PSS padding, which they need.
            let ok = unsafe {
                let padding = if pss {
                    RSA_PKCS1_PSS_PADDING
                } else {
                    RSA_PKCS1_PADDING
                };
                EVP_PKEY_verify_init(ctx) > 0
                    && EVP_PKEY_CTX_set_rsa_padding(ctx, padding as c_int) > 0
                    && EVP_PKEY_CTX_set_signature_md(ctx, md) > 0
                    && (!pss
                        || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0
                            // RFC 7518 §3.5: the salt is exactly as long as the digest; never
                            // OpenSSL's default for verification, any length ("auto").
                            && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0)
            };
            if !ok {
                let failure = Failure::of("setting up the verification context");
                // SAFETY: `ctx` was made above and is not kept.
                unsafe { EVP_PKEY_CTX_free(ctx) };
                return Err(failure);
            }
            ctxs.0[i] = ctx;
            Ok(ctx)
        }
    }

    impl RsaMath for OpensslRsa {
        fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError> {
            // The core checked it already; checked here again: OpenSSL 3.0's PSS verification
            // takes a shorter signature as a smaller number (a PS256 signature with its leading
            // zero byte dropped verifies), and RFC 8017 wants exactly the modulus length.
            if sig.len() != self.modulus_len {
                return Ok(false);
            }
            // Nothing panics while holding the lock; were it poisoned, the contexts would still
            // be whole (each is set up completely before it is stored).
            let mut ctxs = self.ctxs.lock().unwrap_or_else(PoisonError::into_inner);
            let ctx = self.ctx(&mut ctxs, alg).map_err(|f| {
                f.log(alg.name());
                RsaMathError
            })?;
            // SAFETY: `ctx` is this key's valid context for `alg`, used by this thread alone
            // while `ctxs` is locked; the pointers and lengths are those of the two slices.
            // EVP_PKEY_verify may be called again and again on a context set up once
            // (EVP_PKEY_verify(3)).
            let rc = unsafe { EVP_PKEY_verify(ctx, sig.as_ptr(), sig.len(), digest.as_ptr(), digest.len()) };
            drop(ctxs);
            match rc {
                1 => Ok(true),
                // EVP_PKEY_verify(3): 0 is "the signature does not verify" only.
                0 => {
                    // SAFETY: only touches this thread's OpenSSL error queue.
                    unsafe { ERR_clear_error() };
                    Ok(false)
                }
                _ => {
                    Failure::of("EVP_PKEY_verify").log(alg.name());
                    Err(RsaMathError)
                }
            }
        }
    }

    pub fn attach(set: &mut KeySet) {
        let mut failed = None;
        let attached = set.attach_rsa_math(|c| match OpensslRsa::new(&c.n, &c.e) {
            Ok(key) => Some(Box::new(key)),
            Err(f) => {
                failed.get_or_insert(f);
                None
            }
        });
        if let Some(f) = failed {
            f.log("preparing an RSA key");
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
            ngx_log_error!(
                NGX_LOG_INFO,
                log,
                "jwt_peer_auth: OpenSSL prepared {attached} RSA key(s) of a key set (kids: {})",
                kids.join(" ")
            );
        }
    }
}
