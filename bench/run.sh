#!/usr/bin/env bash
# The benchmark: builds (release), starts NGINX and the real JWThenticator on loopback, measures
# with wrk, prints a table and writes it to bench/results/latest.md.
#
#   (a) no auth: the same kind of location serving a small static file
#   (b) jwt_peer_auth, keys from a JWKS file, one valid token reused by every request
#   (c) jwt_peer_auth, a different valid token per request (pool of pre-minted tokens, tokens.lua)
#   (c-ps256, c-es256, c-es384, c-eddsa) as (c) with the other asymmetric algorithms (2048-bit
#       RSA-PSS, P-256, P-384, Ed25519), keys from one JWKS file (jwks-algs.json)
#   (d) jwt_peer_auth, one rejected token (bad signature) sent again and again: every answer
#       must be 401; answered from the refusal cache after the first
#   (h) jwt_peer_auth, a different bad-signature token per request: every one is verified
#   (e) the baseline it replaces: auth_request to JWThenticator's /validate_request
#   (f) as (b), keys fetched with `jwt_peer_auth_key_request` from a JWKS location
#       (only if this NGINX build knows the directive)
#   (g) as (b), with `jwt_peer_auth_cert_binding on cert=$http_x_client_cert`: a bound token and
#       the client certificate in a header (as from a TLS terminator): the cost of the binding
#       check itself (PEM decode, SHA-256, compare), without TLS's own cost
#   (r) as (b), with `jwt_peer_auth_revocation_check identifier token_id` and 1,000 entries on
#       the revocation list (added through the API at the start); the token has both claims
#   (p) as (b), checked in the preaccess phase (`jwt_peer_auth_phase preaccess`)
#
# Protected locations serve a static file, not `return` (which runs before the access phase).
# Every response's status is counted (status.lua); a scenario with any unexpected status or
# socket error is FAILED, never reported as a speed. Beside req/s, each scenario reports the
# NGINX workers' CPU time (user + system, /proc/PID/stat) per answered request: steadier than
# req/s when connections spread unevenly over the workers or other processes share the CPUs.
# After each distinct-token scenario, `jwt-mint time` measures the raw cost of one ring
# verification, for RSA also of the OpenSSL one the module uses (src/openssl_rsa.rs), and of
# the core's whole verify() as the module runs it, of its algorithm with the same keys, so
# that the cost of the module and NGINX around the signature is visible per algorithm.
#
# Settings (environment):
#   BENCH_DURATION     per scenario, wrk syntax              default 10s
#   BENCH_THREADS      wrk threads                           default 1
#   BENCH_CONNECTIONS  wrk connections                       default 32
#   BENCH_TOKENS       size of each token pool (c, c-*, h)   default 10000
#   BENCH_VERIFY_N     least verifications per round of `jwt-mint time`   default 200
#   BENCH_PORT         NGINX port on 127.0.0.1; JWThenticator uses BENCH_PORT+1   default 18480
#   BENCH_SKIP_BUILD=1 use build/ as it is
# The defaults suit a 2-core machine: one wrk thread keeps wrk on one core so that NGINX
# (worker_processes auto) and, in (e), JWThenticator have the rest; 32 connections keep NGINX
# busy without measuring mostly queueing. On bigger machines raise both.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-1}
conns=${BENCH_CONNECTIONS:-32}
ntokens=${BENCH_TOKENS:-10000}
verify_n=${BENCH_VERIFY_N:-200}
port=${BENCH_PORT:-18480}
jwth_port=$((port + 1))
work=$root/build/bench
results=$root/bench/results/latest.md

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

# --- what it needs --------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "wrk is missing (Debian: apt-get install wrk)"
    say "installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
command -v curl >/dev/null || die "curl is missing"
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    ./scripts/deps.sh
    ./scripts/build.sh
fi
for f in build/nginx build/ngx_http_jwt_peer_auth_module.so build/jwt-mint; do
    [ -x "$f" ] || die "$f is missing (run scripts/build.sh)"
done
py=$(tools/jwthenticator/setup.sh)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for p in "$port" "$jwth_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set BENCH_PORT)"; fi
done

# --- everything it starts is stopped on exit ------------------------------------------------
nginx_pid=
jwth_pid=
cleanup() {
    local pid i
    for pid in $nginx_pid $jwth_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $nginx_pid $jwth_pid; do
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # LOGFILE PATTERN PID: waits (at most 30 s) for PATTERN in LOGFILE
    local i
    for i in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "process $3 exited"; }
        sleep 0.1
    done
    cat "$1" >&2
    die "timed out waiting for '$2' in $1"
}

