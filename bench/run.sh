#!/usr/bin/env bash
# The benchmark: builds (release), starts NGINX and the real JWThenticator on loopback, measures
# with wrk, prints a table and writes it to bench/results/latest.md.
#
#   (a) no auth: the same kind of location serving a small static file
#   (b) jwt_peer_auth, keys from a JWKS file, one valid token reused by every request
#   (c) jwt_peer_auth, a different valid token per request (pool of pre-minted tokens, tokens.lua)
#   (c-ps256, c-es256, c-es384, c-eddsa) as (c) with the other asymmetric algorithms (2048-bit
#       RSA-PSS, P-256, P-384, Ed25519), keys from one JWKS file (jwks-algs.json)
#   (d) jwt_peer_auth, one rejected token (bad signature) sent again and again: every answer
#       must be 401; answered from the refusal cache after the first
#   (h) jwt_peer_auth, a different bad-signature token per request: every one is verified
#   (e) the baseline it replaces: auth_request to JWThenticator's /validate_request
#   (f) as (b), keys fetched with `jwt_peer_auth_key_request` from a JWKS location
#       (only if this NGINX build knows the directive)
#   (g) as (b), with `jwt_peer_auth_cert_binding on cert=$http_x_client_cert`: a bound token and
#       the client certificate in a header (as from a TLS terminator): the cost of the binding
#       check itself (PEM decode, SHA-256, compare), without TLS's own cost
#   (r) as (b), with `jwt_peer_auth_revocation_check identifier token_id` and 1,000 entries on
#       the revocation list (added through the API at the start); the token has both claims
#   (p) as (b), checked in the preaccess phase (`jwt_peer_auth_phase preaccess`)
#   (i) as (b), the JWKS file bound to the token's issuer (`issuer=`): must cost as (b)
#   (k) as (i), keys fetched with `jwt_peer_auth_key_request ... issuer=`
#   (o) as (k), the same keys found through `jwt_peer_auth_discovery` (a discovery document,
#       then the key set from the jwks_uri it names): must cost as (k), the discovery being off
#       the request path
#   (kc), (oc) as (k) and (o) with a different valid token per request (the pool of tokens.lua)
#   (b2, dp) DPoP (`jwt_peer_auth_dpop on`): one cached bound token with a fresh ES256 proof per
#       request (dp; proofs pre-minted with distinct jti, bench/dpop.lua), beside (b) again just
#       before it (b2); `jwt-mint time` measures one ES256 verification in the same run
#
# BENCH_ONLY=b,i,d runs only these scenarios (and mints only the tokens they need).
#
# Protected locations serve a static file, not `return` (which runs before the access phase).
# Every response's status is counted (status.lua); a scenario with any unexpected status or
# socket error is FAILED, never reported as a speed. Beside req/s, each scenario reports the
# NGINX workers' CPU time (user + system, /proc/PID/stat) per answered request: steadier than
# req/s when connections spread unevenly over the workers or other processes share the CPUs.
# After each distinct-token scenario, `jwt-mint time` measures the raw cost of one ring
# verification, for RSA also of the OpenSSL one the module uses (src/openssl_rsa.rs), and of
# the core's whole verify() as the module runs it, of its algorithm with the same keys, so
# that the cost of the module and NGINX around the signature is visible per algorithm.
#
# Settings (environment):
#   BENCH_DURATION     per scenario, wrk syntax              default 10s
#   BENCH_THREADS      wrk threads                           default 1
#   BENCH_CONNECTIONS  wrk connections                       default 32
#   BENCH_TOKENS       size of each token pool (c, c-*, h)   default 10000
#   BENCH_DPOP_PROOFS  DPoP proofs minted for (dp) (each used once)   default 200000
#   BENCH_VERIFY_N     least verifications per round of `jwt-mint time`   default 200
#   BENCH_PORT         NGINX port on 127.0.0.1 (JWThenticator: a free port)  default 18480
#   BENCH_SKIP_BUILD=1 use build/ as it is
# The defaults suit a 2-core machine: one wrk thread keeps wrk on one core so that NGINX
# (worker_processes auto) and, in (e), JWThenticator have the rest; 32 connections keep NGINX
# busy without measuring mostly queueing. On bigger machines raise both.
# The work is done by tools/ngxfix/bench_run.py, on the shared fixture (tools/ngxfix).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/bench_run.py "$@"
