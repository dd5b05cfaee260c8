#!/usr/bin/env bash
# Memory of the verified-token cache: sends MEM_TOKENS distinct valid tokens (default 100000)
# to NGINX with one worker, with wrk, exactly one pass (every token once), then a second pass,
# for each cache size in MEM_CACHE_SIZES (default "off 4096 100000"), and reports the worker's
# RSS before and after each pass and the growth per cache entry held (one worker: the entries
# held are exactly min(tokens, cache size)). With a bounded cache the RSS stays flat however many
# distinct tokens arrive, and flat on the second pass. Writes bench/results/memory-latest.md
# (MEM_OUT to write elsewhere).
#
# The tokens are shaped like JWThenticator's (RS256, 2048-bit key, kid, typ, and the claims
# identifier, token_id, iat, exp, plus sub and jti): about 611 bytes.
#
#   MEM_MODULE   the module to load (default build/ngx_http_jwt_peer_auth_module.so), to compare
#                builds; MEM_LABEL names it in the table
#   MEM_PORT     port on 127.0.0.1 (default 18560)
#   MEM_KEY      jwt-mint key to sign with (default rsa; "ed" mints a million tokens in seconds
#                instead of a quarter of an hour: an entry holds no signature, so its size
#                does not depend on the algorithm beyond the few bytes of its header)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ntokens=${MEM_TOKENS:-100000}
key=${MEM_KEY:-rsa}
sizes=${MEM_CACHE_SIZES:-off 4096 100000}
port=${MEM_PORT:-18560}
module=${MEM_MODULE:-$root/build/ngx_http_jwt_peer_auth_module.so}
label=${MEM_LABEL:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
work=$root/build/memory
out=${MEM_OUT:-$root/bench/results/memory-latest.md}
mkdir -p "$work/conf" "$work/logs" "$work/html" bench/results
command -v wrk >/dev/null || { echo "memory: wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ -x build/nginx ] || ./scripts/build.sh
[ -f "$work/keys/jwks.json" ] || build/jwt-mint keygen "$work/keys"
tokens=$work/tokens-$key-$ntokens.txt
if [ ! -s "$tokens" ] || [ "$(wc -l < "$tokens")" -ne "$ntokens" ] || [ -n "$(find "$tokens" -mmin +720)" ]; then
    echo "== minting $ntokens tokens with key $key" >&2
    build/jwt-mint sign "$work/keys" "$key" --exp 86400 --count "$ntokens" \
        --claims '{"token_id":"d68827c9-13bd-4b91-b47e-ad17f6959c63"}' > "$tokens.tmp"
    mv "$tokens.tmp" "$tokens"
fi
token_len=$(awk '{ n += length($0) } END { printf "%d", n / NR }' "$tokens")
alg=$(head -n1 "$tokens" | cut -d. -f1 | tr '_-' '/+' | base64 -d 2>/dev/null | sed -n 's/.*"alg":"\([^"]*\)".*/\1/p' || true)
echo ok > "$work/html/index.html"
chmod -R a+rX "$work"

pid=""
cleanup() { [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true; }
trap cleanup EXIT

rss() { # RSS (KiB) of the one worker of master $1
    ps -o rss= --ppid "$1" | awk '{ t += $1 } END { print t }'
}

# One pass over the tokens: wrk stops itself after as many answers as there are tokens
# (tokens.lua's marker), then is interrupted here; its statuses line goes to stderr.
pass() { # N
    local marker=$work/pass.done wrk_pid i
    rm -f "$marker"
    wrk -t1 -c32 -d3600s -s bench/tokens.lua "http://127.0.0.1:$port/index.html" -- "$tokens" 1 "$marker" \
        > "$work/wrk$1.txt" 2>&1 &
    wrk_pid=$!
    for i in $(seq 36000); do
        [ -f "$marker" ] && break
        kill -0 "$wrk_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || true
    [ -f "$marker" ] || { cat "$work/wrk$1.txt" >&2; echo "memory: pass $1 did not finish" >&2; exit 1; }
    grep -h "statuses:" "$work/wrk$1.txt" >&2 || true
    if sed -n 's/^statuses: *//p' "$work/wrk$1.txt" | tr ' ' '\n' | grep -v '^200=' | grep -q .; then
        echo "memory: pass $1 had answers other than 200" >&2
        exit 1
    fi
}

if [ ! -f "$out" ] || [ -z "${MEM_APPEND:-}" ]; then
    {
        echo "# jwt_peer_auth token cache memory"
        echo
        echo "\`bench/memory.sh\`: $(nproc) CPUs, one worker, distinct tokens shaped like JWThenticator's (claims identifier, token_id, iat, exp, sub, jti), each sent once per pass. Per entry: the worker's RSS growth over the first pass divided by the entries the cache then holds (min(tokens, cache size))."
        echo
        echo "| build | date (UTC) | tokens | alg, bytes | jwt_peer_auth_token_cache | worker RSS before (KiB) | after 1st pass | after 2nd pass | growth per entry (bytes) |"
        echo "|---|---|--:|---|---|--:|--:|--:|--:|"
    } > "$out"
fi

for size in $sizes; do
    cat > "$work/conf/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
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
    curl -sf -o /dev/null -H "Authorization: Bearer $(head -1 "$tokens")" "http://127.0.0.1:$port/index.html"
    before=$(rss "$pid")
    pass 1
    after1=$(rss "$pid")
    pass 2
    after2=$(rss "$pid")
    if [ "$size" = off ]; then
        per_entry=-
    else
        entries=$(( size < ntokens ? size : ntokens ))
        per_entry=$(( (after1 - before) * 1024 / entries ))
    fi
    echo "| $label | $(date -u '+%Y-%m-%d %H:%M') | $ntokens | ${alg:-?}, $token_len | $size | $before | $after1 | $after2 | $per_entry |" >> "$out"
    kill -QUIT "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    pid=""
done
cat "$out"
