#!/usr/bin/env bash
# Tests the image archive build/jwt-peer-auth-nginx.tar (scripts/build-image.sh) as a user
# runs it: loaded into a fresh podman storage, run read-only on loopback with a conf.d of the
# test's own. The checks are in scripts/test_image.py. As root; needs build/jwt-mint.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/test_image.py "$@"
