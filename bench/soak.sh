#!/usr/bin/env bash
# Load and reload soak: NGINX (2 workers) with the module under constant wrk load for
# SOAK_DURATION seconds while the key service flaps and NGINX is reloaded every few seconds.
# Checks, from the access and error logs, that no invalid or missing token was ever let
# through, that no valid token was ever refused, that the key service never saw a client
# header (Range, If-None-Match, Accept-Encoding, Cookie, Authorization) in a key request, that
# no worker crashed and nothing was logged at alert/crit/emerg; reports key fetch failures,
# reloads and worker RSS per generation. Exits non-zero on any FAIL. Writes
# bench/results/soak-latest.md.
#
#   ./bench/soak.sh                          # 180 s (builds first, like bench/run.sh)
#   SOAK_DURATION=60 SOAK_SKIP_BUILD=1 ./bench/soak.sh
#   SOAK_DURATION=3600 SOAK_DELAY_MS=10 ./bench/soak.sh
#                          # a longer run: 1 h, 900 reloads, 112 key-service cycles, at most
#                          # 1,600 req/s (16 connections, 10 ms pause each): ~650 MB of error log
#                          # (every refusal is an info line) and ~250 MB of access log in
#                          # build/soak/logs/ (removed by the next run)
#
# At full speed (SOAK_DELAY_MS=0) wrk sends 30,000-50,000 req/s on 2 cores: about 5 MB of
# error log and 2 MB of access log per second, so keep unpaced runs to a few minutes.
#
# Setup (all on 127.0.0.1, everything under build/soak/, stopped on exit):
#   - port SOAK_PORT (default 18600): `location /p/` protected by jwt_peer_auth, keys from
#     `jwt_peer_auth_key_request /_jwks`, `jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s`,
#     serving a static file; `/status` is the status page.
#   - port SOAK_PORT+1: the key service, a second server block of the same NGINX serving
#     build/soak/jwks/jwks.json. The script flaps it every SOAK_FLAP_INTERVAL seconds through a
#     fixed cycle of states (see `states` below): ok, missing (404), garbage, truncated JSON,
#     empty key set, connection closed (444 -> 502), slow (limit_rate, ~3 s per fetch),
#     rotated (an extra key: a new generation), oversized (> 1 MiB, refused). Every state but
#     the rotated one makes fetches fail; the published keys must keep serving (stale=1h).
#   - wrk (1 thread, SOAK_CONNECTIONS connections) sends a fixed, shuffled mix of request kinds,
#     each on `/p/hello.txt?kind=<kind>` so the access log (`$arg_kind $status
#     $jwt_peer_auth_status`) says per kind what happened: valid (RS256, ES256, EdDSA tokens,
#     several distinct), bad_sig, expired, unknown_kid (each forces a rate-limited refetch),
#     malformed, invalid_request (`Bearer a b`, `Bearer` alone: 400), alg_none, alg_confusion
#     (HS256 with the RSA public key as secret), missing.
#   - meanwhile a second wrk (SOAK_POISON_CONNECTIONS connections, default 2) is the
#     header-poisoning client: every request carries `Range: bytes=0-0`, `If-None-Match: *`,
#     `Accept-Encoding: gzip`, `Cookie: a=b` with `Authorization: Bearer x` (poison_malformed),
#     a token whose alg is not allowed (poison_alg: HS256, HS512, none) or a well-formed token
#     with an unknown kid (poison_kid: it does trigger rate-limited refetches, so some key
#     requests are started by a poisoned request). The key service logs those headers and
#     `Authorization` (log_format soak_jwks); the key location hides nothing (no
#     proxy_set_header), so any client header a key request carried would show there.
#   - every SOAK_RELOAD_EVERY ticks `nginx -s reload` with the configuration unchanged: a
#     reload keeps the fetched keys only when no configuration file changed (a changed one
#     makes every key source start cold, and while the key service is in a failing state valid
#     tokens would get 500 until it recovers), so the soak reloads the same files; each reload
#     still replaces the cycle and the workers. Every tick the RSS of the master and of every
#     worker is sampled with ps.
#
# Settings (environment): SOAK_DURATION (s, default 180), SOAK_PORT (default 18600),
# SOAK_CONNECTIONS (default 16), SOAK_POISON_CONNECTIONS (default 2), SOAK_FLAP_INTERVAL (s,
# default 2), SOAK_RELOAD_EVERY (ticks, default 2: a reload every 4 s, 45 in 180 s),
# SOAK_DELAY_MS (pause of each connection between its requests, default 0: as fast as
# possible), SOAK_SKIP_BUILD=1 (use build/ as it is).
# The binary and module are copied to build/soak/bin first, so a concurrent rebuild of build/
# cannot change what a reload loads mid-run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=${SOAK_DURATION:-180}
port=${SOAK_PORT:-18600}
jwks_port=$((port + 1))
conns=${SOAK_CONNECTIONS:-16}
poison_conns=${SOAK_POISON_CONNECTIONS:-2}
interval=${SOAK_FLAP_INTERVAL:-2}
reload_every=${SOAK_RELOAD_EVERY:-2}
delay_ms=${SOAK_DELAY_MS:-0}
work=$root/build/soak
results=$root/bench/results/soak-latest.md
# The request mix, per 100 requests.
mix="valid=50,bad_sig=7,expired=7,unknown_kid=7,malformed=5,invalid_request=2,alg_none=6,alg_confusion=6,missing=10"
# The header-poisoning client's mix (all refused: 401).
poison_mix="poison_malformed=40,poison_alg=40,poison_kid=20"
# The key service's cycle of states, one per tick. Failures back off (1 s, 2 s, 4 s ...) and a
# fetch holds the fetch lease while it runs (~3 s when slow), so every failing or slow state is
# followed by "ok": each state is then really fetched, whatever came before.
states=(missing ok garbage ok truncated ok empty ok down ok oversize ok slow ok rotated ok)

