#!/usr/bin/env bash
# Tests the Debian package (scripts/package-deb.sh) the way a user installs it: with apt, into
# Debian's own NGINX (/usr/sbin/nginx, 1.22.1 on bookworm). Run by scripts/test.sh after the
# "Debian's NGINX" step; as root or with sudo (apt-get, nginx -t of /etc/nginx/nginx.conf).
#
#  1. builds the package and runs lintian on it (errors and warnings fail; the package's
#     overrides say why the two overridden tags do not apply);
#  2. apt-get install ./build/<package>.deb: the load file is enabled through the
#     /etc/nginx/modules-enabled/ symlink and the system configuration still passes nginx -t;
#  3. starts /usr/sbin/nginx on a loopback port with a test configuration in a temporary
#     prefix that, like Debian's nginx.conf, loads modules by including
#     /etc/nginx/modules-enabled/*.conf, and checks a protected location: a valid token gets
#     200, a tampered one and none get 401 with a Bearer challenge; then stops that nginx;
#  4. apt-get remove: the link is no longer included (Debian renames it *.conf.removed), the
#     module is gone and nginx -t passes (no dangling load_module);
#  5. apt-get purge: nothing of the package is left.
#
# The system service is never started or reloaded by this script (the package's nginx-reload
# trigger reloads it only if it runs, as for Debian's own modules); the nginx it starts uses a
# pid file, logs and temp paths of its own and is stopped by an EXIT trap, which also purges
# the package if a check failed. A leftover installation of the package (an interrupted run)
# is purged first, so it can run any number of times. DEB_TEST_PORT (default 7985) is the
# first loopback port tried.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=libnginx-mod-http-jwt-peer-auth
module=ngx_http_jwt_peer_auth_module.so
so_path=/usr/lib/nginx/modules/$module
load_file=/usr/share/nginx/modules-available/mod-http-jwt-peer-auth.conf
link=/etc/nginx/modules-enabled/50-mod-http-jwt-peer-auth.conf
nginx=/usr/sbin/nginx

sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
apt_get() { # prints dpkg's actions; all of apt's output if it fails
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -y -q -o DPkg::Lock::Timeout=300 "$@" >"$tmp/apt.log" 2>&1; then
        cat "$tmp/apt.log" >&2
        fail "apt-get $*"
    fi
    grep -E '^(Unpacking|Setting up|Removing|Purging|Processing triggers) ' "$tmp/apt.log" | sed 's/^/  apt: /' || true
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() { echo "ok: $*"; }
sys_nginx_t() { "${sudo[@]}" "$nginx" -t -q; } # the system configuration, /etc/nginx/nginx.conf
pkg_status() { dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || echo not-installed; }

tmp=$(mktemp -d)
pidfile=$tmp/nginx.pid
stop_nginx() {
    local pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$pidfile"
}
# On a failure after the install, the package is purged too: the machine's NGINX is left as
# it was (the .deb stays in build/ to inspect).
installed_here=
cleanup() {
    stop_nginx
    if [ -n "$installed_here" ] && [ "$(pkg_status)" != not-installed ]; then
        echo "purging $pkg after the failure"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -y -q -o DPkg::Lock::Timeout=300 purge "$pkg" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. build, lintian -----------------------------------------------------------------------
./scripts/package-deb.sh >/dev/null
deb=$(ls build/"${pkg}"_*_"$(dpkg --print-architecture)".deb)
echo "package: $deb"
[ -x build/jwt-mint ] || ./scripts/build.sh # the token helper (scripts/test.sh built it)

# lintian comes with `scripts/deps.sh ci` (run by scripts/test.sh and by package-deb.sh). It warns
# when run as root: as root, it reads a copy as nobody. Errors and warnings are counted from
# its output: with --show-overrides, lintian 2.116's --fail-on also counts overridden tags.
command -v lintian >/dev/null || apt_get install --no-install-recommends lintian
lint=(lintian --display-info --pedantic --display-experimental --show-overrides --fail-on none)
cp "$deb" "$tmp/"
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
    chmod 755 "$tmp"
    chmod 644 "$tmp/${deb##*/}"
    lint=(runuser -u nobody -- "${lint[@]}")
fi
findings=$(cd "$tmp" && "${lint[@]}" "${deb##*/}") || fail "lintian did not run"
echo "lintian findings (O: overridden, N: the override's reason):"
echo "${findings:-(none)}"
if grep -q '^[EW]: ' <<<"$findings"; then
    fail "lintian errors or warnings"
fi
ok "lintian: no error, no warning"

# --- 2. install -------------------------------------------------------------------------------
if [ "$(pkg_status)" != not-installed ]; then
    echo "purging a previous installation ($(pkg_status))"
    apt_get purge "$pkg" >/dev/null
fi
enabled_before=$(ls -A /etc/nginx/modules-enabled)
sys_nginx_t || fail "the system's nginx -t fails before installing; not testing on it"

installed_here=1
apt_get install "./$deb"
[ "$(pkg_status)" = installed ] || fail "$pkg not installed: $(pkg_status)"
[ -f "$so_path" ] || fail "$so_path missing"
[ "$(readlink "$link")" = "$load_file" ] || fail "$link does not link to $load_file"
[ "$(cat "$load_file")" = "load_module modules/$module;" ] || fail "$load_file: $(cat "$load_file")"
ok "installed: $so_path, $link -> $load_file"
sys_nginx_t || fail "nginx -t of the system configuration with the package"
ok "nginx -t of /etc/nginx/nginx.conf (loads the module through modules-enabled)"

# --- 3. a protected location on /usr/sbin/nginx ------------------------------------------------
# The first free loopback port from DEB_TEST_PORT on (a connection refused means free).
port=
for p in $(seq "${DEB_TEST_PORT:-7985}" $((${DEB_TEST_PORT:-7985} + 9))); do
    if ! timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
        port=$p
        break
    fi
done
[ -n "$port" ] || fail "no free port in ${DEB_TEST_PORT:-7985}+0..9"

build/jwt-mint keygen "$tmp/keys" >/dev/null
mkdir -p "$tmp/html/protected"
echo "protected content" >"$tmp/html/protected/index.html"
# Workers run as nobody: $tmp must be readable (temp paths and logs are in it).
chmod -R a+rX "$tmp"
write_conf() { # $1: the http-level server block
    cat <<EOF
# as in Debian's /etc/nginx/nginx.conf: modules through modules-enabled
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
pid $pidfile;
error_log $tmp/error.log info;
events { worker_connections 64; }
http {
    access_log $tmp/access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
$1
}
EOF
}
write_conf "    server {
        listen 127.0.0.1:$port;
        root $tmp/html;
        location /protected/ {
            jwt_peer_auth \"deb-test\";
            jwt_peer_auth_jwks_file $tmp/keys/jwks.json;
        }
    }" >"$tmp/protected.conf"
write_conf "" >"$tmp/plain.conf"
# NGINX's own prefix (/usr/share/nginx, where modules/ leads to /usr/lib/nginx/modules, which the
# load file's relative path needs); everything it writes is in $tmp.
run_nginx() { "$nginx" -e "$tmp/error.log" -c "$@"; }

run_nginx "$tmp/protected.conf" -t -q || fail "nginx -t of the protected configuration"
dump=$(run_nginx "$tmp/protected.conf" -T 2>/dev/null)
grep -qx "# configuration file $link:" <<<"$dump" || fail "nginx -T does not show $link"
ok "nginx -t of a protected location; the module comes from $link"

run_nginx "$tmp/protected.conf"
for _ in $(seq 50); do
    [ -s "$pidfile" ] && timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break
    sleep 0.1
done
[ -s "$pidfile" ] || fail "nginx did not start: $(cat "$tmp/error.log")"
grep -qF "$so_path" "/proc/$(cat "$pidfile")/maps" || fail "$so_path is not mapped by nginx"
ok "nginx $(cat "$pidfile") on 127.0.0.1:$port with $so_path"

# request TOKEN: sets code and challenge (the WWW-Authenticate value)
request() {
    local auth=()
    [ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
    code=$(curl -sS --noproxy '*' --max-time 5 -o "$tmp/body.out" -D "$tmp/headers" \
        -w '%{http_code}' "${auth[@]}" "http://127.0.0.1:$port/protected/") || code=curl-failed
    challenge=$(sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *//p' "$tmp/headers" | tr -d '\r')
}
token=$(build/jwt-mint sign "$tmp/keys" rsa --claims '{"identifier":"deb-test-peer"}')
bad=$(build/jwt-mint sign "$tmp/keys" rsa --corrupt)

request "$token"
if [ "$code" != 200 ] || ! grep -qx "protected content" "$tmp/body.out"; then
    fail "valid token: $code $(cat "$tmp/body.out")"
fi
ok "valid token: 200, the protected file"
request "$bad"
[ "$code" = 401 ] || fail "tampered token: $code, not 401"
[[ $challenge == "Bearer realm=\"deb-test\""* ]] || fail "tampered token: WWW-Authenticate: $challenge"
ok "tampered token: 401, WWW-Authenticate: $challenge"
request ""
[[ $code == 401 && $challenge == Bearer* ]] || fail "no token: $code, $challenge"
ok "no token: 401, WWW-Authenticate: $challenge"
grep -q "jwt_peer_auth: token rejected" "$tmp/error.log" || fail "no rejection logged"
stop_nginx
ok "nginx stopped"

# --- 4. remove ---------------------------------------------------------------------------------
apt_get remove "$pkg"
[ "$(pkg_status)" = config-files ] || fail "after remove: $(pkg_status)"
[[ ! -e $link && ! -L $link ]] || fail "$link left after remove"
[ -L "$link.removed" ] || fail "$link.removed missing (Debian keeps it until purge)"
[[ ! -e $so_path && ! -e $load_file ]] || fail "module files left after remove"
sys_nginx_t || fail "nginx -t of the system configuration after remove"
run_nginx "$tmp/plain.conf" -t -q || fail "nginx -t including modules-enabled after remove"
if run_nginx "$tmp/protected.conf" -t -q 2>"$tmp/t.err"; then
    fail "the protected configuration still passes after remove"
fi
grep -q 'unknown directive "jwt_peer_auth"' "$tmp/t.err" || fail "after remove: $(cat "$tmp/t.err")"
ok "removed: no $link (${link##*/}.removed until purge), nginx -t passes, module not loaded"

# --- 5. purge ----------------------------------------------------------------------------------
apt_get purge "$pkg"
[ "$(pkg_status)" = not-installed ] || fail "after purge: $(pkg_status)"
if listed=$(dpkg -L "$pkg" 2>/dev/null) && [ -n "$listed" ]; then
    fail "dpkg -L after purge: $listed"
fi
for f in "$so_path" "$load_file" "$link" "$link.removed" "/usr/share/doc/$pkg" \
    "/usr/share/lintian/overrides/$pkg"; do
    [[ ! -e $f && ! -L $f ]] || fail "$f left after purge"
done
[ "$(ls -A /etc/nginx/modules-enabled)" = "$enabled_before" ] ||
    fail "/etc/nginx/modules-enabled differs from before: $(ls -A /etc/nginx/modules-enabled)"
sys_nginx_t || fail "nginx -t of the system configuration after purge"
installed_here=
ok "purged: dpkg -L empty, no file left, modules-enabled as before, nginx -t passes"
