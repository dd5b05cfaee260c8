//! The OpenSSL 3 functions and constants used here, declared by hand from OpenSSL's headers
//! (`evp.h`, `rsa.h`, `params.h`, `err.h`, `core.h`). Not linked to any library here: the
//! linking program provides libcrypto (see the crate's Cargo.toml). The module checks the
//! constants and `OSSL_PARAM`'s size against NGINX's bindgen output when it builds.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_ulong, c_void};

/// `EVP_PKEY` (opaque).
#[repr(C)]
pub struct EVP_PKEY {
    _opaque: [u8; 0],
}
/// `EVP_PKEY_CTX` (opaque).
#[repr(C)]
pub struct EVP_PKEY_CTX {
    _opaque: [u8; 0],
}
/// `EVP_MD` (opaque).
#[repr(C)]
pub struct EVP_MD {
    _opaque: [u8; 0],
}
/// `OSSL_LIB_CTX` (opaque).
#[repr(C)]
pub struct OSSL_LIB_CTX {
    _opaque: [u8; 0],
}

/// `OSSL_PARAM` (`core.h`, `struct ossl_param_st`).
#[repr(C)]
pub struct OSSL_PARAM {
    pub key: *const c_char,
    pub data_type: c_uint,
    pub data: *mut c_void,
    pub data_size: usize,
    pub return_size: usize,
}

/// `OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY`.
pub const EVP_PKEY_PUBLIC_KEY: c_int = 0x86;
pub const RSA_PKCS1_PADDING: c_int = 1;
pub const RSA_PKCS1_PSS_PADDING: c_int = 6;
/// The PSS salt is exactly as long as the digest.
pub const RSA_PSS_SALTLEN_DIGEST: c_int = -1;

extern "C" {
    pub fn EVP_PKEY_CTX_new_from_name(
        libctx: *mut OSSL_LIB_CTX,
        name: *const c_char,
        propquery: *const c_char,
    ) -> *mut EVP_PKEY_CTX;
    pub fn EVP_PKEY_CTX_new_from_pkey(
        libctx: *mut OSSL_LIB_CTX,
        pkey: *mut EVP_PKEY,
        propquery: *const c_char,
    ) -> *mut EVP_PKEY_CTX;
    pub fn EVP_PKEY_CTX_free(ctx: *mut EVP_PKEY_CTX);
    pub fn EVP_PKEY_fromdata_init(ctx: *mut EVP_PKEY_CTX) -> c_int;
    pub fn EVP_PKEY_fromdata(
        ctx: *mut EVP_PKEY_CTX,
        ppkey: *mut *mut EVP_PKEY,
        selection: c_int,
        params: *mut OSSL_PARAM,
    ) -> c_int;
    pub fn EVP_PKEY_free(pkey: *mut EVP_PKEY);
    pub fn EVP_PKEY_verify_init(ctx: *mut EVP_PKEY_CTX) -> c_int;
    pub fn EVP_PKEY_verify(
        ctx: *mut EVP_PKEY_CTX,
        sig: *const c_uchar,
        siglen: usize,
        tbs: *const c_uchar,
        tbslen: usize,
    ) -> c_int;
    pub fn EVP_PKEY_CTX_set_signature_md(ctx: *mut EVP_PKEY_CTX, md: *const EVP_MD) -> c_int;
    pub fn EVP_PKEY_CTX_set_rsa_padding(ctx: *mut EVP_PKEY_CTX, pad_mode: c_int) -> c_int;
    pub fn EVP_PKEY_CTX_set_rsa_mgf1_md(ctx: *mut EVP_PKEY_CTX, md: *const EVP_MD) -> c_int;
    pub fn EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx: *mut EVP_PKEY_CTX, saltlen: c_int) -> c_int;
    pub fn EVP_sha256() -> *const EVP_MD;
    pub fn EVP_sha384() -> *const EVP_MD;
    pub fn EVP_sha512() -> *const EVP_MD;
    pub fn OSSL_PARAM_construct_BN(key: *const c_char, buf: *mut c_uchar, bsize: usize) -> OSSL_PARAM;
    pub fn OSSL_PARAM_construct_end() -> OSSL_PARAM;
    pub fn ERR_peek_last_error() -> c_ulong;
    pub fn ERR_clear_error();
    pub fn ERR_error_string_n(e: c_ulong, buf: *mut c_char, len: usize);
}
