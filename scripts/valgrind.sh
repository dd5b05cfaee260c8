#!/usr/bin/env bash
# Memory check of the module under valgrind (memcheck), in two phases:
#
#  1. build/nginx as a single process (`master_process off; daemon off;`: valgrind sees every
#     request and every write to the shared zone), with a configuration using every part of the
#     module: file keys (RSA, EC, Ed25519, oct), fetched keys (key requests to exact-match
#     `internal` key locations of the same NGINX: cold, cached, rotated, stale with background
#     refresh, 404, garbage, oversized, connection refused, slow with concurrent waiters, client
#     gone mid-fetch), key requests through internal redirects inside the key location
#     (`error_page 404 =` with proxy_intercept_errors, try_files to a named location, the key
#     service's X-Accel-Redirect), key service answers that must fail (206 with the whole body,
#     a good JWKS labelled `Content-Encoding: gzip`), a POST with hostile client headers (Range,
#     If-None-Match, Accept-Encoding, Cookie, X-Forwarded-For) on a cold source (the key service
#     logs and refuses any client header: it must see a bare GET with the module's Accept),
#     tokens failing the cheap header checks (no fetch started), `satisfy any` with allow,
#     auth_basic and auth_request deciding first (their key source is never fetched) and with
#     deny all, `error_page 401` into a protected location, try_files into protected named
#     locations (identity kept, their own claim rules applied), the token cache (8 entries,
#     evicted), claim rules, max_age, require with a map (403) and with a claim (401), a cookie
#     token, every variable via add_header and proxy_set_header, jwt_peer_auth_claim_set /
#     header_set, claims with control characters (withheld, one [warn] each), the status page
#     (JSON with per-source live/last_result/next_attempt_in, Prometheus and HTML), runtime
#     revocation (the API's every answer, a chunked POST body, the zone filled to 507, the state
#     file; the check on token-cache hits), each kind of refusal (`Bearer a b`: 400
#     invalid_request), the preaccess phase (a cold key fetch waited for before limit_req,
#     per-peer limits), `optional` and `shadow`; ~190 curl requests, each status (and some
#     headers, bodies, log lines) checked; then SIGQUIT (bounded wait) and the leak check.
#  2. master + 1 worker (valgrind follows the forks, one log per process), a few requests,
#     two reloads (HUP): the master destroys the replaced configuration cycle, which is the only
#     time the module's configuration (parsed settings, file keys) is freed.
#
#   ./scripts/valgrind.sh                    # uses build/ as it is (run scripts/build.sh first)
#   VALGRIND_SKIP_RELOAD=1 ./scripts/valgrind.sh   # phase 1 only
#
# Verdict: errors (invalid reads/writes/frees, uses of uninitialised values, ...) and
# definitely lost blocks whose stack has a frame of the module (its .so, Rust code, ring) must
# be 0, and no process may crash or log [alert]/[crit]/[emerg]. Errors and leaks with only
# NGINX/OpenSSL/libc frames are listed, not counted: NGINX does not free everything at exit on
# purpose (scripts/valgrind.supp hides the known cases and explains each).
#
# Exit status: 0 clean; 1 errors or definite leaks in the module, a crash, or alerts; 3 the
# module is clean but a request got an unexpected answer; 2 setup problem (valgrind missing,
# NGINX did not start or stop, no leak summary). Files: build/valgrind/logs/ (valgrind.log,
# valgrind-master.<pid>.log, error logs, keyservice-*.log: what the key service saw, requests.txt).
#
# Settings (environment): VALGRIND_PORT (default 18650; +1 key service, +2 a closed port),
# VALGRIND_SKIP_RELOAD=1, VALGRIND_TIMEOUT (s, bound on each valgrind run, default 900).
# Takes about 33 s on 2 cores (phase 1 ~28 s, most of it deliberate waits for stale keys and a
# slow key service; phase 2 ~5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
port=${VALGRIND_PORT:-18650}
jwks_port=$((port + 1))
closed_port=$((port + 2))
vg_timeout=${VALGRIND_TIMEOUT:-900}
work=$root/build/valgrind
started_at=$SECONDS

