#!/bin/sh
# mmdebstrap --customize-hook of scripts/build-image.sh: $1 is the image's root filesystem,
# Debian's nginx and the module's package already installed (docs, man pages, locales and
# gconv never unpacked: build-image.sh's dpkg path-excludes). Makes it the official nginx
# image's layout and drops what a running NGINX never uses.
set -eu
root=$1

# The official image's worker user, nginx (uid/gid 101); docker/nginx.conf runs workers as it.
grep -q '^nginx:' "$root/etc/group" || echo 'nginx:x:101:' >>"$root/etc/group"
grep -q '^nginx:' "$root/etc/passwd" ||
    echo 'nginx:x:101:101:nginx user:/nonexistent:/usr/sbin/nologin' >>"$root/etc/passwd"
[ ! -f "$root/etc/shadow" ] || grep -q "^nginx:" "$root/etc/shadow" || echo "nginx:!:1::::::" >>"$root/etc/shadow"

# Logs to the container's stdout/stderr, as in the official image (also NGINX's built-in
# error log path, opened before the configuration is read).
rm -rf "$root/var/log/nginx"
mkdir -p "$root/var/log/nginx" "$root/var/cache/nginx" "$root/var/lib/nginx"
ln -s /dev/stdout "$root/var/log/nginx/access.log"
ln -s /dev/stderr "$root/var/log/nginx/error.log"

# Site configurations come from /etc/nginx/conf.d only (docker/nginx.conf): Debian's default
# server on port 80 goes, and so do the module links docker/nginx.conf does not include.
rm -rf "$root/etc/nginx/sites-available" "$root/etc/nginx/sites-enabled" \
    "$root/etc/nginx/modules-enabled" "$root/etc/nginx/nginx.conf"

# Perl: usrmerge (apt's first choice for init-system-helpers' "usrmerge | usr-is-merged"; the
# tree is merged already, usr-is-merged stays) pulled in perl; debconf needed perl-base for the
# packages' maintainer scripts. Nothing runs perl now.
purge() {
    chroot "$root" dpkg --purge --force-depends --force-remove-essential "$@" >"$root/tmp/purge.log" 2>&1 ||
        { cat "$root/tmp/purge.log" >&2; exit 1; }
    rm "$root/tmp/purge.log"
}
purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl
purge perl perl-modules-5.36 libperl5.36 libgdbm-compat4 libgdbm6 debconf
purge perl-base
# shellcheck disable=SC2016  # dpkg-query format, not a shell expansion
if chroot "$root" dpkg-query -W -f='${Package}\n' | grep -E '(^|-)perl|^usrmerge$|^debconf$'; then
    echo "customize-rootfs: the packages above are still installed" >&2
    exit 1
fi

# Logs, caches and backups of the installation.
rm -rf "$root"/var/log/*.log "$root"/var/log/apt "$root"/var/cache/debconf \
    "$root"/var/lib/dpkg/*-old "$root"/var/cache/ldconfig/aux-cache
