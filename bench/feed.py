#!/usr/bin/env python3
"""Revocation for a fleet (issue 27): three NGINX nodes on loopback following one feed.

    bench/feed.py [--interval 1] [--entries 100000] [--steady 20]

A publisher (a fourth NGINX serving the feed as a static file, counting its answers by status
in its access log) and three nodes (2 workers each, jwt_peer_auth_revocation_feed with
interval=--interval), each polled by a client thread with a token that is not listed. Measures:
  propagation  an entry published once: when each node first refuses it (from the
               publication), against interval + 1 s
  steady       the publisher's 200s and 304s over --steady seconds of traffic
  large        a feed of --entries entries published: when each node refuses its last entry
               (within 10 s?), the worst request latency on each node during the apply (100 ms?),
               the apply time each node logged
  bytes        zone bytes per entry: a feed of 3 x --entries entries into a 16 MiB zone, the
               entries that fit (from the node's "zone is full" line)
Standard library and tools/ngxfix only. Loopback only. The numbers depend on the machine's
load (2 cores shared with the client threads and the publisher).
"""
import argparse
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from ngxfix import Run, main, request, bearer, say  # noqa: E402

PUBLISHER = """load_module {{module}};
daemon off;
worker_processes 1;
error_log {{error_log}} notice;
pid {{pidfile}};
events { worker_connections 512; }
http {
    log_format st '$status';
    access_log {{work}}/logs/publisher-access.log st;
    server {
        listen 127.0.0.1:{{port}};
        root {{work}}/www/feed;
    }
}
"""

NODE = """load_module {{module}};
daemon off;
worker_processes 2;
error_log {{error_log}} notice;
pid {{pidfile}};
events { worker_connections 512; }
http {
    access_log off;
    jwt_peer_auth_revocation zone=rev_{{name}}:{{zone}} state={{work}}/state/{{name}}.json;
    server {
        listen 127.0.0.1:{{port}};
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file {{keys}}/jwks.json;
        jwt_peer_auth_revocation_check sub;
        jwt_peer_auth_revocation_feed /_feed interval={{interval}}s max_stale=1h;
        location /p { alias {{www}}/; }
        location = /_feed { internal; jwt_peer_auth off; proxy_pass http://127.0.0.1:{{publisher}}/feed.json; }
    }
}
"""


def publish(run, entries, exp):
    path = f"{run.work}/www/feed/feed.json"
    with open(path + ".tmp", "w") as f:
        f.write('{"entries":[')
        f.write(",".join(f'{{"name":"sub","value":"{v}","expires":{exp}}}' for v in entries))
        f.write("]}\n")
    os.chmod(path + ".tmp", 0o644)
    publish.mtime = getattr(publish, "mtime", int(time.time()) - 10000) + 10
    os.utime(path + ".tmp", (publish.mtime, publish.mtime))
    os.replace(path + ".tmp", path)
    return time.time()


def statuses(run):
    try:
        with open(f"{run.work}/logs/publisher-access.log") as f:
            s = f.read().split()
    except FileNotFoundError:
        return {}
    return {k: s.count(k) for k in set(s)}