die() { echo "valgrind.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }
command -v valgrind >/dev/null || ./scripts/deps.sh ci
command -v valgrind >/dev/null || die "valgrind is missing (Debian: apt-get install valgrind)"
command -v curl >/dev/null || die "curl is missing"
command -v python3 >/dev/null || die "python3 is missing"
for f in build/nginx build/ngx_http_jwt_peer_auth_module.so build/jwt-mint; do
    [ -x "$f" ] || die "$f is missing (run scripts/build.sh)"
done
for p in "$port" "$jwks_port" "$closed_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set VALGRIND_PORT)"; fi
done

cleanup() {
    local i
    [ -n "${vg_pid:-}" ] || return 0
    [ -z "${nginx_pid:-}" ] || kill -QUIT "$nginx_pid" 2>/dev/null || true
    for i in $(seq 300); do kill -0 "$vg_pid" 2>/dev/null || return 0; sleep 0.1; done
    local workers=
    [ -z "${nginx_pid:-}" ] || workers=$(ps -o pid= --ppid "$nginx_pid" 2>/dev/null || true)
    kill -KILL "$vg_pid" ${nginx_pid:+"$nginx_pid"} $workers 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- files: a snapshot of the binaries (a concurrent rebuild cannot change them mid-run) -----
rm -rf "$work/logs" "$work/conf" "$work/jwks" "$work/out" "$work/state"
mkdir -p "$work/bin" "$work/conf" "$work/logs" "$work/www" "$work/jwks" "$work/out" "$work/state"
chmod 0777 "$work/state"
for f in nginx ngx_http_jwt_peer_auth_module.so jwt-mint; do
    cp "build/$f" "$work/bin/$f.tmp" && mv -f "$work/bin/$f.tmp" "$work/bin/$f"
done
mint_bin=$work/bin/jwt-mint
keys=$work/keys
[ -f "$keys/rsa2.jwk.json" ] || { rm -rf "$keys"; "$mint_bin" keygen "$keys"; }
echo "hello, peer" > "$work/www/hello.txt"
echo "access denied" > "$work/www/denied.html"
printf 'vg:{PLAIN}open-sesame\n' > "$work/conf/htpasswd"
python3 - "$keys" "$work/jwks" <<'PY'
import json, sys
keys, out = sys.argv[1], sys.argv[2]
good = json.load(open(f"{keys}/jwks.json"))
rsa2 = json.load(open(f"{keys}/rsa2.jwk.json"))
open(f"{out}/good.json", "w").write(json.dumps(good))
open(f"{out}/rotated.json", "w").write(json.dumps({"keys": good["keys"] + [rsa2]}))
open(f"{out}/garbage.txt", "wb").write(b"<html>oops</html>\x00\xff" * 20)
json.dump({"keys": good["keys"], "pad": "x" * (1024 * 1024 + 4096)}, open(f"{out}/big.json", "w"))
PY
cp "$work/jwks/good.json" "$work/jwks/jwks.json"
cp "$work/jwks/good.json" "$work/jwks/slow.json"

write_conf() { # FILE MODE(single|master) ERROR_LOG
    local process="master_process off;"
    [ "$2" = single ] || process="master_process on;"
    cat > "$work/conf/$1" <<CONF
# Written by scripts/valgrind.sh.
load_module $work/bin/ngx_http_jwt_peer_auth_module.so;
$process
daemon off;
worker_processes 1;
error_log $3 info;
pid logs/nginx-$2.pid;

events {
    worker_connections 256;
}

http {
    default_type text/plain;
    log_format vg '\$request_uri \$status \$jwt_peer_auth_status sub=\$jwt_claim_sub alg=\$jwt_header_alg';
    access_log logs/access-$2.log vg;
    jwt_peer_auth_token_cache 8;          # small: the requests below evict entries
    jwt_peer_auth_zone vg_keys:256k;
    # Runtime revocation: its own zone (small: filled to 507 below), a state file.
    jwt_peer_auth_revocation zone=vg_rev_$2:32k state=$work/state/revocations-$2.json ttl=1h;

    map \$jwt_claim_identifier \$peer_ok {
        revoked-peer 0;
        default 1;
    }
    # The key service logs every header a key request must not carry ("-" when absent).
    log_format keysvc '\$request_method \$uri \$status range=\$http_range inm=\$http_if_none_match ae=\$http_accept_encoding cookie=\$http_cookie auth=\$http_authorization cl=\$http_content_length xff=\$http_x_forwarded_for accept="\$http_accept"';
    # Key service /jwks_clean: 409 if a key request carries a client header, 406 without the
    # module's Accept, 405 for another method.
    map "\$http_range\$http_if_none_match\$http_accept_encoding\$http_cookie\$http_authorization\$http_x_forwarded_for" \$client_headers_leaked {
        "" 0;
        default 1;
    }
    map \$http_content_length \$client_body_leaked {   # the module sends "Content-Length: 0"
        "" 0;
        0 0;
        default 1;
    }
    map \$http_accept \$accept_is_jwks {
        "application/jwk-set+json, application/json" 1;
        default 0;
    }
    # Claim and header members at case-sensitive paths.
    jwt_peer_auth_claim_set \$peer_token_id tokenId;
    jwt_peer_auth_claim_set \$peer_org_name org name;
    jwt_peer_auth_claim_set \$peer_org_note org note;
    jwt_peer_auth_claim_set \$peer_org_missing org nope;
    jwt_peer_auth_header_set \$peer_kid kid;
    jwt_peer_auth_header_set \$peer_typ typ;
    # Per-peer limit for the preaccess location (1 r/m: a second request is limited however
    # slowly valgrind runs).
    limit_req_zone \$jwt_claim_identifier zone=vg_peers:1m rate=1r/m;

    server {
        listen 127.0.0.1:$port;
        large_client_header_buffers 4 16k;   # lets a 9 KiB token reach the module
        add_header X-Status \$jwt_peer_auth_status always;

        location /open/ {
            jwt_peer_auth off;
            alias $work/www/;
        }
        # File keys, every variable.
        location /file/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
            add_header X-Status \$jwt_peer_auth_status always;
            add_header X-Sub \$jwt_claim_sub;
            add_header X-Id \$jwt_claim_identifier;
            add_header X-Aud \$jwt_claim_aud;
            add_header X-Obj \$jwt_claim_obj;
            add_header X-Nope "[\$jwt_claim_nope]";
            add_header X-Alg \$jwt_header_alg;
            add_header X-Kid \$jwt_header_kid;
            add_header X-Payload \$jwt_payload;
        }
        # Shared secret (HS256 only with kty oct).
        location /hs/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks-oct.json;
            jwt_peer_auth_algorithms HS256;
            alias $work/www/;
        }
        # Token from a cookie.
        location /cookie/ {
            jwt_peer_auth "vg" token=\$cookie_access_token;
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
        }
        # Claim rules (one with a variable), max_age, leeway.
        location /claims/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_claim sub peer-test other;
            jwt_peer_auth_claim aud \$http_x_expected_aud api;
            jwt_peer_auth_max_age 1h;
            jwt_peer_auth_leeway 5s;
            alias $work/www/;
        }
        # require with map (403) and with a claim variable (401).
        location /require/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_require \$peer_ok error=403;
            alias $work/www/;
        }
        location /require401/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_require \$jwt_claim_admin;
            alias $work/www/;
        }
        # Identity forwarded to an upstream.
        location /proxied/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            proxy_set_header X-Peer-Id \$jwt_claim_identifier;
            proxy_pass http://127.0.0.1:$jwks_port/echo/;
        }
        # Fetched keys: cold fetch, cache, unknown-kid refetch, stale refresh, outages.
        location /fetched/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks;
            jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s;
            alias $work/www/;
            add_header X-Sub \$jwt_claim_sub;
        }
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:$jwks_port/jwks;   # nothing hidden: the module sends no client header
        }
        # File and fetched keys together.
        location /both/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks-oct.json;
            jwt_peer_auth_algorithms RS256 ES256 EdDSA HS256;
            jwt_peer_auth_key_request /_jwks;
            alias $work/www/;
        }
        # Cold cache on a slow key service: concurrent requests wait for one fetch.
        location /slowfetch/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_slow;
            alias $work/www/;
        }
        location = /_jwks_slow { internal; proxy_pass http://127.0.0.1:$jwks_port/slow; }
        # A client that goes away during a waited fetch; one during a background refresh.
        location /slowgone/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_slowgone;
            alias $work/www/;
        }
        location = /_jwks_slowgone { internal; proxy_pass http://127.0.0.1:$jwks_port/slow; }
        location /slowstale/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_slowstale;
            jwt_peer_auth_key_cache 1s stale=1h;
            alias $work/www/;
        }
        location = /_jwks_slowstale { internal; proxy_pass http://127.0.0.1:$jwks_port/slow; }
        # Key sources that never give keys: oversized, garbage, 404, connection refused.
        location /big/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_big;
            alias $work/www/;
        }
        location = /_jwks_big { internal; proxy_pass http://127.0.0.1:$jwks_port/big; }
        location /garbage/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_garbage;
            alias $work/www/;
        }
        location = /_jwks_garbage { internal; proxy_pass http://127.0.0.1:$jwks_port/garbage; }
        location /notfound/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_404;
            alias $work/www/;
        }
        location = /_jwks_404 { internal; proxy_pass http://127.0.0.1:$jwks_port/nothing-here; }
        location /down/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_down;
            alias $work/www/;
        }
        location = /_jwks_down { internal; proxy_pass http://127.0.0.1:$closed_port/jwks; }
        # Key requests through internal redirects inside the key location: error_page (the
        # key service's 404 intercepted and redirected), try_files to a named location, the
        # key service's X-Accel-Redirect.
        location /kr-ep/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_ep;
            alias $work/www/;
        }
        location = /_jwks_ep {
            internal;
            proxy_intercept_errors on;
            error_page 404 = /_jwks_ep_other;
            proxy_pass http://127.0.0.1:$jwks_port/nothing-here;
        }
        location = /_jwks_ep_other { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_good; }
        location /kr-tf/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_tf;
            alias $work/www/;
        }
        location = /_jwks_tf { internal; root $work/jwks; try_files /absent.json @jwks_named; }
        location @jwks_named {
            rewrite ^ /jwks_good break;
            proxy_pass http://127.0.0.1:$jwks_port;
        }
        location /kr-accel/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_accel;
            alias $work/www/;
        }
        location = /_jwks_accel { internal; proxy_pass http://127.0.0.1:$jwks_port/accel; }
        location = /_jwks_accel_target { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_good; }
        # Only a 200 with an identity-encoded body is a success: a 206 (the whole body, as
        # partial content) and a good JWKS labelled Content-Encoding: gzip both fail (500, cold).
        location /kr-206/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_206;
            alias $work/www/;
        }
        location = /_jwks_206 {
            internal;
            proxy_set_header Range "bytes=0-";
            proxy_pass http://127.0.0.1:$jwks_port/jwks_range;
        }
        location /kr-gzip/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_gzip;
            alias $work/www/;
        }
        location = /_jwks_gzip { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_gzip; }
        # A client with hostile headers and a POST body on a cold source: the key service
        # answers 200 only to a clean GET carrying the module's Accept.
        location /kr-hostile/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_clean;
            proxy_pass http://127.0.0.1:$jwks_port/echo/;
        }
        location = /_jwks_clean { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_clean; }
        # Tokens failing the checks that need no key never start a fetch.
        location /cheap/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_cheap;
            alias $work/www/;
        }
        location = /_jwks_cheap { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_cheap; }
        # satisfy any: NGINX's own access handlers run first; when one allows, the module is
        # not consulted (its key source, a closed port, is never fetched).
        location /sat-allow/ {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_sat;
            alias $work/www/;
        }
        location /sat-basic/ {
            satisfy any;
            auth_basic "vg-basic";
            auth_basic_user_file $work/conf/htpasswd;
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_sat;
            alias $work/www/;
        }
        location /sat-authreq/ {
            satisfy any;
            auth_request /_authreq;
            jwt_peer_auth "vg";
            jwt_peer_auth_key_request /_jwks_sat;
            alias $work/www/;
        }
        location = /_authreq {
            internal;
            if (\$http_x_let_in = yes) { return 204; }
            return 401;
        }
        location = /_jwks_sat { internal; proxy_pass http://127.0.0.1:$closed_port/jwks; }
        location /sat-deny/ {
            satisfy any;
            deny all;
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
        }
        # Decisions survive internal redirects: an error page in a protected location is served
        # (with the refusal's status); a named location keeps the identity and applies its own
        # claim rules.
        location /ep401/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            error_page 401 /denied/denied.html;
            alias $work/www/;
        }
        location /denied/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_claim sub nobody;
            alias $work/www/;
            add_header X-Denied-Status \$jwt_peer_auth_status always;
        }
        location /tf/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            root $work/www;
            try_files /absent @tf_named;
        }
        location @tf_named {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            root $work/www;
            rewrite ^ /hello.txt break;
            add_header X-Named-Sub \$jwt_claim_sub;
            add_header X-Named-Status \$jwt_peer_auth_status;
        }
        location /tf-strict/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            root $work/www;
            try_files /absent @tf_strict;
        }
        location @tf_strict {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_claim sub nobody;
            root $work/www;
            rewrite ^ /hello.txt break;
        }
        # Member-set variables; claims with control characters are withheld.
        location /sets/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
            add_header X-Token-Id "[\$peer_token_id]" always;
            add_header X-Org-Name "[\$peer_org_name]" always;
            add_header X-Org-Missing "[\$peer_org_missing]" always;
            add_header X-Kid-Set "[\$peer_kid]" always;
            add_header X-Typ-Set "[\$peer_typ]" always;
        }
        location /ctrl/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
            add_header X-Sub \$jwt_claim_sub;
            add_header X-Note "[\$jwt_claim_ctrlnote]";
            add_header X-Note-Again "[\$jwt_claim_ctrlnote]";
            add_header X-Org-Note "[\$peer_org_note]";
        }
        # Preaccess phase (before limit_req, a cold key fetch waited for there), optional, shadow.
        location /pre/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_phase preaccess;
            jwt_peer_auth_key_request /_jwks_pre;
            limit_req zone=vg_peers;
            limit_req_status 429;
            alias $work/www/;
            add_header X-Status \$jwt_peer_auth_status always;
            add_header X-Id "[\$jwt_claim_identifier]" always;
        }
        location = /_jwks_pre { internal; proxy_pass http://127.0.0.1:$jwks_port/jwks_good; }
        location /opt/ {
            jwt_peer_auth "vg" optional;
            jwt_peer_auth_jwks_file $keys/jwks.json;
            alias $work/www/;
        }
        location /shadow/ {
            jwt_peer_auth "vg" shadow;
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_require \$peer_ok error=403;
            alias $work/www/;
            add_header X-Status \$jwt_peer_auth_status always;
            add_header X-Id "[\$jwt_claim_identifier]" always;
        }
        location /shadow-down/ {
            jwt_peer_auth "vg" shadow;
            jwt_peer_auth_key_request /_jwks_down;
            alias $work/www/;
        }
        location = /status {
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth off;
            jwt_peer_auth_status;
        }
        location /revoke/ {
            jwt_peer_auth "vg";
            jwt_peer_auth_jwks_file $keys/jwks.json;
            jwt_peer_auth_revocation_check identifier token_id header.kid jti;
            alias $work/www/;
        }
        location = /revocations {
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth off;
            jwt_peer_auth_revocation_api;
        }
    }

    # The key service (and an echo upstream).
    server {
        listen 127.0.0.1:$jwks_port;
        default_type application/json;
        access_log logs/keyservice-$2.log keysvc;
        location = /jwks { alias $work/jwks/jwks.json; }
        location = /jwks_good { alias $work/jwks/good.json; }
        location = /jwks_cheap { alias $work/jwks/good.json; }
        location = /jwks_range { access_log off; alias $work/jwks/good.json; }   # Range set by /_jwks_206
        location = /jwks_gzip { add_header Content-Encoding gzip; alias $work/jwks/good.json; }
        location = /accel { add_header X-Accel-Redirect /_jwks_accel_target; return 200 "moved\n"; }
        location = /jwks_clean {
            if (\$request_method != GET) { return 405; }
            if (\$client_headers_leaked) { return 409; }
            if (\$client_body_leaked) { return 413; }
            if (\$accept_is_jwks = 0) { return 406; }
            alias $work/jwks/good.json;
        }
        location = /slow { limit_rate 600; alias $work/jwks/slow.json; }
        location = /big { alias $work/jwks/big.json; }
        location = /garbage { alias $work/jwks/garbage.txt; }
        location /echo/ { access_log off; return 200 "peer=\$http_x_peer_id\n"; }
    }
}
CONF
}
write_conf single.conf single logs/error.log
write_conf master.conf master logs/error-master.log
chmod -R a+rX "$work"
for c in single master; do
    "$work/bin/nginx" -p "$work/" -c conf/$c.conf -t -q || die "nginx -t failed ($c.conf)"
