#!/usr/bin/env bash
# Installs the Debian packages that are missing, with apt-get (sudo when not root):
#
#   ./scripts/deps.sh        what building and the Test::Nginx files need (the demo and the build;
#                            gdb for t/024-zone-lock.t; Node.js and npm, if `node` is missing, and
#                            then `npm ci` in tools/oidc-provider for t/040-discovery-provider.t
#                            and in tools/dpop for t/038-dpop-interop.t)
#   ./scripts/deps.sh ci     also what the rest of scripts/test.sh needs: valgrind, dpkg-dev
#                            and lintian (the Debian package), chromium and a font (the status
#                            page in a browser), podman, runc and mmdebstrap (the image:
#                            scripts/build-image.sh, as root; runc listed so that apt
#                            satisfies podman's "crun | runc" with it, crun fails here)
set -euo pipefail
pkgs=(
    build-essential pkg-config libclang-dev libssl-dev libpcre2-dev zlib1g-dev
    perl libtest-base-perl libtext-diff-perl libipc-run-perl liburi-perl libwww-perl
    liblist-moreutils-perl libtest-longstring-perl curl
    gdb
)
case "${1:-}" in
    "") ;;
    ci) pkgs+=(valgrind dpkg-dev lintian chromium fonts-dejavu-core podman runc mmdebstrap) ;;
    *) echo "usage: $0 [ci]" >&2; exit 2 ;;
esac
# Node.js from Debian only when no `node` is installed (a NodeSource nodejs bundles npm and
# conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    echo "installing: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The real OpenID Provider of t/040-discovery-provider.t (oidc-provider from npm, the versions
# of its package-lock.json), into tools/oidc-provider/node_modules (git-ignored).
oidc="$(cd "$(dirname "$0")/.." && pwd -P)/tools/oidc-provider"
[ -d "$oidc/node_modules/oidc-provider" ] || (cd "$oidc" && npm ci --no-audit --no-fund)
# The independent DPoP client of t/038-dpop-interop.t (dpop and jose from npm, the versions of
# its package-lock.json), into tools/dpop/node_modules (git-ignored).
dpop="$(cd "$(dirname "$0")/.." && pwd -P)/tools/dpop"
[ -d "$dpop/node_modules/dpop" ] || (cd "$dpop" && npm ci --no-audit --no-fund)
