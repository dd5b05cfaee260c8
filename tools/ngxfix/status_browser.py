"""The HTML status page in a real browser: scripts/test-status-browser.sh runs this.

Starts NGINX with the module on loopback (a master and two workers, a key service in the same
NGINX: tools/ngxfix), sends requests, loads the page in headless Chromium (Debian's
`chromium`, installed by `scripts/deps.sh ci` when missing) and checks the DOM it built:

  1. ?format=html: one row per key source with its state (fresh, failing, none) and key ids,
     a kid with markup shown as text (no element made from it), the warning at the top naming
     the failing and the unreachable source, the request counters and the token cache.
  2. more requests, then /status without ?format= (the browser's own Accept picks the page):
     the counters moved by exactly what was sent.
  3. a screenshot, build/status-page.png (1200x900), kept as a CI artifact.

Settings: STATUS_BROWSER_PORT (default 18670; the key service and a closed port are free ports
found at run time). Files: build/status-browser/. Every Chromium run is bounded (60 s); NGINX is
stopped on exit. Exit status: 0 pass, 1 a check failed, 2 setup problem. About 10 s.
"""
import json
import os
import re
import struct
import subprocess
import sys
import time
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import ROOT, Fail, Run, bearer, main, need, say  # noqa: E402

CONF = r"""
load_module {{module}};
master_process on;
daemon off;
worker_processes 2;
error_log {{error_log}} info;
pid {{pidfile}};
events { worker_connections 256; }
http {
    default_type text/plain;
    access_log {{work}}/logs/access.log;
    jwt_peer_auth_zone status_browser:256k;
    jwt_peer_auth_revocation zone=status_browser_rev:64k;
    server {
        listen 127.0.0.1:{{port}};
        # A fresh key source: three test keys and one with markup in its kid.
        location /api/ {
            jwt_peer_auth "browser";
            jwt_peer_auth_key_request /_jwks;
            jwt_peer_auth_revocation_check identifier;
            alias {{www}}/;
        }
        location = /revocations { allow 127.0.0.1; deny all; jwt_peer_auth off; jwt_peer_auth_revocation_api; }
        location = /_jwks { internal; proxy_pass http://127.0.0.1:{{ks_port}}/main; }
        # Keys fresh for 1 s; the key service then loses the file (404): failing.
        location /flaky/ {
            jwt_peer_auth "browser";
            jwt_peer_auth_key_request /_jwks_flaky;
            jwt_peer_auth_key_cache 1s stale=1h;
            alias {{www}}/;
        }
        location = /_jwks_flaky { internal; proxy_pass http://127.0.0.1:{{ks_port}}/jwks; }
        # A key service nobody listens for: no keys.
        location /down/ { jwt_peer_auth "browser"; jwt_peer_auth_key_request /_jwks_down; alias {{www}}/; }
        location = /_jwks_down { internal; proxy_pass http://127.0.0.1:{{closed_port}}/jwks; }
        location = /status { allow 127.0.0.1; deny all; jwt_peer_auth off; jwt_peer_auth_status; }
    }
{{key_service}}
}
"""



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


def check_pages(dom1, dom2, headers, shot):
    one, two = load(dom1), load(dom2)
    headers = open(headers).read()
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
          and "&lt;img src=x onerror=alert(1)&gt;" in open(dom1, encoding="utf-8").read(),
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
    return all(checks)


