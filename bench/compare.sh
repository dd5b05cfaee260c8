#!/usr/bin/env bash
# Our module against kjdev's nginx-auth-jwt (https://github.com/kjdev/nginx-auth-jwt) and plain
# NGINX, all in Debian's packaged NGINX (/usr/sbin/nginx, 1.22 on bookworm), in one run. Prints
# a table and writes it to bench/results/compare.md.
#
#   KJDEV_SRC=/path/to/nginx-auth-jwt bench/compare.sh
#
# Without KJDEV_SRC it says how to get kjdev's source and measures only plain NGINX and ours.
#
# What runs: one /usr/sbin/nginx binary, as four instances side by side (each on its own port,
# worker_processes auto, access_log off), every location answering with `empty_gif` (a content
# handler: a protected location must serve content; `return` would answer before the access
# phase):
#   plain      no module loaded
#   ours       our module (build/debian/, from scripts/build-debian.sh), token cache on (the
#              default, 4,096 entries per worker); also an unprotected location
#   ours-off   our module with `jwt_peer_auth_token_cache off;`
#   kjdev      kjdev's module, built here as a dynamic module the way Debian builds module
#              packages (dh's nginx_mod build system: Debian's conf_flags and dpkg-buildflags)
# The two modules cannot share one NGINX configuration: both define the prefix variables
# $jwt_header_* and $jwt_claim_*, so `nginx -t` with both load_module lines fails ("the
# duplicate "jwt_header_" variable"); the run checks that and reports what nginx said. Idle
# instances cost nothing; the instance measured is the only busy one.
#
# Both modules verify the same RS256 tokens (2048-bit key, build/jwt-mint) against the same JWKS
# file, which holds the RSA key alone (kjdev's older commits read and convert every key of the
# file on every request: more keys would only slow it down), and check exp. Before measuring,
# every protected location must answer 200 to a valid token and 401 to a bad signature, an expired
# token, a token without exp, an unsigned one, garbage and no token at all; any other answer FAILS
# the run before anything is measured.
#
# Scenarios (wrk; every response's status counted by bench/status.lua, any unexpected status or
# socket error makes the scenario FAILED):
#   plain          plain NGINX, empty_gif; the client sends the same Authorization header as
#                  in the reused-token scenarios (NGINX's own header parsing is the same)
#   plain-ours     the same, in the instance with our module loaded (off for that location)
#   ours-1         ours, one reused token (token cache on: hits)
#   kjdev-1        kjdev, one reused token (kjdev has no token cache: verified every time)
#   ours-n         ours, BENCH_TOKENS distinct tokens cycled (more than the cache: misses)
#   kjdev-n        kjdev, the same pool
#   ours-n-off     ours with the token cache off, the same pool
# Noise: the machine is shared and two workers share the connections unevenly (req/s moves by
# ±20 % between runs), so the scenarios run interleaved: COMPARE_ROUNDS rounds of all of them in
# turn (each round starts one scenario further), and each number is the median over the rounds.
# Each reports req/s and the workers' CPU time (user + system, /proc/PID/stat) per answered
# request, the steadier of the two, and "others": CPU used meanwhile by other processes.
# Distinct-token runs continue in the pool where the previous run over it stopped
# (tokens.lua START), so a run does not re-send what the last one left in the cache (at most
# the few tokens in flight when wrk stopped, one per connection, can hit).
#
# Then, if perf is installed, `perf record -F 4999` samples the workers for COMPARE_PERF_SECONDS
# during extra runs of plain, ours-1, kjdev-1, ours-n and kjdev-n, and the report splits each
# one's CPU per request by where the samples fell (the module's .so, libc's malloc/free,
# libcrypto, NGINX, the kernel): an attribution of the module's own cost that is far less noisy
# than the difference of two noisy totals.
#
# Settings (environment):
#   KJDEV_SRC             kjdev's source tree (with its submodules, for commits that have them)
#   KJDEV_NOTE            a sentence for the report about that tree (e.g. what a local change does)
#   COMPARE_ROUNDS        rounds of all scenarios                          default 3
#   BENCH_DURATION        per scenario and round, wrk syntax               default 5s
#   BENCH_THREADS         wrk threads                                      default 1
#   BENCH_CONNECTIONS     wrk connections                                  default 32
#   BENCH_TOKENS          distinct tokens in the pool                      default 10000
#   COMPARE_PERF_SECONDS  perf sampling per profiled scenario (0: none)    default 4
#   COMPARE_PORT          first of four ports on 127.0.0.1                 default 18700
#   COMPARE_RESULTS       where the report goes             default bench/results/compare.md
#   COMPARE_QUIET         before each measurement, wait at most this many seconds for a second
#                         in which the CPUs were at least 80 % idle (0: do not wait)  default 0
#   BENCH_SKIP_BUILD=1    use build/debian/ as it is (kjdev is rebuilt only when its source,
#                         NGINX's or the flags change)
# At the defaults the run takes about 3 minutes (plus builds and, the first time, minting the pool).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

