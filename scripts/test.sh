#!/usr/bin/env bash
# Runs every test: formatting and lints, the core's unit tests (cargo test), then the
# Test::Nginx files in t/ against the real NGINX binary with the module loaded.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
./scripts/build.sh
cargo fmt --all -- --check
cargo clippy --locked --release --workspace --all-targets -- -D warnings
cargo test --locked --release -p jwt_peer_auth_core -p jwt-mint

# The real JWThenticator for t/006-jwthenticator.t: a venv (build/venv) with the pinned PyPI
# package (needs python3 and pip reaching PyPI the first time; then only a quick check).
tools/jwthenticator/setup.sh >/dev/null

# OpenResty's Test::Nginx::Socket when installed; otherwise the work-alike in t/lib.
if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$PWD/t/lib${PERL5LIB:+:$PERL5LIB}"
fi
prove -r t/
