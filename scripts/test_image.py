#!/usr/bin/env python3
"""Tests the image archive build/jwt-peer-auth-nginx.tar the way a user runs it (called by
scripts/test-image.sh; as root, with podman and runc).

The archive is loaded into a storage of its own (build/image-test/, podman --root/--runroot,
vfs), never podman's default one, and run read-only, with host networking on loopback, the
tmpfs mounts the documentation lists and a conf.d of this test's own:

  - the image's settings: CMD nginx -g 'daemon off;', stop signal SIGQUIT, name and tag;
  - nginx -t of nginx-conf/netunnel-peer.conf mounted into conf.d (a throwaway certificate);
  - a valid token gets 200, a tampered one and none 401 with the Bearer challenge; the keys
    come from a key service on the host (this process, 127.0.0.1, a JWKS from build/jwt-mint);
  - the root filesystem is read-only; the master runs as root, every worker as nginx (101);
  - nginx -s reload and podman kill --signal HUP under load: no request fails, the workers
    are replaced;
  - podman logs: the access log on stdout, the error log (the reloads) on stderr;
  - podman stop: a request in flight completes, the container exits with status 0.

Loopback ports are chosen at run time. A leftover storage of an interrupted run is removed
first, and this run's on exit, failure or not. Prints the time from `podman run` to the first
answer.
"""
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "jwt-peer-auth-nginx"
ARCHIVE = os.path.join(ROOT, "build", NAME + ".tar")
WORK = os.path.join(ROOT, "build", "image-test")
MINT = os.path.join(ROOT, "build", "jwt-mint")
CONTAINER = "jwt-peer-auth-image-test"
TMPFS = ["/run", "/var/lib/nginx", "/var/cache/nginx", "/tmp"]
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "docker", "containers.conf"))
results = {"passed": 0, "failed": 0}


def check(cond, what, detail=""):
    key = "passed" if cond else "failed"
    results[key] += 1
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond or not detail else f"\n  {detail}"))
    return cond


