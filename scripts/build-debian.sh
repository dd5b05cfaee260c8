#!/usr/bin/env bash
# Builds the module for Debian's packaged NGINX (/usr/sbin/nginx from the `nginx` package;
# 1.22.1 on bookworm) instead of the vendored 1.28:
#
#   build/debian/ngx_http_jwt_peer_auth_module.so   load_module-able by /usr/sbin/nginx
#
# It does what Debian does for its own module packages (libnginx-mod-*, see dh_nginx and
# Debian::Debhelper::Buildsystem::nginx_mod): the `nginx-dev` package ships the patched source
# tree of the packaged binary in /usr/share/nginx/src, plus `conf_flags`, the configure flags
# that decide the module ABI (--with-compat and the modules that add fields or change the
# module signature: realip, dav, ...). That tree is copied to build/debian-nginx (configure
# writes into its source directory), configured with those flags, and scripts/build.sh then
# builds against it (NGINX_SOURCE_DIR / NGINX_BUILD_DIR). Nothing of NGINX is compiled: the
# module only needs the configured headers.
#
# Finally the module is loaded into /usr/sbin/nginx (`nginx -t`), as Debian's own module
# packages check theirs.
set -euo pipefail
cd "$(dirname "$0")/.."

src=/usr/share/nginx/src
tree=build/debian-nginx
out=${JWT_PEER_AUTH_OUT:-build/debian}
# A target directory of its own, so that this build and the vendored one (or another
# external one) do not invalidate each other's nginx-sys bindings.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/debian}

sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)

# --- packages --------------------------------------------------------------------------------
# The common build packages (libclang-dev for bindgen, libpcre2-dev, libssl-dev, zlib1g-dev:
# configure must find PCRE, OpenSSL and zlib as Debian's did, or the signature differs).
./scripts/deps.sh

# nginx (the binary) and nginx-dev (its source tree). Installing `nginx` normally starts and
# enables a service listening on port 80; when this script is the one installing it, a
# temporary policy-rc.d denies the start, and the unit is disabled afterwards, so nothing
# outside the tests runs (the tests never use port 80 or /run/nginx.pid anyway).
install_debian_nginx() {
    local missing=() p
    for p in nginx nginx-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]} (service start denied)"
    local policy=/usr/sbin/policy-rc.d own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from jwt_peer_auth scripts/build-debian.sh\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    [ -n "$own_policy" ] && "${sudo[@]}" rm -f "$policy"
    [ $rc -eq 0 ] || return $rc
    if [[ " ${missing[*]} " == *" nginx "* ]] && [ -d /run/systemd/system ]; then
        "${sudo[@]}" systemctl disable --now nginx.service >/dev/null 2>&1 || true
    fi
}
install_debian_nginx

[ -f "$src/conf_flags" ] || { echo "$src/conf_flags missing (nginx-dev)" >&2; exit 1; }

# --- configure the tree (once per nginx-dev version and flags) -------------------------------
stamp="nginx-dev $(dpkg-query -W -f='${Version}' nginx-dev); $(cat "$src/conf_flags")"
if [ "$(cat "$tree/.configured" 2>/dev/null)" != "$stamp" ]; then
    echo "configuring Debian's NGINX source ($src) in $tree"
    rm -rf "$tree"
    mkdir -p "$tree"
    cp -a "$src/." "$tree/"
    (
        cd "$tree"
        # shellcheck disable=SC1091  # defines the array NGX_CONF_FLAGS
        . ./conf_flags
        ./configure "${NGX_CONF_FLAGS[@]}" --builddir=objs >configure.log 2>&1 ||
            { cat configure.log >&2; exit 1; }
    )
    echo "$stamp" >"$tree/.configured"
fi

# --- build -----------------------------------------------------------------------------------
NGINX_SOURCE_DIR="$PWD/$tree" NGINX_BUILD_DIR="$PWD/$tree/objs" JWT_PEER_AUTH_OUT="$out" \
    ./scripts/build.sh

# --- load it into /usr/sbin/nginx ------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'load_module %s;\nevents {}\n' "$PWD/$out/ngx_http_jwt_peer_auth_module.so" >"$tmp/nginx.conf"
/usr/sbin/nginx -p "$tmp" -c "$tmp/nginx.conf" -g 'error_log stderr; pid /dev/null;' -t -q
echo "loads into: $(/usr/sbin/nginx -v 2>&1) (/usr/sbin/nginx)"
