//! For `jwt-mint time`: RSA signature arithmetic by OpenSSL's libcrypto, with the same calls as
//! the module's src/openssl_rsa.rs (which takes them from NGINX's bindings and NGINX's
//! libcrypto; this tool links libcrypto itself and declares the few functions it uses): the
//! key made once with EVP_PKEY_fromdata, a verification context per algorithm made once, then
//! one EVP_PKEY_verify per signature over the digest the core computed.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void};
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use jwt_peer_auth_core::verify::{RsaMath, RsaMathError};
use jwt_peer_auth_core::{Algorithm, KeySet};

#[repr(C)]
struct EvpPkey {
    _opaque: [u8; 0],
}
#[repr(C)]
struct EvpPkeyCtx {
    _opaque: [u8; 0],
}
#[repr(C)]
struct EvpMd {
    _opaque: [u8; 0],
}
/// OpenSSL 3's OSSL_PARAM.
#[repr(C)]
struct OsslParam {
    key: *const c_char,
    data_type: c_uint,
    data: *mut c_void,
    data_size: usize,
    return_size: usize,
}

const EVP_PKEY_PUBLIC_KEY: c_int = 0x86;
const RSA_PKCS1_PADDING: c_int = 1;
const RSA_PKCS1_PSS_PADDING: c_int = 6;
const RSA_PSS_SALTLEN_DIGEST: c_int = -1;

#[link(name = "crypto")]
extern "C" {
    fn EVP_PKEY_CTX_new_from_name(
        lib: *mut c_void,
        name: *const c_char,
        props: *const c_char,
    ) -> *mut EvpPkeyCtx;
    fn EVP_PKEY_CTX_new_from_pkey(
        lib: *mut c_void,
        pkey: *mut EvpPkey,
        props: *const c_char,
    ) -> *mut EvpPkeyCtx;
    fn EVP_PKEY_CTX_free(ctx: *mut EvpPkeyCtx);
    fn EVP_PKEY_fromdata_init(ctx: *mut EvpPkeyCtx) -> c_int;
    fn EVP_PKEY_fromdata(
        ctx: *mut EvpPkeyCtx,
        pkey: *mut *mut EvpPkey,
        sel: c_int,
        params: *mut OsslParam,
    ) -> c_int;
    fn OSSL_PARAM_construct_BN(key: *const c_char, buf: *mut c_uchar, len: usize) -> OsslParam;
    fn OSSL_PARAM_construct_end() -> OsslParam;
    fn EVP_PKEY_free(pkey: *mut EvpPkey);
    fn EVP_PKEY_verify_init(ctx: *mut EvpPkeyCtx) -> c_int;
    fn EVP_PKEY_verify(
        ctx: *mut EvpPkeyCtx,
        sig: *const c_uchar,
        siglen: usize,
        tbs: *const c_uchar,
        len: usize,
    ) -> c_int;
    fn EVP_PKEY_CTX_set_signature_md(ctx: *mut EvpPkeyCtx, md: *const EvpMd) -> c_int;
    fn EVP_PKEY_CTX_set_rsa_padding(ctx: *mut EvpPkeyCtx, pad: c_int) -> c_int;
    fn EVP_PKEY_CTX_set_rsa_mgf1_md(ctx: *mut EvpPkeyCtx, md: *const EvpMd) -> c_int;
    fn EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx: *mut EvpPkeyCtx, len: c_int) -> c_int;
    fn EVP_sha256() -> *const EvpMd;
    fn EVP_sha384() -> *const EvpMd;
    fn EVP_sha512() -> *const EvpMd;
    fn ERR_clear_error();
}

const ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// An RSA public key made by OpenSSL, and its verification contexts (see the module's).
struct OpensslRsa {
    ctxs: Mutex<Ctxs>,
    pkey: Pkey,
    modulus_len: usize,
}

struct Pkey(NonNull<EvpPkey>);
// SAFETY: as in src/openssl_rsa.rs: nothing modifies the key once made (openssl-threads(7)).
unsafe impl Send for Pkey {}
// SAFETY: as for Send.
unsafe impl Sync for Pkey {}

impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: owned by this value alone.
        unsafe { EVP_PKEY_free(self.0.as_ptr()) };
    }
}

#[derive(Default)]
struct Ctxs([*mut EvpPkeyCtx; 6]);
// SAFETY: only reached through its Mutex: used by one thread at a time (openssl-threads(7)).
unsafe impl Send for Ctxs {}

