#!/usr/bin/env bash
# The HTML status page in a real browser: starts build/nginx with the module on loopback (a
# master and two workers, a key service in the same NGINX), sends requests, loads the page in
# headless Chromium (Debian's `chromium`, installed by `scripts/deps.sh ci` when missing) and checks
# the DOM the browser built:
#
#   1. ?format=html: one row per key source with its state (fresh, failing, none) and key ids,
#      a kid with markup shown as text (no element made from it), the warning at the top
#      naming the failing and the unreachable source, the request counters and the token cache.
#   2. more requests, then /status without ?format= (the browser's own Accept picks the page):
#      the counters moved by exactly what was sent.
#   3. a screenshot, build/status-page.png (1200x900), kept as a CI artifact.
#
#   ./scripts/test-status-browser.sh          # uses build/ as it is (run scripts/build.sh first)
#
# Settings (environment): STATUS_BROWSER_PORT (default 18670; +1 the key service, +2 a closed
# port). Files: build/status-browser/ (configuration, logs, the two DOM dumps). Every Chromium
# run is bounded (timeout 60 s); NGINX is stopped on exit. Exit status: 0 pass, 1 a check
# failed, 2 setup problem. Takes about 10 s (most of it Chromium starting three times).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
port=${STATUS_BROWSER_PORT:-18670}
jwks_port=$((port + 1))
closed_port=$((port + 2))
work=$root/build/status-browser
shot=$root/build/status-page.png
started_at=$SECONDS