done

# --- NGINX under valgrind -------------------------------------------------------------------
vg_opts=(--tool=memcheck --error-exitcode=99 --errors-for-leak-kinds=definite
    --leak-check=full --show-leak-kinds=definite,possible
    --num-callers=40 --keep-debuginfo=yes
    --suppressions="$root/scripts/valgrind.supp" --gen-suppressions=all)
nginx_pid=   # the process valgrind runs NGINX in (single process, or the master)
vg_pid=      # timeout(1) around it: the whole run is bounded
start_nginx() { # MODE LOG_FILE_PATTERN [VALGRIND_OPTION...]
    local mode=$1 log=$2
    shift 2
    rm -f "$work/logs/nginx-$mode.pid"
    timeout --signal=KILL "$vg_timeout" valgrind "${vg_opts[@]}" "$@" --log-file="$log" \
        "$work/bin/nginx" -p "$work/" -c "conf/$mode.conf" > "$work/logs/stderr-$mode.log" 2>&1 &
    vg_pid=$!
    local i
    for i in $(seq 600); do
        if [ -s "$work/logs/nginx-$mode.pid" ] && [ "$(curl -s --noproxy '*' -m 5 -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$port/open/hello.txt" || true)" = 200 ]; then
            nginx_pid=$(cat "$work/logs/nginx-$mode.pid")
            return 0
        fi
        kill -0 "$vg_pid" 2>/dev/null || { cat "$work/logs/stderr-$mode.log" >&2; die "nginx ($mode) exited"; }
        sleep 0.1
    done
    die "nginx ($mode) under valgrind does not answer after 60 s"
}
stop_nginx() { # QUIT, then waits (at most 120 s) for valgrind's leak check and exit
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    local i
    for i in $(seq 1200); do kill -0 "$vg_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$vg_pid" 2>/dev/null; then
        kill -KILL "$nginx_pid" "$vg_pid" 2>/dev/null || true
        die "NGINX did not exit within 120 s of SIGQUIT"
    fi
    vg_rc=0
    wait "$vg_pid" || vg_rc=$?
    vg_pid=
    nginx_pid=
}
say "phase 1: single process (master_process off) under valgrind on 127.0.0.1:$port"
start_nginx single "$work/logs/valgrind.log" --track-origins=yes
say "NGINX up after $((SECONDS - started_at)) s; sending requests"