def podman(*args, ok=True, timeout=120):
    cmd = ["podman", "--root", f"{WORK}/root", "--runroot", f"{WORK}/runroot",
           "--storage-driver", "vfs", *args]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    if ok and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def cleanup():
    if os.path.isdir(f"{WORK}/root"):
        podman("rm", "--all", "--force", "--time", "0", ok=False)
        podman("rmi", "--all", "--force", ok=False)
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f]
    for m in sorted((m for m in mounts if m.startswith(WORK + "/")), reverse=True):
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(WORK, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def version():
    section = None
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[package]" and line.startswith("version"):
                return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("no [package] version in Cargo.toml")


class KeyService(http.server.BaseHTTPRequestHandler):
    """The host's key service: /jwks (counted) and /slow (answers after 1.5 s)."""
    jwks = b""
    fetches = 0

    def do_GET(self):
        if self.path == "/jwks":
            KeyService.fetches += 1
            body, ctype = KeyService.jwks, "application/json"
        elif self.path == "/slow":
            time.sleep(1.5)
            body, ctype = b"slow done\n", "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (a killed NGINX in a failing run)
            pass

    def log_message(self, *args):
        pass


def get(port, path, token=None, agent="image-test", timeout=10):
    """One request on a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"User-Agent": agent, "Connection": "close"}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def processes(container):
    """(uid, cmdline) of the container's master and of each of its children (host /proc)."""
    pid = podman("inspect", "--format", "{{.State.Pid}}", container).stdout.strip()

    def info(p):
        with open(f"/proc/{p}/status") as f:
            uid = next(int(l.split()[1]) for l in f if l.startswith("Uid:"))
        with open(f"/proc/{p}/cmdline", "rb") as f:
            return uid, f.read().replace(b"\0", b" ").decode().strip()
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = f.read().split()
    out = {}
    for c in children:
        try:
            out[c] = info(c)
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            pass
    return info(pid), out


def workers(container):
    return {p for p, (_, cmd) in processes(container)[1].items() if "worker process" in cmd}


def wait_new_workers(container, old, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        now = workers(container)
        if now and not now & old:
            return now
        time.sleep(0.1)
    return None


def run_tests(tmp, image):
    # --- the image's settings -------------------------------------------------------------
    cfg = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    check(cfg.get("Cmd") == ["nginx", "-g", "daemon off;"], "CMD is nginx -g 'daemon off;'", cfg.get("Cmd"))
    check(cfg.get("StopSignal") == "SIGQUIT", "stop signal SIGQUIT", cfg.get("StopSignal"))
    r = podman("run", "--rm", "--runtime", "runc", image, "nginx", "-V", ok=False)
    check(r.returncode == 0 and "nginx/1.22" in r.stderr, "nginx -V: Debian's NGINX 1.22", r.stderr)
    print("  " + r.stderr.splitlines()[0] if r.stderr else "")
    r = podman("run", "--rm", "--runtime", "runc", image, "dpkg-query", "-W", "-f", "${Version}",
               "libnginx-mod-http-jwt-peer-auth", ok=False)
    check(r.stdout.startswith(version() + "-"), f"the module's package {version()} is installed", r.stdout + r.stderr)
    tmpfs = [a for t in TMPFS for a in ("--tmpfs", t)]
    base = ["--runtime", "runc", "--network", "host", "--read-only", "--read-only-tmpfs=false",
            *tmpfs, "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]

    # --- the example configuration passes nginx -t in the image -----------------------------
    certs = os.path.join(tmp, "certs")
    os.mkdir(certs)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=netunnel-peer.test", "-keyout", f"{certs}/netunnel-peer.key",
                    "-out", f"{certs}/netunnel-peer.crt"], check=True, capture_output=True)
    os.chmod(f"{certs}/netunnel-peer.key", 0o644)
    example = os.path.join(ROOT, "nginx-conf", "netunnel-peer.conf")
    r = podman("run", "--rm", *base, "-v", f"{example}:/etc/nginx/conf.d/netunnel-peer.conf:ro",
               "-v", f"{certs}:/etc/nginx/certs:ro", image, "nginx", "-t", ok=False)
    check(r.returncode == 0 and "test is successful" in r.stderr,
          "nginx -t: nginx-conf/netunnel-peer.conf in conf.d", r.stderr)

    # --- keys, tokens and the key service on the host --------------------------------------
    keys = os.path.join(tmp, "keys")
    subprocess.run([MINT, "keygen", keys], check=True, capture_output=True)
    token = subprocess.run([MINT, "sign", keys, "rsa"], check=True, capture_output=True,
                           text=True).stdout.strip()
    tampered = subprocess.run([MINT, "sign", keys, "rsa", "--corrupt"], check=True,
                              capture_output=True, text=True).stdout.strip()
    with open(f"{keys}/jwks.json", "rb") as f:
        KeyService.jwks = f.read()
    keysrv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeyService)
    threading.Thread(target=keysrv.serve_forever, daemon=True).start()
    kport, port = keysrv.server_address[1], free_port()

    confd = os.path.join(tmp, "conf.d")
    os.mkdir(confd)
    with open(f"{confd}/test.conf", "w") as f:
        f.write(f"""server {{
    listen 127.0.0.1:{port};
    location = /health {{ return 200 "up\\n"; }}
    location = /_jwks {{ internal; proxy_pass http://127.0.0.1:{kport}/jwks; }}
    location /protected {{ jwt_peer_auth "peers"; jwt_peer_auth_key_request /_jwks; empty_gif; }}
    location = /slow {{ proxy_pass http://127.0.0.1:{kport}/slow; }}
}}
""")
    try:
        run_container(image, base, confd, port, token, tampered)
    finally:
        keysrv.shutdown()


