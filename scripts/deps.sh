#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any is missing.
set -euo pipefail
pkgs=(
    build-essential pkg-config libclang-dev libssl-dev libpcre2-dev zlib1g-dev
    perl libtest-base-perl libtext-diff-perl libipc-run-perl liburi-perl libwww-perl
    liblist-moreutils-perl libtest-longstring-perl curl valgrind
    gdb
    dpkg-dev lintian
    chromium fonts-dejavu-core
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "installing: ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