# --- the requests ---------------------------------------------------------------------------
results=$work/logs/requests.txt
: > "$results"
n_req=0
# req NAME EXPECTED_STATUS PATH [curl args...]: one request, its status recorded and compared.
req() {
    local name=$1 want=$2 path=$3 got
    shift 3
    n_req=$((n_req + 1))
    got=$(curl -s --noproxy '*' -m 60 -o "$work/out/$n_req.body" -D "$work/out/$n_req.headers" \
        -w '%{http_code}' "$@" "http://127.0.0.1:$port$path" || true)
    local verdict=ok
    [ "$got" = "$want" ] || verdict=UNEXPECTED
    printf '%-4s %-10s %s %s %s\n' "$n_req" "$verdict" "$want" "${got:-none}" "$name" >> "$results"
}
# has_header NAME REGEX: the last request's response has a header matching REGEX.
has_header() {
    local verdict=ok
    grep -qiE "^$2" "$work/out/$n_req.headers" || verdict=UNEXPECTED
    printf '%-4s %-10s %s\n' "$n_req" "$verdict" "  header of the request above: $1" >> "$results"
}
auth() { printf 'Authorization: Bearer %s' "$1"; }
mint() { "$mint_bin" sign "$keys" "$@"; }
now=$(date +%s)

# File keys: valid tokens of each type, variables in headers.
req "valid RS256, file keys" 200 /file/hello.txt -H "$(auth "$(mint rsa --claims '{"aud":["a","b"],"obj":{"x":[1,2]}}')")"
has_header "claim variables" 'X-Sub: peer-test'
has_header "array claim as compact JSON" 'X-Aud: \["a","b"\]'
has_header "header variable" 'X-Alg: RS256'
has_header "status variable" 'X-Status: ok'
has_header "missing claim is empty" 'X-Nope: \[\]'
req "valid ES256" 200 /file/hello.txt -H "$(auth "$(mint ec)")"
req "valid EdDSA" 200 /file/hello.txt -H "$(auth "$(mint ed)")"
req "valid, no kid" 200 /file/hello.txt -H "$(auth "$(mint rsa --no-kid)")"
req "valid, lower-case scheme" 200 /file/hello.txt -H "authorization: bearer $(mint ec)"
req "valid HS256 with an oct key" 200 /hs/hello.txt -H "$(auth "$(mint oct)")"
req "valid, token from a cookie" 200 /cookie/hello.txt -b "access_token=$(mint rsa)"
req "cookie missing" 401 /cookie/hello.txt
req "identity forwarded upstream" 200 /proxied/x -H "$(auth "$(mint rsa)")"
grep -q 'peer=11111111-2222-3333-4444-555555555555' "$work/out/$n_req.body" \
    || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: identifier not forwarded" >> "$results"
# Token cache: more distinct valid tokens than its 8 entries, each twice (hits, misses, evictions).
mint rsa --count 12 > "$work/out/pool.txt"
for pass in 1 2; do
    while read -r t; do req "token cache pass $pass" 200 /file/hello.txt -H "$(auth "$t")"; done < "$work/out/pool.txt"
