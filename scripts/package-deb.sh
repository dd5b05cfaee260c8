#!/usr/bin/env bash
# Builds a Debian package of the module for Debian's packaged NGINX (1.22.1 on bookworm):
#
#   build/libnginx-mod-http-jwt-peer-auth_<version>_<arch>.deb
#
# <version> is the root crate's version (Cargo.toml) with Debian revision DEB_REVISION
# (default 1), <arch> dpkg's architecture. The module is the one scripts/build-debian.sh
# builds for the installed nginx-dev (build/debian/), stripped. The package is laid out like
# Debian's own libnginx-mod-* packages (made by dh_nginx from nginx-dev):
#
#   /usr/lib/nginx/modules/ngx_http_jwt_peer_auth_module.so
#   /usr/share/nginx/modules-available/mod-http-jwt-peer-auth.conf   the load_module line
#   /usr/share/doc/libnginx-mod-http-jwt-peer-auth/{copyright,changelog.Debian.gz,examples/}
#
# and its maintainer scripts are dh_nginx's own snippets (nginx-dev's
# /usr/share/debhelper/autoscripts/{postinst,prerm,postrm}-nginx): configure links
# /etc/nginx/modules-enabled/50-mod-http-jwt-peer-auth.conf to the load file and triggers
# nginx-reload (NGINX's postinst reloads the service if it runs); remove renames the link to
# *.conf.removed (no longer included, kept so that a reinstall restores the admin's choice);
# purge deletes it. It depends on the nginx-abi-* virtual package the installed `nginx`
# provides (read here, not hard-coded) and on what dpkg-shlibdeps finds for the .so.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=libnginx-mod-http-jwt-peer-auth
module=ngx_http_jwt_peer_auth_module.so
conf=mod-http-jwt-peer-auth.conf
prio=50
maintainer=${DEB_MAINTAINER:-"jwt_peer_auth maintainers <maintainers@users.noreply.r-seed-333e5795.example>"}
autoscripts=/usr/share/debhelper/autoscripts

# dpkg-shlibdeps (dpkg-dev) and lintian (for scripts/test-deb-package.sh) are CI extras.
command -v dpkg-shlibdeps >/dev/null && command -v lintian >/dev/null || ./scripts/deps.sh ci

# --- the module, built for the installed nginx/nginx-dev -------------------------------------
./scripts/build-debian.sh
so=build/debian/$module

