//! The configuration, by feature. Every configuration error is an `[emerg]` naming the
//! directive and the problem; the decisions themselves (what is a valid algorithm, a usable
//! JWKS, a realm) belong to the core.
//!
//! - [`types`]: `MainConf`, `LocConf` and their one merge (re-exported here).
//! - [`directive`]: what every directive handler shares (arguments, errors, its C entry).
//! - one file per feature with its directives: [`mode`], [`key_sources`], [`discovery`], [`policy`],
//!   [`caches`], [`member_sets`]; the revocation directives are in `revocation/config.rs`.
//! - [`commands`]: the command table, one line per directive.
//! - [`lifecycle`]: what NGINX calls once directives are read (merge, init, postconfiguration).
//!
//! A new feature's directives go in their own file (`src/<feature>/config.rs`, or here), with
//! one line each in [`commands`] and their fields in [`types`] (an inheritable one named in the
//! merge's `inherit!` list).

pub mod caches;
pub mod commands;
pub mod directive;
pub mod discovery;
pub mod key_sources;
pub mod lifecycle;
pub mod member_sets;
pub mod mode;
pub mod policy;
mod types;

pub use types::*;