done
# Every refusal.
good=$(mint rsa)
# One kept-alive connection (curl --next reuses it): the connection's token digest memo
# remembering, reusing, and replaced by a token of the same length and by a longer one.
keepalive_seq() { # NAME EXPECTED_CODES TOKEN...
    local name=$1 want=$2 t args=() got
    shift 2
    for t in "$@"; do
        [ ${#args[@]} -eq 0 ] || args+=(--next)
        args+=(-s --noproxy '*' -m 60 -o /dev/null -w '%{http_code} ' -H "$(auth "$t")" "http://127.0.0.1:$port/file/hello.txt")
    done
    n_req=$((n_req + 1))
    got=$(curl "${args[@]}" || true)
    local verdict=ok
    [ "${got% }" = "$want" ] || verdict=UNEXPECTED
    printf '%-4s %-10s %s %s %s\n' "$n_req" "$verdict" "$want" "${got:-none}" "$name" >> "$results"
}
ka=$(mint rsa)
ka_bad=$(mint rsa --corrupt)
ka_long=$(mint rsa --claims '{"note":"'"$(printf 'x%.0s' $(seq 600))"'"}')
keepalive_seq "one connection: token, same token, bad token, longer token, first token" "200 200 401 200 200" \
    "$ka" "$ka" "$ka_bad" "$ka_long" "$ka"
req "no Authorization" 401 /file/hello.txt
has_header "challenge without error" 'WWW-Authenticate: Bearer realm="vg"'
req "another scheme" 401 /file/hello.txt -H "Authorization: Basic dXNlcjpwYXNz"
req "Bearer without token" 400 /file/hello.txt -H "Authorization: Bearer"
req "two tokens: Bearer a b" 400 /file/hello.txt -H "Authorization: Bearer a b"
has_header "invalid_request challenge" 'WWW-Authenticate: Bearer realm="vg", error="invalid_request"'
req "bad signature" 401 /file/hello.txt -H "$(auth "$(mint rsa --corrupt)")"
has_header "invalid_token challenge" 'WWW-Authenticate: Bearer realm="vg", error="invalid_token"'
req "other key's signature" 401 /file/hello.txt -H "$(auth "$(mint rsa2 --kid rsa)")"
req "expired" 401 /file/hello.txt -H "$(auth "$(mint rsa --exp -60)")"
has_header "expired description" 'WWW-Authenticate: .*The access token expired'
req "not yet valid" 401 /file/hello.txt -H "$(auth "$(mint rsa --nbf 3600)")"
req "unknown kid (file keys)" 401 /file/hello.txt -H "$(auth "$(mint rsa --kid nosuch)")"
req "alg none" 401 /file/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"none","typ":"JWT"}' --unsigned)")"
req "alg NoNe with kid" 401 /file/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"NoNe","kid":"rsa"}' --unsigned)")"
req "HS256 with the RSA public key (confusion)" 401 /file/hello.txt -H "$(auth "$(mint rsa --secret-file "$keys/rsa.pub.pem" --alg HS256)")"
req "alg not on the location's list (RS256 on HS256-only)" 401 /hs/hello.txt -H "$(auth "$(mint rsa)")"
req "crit header" 401 /file/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"RS256","kid":"rsa","crit":["exp"]}')")"
req "duplicate header member" 401 /file/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"RS256","kid":"rsa","kid":"rsa"}')")"
req "jku ignored, still valid" 200 /file/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"RS256","kid":"rsa","jku":"http://127.0.0.1:1/x"}')")"
req "no exp" 401 /file/hello.txt -H "$(auth "$(mint rsa --no-exp)")"
req "exp not a number" 401 /file/hello.txt -H "$(auth "$(mint rsa --claims '{"exp":"tomorrow"}')")"
req "malformed: one part" 401 /file/hello.txt -H "$(auth abc)"
req "malformed: two parts" 401 /file/hello.txt -H "$(auth "${good%.*}")"
req "malformed: four parts" 401 /file/hello.txt -H "$(auth "$good.x")"
req "malformed: JWE (five parts)" 401 /file/hello.txt -H "$(auth "a.b.c.d.e")"
req "malformed: padding" 401 /file/hello.txt -H "$(auth "$good=")"
req "malformed: not JSON" 401 /file/hello.txt -H "$(auth "e30.bm90IGpzb24.e30")"
req "malformed: empty header" 401 /file/hello.txt -H "$(auth ".e30.e30")"
req "malformed: deep nesting" 401 /file/hello.txt -H "$(auth "$(python3 -c 'import base64; print(base64.urlsafe_b64encode(b"[" * 5000).decode().rstrip("="))').e30.e30")"
req "malformed: 9 KiB token" 401 /file/hello.txt -H "$(auth "$(head -c 9300 /dev/zero | tr '\0' 'A').e30.e30")"
req "payload not an object (signed)" 401 /hs/hello.txt -H "$(auth "$(python3 - "$keys/oct.secret" <<'PYT'
import base64, hashlib, hmac, sys
b = lambda x: base64.urlsafe_b64encode(x).decode().rstrip("=")
msg = b(b'{"alg":"HS256","kid":"oct"}') + "." + b(b"[1,2]")
print(msg + "." + b(hmac.new(open(sys.argv[1], "rb").read(), msg.encode(), hashlib.sha256).digest()))
PYT
)")"
# Claim rules, max_age, require.
req "claims ok (aud from a variable)" 200 /claims/hello.txt -H "X-Expected-Aud: peers" -H "$(auth "$(mint rsa --claims '{"aud":["x","peers"]}')")"
req "claims ok (aud literal)" 200 /claims/hello.txt -H "$(auth "$(mint rsa --claims '{"aud":"api"}')")"
req "claim aud wrong" 401 /claims/hello.txt -H "$(auth "$(mint rsa --claims '{"aud":"other"}')")"
req "claim sub wrong" 401 /claims/hello.txt -H "$(auth "$(mint rsa --claims '{"aud":"api","sub":"intruder"}')")"
req "claim missing" 401 /claims/hello.txt -H "$(auth "$(mint rsa)")"
req "max_age: iat too old" 401 /claims/hello.txt -H "$(auth "$(mint rsa --claims "{\"aud\":\"api\",\"iat\":$((now - 7200))}")")"
req "require map ok" 200 /require/hello.txt -H "$(auth "$(mint rsa)")"
req "require map: revoked peer" 403 /require/hello.txt -H "$(auth "$(mint rsa --claims '{"identifier":"revoked-peer"}')")"
req "require claim missing" 401 /require401/hello.txt -H "$(auth "$(mint rsa)")"
req "require claim true" 200 /require401/hello.txt -H "$(auth "$(mint rsa --claims '{"admin":true}')")"
req "require claim 0" 401 /require401/hello.txt -H "$(auth "$(mint rsa --claims '{"admin":0}')")"
# Fetched keys.
req "fetched: cold cache" 200 /fetched/hello.txt -H "$(auth "$(mint rsa)")"
has_header "variables with fetched keys" 'X-Sub: peer-test'
req "fetched: cached keys" 200 /fetched/hello.txt -H "$(auth "$(mint ec)")"
req "fetched: bad signature" 401 /fetched/hello.txt -H "$(auth "$(mint ed --corrupt)")"
req "file + fetched: HS256 from the file" 200 /both/hello.txt -H "$(auth "$(mint oct)")"
req "file + fetched: RS256 from the fetch" 200 /both/hello.txt -H "$(auth "$(mint rsa)")"
cp "$work/jwks/rotated.json" "$work/jwks/jwks.json.tmp" && mv "$work/jwks/jwks.json.tmp" "$work/jwks/jwks.json"
req "fetched: rotation, unknown kid refetched" 200 /fetched/hello.txt -H "$(auth "$(mint rsa2)")"
req "fetched: random kid (refetch rate-limited)" 401 /fetched/hello.txt -H "$(auth "$(mint rsa --kid random-1)")"
sleep 1.2
req "fetched: random kid (refetch, nothing new)" 401 /fetched/hello.txt -H "$(auth "$(mint rsa --kid random-2)")"
mv "$work/jwks/jwks.json" "$work/jwks/jwks.json.away"
sleep 2.2
req "fetched: stale keys, background refresh gets 404" 200 /fetched/hello.txt -H "$(auth "$(mint rsa)")"
cp "$work/jwks/garbage.txt" "$work/jwks/jwks.json"
sleep 2.2
req "fetched: stale keys, background refresh gets garbage" 200 /fetched/hello.txt -H "$(auth "$(mint ec)")"
cp "$work/jwks/good.json" "$work/jwks/jwks.json.tmp" && mv "$work/jwks/jwks.json.tmp" "$work/jwks/jwks.json"
sleep 4.2
req "fetched: stale keys, refreshed again (key removed)" 200 /fetched/hello.txt -H "$(auth "$(mint rsa)")"
sleep 0.5
req "fetched: removed key no longer accepted" 401 /fetched/hello.txt -H "$(auth "$(mint rsa2)")"
# Cold cache on a slow key service: 5 concurrent requests, one fetch.
pids=()
for i in 1 2 3 4 5; do
    ( curl -s --noproxy '*' -m 60 -o /dev/null -w '%{http_code}' -H "$(auth "$(mint rsa)")" \
        "http://127.0.0.1:$port/slowfetch/hello.txt" > "$work/out/slow-$i.code" ) &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
for i in 1 2 3 4 5; do
    n_req=$((n_req + 1))
    got=$(cat "$work/out/slow-$i.code" 2>/dev/null || true)
    v=ok; [ "$got" = 200 ] || v=UNEXPECTED
    printf '%-4s %-10s %s %s %s\n' "$n_req" "$v" 200 "${got:-none}" "slow key service, concurrent cold request $i" >> "$results"
done
# Key sources that never give keys: fail closed with 500.
req "oversized JWKS refused" 500 /big/hello.txt -H "$(auth "$(mint rsa)")"
req "garbage JWKS" 500 /garbage/hello.txt -H "$(auth "$(mint rsa)")"
req "key service 404" 500 /notfound/hello.txt -H "$(auth "$(mint rsa)")"
req "key service down (connection refused)" 500 /down/hello.txt -H "$(auth "$(mint rsa)")"
req "no keys, missing token still 401" 401 /down/hello.txt
# A client that goes away while its request waits for a (slow, ~3 s) cold fetch: the fetch is
# torn down with the request; a later request fetches again.
curl -s --noproxy '*' -m 0.5 -o /dev/null -H "$(auth "$(mint rsa)")" "http://127.0.0.1:$port/slowgone/hello.txt" || true
sleep 2.5
req "after a client went away mid-fetch" 200 /slowgone/hello.txt -H "$(auth "$(mint rsa)")"
# Stale keys on a slow key service: the answer comes at once, the client leaves while the
# background refresh runs on; a second request meanwhile does not start another.
req "slow key service, cold" 200 /slowstale/hello.txt -H "$(auth "$(mint rsa)")"
sleep 1.5
req "slow key service, stale: answered at once" 200 /slowstale/hello.txt -H "$(auth "$(mint ec)")"
req "slow key service, stale: refresh under way" 200 /slowstale/hello.txt -H "$(auth "$(mint ed)")"
refresh_started=$SECONDS   # the slow refresh (~3 s) runs on while the requests below are sent
# Key requests through internal redirects inside the key location (cold sources).
req "key location: error_page 404 = /_jwks_ep_other" 200 /kr-ep/hello.txt -H "$(auth "$(mint rsa)")"
req "key location: try_files to a named location" 200 /kr-tf/hello.txt -H "$(auth "$(mint ec)")"
req "key location: X-Accel-Redirect from the key service" 200 /kr-accel/hello.txt -H "$(auth "$(mint ed)")"
# Only a 200 with an identity-encoded body is published.
req "key service answers 206 (whole body): fetch fails" 500 /kr-206/hello.txt -H "$(auth "$(mint rsa)")"
req "key service answers Content-Encoding: gzip: fetch fails" 500 /kr-gzip/hello.txt -H "$(auth "$(mint rsa)")"
# Hostile client headers and a POST body on a cold source: the key request carries none (the
# key service answers 409/413/405 otherwise). The client's own answer is NGINX's 304 for
# "If-None-Match: *", once the module let it through.
req "hostile client headers + POST, cold source" 304 /kr-hostile/x -H "$(auth "$(mint rsa)")" \
    -H "Range: bytes=0-0" -H "If-None-Match: *" -H "Accept-Encoding: gzip" -H "Cookie: a=b" \
    -H "X-Forwarded-For: 192.0.2.1" -d "client=body"
