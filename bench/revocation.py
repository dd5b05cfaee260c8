#!/usr/bin/env python3
"""Revocation control plane at scale (issue 21, point 2): the same script for any build.

    bench/revocation.py [--entries 100000] [--nginx build/nginx]
                        [--module build/ngx_http_jwt_peer_auth_module.so] [--mint build/jwt-mint]
                        [--port 2320] [--posts 40]

Writes a state file of N entries in the version 1 format (which every build reads), then:
  start      time from starting a daemonized NGINX (2 workers) until it answers
  reload     time from HUP until both new workers run
  POST       latency of --posts sequential POSTs (each a new entry) on the full list
  held       the worst latency of token requests (a listed name checked, not revoked) made
             from another thread while the POSTs run, next to the same measure without POSTs:
             a change that held the lock that token checks take shows here
  GET        latency of the full listing
  bytes      zone bytes per entry: POSTs into a 1 MiB zone (no state file) until 507
Standard library only. Loopback only. Numbers depend on the machine's load: run both builds
one after the other, on the same machine.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def request(port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t = time.perf_counter()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data, time.perf_counter() - t


def post(port, value, ttl="2h"):
    body = json.dumps({"name": "identifier", "value": value, "ttl": ttl})
    return request(port, "POST", "/revocations", body, {"Content-Type": "application/json"})


def conf(d, a, port, zone, state):
    st = f" state={d}/state/revocations" if state else ""
    return f"""load_module {a.module};
