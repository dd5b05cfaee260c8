//! For `jwt-mint time`: RSA signature arithmetic by OpenSSL's libcrypto, with the module's own
//! code (the `ossl/` crate: the key made once with EVP_PKEY_fromdata, a verification context
//! per algorithm made once, then one EVP_PKEY_verify per signature over the digest the core
//! computed). This tool links libcrypto itself (build.rs).

use jwt_peer_auth_core::KeySet;
use jwt_peer_auth_ossl::{Failure, RsaKey};

/// A failure leaves the check to ring, as in the module; `time` reports keys without OpenSSL.
fn ignore(_: &str, _: Failure) {}

/// Gives the RSA keys of `set` OpenSSL arithmetic; how many got it.
pub fn attach(set: &mut KeySet) -> usize {
    set.attach_rsa_math(|c| {
        RsaKey::new(&c.n, &c.e, ignore)
            .ok()
            .map(|k| Box::new(k) as Box<dyn jwt_peer_auth_core::verify::RsaMath>)
    })
}
