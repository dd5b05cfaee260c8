#!/usr/bin/env bash
# Installs the Debian packages that are missing, with apt-get (sudo when not root):
#
#   ./scripts/deps.sh        what building and the Test::Nginx files need (the demo and the build;
#                            gdb for t/024-zone-lock.t)
#   ./scripts/deps.sh ci     also what the rest of scripts/test.sh needs: valgrind, dpkg-dev
#                            and lintian (the Debian package), chromium and a font (the status
#                            page in a browser), podman, runc and mmdebstrap (the image:
#                            scripts/build-image.sh, as root; runc listed so that apt
#                            satisfies podman's "crun | runc" with it, crun fails here),
#                            node and npm (t/038-dpop-interop.t)
#
# Where npm is installed, also the npm packages of tools/dpop/ (the independent DPoP client of
# t/038), exactly as package-lock.json pins them (npm ci).
set -euo pipefail
pkgs=(
    build-essential pkg-config libclang-dev libssl-dev libpcre2-dev zlib1g-dev
    perl libtest-base-perl libtext-diff-perl libipc-run-perl liburi-perl libwww-perl
    liblist-moreutils-perl libtest-longstring-perl curl
    gdb
)
case "${1:-}" in
    "") ;;
    ci) pkgs+=(valgrind dpkg-dev lintian chromium fonts-dejavu-core podman runc mmdebstrap nodejs npm) ;;
    *) echo "usage: $0 [ci]" >&2; exit 2 ;;
esac
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
if command -v npm >/dev/null; then
    (cd "$(dirname "$0")/../tools/dpop" && npm ci --no-audit --no-fund --silent)
fi