has_header "allowed by the module" 'X-Status: ok'
# Cheap header checks refuse before any fetch: the source stays unfetched until a good token.
req "cheap: malformed, no fetch" 401 /cheap/hello.txt -H "$(auth abc)"
req "cheap: alg none, no fetch" 401 /cheap/hello.txt -H "$(auth "$(mint rsa --header '{"alg":"none","kid":"rsa"}' --unsigned)")"
req "cheap: alg HS256 not allowed, no fetch" 401 /cheap/hello.txt -H "$(auth "$(mint oct)")"
req "cheap: Bearer a b, no fetch" 400 /cheap/hello.txt -H "Authorization: Bearer a b"
req "cheap: status before any good token" 200 /status
python3 - "$work/out/$n_req.body" <<'PYS' || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: /_jwks_cheap was fetched for tokens failing cheap checks" >> "$results"
import json, sys
s = [k for k in json.load(open(sys.argv[1]))["key_sources"] if k["uri"] == "/_jwks_cheap"]
sys.exit(0 if all(k["fetches"]["ok"] + k["fetches"]["failed"] == 0 for k in s) else 1)
PYS
req "cheap: a good token fetches" 200 /cheap/hello.txt -H "$(auth "$(mint rsa)")"
# satisfy any: allow, auth_basic, auth_request decide first; the module is not consulted.
req "satisfy any: allowed address, no token" 200 /sat-allow/hello.txt
req "satisfy any: allowed address, malformed token" 200 /sat-allow/hello.txt -H "$(auth abc)"
req "satisfy any: auth_basic ok" 200 /sat-basic/hello.txt -u vg:open-sesame
req "satisfy any: auth_request ok" 200 /sat-authreq/hello.txt -H "X-Let-In: yes"
req "satisfy any: deny all, valid token" 200 /sat-deny/hello.txt -H "$(auth "$(mint rsa)")"
req "satisfy any: deny all, no token" 401 /sat-deny/hello.txt
req "satisfy any: deny all, bad signature" 401 /sat-deny/hello.txt -H "$(auth "$(mint rsa --corrupt)")"
# Decisions survive internal redirects.
req "error_page 401 into a protected location: no token" 401 /ep401/hello.txt
grep -q 'access denied' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: not the error page" >> "$results"
has_header "status variable on the error page" 'X-Denied-Status: missing'
req "error_page 401 into a protected location: bad signature" 401 /ep401/hello.txt -H "$(auth "$(mint ec --corrupt)")"
grep -q 'access denied' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: not the error page" >> "$results"
req "error_page location, valid token" 200 /ep401/hello.txt -H "$(auth "$(mint ec)")"
req "try_files to a protected named location" 200 /tf/x -H "$(auth "$(mint rsa)")"
has_header "claim after try_files (@named)" 'X-Named-Sub: peer-test'
has_header "status after try_files (@named)" 'X-Named-Status: ok'
req "try_files: refused before the redirect" 401 /tf/x -H "$(auth "$(mint rsa --corrupt)")"
req "try_files to a named location with its own claim rule" 401 /tf-strict/x -H "$(auth "$(mint rsa)")"
# jwt_peer_auth_claim_set / jwt_peer_auth_header_set.
req "claim_set / header_set variables" 200 /sets/hello.txt -H "$(auth "$(mint ed --claims '{"tokenId":"T-42","org":{"name":"acme"}}')")"
has_header "claim_set tokenId (case kept)" 'X-Token-Id: \[T-42\]'
has_header "claim_set org name (nested)" 'X-Org-Name: \[acme\]'
has_header "claim_set missing member" 'X-Org-Missing: \[\]'
has_header "header_set kid" 'X-Kid-Set: \[ed\]'
has_header "header_set typ" 'X-Typ-Set: \[JWT\]'
req "claim_set on a refused token" 401 /sets/hello.txt -H "$(auth "$(mint ed --corrupt --claims '{"tokenId":"T-42"}')")"
has_header "no identity after a refusal" 'X-Token-Id: \[\]'
# Control characters in claims: the variables are withheld, one [warn] per claim.
req "claims with control characters" 200 /ctrl/hello.txt -H "$(auth "$(mint rsa --claims '{"ctrlnote":"a\r\nX-Injected: 1","org":{"note":"x\ty"}}')")"
has_header "other claims still shown" 'X-Sub: peer-test'
has_header "control-character claim withheld" 'X-Note: \[\]'
has_header "control-character claim withheld (used twice)" 'X-Note-Again: \[\]'
has_header "control-character claim_set member withheld" 'X-Org-Note: \[\]'
grep -qi '^X-Injected' "$work/out/$n_req.headers" && printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  header injected from a claim" >> "$results"
for what in 'claim "ctrlnote"' 'claim "org.note"'; do
    w=$(grep -c "\[warn\].*jwt_peer_auth: $what has a control character" "$work/logs/error.log" || true)
    v=ok; [ "$w" = 1 ] || v=UNEXPECTED
    printf '%-4s %-10s %s\n' "$n_req" "$v" "  one [warn] for $what (got $w)" >> "$results"
done
# Runtime revocation: the API (every kind of answer) and the check, cache hits included.
rev_token=$(mint rsa --claims '{"identifier":"peer-r","token_id":"tid-r"}')
req "revocation: not listed yet" 200 /revoke/hello.txt -H "$(auth "$rev_token")"
req "revocation: cached, not listed" 200 /revoke/hello.txt -H "$(auth "$rev_token")"
api() { req "$1" "$2" /revocations -H 'Content-Type: application/json' "${@:3}"; }
api "revocation API: POST identifier" 201 -d '{"name":"identifier","value":"peer-r","ttl":"30m"}'
api "revocation API: POST extends" 200 -d '{"name":"identifier","value":"peer-r","ttl":7200}'
req "revocation: revoked (cache hit)" 401 /revoke/hello.txt -H "$(auth "$rev_token")"
api "revocation API: POST header.kid" 201 -d '{"name":"header.kid","value":"ec"}'
req "revocation: kid revoked" 401 /revoke/hello.txt -H "$(auth "$(mint ec)")"
req "revocation API: GET" 200 /revocations
grep -q '"value":"peer-r"' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: peer-r not listed" >> "$results"
api "revocation API: bad JSON" 400 -d '{"name":'
api "revocation API: unknown member" 400 -d '{"name":"jti","value":"x","why":1}'
api "revocation API: value too long" 400 -d "{\"name\":\"jti\",\"value\":\"$(head -c 300 /dev/zero | tr '\0' v)\"}"
api "revocation API: body too large" 413 -d "$(head -c 5000 /dev/zero | tr '\0' ' ')"
api "revocation API: chunked body" 201 -H 'Transfer-Encoding: chunked' -d '{"name":"jti","value":"chunked"}'
req "revocation API: form content type" 415 /revocations -d '{"name":"jti","value":"x"}'
req "revocation API: PUT" 405 /revocations -X PUT
req "revocation API: DELETE without value" 400 "/revocations?name=jti" -X DELETE
req "revocation API: DELETE unknown" 404 "/revocations?name=jti&value=nobody" -X DELETE
req "revocation API: DELETE" 200 "/revocations?name=identifier&value=peer-r" -X DELETE
req "revocation: back in" 200 /revoke/hello.txt -H "$(auth "$rev_token")"
# Fill the 32k zone: a 507 and nothing evicted (the kid entry still refuses).
for i in $(seq 400); do
    code=$(curl -s --noproxy '*' -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "{\"name\":\"jti\",\"value\":\"filler-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}" "http://127.0.0.1:$port/revocations")
    [ "$code" = 201 ] || break
