#!/usr/bin/env bash
# Load and reload soak: NGINX (2 workers) with the module under constant wrk load for
# SOAK_DURATION seconds while the key service flaps and NGINX is reloaded every few seconds.
# Checks, from the access and error logs, that no invalid or missing token was ever let
# through, that no valid token was ever refused, that the key service never saw a client
# header (Range, If-None-Match, Accept-Encoding, Cookie, Authorization) in a key request, that
# no worker crashed and nothing was logged at alert/crit/emerg; reports key fetch failures,
# reloads and worker RSS per generation. Exits non-zero on any FAIL. Writes
# bench/results/soak-latest.md.
#
#   ./bench/soak.sh                          # 180 s (builds first, like bench/run.sh)
#   SOAK_DURATION=60 SOAK_SKIP_BUILD=1 ./bench/soak.sh
#   SOAK_DURATION=3600 SOAK_DELAY_MS=10 ./bench/soak.sh
#                          # a longer run: 1 h, 900 reloads, 112 key-service cycles, at most
#                          # 1,600 req/s (16 connections, 10 ms pause each): ~650 MB of error log
#                          # (every refusal is an info line) and ~250 MB of access log in
#                          # build/soak/logs/ (removed by the next run)
#
# At full speed (SOAK_DELAY_MS=0) wrk sends 30,000-50,000 req/s on 2 cores: about 5 MB of
# error log and 2 MB of access log per second, so keep unpaced runs to a few minutes.
#
# Setup (all on 127.0.0.1, everything under build/soak/, stopped on exit):
#   - port SOAK_PORT (default 18600): `location /p/` protected by jwt_peer_auth, keys from
#     `jwt_peer_auth_key_request /_jwks`, `jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s`,
#     serving a static file; `/status` is the status page.
#   - a free port: the key service (tools/ngxfix KeyService), a second server block of the same NGINX serving
#     build/soak/jwks/jwks.json. The script flaps it every SOAK_FLAP_INTERVAL seconds through a
#     fixed cycle of states (see `states` below): ok, missing (404), garbage, truncated JSON,
#     empty key set, connection closed (444 -> 502), slow (limit_rate, ~3 s per fetch),
#     rotated (an extra key: a new generation), oversized (> 1 MiB, refused). Every state but
#     the rotated one makes fetches fail; the published keys must keep serving (stale=1h).
#   - wrk (1 thread, SOAK_CONNECTIONS connections) sends a fixed, shuffled mix of request kinds,
#     each on `/p/hello.txt?kind=<kind>` so the access log (`$arg_kind $status
#     $jwt_peer_auth_status`) says per kind what happened: valid (RS256, ES256, EdDSA tokens,
#     several distinct), bad_sig, expired, unknown_kid (each forces a rate-limited refetch),
#     malformed, invalid_request (`Bearer a b`, `Bearer` alone: 400), alg_none, alg_confusion
#     (HS256 with the RSA public key as secret), missing.
#   - meanwhile a second wrk (SOAK_POISON_CONNECTIONS connections, default 2) is the
#     header-poisoning client: every request carries `Range: bytes=0-0`, `If-None-Match: *`,
#     `Accept-Encoding: gzip`, `Cookie: a=b` with `Authorization: Bearer x` (poison_malformed),
#     a token whose alg is not allowed (poison_alg: HS256, HS512, none) or a well-formed token
#     with an unknown kid (poison_kid: it does trigger rate-limited refetches, so some key
#     requests are started by a poisoned request). The key service logs those headers and
#     `Authorization` (log_format soak_jwks); the key location hides nothing (no
#     proxy_set_header), so any client header a key request carried would show there.
#   - every SOAK_RELOAD_EVERY ticks `nginx -s reload` with the configuration unchanged: a
#     reload keeps the fetched keys only when no configuration file changed (a changed one
#     makes every key source start cold, and while the key service is in a failing state valid
#     tokens would get 500 until it recovers), so the soak reloads the same files; each reload
#     still replaces the cycle and the workers. Every tick the RSS of the master and of every
#     worker is sampled with ps.
#
# Settings (environment): SOAK_DURATION (s, default 180), SOAK_PORT (default 18600),
# SOAK_CONNECTIONS (default 16), SOAK_POISON_CONNECTIONS (default 2), SOAK_FLAP_INTERVAL (s,
# default 2), SOAK_RELOAD_EVERY (ticks, default 2: a reload every 4 s, 45 in 180 s),
# SOAK_DELAY_MS (pause of each connection between its requests, default 0: as fast as
# possible), SOAK_SKIP_BUILD=1 (use build/ as it is).
# The binary and module are copied to build/soak/bin first, so a concurrent rebuild of build/
# cannot change what a reload loads mid-run.
# The work is done by tools/ngxfix/soak.py (the wrk schedule: bench/soak.lua), on the shared
# fixture (tools/ngxfix).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/soak.py "$@"