# --- versions and dependencies ---------------------------------------------------------------
upstream=$(awk '/^\[/{p = ($0 == "[package]")} p && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' Cargo.toml)
[ -n "$upstream" ] || { echo "no [package] version in Cargo.toml" >&2; exit 1; }
version=$upstream-${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
# The ABI virtual package of the installed NGINX (bookworm: nginx-abi-1.22.1-7); modules
# built for it load into any nginx package providing it.
abi=$(dpkg-query -W -f='${Provides}' nginx | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p')
[ -n "$abi" ] || { echo "the installed nginx package provides no nginx-abi-*" >&2; exit 1; }
# build-debian.sh built against nginx-dev; it must be the installed nginx's own tree.
nginx_v=$(dpkg-query -W -f='${Version}' nginx)
dev_v=$(dpkg-query -W -f='${Version}' nginx-dev)
[ "$nginx_v" = "$dev_v" ] || { echo "nginx $nginx_v but nginx-dev $dev_v" >&2; exit 1; }
for s in postinst prerm postrm; do
    [ -f "$autoscripts/$s-nginx" ] || { echo "$autoscripts/$s-nginx missing (nginx-dev)" >&2; exit 1; }
done
# Reproducible: every date is the last commit's (or now, outside git).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# --- staging tree (debhelper's layout: debian/<pkg>/ is the package root) --------------------
work=build/deb
root=$work/debian/$pkg
doc=$root/usr/share/doc/$pkg
rm -rf "$work"
umask 022
mkdir -p "$root/DEBIAN" "$root/usr/lib/nginx/modules" "$root/usr/share/nginx/modules-available" \
    "$doc/examples"

# The module, stripped as dh_strip strips shared objects.
install -m 644 "$so" "$root/usr/lib/nginx/modules/$module"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$root/usr/lib/nginx/modules/$module"
# The load file: the module path relative to NGINX's prefix (/usr/share/nginx/modules is a
# link to /usr/lib/nginx/modules), as in Debian's mod-*.conf files.
echo "load_module modules/$module;" >"$root/usr/share/nginx/modules-available/$conf"
install -m 644 nginx-conf/* "$doc/examples/"
# Lintian overrides, each with the reason it does not apply (shown by lintian).
mkdir -p "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/$pkg" <<EOF
# Built from the project's own sources, not uploaded to the Debian archive:
# there is no ITP bug to close.
$pkg: initial-upload-closes-no-bugs [usr/share/doc/$pkg/changelog.Debian.gz:1]
# The module is Rust: rustc and its precompiled std never call glibc's *_chk
# variants (_FORTIFY_SOURCE is a C compiler feature); memcpy, read etc. get
# lengths from bounds-checked slices. The only C in it, ring's crypto
# primitives, calls memset alone, on fixed-size buffers.
$pkg: hardening-no-fortify-functions [usr/lib/nginx/modules/$module]
EOF
chmod 644 "$root/usr/share/lintian/overrides/$pkg"

# changelog.Debian.gz: one entry for this version.
cat >"$work/changelog" <<EOF
$pkg ($version) bookworm; urgency=medium

  * jwt_peer_auth $upstream ($(git describe --always --dirty --abbrev=7 2>/dev/null || echo "no git")), built by scripts/package-deb.sh
    for Debian's nginx $nginx_v ($abi).

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n <"$work/changelog" >"$doc/changelog.Debian.gz"
chmod 644 "$doc/changelog.Debian.gz"

# copyright (DEP-5). The module is Apache-2.0 (Cargo.toml); it also contains the Rust crates
# it statically links, listed from `cargo tree` with their licenses. Every license met there
# must have its text below (or be an alternative to one that has), else this fails.
crates=$(cargo tree --locked --offline -q -p jwt_peer_auth \
    --no-default-features --features export-modules -e normal,no-proc-macro \
    --prefix none --format '{p}|{l}' | sed 's/ (\*)$//; s/ (\/[^)]*)//' | sort -u |
    grep -v '^jwt_peer_auth\(_core\)\? ')
licensed_ok() { # $1: an SPDX expression; true when the texts below cover it
    local spaced=${1//(/ ( } toks tok e=
    spaced=${spaced//)/ ) }
    read -ra toks <<<"$spaced"
    for tok in "${toks[@]}"; do
        case $tok in
            AND) e+=' && ' ;;
            OR) e+=' || ' ;;
            '(' | ')') e+=$tok ;;
            Apache-2.0 | MIT | ISC | Zlib) e+=1 ;;
            *) e+=0 ;;
        esac
    done
    (( e ))
}
while IFS='|' read -r crate license; do
    licensed_ok "$license" ||
        { echo "copyright: no license text for $crate ($license); add it to $0" >&2; exit 1; }
done <<<"$crates"
first_commit=$(git log --format=%ct 2>/dev/null | tail -n 1)
year_first=$(date -u -d "@${first_commit:-$SOURCE_DATE_EPOCH}" +%Y)
year_last=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
years=$year_first
[ "$year_first" = "$year_last" ] || years=$year_first-$year_last
{
    cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: jwt_peer_auth
Upstream-Contact: $maintainer
Comment: The module is built against the headers of Debian's nginx-dev (see
 /usr/share/doc/nginx-common/copyright, BSD-2-clause) and statically links
 these Rust crates, under the licenses given (where a crate offers a choice,
 it is used under Apache-2.0, or else the first of MIT, ISC, Zlib offered):
 .
EOF
    while IFS='|' read -r crate license; do
        echo " $crate: $license"
    done <<<"$crates"
    cat <<EOF

Files: *
Copyright: $years The jwt_peer_auth authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

License: ISC
 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

License: Zlib
 This software is provided 'as-is', without any express or implied
 warranty. In no event will the authors be held liable for any damages
 arising from the use of this software.
 .
 Permission is granted to anyone to use this software for any purpose,
 including commercial applications, and to alter it and redistribute it
 freely, subject to the following restrictions:
 .
 1. The origin of this software must not be misrepresented; you must not
    claim that you wrote the original software. If you use this software
    in a product, an acknowledgment in the product documentation would be
    appreciated but is not required.
 2. Altered source versions must be plainly marked as such, and must not be
    misrepresented as being the original software.
 3. This notice may not be removed or altered from any source distribution.
EOF
} >"$doc/copyright"

# Maintainer scripts: dh_nginx's snippets for one load file, wrapped as dh_nginx wraps them.
for s in postinst prerm postrm; do
    {
        printf '#!/bin/sh\nset -e\n# Automatically added by dh_nginx/UNDECLARED\n'
        sed "s|#NAMES#|$conf:$prio-$conf|" "$autoscripts/$s-nginx"
        printf '# End automatically added section\n'
    } >"$root/DEBIAN/$s"
    chmod 755 "$root/DEBIAN/$s"
done

# control: Depends from the ABI and dpkg-shlibdeps (which needs a debian/control).
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "debian/$pkg/usr/lib/nginx/modules/$module" |
    sed -n 's/^shlibs:Depends=//p')
# md5sums of every file, as dh_md5sums (paths relative to the root, without ./).
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
installed_size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $abi, $shlibs
Recommends: nginx
Section: httpd
Priority: optional
Description: JWT bearer token verification module for Nginx
 The jwt_peer_auth module verifies JWT bearer tokens in-process, in Nginx's
 access phase: signature, exp/nbf with leeway, an explicit algorithm
 allow-list and claim rules. Public keys come from a JWKS file or are fetched
 from a JWKS endpoint into a shared-memory cache that all workers read,
 refreshed in the background. Requests with a bad or missing token get a 401
 with an RFC 6750 challenge.
 .
 This package enables the module in /etc/nginx/modules-enabled/; the
 jwt_peer_auth directives then protect servers and locations. Example
 configurations are in /usr/share/doc/$pkg/examples/
 (adjust and include them inside http { }).
EOF
chmod 644 "$root/DEBIAN/control"

# --- the .deb --------------------------------------------------------------------------------
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=build/${pkg}_${version}_${arch}.deb
rm -f build/"${pkg}"_*.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built: $deb"
dpkg-deb --info "$deb" | sed -n '/^ Package:/,$p'
dpkg-deb --contents "$deb"