done
api "revocation API: zone full" 507 -d '{"name":"jti","value":"filler-0-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}'
req "revocation: still revoked when full" 401 /revoke/hello.txt -H "$(auth "$(mint ec)")"
grep -q '"value":"ec"' "$work/state/revocations-single.json" 2>/dev/null \
    || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  state file: the kid entry is not there" >> "$results"

# Preaccess phase: a cold key fetch waited for, then one limit per peer; optional; shadow.
req "preaccess: cold key fetch" 200 /pre/hello.txt -H "$(auth "$(mint rsa --claims '{"identifier":"vg-a"}')")"
has_header "preaccess: identity" 'X-Id: \[vg-a\]'
req "preaccess: the same peer again: limited" 429 /pre/hello.txt -H "$(auth "$(mint ec --claims '{"identifier":"vg-a"}')")"
req "preaccess: another peer" 200 /pre/hello.txt -H "$(auth "$(mint ed --claims '{"identifier":"vg-b"}')")"
req "preaccess: refused before the limiter" 401 /pre/hello.txt -H "$(auth "$(mint rsa --corrupt)")"
has_header "preaccess: refusal status" 'X-Status: signature'
req "optional: no token passes" 200 /opt/hello.txt
has_header "optional: status missing" 'X-Status: missing'
req "optional: a bad token is refused" 401 /opt/hello.txt -H "$(auth "$(mint rsa --corrupt)")"
req "shadow: an expired token passes" 200 /shadow/hello.txt -H "$(auth "$(mint rsa --exp -60)")"
has_header "shadow: status expired" 'X-Status: expired'
has_header "shadow: no identity" 'X-Id: \[\]'
req "shadow: require error=403 passes" 200 /shadow/hello.txt -H "$(auth "$(mint rsa --claims '{"identifier":"revoked-peer"}')")"
has_header "shadow: status claim" 'X-Status: claim'
req "shadow: a valid token" 200 /shadow/hello.txt -H "$(auth "$(mint ec)")"
has_header "shadow: identity" 'X-Id: \[11111111-2222-3333-4444-555555555555\]'
req "shadow: no keys passes" 200 /shadow-down/hello.txt -H "$(auth "$(mint rsa)")"
# The slow background refresh started above ends before the status page is read.
[ $((SECONDS - refresh_started)) -ge 4 ] || sleep $((4 - (SECONDS - refresh_started)))
# Status page.
req "status JSON" 200 /status
grep -q '"requests":{"ok":' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: not the JSON status" >> "$results"
# Per key source: live, last_result, next_attempt_in; what each source above must show.
python3 - "$work/out/$n_req.body" "$work/logs/error.log" <<'PYS' >> "$results"
import json, sys
src = {k["uri"]: k for k in json.load(open(sys.argv[1]))["key_sources"]}
log = open(sys.argv[2], errors="replace").read()
checks = [("every source has live, last_result, next_attempt_in",
           all({"live", "last_result", "next_attempt_in"} <= set(k) for k in src.values()) and len(src) > 0)]
for uri in ("/_jwks_ep", "/_jwks_tf", "/_jwks_accel", "/_jwks_clean", "/_jwks_cheap"):
    k = src.get(uri, {})
    checks.append((f"{uri}: published by its first fetch, live, last_result 200",
                   k.get("state") == "published" and k.get("fetches") == {"ok": 1, "failed": 0}
                   and k.get("live") is True and k.get("last_result") == "200"))
for uri, why in (("/_jwks_206", "status 206"), ("/_jwks_gzip", 'Content-Encoding "gzip"')):
    k = src.get(uri, {})
    checks.append((f"{uri}: no keys, one failure, next_attempt_in set, logged as {why}",
                   k.get("state") == "no_keys" and k.get("fetches", {}).get("failed") == 1
                   and k.get("next_attempt_in", -1) >= 0 and k.get("last_result") not in (None, "", "200")
                   and f'key request "{uri}" failed: {why}' in log.replace("response has ", "")))
checks.append(("/_jwks_sat (satisfy any): never fetched",
               src.get("/_jwks_sat", {"fetches": {"ok": 0, "failed": 0}})["fetches"] == {"ok": 0, "failed": 0}))
for name, ok in checks:
    print(f"{'':4} {'ok' if ok else 'UNEXPECTED':10}   status page: {name}")
PYS
req "status prometheus" 200 "/status?format=prometheus"
grep -q 'jwt_peer_auth_requests_total' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: not the Prometheus status" >> "$results"
req "status HTML (a browser's Accept)" 200 /status -H 'Accept: text/html,application/xhtml+xml,*/*;q=0.8'
has_header "HTML status page" 'Content-Type: text/html'
has_header "HTML status page policy" "Content-Security-Policy: default-src 'none'"
grep -q 'All key sources fresh\|Something is wrong with the keys' "$work/out/$n_req.body" || printf '%-4s %-10s %s\n' "$n_req" UNEXPECTED "  body: not the HTML status page" >> "$results"

# The key service never saw a client header (nor a method other than GET, nor a body) in a
# key request. Its /echo/ (a proxied client request) and /jwks_range (Range set by the key
# location itself) are not logged.
python3 - "$work/logs/keyservice-single.log" <<'PYS' >> "$results"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
bad = [l for l in lines if not re.match(r'^GET \S+ \d+ range=- inm=- ae=- cookie=- auth=- cl=(-|0) xff=- accept="application/jwk-set\+json, application/json"$', l)]
print(f"{'':4} {'ok' if lines and not bad else 'UNEXPECTED':10}   key service: {len(lines)} key requests, {len(bad)} with a client header, another method or no Accept")
for l in bad[:5]:
    print(f"{'':4} {'UNEXPECTED':10}     {l}")
PYS
say "stopping NGINX (QUIT); valgrind checks for leaks"
stop_nginx
vg_rc_single=$vg_rc
phase1_time=$((SECONDS - started_at))