# --- keys, tokens, files --------------------------------------------------------------------
mkdir -p "$work/conf" "$work/logs" "$work/www"
keys=$work/keys
# jwks-algs.json (and the P-384 key) came with a later jwt-mint: older key directories are made anew.
[ -f "$keys/jwks-algs.json" ] || build/jwt-mint keygen "$keys"
echo "hello, peer" > "$work/www/hello.txt"
token=$(build/jwt-mint sign "$keys" rsa)
# (g): a client certificate, a token bound to it, and the certificate URL-escaped for a header.
[ -f "$work/client.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=bench-peer -days 2 -keyout /dev/null -out "$work/client.pem" 2>/dev/null
bound_token=$(build/jwt-mint sign "$keys" rsa --cnf-cert "$work/client.pem")
client_cert_header=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$work/client.pem")
bad_token=$(build/jwt-mint sign "$keys" rsa --corrupt)
rev_token=$(build/jwt-mint sign "$keys" rsa --claims '{"token_id":"tid-bench-peer"}')
# Pools of distinct tokens, one a line. A pool is reused while it has the right size, is
# younger than 12 h (tokens live 24 h) and was signed with the current keys; minting takes
# about 1 ms per RSA token.
mint_pool() { # FILE KEY [jwt-mint sign options]
    local file=$1 key=$2
    shift 2
    if [ ! -f "$file" ] || [ "$(wc -l < "$file")" -ne "$ntokens" ] || [ "$keys/jwks.json" -nt "$file" ] \
        || [ -n "$(find "$file" -mmin +720)" ]; then
        say "minting $ntokens tokens: $key $*"
        build/jwt-mint sign "$keys" "$key" --exp 86400 --count "$ntokens" "$@" > "$file.tmp"
        mv "$file.tmp" "$file"
    fi
}
pool=$work/tokens.txt
mint_pool "$pool" rsa
mint_pool "$work/tokens-ps256.txt" rsa --alg PS256 --kid rsa-ps
mint_pool "$work/tokens-es256.txt" ec
mint_pool "$work/tokens-es384.txt" ec384
mint_pool "$work/tokens-eddsa.txt" ed
mint_pool "$work/tokens-bad.txt" rsa --corrupt

# --- JWThenticator, for (e) -----------------------------------------------------------------
say "starting JWThenticator on 127.0.0.1:$jwth_port"
"$py" tools/jwthenticator/serve.py --state-dir "$work/jwthenticator" --port "$jwth_port" \
    > "$work/logs/jwthenticator.log" 2>&1 &
jwth_pid=$!
wait_for "$work/logs/jwthenticator.log" "listening on" "$jwth_pid"
jwth_token=$("$py" tools/jwthenticator/client.py --url "http://127.0.0.1:$jwth_port")

# --- NGINX ----------------------------------------------------------------------------------
write_conf() { # WITH_F (0|1)
    local f_locations=""
    if [ "$1" = 1 ]; then
        f_locations="
        location = /f {
            jwt_peer_auth \"bench\";
            jwt_peer_auth_key_request /_jwks;
            alias $work/www/hello.txt;
        }
        location = /_jwks {
            internal;
            default_type application/json;
            alias $keys/jwks.json;
        }"
    fi
    cat > "$work/conf/nginx.conf" <<CONF
# Written by bench/run.sh.
load_module $root/build/ngx_http_jwt_peer_auth_module.so;
daemon off;
worker_processes auto;
error_log logs/error.log warn;
pid logs/nginx.pid;

events {
    worker_connections 4096;
}

http {
    access_log off;
    default_type text/plain;

    jwt_peer_auth_revocation zone=bench_rev:1m;

    upstream jwthenticator {
        server 127.0.0.1:$jwth_port;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$port;

        # (a)
        location = /a {
            alias $work/www/hello.txt;
        }
        # (b), (c), (d), (h)
        location = /b {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/hello.txt;
        }
        # (c-ps256, c-es256, c-es384, c-eddsa)
        location = /alg {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file $keys/jwks-algs.json;
            alias $work/www/hello.txt;
        }
        # (r)
        location = /r {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_revocation_check identifier token_id;
            alias $work/www/hello.txt;
        }
        location = /revocations {
            jwt_peer_auth off;
            jwt_peer_auth_revocation_api;
        }
        # (p)
        location = /p {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_phase preaccess;
            alias $work/www/hello.txt;
        }
        # (g)
        location = /g {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_cert_binding on cert=\$http_x_client_cert;
            alias $work/www/hello.txt;
        }
        # (e): what jwt_peer_auth replaces. Kept-alive upstream connections: JWThenticator's
        # best case.
        location = /e {
            auth_request /_validate;
            alias $work/www/hello.txt;
        }
        location = /_validate {
            internal;
            proxy_pass http://jwthenticator/validate_request;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        # (f)$f_locations
    }
}
CONF
}

with_f=1
write_conf 1
if ! t_out=$(build/nginx -p "$work/" -e stderr -c conf/nginx.conf -t 2>&1); then
    if grep -q 'unknown directive "jwt_peer_auth_key_request"' <<<"$t_out"; then
        with_f=0
        write_conf 0
        build/nginx -p "$work/" -c conf/nginx.conf -t -q || die "nginx -t failed"
    else
        echo "$t_out" >&2
        die "nginx -t failed"
    fi
fi
say "starting NGINX on 127.0.0.1:$port"
build/nginx -p "$work/" -c conf/nginx.conf &
nginx_pid=$!
for i in $(seq 100); do
    [ "$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/a")" = 200 ] && break
    kill -0 "$nginx_pid" 2>/dev/null || { cat "$work/logs/error.log" >&2; die "nginx exited"; }
    [ "$i" -lt 100 ] || die "nginx does not answer"
    sleep 0.1
done

# --- the scenarios ---------------------------------------------------------------------------
declare -A desc rps p50 p99 statuses verdict cpu_us others
order=()
clk_tck=$(getconf CLK_TCK)
worker_pids=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
busy_ticks() { # CPU ticks the whole machine spent busy (all but idle and iowait)
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
children_ticks() { # CPU ticks of this shell's finished children (bash's `times`, second line;
    # run in this shell, not a pipe's subshell, whose children are its own)
    times > "$work/times.txt"
    awk -v hz="$clk_tck" 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' \
        "$work/times.txt"
}
worker_ticks() { # user + system CPU ticks of all workers (and of JWThenticator, for "others")
    local p t=0
    for p in $worker_pids ${1:-}; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}

to_ms() { # wrk duration (850.00us, 1.20ms, 2.00s, 1.00m) -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) printf "%.2f", v / 1000; else if (v ~ /ms$/) printf "%.2f", v + 0;
        else if (v ~ /s$/) printf "%.2f", v * 1000; else if (v ~ /m$/) printf "%.2f", v * 60000;
        else printf "?" }'
}

# scenario ID DESCRIPTION PATH EXPECT(2xx|401) CURL_AUTH WRK_ARGS...
scenario() {
    local id=$1 expect=$4 auth=$5 url="http://127.0.0.1:$port$3"
    order+=("$id")
    desc[$id]=$2
    shift 5
    rps[$id]=-; p50[$id]=-; p99[$id]=-; statuses[$id]=-; cpu_us[$id]=-; others[$id]=-
    # One request with curl first: a clear message if the setup is wrong (and a warm-up).
    # ... with the scenario's other request headers (its wrk `-H` arguments).
    local code extra=() prev= a
    for a in "$@"; do
        [ "$prev" = -H ] && [ "${a%%:*}" != Authorization ] && extra+=(-H "$a")
        prev=$a
    done
    code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' ${auth:+-H "Authorization: Bearer $auth"} "${extra[@]}" "$url")
    if { [ "$expect" = 2xx ] && [ "${code:0:1}" != 2 ]; } || { [ "$expect" = 401 ] && [ "$code" != 401 ]; }; then
        verdict[$id]="FAILED (curl got $code)"
        say "($id) FAILED: curl got HTTP $code"
        return
    fi
    say "($id) ${desc[$id]}: wrk for $duration"
    local out=$work/wrk-$id.txt ticks0 ticks1 busy0 busy1 wrk0 wrk1 t0 t1 mine0 mine1
    ticks0=$(worker_ticks); busy0=$(busy_ticks); t0=$(date +%s%N); mine0=$(worker_ticks "$jwth_pid")
    children_ticks > "$work/ticks0.txt"
    wrk --latency -t"$threads" -c"$conns" -d"$duration" "$@" > "$out" 2>&1 || true
    children_ticks > "$work/ticks1.txt"
    ticks1=$(worker_ticks); busy1=$(busy_ticks); t1=$(date +%s%N); mine1=$(worker_ticks "$jwth_pid")
    wrk0=$(cat "$work/ticks0.txt"); wrk1=$(cat "$work/ticks1.txt")
    # What else ran meanwhile: the machine's busy CPU minus the workers', JWThenticator's and
    # wrk's, as a share of all CPUs (other engineers' builds on a shared machine; NGINX's master
    # and kernel work not charged to these processes count here too, a few %).
    others[$id]=$(awk -v b=$((busy1 - busy0)) -v w=$((mine1 - mine0)) -v k=$((wrk1 - wrk0)) \
        -v ns=$((t1 - t0)) -v hz="$clk_tck" -v n="$(nproc)" 'BEGIN {
            o = (b - w - k) / hz / (ns / 1e9) / n * 100; if (o < 0) o = 0; printf "%.0f %%", o }')
    rps[$id]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p50[$id]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    p99[$id]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    statuses[$id]=$(sed -n 's/^statuses: *//p' "$out")
    # Worker CPU per answered request (every status counted by status.lua), in µs.
    cpu_us[$id]=$(tr ' ' '\n' <<<"${statuses[$id]}" | awk -F= -v t=$((ticks1 - ticks0)) -v hz="$clk_tck" '
        NF == 2 { n += $2 } END { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')
    local bad
    bad=$(tr ' ' '\n' <<<"${statuses[$id]}" | awk -F= -v e="$expect" '
        NF == 2 && $2 > 0 && ((e == "2xx" && ($1 < 200 || $1 > 299)) || (e == "401" && $1 != 401)) {
            printf "%s%s", sep, $0; sep = " " }')
    if [ -z "${rps[$id]}" ] || [ -z "${statuses[$id]}" ]; then
        verdict[$id]="FAILED (no wrk result, see ${out#$root/})"
    elif [ -n "$bad" ]; then
        verdict[$id]="FAILED (unexpected $bad)"
    elif grep -q '^ *Socket errors' "$out"; then
        verdict[$id]="FAILED ($(sed -n 's/^ *Socket errors: *//p' "$out"))"
    else
        verdict[$id]=ok
    fi
    say "($id) ${rps[$id]:-?} req/s, ${cpu_us[$id]} µs worker CPU/request, others ${others[$id]}, p50 ${p50[$id]} ms, p99 ${p99[$id]} ms, statuses: ${statuses[$id]:-none}: ${verdict[$id]}"
}

status_lua=(-s bench/status.lua)
scenario a "no auth (static file)" /a 2xx "" "${status_lua[@]}" "http://127.0.0.1:$port/a"
scenario b "jwt_peer_auth, JWKS file, one reused token" /b 2xx "$token" \
    "${status_lua[@]}" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/b"
# (r): the revocation list gets 1,000 entries (half identifier, half token_id), none of them
# the token's, through the API.
"$py" - "$port" <<'PY' || die "could not fill the revocation list"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
for i in range(1000):
    name = "identifier" if i % 2 == 0 else "token_id"
    body = json.dumps({"name": name, "value": "%08d-2222-3333-4444-%012d" % (i, i), "ttl": "2h"})
    c.request("POST", "/revocations", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("POST /revocations %d: %d" % (i, r.status))
c.request("GET", "/revocations")
n = len(json.loads(c.getresponse().read())["entries"])
if n != 1000:
    sys.exit("the revocation list has %d entries" % n)
PY
scenario r "as (b), revocation check (identifier, token_id), 1,000 listed entries" /r 2xx "$rev_token" \
    "${status_lua[@]}" -H "Authorization: Bearer $rev_token" "http://127.0.0.1:$port/r"
scenario p "as (b), in the preaccess phase" /p 2xx "$token" \
    "${status_lua[@]}" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/p"
# The raw cost of one verification of TOKEN (ring's signature check; for RSA OpenSSL's, which
# the module uses; and the core's verify() as the module runs it), with the same keys, right
# after the scenario ID that used it (NGINX idle meanwhile): the machine's speed of that
# moment on both sides of the comparison. sig_us: the signature check the module makes.
declare -A ring_us openssl_us core_us sig_us
time_verify() { # ID TOKEN
    local alg kid r v result o ov
    build/jwt-mint time "$keys/jwks-algs.json" "$verify_n" "$2" > "$work/verify-time-$1.txt" \
        || die "jwt-mint time failed"
    read -r alg kid r v result o ov < <(sed -n 2p "$work/verify-time-$1.txt")
    ring_us[$1]=$r
    openssl_us[$1]=$o
    if [ "$o" = - ]; then
        sig_us[$1]=$r
        core_us[$1]=$v
    else
        sig_us[$1]=$o
        core_us[$1]=$ov
    fi
    say "($1) ring verify $r µs, OpenSSL verify $o µs, core verify() ${core_us[$1]} µs ($alg, $result)"
}
scenario c "jwt_peer_auth, JWKS file, $ntokens distinct tokens" /b 2xx "$(head -n1 "$pool")" \
    -s bench/tokens.lua "http://127.0.0.1:$port/b" -- "$pool" "$threads"
time_verify c "$(head -n1 "$pool")"
declare -A alg_of=([c]=RS256 [c-ps256]=PS256 [c-es256]=ES256 [c-es384]=ES384 [c-eddsa]=EdDSA
    [h]="RS256, bad signature")
for a in ps256 es256 es384 eddsa; do
    scenario "c-$a" "as (c), ${alg_of[c-$a]}, $ntokens distinct tokens" /alg 2xx \
        "$(head -n1 "$work/tokens-$a.txt")" \
        -s bench/tokens.lua "http://127.0.0.1:$port/alg" -- "$work/tokens-$a.txt" "$threads"
    time_verify "c-$a" "$(head -n1 "$work/tokens-$a.txt")"
done
scenario d "jwt_peer_auth, one bad-signature token again and again (expect 401)" /b 401 "$bad_token" \
    "${status_lua[@]}" -H "Authorization: Bearer $bad_token" "http://127.0.0.1:$port/b"
scenario h "jwt_peer_auth, $ntokens distinct bad-signature tokens (expect 401)" /b 401 \
    "$(head -n1 "$work/tokens-bad.txt")" \
    -s bench/tokens.lua "http://127.0.0.1:$port/b" -- "$work/tokens-bad.txt" "$threads"
time_verify h "$(head -n1 "$work/tokens-bad.txt")"
jwth_before=$(curl -s --noproxy '*' "http://127.0.0.1:$jwth_port/_stats")
scenario e "auth_request -> JWThenticator /validate_request" /e 2xx "$jwth_token" \
    "${status_lua[@]}" -H "Authorization: Bearer $jwth_token" "http://127.0.0.1:$port/e"
jwth_after=$(curl -s --noproxy '*' "http://127.0.0.1:$jwth_port/_stats")
if [ "$with_f" = 1 ]; then
    scenario f "jwt_peer_auth, keys from jwt_peer_auth_key_request" /f 2xx "$token" \
        "${status_lua[@]}" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/f"
else
    echo "(f) skipped: jwt_peer_auth_key_request not available"
    order+=(f); desc[f]="jwt_peer_auth, keys from jwt_peer_auth_key_request"
    rps[f]=-; p50[f]=-; p99[f]=-; statuses[f]=-; cpu_us[f]=-; others[f]=-
    verdict[f]="skipped: jwt_peer_auth_key_request not available"
fi
scenario g "jwt_peer_auth, JWKS file, one reused certificate-bound token" /g 2xx "$bound_token" \
    "${status_lua[@]}" -H "Authorization: Bearer $bound_token" -H "X-Client-Cert: $client_cert_header" \
    "http://127.0.0.1:$port/g"
validate_calls() { sed -n 's/.*"\/validate_request": *\([0-9]*\).*/\1/p' <<<"$1"; }
jwth_calls=$(( $(validate_calls "$jwth_after") - $(validate_calls "$jwth_before") ))

# --- the report -----------------------------------------------------------------------------
minus() { # X Y [Z]: X - Y - Z with one decimal, "-" if any is not a number
    awk -v x="$1" -v y="$2" -v z="${3:-0}" 'BEGIN {
        if (x !~ /^[0-9.]+$/ || y !~ /^[0-9.]+$/ || z !~ /^[0-9.]+$/) print "-"; else printf "%.1f", x - y - z }'
}
ratio() { # X Y: rps[X]/rps[Y], if both ran fine
    if [ "${verdict[$1]}" = ok ] && [ "${verdict[$2]}" = ok ]; then
        awk -v x="${rps[$1]}" -v y="${rps[$2]}" 'BEGIN { printf "%.2f", x / y }'
    else
        echo "n/a"
    fi
}
cpu_ratio() { # X Y: cpu_us[Y]/cpu_us[X], if both ran fine
    if [ "${verdict[$1]}" = ok ] && [ "${verdict[$2]}" = ok ]; then
        awk -v x="${cpu_us[$1]}" -v y="${cpu_us[$2]}" 'BEGIN { printf "%.2f", y / x }'
    else
        echo "n/a"
    fi
}
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- src core Cargo.toml Cargo.lock build.rs 2>/dev/null)" ] || commit="$commit + uncommitted changes"
workers=$(pgrep -c -P "$nginx_pid" || true)
{
    echo "# jwt_peer_auth benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, by \`bench/run.sh\`."
    echo
    echo "- Machine: $(nproc) CPUs (\`nproc\`), ${cpu:-unknown CPU}, Linux $(uname -r)"
    echo "- NGINX $(build/nginx -v 2>&1 | sed 's/.*nginx\///'), worker_processes auto ($workers workers), access_log off, loopback only"
    echo "- $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }'): $threads thread(s), $conns connections, $duration per scenario; JWThenticator $("$py" -c 'import importlib.metadata as m; print(m.version("jwthenticator"))') (one Python process, SQLite)"
    echo "- Tokens: RS256 with a 2048-bit RSA key, unless the scenario names another algorithm (PS256: the same key; ES256: P-256; ES384: P-384; EdDSA: Ed25519); the distinct-token scenarios cycle through $ntokens tokens each (more than the 4,096-entry token cache: no hits)"
    echo "- Load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "\"others\": CPU used by other processes during the scenario, as a share of all CPUs (from"
    echo "/proc/stat, minus the workers, JWThenticator and wrk): where it is more than a few %, that"
    echo "scenario's numbers are disturbed."
    echo
    echo "| | scenario | req/s | worker CPU µs/req | others | p50 ms | p99 ms | statuses | result |"
    echo "|---|---|--:|--:|--:|--:|--:|---|---|"
    for id in "${order[@]}"; do
        echo "| $id | ${desc[$id]} | ${rps[$id]} | ${cpu_us[$id]} | ${others[$id]} | ${p50[$id]} | ${p99[$id]} | ${statuses[$id]} | ${verdict[$id]} |"
    done
    echo
    echo "X/Y: X's req/s over Y's, and Y's worker CPU per request over X's (both below 1 when X"
    echo "costs more; the CPU ratio is the steadier one)."
    echo
    echo "| ratio | req/s | worker CPU |"
    echo "|---|--:|--:|"
    for r in b/a c/a d/a d/b h/a f/a g/b r/b p/b b/e; do
        echo "| $r | $(ratio "${r%/*}" "${r#*/}") | $(cpu_ratio "${r%/*}" "${r#*/}") |"
    done
    echo
    echo "Per algorithm, distinct tokens (no cache hits): worker CPU per request next to the raw cost"
    echo "of one verification measured right after the scenario (\`jwt-mint time\`, thread CPU time, best"
    echo "of 5 alternating rounds of at least $verify_n calls and 50 ms): ring's signature check alone;"
    echo "for RSA, OpenSSL's, which the module uses (the key prepared once, src/openssl_rsa.rs); and the"
    echo "core's whole \`verify()\` as the module runs it (base64, JSON, key choice, signature, time"
    echo "claims). \"beyond signature\": worker CPU minus the module's signature check (OpenSSL for RSA,"
    echo "else ring); \"beyond (a)\": minus that and minus (a)'s worker CPU per request (NGINX serving"
    echo "the file without auth): what the module costs around the signature."
    echo
    echo "| | algorithm | req/s | worker CPU µs/req | ring verify µs | OpenSSL verify µs | core verify() µs | beyond signature µs | beyond (a) µs |"
    echo "|---|---|--:|--:|--:|--:|--:|--:|--:|"
    for id in c c-ps256 c-es256 c-es384 c-eddsa h; do
        echo "| $id | ${alg_of[$id]} | ${rps[$id]} | ${cpu_us[$id]} | ${ring_us[$id]:--} | ${openssl_us[$id]:--} | ${core_us[$id]:--} | $(minus "${cpu_us[$id]}" "${sig_us[$id]:--}") | $(minus "${cpu_us[$id]}" "${sig_us[$id]:--}" "${cpu_us[a]}") |"
    done
    echo
    echo "JWThenticator answered $jwth_calls \`/validate_request\` calls during (e)."
    echo "Raw wrk output: \`build/bench/wrk-*.txt\`."
} > "$results"
echo
cat "$results"
