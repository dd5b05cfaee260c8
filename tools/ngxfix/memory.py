"""Memory of the verified-token cache (bench/memory.sh runs this; its header says what and how)."""
import base64
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import ROOT, Fail, Run, bearer, env_int, main, rss_kib, say  # noqa: E402
from ngxfix import wrk  # noqa: E402

CONF = r"""
load_module {{module}};
worker_processes 1;
daemon off;
error_log {{error_log}} error;
pid {{pidfile}};
events { worker_connections 1024; }
http {
    access_log off;
    jwt_peer_auth_token_cache {{size}};
    server {
        listen 127.0.0.1:{{port}};
        location / { jwt_peer_auth "mem"; jwt_peer_auth_jwks_file {{keys}}/jwks.json; root {{work}}/html; }
    }
}
"""


def one_pass(r, port, tokens, n):
    """Every token once: wrk stops itself after as many answers as there are tokens (tokens.lua's
    marker) and is interrupted here."""
    marker = f"{r.work}/pass.done"
    if os.path.exists(marker):
        os.unlink(marker)
    out = f"{r.work}/wrk{n}.txt"
    p = subprocess.Popen(["wrk", "-t1", "-c32", "-d3600s", "-s", "bench/tokens.lua", f"http://127.0.0.1:{port}/index.html",
                          "--", tokens, "1", marker], cwd=ROOT, stdout=open(out, "w"), stderr=subprocess.STDOUT)
    for _ in range(36000):
        if os.path.exists(marker) or p.poll() is not None:
            break
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    p.wait()
    if not os.path.exists(marker):
        print(open(out).read(), file=sys.stderr)
        raise Fail(f"pass {n} did not finish")
    res = wrk.Result(out)
    print(f"statuses: {res.statuses_text}", file=sys.stderr)
    if res.unexpected("200"):
        raise Fail(f"pass {n} had answers other than 200")


def run():
    ntokens = env_int("MEM_TOKENS", 100000)
    key = os.environ.get("MEM_KEY", "rsa")
    sizes = os.environ.get("MEM_CACHE_SIZES", "off 4096 100000").split()
    module = os.environ.get("MEM_MODULE", "")
    label = os.environ.get("MEM_LABEL") or wrk.commit().split()[0]
    out = os.environ.get("MEM_OUT", f"{ROOT}/bench/results/memory-latest.md")
    wrk.need_wrk()
    if not os.access(f"{ROOT}/build/nginx", os.X_OK):
        subprocess.run([f"{ROOT}/scripts/build.sh"], check=True)
    with Run("memory", keep=("keys", f"tokens-{key}-{ntokens}.txt")) as r:
        port = r.port("MEM_PORT", 18560)
        tokens = f"{r.work}/tokens-{key}-{ntokens}.txt"
        if (not os.path.exists(tokens) or sum(1 for _ in open(tokens)) != ntokens
                or time.time() - os.path.getmtime(tokens) > 12 * 3600):
            say(f"minting {ntokens} tokens with key {key}")
            toks = r.keys.pool(key, "--exp", "86400", "--claims",
                               '{"token_id":"d68827c9-13bd-4b91-b47e-ad17f6959c63"}', count=ntokens)
            open(tokens + ".tmp", "w").write("\n".join(toks) + "\n")
            os.replace(tokens + ".tmp", tokens)
        lines = open(tokens).read().split()
        token_len = sum(map(len, lines)) // len(lines)
        head = lines[0].split(".")[0]
        alg = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("alg", "?")
        os.makedirs(f"{r.work}/html", exist_ok=True)
        open(f"{r.work}/html/index.html", "w").write("ok\n")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if not os.path.exists(out) or not os.environ.get("MEM_APPEND"):
            open(out, "w").write(
                "# jwt_peer_auth token cache memory\n\n"
                f"`bench/memory.sh`: {os.cpu_count()} CPUs, one worker, distinct tokens shaped like JWThenticator's (claims identifier, token_id, iat, exp, sub, jti), each sent once per pass. Per entry: the worker's RSS growth over the first pass divided by the entries the cache then holds (min(tokens, cache size)).\n\n"
                "| build | date (UTC) | tokens | alg, bytes | jwt_peer_auth_token_cache | worker RSS before (KiB) | after 1st pass | after 2nd pass | growth per entry (bytes) |\n"
                "|---|---|--:|---|---|--:|--:|--:|--:|\n")
        r.chmod_readable()
        for size in sizes:
            params = {"size": size, "port": port}
            if module:
                params["module"] = os.path.abspath(module)
            ngx = r.nginx(CONF, f"mem-{size}", **params)
            ngx.start(ready=lambda: ngx.get("/index.html", headers=bearer(lines[0]), timeout=5).status == 200)
            rss = lambda: sum(rss_kib(p) for p in ngx.workers())  # noqa: E731
            before = rss()
            one_pass(r, port, tokens, 1)
            after1 = rss()
            one_pass(r, port, tokens, 2)
            after2 = rss()
            per_entry = "-" if size == "off" else (after1 - before) * 1024 // min(int(size), ntokens)
            with open(out, "a") as f:
                f.write(f"| {label} | {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {ntokens} | {alg}, {token_len} | "
                        f"{size} | {before} | {after1} | {after2} | {per_entry} |\n")
            ngx.stop()
        print(open(out).read(), end="")


if __name__ == "__main__":
    main("memory", run)