def run_container(image, base, confd, port, token, tampered):
    t0 = time.monotonic()
    podman("run", "--detach", "--name", CONTAINER, *base, "-v", f"{confd}:/etc/nginx/conf.d:ro", image)
    first = None
    while time.monotonic() - t0 < 30:
        try:
            if get(port, "/health", timeout=1)[0] == 200:
                first = time.monotonic() - t0
                break
        except OSError:
            time.sleep(0.02)
    if not check(first is not None, "the container answers on 127.0.0.1"):
        print(podman("logs", CONTAINER, ok=False).stderr)
        return
    print(f"  first answer {first * 1000:.0f} ms after podman run")

    status, headers, body = get(port, "/protected/x", token)
    check(status == 200 and body.startswith(b"GIF"), "a valid token: 200", (status, body[:40]))
    check(KeyService.fetches >= 1, "the keys came from the key service on the host", KeyService.fetches)
    status, headers, _ = get(port, "/protected/x", tampered)
    challenge = headers.get("WWW-Authenticate", "")
    check(status == 401 and challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge,
          "a tampered token: 401 with the Bearer invalid_token challenge", (status, challenge))
    status, headers, _ = get(port, "/protected/x")
    check(status == 401 and headers.get("WWW-Authenticate", "").startswith('Bearer realm="peers"'),
          "no token: 401 with the Bearer challenge", (status, headers.get("WWW-Authenticate")))

    r = podman("exec", CONTAINER, "touch", "/etc/nginx/written", ok=False)
    check(r.returncode != 0 and "Read-only file system" in r.stderr, "the root filesystem is read-only", r.stderr)
    (muid, mcmd), children = processes(CONTAINER)
    wk = {p: v for p, v in children.items() if "worker process" in v[1]}
    check(muid == 0 and "master process" in mcmd, "the master runs as root", (muid, mcmd))
    check(wk and all(uid == 101 for uid, _ in wk.values()), "no worker runs as root (all nginx, 101)", wk)

    # --- reload under load ------------------------------------------------------------------
    stop, failures, done, lock = threading.Event(), [], [0], threading.Lock()

    def load():
        deadline = time.monotonic() + 40
        while not stop.is_set() and time.monotonic() < deadline and done[0] < 20000:
            try:
                status = get(port, "/protected/load", token, agent="image-test-load")[0]
            except OSError as e:
                status = repr(e)
            with lock:
                done[0] += 1
                if status != 200:
                    failures.append(status)
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        old = workers(CONTAINER)
        r = podman("exec", CONTAINER, "nginx", "-s", "reload", ok=False)
        new = wait_new_workers(CONTAINER, old)
        check(r.returncode == 0 and new is not None, "nginx -s reload replaces the workers", r.stderr)
        time.sleep(0.5)
        podman("kill", "--signal", "HUP", CONTAINER)
        check(wait_new_workers(CONTAINER, new or old) is not None, "kill -HUP replaces the workers")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    check(done[0] > 50 and not failures, f"no failed request during the reloads ({done[0]} requests)",
          failures[:5])

    # --- logs -------------------------------------------------------------------------------
    r = podman("logs", CONTAINER)
    check('"GET /protected/x HTTP/1.1" 200' in r.stdout and "image-test" in r.stdout,
          "podman logs: the access log on stdout", r.stdout[-500:])
    check("signal 1 (SIGHUP) received" in r.stderr and "reconfiguring" in r.stderr,
          "podman logs: the error log on stderr", r.stderr[-500:])

    # --- graceful stop ----------------------------------------------------------------------
    slow = {}

    def slow_request():
        try:
            slow["r"] = get(port, "/slow")
        except OSError as e:
            slow["error"] = repr(e)
    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.3)
    t1 = time.monotonic()
    podman("stop", "--time", "20", CONTAINER)
    took = time.monotonic() - t1
    t.join()
    status = slow.get("r", (None,))[0]
    check(status == 200, "podman stop: the request in flight completes", slow)
    state = json.loads(podman("inspect", CONTAINER).stdout)[0]["State"]
    check(state["ExitCode"] == 0 and took < 15, f"podman stop: exit status 0 after {took:.1f} s",
          (state["ExitCode"], took))


def main():
    ver = version()
    image = f"{NAME}:{ver}"
    if not os.path.exists(ARCHIVE) or not os.access(MINT, os.X_OK):
        sys.exit(f"{ARCHIVE} or {MINT} missing: run scripts/build-image.sh and scripts/build.sh")
    cleanup()
    os.makedirs(WORK)
    tmp = tempfile.mkdtemp(dir=WORK)
    os.chmod(tmp, 0o755)
    try:
        with tarfile.open(ARCHIVE) as tar:
            tags = json.load(tar.extractfile("manifest.json"))[0]["RepoTags"]
        check(sorted(tags) == [f"docker.io/library/{image}", f"localhost/{image}"],
              f"the archive names {image} for docker load and podman load", tags)
        podman("load", "--quiet", "--input", ARCHIVE)
        images = podman("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        check(f"localhost/{image}" in images, f"podman load: {image} in a fresh storage", images)
        run_tests(tmp, image)
    except Exception as e:  # a broken step is a failure, reported; cleanup still runs
        check(False, "the test ran to its end", repr(e))
    finally:
        cleanup()
    print(f"image: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
