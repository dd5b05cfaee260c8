#!/usr/bin/env bash
# Proves the module works with Debian's packaged NGINX (/usr/sbin/nginx, 1.22.1 on bookworm),
# not only with the vendored 1.28 build; run by scripts/test.sh after the main suite.
#
#  1. scripts/build-debian.sh builds build/debian/ngx_http_jwt_peer_auth_module.so against
#     Debian's own source tree and checks that /usr/sbin/nginx loads it.
#  2. A module only loads into the NGINX version it was built for: the vendored-1.28 module
#     must be refused by /usr/sbin/nginx (and the Debian one by build/nginx) with NGINX's own
#     "version X instead of Y" message.
#  3. The Test::Nginx files of t/ run against /usr/sbin/nginx with the Debian build loaded,
#     all but those in `skip` below. Debian's nginx is built --with-debug and with
#     auth_request, like the vendored one, so every file works with it; a new file that needs
#     something 1.22 lacks goes into `skip`, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

skip=(
    t/006-jwthenticator.t   # tests the token issuer (the real JWThenticator), not NGINX; slowest
)
smoke=()
for f in t/*.t; do
    [[ " ${skip[*]} " == *" $f "* ]] || smoke+=("$f")
done

./scripts/build-debian.sh
debian_nginx=/usr/sbin/nginx
debian_module=$PWD/build/debian/ngx_http_jwt_peer_auth_module.so
vendored_nginx=$PWD/build/nginx
vendored_module=$PWD/build/ngx_http_jwt_peer_auth_module.so

# nginx_version as NGINX compiles it into modules: 1.22.1 -> 1022001.
version_number() {
    "$1" -v 2>&1 | sed -n 's|.*nginx/\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*|\1 \2 \3|p' |
        { read -r a b c; echo $((a * 1000000 + b * 1000 + c)); }
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Loading module $2 (built for version number $3) into NGINX binary $1 (version number $4)
# must fail with NGINX's own message.
expect_version_refusal() {
    local nginx=$1 module=$2 got want
    printf 'load_module %s;\nevents {}\n' "$module" >"$tmp/nginx.conf"
    if got=$("$nginx" -p "$tmp" -c "$tmp/nginx.conf" -g 'error_log stderr; pid /dev/null;' -t 2>&1); then
        echo "FAIL: $nginx accepted $module" >&2
        exit 1
    fi
    want="module \"$module\" version $3 instead of $4"
    if ! grep -qF "$want" <<<"$got"; then
        printf 'FAIL: %s with %s: expected "%s", got:\n%s\n' "$nginx" "$module" "$want" "$got" >&2
        exit 1
    fi
    echo "ok: $nginx ($4) refuses a module for $3: $(grep -F "$want" <<<"$got")"
}
debian_v=$(version_number "$debian_nginx")
vendored_v=$(version_number "$vendored_nginx")
expect_version_refusal "$debian_nginx" "$vendored_module" "$vendored_v" "$debian_v"
expect_version_refusal "$vendored_nginx" "$debian_module" "$debian_v" "$vendored_v"

# OpenResty's Test::Nginx::Socket when installed; otherwise the work-alike in t/lib.
if ! perl -MTest::Nginx::Socket -e1 2>/dev/null; then
    export PERL5LIB="$PWD/t/lib${PERL5LIB:+:$PERL5LIB}"
fi
echo "t/*.t but ${skip[*]}, with TEST_NGINX_BINARY=$debian_nginx TEST_NGINX_LOAD_MODULES=$debian_module"
# NGINX_SOURCE_DIR/NGINX_BUILD_DIR: the tree the Debian module was built against, for t/034's
# helper modules (compiled at test time; a module only loads into the NGINX it was built for).
NGINX_SOURCE_DIR=$PWD/build/debian-nginx NGINX_BUILD_DIR=$PWD/build/debian-nginx/objs \
    TEST_NGINX_BINARY=$debian_nginx TEST_NGINX_LOAD_MODULES=$debian_module prove "${smoke[@]}"
