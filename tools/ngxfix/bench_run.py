"""The benchmark (bench/run.sh runs this): builds (release), starts NGINX and the real
JWThenticator on loopback, measures with wrk, prints a table and writes it to
bench/results/latest.md. Scenarios and settings: the header of bench/run.sh."""
import json
import os
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import ROOT, Fail, Run, env_int, main, need, request, say  # noqa: E402
from ngxfix import wrk  # noqa: E402

CONF = r"""
load_module {{module}};
daemon off;
worker_processes auto;
error_log {{error_log}} warn;
pid {{pidfile}};
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    jwt_peer_auth_revocation zone=bench_rev:1m;
    jwt_peer_auth_dpop_zone bench_dpop:32m;
    upstream jwthenticator { server 127.0.0.1:{{jwth_port}}; keepalive 64; }
    server {
        listen 127.0.0.1:{{port}};
        # (a)
        location = /a { alias {{www}}/hello.txt; }
        # (b), (c), (d), (h)
        location = /b { jwt_peer_auth "bench"; jwt_peer_auth_jwks_file {{keys}}/jwks.json; alias {{www}}/hello.txt; }
        # (i): as (b), the key source bound to an issuer (`issuer=`), the token of that issuer
        location = /i { jwt_peer_auth "bench"; jwt_peer_auth_jwks_file {{keys}}/jwks.json issuer=https://bench.example/; alias {{www}}/hello.txt; }
        # (c-ps256, c-es256, c-es384, c-eddsa)
        location = /alg { jwt_peer_auth "bench"; jwt_peer_auth_jwks_file {{keys}}/jwks-algs.json; alias {{www}}/hello.txt; }
        # (r)
        location = /r {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file {{keys}}/jwks.json;
            jwt_peer_auth_revocation_check identifier token_id;
            alias {{www}}/hello.txt;
        }
        location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
        # (p)
        location = /p {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file {{keys}}/jwks.json;
            jwt_peer_auth_phase preaccess;
            alias {{www}}/hello.txt;
        }
        # (g)
        location = /g {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file {{keys}}/jwks.json;
            jwt_peer_auth_cert_binding on cert=$http_x_client_cert;
            alias {{www}}/hello.txt;
        }
        # (e): what jwt_peer_auth replaces; kept-alive upstream connections (JWThenticator's best case).
        location = /e { auth_request /_validate; alias {{www}}/hello.txt; }
        location = /_validate {
            internal;
            proxy_pass http://jwthenticator/validate_request;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        # (dp): DPoP, a cached bound token, a fresh ES256 proof per request
        location = /dp {
            jwt_peer_auth "bench";
            jwt_peer_auth_jwks_file {{keys}}/jwks.json;
            jwt_peer_auth_dpop on max_age=3600;
            alias {{www}}/hello.txt;
        }
        # (f)
        location = /f { jwt_peer_auth "bench"; jwt_peer_auth_key_request /_jwks; alias {{www}}/hello.txt; }
        location = /_jwks { internal; default_type application/json; alias {{keys}}/jwks.json; }
        # (k), (kc): keys from jwt_peer_auth_key_request, bound to the tokens' issuer
        location = /k {
            jwt_peer_auth "bench";
            jwt_peer_auth_key_request /_jwks issuer=https://bench.example/;
            alias {{www}}/hello.txt;
        }
        # (o), (oc): the same keys found through jwt_peer_auth_discovery: the document, then the
        # key set from the jwks_uri it names ($jwt_peer_auth_jwks_uri, forwarded over loopback)
        location = /o {
            jwt_peer_auth "bench";
            jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://bench.example/;
            alias {{www}}/hello.txt;
        }
        location = /_oidc { internal; default_type application/json; alias {{work}}/oidc.json; }
        location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:{{port}}/jwks-by-uri?u=$jwt_peer_auth_jwks_uri; }
        location = /jwks-by-uri { default_type application/json; alias {{keys}}/jwks.json; }
    }
}
"""

