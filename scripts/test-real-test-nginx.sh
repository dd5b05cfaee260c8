#!/usr/bin/env bash
# Runs the t/*.t files with OpenResty's real Test::Nginx::Socket (not the work-alike in t/lib):
# `prove -r t/` once as usual, then once with TEST_NGINX_USE_HUP=1 (one NGINX per file, reloaded
# with SIGHUP between blocks). Fails if either run fails. Test files given after the lib
# directory are run instead of all of t/ (both ways).
#
#   scripts/test-real-test-nginx.sh /path/to/test-nginx/lib [t/012-key-sources.t ...]
#   TEST_NGINX_LIB=/path/to/test-nginx/lib scripts/test-real-test-nginx.sh
#
# The lib/ directory of a checkout of https://github.com/openresty/test-nginx; it must stay
# outside this repository (its code is not part of the project). Uses the built module and
# NGINX in build/ (scripts/build.sh). Other TEST_NGINX_* settings (TEST_NGINX_PORT, ...) pass
# through. RUNS=N repeats both passes N times in a row (a flaky test shows up as one failed run
# among N); the first failed run ends the script.
set -euo pipefail

usage() {
    echo "usage: $0 TEST_NGINX_LIB_DIR [t/FILE.t ...]   (or set TEST_NGINX_LIB)" >&2
    exit 2
}

lib="${1:-${TEST_NGINX_LIB:-}}"
[ -n "$lib" ] || usage
[ $# -eq 0 ] || shift
# Test files, as paths relative to the repository's top directory.
for t in "$@"; do
    case "$t" in
        t/*.t) ;;
        *) usage ;;
    esac
done
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(-r t/)
[ -f "$lib/Test/Nginx/Socket.pm" ] || {
    echo "$0: $lib/Test/Nginx/Socket.pm not found: give the lib/ directory of Test::Nginx" >&2
    exit 2
}

root="$(cd "$(dirname "$0")/.." && pwd -P)"
lib="$(cd "$lib" && pwd -P)"
case "$lib/" in
    "$root/"*)
        echo "$0: $lib is inside the repository; use a Test::Nginx checkout outside it" >&2
        exit 2
        ;;
esac
# Nor in another worktree of this repository.
common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
if [ -n "$common" ] &&
    [ "$(git -C "$lib" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)" = "$common" ]; then
    echo "$0: $lib is inside a worktree of this repository; use a Test::Nginx checkout outside it" >&2
    exit 2
fi

cd "$root"
for t in "$@"; do
    [ -f "$t" ] || { echo "$0: $root/$t not found" >&2; exit 2; }
done
# Only the given lib (PERL5LIB comes before the system's @INC): not t/lib, the work-alike.
export PERL5LIB="$lib"

runs="${RUNS:-1}"
case "$runs" in
    [1-9] | [1-9][0-9]) ;;
    *) echo "$0: RUNS must be a number from 1 to 99" >&2; exit 2 ;;
esac

status=0
for run in $(seq 1 "$runs"); do
    echo "== run $run/$runs: real Test::Nginx ($lib): prove ${tests[*]}"
    env -u TEST_NGINX_USE_HUP prove "${tests[@]}" || status=1
    echo "== run $run/$runs: real Test::Nginx ($lib), TEST_NGINX_USE_HUP=1: prove ${tests[*]}"
    TEST_NGINX_USE_HUP=1 prove "${tests[@]}" || status=1
    [ "$status" -eq 0 ] || break
done

if [ "$status" -ne 0 ]; then
    echo "$0: FAILED (see above)" >&2
fi
exit "$status"
