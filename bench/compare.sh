#!/usr/bin/env bash
# Our module against kjdev's nginx-auth-jwt (https://github.com/kjdev/nginx-auth-jwt) and plain
# NGINX, all in Debian's packaged NGINX (/usr/sbin/nginx, 1.22 on bookworm), in one run. Prints
# a table and writes it to bench/results/compare.md.
#
#   KJDEV_SRC=/path/to/nginx-auth-jwt bench/compare.sh
#
# Without KJDEV_SRC it says how to get kjdev's source and measures only plain NGINX and ours.
#
# What runs: one /usr/sbin/nginx binary, as four instances side by side (each on its own port,
# worker_processes auto, access_log off), every location answering with `empty_gif` (a content
# handler: a protected location must serve content; `return` would answer before the access
# phase):
#   plain      no module loaded
#   ours       our module (build/debian/, from scripts/build-debian.sh), token cache on (the
#              default, 4,096 entries per worker); also an unprotected location
#   ours-off   our module with `jwt_peer_auth_token_cache off;`
#   kjdev      kjdev's module, built here as a dynamic module the way Debian builds module
#              packages (dh's nginx_mod build system: Debian's conf_flags and dpkg-buildflags)
# The two modules cannot share one NGINX configuration: both define the prefix variables
# $jwt_header_* and $jwt_claim_*, so `nginx -t` with both load_module lines fails ("the
# duplicate "jwt_header_" variable"); the run checks that and reports what nginx said. Idle
# instances cost nothing; the instance measured is the only busy one.
#
# Both modules verify the same RS256 tokens (2048-bit key, build/jwt-mint) against the same JWKS
# file, which holds the RSA key alone (kjdev's older commits read and convert every key of the
# file on every request: more keys would only slow it down), and check exp. Before measuring,
# every protected location must answer 200 to a valid token and 401 to a bad signature, an expired
# token, a token without exp, an unsigned one, garbage and no token at all; any other answer FAILS
# the run before anything is measured.
#
# Scenarios (wrk; every response's status counted by bench/status.lua, any unexpected status or
# socket error makes the scenario FAILED):
#   plain          plain NGINX, empty_gif; the client sends the same Authorization header as
#                  in the reused-token scenarios (NGINX's own header parsing is the same)
#   plain-ours     the same, in the instance with our module loaded (off for that location)
#   ours-1         ours, one reused token (token cache on: hits)
#   kjdev-1        kjdev, one reused token (kjdev has no token cache: verified every time)
#   ours-n         ours, BENCH_TOKENS distinct tokens cycled (more than the cache: misses)
#   kjdev-n        kjdev, the same pool
#   ours-n-off     ours with the token cache off, the same pool
# Noise: the machine is shared and two workers share the connections unevenly (req/s moves by
# ±20 % between runs), so the scenarios run interleaved: COMPARE_ROUNDS rounds of all of them in
# turn (each round starts one scenario further), and each number is the median over the rounds.
# Each reports req/s and the workers' CPU time (user + system, /proc/PID/stat) per answered
# request, the steadier of the two, and "others": CPU used meanwhile by other processes.
# Distinct-token runs continue in the pool where the previous run over it stopped
# (tokens.lua START), so a run does not re-send what the last one left in the cache (at most
# the few tokens in flight when wrk stopped, one per connection, can hit).
#
# Then, if perf is installed, `perf record -F 4999` samples the workers for COMPARE_PERF_SECONDS
# during extra runs of plain, ours-1, kjdev-1, ours-n and kjdev-n, and the report splits each
# one's CPU per request by where the samples fell (the module's .so, libc's malloc/free,
# libcrypto, NGINX, the kernel): an attribution of the module's own cost that is far less noisy
# than the difference of two noisy totals.
#
# Settings (environment):
#   KJDEV_SRC             kjdev's source tree (with its submodules, for commits that have them)
#   KJDEV_NOTE            a sentence for the report about that tree (e.g. what a local change does)
#   COMPARE_ROUNDS        rounds of all scenarios                          default 3
#   BENCH_DURATION        per scenario and round, wrk syntax               default 5s
#   BENCH_THREADS         wrk threads                                      default 1
#   BENCH_CONNECTIONS     wrk connections                                  default 32
#   BENCH_TOKENS          distinct tokens in the pool                      default 10000
#   COMPARE_PERF_SECONDS  perf sampling per profiled scenario (0: none)    default 4
#   COMPARE_PORT          first of four ports on 127.0.0.1 (free ones if taken)  default 18700
#   COMPARE_RESULTS       where the report goes             default bench/results/compare.md
#   COMPARE_QUIET         before each measurement, wait at most this many seconds for a second
#                         in which the CPUs were at least 80 % idle (0: do not wait)  default 0
#   BENCH_SKIP_BUILD=1    use build/debian/ as it is (kjdev is rebuilt only when its source,
#                         NGINX's or the flags change)
# At the defaults the run takes about 3 minutes (plus builds and, the first time, minting the pool).
# The work is done by tools/ngxfix/compare.py, on the shared fixture (tools/ngxfix).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/compare.py "$@"
