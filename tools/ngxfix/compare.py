"""Ours against kjdev's nginx-auth-jwt and plain NGINX in Debian's NGINX (bench/compare.sh runs
this; its header says what, how and the settings)."""
import hashlib
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import ROOT, Fail, Run, bearer, env_int, idle_share_ticks, main, request, say  # noqa: E402
from ngxfix import wrk  # noqa: E402

NGINX = "/usr/sbin/nginx"
NGX_SRC = "/usr/share/nginx/src"
HOWTO = """    git clone --recurse-submodules https://github.com/kjdev/nginx-auth-jwt /tmp/kjdev-src
    git -C /tmp/kjdev-src checkout 6e9dd32   # see below
    apt-get install libjansson-dev libssl-dev
    KJDEV_SRC=/tmp/kjdev-src bench/compare.sh
Commits since 8677a21 (2025-02-21) set ngx_table_elt_t.next, which NGINX 1.22 does not have
(it came with 1.23.0), so they do not build against Debian bookworm's NGINX; 6e9dd32
(2024-12-26) is the newest that does, unchanged. With a newer NGINX, use any commit (and its
submodules nxe-json and nxe-jwx, from 2026-04 on)."""

CONF = r"""
{{load}}
daemon off;
worker_processes auto;
error_log {{error_log}} warn;
pid {{pidfile}};
events { worker_connections 4096; }
http {
    access_log off;
{{http}}
    server {
        listen 127.0.0.1:{{port}};
        location = /ping { return 204; }
{{locations}}
    }
}
"""
LOC_PLAIN = "        location = /plain { empty_gif; }\n"
LOC_OURS = '        location = /ours { jwt_peer_auth "bench"; jwt_peer_auth_jwks_file {{jwks}}; empty_gif; }\n'
LOC_KJDEV = '        location = /kjdev { auth_jwt "bench"; auth_jwt_key_file {{jwks}}; empty_gif; }\n'


