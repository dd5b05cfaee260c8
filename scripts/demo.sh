#!/usr/bin/env bash
# Builds the module and starts NGINX with it on a self-contained demo configuration
# (nginx-conf/demo.conf) with freshly generated demo keys, then prints a demo token and
# curl lines to try. DEMO_PORT (default 8080) moves the listening port.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
./scripts/build.sh

demo=$PWD/build/demo
port=${DEMO_PORT:-8080}
mkdir -p "$demo/conf" "$demo/logs"
if [ -f "$demo/logs/nginx.pid" ] && kill -0 "$(cat "$demo/logs/nginx.pid")" 2>/dev/null; then
    build/nginx -p "$demo/" -c conf/nginx.conf -s stop || true
    sleep 1
fi
[ -f "$demo/conf/demo-keys/jwks.json" ] || build/jwt-mint keygen "$demo/conf/demo-keys"
sed -e "s/127.0.0.1:8080/127.0.0.1:$port/" -e "s/127.0.0.1:8081/127.0.0.1:$((port + 1))/" \
    nginx-conf/demo.conf > "$demo/conf/nginx.conf"

build/nginx -p "$demo/" -c conf/nginx.conf -t -q
build/nginx -p "$demo/" -c conf/nginx.conf

token=$(build/jwt-mint sign "$demo/conf/demo-keys" rsa --claims '{"identifier":"demo-peer"}')
cat <<MSG

NGINX with jwt_peer_auth is running on http://127.0.0.1:$port (logs: $demo/logs/).

A demo token (RS256, valid for one hour):
TOKEN=$token

Try it:
  curl -i -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$port/          # 200
  curl -i http://127.0.0.1:$port/                                           # 401, no token
  curl -i -H "Authorization: Bearer \${TOKEN/.ey/.eX}" http://127.0.0.1:$port/ # 401, tampered token
  curl -i http://127.0.0.1:$port/health                                     # 200, location with "off"
  curl -s http://127.0.0.1:$port/jwt-status                                # counters (JSON)

More tokens: build/jwt-mint sign $demo/conf/demo-keys rsa [--exp SECONDS] [--claims JSON]
Stop it:     build/nginx -p $demo/ -c conf/nginx.conf -s stop
MSG
