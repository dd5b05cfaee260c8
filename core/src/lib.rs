//! The verification core of `jwt_peer_auth`: everything that decides whether a token is valid,
//! in plain Rust with no NGINX dependency, so `cargo test -p jwt_peer_auth_core` proves it.
//!
//! - [`bearer`]: the token from an `Authorization` header.
//! - [`verify`]: compact JWS parsing, key choice, signature and time checks; the key ring.
//! - [`token`]: a token as one request reads it, parsed at most once.
//! - [`jwk`]: JWK Sets to verification-ready keys.
//! - [`alg`]: algorithms and the allow-list.
//! - [`reason`]: why a token was refused.
//! - [`challenge`]: the `WWW-Authenticate` challenge of a refusal (RFC 6750 §3).
//! - [`roca`]: the ROCA (CVE-2017-15361) fingerprint of RSA moduli.
//! - [`policy`]: claim rules, require, max_age, claim rendering.
//! - [`conffile`]: the `include` arguments of an `nginx.conf` text.
//! - [`discovery`]: OpenID Connect discovery documents: the issuer and `jwks_uri` checks.
//! - [`freshness`]: when fetched keys are fresh, stale or must be fetched.
//! - [`binding`]: certificate-bound tokens (RFC 8705 `cnf.x5t#S256`).
//! - [`dpop`]: DPoP proofs (RFC 9449): proof checks, `cnf.jkt`, the replay cache, nonces.
//! - [`revocation`]: revocation entries, the revocation API's input and the state file.
//! - [`feed`]: the revocation feed document and the difference between two feeds.
//! - [`status`]: the status page: its model and its views (HTML, JSON, Prometheus).
//! - [`enforcement`]: which refusals are answered (`optional`, `shadow`).
//! - [`cache`]: the bounded per-worker cache keyed by a token's SHA-256 ([`digest::token`]).

// Plain Rust: the unsafe of the module is in its glue (src/) and the ossl/ crate.
#![forbid(unsafe_code)]

pub mod absent;
pub mod alg;
pub mod b64;
pub mod bearer;
pub mod binding;
pub mod cache;
pub mod challenge;
pub mod conffile;
pub mod digest;
pub mod discovery;
pub mod dpop;
pub mod enforcement;
pub mod feed;
pub mod freshness;
pub mod journal;
pub mod json;
pub mod jwk;
pub mod policy;
pub mod reason;
pub mod revocation;
pub mod roca;
pub mod status;
pub mod token;
pub mod verify;

pub use alg::{AlgSet, Algorithm};
pub use jwk::{JwksError, KeySet};
pub use reason::{Lasting, Reason, Rejection};
pub use verify::{precheck, recheck, verify, verify_bound, Policy, Verified};
