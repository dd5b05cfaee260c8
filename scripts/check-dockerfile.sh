#!/usr/bin/env bash
# Checks the Dockerfile without a Docker engine (run by scripts/test.sh):
#
#  - every file the Dockerfile COPYs from the context exists and is let through .dockerignore
#    (an allow-list), every Cargo workspace member is copied, and every script it RUNs exists,
#    is executable and is copied first;
#  - the builder stage runs scripts/deps.sh and scripts/build.sh, with NGX_VERSION set from
#    NGINX_VERSION; the runtime stage is FROM nginx:${NGINX_VERSION}; the default
#    NGINX_VERSION is the version built here (build/nginx, vendored by nginx-src);
#  - the runtime copies the module into /usr/lib/nginx/modules/, and docker/nginx.conf (copied
#    to /etc/nginx/nginx.conf) load_modules that very file and includes
#    /etc/nginx/conf.d/*.conf inside http {};
#  - `build/nginx -t` accepts docker/nginx.conf with nginx-conf/netunnel-peer.conf in conf.d,
#    in a temporary directory laid out like the image (every absolute path of the two files
#    moved under it; a throwaway self-signed certificate; `user nginx;` dropped).
# Needs scripts/build.sh to have run (build/nginx, build/ngx_http_jwt_peer_auth_module.so).
set -euo pipefail
cd "$(dirname "$0")/.."

module=ngx_http_jwt_peer_auth_module.so
fails=0
fail() { echo "check-dockerfile: FAIL: $*" >&2; fails=$((fails + 1)); }

# The Dockerfile with continuation lines joined and comments dropped, one instruction a line.
instructions=$(sed -e '/^[[:space:]]*#/d' Dockerfile | sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' |
    sed -e 's/[[:space:]]\+/ /g' -e '/^ *$/d')
# The instructions of stage $1 (0 = before the first FROM, 1 = builder, 2 = runtime).
stage() { awk -v n="$1" '/^FROM /{s++} s==n' <<<"$instructions"; }
[ "$(grep -c '^FROM ' <<<"$instructions")" -eq 2 ] || fail "expected two stages (builder, runtime)"
builder=$(stage 1)
runtime=$(stage 2)

# --- NGINX_VERSION ------------------------------------------------------------------------
default_version=$(stage 0 | sed -n 's/^ARG NGINX_VERSION=\([0-9.]*\)$/\1/p')
[ -n "$default_version" ] || fail "no global 'ARG NGINX_VERSION=x.y.z' before the first FROM"
built_version=$(build/nginx -v 2>&1 | sed -n 's|.*nginx/||p')
[ "$default_version" = "$built_version" ] ||
    fail "ARG NGINX_VERSION=$default_version, but build/nginx (vendored by nginx-src) is $built_version"
grep -qx 'ARG NGINX_VERSION' <<<"$builder" || fail "builder stage does not declare ARG NGINX_VERSION"
# shellcheck disable=SC2016  # literal Dockerfile text, not shell expansions
grep -q 'NGX_VERSION="\?\$NGINX_VERSION"\? \./scripts/build\.sh' <<<"$builder" ||
    fail "builder does not run NGX_VERSION=\$NGINX_VERSION ./scripts/build.sh"
grep -qx 'RUN ./scripts/deps.sh' <<<"$builder" || fail "builder does not run ./scripts/deps.sh"
# shellcheck disable=SC2016
grep -qx 'FROM nginx:${NGINX_VERSION}' <<<"$runtime" || fail "runtime stage is not FROM nginx:\${NGINX_VERSION}"