die() { echo "soak: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 10 ] || die "SOAK_DURATION must be a number of seconds >= 10"
[[ $interval =~ ^[0-9]+$ ]] && [ "$interval" -ge 1 ] || die "SOAK_FLAP_INTERVAL must be >= 1"
[[ $reload_every =~ ^[0-9]+$ ]] && [ "$reload_every" -ge 1 ] || die "SOAK_RELOAD_EVERY must be >= 1"
[[ $delay_ms =~ ^[0-9]+$ ]] || die "SOAK_DELAY_MS must be a number of milliseconds"
[[ $poison_conns =~ ^[0-9]+$ ]] && [ "$poison_conns" -ge 1 ] || die "SOAK_POISON_CONNECTIONS must be >= 1"

command -v wrk >/dev/null || die "wrk is missing (Debian: apt-get install wrk)"
command -v curl >/dev/null || die "curl is missing"
[ -n "${SOAK_SKIP_BUILD:-}" ] || ./scripts/build.sh
for f in build/nginx build/ngx_http_jwt_peer_auth_module.so build/jwt-mint; do
    [ -x "$f" ] || die "$f is missing (run scripts/build.sh)"
done
for p in "$port" "$jwks_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set SOAK_PORT)"; fi
done

# --- everything it starts is stopped on exit ------------------------------------------------
master=
wrk_pid=
poison_pid=
cleanup() {
    local i p
    for p in $wrk_pid $poison_pid; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
        kill -QUIT "$master" 2>/dev/null || true
        for i in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$master" 2>/dev/null || true
    fi
    # Workers left by a killed master (should not happen) are ours too: the pids seen, if they
    # still run this run's copy of the binary.
    if [ -f "$work/workers.seen" ]; then
        local pid
        for pid in $(sort -u "$work/workers.seen"); do
            [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$work/bin/nginx" ] && kill -KILL "$pid" 2>/dev/null || true
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- files ----------------------------------------------------------------------------------
rm -rf "$work/logs" "$work/jwks" "$work/conf"
mkdir -p "$work/bin" "$work/conf" "$work/logs" "$work/www" "$work/jwks/flags" "$work/states" bench/results
: > "$work/workers.seen"
cp build/nginx "$work/bin/nginx.tmp" && mv -f "$work/bin/nginx.tmp" "$work/bin/nginx"
cp build/ngx_http_jwt_peer_auth_module.so "$work/bin/module.so.tmp"
mv -f "$work/bin/module.so.tmp" "$work/bin/ngx_http_jwt_peer_auth_module.so"
nginx_bin=$work/bin/nginx
keys=$work/keys
[ -f "$keys/rsa2.jwk.json" ] || { rm -rf "$keys"; build/jwt-mint keygen "$keys"; }
echo "hello, peer" > "$work/www/hello.txt"

# The key service's states, as files (each state is installed by an atomic rename).
st=$work/states
cp "$keys/jwks.json" "$st/ok.json"
python3 - "$keys" "$st" <<'PY'
import json, sys
keys, st = sys.argv[1], sys.argv[2]
good = json.load(open(f"{keys}/jwks.json"))
rsa2 = json.load(open(f"{keys}/rsa2.jwk.json"))
json.dump({"keys": good["keys"] + [rsa2]}, open(f"{st}/rotated.json", "w"))
json.dump({"keys": []}, open(f"{st}/empty.json", "w"))
text = open(f"{keys}/jwks.json").read()
open(f"{st}/truncated.json", "w").write(text[: len(text) // 2])
open(f"{st}/garbage.json", "wb").write(b"<html><body>502 Bad Gateway</body></html>\n\x00\xff\xfe" * 8)
# A valid JWKS padded past the module's 1 MiB limit.
json.dump({"keys": good["keys"], "pad": "x" * (1024 * 1024 + 4096)}, open(f"{st}/oversize.json", "w"))
PY
set_state() { # STATE
    local j=$work/jwks
    rm -f "$j/flags/slow" "$j/flags/down"
    case $1 in
        missing) [ ! -f "$j/jwks.json" ] || mv -f "$j/jwks.json" "$j/jwks.json.away" ;;
        ok|garbage|truncated|empty|rotated|oversize)
            cp "$st/$1.json" "$j/jwks.json.tmp" && mv -f "$j/jwks.json.tmp" "$j/jwks.json" ;;
        slow|down)
            cp "$st/ok.json" "$j/jwks.json.tmp" && mv -f "$j/jwks.json.tmp" "$j/jwks.json"
            touch "$j/flags/$1" ;;
        *) die "unknown state $1" ;;
    esac
    echo "$(date +%s.%N | cut -c1-14) $1" >> "$work/logs/states.log"
}
set_state ok

# Tokens: "kind<TAB>Authorization value" ("-": no header). Valid ones live past the run.
valid_exp=$((duration + 3600))
tokens=$work/tokens.tsv
mint() { build/jwt-mint sign "$keys" "$@"; }
{
    mint rsa --exp "$valid_exp" --count 4 | sed 's/^/valid\tBearer /'
    mint ec --exp "$valid_exp" --count 2 | sed 's/^/valid\tBearer /'
    mint ed --exp "$valid_exp" --count 2 | sed 's/^/valid\tBearer /'
    for k in rsa ec ed; do printf 'bad_sig\tBearer %s\n' "$(mint "$k" --corrupt)"; done
    printf 'bad_sig\tBearer %s\n' "$(mint rsa2 --kid rsa)"   # another key's signature
    printf 'expired\tBearer %s\n' "$(mint rsa --exp -60)"
    printf 'expired\tBearer %s\n' "$(mint ec --exp -86400)"
    for k in nosuch-1 nosuch-2 nosuch-3; do printf 'unknown_kid\tBearer %s\n' "$(mint rsa --kid "$k")"; done
    good=$(mint rsa)
    printf 'malformed\tBearer %s\n' "abc" "${good%.*}" "$good.x" "${good}=" "e30.e30.e30"
    printf 'invalid_request\tBearer a b\n'   # RFC 6750 section 3.1: 400, error="invalid_request"
    printf 'alg_none\tBearer %s\n' "$(mint rsa --header '{"alg":"none","typ":"JWT"}' --unsigned)"
    printf 'alg_none\tBearer %s\n' "$(mint rsa --header '{"alg":"NONE","kid":"rsa"}' --unsigned)"
    printf 'alg_none\tBearer %s\n' "$(mint rsa --header '{"alg":"none","kid":"rsa"}')"
    printf 'alg_confusion\tBearer %s\n' "$(mint rsa --secret-file "$keys/rsa.pub.pem" --alg HS256)"
    printf 'alg_confusion\tBearer %s\n' "$(mint rsa --secret-file "$keys/rsa.pub.der" --alg HS256)"
    printf 'missing\t-\n'
    printf 'missing\tBasic dXNlcjpwYXNz\n'
    printf 'invalid_request\tBearer\n'      # the scheme alone: invalid_request (400), not missing
} > "$tokens"
# The header-poisoning client's tokens (its requests also carry the hostile headers).
poison_tokens=$work/poison-tokens.tsv
{
    printf 'poison_malformed\tBearer x\n'
    printf 'poison_alg\tBearer %s\n' "$(mint oct --exp "$valid_exp")"                # HS256, not allowed here
    printf 'poison_alg\tBearer %s\n' "$(mint oct --alg HS512 --exp "$valid_exp")"
    printf 'poison_alg\tBearer %s\n' "$(mint rsa --header '{"alg":"none","kid":"rsa"}' --unsigned)"
    for k in poison-1 poison-2; do printf 'poison_kid\tBearer %s\n' "$(mint rsa --kid "$k" --exp "$valid_exp")"; done
} > "$poison_tokens"
# (No token signed by rsa2 with its own kid: rsa2 is in the rotated set, so such a token would
# be valid or unknown_kid depending on timing.)

# The wrk script: a shuffled, fixed schedule of kinds in the proportions of $mix.
cat > "$work/soak.lua" <<LUA
-- Generated by bench/soak.sh.
dofile("$root/bench/status.lua")
local reqs, n, i = {}, 0, 0
function init(args)
   local by_kind = {}
   for line in io.lines(args[1]) do
      local kind, auth = line:match("^([^\t]+)\t(.*)$")
      if kind then
         local headers = {}
         if auth ~= "-" then headers["Authorization"] = auth end
         if args[3] == "poison" then
            headers["Range"] = "bytes=0-0"
            headers["If-None-Match"] = "*"
            headers["Accept-Encoding"] = "gzip"
            headers["Cookie"] = "a=b"
         end
         by_kind[kind] = by_kind[kind] or {}
         table.insert(by_kind[kind], wrk.format("GET", "/p/hello.txt?kind=" .. kind, headers))
      end
   end
   local slots = {}
   for spec in args[2]:gmatch("[^,]+") do
      local k, w = spec:match("^(.-)=(%d+)$")
      if not by_kind[k] then error("soak.lua: no tokens of kind " .. k) end
      for _ = 1, tonumber(w) do table.insert(slots, k) end
   end
   math.randomseed(4242 + (thread_index or 0))
   for j = #slots, 2, -1 do
      local r = math.random(j)
      slots[j], slots[r] = slots[r], slots[j]
   end
   local rr = {}
   for _ = 1, 12 do   -- 12 passes: every variant of every kind comes up
      for _, k in ipairs(slots) do
         rr[k] = (rr[k] or 0) % #by_kind[k] + 1
         n = n + 1
         reqs[n] = by_kind[k][rr[k]]
      end
   end
end
function request()
   i = i % n + 1
   return reqs[i]
end
local pause = tonumber("$delay_ms")
if pause > 0 then
   function delay() return pause end
end
LUA

# --- NGINX ----------------------------------------------------------------------------------
write_conf() {
    cat > "$work/conf/nginx.conf.tmp" <<CONF
# Written by bench/soak.sh.
load_module $work/bin/ngx_http_jwt_peer_auth_module.so;
daemon off;
worker_processes 2;
worker_shutdown_timeout 15s;
error_log logs/error.log info;
pid logs/nginx.pid;

events {
    worker_connections 1024;
}

http {
    default_type text/plain;
    log_format soak '\$msec \$arg_kind \$status \$jwt_peer_auth_status \$request_time \$pid';
    # The key service's log: the client headers a key request must never carry ("-": absent).
    log_format soak_jwks '\$msec \$status \$body_bytes_sent \$request_time \$request_method'
                         ' range=\$http_range|inm=\$http_if_none_match|ae=\$http_accept_encoding'
                         '|cookie=\$http_cookie|auth=\$http_authorization';
    access_log logs/access.log soak buffer=64k flush=1s;

    server {
        listen 127.0.0.1:$port;

        location /p/ {
            jwt_peer_auth "soak";
            jwt_peer_auth_key_request /_jwks;
            jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s;
            alias $work/www/;
        }
        location = /_jwks {
            internal;
            # Nothing hidden here: the module sends no client header (checked in the key
            # service's log).
            proxy_connect_timeout 2s;
            proxy_read_timeout 10s;
            proxy_pass http://127.0.0.1:$jwks_port/jwks;
        }
        location = /status {
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth off;
            jwt_peer_auth_status;
        }
    }

    # The key service, flapped by the script.
    server {
        listen 127.0.0.1:$jwks_port;
        default_type application/json;
        access_log logs/jwks_access.log soak_jwks;
        location = /jwks {
            if (-f $work/jwks/flags/down) { return 444; }
            if (-f $work/jwks/flags/slow) { rewrite ^ /slow last; }
            alias $work/jwks/jwks.json;
        }
        location = /slow {
            internal;
            limit_rate 250;
            alias $work/jwks/jwks.json;
        }
    }
}
CONF
    mv -f "$work/conf/nginx.conf.tmp" "$work/conf/nginx.conf"
}
chmod -R a+rX "$work"
write_conf
"$nginx_bin" -p "$work/" -c conf/nginx.conf -t -q || die "nginx -t failed"
say "starting NGINX on 127.0.0.1:$port (key service on $jwks_port)"
"$nginx_bin" -p "$work/" -c conf/nginx.conf > "$work/logs/stderr.log" 2>&1 &
master=$!
valid_auth=$(awk -F'\t' '$1 == "valid" { print $2; exit }' "$tokens")
for i in $(seq 100); do
    code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: $valid_auth" \
        "http://127.0.0.1:$port/p/hello.txt?kind=warmup" || true)
    [ "$code" = 200 ] && break
    kill -0 "$master" 2>/dev/null || { cat "$work/logs/error.log" >&2; die "nginx exited"; }
    [ "$i" -lt 100 ] || die "nginx does not answer 200 to a valid token (last: $code)"
    sleep 0.1
done

rss_log=$work/logs/rss.log
sample_rss() { # "epoch pid ppid rss_kib title..." for the master and its children
    local now
    now=$(date +%s)
    ps -o pid=,ppid=,rss=,args= -p "$master" --ppid "$master" 2>/dev/null | while read -r pid ppid rss args; do
        echo "$now $pid $ppid $rss $args"
        [ "$pid" = "$master" ] || echo "$pid" >> "$work/workers.seen"
    done >> "$rss_log" || true
}

# --- the soak -------------------------------------------------------------------------------
say "soak for ${duration}s: flap every ${interval}s, reload every $((interval * reload_every))s, wrk -c$conns"
sample_rss
timeout --signal=INT $((duration + 30)) wrk -t1 -c"$conns" -d"${duration}s" --timeout 10s \
    -s "$work/soak.lua" "http://127.0.0.1:$port/p/hello.txt" -- "$tokens" "$mix" \
    > "$work/logs/wrk.txt" 2>&1 &
wrk_pid=$!
timeout --signal=INT $((duration + 30)) wrk -t1 -c"$poison_conns" -d"${duration}s" --timeout 10s \
    -s "$work/soak.lua" "http://127.0.0.1:$port/p/hello.txt" -- "$poison_tokens" "$poison_mix" poison \
    > "$work/logs/wrk-poison.txt" 2>&1 &
poison_pid=$!
wrk_started=$(($(date +%s) + 1))
start=$SECONDS
tick=0
reloads=0
died=
max_ticks=$((duration / interval + 5))
while [ "$tick" -lt "$max_ticks" ] && [ $((SECONDS - start)) -lt "$duration" ]; do
    sleep "$interval"
    tick=$((tick + 1))
    kill -0 "$wrk_pid" 2>/dev/null || break
    if ! kill -0 "$master" 2>/dev/null; then died=1; break; fi
    [ $((SECONDS - start)) -lt $((duration - 1)) ] || break
    # Sampled before this tick's reload: every generation's first sample is a warm worker.
    sample_rss
    set_state "${states[$(( (tick - 1) % ${#states[@]} ))]}"
    if [ $((tick % reload_every)) -eq 0 ]; then
        # The same configuration files: the fetched keys are kept (see the header).
        if "$nginx_bin" -p "$work/" -c conf/nginx.conf -s reload 2>> "$work/logs/reload.log"; then
            reloads=$((reloads + 1))
        else
            echo "reload $((reloads + 1)) failed" >> "$work/logs/reload.log"
        fi
    fi
    [ $((tick % 10)) -ne 0 ] || say "t=$((SECONDS - start))s: $reloads reloads, state ${states[$(( (tick - 1) % ${#states[@]} ))]}"
done
# wrk stops by itself after the duration (and is killed by timeout 30 s later at the latest).
wrk_rc=0
wait "$wrk_pid" || wrk_rc=$?
wrk_pid=
poison_rc=0
wait "$poison_pid" || poison_rc=$?
poison_pid=
set_state ok
# A fetch still under way (a slow one takes ~3 s) ends before the status page is read.
sleep 4
sample_rss
kill -0 "$master" 2>/dev/null || died=1
curl -s --noproxy '*' "http://127.0.0.1:$port/status" > "$work/logs/status.json" || true
curl -s --noproxy '*' "http://127.0.0.1:$port/status?format=prometheus" > "$work/logs/status.prom" || true
# A clean stop, then the logs are complete (the shutdown's own lines included).
stopped=
if [ -z "$died" ]; then
    kill -QUIT "$master" 2>/dev/null || true
    for i in $(seq 200); do kill -0 "$master" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
fi
wait "$master" 2>/dev/null || true
master=

# --- analysis -------------------------------------------------------------------------------
access=$work/logs/access.log
errlog=$work/logs/error.log
fails=()
warns=()

kinds_table=$(awk -v mix="$mix,$poison_mix" '
    $2 != "-" && $2 != "warmup" {
        k = $2; total[k]++
        c = ($3 ~ /^2/) ? "2xx" : $3
        by[k, c]++; codes[c] = 1
        if (!((k, $4) in reason)) reasons[k] = reasons[k] " " $4
        reason[k, $4]++
    }
    END {
        nk = split(mix, m, ","); for (i = 1; i <= nk; i++) { sub(/=.*/, "", m[i]); order[i] = m[i] }
        nc = 0
        for (c in codes) cl[++nc] = c
        for (i = 1; i <= nc; i++) for (j = i + 1; j <= nc; j++) if (cl[j] < cl[i]) { t = cl[i]; cl[i] = cl[j]; cl[j] = t }
        printf "| kind | requests |"; for (i = 1; i <= nc; i++) printf " %s |", cl[i]; printf " $jwt_peer_auth_status |\n"
        printf "|---|--:|"; for (i = 1; i <= nc; i++) printf "--:|"; printf "---|\n"
        for (o = 1; o <= nk; o++) {
            k = order[o]; printf "| %s | %d |", k, total[k]
            for (i = 1; i <= nc; i++) printf " %d |", by[k, cl[i]]
            nr = split(substr(reasons[k], 2), rs, " "); line = ""
            for (r = 1; r <= nr; r++) line = line sprintf("%s%s=%d", (r > 1 ? " " : ""), rs[r], reason[k, rs[r]])
            printf " %s |\n", line
        }
    }' "$access")
total_reqs=$(awk '$2 != "-" && $2 != "warmup" { n++ } END { print n + 0 }' "$access")
invalid_2xx=$(awk '$2 != "-" && $2 != "warmup" && $2 != "valid" && $3 ~ /^2/ { n++ } END { print n + 0 }' "$access")
valid_non2xx=$(awk '$2 == "valid" && $3 !~ /^2/ { n++ } END { print n + 0 }' "$access")
valid_total=$(awk '$2 == "valid" { n++ } END { print n + 0 }' "$access")
invalid_non401=$(awk '$2 != "-" && $2 != "warmup" && $2 != "valid" && $3 != ($2 == "invalid_request" ? 400 : 401) { n++ } END { print n + 0 }' "$access")
# The reason each kind must be refused with ($jwt_peer_auth_status).
wrong_reason=$(awk '
    BEGIN { e["bad_sig"] = "signature"; e["expired"] = "expired"; e["unknown_kid"] = "unknown_kid";
            e["malformed"] = "malformed"; e["alg_none"] = "algorithm"; e["alg_confusion"] = "algorithm";
            e["missing"] = "missing"; e["valid"] = "ok"; e["invalid_request"] = "invalid_request";
            e["poison_malformed"] = "malformed";
            e["poison_alg"] = "algorithm"; e["poison_kid"] = "unknown_kid" }
    ($2 in e) && $4 != e[$2] { n++ } END { print n + 0 }' "$access")
kinds_seen=$(awk '$2 != "-" && $2 != "warmup" { k[$2] = 1 } END { for (x in k) n++; print n + 0 }' "$access")
kinds_expected=$(tr ',' '\n' <<<"$mix,$poison_mix" | grep -c .)
poison_total=$(awk '$2 ~ /^poison_/ { n++ } END { print n + 0 }' "$access")

n_signal=$(grep -c 'exited on signal' "$errlog" || true)
n_alert=$(grep -c '\[alert\]' "$errlog" || true)
n_crit=$(grep -c '\[crit\]' "$errlog" || true)
n_emerg=$(grep -c '\[emerg\]' "$errlog" || true)
n_panic=$(grep -c 'internal error (panic)' "$errlog" || true)
reloads_seen=$(grep -cE '#[0-9]+: reconfiguring$' "$errlog" || true)
fetch_ok=$(grep -c 'key request "/_jwks": [0-9]* keys' "$errlog" || true)
fetch_failed=$(grep -c 'key request "/_jwks" failed' "$errlog" || true)
max_generation=$(sed -n 's/.*key request "\/_jwks": .*generation \([0-9]*\).*/\1/p' "$errlog" | sort -n | tail -n1)
fetch_reasons=$(sed -n 's/.*key request "\/_jwks" failed: \(.*\); \(keeping the last good keys\|no keys yet\).*/\1 (\2)/p' "$errlog" \
    | sed -E 's/[0-9]+ bytes/N bytes/; s/line [0-9]+ column [0-9]+/line L column C/' | sort | uniq -c | sort -rn)
other_errors=$(grep '\[error\]' "$errlog" | grep -v 'key request "/_jwks" failed' \
    | sed -E 's/^[0-9\/: ]+\[error\] [0-9]+#[0-9]+: \*?[0-9]* ?//; s/, client: .*//; s/[0-9]+/N/g' \
    | sort | uniq -c | sort -rn | head -n 10)
jwks_requests=$(grep -c . "$work/logs/jwks_access.log" || true)
# Every key request must reach the key service as a bare GET: none of the client's headers.
jwks_clean_re='^GET range=-[|]inm=-[|]ae=-[|]cookie=-[|]auth=-$'
jwks_leaked=$(awk -v re="$jwks_clean_re" '{ h = $5 " " $6; if (h !~ re) n++ } END { print n + 0 }' "$work/logs/jwks_access.log" 2>/dev/null || echo "?")
jwks_fetches=$(awk '{ c[$2]++ } END { for (s in c) printf "%s%s=%d", (n++ ? " " : ""), s, c[s] }' "$work/logs/jwks_access.log" 2>/dev/null || true)
state_counts=$(awk '{ c[$2]++ } END { for (s in c) printf "%s%s=%d", (n++ ? " " : ""), s, c[s] }' "$work/logs/states.log")
wrk_statuses=$(sed -n 's/^statuses: *//p' "$work/logs/wrk.txt")
wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/logs/wrk.txt")
wrk_errors=$(sed -n 's/^ *Socket errors: *//p' "$work/logs/wrk.txt")
wrk_non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$work/logs/wrk.txt")
poison_statuses=$(sed -n 's/^statuses: *//p' "$work/logs/wrk-poison.txt")
poison_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$work/logs/wrk-poison.txt")

# Worker generations: "start worker process N" lines after the k-th "reconfiguring" are
# generation k (the first workers are generation 0).
awk '/#[0-9]+: reconfiguring$/ { g++ } /start worker process [0-9]+$/ { print $NF, g + 0 }' "$errlog" > "$work/logs/generations.txt"
rss_table=$(awk -v t0="$wrk_started" '
    FNR == NR { gen[$1] = $2; next }
    {
        pid = $2; rss = $4; title = substr($0, index($0, $5))
        if (title ~ /master/) { if (mfirst == "") mfirst = rss; mlast = rss; next }
        if (title ~ /shutting down/ || $1 < t0) next   # workers: warm samples only
        g = (pid in gen) ? gen[pid] : "?"
        if (!((g, pid) in first)) { first[g, pid] = rss; pids[g] = pids[g] " " pid; if (!(g in gs)) { gs[g] = 1; order[++n] = g } }
        last[g, pid] = rss; samples[g, pid]++
    }
    END {
        printf "MASTER %s %s\n", mfirst, mlast
        for (o = 1; o <= n; o++) {
            g = order[o]; split(substr(pids[g], 2), ps, " "); f = 0; l = 0; s = 0; grow = 0
            for (p in ps) {
                f += first[g, ps[p]]; l += last[g, ps[p]]; if (samples[g, ps[p]] > s) s = samples[g, ps[p]]
                if (first[g, ps[p]] > 0 && last[g, ps[p]] > 1.2 * first[g, ps[p]]) grow = 1
            }
            printf "%s|%s|%d|%d|%d|%d\n", g, substr(pids[g], 2), f, l, s, grow
        }
    }' "$work/logs/generations.txt" "$rss_log")
master_rss=$(sed -n 's/^MASTER //p' <<<"$rss_table")
gen_rows=$(grep -v '^MASTER' <<<"$rss_table" || true)
first_gen_last=$(head -n1 <<<"$gen_rows" | cut -d'|' -f4)
last_gen_last=$(tail -n1 <<<"$gen_rows" | cut -d'|' -f4)
grown_gens=$(awk -F'|' '$6 == 1 { printf "%s%s", (n++ ? "," : ""), $1 }' <<<"$gen_rows")

# --- verdict --------------------------------------------------------------------------------
[ -z "$died" ] || fails+=("the NGINX master exited during the run")
[ -n "$stopped" ] || [ -n "$died" ] || fails+=("NGINX did not stop within 20 s of SIGQUIT")
[ "$total_reqs" -gt 0 ] || fails+=("no requests in the access log")
[ "$kinds_seen" -eq "$kinds_expected" ] || fails+=("only $kinds_seen of $kinds_expected request kinds were seen")
[ "$invalid_2xx" -eq 0 ] || fails+=("$invalid_2xx requests with an invalid or missing token got 2xx")
[ "$valid_non2xx" -eq 0 ] || fails+=("$valid_non2xx requests with a valid token did not get 2xx")
[ "$n_signal" -eq 0 ] || fails+=("$n_signal 'exited on signal' lines in the error log")
[ "$n_alert" -eq 0 ] || fails+=("$n_alert [alert] lines in the error log")
[ "$n_crit" -eq 0 ] || fails+=("$n_crit [crit] lines in the error log")
[ "$n_emerg" -eq 0 ] || fails+=("$n_emerg [emerg] lines in the error log")
[ "$reloads" -gt 0 ] || fails+=("no reload was made")
[ "$reloads_seen" -eq "$reloads" ] || fails+=("$reloads reloads sent, $reloads_seen seen by NGINX")
[ "$wrk_rc" -eq 0 ] || fails+=("wrk exited with $wrk_rc")
[ "$poison_rc" -eq 0 ] || fails+=("the header-poisoning wrk exited with $poison_rc")
[ "$poison_total" -gt 0 ] || fails+=("no request of the header-poisoning client in the access log")
[ "$jwks_requests" -gt 0 ] || fails+=("the key service logged no request")
[ "$jwks_leaked" = 0 ] || fails+=("$jwks_leaked key requests reached the key service with a client header (Range, If-None-Match, Accept-Encoding, Cookie, Authorization) or another method than GET")
[ "$invalid_non401" -eq 0 ] || warns+=("$invalid_non401 refused requests answered other than 401 (400 for invalid_request; see the table)")
[ "$wrong_reason" -eq 0 ] || warns+=("$wrong_reason requests with an unexpected \$jwt_peer_auth_status (see the table)")
# Read errors are connections NGINX closed while wrk had a request on them: old workers close
# idle keep-alive connections at each reload. Anything else is worth a look.
wrk_note=
[ -z "$wrk_errors" ] || wrk_note=" (read errors: old workers close idle keep-alive connections at each reload, while wrk may be sending on them, the standard graceful shutdown)"
if [ -n "$wrk_errors" ] && sed 's/read [0-9]*//' <<<"$wrk_errors" | grep -q '[1-9]'; then
    warns+=("wrk socket errors: $wrk_errors")
fi
[ $((fetch_ok + fetch_failed)) -le "$jwks_requests" ] || warns+=("$((fetch_ok + fetch_failed)) fetch outcomes logged for $jwks_requests requests to the key service: some fetches were counted twice")
[ -z "$grown_gens" ] || warns+=("worker RSS grew > 20% within generation(s) $grown_gens")
if [ -n "$master_rss" ]; then
    read -r m1 m2 <<<"$master_rss"
    [ "$m2" -le $((m1 * 12 / 10)) ] || warns+=("master RSS grew > 20%: $m1 -> $m2 KiB")
fi
if [ -n "$first_gen_last" ] && [ -n "$last_gen_last" ] && [ "$last_gen_last" -gt $((first_gen_last * 12 / 10)) ]; then
    warns+=("workers of the last generation use > 20% more RSS than the first: $first_gen_last -> $last_gen_last KiB")
fi
# The shared counters of the status page must match the access log (plus the warm-up request).
counted=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["requests"]
print(r["ok"], sum(r.values()))' "$work/logs/status.json" 2>/dev/null || echo "? ?")
read -r counted_ok counted_all <<<"$counted"
if [ "$counted_ok" != $((valid_total + 1)) ] || [ "$counted_all" != $((total_reqs + 1)) ]; then
    warns+=("status page counters (ok $counted_ok, all $counted_all) differ from the access log (ok $valid_total, all $total_reqs, + 1 warm-up)")
fi
verdict=PASS
[ ${#fails[@]} -eq 0 ] || verdict=FAIL

# --- the report -----------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- src core Cargo.toml Cargo.lock build.rs 2>/dev/null)" ] || commit="$commit + uncommitted changes"
{
    echo "# jwt_peer_auth soak: load, key-service flaps and reloads"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, by \`bench/soak.sh\` (SOAK_DURATION=$duration)."
    echo
    echo "- $(nproc) CPUs, NGINX $("$nginx_bin" -v 2>&1 | sed 's/.*nginx\///'), worker_processes 2, error_log info, loopback only"
    echo "- wrk: 1 thread, $conns connections, pause ${delay_ms} ms, ${duration}s, $wrk_rps req/s; mix per 100 requests: \`$mix\`"
    echo "- header-poisoning wrk: 1 thread, $poison_conns connections, $poison_rps req/s, \`Range: bytes=0-0\`, \`If-None-Match: *\`, \`Accept-Encoding: gzip\`, \`Cookie: a=b\` on every request; mix: \`$poison_mix\`"
    echo "- key service flapped every ${interval}s through \`${states[*]}\`; \`jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s\`"
    echo "- reloads every $((interval * reload_every))s, configuration unchanged (fetched keys kept)"
    echo
    echo "## Verdict: $verdict"
    echo
    for f in "${fails[@]}"; do echo "- FAIL: $f"; done
    for w in "${warns[@]}"; do echo "- WARN: $w"; done
    [ ${#fails[@]} -gt 0 ] || [ ${#warns[@]} -gt 0 ] || echo "- no failure, no warning"
    echo
    echo "## Requests per kind (access log)"
    echo
    echo "$total_reqs requests; invalid or missing token answered 2xx: **$invalid_2xx**; valid token answered non-2xx: **$valid_non2xx** of $valid_total."
    echo
    echo "$kinds_table"
    echo
    echo "wrk's own count: ${wrk_statuses:-none}${wrk_non2xx:+ (non-2xx: $wrk_non2xx)}; socket errors: ${wrk_errors:-none}$wrk_note."
    echo "Header-poisoning wrk's own count: ${poison_statuses:-none}."
    echo
    echo "## Key service and reloads"
    echo
    echo "- states set: $state_counts"
    echo "- key service requests: $jwks_requests (by status: ${jwks_fetches:-none}); with a client header or not a GET: **$jwks_leaked**"
    echo "- fetches published: $fetch_ok (last generation ${max_generation:-none}); fetch failures logged: $fetch_failed"
    echo "- reloads sent: $reloads, seen by NGINX (\`reconfiguring\`): $reloads_seen"
    echo "- status page counters: ok $counted_ok, all $counted_all (access log: $valid_total valid, $total_reqs in all, + 1 warm-up request)"
    echo
    if [ -n "$fetch_reasons" ]; then
        echo "| failed fetches | why |"
        echo "|--:|---|"
        awk '{ n = $1; $1 = ""; printf "| %d | %s |\n", n, substr($0, 2) }' <<<"$fetch_reasons"
        echo
    fi
    echo "## Error log"
    echo
    echo "exited on signal: $n_signal, [alert]: $n_alert, [crit]: $n_crit, [emerg]: $n_emerg, panics: $n_panic."
    if [ -n "$other_errors" ]; then
        echo
        echo "Other \`[error]\` lines (numbers as N):"
        echo
        echo '```'
        echo "$other_errors"
        echo '```'
    fi
    if [ "$((n_signal + n_alert + n_crit + n_emerg))" -gt 0 ]; then
        echo
        echo '```'
        grep -E 'exited on signal|\[(alert|crit|emerg)\]' "$errlog" | head -n 20
        echo '```'
    fi
    echo
    echo "## Worker RSS (KiB, ps, sampled every ${interval}s)"
    echo
    echo "Master: ${master_rss% *} at start, ${master_rss#* } at the end."
    echo
    echo "| generation | worker pids | RSS first sample (sum) | RSS last sample (sum) | samples | > 20% growth |"
    echo "|--:|---|--:|--:|--:|---|"
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, ($6 == 1 ? "WARN" : "") }' <<<"$gen_rows"
    echo
    echo "## Status page at the end"
    echo
    echo '```json'
    cat "$work/logs/status.json"
    echo
    echo '```'
    echo
    echo "Logs: \`build/soak/logs/\` (access.log, error.log, jwks_access.log, states.log, rss.log, wrk.txt, wrk-poison.txt)."
} > "$results"
if [ "$valid_non2xx" -gt 0 ] || [ "$invalid_2xx" -gt 0 ]; then
    say "first unexpected answers (epoch kind status reason request_time pid), with the key service state then:"
    awk '($2 == "valid" && $3 !~ /^2/) || ($2 != "valid" && $2 != "-" && $2 != "warmup" && $3 ~ /^2/)' "$access" | head -n 10 >&2
    tail -n 20 "$work/logs/states.log" >&2
fi
cat "$results"
[ "$verdict" = PASS ] || exit 1