class Poller(threading.Thread):
    """Requests /p/hello.txt on one node with one token, one after the other, recording
    (sent, latency, status)."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.port, self.header, self.log, self.stop = port, bearer(token), [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            try:
                s = request(self.port, "/p/hello.txt", headers=self.header, timeout=10).status
            except OSError:
                s = 0
            self.log.append((t, time.time() - t, s))
            time.sleep(0.005)


def first_refusal(port, token, since, limit):
    """Polls until the node refuses token; the time from since, or None."""
    end = time.time() + limit
    while time.time() < end:
        if request(port, "/p/hello.txt", headers=bearer(token), timeout=10).status == 401:
            return time.time() - since
        time.sleep(0.02)
    return None


def applied_ms(node):
    with open(node.error_log) as f:
        return [int(m) for m in re.findall(r"applied in (\d+) ms", f.read())]


def bench():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval", type=int, default=1)
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--steady", type=int, default=20)
    a = ap.parse_args()
    out = {}
    with Run("feed-bench") as run:
        os.makedirs(f"{run.work}/www/feed", exist_ok=True)
        os.makedirs(f"{run.work}/state", exist_ok=True)
        os.chmod(f"{run.work}/state", 0o777)
        exp = int(time.time()) + 7200
        publish(run, [f"peer-{i}" for i in range(10)], exp)
        run.chmod_readable()
        pport = run.port("FEED_PUBLISHER_PORT", 21510)
        pub = run.nginx(PUBLISHER, name="publisher", port=pport)
        pub.start(ready=lambda: request(pport, "/feed.json").status == 200)
        nodes = []
        for i in range(3):
            port = run.port(None, 21511 + i)
            n = run.nginx(NODE, name=f"node{i}", port=port, publisher=pport, zone="64m",
                          interval=a.interval)
            n.start(ready=lambda port=port: request(port, "/p/hello.txt").status == 401)
            n.port = port
            nodes.append(n)
        listed = run.keys.sign("rsa", "--claims", json.dumps({"sub": "peer-3"}))
        free = run.keys.sign("rsa", "--claims", json.dumps({"sub": "not-listed"}))
        for n in nodes:
            if first_refusal(n.port, listed, time.time(), 10) is None:
                raise SystemExit(f"{n.name} never applied the first feed")
        pollers = [Poller(n.port, free) for n in nodes]
        for p in pollers:
            p.start()
        # Propagation of one entry.
        time.sleep(a.interval + 0.3)
        new = run.keys.sign("rsa", "--claims", json.dumps({"sub": "peer-new"}))
        t0 = publish(run, [f"peer-{i}" for i in range(10)] + ["peer-new"], exp)
        out["propagation_s"] = [round(first_refusal(n.port, new, t0, 30) or -1, 3) for n in nodes]
        # Steady state: the publisher's answers.
        before = statuses(run)
        time.sleep(a.steady)
        after = statuses(run)
        out["steady"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        # A large feed.
        for p in pollers:
            p.log.clear()
        last = run.keys.sign("rsa", "--claims", json.dumps({"sub": f"peer-{a.entries - 1}"}))
        t0 = publish(run, [f"peer-{i}" for i in range(a.entries)], exp)
        out["large_enforced_s"] = [round(first_refusal(n.port, last, t0, 60) or -1, 2) for n in nodes]
        time.sleep(1)
        out["large_worst_latency_ms"] = [
            round(max((lat for t, lat, s in p.log if t >= t0), default=0) * 1000, 1) for p in pollers
        ]
        out["large_requests_not_200"] = [sum(1 for t, _, s in p.log if t >= t0 and s != 200) for p in pollers]
        out["large_requests"] = [sum(1 for t, _, _ in p.log if t >= t0) for p in pollers]
        out["apply_ms"] = [applied_ms(n)[-1] for n in nodes]
        for p in pollers:
            p.stop.set()
        # Zone bytes per entry.
        for n in nodes[1:]:
            n.stop()
        small = nodes[0]
        small.stop()
        small.write(zone="16m", name="node0")
        os.unlink(f"{run.work}/state/node0.json.feed") if os.path.exists(f"{run.work}/state/node0.json.feed") else None
        big = 3 * a.entries
        publish(run, [f"peer-{i}" for i in range(big)], exp)
        small.start(ready=lambda: request(small.port, "/p/hello.txt").status in (200, 401))
        request(small.port, "/p/hello.txt", headers=bearer(free))
        deadline = time.time() + 120
        full = None
        while time.time() < deadline and full is None:
            with open(small.error_log) as f:
                m = re.search(r"is full: (\d+) changes of the feed were not applied", f.read())
            full = int(m.group(1)) if m else None
            time.sleep(0.2)
        if full is not None:
            fit = big - full
            out["zone_16m_entries"] = fit
            out["zone_bytes_per_entry"] = round(16 * 1024 * 1024 / fit)
        out["steady_interval_s"] = a.interval
        out["entries"] = a.entries
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    main("feed.py", bench)
