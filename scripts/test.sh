#!/usr/bin/env bash
# Runs every test: formatting and lints, the core's unit tests (cargo test), then the
# Test::Nginx files in t/ against the real NGINX binary with the module loaded; then the
# Docker image (built and run), the build for (and tests against) Debian's packaged NGINX, the
# Debian package, the scripts' fixture, a valgrind run, the HTML status page in a real browser
# and a short fuzzing run.
#
#   scripts/test.sh          # everything (CI; about 15-20 min on 2 cores)
#   scripts/test.sh quick    # the developer's tier: build, fmt, clippy, core tests, t/ (a few min)
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
case $tier in
    all | quick) ;;
    *) echo "usage: $0 [quick]" >&2; exit 2 ;;
esac

./scripts/deps.sh ci
# The vendored NGINX's configure arguments, as scripts/build.sh sets them: clippy and cargo
# test rebuild nginx-sys with other ones otherwise (and the next build.sh would copy that
# NGINX, without auth_request).
export NGX_CONFIGURE_ARGS=${NGX_CONFIGURE_ARGS:---with-http_auth_request_module}
./scripts/build.sh
cargo fmt --all -- --check
# Layers point down: no import circle of more than 3 src/ files (CONTRIBUTING.md, Architecture).
python3 scripts/import-cycles.py
cargo clippy --locked --release --workspace --all-targets -- -D warnings
cargo test --locked --release -p jwt_peer_auth_core -p jwt-mint -p jwt_peer_auth_ossl

# The real JWThenticator for t/006-jwthenticator.t: a venv (build/venv) with the pinned PyPI
# package (needs python3 and pip reaching PyPI the first time; then only a quick check).
tools/jwthenticator/setup.sh >/dev/null

# OpenResty's Test::Nginx::Socket when installed; otherwise the work-alike in t/lib.
if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$PWD/t/lib${PERL5LIB:+:$PERL5LIB}"
fi
prove -r t/
if [ "$tier" = quick ]; then
    echo "== quick tier passed (scripts/test.sh without arguments runs everything)"
    exit 0
fi

# The Docker image (Dockerfile), built offline from the Debian package with mmdebstrap and
# podman (build/jwt-peer-auth-nginx.tar), then loaded into a fresh storage and run read-only
# on loopback: tokens, keys from the host, reloads under load, logs, graceful stop.
echo "== Docker image: scripts/build-image.sh, scripts/test-image.sh"
./scripts/build-image.sh
./scripts/test-image.sh

# Debian's packaged NGINX (bookworm: 1.22.1): build the module for /usr/sbin/nginx
# (build/debian/), check that NGINX refuses modules built for another version, and run
# t/ files against /usr/sbin/nginx with that module.
echo "== Debian's NGINX: scripts/test-debian.sh (build/debian/, /usr/sbin/nginx)"
./scripts/test-debian.sh

# The Debian package (scripts/package-deb.sh) installed with apt into Debian's NGINX: lintian,
# apt-get install, a protected location on /usr/sbin/nginx (module loaded through
# /etc/nginx/modules-enabled/), apt-get remove (nginx -t still passes), apt-get purge.
echo "== Debian package: scripts/test-deb-package.sh"
./scripts/test-deb-package.sh

# Memory safety: a subset of t/ under valgrind, then the reload and fault sequences t/ cannot
# express (tools/ngxfix/valgrind.py; about 10 min).
echo "== the fixture of scripts/ and bench/: tools/ngxfix/selftest.py"
python3 tools/ngxfix/selftest.py
echo "== valgrind: scripts/valgrind.sh"
./scripts/valgrind.sh

# The HTML status page in headless Chromium (Debian's chromium): the DOM the browser built
# (key sources, escaped kids, warnings, counters that move) and a screenshot kept as an
# artifact, build/status-page.png (about 10 s).
echo "== status page in a browser: scripts/test-status-browser.sh"
./scripts/test-status-browser.sh

# Fuzzing the verification core (fuzz/, cargo-fuzz on nightly Rust): 15 s per target, about
# 70 s with an up-to-date build; the first run also installs nightly and cargo-fuzz and
# builds the targets (a few minutes). FUZZ_SECONDS=0 skips it; `scripts/fuzz.sh 600` is the
# long run.
echo "== fuzzing: scripts/fuzz.sh ${FUZZ_SECONDS:-15}"
[ "${FUZZ_SECONDS:-15}" = 0 ] || ./scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
