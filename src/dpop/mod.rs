//! DPoP (RFC 9449) at the resource server, the NGINX side: the directives
//! ([`config`]) and the settings they make ([`conf`]), the replay cache's shared zone ([`zone`]) and the per-request checks and
//! answers ([`check`]). Every rule is the core's ([`jwt_peer_auth_core::dpop`]).

pub mod check;
pub mod conf;
pub mod config;
pub mod zone;