die() { echo "test-status-browser.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }

command -v chromium >/dev/null || ./scripts/deps.sh ci
command -v chromium >/dev/null || die "chromium is missing (Debian: apt-get install chromium)"
for c in curl python3 timeout; do command -v "$c" >/dev/null || die "$c is missing"; done
for f in build/nginx build/ngx_http_jwt_peer_auth_module.so build/jwt-mint; do
    [ -x "$f" ] || die "$f is missing (run scripts/build.sh)"
done
for p in "$port" "$jwks_port" "$closed_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set STATUS_BROWSER_PORT)"; fi
done

nginx_pid=
stop_nginx() {
    local i
    [ -n "$nginx_pid" ] || return 0
    kill -QUIT "$nginx_pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nginx_pid" 2>/dev/null; then
        local workers
        workers=$(ps -o pid= --ppid "$nginx_pid" 2>/dev/null || true)
        kill -KILL "$nginx_pid" $workers 2>/dev/null || true
    fi
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=
}
trap stop_nginx EXIT
trap 'exit 130' INT TERM

# --- files: a snapshot of the binaries (a concurrent rebuild cannot change them mid-run) -----
rm -rf "$work"
mkdir -p "$work/bin" "$work/conf" "$work/logs" "$work/www" "$work/jwks" "$work/chromium"
for f in nginx ngx_http_jwt_peer_auth_module.so jwt-mint; do cp "build/$f" "$work/bin/$f"; done
mint() { "$work/bin/jwt-mint" sign "$work/keys" "$@"; }
"$work/bin/jwt-mint" keygen "$work/keys" >/dev/null
echo "hello, peer" > "$work/www/hello.txt"
# The key service's files: every test key, and the same plus a kid with markup in it.
python3 - "$work/keys" "$work/jwks" <<'PY'
import json, sys
keys, out = sys.argv[1], sys.argv[2]
good = json.load(open(f"{keys}/jwks.json"))
marked = dict(good["keys"][0], kid="<b>kid</b>&'<i>")
json.dump({"keys": good["keys"] + [marked]}, open(f"{out}/main.json", "w"))
json.dump(good, open(f"{out}/flaky.json", "w"))
PY

cat > "$work/conf/nginx.conf" <<CONF
# Written by scripts/test-status-browser.sh.
load_module $work/bin/ngx_http_jwt_peer_auth_module.so;
master_process on;
daemon off;
worker_processes 2;
error_log $work/logs/error.log info;
pid $work/logs/nginx.pid;
events { worker_connections 256; }
http {
    default_type text/plain;
    access_log $work/logs/access.log;
    jwt_peer_auth_zone status_browser:256k;
    jwt_peer_auth_revocation zone=status_browser_rev:64k;
    server {
        listen 127.0.0.1:$port;
        # A fresh key source: three test keys and one with markup in its kid.
        location /api/ {
            jwt_peer_auth "browser";
            jwt_peer_auth_key_request /_jwks;
            jwt_peer_auth_revocation_check identifier;
            alias $work/www/;
        }
        location = /revocations {
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth off;
            jwt_peer_auth_revocation_api;
        }
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$jwks_port/main; }
        # Keys fresh for 1 s; the key service loses the file after the first fetch: failing.
        location /flaky/ {
            jwt_peer_auth "browser";
            jwt_peer_auth_key_request /_jwks_flaky;
            jwt_peer_auth_key_cache 1s stale=1h;
            alias $work/www/;
        }
        location = /_jwks_flaky { internal; proxy_pass http://127.0.0.1:$jwks_port/flaky; }
        # A key service nobody listens for: no keys.
        location /down/ {
            jwt_peer_auth "browser";
            jwt_peer_auth_key_request /_jwks_down;
            alias $work/www/;
        }
        location = /_jwks_down { internal; proxy_pass http://127.0.0.1:$closed_port/jwks; }
        location = /status {
            allow 127.0.0.1;
            deny all;
            jwt_peer_auth off;
            jwt_peer_auth_status;
        }
    }
    server {
        listen 127.0.0.1:$jwks_port;
        access_log off;
        default_type application/json;
        location = /main { alias $work/jwks/main.json; }
        location = /flaky { alias $work/jwks/flaky.json; }
    }
}
CONF

"$work/bin/nginx" -p "$work/" -c conf/nginx.conf -t -q || die "nginx -t failed"
"$work/bin/nginx" -p "$work/" -c conf/nginx.conf 2>>"$work/logs/stderr.log" &
nginx_pid=$!
for i in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/status" && break
    kill -0 "$nginx_pid" 2>/dev/null || die "NGINX exited; see $work/logs/"
    sleep 0.1
done
say "NGINX (pid $nginx_pid) on 127.0.0.1:$port"

failures=0
get() { # EXPECTED_STATUS PATH [curl args...]
    local want=$1 path=$2 got
    shift 2
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "http://127.0.0.1:$port$path")
    if [ "$got" != "$want" ]; then
        echo "UNEXPECTED: GET $path: $got, expected $want" >&2
        failures=$((failures + 1))
    fi
}
bearer() { echo "Authorization: Bearer $1"; }
wait_json() { # PYTHON_EXPRESSION_ON_s (the status JSON) DESCRIPTION
    local i
    for i in $(seq 100); do
        curl -s --max-time 5 "http://127.0.0.1:$port/status?format=json" > "$work/status.json" || true
        python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" \
            "$work/status.json" 2>/dev/null && return 0
        sleep 0.1
    done
    die "the status never showed $2: $(cat "$work/status.json")"
}
chrome() { # ARGS... (bounded; its own profile under build/)
    timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-extensions --disable-dev-shm-usage --user-data-dir="$work/chromium" "$@" \
        2>>"$work/logs/chromium.log"
}

rsa=$(mint rsa)
ec=$(mint ec)
ed=$(mint ed)
expired=$(mint rsa --exp -5)

say "phase 1: requests, then the page with ?format=html"
get 200 /api/hello.txt -H "$(bearer "$rsa")"
get 200 /api/hello.txt -H "$(bearer "$ec")"
get 200 /api/hello.txt -H "$(bearer "$ed")"
get 200 /api/hello.txt -H "$(bearer "$rsa")"
get 401 /api/hello.txt -H "$(bearer "$expired")"
get 401 /api/hello.txt
get 500 /down/hello.txt -H "$(bearer "$rsa")"
get 200 /flaky/hello.txt -H "$(bearer "$ec")"
rm "$work/jwks/flaky.json"
sleep 2.1
get 200 /flaky/hello.txt -H "$(bearer "$ec")"   # stale keys serve; their refresh fails (404)
wait_json '[k for k in s["key_sources"] if k["uri"] == "/_jwks_flaky" and k["fetches"]["failed"] >= 1]' \
    "a failed refresh of /_jwks_flaky"
# A revocation entry whose value is markup: the page must show it as text.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d '{"name":"identifier","value":"<img src=x onerror=alert(1)>"}' "http://127.0.0.1:$port/revocations")
[ "$code" = 201 ] || die "revocation POST answered $code"
# Also the headers a browser gets (curl, not Chromium: --dump-dom shows no headers).
curl -s -D "$work/headers.txt" -o /dev/null --max-time 10 "http://127.0.0.1:$port/status?format=html"

t0=$SECONDS
chrome --dump-dom "http://127.0.0.1:$port/status?format=html" > "$work/dom-1.html" || die "chromium --dump-dom failed (see $work/logs/chromium.log)"
dump1_time=$((SECONDS - t0))

say "phase 2: more requests, then /status as the browser asks for it (its Accept picks HTML)"
get 200 /api/hello.txt -H "$(bearer "$rsa")"
get 200 /api/hello.txt -H "$(bearer "$rsa")"
get 200 /api/hello.txt -H "$(bearer "$ec")"
get 401 /api/hello.txt -H "$(bearer "$expired")"
get 401 /api/hello.txt -H "$(bearer "$(mint rsa --corrupt)")"
t0=$SECONDS
chrome --dump-dom "http://127.0.0.1:$port/status" > "$work/dom-2.html" || die "chromium --dump-dom failed (see $work/logs/chromium.log)"
dump2_time=$((SECONDS - t0))

say "screenshot: $shot"
rm -f "$shot"
t0=$SECONDS
chrome --hide-scrollbars --screenshot="$shot" --window-size=1200,900 "http://127.0.0.1:$port/status?format=html" \
    >/dev/null || die "chromium --screenshot failed (see $work/logs/chromium.log)"
shot_time=$((SECONDS - t0))

stop_nginx

python3 - "$work/dom-1.html" "$work/dom-2.html" "$work/headers.txt" "$shot" <<'PY' || failures=$((failures + 1))
import re, struct, sys
from html.parser import HTMLParser

class Page(HTMLParser):
    """What the browser built: key-source rows, counters, the summary, every element name."""
    def __init__(self):
        super().__init__()
        self.tags, self.sources, self.ids, self.counts = set(), [], {}, {}
        self.stack, self.row, self.summary, self.in_summary = [], None, {"class": "", "text": ""}, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.stack.append((tag, a))
        if tag == "tr" and a.get("class") == "source":
            self.row = {"state": a.get("data-state"), "cells": [], "kids": [], "uri": ""}
            self.sources.append(self.row)
        if tag == "td" and self.row is not None:
            self.row["cells"].append("")
        if tag == "section" and a.get("id") == "summary":
            self.summary["class"] = a.get("class", "")
            self.in_summary = len(self.stack)
        if "id" in a:
            self.ids[a["id"]] = ""
    def handle_endtag(self, tag):
        while self.stack:
            t, a = self.stack.pop()
            if t == "tr" and a.get("class") == "source":
                self.row = None
            if self.in_summary and len(self.stack) < self.in_summary:
                self.in_summary = 0
            if t == tag:
                break
    def handle_data(self, data):
        if self.in_summary:
            self.summary["text"] += data
        if self.stack and "id" in self.stack[-1][1]:
            self.ids[self.stack[-1][1]["id"]] += data
        # A request counter: the "count" cell of a row with an id.
        if self.stack and "count" in self.stack[-1][1].get("class", "").split():
            row = next((a["id"] for t, a in reversed(self.stack) if t == "tr" and "id" in a), None)
            if row:
                self.counts[row] = int(data)
        if self.row is not None and self.row["cells"]:
            self.row["cells"][-1] += data
            cls = [a.get("class", "") for t, a in self.stack]
            if "kid" in cls:
                if self.stack[-1][1].get("class") == "kid":
                    self.row["kids"].append(data)
            if "uri" in cls:
                self.row["uri"] += data

def load(path):
    p = Page()
    p.feed(open(path, encoding="utf-8").read())
    return p

def count(p, word):
    return p.counts.get(f"req-{word}")

def lookups(p):
    return int(p.ids.get("cache-hits") or 0) + int(p.ids.get("cache-misses") or 0)

one, two = load(sys.argv[1]), load(sys.argv[2])
headers, shot = open(sys.argv[3]).read(), sys.argv[4]
checks = []
def check(name, ok, detail=""):
    checks.append(ok)
    print(f"{'ok' if ok else 'UNEXPECTED':10} {name}" + ("" if ok else f"   [{detail}]"))

src = {s["uri"]: s for s in one.sources}
check("page 1: three key-source rows", sorted(src) == ["/_jwks", "/_jwks_down", "/_jwks_flaky"], sorted(src))
main = src.get("/_jwks", {"state": None, "kids": [], "cells": []})
check("/_jwks: fresh, generation and age shown", main["state"] == "fresh" and main["cells"][1].strip() == "fresh", main)
check("/_jwks: kids rsa, ec, ed and the marked one as text",
      main["kids"] == ["rsa", "ec", "ed", "<b>kid</b>&'<i>"], main["kids"])
check("no element made from key-service text (no b, i, script, img)",
      not ({"b", "i", "script", "img"} & one.tags), sorted(one.tags))
flaky = src.get("/_jwks_flaky", {"state": None, "cells": [""] * 5})
check("revocation list: one entry, its markup value shown as text",
      one.ids.get("revocation-count", "").strip() == "1 entry."
      and "&lt;img src=x onerror=alert(1)&gt;" in open(sys.argv[1], encoding="utf-8").read(),
      one.ids.get("revocation-count"))
check("/_jwks_flaky: failing, last fetch status 404", flaky["state"] == "failing" and "status 404" in flaky["cells"][4], flaky)
down = src.get("/_jwks_down", {"state": None, "cells": [""] * 5})
check("/_jwks_down: none, no response from the key service", down["state"] == "none"
      and "no response from the key service" in down["cells"][4], down)
s = one.summary
check("summary: red, names both problems in words", "bad" in s["class"]
      and re.search(r"/_jwks_down: no keys: last fetch failed: no response from the key service", s["text"]) is not None
      and re.search(r"/_jwks_flaky: keys stale for \d+s; last fetch: status 404", s["text"]) is not None, s)
want1 = {"ok": 6, "expired": 1, "missing": 1, "no_keys": 1, "signature": 0}
got1 = {w: count(one, w) for w in want1}
check(f"page 1 counters {want1}", got1 == want1, got1)
# Each worker has its own token cache: which requests hit depends on the worker that answered.
check("page 1 token cache: lookups counted, hit rate shown",
      lookups(one) >= 6 and re.fullmatch(r"\d+\.\d %", one.ids.get("cache-hit-rate", "")) is not None,
      {k: one.ids.get(k) for k in ("cache-hits", "cache-misses", "cache-hit-rate")})
want2 = {"ok": 9, "expired": 2, "missing": 1, "no_keys": 1, "signature": 1}
got2 = {w: count(two, w) for w in want2}
check(f"page 2 (by Accept) counters moved: {want2}", got2 == want2, got2)
check("page 2 token cache: at least 3 more lookups", lookups(two) >= lookups(one) + 3,
      {k: (one.ids.get(k), two.ids.get(k)) for k in ("cache-hits", "cache-misses")})
check("page 2 total", two.ids.get("req-total") == "14", two.ids.get("req-total"))
check("headers: text/html, CSP, nosniff, no-store",
      all(re.search(h, headers, re.I | re.M) for h in (
          r"^Content-Type: text/html; charset=utf-8\r?$",
          r"^Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'",
          r"^X-Content-Type-Options: nosniff\r?$", r"^Cache-Control: no-store\r?$")), headers)
try:
    head = open(shot, "rb").read(24)
    w, h = struct.unpack(">II", head[16:24])
    ok = head[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (1200, 900)
except (OSError, struct.error) as e:
    ok, w, h = False, 0, str(e)
check(f"screenshot {shot}: PNG 1200x900", ok, (w, h))
sys.exit(0 if all(checks) else 1)
PY

elapsed=$((SECONDS - started_at))
echo "time: ${elapsed} s in all (chromium: dump 1 ${dump1_time} s, dump 2 ${dump2_time} s, screenshot ${shot_time} s)"
if [ "$failures" -ne 0 ]; then
    echo "RESULT: FAIL ($failures unexpected; files in $work/)"
    exit 1
fi
echo "RESULT: PASS (screenshot: $shot)"
