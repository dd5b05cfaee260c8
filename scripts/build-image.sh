#!/usr/bin/env bash
# Builds the Docker/OCI image jwt-peer-auth-nginx:<version> offline, with Debian's tools (as
# root): no registry, only Debian's package mirror (the host's apt sources).
#
#  1. scripts/package-deb.sh: the module's Debian package for Debian's nginx (bookworm, 1.22);
#  2. mmdebstrap: a bookworm root filesystem of Essential packages + nginx + that .deb
#     (without apt, docs, man pages, locales, gconv; docker/customize-rootfs.sh lays it out
#     like the official image and removes perl), imported as
#     localhost/jwt-peer-auth-nginx-base:<version>;
#  3. podman build --pull=never of the Dockerfile FROM that base: jwt-peer-auth-nginx:<version>;
#  4. podman save --format docker-archive: build/jwt-peer-auth-nginx.tar, for `docker load`.
#
# Podman runs with docker/containers.conf (runc, ulimits, host network); the image lands in
# podman's default storage. IMAGE_SOURCES: the apt sources file for mmdebstrap (default: the
# host's Debian sources). Prints the image's size and what it contains.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=$PWD/docker/containers.conf
start=$(date +%s)

name=jwt-peer-auth-nginx
version=$(awk '/^\[/{p = ($0 == "[package]")} p && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' Cargo.toml)
base=localhost/$name-base:$version
work=build/image
archive=build/$name.tar

for tool in podman mmdebstrap runc; do
    command -v "$tool" >/dev/null || ./scripts/deps.sh ci
done

./scripts/package-deb.sh >/dev/null
deb=$(ls build/libnginx-mod-http-jwt-peer-auth_"$version"-*_"$(dpkg --print-architecture)".deb)

sources=${IMAGE_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[ -f "$sources" ] || sources=/etc/apt/sources.list
rm -rf "$work"
mkdir -p "$work"
excludes=()
for p in /usr/share/doc /usr/share/man /usr/share/info /usr/share/locale /usr/share/lintian \
    /usr/share/bash-completion "/usr/lib/*/gconv"; do
    excludes+=(--dpkgopt="path-exclude=$p/*")
done
echo "image: mmdebstrap (bookworm, nginx, $deb)"
mmdebstrap --quiet --mode=root --variant=essential --format=tar \
    --include="usr-is-merged,nginx,$PWD/$deb" \
    --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
    "${excludes[@]}" --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook="$PWD/docker/customize-rootfs.sh \"\$1\"" \
    --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package}=\${Version}\n' >$PWD/$work/packages" \
    bookworm "$work/rootfs.tar" "$sources"
nginx_version=$(sed -n 's/^nginx=//p' "$work/packages")
module_version=$(sed -n 's/^libnginx-mod-http-jwt-peer-auth=//p' "$work/packages")

# A new base and image each time; the old ones are removed afterwards unless a container
# still uses them (never --force: that would remove a user's containers too).
ids() { for i in "$name:$version" "$base"; do podman image inspect --format '{{.Id}}' "$i" 2>/dev/null || true; done; }
old=$(ids)
podman import --quiet "$work/rootfs.tar" "$base" >/dev/null
rm "$work/rootfs.tar"
podman build --quiet --pull=never --layers=false --build-arg BASE="$base" --build-arg VERSION="$version" \
    --build-arg NGINX_VERSION="$nginx_version" -t "$name:$version" -f Dockerfile . >/dev/null
# The archive names the image twice: docker load makes the second `$name:$version`, podman
# load the first (podman has no docker.io/library default for short names).
podman tag "$name:$version" "docker.io/library/$name:$version"
new=" $(ids | tr '\n' ' ')"
for id in $old; do [[ $new == *" $id "* ]] || podman rmi "$id" >/dev/null 2>&1 || true; done
rm -f "$archive"
podman save --quiet --format docker-archive --multi-image-archive -o "$archive" \
    "localhost/$name:$version" "docker.io/library/$name:$version"

size=$(podman image inspect --format '{{.Size}}' "$name:$version")
echo "image: $name:$version, $((size / 1000000)) MB ($size bytes) uncompressed," \
    "$(($(stat -c %s "$archive") / 1000000)) MB archive $archive; built in $(($(date +%s) - start)) s"
echo "image: nginx $nginx_version (Debian), libnginx-mod-http-jwt-peer-auth $module_version," \
    "$(wc -l <"$work/packages") Debian packages (list: $work/packages)"