# --- phase 2: master and worker under valgrind, two reloads ------------------------------------
# The configuration's own memory (the module's parsed settings and file keys, owned by the cycle
# pool) is only freed when NGINX destroys a cycle: the master does it at every reload. A
# single-process NGINX cannot be reloaded (on HUP it parses the new configuration but stops
# accepting connections, stock NGINX included), hence this phase: valgrind follows the forked
# worker processes (one log per process). Uninitialised-value checks are off in this phase:
# memcheck tracks definedness per process, so the shared zone's bytes written by one worker look
# uninitialised to a worker forked later (it inherits the master's view of the zone, where only
# the empty slots were ever written): false reports on every read of a published key set. The
# single-process phase above checks uninitialised values with every write visible; here invalid
# reads/writes/frees and leaks are checked.
phase2_time=skipped
if [ -z "${VALGRIND_SKIP_RELOAD:-}" ]; then
    phase2_start=$SECONDS
    say "phase 2: master + 1 worker under valgrind, two reloads"
    start_nginx master "$work/logs/valgrind-master.%p.log" --undef-value-errors=no
    workers_started() { grep -c 'start worker process' "$work/logs/error-master.log" || true; }
    workers_exited() { grep -c 'worker process [0-9]* exited with code' "$work/logs/error-master.log" || true; }
    for gen in 0 1 2; do
        if [ "$gen" -gt 0 ]; then
            kill -HUP "$nginx_pid"
            for i in $(seq 600); do
                [ "$(workers_started)" -gt "$gen" ] && [ "$(workers_exited)" -ge "$gen" ] && break
                sleep 0.1
            done
            [ "$(workers_exited)" -ge "$gen" ] || die "reload $gen: the old worker did not exit within 60 s"
            sleep 0.5
        fi
        req "master mode, generation $gen: file keys" 200 /file/hello.txt -H "$(auth "$(mint rsa)")"
        req "master mode, generation $gen: fetched keys" 200 /fetched/hello.txt -H "$(auth "$(mint ec)")"
        req "master mode, generation $gen: claims" 200 /claims/hello.txt -H "$(auth "$(mint rsa --claims '{"aud":"api"}')")"
        req "master mode, generation $gen: require 403" 403 /require/hello.txt -H "$(auth "$(mint rsa --claims '{"identifier":"revoked-peer"}')")"
        req "master mode, generation $gen: bad signature" 401 /file/hello.txt -H "$(auth "$(mint rsa --corrupt)")"
        req "master mode, generation $gen: status" 200 /status
    done
    say "stopping NGINX (QUIT)"
    stop_nginx
    grep -q 'reconfiguring$' "$work/logs/error-master.log" || die "phase 2: NGINX never reloaded"
    phase2_time=$((SECONDS - phase2_start))
fi
elapsed=$((SECONDS - started_at))

# --- the verdict ----------------------------------------------------------------------------
unexpected=$(grep -c UNEXPECTED "$results" || true)
logs=("$work/logs/valgrind.log" "$work/logs/error.log")
for f in "$work"/logs/valgrind-master.*.log "$work/logs/error-master.log"; do
    [ ! -f "$f" ] || logs+=("$f")
done
python3 - "$results" "$elapsed" "$unexpected" "$vg_rc_single" "$phase1_time" "$phase2_time" "${logs[@]}" <<'PYEND'
import os, re, sys
results, elapsed, unexpected, vg_rc, t1, t2 = sys.argv[1:7]
files = sys.argv[7:]
vglogs = [f for f in files if os.path.basename(f).startswith("valgrind")]
errlogs = [f for f in files if os.path.basename(f).startswith("error")]

ERROR = re.compile(r"^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|"
                   r"Mismatched free|Source and destination overlap|Argument .* fishy|Jump to the invalid|"
                   r"Process terminating|.*bytes in .* blocks are (definitely|possibly|indirectly) lost)")
# A frame of the module: its .so (frames without debug info), Rust source (the module is the
# only Rust code in the process), or ring's C/assembly (prefixed ring_core_).
MODULE = re.compile(r"ngx_http_jwt_peer_auth_module\.so|jwt_peer_auth|\.rs:\d+\)|ring_core_")
FRAME = re.compile(r"^\s+(at|by) 0x")


def parse(path):
    # Only valgrind's own lines ("==PID== ..."); the suppression templates printed by
    # --gen-suppressions are not prefixed. Records are separated by empty lines.
    lines = [re.sub(r"^==\d+== ?", "", l) for l in open(path, errors="replace").read().splitlines()
             if re.match(r"^==\d+==", l)]
    blocks, cur = [], []
    for l in lines + [""]:
        if l.strip() == "":
            if cur:
                blocks.append(cur)
            cur = []
        else:
            cur.append(l)
    out = []
    for b in blocks:
        if not ERROR.match(b[0]):
            continue
        frames = [l.strip() for l in b[1:] if FRAME.match(l)]
        m = re.match(r".*bytes in .* blocks are (\w+) lost", b[0])
        out.append({"kind": b[0], "leak": m.group(1) if m else None, "frames": frames,
                    "module": any(MODULE.search(f) for f in frames), "file": os.path.basename(path)})
    summary = {k: next((l.strip() for l in lines if k in l), "-")
               for k in ("ERROR SUMMARY", "definitely lost:", "possibly lost:")}
    summary["complete"] = any("LEAK SUMMARY" in l or "All heap blocks were freed" in l for l in lines)
    return out, summary


allrecs, incomplete = [], []
print("\n== valgrind summary ==")
print(f"run time: {elapsed} s (single process: {t1} s, master mode with reloads: {t2} s)")
print(f"valgrind exit status, single-process run: {vg_rc} (99: errors or definite leaks anywhere, NGINX's included)")
for f in vglogs:
    recs, summ = parse(f)
    allrecs += recs
    if not summ["complete"]:
        incomplete.append(os.path.basename(f))
    print(f"  {os.path.basename(f)}: {summ['ERROR SUMMARY']}; {summ['definitely lost:']}; {summ['possibly lost:']}")


def pick(module, leak):
    return [r for r in allrecs if r["module"] == module and r["leak"] == leak]


mod_err, mod_def, mod_pos = pick(True, None), pick(True, "definitely"), pick(True, "possibly")
ngx_err, ngx_def, ngx_pos = pick(False, None), pick(False, "definitely"), pick(False, "possibly")
alerts = []
for f in errlogs:
    alerts += [l for l in open(f, errors="replace").read().splitlines()
               if re.search(r"\[(alert|crit|emerg)\]|exited on signal", l)]
reqs = open(results).read().splitlines()
n_requests = sum(1 for r in reqs if len(r.split()) > 3 and r.split()[2].isdigit())
print(f"requests sent: {n_requests}, unexpected answers: {unexpected}")
print(f"module (a frame in the .so, Rust code or ring): errors {len(mod_err)}, definitely lost {len(mod_def)}, possibly lost {len(mod_pos)}")
print(f"NGINX/libraries only (not counted):           errors {len(ngx_err)}, definitely lost {len(ngx_def)}, possibly lost {len(ngx_pos)}")
print(f"error logs: [alert]/[crit]/[emerg]/exited on signal: {len(alerts)}")


def show(title, rs):
    if not rs:
        return
    print(f"\n{title}:")
    for r in rs[:10]:
        print(f"  - [{r['file']}] {r['kind']}")
        named = [f for f in r["frames"] if not re.search(r"vg_replace|UnknownInlinedFun|library/(std|alloc|core)/", f)]
        for f in named[:8]:
            print(f"      {f}")
    if len(rs) > 10:
        print(f"  ... and {len(rs) - 10} more (see the logs)")


show("MODULE ERRORS", mod_err)
show("MODULE DEFINITE LEAKS", mod_def)
show("module possible leaks (reported, not counted)", mod_pos)
show("NGINX/library errors (not counted; once understood, suppress them with a reason)", ngx_err)
show("NGINX/library definite leaks (not counted)", ngx_def)
show("NGINX/library possible leaks (not counted)", ngx_pos)
if alerts:
    print("\nerror logs:")
    for l in alerts[:10]:
        print("  " + l)
bad = [r for r in reqs if "UNEXPECTED" in r]
if bad:
    print("\nunexpected answers (n, verdict, expected, got, request):")
    for r in bad:
        print("  " + r)
if incomplete:
    print(f"\nRESULT: no leak summary in {', '.join(incomplete)} (a process did not exit normally)")
    sys.exit(2)
crashes = [r for r in allrecs if r["kind"].startswith("Process terminating")]
show("CRASHES", crashes)
if mod_err or mod_def or alerts or crashes:
    print("\nRESULT: FAIL (module errors or definite leaks, a crash, or alerts in the error log)")
    sys.exit(1)
if bad:
    print("\nRESULT: module clean, but some requests got unexpected answers")
    sys.exit(3)
print("\nRESULT: PASS (no module error, no module definite leak)")
PYEND
