//! jwt-mint links the system's libcrypto for `jwt-mint time` (the module instead takes the
//! same symbols from the libcrypto NGINX loaded: the shared `ossl/` crate links nothing).
fn main() {
    println!("cargo::rustc-link-lib=dylib=crypto");
}