impl Drop for Ctxs {
    fn drop(&mut self) {
        for ctx in self.0 {
            // SAFETY: owned by this value alone; NULL is a no-op.
            unsafe { EVP_PKEY_CTX_free(ctx) };
        }
    }
}

impl OpensslRsa {
    fn new(n: &[u8], e: &[u8]) -> Option<OpensslRsa> {
        let le = |b: &[u8]| -> Vec<u8> {
            if cfg!(target_endian = "little") {
                b.iter().rev().copied().collect()
            } else {
                b.to_vec()
            }
        };
        let (mut n_ne, mut e_ne) = (le(n), le(e));
        // SAFETY: as in src/openssl_rsa.rs: the buffers outlive the call that copies them, the
        // building context is freed once, `pkey` is written only on success.
        let pkey = unsafe {
            let build = EVP_PKEY_CTX_new_from_name(ptr::null_mut(), c"RSA".as_ptr(), ptr::null());
            if build.is_null() {
                return None;
            }
            let mut params = [
                OSSL_PARAM_construct_BN(c"n".as_ptr(), n_ne.as_mut_ptr(), n_ne.len()),
                OSSL_PARAM_construct_BN(c"e".as_ptr(), e_ne.as_mut_ptr(), e_ne.len()),
                OSSL_PARAM_construct_end(),
            ];
            let mut pkey = ptr::null_mut();
            let ok = EVP_PKEY_fromdata_init(build) > 0
                && EVP_PKEY_fromdata(build, &mut pkey, EVP_PKEY_PUBLIC_KEY, params.as_mut_ptr()) > 0;
            EVP_PKEY_CTX_free(build);
            if !ok {
                ERR_clear_error();
                return None;
            }
            NonNull::new(pkey)?
        };
        Some(OpensslRsa {
            ctxs: Mutex::default(),
            pkey: Pkey(pkey),
            modulus_len: n.len(),
        })
    }

    fn ctx(&self, ctxs: &mut Ctxs, alg: Algorithm) -> Option<*mut EvpPkeyCtx> {
        let i = ALGS.iter().position(|a| *a == alg)?;
        if !ctxs.0[i].is_null() {
            return Some(ctxs.0[i]);
        }
        let pss = i >= 3;
        // SAFETY: as in src/openssl_rsa.rs: a valid key, static digests, the context freed
        // when it is not kept.
        unsafe {
            let md = match alg {
                Algorithm::RS384 | Algorithm::PS384 => EVP_sha384(),
                Algorithm::RS512 | Algorithm::PS512 => EVP_sha512(),
                _ => EVP_sha256(),
            };
            let ctx = EVP_PKEY_CTX_new_from_pkey(ptr::null_mut(), self.pkey.0.as_ptr(), ptr::null());
            if ctx.is_null() {
                return None;
            }
            let padding = if pss {
                RSA_PKCS1_PSS_PADDING
            } else {
                RSA_PKCS1_PADDING
            };
            let ok = EVP_PKEY_verify_init(ctx) > 0
                && EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0
                && EVP_PKEY_CTX_set_signature_md(ctx, md) > 0
                && (!pss
                    || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0
                        && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0);
            if !ok {
                EVP_PKEY_CTX_free(ctx);
                ERR_clear_error();
                return None;
            }
            ctxs.0[i] = ctx;
            Some(ctx)
        }
    }
}

impl RsaMath for OpensslRsa {
    fn verify_digest(&self, alg: Algorithm, digest: &[u8], sig: &[u8]) -> Result<bool, RsaMathError> {
        if sig.len() != self.modulus_len {
            return Ok(false);
        }
        let mut ctxs = self.ctxs.lock().map_err(|_| RsaMathError)?;
        let ctx = self.ctx(&mut ctxs, alg).ok_or(RsaMathError)?;
        // SAFETY: this key's context for `alg`, used by one thread (locked); the slices' own
        // pointers and lengths.
        let rc = unsafe { EVP_PKEY_verify(ctx, sig.as_ptr(), sig.len(), digest.as_ptr(), digest.len()) };
        match rc {
            1 => Ok(true),
            0 => {
                // SAFETY: this thread's error queue only.
                unsafe { ERR_clear_error() };
                Ok(false)
            }
            _ => {
                // SAFETY: as above.
                unsafe { ERR_clear_error() };
                Err(RsaMathError)
            }
        }
    }
}

/// Gives the RSA keys of `set` OpenSSL arithmetic; how many got it.
pub fn attach(set: &mut KeySet) -> usize {
    set.attach_rsa_math(|c| OpensslRsa::new(&c.n, &c.e).map(|k| Box::new(k) as Box<dyn RsaMath>))
}