def run():
    need("chromium", "timeout", install=True)
    with Run("status-browser") as r:
        ks = r.key_service()
        marked = dict(r.keys.jwks()["keys"][0], kid="<b>kid</b>&'<i>")
        with open(f"{ks.dir}/main.json", "w") as f:
            json.dump({"keys": r.keys.jwks()["keys"] + [marked]}, f)
        ports = {"port": r.port("STATUS_BROWSER_PORT", 18670), "ks_port": r.port(), "closed_port": r.port()}
        ngx = r.nginx(CONF, key_service=ks.server_block(
            ports["ks_port"], f"        location = /main {{ alias {ks.dir}/main.json; }}"), **ports)
        r.chmod_readable()
        ngx.start(ready=lambda: ngx.get("/status", timeout=5).status == 200)
        say(f"NGINX (pid {ngx.pid}) on 127.0.0.1:{ports['port']}")
        failures = []

        def get(want, path, token=None):
            got = ngx.get(path, headers=bearer(token) if token else {}, timeout=10).status
            if got != want:
                failures.append(f"GET {path}: {got}, expected {want}")
                print(f"UNEXPECTED: GET {path}: {got}, expected {want}", file=sys.stderr)

        def chrome(*args, out=None):
            t0 = time.time()
            with open(f"{r.work}/logs/chromium.log", "ab") as log:
                p = subprocess.run(["timeout", "-k", "5", "60", "chromium", "--headless", "--no-sandbox",
                                    "--disable-gpu", "--no-first-run", "--disable-extensions",
                                    "--disable-dev-shm-usage", f"--user-data-dir={r.work}/chromium", *args],
                                   stdout=open(out, "wb") if out else subprocess.DEVNULL, stderr=log)
            if p.returncode != 0:
                raise Fail(f"chromium {args[0]} failed (see {r.work}/logs/chromium.log)")
            return time.time() - t0

        k = r.keys
        rsa, ec, ed, expired = k.sign("rsa"), k.sign("ec"), k.sign("ed"), k.sign("rsa", "--exp", "-5")
        say("phase 1: requests, then the page with ?format=html")
        for t in (rsa, ec, ed, rsa):
            get(200, "/api/hello.txt", t)
        get(401, "/api/hello.txt", expired)
        get(401, "/api/hello.txt")
        get(500, "/down/hello.txt", rsa)
        get(200, "/flaky/hello.txt", ec)
        ks.set_state("missing")
        time.sleep(2.1)
        get(200, "/flaky/hello.txt", ec)   # stale keys serve; their refresh fails (404)
        for _ in range(100):
            s = ngx.get("/status?format=json", timeout=5).json()
            if [x for x in s["key_sources"] if x["uri"] == "/_jwks_flaky" and x["fetches"]["failed"] >= 1]:
                break
            time.sleep(0.1)
        else:
            raise Fail(f"the status never showed a failed refresh of /_jwks_flaky: {s}")
        # A revocation entry whose value is markup: the page must show it as text.
        code = ngx.get("/revocations", method="POST", headers={"Content-Type": "application/json"},
                       body='{"name":"identifier","value":"<img src=x onerror=alert(1)>"}').status
        if code != 201:
            raise Fail(f"revocation POST answered {code}")
        # The headers a browser gets (--dump-dom shows none).
        h = ngx.get("/status?format=html", timeout=10)
        with open(f"{r.work}/headers.txt", "w") as f:
            f.write("".join(f"{n}: {v}\r\n" for n, v in (
                (n.title(), v) for n, v in h.headers.items())))
        base = f"http://127.0.0.1:{ports['port']}"
        t1 = chrome("--dump-dom", f"{base}/status?format=html", out=f"{r.work}/dom-1.html")
        say("phase 2: more requests, then /status as the browser asks for it (its Accept picks HTML)")
        for t in (rsa, rsa, ec):
            get(200, "/api/hello.txt", t)
        get(401, "/api/hello.txt", expired)
        get(401, "/api/hello.txt", k.sign("rsa", "--corrupt"))
        t2 = chrome("--dump-dom", f"{base}/status", out=f"{r.work}/dom-2.html")
        shot = f"{ROOT}/build/status-page.png"
        say(f"screenshot: {shot}")
        if os.path.exists(shot):
            os.unlink(shot)
        t3 = chrome("--hide-scrollbars", f"--screenshot={shot}", "--window-size=1200,900", f"{base}/status?format=html")
        ngx.stop()
        ok = check_pages(f"{r.work}/dom-1.html", f"{r.work}/dom-2.html", f"{r.work}/headers.txt", shot)
        print(f"time: chromium: dump 1 {t1:.0f} s, dump 2 {t2:.0f} s, screenshot {t3:.0f} s")
        if failures or not ok:
            print(f"RESULT: FAIL ({len(failures) + (not ok)} unexpected; files in {r.work}/)")
            return 1
        print(f"RESULT: PASS (screenshot: {shot})")
        return 0


if __name__ == "__main__":
    main("test-status-browser.sh", run)