def howto(first=None):
    print(first or "kjdev's nginx-auth-jwt is NOT measured: set KJDEV_SRC to its source tree, for example", file=sys.stderr)
    print(HOWTO, file=sys.stderr)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def build_kjdev(src, work, nginx_version):
    """kjdev's module built as Debian builds module packages (dh's nginx_mod: the packaged
    binary's conf_flags, dpkg-buildflags' flags plus -fPIC, --add-dynamic-module, make modules),
    in a copy of the nginx-dev tree; rebuilt only when its source, NGINX's or the flags change."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise Fail(f"KJDEV_SRC={src} is not a directory")
    config = open(f"{src}/config").read() if os.path.exists(f"{src}/config") else ""
    if "ngx_http_auth_jwt_module" not in config:
        raise Fail(f"KJDEV_SRC={src} has no config of ngx_http_auth_jwt_module (kjdev's nginx-auth-jwt)")
    if re.search(r"nxe-json|nxe-jwx", config) and not os.path.exists(f"{src}/nxe-json/config.ngx"):
        howto("kjdev's source needs its submodules; how to get a tree that builds, for example")
        raise Fail(f"{src} lacks its submodules (git -C {src} submodule update --init)")
    if sh(["git", "-C", src, "rev-parse", "--git-dir"]).returncode == 0:
        commit = sh(["git", "-C", src, "log", "-1", "--format=%h (%cs, \"%s\")"]).stdout.strip()
        if sh(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"]).stdout.strip():
            commit += f" + local changes ({sh(['git', '-C', src, 'diff', '--shortstat']).stdout.strip()})"
    else:
        commit = os.environ.get("KJDEV_COMMIT", "unknown (not a git checkout; set KJDEV_COMMIT)")
    if not shutil.which("dpkg-buildflags"):
        raise Fail("dpkg-buildflags is missing (apt-get install dpkg-dev)")
    if not os.path.exists(f"{NGX_SRC}/conf_flags"):
        raise Fail(f"{NGX_SRC}/conf_flags is missing (apt-get install nginx-dev)")
    for h in ("/usr/include/jansson.h", "/usr/include/openssl/evp.h"):
        if not os.path.exists(h):
            raise Fail(f"{h} is missing (apt-get install libjansson-dev libssl-dev)")
    flag = lambda f: sh(["dpkg-buildflags", "--get", f]).stdout.strip()  # noqa: E731
    cc_opt = f"{flag('CFLAGS')} -fPIC {flag('CPPFLAGS')}"
    ld_opt = f"{flag('LDFLAGS')} -fPIC"
    note = f"Debian's conf_flags, --with-cc-opt='{cc_opt}', --with-ld-opt='{ld_opt}'"
    kbuild = f"{work}/kjdev-build/{hashlib.sha256(src.encode()).hexdigest()[:12]}"
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(src)):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in sorted(files):
            h.update(open(os.path.join(d, f), "rb").read())
    stamp = (f"nginx-dev {sh(['dpkg-query', '-W', '-f=${Version}', 'nginx-dev']).stdout}; "
             f"{open(f'{NGX_SRC}/conf_flags').read()}; {cc_opt}; {ld_opt}; {src} {h.hexdigest()[:16]}")
    so = f"{kbuild}/objs/ngx_http_auth_jwt_module.so"
    if not (os.path.exists(so) and os.path.exists(f"{kbuild}/.stamp") and open(f"{kbuild}/.stamp").read() == stamp):
        say(f"building kjdev's module ({commit}) against {NGX_SRC}")
        shutil.rmtree(kbuild, ignore_errors=True)
        shutil.copytree(NGX_SRC, kbuild, symlinks=True)
        script = (f". ./conf_flags && ./configure --with-cc-opt={shlex.quote(cc_opt)} --with-ld-opt={shlex.quote(ld_opt)} "
                  f'"${{NGX_CONF_FLAGS[@]}}" --add-dynamic-module={shlex.quote(src)} --builddir=objs >configure.log 2>&1 '
                  f"|| {{ tail -n 20 configure.log >&2; exit 1; }}; make -j{os.cpu_count()} -f objs/Makefile modules >make.log 2>&1 "
                  "|| { grep -m5 -A3 'error:' make.log >&2 || tail -n 20 make.log >&2; exit 1; }")
        if subprocess.run(["bash", "-c", script], cwd=kbuild).returncode != 0:
            howto("kjdev's module did not build; how to get a tree that builds, for example")
            raise Fail(f"kjdev's module did not build against NGINX {nginx_version} (logs in {kbuild})")
        open(f"{kbuild}/.stamp", "w").write(stamp)
    return so, commit, note


def run():
    rounds = env_int("COMPARE_ROUNDS", 3)
    duration = os.environ.get("BENCH_DURATION", "5s")
    threads, conns = env_int("BENCH_THREADS", 1), env_int("BENCH_CONNECTIONS", 32)
    ntokens = env_int("BENCH_TOKENS", 10000)
    perf_secs, quiet = env_int("COMPARE_PERF_SECONDS", 4), env_int("COMPARE_QUIET", 0)
    if rounds < 1 or ntokens < 1:
        raise Fail("COMPARE_ROUNDS and BENCH_TOKENS must be positive numbers")
    results = os.environ.get("COMPARE_RESULTS", f"{ROOT}/bench/results/compare.md")
    ours_so = f"{ROOT}/build/debian/ngx_http_jwt_peer_auth_module.so"
    wrk.need_wrk()
    if not os.access(NGINX, os.X_OK):
        raise Fail(f"{NGINX} is missing: Debian's nginx package (scripts/build-debian.sh installs it)")
    if not os.environ.get("BENCH_SKIP_BUILD"):
        say("building our module for Debian's NGINX (scripts/build-debian.sh)")
        subprocess.run([f"{ROOT}/scripts/build-debian.sh"], stdout=sys.stderr, check=True)
    if not os.path.exists(ours_so):
        raise Fail(f"{ours_so} is missing (run scripts/build-debian.sh)")
    have_perf = perf_secs > 0 and shutil.which("perf")
    nginx_version = sh([NGINX, "-v"]).stderr.strip().split("/")[-1]
    nginx_pkg = sh(["dpkg-query", "-W", "-f=${Version}", "nginx"]).stdout or "?"
    with Run("compare", keep=("keys", "tokens.txt", "kjdev-build")) as r:
        kjdev_so, kjdev_commit, kjdev_note = None, "not measured (KJDEV_SRC not set)", ""
        if os.environ.get("KJDEV_SRC"):
            kjdev_so, kjdev_commit, kjdev_note = build_kjdev(os.environ["KJDEV_SRC"], r.work, nginx_version)
        else:
            howto()
        k = r.keys
        jwks = f"{k.path}/jwks-rsa.json"   # the RSA public key alone, for both modules
        open(jwks, "w").write('{"keys":[%s]}\n' % open(f"{k.path}/rsa.jwk.json").read().strip())
        token = k.sign("rsa")
        pool = f"{r.work}/tokens.txt"
        if (not os.path.exists(pool) or sum(1 for _ in open(pool)) != ntokens
                or os.path.getmtime(f"{k.path}/jwks.json") > os.path.getmtime(pool) or time.time() - os.path.getmtime(pool) > 43200):
            say(f"minting {ntokens} tokens (RS256, valid 24 h)")
            open(pool + ".tmp", "w").write("\n".join(k.pool("rsa", "--exp", "86400", count=ntokens)) + "\n")
            os.replace(pool + ".tmp", pool)
        bad = {"bad signature": k.sign("rsa", "--corrupt"), "expired": k.sign("rsa", "--exp", "-60"),
               "no exp": k.sign("rsa", "--no-exp"), "unsigned": k.sign("rsa", "--unsigned"), "garbage": "abc.def.ghi"}
        names = ["plain", "ours", "ours-off"] + (["kjdev"] if kjdev_so else [])
        port0 = env_int("COMPARE_PORT", 18700)
        port = {n: r.port(None, port0 + i) for i, n in enumerate(["plain", "ours", "ours-off", "kjdev"])}
        lo, lk = f"load_module {ours_so};", f"load_module {kjdev_so};"
        spec = {"plain": ("", "", LOC_PLAIN), "ours": (lo, "", LOC_PLAIN + LOC_OURS),
                "ours-off": (lo, "    jwt_peer_auth_token_cache off;", LOC_OURS), "kjdev": (lk, "", LOC_KJDEV)}
        both = "(kjdev not measured)"
        if kjdev_so:   # why not one instance with both: what nginx -t says
            t = r.nginx(CONF, "both", load=f"{lo}\n{lk}", http="", locations="", port=port["plain"], jwks=jwks)
            out = sh([NGINX, "-p", f"{r.work}/", "-c", t.conf, "-g", "error_log stderr;", "-t"])
            m = re.search(r'the duplicate[^"]*"[^"]*" variable', out.stderr)
            both = ("both load into one configuration (nginx -t passes)" if out.returncode == 0 else
                    f"`nginx -t` with both load_module lines: {m.group(0) if m else out.stderr.strip().splitlines()[-1]}")
            r.instances.remove(t)
        inst = {}
        r.chmod_readable()
        for n in names:
            load, http, locs = spec[n]
            ngx = inst[n] = r.nginx(CONF, n, load=load, http=http, locations=locs, port=port[n], jwks=jwks)
            ngx.binary = NGINX
            say(f"starting {NGINX} ({n}) on 127.0.0.1:{port[n]}")
            ngx.start(ready=lambda ngx=ngx: ngx.get("/ping", timeout=5).status == 204)
            for _ in range(50):
                if len(ngx.workers()) >= os.cpu_count():
                    break
                time.sleep(0.1)
            ngx.worker_pids = ngx.workers()
            if not ngx.worker_pids:
                raise Fail(f"nginx ({n}) has no workers")

        sanity = []
        code = lambda n, path, t=None: request(port[n], path, headers=bearer(t) if t else {}).status  # noqa: E731

        def check_location(label, n, path):
            parts, failed = [], False
            for what, t, want in [("valid token", token, 200)] + [(b, bad[b], 401) for b in bad] + [("no token", None, 401)]:
                c = code(n, path, t)
                parts.append(f"{what} {c}")
                failed |= c != want
            line = f"{label}: {', '.join(parts)}"
            say(f"sanity: {line}")
            if failed:
                raise Fail(f"FAILED: {label} must answer 200 to the valid token and 401 to every bad one")
            sanity.append(line)
        check_location("ours (cache on)", "ours", "/ours")
        check_location("ours (cache off)", "ours-off", "/ours")
        if kjdev_so:
            check_location("kjdev", "kjdev", "/kjdev")
        for n in ("plain", "ours"):
            if code(n, "/plain", token) != 200:
                raise Fail(f"{n} /plain does not answer 200")

        scen = [("plain", "plain", "/plain", 0, "plain NGINX, empty_gif, no module loaded (same Authorization header)"),
                ("plain-ours", "ours", "/plain", 0, "empty_gif, our module loaded but off for the location (same header)"),
                ("ours-1", "ours", "/ours", 0, "ours, one reused token (token cache on)")]
        if kjdev_so:
            scen.append(("kjdev-1", "kjdev", "/kjdev", 0, "kjdev, one reused token"))
        scen.append(("ours-n", "ours", "/ours", 1, f"ours, {ntokens} distinct tokens (cache on, all misses)"))
        if kjdev_so:
            scen.append(("kjdev-n", "kjdev", "/kjdev", 1, f"kjdev, {ntokens} distinct tokens"))
        scen.append(("ours-n-off", "ours-off", "/ours", 1, f"ours, {ntokens} distinct tokens, jwt_peer_auth_token_cache off"))
        S = {s[0]: {"inst": s[1], "path": s[2], "pool": s[3], "desc": s[4], "rps": [], "cpu": [], "oth": [], "st": [],
                    "verdict": "ok", "next": 0} for s in scen}
        load_before = wrk.loadavg()
        q = {"waited": 0.0, "missed": 0}

        def quiet_wait():   # COMPARE_QUIET: wait (at most that long) for a second with CPUs >= 80 % idle
            if quiet <= 0:
                return
            t0 = time.time()
            while time.time() - t0 < quiet:
                i0, a0 = idle_share_ticks()
                time.sleep(1)
                i1, a1 = idle_share_ticks()
                if (i1 - i0) * 100 >= (a1 - a0) * 80:
                    q["waited"] += time.time() - t0
                    return
            q["waited"] += time.time() - t0
            q["missed"] += 1

        def wrk_args(id, dur):
            s = S[id]
            url = f"http://127.0.0.1:{port[s['inst']]}{s['path']}"
            if s["pool"]:
                return [f"-t{threads}", f"-c{conns}", f"-d{dur}", "-s", "bench/tokens.lua", url, "--", pool, str(threads), "", str(s["next"])]
            return [f"-t{threads}", f"-c{conns}", f"-d{dur}", "-s", "bench/status.lua", "-H", f"Authorization: Bearer {token}", url]

        def measure(id, rnd):
            s = S[id]
            quiet_wait()
            res, cpu, oth = wrk.measure(wrk_args(id, duration), f"{r.work}/wrk-{id}-{rnd}.txt", inst[s["inst"]].worker_pids)
            v = res.verdict("200", f"round {rnd}: ")
            if s["verdict"] == "ok" and v != "ok":
                s["verdict"] = v
            s["rps"].append(res.rps or "-")
            s["cpu"].append(f"{cpu:.2f}" if cpu is not None else "-")
            s["oth"].append(f"{oth:.0f}")
            s["st"].append(res.statuses)
            if s["pool"]:
                s["next"] = (s["next"] + res.answered) % ntokens
            say(f"round {rnd}/{rounds} {id}: {res.rps or '?'} req/s, {s['cpu'][-1]} µs worker CPU/request, others {s['oth'][-1]} %, "
                f"statuses: {res.statuses_text or 'none'}")

        ids = [s[0] for s in scen]
        say(f"measuring: {rounds} rounds of {len(ids)} scenarios, {duration} each (about {wrk.seconds(duration) * len(ids) * rounds:.0f}s)")
        for rnd in range(1, rounds + 1):
            for j in range(len(ids)):
                measure(ids[(j + rnd - 1) % len(ids)], rnd)
        load_after = wrk.loadavg()

        # perf: where the CPU of a request goes.
        pf, perf_note = {}, ""
        perf_ids = [i for i in ("plain", "ours-1", "kjdev-1", "ours-n", "kjdev-n") if i in S]
        if have_perf:
            for id in perf_ids:
                data = f"{r.work}/perf-{id}.data"
                quiet_wait()
                say(f"perf: sampling {id}'s workers for {perf_secs}s")
                w = subprocess.Popen(["wrk", *wrk_args(id, f"{perf_secs + 2}s")], cwd=ROOT,
                                     stdout=open(f"{r.work}/wrk-perf-{id}.txt", "w"), stderr=subprocess.STDOUT)
                time.sleep(1)
                p = subprocess.run(["perf", "record", "-q", "-F", "4999", "-p", ",".join(map(str, inst[S[id]["inst"]].worker_pids)),
                                    "-o", data, "--", "sleep", str(perf_secs)], capture_output=True, text=True)
                w.wait()
                if p.returncode != 0:
                    perf_note = f"perf record failed: {(p.stdout + p.stderr).strip().splitlines()[-1:]}"
                    break
                rep = sh(["perf", "report", "-i", data, "--stdio", "-n", "--sort", "dso,sym", "-q"]).stdout
                open(f"{r.work}/perf-{id}.txt", "w").write(rep)
                parts = dict.fromkeys(("mod", "malloc", "libc", "crypto", "jansson", "nginx", "kernel", "other"), 0)
                total = 0
                for line in rep.splitlines():
                    f = line.split()
                    if len(f) < 5 or not f[1].isdigit():
                        continue
                    c, dso, sym = int(f[1]), f[2], f[4]
                    total += c
                    if re.match(r"^(ngx_http_jwt_peer_auth_module|ngx_http_auth_jwt_module)\.so$", dso):
                        parts["mod"] += c
                    elif dso.startswith("libc.so") and re.search(r"malloc|free|_int_|tcache|memalign|calloc|realloc|arena|sysmalloc|unlink_chunk|consolidate", sym):
                        parts["malloc"] += c
                    elif dso.startswith("libc.so"):
                        parts["libc"] += c
                    elif re.match(r"^(libcrypto|libssl)", dso):
                        parts["crypto"] += c
                    elif dso.startswith("libjansson"):
                        parts["jansson"] += c
                    elif dso == "nginx":
                        parts["nginx"] += c
                    elif "kernel" in dso:
                        parts["kernel"] += c
                    else:
                        parts["other"] += c
                pf[id] = (total, {p_: v / (total or 1) for p_, v in parts.items()})
        elif perf_secs > 0:
            perf_note = "perf is not installed: no attribution"
        nworkers = len(inst["ours"].worker_pids)

    def med(vals):
        n = [float(v) for v in vals if re.fullmatch(r"[0-9.]+", str(v))]
        return statistics.median(n) if n else None

    def fmt_rps(v):
        return "-" if v is None or v == "-" else f"{float(v):,.0f}"

    def fmt_cpu(v):
        return "-" if v is None or v == "-" else f"{float(v):.1f}"

    ok = lambda i: S.get(i, {}).get("verdict") == "ok"  # noqa: E731

    def rowcalc(op, metric, x, y):
        if not ok(x) or not ok(y):
            return "n/a", "n/a"
        key = "rps" if metric == "rps" else "cpu"
        f = (lambda a, b: f"{a / b:.2f}") if op == "div" else (lambda a, b: f"{a - b:+.1f}")
        per = ", ".join(f(float(a), float(b)) for a, b in zip(S[x][key], S[y][key]))
        return f(med(S[x][key]), med(S[y][key])), per

    def row(label, op, metric, x, y, cmp=None, target=None, text=""):
        v, per = rowcalc(op, metric, x, y)
        if cmp is None:
            return f"| {label} | {v} | {per} | | |"
        try:
            met = "**yes**" if (float(v) <= target if cmp == "le" else float(v) >= target) else "no"
        except ValueError:
            met = "n/a"
        return f"| {label} | {v} | {per} | {text} | {met} |"

    us = lambda share, id: share * med(S[id]["cpu"]) if med(S[id]["cpu"]) is not None else None  # noqa: E731
    L = ["# jwt_peer_auth against kjdev's nginx-auth-jwt and plain NGINX (Debian's NGINX)", "",
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {wrk.commit()}, by `bench/compare.sh`.", "",
         f"- Machine: {wrk.machine()}",
         f"- NGINX: {NGINX} {nginx_version} (Debian package {nginx_pkg}), worker_processes auto ({nworkers} workers), access_log off, loopback; every location answers with `empty_gif`",
         "- Ours: `build/debian/ngx_http_jwt_peer_auth_module.so` (scripts/build-debian.sh, cargo --release)"]
    if kjdev_so:
        L.append(f"- kjdev: nginx-auth-jwt {kjdev_commit}, built as a dynamic module the way Debian builds module packages ({kjdev_note})")
        if os.environ.get("KJDEV_NOTE"):
            L.append(f"- kjdev note (KJDEV_NOTE): {os.environ['KJDEV_NOTE']}")
    else:
        L.append("- kjdev: **not measured** (KJDEV_SRC not set; the script prints how to get it)")
    L += [f"- One NGINX binary, separate instances: {both}. The instance measured is the only busy one.",
          f"- {wrk.wrk_version()}: {threads} thread(s), {conns} connections, {duration} per scenario and round, {rounds} rounds interleaved (each round starts one scenario further); medians over the rounds",
          f"- Tokens: RS256, 2048-bit RSA key, the same JWKS file (the RSA key alone) for both modules, exp checked by both; the distinct-token scenarios cycle through {ntokens} tokens (more than our 4,096-entry cache per worker: no hits); each run continues where the last one over the pool stopped",
          f"- Load average before: {load_before}; after: {load_after}"]
    if quiet > 0:
        L.append(f"- COMPARE_QUIET={quiet}: before each measurement the run waited for a second with the CPUs ≥ 80 % idle: {q['waited']:.0f}s of waiting in all; {q['missed']} of {rounds * len(ids)} measurements started without one")
    L += ["", "Sanity (before measuring; a protected location that answered anything else would have failed the run):", ""]
    L += [f"- {s}" for s in sanity]
    L += ["", '"plain" and "plain-ours" receive the same `Authorization: Bearer` header as the reused-token',
          "scenarios, so NGINX's own request parsing is the same in all of them. Worker CPU: user + system",
          'time of the instance\'s workers (/proc/PID/stat) per answered request. "others": CPU other',
          "processes used meanwhile, as a share of all CPUs (median over the rounds).", "",
          "| scenario | | req/s (median) | worker CPU µs/req (median) | req/s per round | µs/req per round | others | statuses (all rounds) | result |",
          "|---|---|--:|--:|---|---|--:|---|---|"]
    for i in ids:
        s = S[i]
        st = {}
        for d in s["st"]:
            for c_, n in d.items():
                st[c_] = st.get(c_, 0) + n
        oth = med(s["oth"])
        L.append(f"| {i} | {s['desc']} | {fmt_rps(med(s['rps']))} | {fmt_cpu(med(s['cpu']))} | {', '.join(map(fmt_rps, s['rps']))} | "
                 f"{', '.join(map(fmt_cpu, s['cpu']))} | {'-' if oth is None else f'{oth:g}'} % | {' '.join(f'{c_}={n}' for c_, n in sorted(st.items()))} | {s['verdict']} |")
    L += ["", "| comparison | median | per round | target | met |", "|---|--:|---|--:|---|",
          row("ours-1 / plain, req/s", "div", "rps", "ours-1", "plain", "ge", 0.90, "≥ 0.90"),
          row("ours-1 − plain, worker µs/req", "sub", "cpu", "ours-1", "plain", "le", 1.0, "≤ 1.0"),
          row("ours-1 − plain-ours, worker µs/req", "sub", "cpu", "ours-1", "plain-ours"),
          row("plain-ours − plain, worker µs/req (module loaded, off)", "sub", "cpu", "plain-ours", "plain")]
    if kjdev_so:
        L += [row("ours-n / kjdev-n, worker CPU per request", "div", "cpu", "ours-n", "kjdev-n", "le", 0.85, "≤ 0.85"),
              row("ours-n-off / kjdev-n, worker CPU per request (cache off)", "div", "cpu", "ours-n-off", "kjdev-n", "le", 0.85, "≤ 0.85"),
              row("ours-n / kjdev-n, req/s", "div", "rps", "ours-n", "kjdev-n"),
              row("ours-1 / kjdev-1, req/s", "div", "rps", "ours-1", "kjdev-1"),
              row("kjdev-1 / plain, req/s", "div", "rps", "kjdev-1", "plain"),
              row("kjdev-1 − plain, worker µs/req", "sub", "cpu", "kjdev-1", "plain")]
    else:
        L.append("| ours-n / kjdev-n, worker CPU per request | not measured (no KJDEV_SRC) | | ≤ 0.85 | n/a |")
    L += [row("ours-n / plain, req/s", "div", "rps", "ours-n", "plain"),
          row("ours-n − plain, worker µs/req", "sub", "cpu", "ours-n", "plain"),
          row("ours-n − ours-n-off, worker µs/req (what the cache costs on a miss: digest, insert)", "sub", "cpu", "ours-n", "ours-n-off"), ""]
    if perf_note and not pf:
        L.append(f"Attribution: {perf_note}.")
    elif pf:
        L += [f"Attribution (`perf record -F 4999 -p <workers>` for {perf_secs}s during an extra run of each; cpu-clock",
              "samples of the workers, user and kernel): each part's share of the samples, and that share times",
              'the scenario\'s median worker CPU per request (µs). "module": samples in the module\'s own .so',
              '(ours includes ring and its SHA-256); NGINX functions a module calls count under "nginx", so',
              'it is a lower bound of the module\'s cost. "malloc/free": libc\'s allocator (NGINX\'s request pools',
              "use it too: compare with plain).", "",
              "| scenario | samples | module .so | malloc/free | libc other | libcrypto | jansson | nginx | kernel | other |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        for i in perf_ids:
            if i in pf:
                total, sh_ = pf[i]
                L.append(f"| {i} | {total}" + "".join(f" | {sh_[p_] * 100:.1f} % = {fmt_us(us(sh_[p_], i))} µs" for p_ in
                                                       ("mod", "malloc", "libc", "crypto", "jansson", "nginx", "kernel", "other")) + " |")
        L.append("")
        if "plain" in pf:
            for i in perf_ids:
                if i != "plain" and i in pf and None not in (us(0, i), us(0, "plain")):
                    s_, p_ = pf[i][1], pf["plain"][1]
                    m, a = us(s_["mod"], i), us(s_["malloc"], i) - us(p_["malloc"], "plain")
                    c_ = (us(s_["crypto"], i) - us(p_["crypto"], "plain")) + (us(s_["jansson"], i) - us(p_["jansson"], "plain"))
                    L.append(f"- {i}, the module's own CPU per request: {m:.2f} µs in the .so + {a:.2f} µs more malloc/free than plain "
                             f"+ {c_:.2f} µs more libcrypto/jansson = **{m + a + c_:.2f} µs**")
        if perf_note:
            L.append(f"- {perf_note}")
        L.append("")
    L.append("Raw wrk output: `build/compare/wrk-*.txt`; perf reports: `build/compare/perf-*.txt`.")
    os.makedirs(os.path.dirname(results), exist_ok=True)
    open(results, "w").write("\n".join(L) + "\n")
    print()
    print("\n".join(L))
    if not kjdev_so:
        print()
        howto()
    if not all(ok(i) for i in ids):
        raise Fail("FAILED: at least one scenario had unexpected answers (see the table)")


def fmt_us(v):
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    main("compare", run)