worker_processes 2;
error_log logs/error.log notice;
pid logs/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    jwt_peer_auth_revocation zone=rev:{zone}{st};
    server {{
        listen 127.0.0.1:{port};
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file {d}/keys/jwks.json;
        jwt_peer_auth_revocation_check identifier;
        location /p {{ alias {d}/html/; }}
        location = /revocations {{ jwt_peer_auth off; jwt_peer_auth_revocation_api; }}
    }}
}}
"""


class Nginx:
    def __init__(self, a, d, port, zone, state=True):
        self.a, self.d, self.port = a, d, port
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf(d, a, port, zone, state))

    def pid(self):
        with open(f"{self.d}/logs/nginx.pid") as f:
            return int(f.read())

    def workers_started(self):
        try:
            with open(f"{self.d}/logs/error.log") as f:
                return f.read().count("start worker process")
        except FileNotFoundError:
            return 0

    def start(self):
        t = time.perf_counter()
        subprocess.run([self.a.nginx, "-p", self.d, "-c", f"{self.d}/nginx.conf"], check=True)
        self.wait(lambda: self.answers())
        return time.perf_counter() - t

    def answers(self):
        try:
            return request(self.port, "GET", "/p/x", timeout=2)[0] in (401, 404, 200)
        except OSError:
            return False

    def reload(self):
        before = self.workers_started()
        t = time.perf_counter()
        os.kill(self.pid(), signal.SIGHUP)
        self.wait(lambda: self.workers_started() >= before + 2)
        return time.perf_counter() - t

    def stop(self):
        try:
            p = self.pid()
        except (FileNotFoundError, ValueError):
            return
        os.kill(p, signal.SIGQUIT)
        self.wait(lambda: not alive(p))
        os.unlink(f"{self.d}/logs/nginx.pid") if os.path.exists(f"{self.d}/logs/nginx.pid") else None

    @staticmethod
    def wait(cond, limit=600):
        end = time.time() + limit
        while time.time() < end:
            if cond():
                return
            time.sleep(0.005)
        raise SystemExit("timed out")


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def ms(s):
    return f"{s * 1000:.2f} ms"


def token_loop(port, header, stop, out):
    while not stop.is_set():
        try:
            s, _, t = request(port, "GET", "/p/index.html", headers=header, timeout=10)
            out.append((s, t))
        except OSError:
            out.append((0, 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100000)
    ap.add_argument("--nginx", default=f"{ROOT}/build/nginx")
    ap.add_argument("--module", default=f"{ROOT}/build/ngx_http_jwt_peer_auth_module.so")
    ap.add_argument("--mint", default=f"{ROOT}/build/jwt-mint")
    ap.add_argument("--port", type=int, default=int(os.environ.get("TEST_NGINX_PORT", 2320)))
    ap.add_argument("--posts", type=int, default=40)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="jwt-rev-bench-")
    os.chmod(d, 0o755)
    for sub in ("logs", "html", "state", "keys"):
        os.mkdir(f"{d}/{sub}")
    os.chmod(f"{d}/state", 0o777)
    with open(f"{d}/html/index.html", "w") as f:
        f.write("ok\n")
    subprocess.run([a.mint, "keygen", f"{d}/keys"], check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run([a.mint, "sign", f"{d}/keys", "rsa", "--claims", '{"identifier":"not-listed"}'],
                           check=True, capture_output=True, text=True).stdout.strip()
    header = {"Authorization": f"Bearer {token}"}
    exp = int(time.time()) + 7200
    with open(f"{d}/state/revocations", "w") as f:
        f.write('{"jwt_peer_auth_revocation":1,"entries":[')
        f.write(",".join(f'\n{{"name":"identifier","value":"peer-{i:06d}","expires":{exp}}}'
                         for i in range(a.entries)))
        f.write("\n]}\n")
    os.chmod(f"{d}/state/revocations", 0o666)
    zone = f"{max(8, a.entries * 600 // (1 << 20) + 4)}m"
    n = Nginx(a, d, a.port, zone)
    out = {"entries": a.entries, "zone": zone}
    try:
        out["start"] = n.start()
        out["reload"] = n.reload()
        time.sleep(0.5)
        # Token requests alone, then while POSTs run.
        for phase in ("idle", "posts"):
            stop, lat = threading.Event(), []
            th = threading.Thread(target=token_loop, args=(a.port, header, stop, lat))
            th.start()
            posts = []
            try:
                if phase == "idle":
                    time.sleep(2)
                else:
                    for i in range(a.posts):
                        s, body, t = post(a.port, f"bench-{i}")
                        if s != 201:
                            raise SystemExit(f"POST answered {s}: {body}")
                        posts.append(t)
            finally:
                stop.set()
                th.join()
            bad = [s for s, _ in lat if s != 200]
            if bad:
                raise SystemExit(f"token requests answered {set(bad)}")
            out[f"token_{phase}_max"] = max(t for _, t in lat)
            out[f"token_{phase}_p50"] = statistics.median(t for _, t in lat)
            out[f"token_{phase}_n"] = len(lat)
            if posts:
                out["post_p50"] = statistics.median(posts)
                out["post_max"] = max(posts)
        s, body, t = request(a.port, "GET", "/revocations")
        out["get"] = t
        out["get_entries"] = body.count(b'"name"')
        n.stop()
        # Bytes per entry: a 1 MiB zone without a state file, filled until 507.
        small = Nginx(a, d, a.port, "1m", state=False)
        small.start()
        count = 0
        while True:
            s, _, _ = post(a.port, f"fill-{count:06d}")
            if s != 201:
                break
            count += 1
        small.stop()
        out["fit_in_1m"] = count
        out["bytes_per_entry"] = (1 << 20) // max(count, 1)
    finally:
        n.stop()
        shutil.rmtree(d, ignore_errors=True)
    print(f"entries {out['entries']} (zone {out['zone']})")
    print(f"start (state file of {a.entries}): {ms(out['start'])}")
    print(f"reload: {ms(out['reload'])}")
    print(f"POST x{a.posts}: median {ms(out['post_p50'])}, max {ms(out['post_max'])}")
    print(f"token requests, idle: median {ms(out['token_idle_p50'])}, max {ms(out['token_idle_max'])} "
          f"({out['token_idle_n']})")
    print(f"token requests, during POSTs: median {ms(out['token_posts_p50'])}, max {ms(out['token_posts_max'])} "
          f"({out['token_posts_n']})")
    print(f"GET of the whole list: {ms(out['get'])} ({out['get_entries']} entries)")
    print(f"zone bytes per entry: {out['bytes_per_entry']} ({out['fit_in_1m']} entries in 1 MiB)")


if __name__ == "__main__":
    main()