# --- COPY sources and RUN scripts -----------------------------------------------------------
# .dockerignore is an allow-list: '*' then '!path' lines; a source must be one of them or lie
# below one.
allowed() {
    local p=$1 a
    while read -r a; do
        [ "$p" = "$a" ] || [[ "$p" == "$a"/* ]] && return 0
    done < <(sed -n 's|^!\(.*\)|\1|p' .dockerignore | sed 's|/$||')
    return 1
}
[ "$(sed -n '/^[^#]/{p;q}' .dockerignore)" = "*" ] || fail ".dockerignore does not start with '*' (allow-list)"
while read -r -a words; do
    srcs=("${words[@]:1:${#words[@]}-2}")
    for src in "${srcs[@]}"; do
        [ -e "$src" ] || fail "COPY $src: no such file in the repository"
        allowed "$src" || fail "COPY $src: excluded by .dockerignore"
    done
done < <(grep '^COPY ' <<<"$instructions" | grep -v -- '--from=')
# cargo needs every workspace member, even when it builds only some of them.
for member in $(sed -n 's/^members *= *\[\(.*\)\]/\1/p' Cargo.toml | tr -d '" ' | tr ',' ' '); do
    [ "$member" = . ] && continue
    grep -qx "COPY $member $member" <<<"$builder" || fail "workspace member $member is not copied into the builder"
done
for script in $(grep '^RUN ' <<<"$instructions" | grep -o '\./scripts/[A-Za-z0-9_.-]*' | sort -u); do
    [ -x "$script" ] || fail "RUN $script: missing or not executable"
    grep -q "^COPY .*${script#./} " <<<"$builder" || grep -q '^COPY scripts scripts' <<<"$builder" ||
        fail "RUN $script: not copied into the builder first"
done

# --- the module: copied into the modules directory, loaded by docker/nginx.conf -------------
grep -qx "COPY --from=builder /src/build/$module /usr/lib/nginx/modules/" <<<"$runtime" ||
    fail "runtime does not copy build/$module into /usr/lib/nginx/modules/"
grep -qx 'COPY docker/nginx.conf /etc/nginx/nginx.conf' <<<"$runtime" ||
    fail "runtime does not install docker/nginx.conf as /etc/nginx/nginx.conf"
grep -qx "load_module /usr/lib/nginx/modules/$module;" docker/nginx.conf ||
    fail "docker/nginx.conf does not load_module /usr/lib/nginx/modules/$module"
awk '/^http *\{/{h=1} h && /^ *include \/etc\/nginx\/conf\.d\/\*\.conf;/{found=1} /^\}/{h=0}
     END{exit !found}' docker/nginx.conf || fail "docker/nginx.conf does not include conf.d/*.conf in http {}"

# --- nginx -t on the image's layout ---------------------------------------------------------
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# Every absolute path (after whitespace) moves under $root; the image's `nginx` user does not
# exist here.
relocate() { sed -e "s#\([[:space:]]\)/\(etc\|usr\|var\|run\)/#\1$root/\2/#g" -e '/^user /d' "$1"; }
mkdir -p "$root/etc/nginx/conf.d" "$root/etc/nginx/certs" "$root/usr/lib/nginx/modules" \
    "$root/var/log/nginx" "$root/run" "$root/logs"
relocate docker/nginx.conf >"$root/etc/nginx/nginx.conf"
relocate nginx-conf/netunnel-peer.conf >"$root/etc/nginx/conf.d/netunnel-peer.conf"
printf 'types {\n    text/html html;\n}\n' >"$root/etc/nginx/mime.types"
ln -s "$PWD/build/$module" "$root/usr/lib/nginx/modules/$module"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=netunnel-peer.test \
    -keyout "$root/etc/nginx/certs/netunnel-peer.key" -out "$root/etc/nginx/certs/netunnel-peer.crt" \
    2>/dev/null
if ! out=$(build/nginx -p "$root/" -c "$root/etc/nginx/nginx.conf" -t 2>&1); then
    fail "build/nginx -t rejects docker/nginx.conf + conf.d/netunnel-peer.conf:"
    echo "$out" >&2
fi

[ $fails -eq 0 ] || exit 1
echo "check-dockerfile: ok (NGINX $default_version; docker/nginx.conf + netunnel-peer.conf pass nginx -t)"