ALG = {"c": "RS256", "c-ps256": "PS256", "c-es256": "ES256", "c-es384": "ES384", "c-eddsa": "EdDSA",
       "h": "RS256, bad signature"}


def mint_pool(run, path, n, key, *opts):
    """A pool of n distinct tokens, one a line; reused while it has the right size, is younger
    than 12 h (tokens live 24 h) and was signed with the current keys."""
    fresh = (os.path.exists(path) and sum(1 for _ in open(path)) == n
             and os.path.getmtime(path) > os.path.getmtime(f"{run.keys.path}/jwks.json")
             and time.time() - os.path.getmtime(path) < 12 * 3600)
    if not fresh:
        say(f"minting {n} tokens: {key} {' '.join(opts)}")
        toks = run.keys.pool(key, "--exp", "86400", *opts, count=n)
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(toks) + "\n")
        os.replace(path + ".tmp", path)
    return open(path).readline().strip()


def run():
    duration = os.environ.get("BENCH_DURATION", "10s")
    threads = env_int("BENCH_THREADS", 1)
    conns = env_int("BENCH_CONNECTIONS", 32)
    ntokens = env_int("BENCH_TOKENS", 10000)
    nproofs = env_int("BENCH_DPOP_PROOFS", 200000)
    verify_n = env_int("BENCH_VERIFY_N", 200)
    # BENCH_ONLY=b,i,c,d: only these scenarios (a short run on a shared machine).
    only = {x for x in os.environ.get("BENCH_ONLY", "").split(",") if x}
    wrk.need_wrk()
    need("curl")
    if not os.environ.get("BENCH_SKIP_BUILD"):
        subprocess.run([f"{ROOT}/scripts/deps.sh"], check=True)
        subprocess.run([f"{ROOT}/scripts/build.sh"], check=True)
    py = subprocess.run([f"{ROOT}/tools/jwthenticator/setup.sh"], check=True, capture_output=True,
                        text=True).stdout.strip()
    load_before = wrk.loadavg()
    results = f"{ROOT}/bench/results/latest.md"
    with Run("bench", keep=("keys", "client.pem", "tokens.txt", "tokens-ps256.txt", "tokens-es256.txt",
                            "tokens-es384.txt", "tokens-eddsa.txt", "tokens-bad.txt", "tokens-iss.txt",
                            "jwthenticator")) as r:
        port = r.port("BENCH_PORT", 18480)
        jwth_port = r.port()
        if not os.path.exists(f"{r.keys.path}/jwks-algs.json"):   # older key directories
            subprocess.run([r.bin("jwt-mint"), "keygen", r.keys.path], check=True, stdout=subprocess.DEVNULL)
        k = r.keys
        token = k.sign("rsa")
        pem = f"{r.work}/client.pem"
        if not os.path.exists(pem):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-subj", "/CN=bench-peer", "-days", "2", "-keyout", "/dev/null", "-out", pem],
                           check=True, capture_output=True)
        bound = k.sign("rsa", "--cnf-cert", pem)
        cert_header = urllib.parse.quote(open(pem).read(), safe="")
        bad = k.sign("rsa", "--corrupt")
        rev_token = k.sign("rsa", "--claims", '{"token_id":"tid-bench-peer"}')
        iss_token = k.sign("rsa", "--claims", '{"iss":"https://bench.example/"}')
        pools = {"c": ("tokens.txt", "rsa"), "c-ps256": ("tokens-ps256.txt", "rsa", "--alg", "PS256", "--kid", "rsa-ps"),
                 "c-es256": ("tokens-es256.txt", "ec"), "c-es384": ("tokens-es384.txt", "ec384"),
                 "c-eddsa": ("tokens-eddsa.txt", "ed"), "h": ("tokens-bad.txt", "rsa", "--corrupt")}
        first = {id: mint_pool(r, f"{r.work}/{p[0]}", ntokens, *p[1:]) for id, p in pools.items()
                 if not only or id in only}
        # (kc), (oc): distinct tokens of the issuer the two fetched sources are bound to.
        iss_pool = f"{r.work}/tokens-iss.txt"
        if not only or {"kc", "oc"} & only:
            first["iss"] = mint_pool(r, iss_pool, ntokens, "rsa", "--claims", '{"iss":"https://bench.example/"}')
        with open(f"{r.work}/oidc.json", "w") as f:
            json.dump({"issuer": "https://bench.example/", "jwks_uri": "https://bench.example/jwks",
                       "token_endpoint": "https://bench.example/token"}, f)

        say(f"starting JWThenticator on 127.0.0.1:{jwth_port}")
        jlog = open(f"{r.work}/logs/jwthenticator.log", "w")
        jwth = subprocess.Popen([py, "tools/jwthenticator/serve.py", "--state-dir", f"{r.work}/jwthenticator",
                                 "--port", str(jwth_port)], cwd=ROOT, stdout=jlog, stderr=subprocess.STDOUT)
        try:
            for _ in range(300):
                if "listening on" in open(jlog.name).read():
                    break
                if jwth.poll() is not None:
                    raise Fail(f"JWThenticator exited: {open(jlog.name).read()}")
                time.sleep(0.1)
            else:
                raise Fail("timed out waiting for JWThenticator")
            jwth_token = subprocess.run([py, "tools/jwthenticator/client.py", "--url", f"http://127.0.0.1:{jwth_port}"],
                                        cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
            ngx = r.nginx(CONF, port=port, jwth_port=jwth_port)
            r.chmod_readable()
            say(f"starting NGINX on 127.0.0.1:{port}")
            ngx.start(ready=lambda: ngx.get("/a", timeout=5).status == 200)
            time.sleep(0.3)
            workers = ngx.workers()
            rows, order = {}, []
            base = f"http://127.0.0.1:{port}"

            def scenario(id, desc, path, expect, auth, args, headers=None):
                if only and id not in only:
                    return
                order.append(id)
                row = rows[id] = {"desc": desc, "rps": "-", "p50": "-", "p99": "-", "statuses": "-", "cpu": "-",
                                  "others": "-"}
                h = dict(headers or {})
                if auth and "Authorization" not in h:
                    h["Authorization"] = f"Bearer {auth}"
                code = ngx.get(path, headers=h).status
                if (expect == "2xx" and code // 100 != 2) or (expect == "401" and code != 401):
                    row["verdict"] = f"FAILED (curl got {code})"
                    say(f"({id}) FAILED: curl got HTTP {code}")
                    return
                say(f"({id}) {desc}: wrk for {duration}")
                res, cpu, others = wrk.measure(["--latency", f"-t{threads}", f"-c{conns}", f"-d{duration}", *args],
                                               f"{r.work}/wrk-{id}.txt", workers, [jwth.pid])
                row.update(rps=res.rps or "", p50=res.p50, p99=res.p99, statuses=res.statuses_text,
                           cpu=wrk.fmt(cpu), others=f"{others:.0f} %", verdict=res.verdict(expect))
                say(f"({id}) {res.rps or '?'} req/s, {row['cpu']} µs worker CPU/request, others {row['others']}, "
                    f"p50 {res.p50} ms, p99 {res.p99} ms, statuses: {res.statuses_text or 'none'}: {row['verdict']}")

            verify = {}

            def time_verify(id, tok):
                if only and id not in only:
                    return
                out = subprocess.run([r.bin("jwt-mint"), "time", f"{k.path}/jwks-algs.json", str(verify_n), tok],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise Fail("jwt-mint time failed")
                open(f"{r.work}/verify-time-{id}.txt", "w").write(out.stdout)
                alg, kid, ring, v, result, o, ov = out.stdout.splitlines()[1].split()[:7]
                verify[id] = {"ring": ring, "openssl": o, "sig": ring if o == "-" else o, "core": v if o == "-" else ov}
                say(f"({id}) ring verify {ring} µs, OpenSSL verify {o} µs, core verify() {verify[id]['core']} µs ({alg}, {result})")

            st = ["-s", "bench/status.lua"]
            auth = lambda t: ["-H", f"Authorization: Bearer {t}"]  # noqa: E731
            scenario("a", "no auth (static file)", "/a", "2xx", "", [*st, f"{base}/a"])
            scenario("b", "jwt_peer_auth, JWKS file, one reused token", "/b", "2xx", token, [*st, *auth(token), f"{base}/b"])
            scenario("i", "as (b), the JWKS file bound to the token's issuer (issuer=)", "/i", "2xx", iss_token,
                     [*st, *auth(iss_token), f"{base}/i"])
            # (r): 1,000 entries (half identifier, half token_id), none the token's, through the API.
            for i in range(1000 if not only or "r" in only else 0):
                name = "identifier" if i % 2 == 0 else "token_id"
                body = json.dumps({"name": name, "value": "%08d-2222-3333-4444-%012d" % (i, i), "ttl": "2h"})
                s = request(port, "/revocations", "POST", {"Content-Type": "application/json"}, body).status
                if s != 201:
                    raise Fail(f"could not fill the revocation list: POST /revocations {i}: {s}")
            if (not only or "r" in only) and len(request(port, "/revocations").json()["entries"]) != 1000:
                raise Fail("could not fill the revocation list")
            scenario("r", "as (b), revocation check (identifier, token_id), 1,000 listed entries", "/r", "2xx",
                     rev_token, [*st, *auth(rev_token), f"{base}/r"])
            scenario("p", "as (b), in the preaccess phase", "/p", "2xx", token, [*st, *auth(token), f"{base}/p"])
            tok = lambda id: ["-s", "bench/tokens.lua", f"{base}/{'b' if id in ('c', 'h') else 'alg'}", "--",  # noqa: E731
                              f"{r.work}/{pools[id][0]}", str(threads)]
            scenario("c", f"jwt_peer_auth, JWKS file, {ntokens} distinct tokens", "/b", "2xx", first.get("c"), tok("c"))
            time_verify("c", first.get("c"))
            for a in ("ps256", "es256", "es384", "eddsa"):
                id = f"c-{a}"
                scenario(id, f"as (c), {ALG[id]}, {ntokens} distinct tokens", "/alg", "2xx", first.get(id), tok(id))
                time_verify(id, first.get(id))
            scenario("d", "jwt_peer_auth, one bad-signature token again and again (expect 401)", "/b", "401", bad,
                     [*st, *auth(bad), f"{base}/b"])
            scenario("h", f"jwt_peer_auth, {ntokens} distinct bad-signature tokens (expect 401)", "/b", "401",
                     first.get("h"), tok("h"))
            time_verify("h", first.get("h"))
            calls = lambda: request(jwth_port, "/_stats").json().get("/validate_request", 0)  # noqa: E731
            before = calls()
            scenario("e", "auth_request -> JWThenticator /validate_request", "/e", "2xx", jwth_token,
                     [*st, *auth(jwth_token), f"{base}/e"])
            jwth_calls = calls() - before
            # (dp): proofs minted now (their iat must be recent), each with its own jti; the first
            # one checks the location, wrk sends the others (bench/dpop.lua).
            if not only or "dp" in only:
                dp_token = k.sign("rsa", "--typ", "at+jwt", "--cnf-jkt", "ec")
                dp_file = f"{r.work}/proofs-dpop.txt"
                say(f"minting {nproofs} DPoP proofs")
                with open(dp_file, "w") as f:
                    subprocess.run([r.bin("jwt-mint"), "proof", k.path, "ec", "--htu", f"{base}/dp", "--token",
                                    dp_token, "--count", str(nproofs)], check=True, stdout=f)
                first_proof = open(dp_file).readline().strip()
                dp_headers = {"Authorization": f"DPoP {dp_token}", "DPoP": first_proof}
                scenario("b2", "as (b), just before (dp): one reused token", "/b", "2xx", token,
                         [*st, *auth(token), f"{base}/b"])
                scenario("dp", "DPoP: one cached bound token, a fresh ES256 proof per request", "/dp", "2xx", "",
                         ["-s", "bench/dpop.lua", f"{base}/dp", "--", dp_token, dp_file, str(threads)],
                         headers=dp_headers)
                time_verify("dp", k.sign("ec"))
            scenario("f", "jwt_peer_auth, keys from jwt_peer_auth_key_request", "/f", "2xx", token,
                     [*st, *auth(token), f"{base}/f"])
            scenario("k", "as (i), keys from jwt_peer_auth_key_request issuer=", "/k", "2xx", iss_token,
                     [*st, *auth(iss_token), f"{base}/k"])
            scenario("o", "as (k), keys found through jwt_peer_auth_discovery", "/o", "2xx", iss_token,
                     [*st, *auth(iss_token), f"{base}/o"])
            iss_tok = lambda path: ["-s", "bench/tokens.lua", f"{base}/{path}", "--", iss_pool, str(threads)]  # noqa: E731
            # The second pair in the other order: a load that rises or falls during the run
            # favours neither kind of source.
            scenario("oc", f"as (o), {ntokens} distinct tokens", "/o", "2xx", first.get("iss"), iss_tok("o"))
            scenario("kc", f"as (k), {ntokens} distinct tokens", "/k", "2xx", first.get("iss"), iss_tok("k"))
            scenario("g", "jwt_peer_auth, JWKS file, one reused certificate-bound token", "/g", "2xx", bound,
                     [*st, *auth(bound), "-H", f"X-Client-Cert: {cert_header}", f"{base}/g"],
                     headers={"X-Client-Cert": cert_header})
            nworkers = len(ngx.workers())
            jversion = subprocess.run([py, "-c", 'import importlib.metadata as m; print(m.version("jwthenticator"))'],
                                      capture_output=True, text=True).stdout.strip()
        finally:
            jwth.terminate()
            try:
                jwth.wait(5)
            except subprocess.TimeoutExpired:
                jwth.kill()

        def num(v):
            try:
                return float(v)
            except (TypeError, ValueError):
                return None

        def ok(i):
            return rows.get(i, {}).get("verdict") == "ok"

        def ratio(x, y):
            return f"{num(rows[x]['rps']) / num(rows[y]['rps']):.2f}" if ok(x) and ok(y) else "n/a"

        def cpu_ratio(x, y):
            return f"{num(rows[y]['cpu']) / num(rows[x]['cpu']):.2f}" if ok(x) and ok(y) else "n/a"

        def minus(*vs):
            n = [num(v) for v in vs]
            return "-" if None in n else f"{n[0] - sum(n[1:]):.1f}"

        nginx_v = subprocess.run([r.bin("nginx"), "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
        L = ["# jwt_peer_auth benchmark", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {wrk.commit()}, by `bench/run.sh`.", "",
             f"- Machine: {wrk.machine()}",
             f"- NGINX {nginx_v}, worker_processes auto ({nworkers} workers), access_log off, loopback only",
             f"- {wrk.wrk_version()}: {threads} thread(s), {conns} connections, {duration} per scenario; JWThenticator {jversion} (one Python process, SQLite)",
             f"- Tokens: RS256 with a 2048-bit RSA key, unless the scenario names another algorithm (PS256: the same key; ES256: P-256; ES384: P-384; EdDSA: Ed25519); the distinct-token scenarios cycle through {ntokens} tokens each (more than the 4,096-entry token cache: no hits)",
             f"- Load average before the run: {load_before}; after: {wrk.loadavg()}", "",
             '"others": CPU used by other processes during the scenario, as a share of all CPUs (from',
             "/proc/stat, minus the workers, JWThenticator and wrk): where it is more than a few %, that",
             "scenario's numbers are disturbed.", "",
             "| | scenario | req/s | worker CPU µs/req | others | p50 ms | p99 ms | statuses | result |",
             "|---|---|--:|--:|--:|--:|--:|---|---|"]
        for i in order:
            w = rows[i]
            L.append(f"| {i} | {w['desc']} | {w['rps']} | {w['cpu']} | {w['others']} | {w['p50']} | {w['p99']} | {w['statuses']} | {w['verdict']} |")
        L += ["", "X/Y: X's req/s over Y's, and Y's worker CPU per request over X's (both below 1 when X",
              "costs more; the CPU ratio is the steadier one).", "", "| ratio | req/s | worker CPU |", "|---|--:|--:|"]
        for q in "b/a c/a d/a d/b h/a f/a g/b r/b p/b i/b o/k oc/kc b/e".split():
            x, y = q.split("/")
            L.append(f"| {q} | {ratio(x, y)} | {cpu_ratio(x, y)} |")
        L += ["", "Per algorithm, distinct tokens (no cache hits): worker CPU per request next to the raw cost",
              "of one verification measured right after the scenario (`jwt-mint time`, thread CPU time, best",
              f"of 5 alternating rounds of at least {verify_n} calls and 50 ms): ring's signature check alone;",
              "for RSA, OpenSSL's, which the module uses (the key prepared once, src/openssl_rsa.rs); and the",
              "core's whole `verify()` as the module runs it (base64, JSON, key choice, signature, time",
              'claims). "beyond signature": worker CPU minus the module\'s signature check (OpenSSL for RSA,',
              'else ring); "beyond (a)": minus that and minus (a)\'s worker CPU per request (NGINX serving',
              "the file without auth): what the module costs around the signature.", "",
              "| | algorithm | req/s | worker CPU µs/req | ring verify µs | OpenSSL verify µs | core verify() µs | beyond signature µs | beyond (a) µs |",
              "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
        for i in ("c", "c-ps256", "c-es256", "c-es384", "c-eddsa", "h"):
            if i not in rows:
                continue
            v = verify.get(i, {})
            L.append(f"| {i} | {ALG[i]} | {rows[i]['rps']} | {rows[i]['cpu']} | {v.get('ring', '-')} | {v.get('openssl', '-')} | "
                     f"{v.get('core', '-')} | {minus(rows[i]['cpu'], v.get('sig'))} | {minus(rows[i]['cpu'], v.get('sig'), rows.get('a', {}).get('cpu'))} |")
        if ok("dp") and ok("b2"):
            v = verify.get("dp", {})
            extra = minus(rows["dp"]["cpu"], rows["b2"]["cpu"])
            L += ["", "DPoP (issue 25): worker CPU per request of (dp) over (b2), the same cached token as",
                  "Bearer, measured just before; against the raw cost of one ES256 verification (ring,",
                  "`jwt-mint time`, same run). Goal: (dp) costs at most one verification + 10 µs more.",
                  "The replay cache takes 24 bytes per remembered proof.", "",
                  "| (dp) − (b2) worker CPU µs | ES256 verify µs (ring) | beyond the verification µs |",
                  "|--:|--:|--:|",
                  f"| {extra} | {v.get('ring', '-')} | {minus(extra, v.get('ring'))} |"]
        L += ["", f"JWThenticator answered {jwth_calls} `/validate_request` calls during (e).",
              "Raw wrk output: `build/bench/wrk-*.txt`."]
        os.makedirs(os.path.dirname(results), exist_ok=True)
        open(results, "w").write("\n".join(L) + "\n")
        print()
        print("\n".join(L))


if __name__ == "__main__":
    main("bench", run)