rounds=${COMPARE_ROUNDS:-3}
duration=${BENCH_DURATION:-5s}
threads=${BENCH_THREADS:-1}
conns=${BENCH_CONNECTIONS:-32}
ntokens=${BENCH_TOKENS:-10000}
perf_secs=${COMPARE_PERF_SECONDS:-4}
quiet=${COMPARE_QUIET:-0}
port0=${COMPARE_PORT:-18700}
kjdev_src=${KJDEV_SRC:-}
nginx_bin=/usr/sbin/nginx
ngx_src=/usr/share/nginx/src
work=$root/build/compare
results=${COMPARE_RESULTS:-$root/bench/results/compare.md}
ours_so=$root/build/debian/ngx_http_jwt_peer_auth_module.so

die() { echo "compare: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "COMPARE_ROUNDS must be a positive number"
[[ "$perf_secs" =~ ^[0-9]+$ ]] || die "COMPARE_PERF_SECONDS must be a number"
[[ "$quiet" =~ ^[0-9]+$ ]] || die "COMPARE_QUIET must be a number"
[[ "$ntokens" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TOKENS must be a positive number"

kjdev_howto() { # [FIRST_LINE]
    echo "${1:-"kjdev's nginx-auth-jwt is NOT measured: set KJDEV_SRC to its source tree, for example"}" >&2
    cat >&2 <<'TXT'
    git clone --recurse-submodules https://github.com/kjdev/nginx-auth-jwt /tmp/kjdev-src
    git -C /tmp/kjdev-src checkout 6e9dd32   # see below
    apt-get install libjansson-dev libssl-dev
    KJDEV_SRC=/tmp/kjdev-src bench/compare.sh
Commits since 8677a21 (2025-02-21) set ngx_table_elt_t.next, which NGINX 1.22 does not have
(it came with 1.23.0), so they do not build against Debian bookworm's NGINX; 6e9dd32
(2024-12-26) is the newest that does, unchanged. With a newer NGINX, use any commit (and its
submodules nxe-json and nxe-jwx, from 2026-04 on).
TXT
}

# --- what it needs --------------------------------------------------------------------------
for c in wrk curl awk; do command -v "$c" >/dev/null || die "$c is missing (Debian: apt-get install $c)"; done
[ -x "$nginx_bin" ] || die "$nginx_bin is missing: Debian's nginx package (scripts/build-debian.sh installs it)"
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    say "building our module for Debian's NGINX (scripts/build-debian.sh)"
    ./scripts/build-debian.sh >&2
fi
[ -f "$ours_so" ] || die "$ours_so is missing (run scripts/build-debian.sh)"
[ -x build/jwt-mint ] || die "build/jwt-mint is missing (run scripts/build.sh)"
have_perf=
if [ "$perf_secs" -gt 0 ] && command -v perf >/dev/null; then have_perf=1; fi

nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///')
nginx_pkg=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null || echo "?")
mkdir -p "$work"

# --- kjdev's module, built as Debian builds module packages ---------------------------------
# Debian's dh nginx_mod build system (Debian::Debhelper::Buildsystem::nginx_mod) configures the
# nginx-dev tree with the packaged binary's conf_flags, dpkg-buildflags' CFLAGS/CPPFLAGS/LDFLAGS
# plus -fPIC, and --add-dynamic-module, then runs `make modules`. configure writes into the
# source tree, so it runs in a copy (as scripts/build-debian.sh does for ours).
kjdev_so=
kjdev_commit="not measured (KJDEV_SRC not set)"
kjdev_build_note=
if [ -n "$kjdev_src" ]; then
    kjdev_src=$(cd "$kjdev_src" && pwd) || die "KJDEV_SRC=$KJDEV_SRC is not a directory"
    grep -q 'ngx_http_auth_jwt_module' "$kjdev_src/config" 2>/dev/null ||
        die "KJDEV_SRC=$kjdev_src has no config of ngx_http_auth_jwt_module (kjdev's nginx-auth-jwt)"
    if grep -q 'nxe-json\|nxe-jwx' "$kjdev_src/config" && [ ! -f "$kjdev_src/nxe-json/config.ngx" ]; then
        kjdev_howto "kjdev's source needs its submodules; how to get a tree that builds, for example"
        die "$kjdev_src lacks its submodules (git -C $kjdev_src submodule update --init)"
    fi
    if git -C "$kjdev_src" rev-parse --git-dir >/dev/null 2>&1; then
        kjdev_commit="$(git -C "$kjdev_src" log -1 --format='%h (%cs, "%s")')"
        [ -z "$(git -C "$kjdev_src" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
            kjdev_commit="$kjdev_commit + local changes ($(git -C "$kjdev_src" diff --shortstat | sed 's/^ *//'))"
    else
        kjdev_commit="${KJDEV_COMMIT:-unknown (not a git checkout; set KJDEV_COMMIT)}"
    fi
    command -v dpkg-buildflags >/dev/null || die "dpkg-buildflags is missing (apt-get install dpkg-dev)"
    [ -f "$ngx_src/conf_flags" ] || die "$ngx_src/conf_flags is missing (apt-get install nginx-dev)"
    for h in /usr/include/jansson.h /usr/include/openssl/evp.h; do
        [ -f "$h" ] || die "$h is missing (apt-get install libjansson-dev libssl-dev)"
    done
    cc_opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
    ld_opt="$(dpkg-buildflags --get LDFLAGS) -fPIC"
    kjdev_build_note="Debian's conf_flags, --with-cc-opt='$cc_opt', --with-ld-opt='$ld_opt'"
    kbuild=$work/kjdev-build/$(printf '%s' "$kjdev_src" | sha256sum | cut -c1-12) # one per source tree
    src_sum=$(cd "$kjdev_src" && find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z |
        xargs -0 sha256sum | sha256sum | cut -c1-16)
    stamp="nginx-dev $(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null); $(cat "$ngx_src/conf_flags"); $cc_opt; $ld_opt; $kjdev_src $src_sum"
    if [ "$(cat "$kbuild/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$kbuild/objs/ngx_http_auth_jwt_module.so" ]; then
        say "building kjdev's module ($kjdev_commit) against $ngx_src"
        rm -rf "$kbuild"
        mkdir -p "$kbuild"
        cp -a "$ngx_src/." "$kbuild/"
        if ! (
            cd "$kbuild"
            # shellcheck disable=SC1091  # defines the array NGX_CONF_FLAGS
            . ./conf_flags
            ./configure --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" "${NGX_CONF_FLAGS[@]}" \
                --add-dynamic-module="$kjdev_src" --builddir=objs >configure.log 2>&1 ||
                { tail -n 20 configure.log >&2; exit 1; }
            make -j"$(nproc)" -f objs/Makefile modules >make.log 2>&1 ||
                { grep -m5 -A3 'error:' make.log >&2 || tail -n 20 make.log >&2; exit 1; }
        ); then
            kjdev_howto "kjdev's module did not build; how to get a tree that builds, for example"
            die "kjdev's module did not build against NGINX $nginx_version (logs in $kbuild)"
        fi
        echo "$stamp" >"$kbuild/.stamp"
    fi
    kjdev_so=$kbuild/objs/ngx_http_auth_jwt_module.so
else
    kjdev_howto
fi

# --- keys, tokens ----------------------------------------------------------------------------
keys=$work/keys
[ -f "$keys/jwks.json" ] || build/jwt-mint keygen "$keys" >/dev/null
# The JWKS both modules use: the RSA public key alone.
jwks=$keys/jwks-rsa.json
printf '{"keys":[%s]}\n' "$(cat "$keys/rsa.jwk.json")" >"$jwks"
token=$(build/jwt-mint sign "$keys" rsa)
pool=$work/tokens.txt
if [ ! -f "$pool" ] || [ "$(wc -l <"$pool")" -ne "$ntokens" ] || [ "$keys/jwks.json" -nt "$pool" ] \
    || [ -n "$(find "$pool" -mmin +720)" ]; then
    say "minting $ntokens tokens (RS256, valid 24 h)"
    build/jwt-mint sign "$keys" rsa --exp 86400 --count "$ntokens" >"$pool.tmp"
    mv "$pool.tmp" "$pool"
fi
declare -A bad=(
    ["bad signature"]=$(build/jwt-mint sign "$keys" rsa --corrupt)
    ["expired"]=$(build/jwt-mint sign "$keys" rsa --exp -60)
    ["no exp"]=$(build/jwt-mint sign "$keys" rsa --no-exp)
    ["unsigned"]=$(build/jwt-mint sign "$keys" rsa --unsigned)
    ["garbage"]="abc.def.ghi"
)
bad_order=("bad signature" "expired" "no exp" "unsigned" "garbage")

# --- the instances ---------------------------------------------------------------------------
instances=(plain ours ours-off)
[ -n "$kjdev_so" ] && instances+=(kjdev)
declare -A port pid workers
i=0
for n in plain ours ours-off kjdev; do port[$n]=$((port0 + i)); i=$((i + 1)); done
port[both]=$port0 # only for `nginx -t`: never started
for n in "${instances[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port[$n]}") 2>/dev/null; then
        die "port ${port[$n]} is in use (set COMPARE_PORT)"
    fi
done

bg_pids=
cleanup() {
    local p k
    for p in $bg_pids "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $bg_pids "${pid[@]}"; do
        for k in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_conf() { # NAME LOAD_MODULE_LINES HTTP_LINES LOCATIONS
    local dir=$work/$1
    mkdir -p "$dir/conf" "$dir/logs"
    cat >"$dir/conf/nginx.conf" <<CONF
# Written by bench/compare.sh.
$2
daemon off;
worker_processes auto;
error_log logs/error.log warn;
pid logs/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
$3
    server {
        listen 127.0.0.1:${port[$1]};

        location = /ping {
            return 204;
        }
$4
    }
}
CONF
}
load_ours="load_module $ours_so;"
load_kjdev="load_module $kjdev_so;"
loc_plain="
        location = /plain {
            empty_gif;
        }"
loc_ours="
        location = /ours {
            jwt_peer_auth \"bench\";
            jwt_peer_auth_jwks_file $jwks;
            empty_gif;
        }"
write_conf plain "" "" "$loc_plain"
write_conf ours "$load_ours" "" "$loc_plain$loc_ours"
write_conf ours-off "$load_ours" "    jwt_peer_auth_token_cache off;" "$loc_ours"
both_modules="(kjdev not measured)"
if [ -n "$kjdev_so" ]; then
    write_conf kjdev "$load_kjdev" "" "
        location = /kjdev {
            auth_jwt \"bench\";
            auth_jwt_key_file $jwks;
            empty_gif;
        }"
    # Why not one instance with both: what nginx -t says.
    write_conf both "$load_ours
$load_kjdev" "" ""
    if out=$("$nginx_bin" -p "$work/both/" -c conf/nginx.conf -g 'error_log stderr;' -t 2>&1); then
        both_modules="both load into one configuration (nginx -t passes)"
    else
        both_modules="\`nginx -t\` with both load_module lines: $(grep -m1 -o 'the duplicate[^"]*"[^"]*" variable' <<<"$out" || tail -n1 <<<"$out")"
    fi
fi

start_instance() { # NAME
    local n=$1 dir=$work/$1 k
    "$nginx_bin" -p "$dir/" -c conf/nginx.conf -t -q || die "nginx -t failed for $n ($dir/conf/nginx.conf)"
    "$nginx_bin" -p "$dir/" -c conf/nginx.conf &
    pid[$n]=$!
    for k in $(seq 100); do
        [ "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port[$n]}/ping")" = 204 ] && break
        kill -0 "${pid[$n]}" 2>/dev/null || { cat "$dir/logs/error.log" >&2; die "nginx ($n) exited"; }
        [ "$k" -lt 100 ] || die "nginx ($n) does not answer on ${port[$n]}"
        sleep 0.1
    done
    for k in $(seq 50); do
        [ "$(pgrep -c -P "${pid[$n]}" || true)" -ge "$(nproc)" ] && break
        sleep 0.1
    done
    workers[$n]=$(pgrep -P "${pid[$n]}" | tr '\n' ' ')
    [ -n "${workers[$n]}" ] || die "nginx ($n) has no workers"
}
for n in "${instances[@]}"; do
    say "starting $nginx_bin ($n) on 127.0.0.1:${port[$n]}"
    start_instance "$n"
done

# --- sanity: each protected location accepts the valid token and refuses every bad one -------
code() { # URL [TOKEN]
    curl -s --noproxy '*' -o /dev/null -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$1"
}
sanity=()
check_location() { # LABEL URL
    local label=$1 url=$2 c line failed='' b
    c=$(code "$url" "$token")
    line="valid token $c"
    [ "$c" = 200 ] || failed=1
    for b in "${bad_order[@]}"; do
        c=$(code "$url" "${bad[$b]}")
        line="$line, $b $c"
        [ "$c" = 401 ] || failed=1
    done
    c=$(code "$url")
    line="$line, no token $c"
    [ "$c" = 401 ] || failed=1
    if [ -n "$failed" ]; then
        sanity+=("$label: $line: FAILED")
        say "$label: $line"
        die "FAILED: $label must answer 200 to the valid token and 401 to every bad one"
    fi
    sanity+=("$label: $line")
    say "sanity: $label: $line"
}
check_location "ours (cache on)" "http://127.0.0.1:${port[ours]}/ours"
check_location "ours (cache off)" "http://127.0.0.1:${port[ours-off]}/ours"
[ -n "$kjdev_so" ] && check_location "kjdev" "http://127.0.0.1:${port[kjdev]}/kjdev"
[ "$(code "http://127.0.0.1:${port[plain]}/plain" "$token")" = 200 ] || die "plain /plain does not answer 200"
[ "$(code "http://127.0.0.1:${port[ours]}/plain" "$token")" = 200 ] || die "ours /plain does not answer 200"

# --- measuring -------------------------------------------------------------------------------
clk_tck=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
children_ticks() { # CPU ticks of this shell's finished children (bash's `times`, second line)
    times >"$work/times.txt"
    awk -v hz="$clk_tck" 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' \
        "$work/times.txt"
}
worker_ticks() { # INSTANCE: user + system CPU ticks of its workers
    local p t=0
    for p in ${workers[$1]}; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}

# Scenario definitions: instance, path, description, and how wrk sends the token.
declare -A s_inst s_path s_desc s_pool
scen=()
def() { # ID INSTANCE PATH POOL(0|1) DESCRIPTION
    scen+=("$1"); s_inst[$1]=$2; s_path[$1]=$3; s_pool[$1]=$4; s_desc[$1]=$5
}
def plain plain /plain 0 "plain NGINX, empty_gif, no module loaded (same Authorization header)"
def plain-ours ours /plain 0 "empty_gif, our module loaded but off for the location (same header)"
def ours-1 ours /ours 0 "ours, one reused token (token cache on)"
[ -n "$kjdev_so" ] && def kjdev-1 kjdev /kjdev 0 "kjdev, one reused token"
def ours-n ours /ours 1 "ours, $ntokens distinct tokens (cache on, all misses)"
[ -n "$kjdev_so" ] && def kjdev-n kjdev /kjdev 1 "kjdev, $ntokens distinct tokens"
def ours-n-off ours-off /ours 1 "ours, $ntokens distinct tokens, jwt_peer_auth_token_cache off"

declare -A rps_l cpu_l oth_l st_l verdict next_start
for id in "${scen[@]}"; do rps_l[$id]=; cpu_l[$id]=; oth_l[$id]=; st_l[$id]=; verdict[$id]=ok; next_start[$id]=0; done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

run_wrk() { # ID DURATION OUT: wrk for scenario ID (no bookkeeping)
    local id=$1 url="http://127.0.0.1:${port[${s_inst[$1]}]}${s_path[$1]}"
    if [ "${s_pool[$id]}" = 1 ]; then
        wrk -t"$threads" -c"$conns" -d"$2" -s bench/tokens.lua "$url" -- "$pool" "$threads" "" \
            "${next_start[$id]}" >"$3" 2>&1 || true
    else
        wrk -t"$threads" -c"$conns" -d"$2" -s bench/status.lua -H "Authorization: Bearer $token" \
            "$url" >"$3" 2>&1 || true
    fi
}

idle_ticks() { awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }
quiet_waited=0 quiet_missed=0
quiet_wait() { # with COMPARE_QUIET: waits (at most that long) for a second with the CPUs ≥ 80 % idle
    [ "$quiet" -gt 0 ] || return 0
    local start=$SECONDS i0 a0 i1 a1
    while [ $((SECONDS - start)) -lt "$quiet" ]; do
        read -r i0 a0 < <(idle_ticks)
        sleep 1
        read -r i1 a1 < <(idle_ticks)
        if [ $(((i1 - i0) * 100)) -ge $(((a1 - a0) * 80)) ]; then
            quiet_waited=$((quiet_waited + SECONDS - start))
            return 0
        fi
    done
    quiet_waited=$((quiet_waited + SECONDS - start))
    quiet_missed=$((quiet_missed + 1))
}

measure() { # ID ROUND
    local id=$1 r=$2 inst=${s_inst[$1]} out=$work/wrk-$1-$2.txt
    local t0 t1 w0 w1 b0 b1 k0 k1 rps st n cpu oth unexpected
    quiet_wait
    # (children_ticks runs in this shell, not in a $(...) subshell, whose children are its own)
    w0=$(worker_ticks "$inst"); b0=$(busy_ticks); t0=$(date +%s%N); children_ticks >"$work/ticks0.txt"
    run_wrk "$id" "$duration" "$out"
    children_ticks >"$work/ticks1.txt"; w1=$(worker_ticks "$inst"); b1=$(busy_ticks); t1=$(date +%s%N)
    k0=$(cat "$work/ticks0.txt"); k1=$(cat "$work/ticks1.txt")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    st=$(sed -n 's/^statuses: *//p' "$out")
    n=$(tr ' ' '\n' <<<"$st" | awk -F= 'NF == 2 { n += $2 } END { print n + 0 }')
    cpu=$(awk -v t=$((w1 - w0)) -v hz="$clk_tck" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }')
    oth=$(awk -v b=$((b1 - b0)) -v w=$((w1 - w0)) -v k=$((k1 - k0)) -v ns=$((t1 - t0)) -v hz="$clk_tck" \
        -v c="$(nproc)" 'BEGIN { o = (b - w - k) / hz / (ns / 1e9) / c * 100; if (o < 0) o = 0; printf "%.0f", o }')
    unexpected=$(tr ' ' '\n' <<<"$st" | awk -F= 'NF == 2 && $2 > 0 && $1 != 200 { printf "%s%s", s, $0; s = " " }')
    if [ -z "$rps" ] || [ -z "$st" ]; then
        [ "${verdict[$id]}" = ok ] && verdict[$id]="FAILED (round $r: no wrk result, see ${out#"$root"/})"
    elif [ -n "$unexpected" ]; then
        [ "${verdict[$id]}" = ok ] && verdict[$id]="FAILED (round $r: unexpected $unexpected)"
    elif grep -q '^ *Socket errors' "$out"; then
        [ "${verdict[$id]}" = ok ] && verdict[$id]="FAILED (round $r: $(sed -n 's/^ *Socket errors: *//p' "$out"))"
    fi
    rps_l[$id]+="${rps:--} "; cpu_l[$id]+="$cpu "; oth_l[$id]+="$oth "; st_l[$id]+="$st "
    [ "${s_pool[$id]}" = 1 ] && next_start[$id]=$(((next_start[$id] + n) % ntokens))
    say "round $r/$rounds $id: ${rps:-?} req/s, $cpu µs worker CPU/request, others $oth %, statuses: ${st:-none}"
}

nscen=${#scen[@]}
total_s=$(awk -v d="$duration" -v n="$nscen" -v r="$rounds" 'BEGIN {
    s = d + 0; if (d ~ /m$/) s *= 60; if (d ~ /h$/) s *= 3600; printf "%d", s * n * r }')
say "measuring: $rounds rounds of $nscen scenarios, $duration each (about ${total_s}s)"
for r in $(seq "$rounds"); do
    for j in $(seq 0 $((nscen - 1))); do
        measure "${scen[$(((j + r - 1) % nscen))]}" "$r"
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- perf: where the CPU of a request goes ---------------------------------------------------
declare -A pf_total pf_share
perf_ids=(plain ours-1)
[ -n "$kjdev_so" ] && perf_ids+=(kjdev-1)
perf_ids+=(ours-n)
[ -n "$kjdev_so" ] && perf_ids+=(kjdev-n)
perf_note=
profile() { # ID
    local id=$1 inst=${s_inst[$1]} data=$work/perf-$1.data wpid
    rm -f "$data" "$data.old"
    quiet_wait
    say "perf: sampling $id's workers for ${perf_secs}s"
    run_wrk "$id" "$((perf_secs + 2))s" "$work/wrk-perf-$id.txt" &
    wpid=$!
    bg_pids="$bg_pids $wpid"
    sleep 1
    if ! perf record -q -F 4999 -p "$(tr -s ' ' ',' <<<"${workers[$inst]}" | sed 's/,$//')" -o "$data" \
        -- sleep "$perf_secs" >"$work/perf-$id.log" 2>&1; then
        wait "$wpid" || true
        perf_note="perf record failed: $(tail -n1 "$work/perf-$id.log")"
        return 1
    fi
    wait "$wpid" || true
    perf report -i "$data" --stdio -n --sort dso,sym -q 2>/dev/null >"$work/perf-$id.txt"
    # Shares of the samples: the modules' .so, libc's allocator, libcrypto, jansson, NGINX, kernel.
    local line
    line=$(awk '
        { c = $2; dso = $3; sym = $5; t += c
          if (dso ~ /^ngx_http_jwt_peer_auth_module\.so$|^ngx_http_auth_jwt_module\.so$/) m += c
          else if (dso ~ /^libc\.so/ && sym ~ /malloc|free|_int_|tcache|memalign|calloc|realloc|arena|sysmalloc|unlink_chunk|consolidate/) a += c
          else if (dso ~ /^libc\.so/) l += c
          else if (dso ~ /^libcrypto|^libssl/) cr += c
          else if (dso ~ /^libjansson/) j += c
          else if (dso == "nginx") x += c
          else if (dso ~ /kernel/) k += c
          else o += c }
        END { if (t == 0) t = 1; printf "%d %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.4f", t, m/t, a/t, l/t, cr/t, j/t, x/t, k/t, o/t }' \
        "$work/perf-$id.txt")
    read -r "pf_total[$id]" "pf_share[$id,mod]" "pf_share[$id,malloc]" "pf_share[$id,libc]" \
        "pf_share[$id,crypto]" "pf_share[$id,jansson]" "pf_share[$id,nginx]" "pf_share[$id,kernel]" \
        "pf_share[$id,other]" <<<"$line"
}
if [ -n "$have_perf" ]; then
    for id in "${perf_ids[@]}"; do profile "$id" || break; done
elif [ "$perf_secs" -gt 0 ]; then
    perf_note="perf is not installed: no attribution"
fi

# --- the report ------------------------------------------------------------------------------
median() { # VALUES...: the median of the numbers among them, "-" if none
    tr ' ' '\n' <<<"$*" | awk '/^[0-9.]+$/' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A rps_m cpu_m oth_m
for id in "${scen[@]}"; do
    rps_m[$id]=$(median "${rps_l[$id]}"); cpu_m[$id]=$(median "${cpu_l[$id]}"); oth_m[$id]=$(median "${oth_l[$id]}")
done
fmt_rps() { # 12345.6 -> 12,346
    awk -v v="$1" 'BEGIN {
        if (v !~ /^[0-9.]+$/) { print v; exit }
        s = sprintf("%d", v + 0.5); o = ""
        while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
        print s o }'
}
list_rps() { local v o=; for v in $1; do o+="${o:+, }$(fmt_rps "$v")"; done; echo "$o"; }
list_cpu() { local v o=; for v in $1; do o+="${o:+, }$(awk -v v="$v" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.1f", v; else print v }')"; done; echo "$o"; }
sum_statuses() { tr ' ' '\n' <<<"$1" | awk -F= 'NF == 2 { n[$1] += $2 } END { for (k in n) printf "%s=%d\n", k, n[k] }' | sort | tr '\n' ' ' | sed 's/ $//'; }
ok() { [ "${verdict[$1]:-missing}" = ok ]; }
# ratio/difference of the medians, and the per-round values in brackets
rowcalc() { # OP(div|sub) METRIC(rps|cpu) X Y
    local op=$1 metric=$2 x=$3 y=$4 xl yl xm ym
    if ! ok "$x" || ! ok "$y"; then echo "n/a|n/a"; return; fi
    if [ "$metric" = rps ]; then
        xl=${rps_l[$x]}; yl=${rps_l[$y]}; xm=${rps_m[$x]}; ym=${rps_m[$y]}
    else
        xl=${cpu_l[$x]}; yl=${cpu_l[$y]}; xm=${cpu_m[$x]}; ym=${cpu_m[$y]}
    fi
    awk -v op="$op" -v xs="$xl" -v ys="$yl" -v xm="$xm" -v ym="$ym" 'BEGIN {
        f = (op == "div") ? "%.2f" : "%+.1f"
        m = (op == "div") ? xm / ym : xm - ym
        n = split(xs, a, " "); split(ys, b, " "); r = ""
        for (i = 1; i <= n; i++) r = r (i > 1 ? ", " : "") sprintf(f, (op == "div") ? a[i] / b[i] : a[i] - b[i])
        printf f "|%s\n", m, r }'
}
met() { # VALUE CMP(le|ge) TARGET
    awk -v v="$1" -v c="$2" -v t="$3" 'BEGIN {
        if (v !~ /^[-+]?[0-9.]+$/) print "n/a"; else if ((c == "le" && v + 0 <= t) || (c == "ge" && v + 0 >= t)) print "**yes**"; else print "no" }'
}
us() { # SHARE ID: share x the median µs/req of ID
    awk -v s="$1" -v u="${cpu_m[$2]}" 'BEGIN { if (s ~ /^[0-9.]+$/ && u ~ /^[0-9.]+$/) printf "%.2f", s * u; else print "-" }'
}
pct() { awk -v s="$1" 'BEGIN { if (s ~ /^[0-9.]+$/) printf "%.1f %%", s * 100; else print "-" }'; }

cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- src core Cargo.toml Cargo.lock build.rs 2>/dev/null)" ] || commit="$commit + uncommitted changes"
nworkers=$(wc -w <<<"${workers[ours]}")
any_failed=
for id in "${scen[@]}"; do ok "$id" || any_failed=1; done

{
    echo "# jwt_peer_auth against kjdev's nginx-auth-jwt and plain NGINX (Debian's NGINX)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, by \`bench/compare.sh\`."
    echo
    echo "- Machine: $(nproc) CPUs (\`nproc\`), ${cpu_model:-unknown CPU}, Linux $(uname -r)"
    echo "- NGINX: $nginx_bin $nginx_version (Debian package $nginx_pkg), worker_processes auto ($nworkers workers), access_log off, loopback; every location answers with \`empty_gif\`"
    echo "- Ours: \`build/debian/ngx_http_jwt_peer_auth_module.so\` (scripts/build-debian.sh, cargo --release)"
    if [ -n "$kjdev_so" ]; then
        echo "- kjdev: nginx-auth-jwt $kjdev_commit, built as a dynamic module the way Debian builds module packages ($kjdev_build_note)"
        [ -z "${KJDEV_NOTE:-}" ] || echo "- kjdev note (KJDEV_NOTE): $KJDEV_NOTE"
    else
        echo "- kjdev: **not measured** (KJDEV_SRC not set; the script prints how to get it)"
    fi
    echo "- One NGINX binary, separate instances: $both_modules. The instance measured is the only busy one."
    echo "- $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'): $threads thread(s), $conns connections, $duration per scenario and round, $rounds rounds interleaved (each round starts one scenario further); medians over the rounds"
    echo "- Tokens: RS256, 2048-bit RSA key, the same JWKS file (the RSA key alone) for both modules, exp checked by both; the distinct-token scenarios cycle through $ntokens tokens (more than our 4,096-entry cache per worker: no hits); each run continues where the last one over the pool stopped"
    echo "- Load average before: $load_before; after: $load_after"
    if [ "$quiet" -gt 0 ]; then
        echo "- COMPARE_QUIET=$quiet: before each measurement the run waited for a second with the CPUs ≥ 80 % idle: ${quiet_waited}s of waiting in all; $quiet_missed of $((rounds * nscen)) measurements started without one"
    fi
    echo
    echo "Sanity (before measuring; a protected location that answered anything else would have failed the run):"
    echo
    for s in "${sanity[@]}"; do echo "- $s"; done
    echo
    echo "\"plain\" and \"plain-ours\" receive the same \`Authorization: Bearer\` header as the reused-token"
    echo "scenarios, so NGINX's own request parsing is the same in all of them. Worker CPU: user + system"
    echo "time of the instance's workers (/proc/PID/stat) per answered request. \"others\": CPU other"
    echo "processes used meanwhile, as a share of all CPUs (median over the rounds)."
    echo
    echo "| scenario | | req/s (median) | worker CPU µs/req (median) | req/s per round | µs/req per round | others | statuses (all rounds) | result |"
    echo "|---|---|--:|--:|---|---|--:|---|---|"
    for id in "${scen[@]}"; do
        echo "| $id | ${s_desc[$id]} | $(fmt_rps "${rps_m[$id]}") | $(list_cpu "${cpu_m[$id]}") | $(list_rps "${rps_l[$id]}") | $(list_cpu "${cpu_l[$id]}") | ${oth_m[$id]} % | $(sum_statuses "${st_l[$id]}") | ${verdict[$id]} |"
    done
    echo
    echo "| comparison | median | per round | target | met |"
    echo "|---|--:|---|--:|---|"
    row() { # LABEL OP METRIC X Y [CMP TARGET TARGET_TEXT]
        local v
        v=$(rowcalc "$2" "$3" "$4" "$5")
        if [ -n "${6:-}" ]; then
            echo "| $1 | ${v%%|*} | ${v#*|} | $8 | $(met "${v%%|*}" "$6" "$7") |"
        else
            echo "| $1 | ${v%%|*} | ${v#*|} | | |"
        fi
    }
    row "ours-1 / plain, req/s" div rps ours-1 plain ge 0.90 "≥ 0.90"
    row "ours-1 − plain, worker µs/req" sub cpu ours-1 plain le 1.0 "≤ 1.0"
    row "ours-1 − plain-ours, worker µs/req" sub cpu ours-1 plain-ours
    row "plain-ours − plain, worker µs/req (module loaded, off)" sub cpu plain-ours plain
    if [ -n "$kjdev_so" ]; then
        row "ours-n / kjdev-n, worker CPU per request" div cpu ours-n kjdev-n le 0.85 "≤ 0.85"
        row "ours-n-off / kjdev-n, worker CPU per request (cache off)" div cpu ours-n-off kjdev-n le 0.85 "≤ 0.85"
        row "ours-n / kjdev-n, req/s" div rps ours-n kjdev-n
        row "ours-1 / kjdev-1, req/s" div rps ours-1 kjdev-1
        row "kjdev-1 / plain, req/s" div rps kjdev-1 plain
        row "kjdev-1 − plain, worker µs/req" sub cpu kjdev-1 plain
    else
        echo "| ours-n / kjdev-n, worker CPU per request | not measured (no KJDEV_SRC) | | ≤ 0.85 | n/a |"
    fi
    row "ours-n / plain, req/s" div rps ours-n plain
    row "ours-n − plain, worker µs/req" sub cpu ours-n plain
    row "ours-n − ours-n-off, worker µs/req (what the cache costs on a miss: digest, insert)" sub cpu ours-n ours-n-off
    echo
    if [ -n "$perf_note" ] && [ "${#pf_total[@]}" -eq 0 ]; then
        echo "Attribution: $perf_note."
    elif [ "${#pf_total[@]}" -gt 0 ]; then
        echo "Attribution (\`perf record -F 4999 -p <workers>\` for ${perf_secs}s during an extra run of each; cpu-clock"
        echo "samples of the workers, user and kernel): each part's share of the samples, and that share times"
        echo "the scenario's median worker CPU per request (µs). \"module\": samples in the module's own .so"
        echo "(ours includes ring and its SHA-256); NGINX functions a module calls count under \"nginx\", so"
        echo "it is a lower bound of the module's cost. \"malloc/free\": libc's allocator (NGINX's request pools"
        echo "use it too: compare with plain)."
        echo
        echo "| scenario | samples | module .so | malloc/free | libc other | libcrypto | jansson | nginx | kernel | other |"
        echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        for id in "${perf_ids[@]}"; do
            [ -n "${pf_total[$id]:-}" ] || continue
            printf '| %s | %s' "$id" "${pf_total[$id]}"
            for part in mod malloc libc crypto jansson nginx kernel other; do
                printf ' | %s = %s µs' "$(pct "${pf_share[$id,$part]}")" "$(us "${pf_share[$id,$part]}" "$id")"
            done
            printf ' |\n'
        done
        echo
        own() { # ID: module .so + (malloc - plain's malloc) [+ crypto + jansson - plain's]
            awk -v m="$(us "${pf_share[$1,mod]}" "$1")" -v a="$(us "${pf_share[$1,malloc]}" "$1")" \
                -v pa="$(us "${pf_share[plain,malloc]}" plain)" -v c="$(us "${pf_share[$1,crypto]}" "$1")" \
                -v pc="$(us "${pf_share[plain,crypto]}" plain)" -v j="$(us "${pf_share[$1,jansson]}" "$1")" \
                -v pj="$(us "${pf_share[plain,jansson]}" plain)" 'BEGIN {
                printf "%.2f µs in the .so + %.2f µs more malloc/free than plain + %.2f µs more libcrypto/jansson = **%.2f µs**",
                    m, a - pa, (c - pc) + (j - pj), m + (a - pa) + (c - pc) + (j - pj) }'
        }
        if [ -n "${pf_total[plain]:-}" ]; then
            for id in "${perf_ids[@]}"; do
                [ "$id" != plain ] && [ -n "${pf_total[$id]:-}" ] && echo "- $id, the module's own CPU per request: $(own "$id")"
            done
        fi
        [ -n "$perf_note" ] && echo "- $perf_note"
        echo
    fi
    echo "Raw wrk output: \`build/compare/wrk-*.txt\`; perf reports: \`build/compare/perf-*.txt\`."
} >"$results"
echo
cat "$results"
[ -z "$kjdev_so" ] && { echo; kjdev_howto; }
[ -z "$any_failed" ] || die "FAILED: at least one scenario had unexpected answers (see the table)"
