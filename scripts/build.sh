#!/usr/bin/env bash
# Builds the module and places the results at stable paths (used by the README, the tests,
# the benchmark and the Dockerfile alike):
#
#   build/ngx_http_jwt_peer_auth_module.so   the dynamic module
#   build/nginx                              the NGINX binary it was built for (vendored builds)
#   build/jwt-mint                           the key and token helper for tests and the demo
#
# By default NGINX 1.28 vendored by the `nginx-src` crate is built and used. To build for an
# existing NGINX instead, point NGINX_SOURCE_DIR at its source tree and NGINX_BUILD_DIR at its
# configured objs/ directory (configure it --with-compat, with the same flags as the target
# binary); the module then lands in $JWT_PEER_AUTH_OUT (default build/) and no nginx is copied.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${JWT_PEER_AUTH_OUT:-build}
# The vendored NGINX also gets auth_request, for the benchmark's baseline and migration tests.
export NGX_CONFIGURE_ARGS=${NGX_CONFIGURE_ARGS:---with-http_auth_request_module}
locked=()
[ -f Cargo.lock ] && locked=(--locked)
mkdir -p "$out"

if [ -n "${NGINX_BUILD_DIR:-}${NGINX_SOURCE_DIR:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/external}
    cargo build "${locked[@]}" --release -p jwt_peer_auth --no-default-features --features export-modules
    install -m 755 "$CARGO_TARGET_DIR/release/libjwt_peer_auth.so" "$out/ngx_http_jwt_peer_auth_module.so"
else
    # The NGINX of this very build: cargo names the nginx-sys build it used (a build with other
    # features or configure arguments, e.g. by clippy, has its own, and the module's build
    # script only records the last one it ran for in target/release/nginx-build-dir).
    objs=$(cargo build "${locked[@]}" --release -p jwt_peer_auth -p jwt-mint --message-format=json-render-diagnostics |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line) if line.startswith("{") else {}
    if m.get("reason") == "build-script-executed" and "nginx-sys" in m.get("package_id", ""):
        print(m["out_dir"] + "/objs")')
    [ -x "$objs/nginx" ] || objs=$(cat target/release/nginx-build-dir)
    install -m 755 target/release/libjwt_peer_auth.so "$out/ngx_http_jwt_peer_auth_module.so"
    install -m 755 "$objs/nginx" "$out/nginx"
    install -m 755 target/release/jwt-mint "$out/jwt-mint"
fi
echo "built: $out/ngx_http_jwt_peer_auth_module.so"
