#!/usr/bin/env bash
# Memory of the verified-token cache: sends MEM_TOKENS distinct valid tokens (default 100000)
# to NGINX (2 workers) with wrk, for each cache size in MEM_CACHE_SIZES (default "off 4096
# 100000"), and reports each worker's RSS before and after. With a bounded cache the RSS stays
# flat however many distinct tokens arrive. Writes bench/results/memory-latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ntokens=${MEM_TOKENS:-100000}
sizes=${MEM_CACHE_SIZES:-off 4096 100000}
port=${MEM_PORT:-18560}
work=$root/build/memory
out=$root/bench/results/memory-latest.md
mkdir -p "$work/conf" "$work/logs" "$work/html" bench/results
command -v wrk >/dev/null || { echo "memory: wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ -x build/nginx ] || ./scripts/build.sh
[ -f "$work/keys/jwks.json" ] || build/jwt-mint keygen "$work/keys"
if [ ! -s "$work/tokens.txt" ] || [ "$(wc -l < "$work/tokens.txt")" -ne "$ntokens" ]; then
    echo "== minting $ntokens RS256 tokens" >&2
    build/jwt-mint sign "$work/keys" rsa --exp 86400 --count "$ntokens" > "$work/tokens.txt"
fi
echo ok > "$work/html/index.html"
chmod -R a+rX "$work"

pid=""
cleanup() { [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true; }
trap cleanup EXIT

rss() { # total and per-worker RSS (KiB) of the workers of master $1
    ps -o rss= --ppid "$1" | awk '{t+=$1; s=s" "$1} END {print t" ("substr(s,2)")"}'
}

{
    echo "# jwt_peer_auth token cache memory"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, 2 workers, $ntokens distinct RS256 tokens (each sent at least once), \`bench/memory.sh\`."
    echo
    echo "| jwt_peer_auth_token_cache | worker RSS before (KiB) | after 1st pass | after 2nd pass |"
    echo "|---|--:|--:|--:|"
} > "$out"

for size in $sizes; do
    cat > "$work/conf/nginx.conf" <<CONF
load_module $root/build/ngx_http_jwt_peer_auth_module.so;
worker_processes 2;
error_log logs/error.log error;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    jwt_peer_auth_token_cache $size;
    server {
        listen 127.0.0.1:$port;
        location / {
            jwt_peer_auth "mem";
            jwt_peer_auth_jwks_file $work/keys/jwks.json;
            root html;
        }
    }
}
CONF
    build/nginx -p "$work/" -c conf/nginx.conf
    sleep 1
    pid=$(cat "$work/logs/nginx.pid")
    curl -sf -o /dev/null -H "Authorization: Bearer $(head -1 "$work/tokens.txt")" "http://127.0.0.1:$port/index.html"
    before=$(rss "$pid")
    # One pass is ntokens requests; run long enough for each (at ~30k req/s on 2 cores).
    secs=$(( ntokens / 15000 + 2 ))
    wrk -t1 -c32 -d${secs}s -s bench/tokens.lua "http://127.0.0.1:$port/index.html" -- "$work/tokens.txt" 1 > "$work/wrk1.txt"
    after1=$(rss "$pid")
    wrk -t1 -c32 -d${secs}s -s bench/tokens.lua "http://127.0.0.1:$port/index.html" -- "$work/tokens.txt" 1 > "$work/wrk2.txt"
    after2=$(rss "$pid")
    grep -h "statuses:" "$work/wrk1.txt" "$work/wrk2.txt" >&2 || true
    echo "| $size | $before | $after1 | $after2 |" >> "$out"
    kill -QUIT "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    pid=""
done
cat "$out"
