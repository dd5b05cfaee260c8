"""Load and reload soak (bench/soak.sh runs this; its header says what, how and the settings)."""
import collections
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import ROOT, Fail, Run, env_int, main, request, rss_kib, say  # noqa: E402
from ngxfix import wrk  # noqa: E402

MIX = "valid=50,bad_sig=7,expired=7,unknown_kid=7,malformed=5,invalid_request=2,alg_none=6,alg_confusion=6,missing=10"
POISON_MIX = "poison_malformed=40,poison_alg=40,poison_kid=20"
# One state per tick; every failing or slow state is followed by "ok" (failures back off and a
# slow fetch holds the lease ~3 s), so each state is really fetched whatever came before.
STATES = "missing ok garbage ok truncated ok empty ok down ok oversized ok slow ok rotated ok".split()
REASON = {"bad_sig": "signature", "expired": "expired", "unknown_kid": "unknown_kid", "malformed": "malformed",
          "alg_none": "algorithm", "alg_confusion": "algorithm", "missing": "missing", "valid": "ok",
          "invalid_request": "invalid_request", "poison_malformed": "malformed", "poison_alg": "algorithm",
          "poison_kid": "unknown_kid"}

CONF = r"""
load_module {{module}};
daemon off;
worker_processes 2;
worker_shutdown_timeout 15s;
error_log {{error_log}} info;
pid {{pidfile}};
events { worker_connections 1024; }
http {
    default_type text/plain;
    log_format soak '$msec $arg_kind $status $jwt_peer_auth_status $request_time $pid';
    # The key service's log: the client headers a key request must never carry ("-": absent).
    log_format soak_jwks '$msec $status $body_bytes_sent $request_time $request_method'
                         ' range=$http_range|inm=$http_if_none_match|ae=$http_accept_encoding'
                         '|cookie=$http_cookie|auth=$http_authorization';
    access_log logs/access.log soak buffer=64k flush=1s;
    server {
        listen 127.0.0.1:{{port}};
        location /p/ {
            jwt_peer_auth "soak";
            jwt_peer_auth_key_request /_jwks;
            jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s;
            alias {{www}}/;
        }
        location = /_jwks {
            internal;
            # Nothing hidden here: the module sends no client header (the key service's log).
            proxy_connect_timeout 2s;
            proxy_read_timeout 10s;
            proxy_pass http://127.0.0.1:{{ks_port}}/jwks;
        }
        location = /status { allow 127.0.0.1; deny all; jwt_peer_auth off; jwt_peer_auth_status; }
    }
{{key_service}}
}
"""


def tokens(k, path, valid_exp, poison):
    rows = []
    if not poison:
        for key, n in (("rsa", 4), ("ec", 2), ("ed", 2)):
            rows += [("valid", f"Bearer {t}") for t in k.pool(key, "--exp", valid_exp, count=n)]
        rows += [("bad_sig", f"Bearer {k.sign(key, '--corrupt')}") for key in ("rsa", "ec", "ed")]
        rows.append(("bad_sig", f"Bearer {k.sign('rsa2', '--kid', 'rsa')}"))   # another key's signature
        rows.append(("expired", f"Bearer {k.sign('rsa', '--exp', '-60')}"))
        rows.append(("expired", f"Bearer {k.sign('ec', '--exp', '-86400')}"))
        rows += [("unknown_kid", f"Bearer {k.sign('rsa', '--kid', kid)}") for kid in ("nosuch-1", "nosuch-2", "nosuch-3")]
        good = k.sign("rsa")
        rows += [("malformed", f"Bearer {t}") for t in ("abc", good.rsplit(".", 1)[0], good + ".x", good + "=", "e30.e30.e30")]
        rows.append(("invalid_request", "Bearer a b"))   # RFC 6750 section 3.1: 400
        for header, unsigned in (('{"alg":"none","typ":"JWT"}', True), ('{"alg":"NONE","kid":"rsa"}', True),
                                 ('{"alg":"none","kid":"rsa"}', False)):
            rows.append(("alg_none", "Bearer " + k.sign("rsa", "--header", header, *(["--unsigned"] if unsigned else []))))
        for f in ("rsa.pub.pem", "rsa.pub.der"):
            rows.append(("alg_confusion", f"Bearer {k.sign('rsa', '--secret-file', f'{k.path}/{f}', '--alg', 'HS256')}"))
        rows += [("missing", "-"), ("missing", "Basic dXNlcjpwYXNz"), ("invalid_request", "Bearer")]
    else:
        rows.append(("poison_malformed", "Bearer x"))
        rows.append(("poison_alg", f"Bearer {k.sign('oct', '--exp', valid_exp)}"))   # HS256, not allowed here
        rows.append(("poison_alg", f"Bearer {k.sign('oct', '--alg', 'HS512', '--exp', valid_exp)}"))
        rows.append(("poison_alg", "Bearer " + k.sign("rsa", "--header", '{"alg":"none","kid":"rsa"}', "--unsigned")))
        rows += [("poison_kid", f"Bearer {k.sign('rsa', '--kid', kid, '--exp', valid_exp)}") for kid in ("poison-1", "poison-2")]
    with open(path, "w") as f:
        f.write("".join(f"{a}\t{b}\n" for a, b in rows))


def run():
    duration = env_int("SOAK_DURATION", 180)
    conns = env_int("SOAK_CONNECTIONS", 16)
    poison_conns = env_int("SOAK_POISON_CONNECTIONS", 2)
    interval = env_int("SOAK_FLAP_INTERVAL", 2)
    reload_every = env_int("SOAK_RELOAD_EVERY", 2)
    delay_ms = env_int("SOAK_DELAY_MS", 0)
    if duration < 10:
        raise Fail("SOAK_DURATION must be a number of seconds >= 10")
    if interval < 1 or reload_every < 1 or poison_conns < 1:
        raise Fail("SOAK_FLAP_INTERVAL, SOAK_RELOAD_EVERY and SOAK_POISON_CONNECTIONS must be >= 1")
    wrk.need_wrk()
    if not os.environ.get("SOAK_SKIP_BUILD"):
        subprocess.run([f"{ROOT}/scripts/build.sh"], check=True)
    results = f"{ROOT}/bench/results/soak-latest.md"
    with Run("soak") as r:
        port, ks_port = r.port("SOAK_PORT", 18600), r.port()
        ks = r.key_service(log_format="soak_jwks")
        valid_exp = str(duration + 3600)
        tok, ptok = f"{r.work}/tokens.tsv", f"{r.work}/poison-tokens.tsv"
        tokens(r.keys, tok, valid_exp, False)
        tokens(r.keys, ptok, valid_exp, True)
        ngx = r.nginx(CONF, port=port, ks_port=ks_port, key_service=ks.server_block(ks_port))
        r.chmod_readable()
        say(f"starting NGINX on 127.0.0.1:{port} (key service on {ks_port})")
        valid_auth = open(tok).readline().split("\t")[1].strip()
        ngx.start(ready=lambda: request(port, "/p/hello.txt?kind=warmup", headers={"Authorization": valid_auth}).status == 200)
        rss_log = open(f"{r.work}/logs/rss.log", "w")

        def sample_rss():
            now = int(time.time())
            rss_log.write(f"{now} {ngx.pid} 0 {rss_kib(ngx.pid)} nginx: master process\n")
            for w in ngx.workers():
                try:
                    title = open(f"/proc/{w}/cmdline").read().replace("\0", " ").strip()
                except OSError:
                    continue
                rss_log.write(f"{now} {w} {ngx.pid} {rss_kib(w)} {title}\n")
            rss_log.flush()

        say(f"soak for {duration}s: flap every {interval}s, reload every {interval * reload_every}s, wrk -c{conns}")
        sample_rss()
        wrk_cmd = lambda c, t, mix, mode, out: subprocess.Popen(  # noqa: E731
            ["timeout", "--signal=INT", str(duration + 30), "wrk", "-t1", f"-c{c}", f"-d{duration}s", "--timeout", "10s",
             "-s", "bench/soak.lua", f"http://127.0.0.1:{port}/p/hello.txt", "--", t, mix, mode, str(delay_ms)],
            cwd=ROOT, stdout=open(out, "w"), stderr=subprocess.STDOUT)
        main_wrk = wrk_cmd(conns, tok, MIX, "", f"{r.work}/logs/wrk.txt")
        poison_wrk = wrk_cmd(poison_conns, ptok, POISON_MIX, "poison", f"{r.work}/logs/wrk-poison.txt")
        wrk_started = int(time.time()) + 1
        start, tick, reloads, died = time.time(), 0, 0, False
        try:
            while tick < duration // interval + 5 and time.time() - start < duration:
                time.sleep(interval)
                tick += 1
                if main_wrk.poll() is not None:
                    break
                if not ngx.alive(ngx.pid):
                    died = True
                    break
                if time.time() - start >= duration - 1:
                    break
                sample_rss()   # before this tick's reload: each generation's first sample is warm
                state = STATES[(tick - 1) % len(STATES)]
                ks.set_state(state)
                if tick % reload_every == 0:
                    # The same configuration files: the fetched keys are kept (see the header).
                    if ngx.reload_signal():
                        reloads += 1
                if tick % 10 == 0:
                    say(f"t={time.time() - start:.0f}s: {reloads} reloads, state {state}")
            wrk_rc, poison_rc = main_wrk.wait(), poison_wrk.wait()
        finally:
            for p in (main_wrk, poison_wrk):
                if p.poll() is None:
                    p.terminate()
                    p.wait()
        ks.set_state("ok")
        time.sleep(4)   # a fetch under way (a slow one takes ~3 s) ends before the status is read
        sample_rss()
        died = died or not ngx.alive(ngx.pid)
        status_json = status_prom = ""
        try:
            status_json = request(port, "/status").text()
            status_prom = request(port, "/status?format=prometheus").text()
        except OSError:
            pass
        open(f"{r.work}/logs/status.json", "w").write(status_json)
        open(f"{r.work}/logs/status.prom", "w").write(status_prom)
        stopped = False if died else ngx.stop(timeout=20)
        with open(f"{r.work}/logs/states.log", "w") as f:
            f.write("".join(f"{t:.3f} {s}\n" for t, s in ks.history))
        report = analyse(r, ngx, ks, results, locals())
    print(report, end="")
    return 0 if "## Verdict: PASS" in report else 1


def analyse(r, ngx, ks, results, v):
    logs = f"{r.work}/logs"
    access = [l.split() for l in open(f"{logs}/access.log").read().splitlines()]
    access = [a for a in access if len(a) >= 4 and a[1] not in ("-", "warmup")]
    errlog = ngx.read_log()
    jwks_lines = open(f"{logs}/keyservice.log").read().splitlines() if os.path.exists(f"{logs}/keyservice.log") else []
    kinds = [s.split("=")[0] for s in (MIX + "," + POISON_MIX).split(",")]
    total, by, reasons, codes = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter), set()
    for a in access:
        c = "2xx" if a[2].startswith("2") else a[2]
        total[a[1]] += 1
        by[a[1], c] += 1
        codes.add(c)
        reasons[a[1]][a[3]] += 1
    cl = sorted(codes)
    table = ["| kind | requests |" + "".join(f" {c} |" for c in cl) + " $jwt_peer_auth_status |",
             "|---|--:|" + "--:|" * len(cl) + "---|"]
    for k in kinds:
        table.append(f"| {k} | {total[k]} |" + "".join(f" {by[k, c]} |" for c in cl)
                     + " " + " ".join(f"{x}={n}" for x, n in reasons[k].items()) + " |")
    total_reqs = len(access)
    invalid_2xx = sum(1 for a in access if a[1] != "valid" and a[2].startswith("2"))
    valid_total = sum(1 for a in access if a[1] == "valid")
    valid_non2xx = sum(1 for a in access if a[1] == "valid" and not a[2].startswith("2"))
    invalid_non401 = sum(1 for a in access if a[1] != "valid" and a[2] != ("400" if a[1] == "invalid_request" else "401"))
    wrong_reason = sum(1 for a in access if a[1] in REASON and a[3] != REASON[a[1]])
    kinds_seen = len(total)
    poison_total = sum(n for k, n in total.items() if k.startswith("poison_"))
    count = lambda rx: len(re.findall(rx, errlog, re.M))  # noqa: E731
    n_signal, n_alert, n_crit, n_emerg = count("exited on signal"), count(r"\[alert\]"), count(r"\[crit\]"), count(r"\[emerg\]")
    n_panic = count(r"internal error \(panic\)")
    reloads_seen = count(r"#[0-9]+: reconfiguring$")
    fetch_ok = count(r'key request "/_jwks": [0-9]* keys')
    fetch_failed = count(r'key request "/_jwks" failed')
    gens = [int(g) for g in re.findall(r'key request "/_jwks": .*generation ([0-9]+)', errlog)]
    fr = collections.Counter(
        re.sub(r"line [0-9]+ column [0-9]+", "line L column C", re.sub(r"[0-9]+ bytes", "N bytes", f"{m[0]} ({m[1]})"))
        for m in re.findall(r'key request "/_jwks" failed: (.*); (keeping the last good keys|no keys yet)', errlog))
    other = collections.Counter(
        re.sub(r"[0-9]+", "N", re.sub(r", client: .*", "", re.sub(r"^[0-9/: ]+\[error\] [0-9]+#[0-9]+: \*?[0-9]* ?", "", l)))
        for l in errlog.splitlines() if "[error]" in l and 'key request "/_jwks" failed' not in l)
    clean = re.compile(r"^GET range=-[|]inm=-[|]ae=-[|]cookie=-[|]auth=-$")
    jwks_leaked = sum(1 for l in jwks_lines if len(l.split()) < 6 or not clean.match(" ".join(l.split()[4:6])))
    jwks_fetches = " ".join(f"{s}={n}" for s, n in collections.Counter(l.split()[1] for l in jwks_lines if l.split()).items())
    state_counts = " ".join(f"{s}={n}" for s, n in collections.Counter(s for _, s in ks.history).items())
    w, pw = wrk.Result(f"{logs}/wrk.txt"), wrk.Result(f"{logs}/wrk-poison.txt")
    non2xx = re.search(r"^\s*Non-2xx or 3xx responses:\s*(\S+)", open(f"{logs}/wrk.txt").read(), re.M)
    # Worker generations: workers started after the k-th "reconfiguring" are generation k.
    gen_of, g = {}, 0
    for l in errlog.splitlines():
        if re.search(r"#[0-9]+: reconfiguring$", l):
            g += 1
        m = re.search(r"start worker process ([0-9]+)$", l)
        if m:
            gen_of[m.group(1)] = g
    master, first, last, samples, order = [], {}, {}, collections.Counter(), []
    for l in open(f"{logs}/rss.log").read().splitlines():
        t, pid, _, rss, title = l.split(" ", 4)
        if "master" in title:
            master.append(int(rss))
            continue
        if "shutting down" in title or int(t) < v["wrk_started"]:
            continue
        gg = gen_of.get(pid, "?")
        if gg not in order:
            order.append(gg)
        first.setdefault((gg, pid), int(rss))
        last[gg, pid] = int(rss)
        samples[gg, pid] += 1
    gen_rows = []
    for gg in order:
        pids = [p for (x, p) in first if x == gg]
        f, la = sum(first[gg, p] for p in pids), sum(last[gg, p] for p in pids)
        grow = any(first[gg, p] > 0 and last[gg, p] > 1.2 * first[gg, p] for p in pids)
        gen_rows.append((gg, " ".join(pids), f, la, max(samples[gg, p] for p in pids), grow))

    fails, warns = [], []
    if v["died"]:
        fails.append("the NGINX master exited during the run")
    elif not v["stopped"]:
        fails.append("NGINX did not stop within 20 s of SIGQUIT")
    if total_reqs == 0:
        fails.append("no requests in the access log")
    if kinds_seen != len(kinds):
        fails.append(f"only {kinds_seen} of {len(kinds)} request kinds were seen")
    if invalid_2xx:
        fails.append(f"{invalid_2xx} requests with an invalid or missing token got 2xx")
    if valid_non2xx:
        fails.append(f"{valid_non2xx} requests with a valid token did not get 2xx")
    for n, what in ((n_signal, "'exited on signal'"), (n_alert, "[alert]"), (n_crit, "[crit]"), (n_emerg, "[emerg]")):
        if n:
            fails.append(f"{n} {what} lines in the error log")
    if v["reloads"] == 0:
        fails.append("no reload was made")
    if reloads_seen != v["reloads"]:
        fails.append(f"{v['reloads']} reloads sent, {reloads_seen} seen by NGINX")
    if v["wrk_rc"]:
        fails.append(f"wrk exited with {v['wrk_rc']}")
    if v["poison_rc"]:
        fails.append(f"the header-poisoning wrk exited with {v['poison_rc']}")
    if poison_total == 0:
        fails.append("no request of the header-poisoning client in the access log")
    if not jwks_lines:
        fails.append("the key service logged no request")
    if jwks_leaked:
        fails.append(f"{jwks_leaked} key requests reached the key service with a client header (Range, If-None-Match, Accept-Encoding, Cookie, Authorization) or another method than GET")
    if invalid_non401:
        warns.append(f"{invalid_non401} refused requests answered other than 401 (400 for invalid_request; see the table)")
    if wrong_reason:
        warns.append(f"{wrong_reason} requests with an unexpected $jwt_peer_auth_status (see the table)")
    wrk_note = ""
    if w.socket_errors:
        wrk_note = " (read errors: old workers close idle keep-alive connections at each reload, while wrk may be sending on them, the standard graceful shutdown)"
        if re.search(r"[1-9]", re.sub(r"read [0-9]*", "", w.socket_errors)):
            warns.append(f"wrk socket errors: {w.socket_errors}")
    if fetch_ok + fetch_failed > len(jwks_lines):
        warns.append(f"{fetch_ok + fetch_failed} fetch outcomes logged for {len(jwks_lines)} requests to the key service: some fetches were counted twice")
    grown = ",".join(str(x[0]) for x in gen_rows if x[5])
    if grown:
        warns.append(f"worker RSS grew > 20% within generation(s) {grown}")
    if master and master[-1] > master[0] * 12 // 10:
        warns.append(f"master RSS grew > 20%: {master[0]} -> {master[-1]} KiB")
    if gen_rows and gen_rows[-1][3] > gen_rows[0][3] * 12 // 10:
        warns.append(f"workers of the last generation use > 20% more RSS than the first: {gen_rows[0][3]} -> {gen_rows[-1][3]} KiB")
    try:
        import json
        rq = json.loads(open(f"{logs}/status.json").read())["requests"]
        counted_ok, counted_all = rq["ok"], sum(rq.values())
    except (ValueError, KeyError):
        counted_ok = counted_all = "?"
    if counted_ok != valid_total + 1 or counted_all != total_reqs + 1:
        warns.append(f"status page counters (ok {counted_ok}, all {counted_all}) differ from the access log (ok {valid_total}, all {total_reqs}, + 1 warm-up)")
    verdict = "FAIL" if fails else "PASS"
    d = v["duration"]
    nginx_v = subprocess.run([r.bin("nginx"), "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    L = ["# jwt_peer_auth soak: load, key-service flaps and reloads", "",
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {wrk.commit()}, by `bench/soak.sh` (SOAK_DURATION={d}).", "",
         f"- {os.cpu_count()} CPUs, NGINX {nginx_v}, worker_processes 2, error_log info, loopback only",
         f"- wrk: 1 thread, {v['conns']} connections, pause {v['delay_ms']} ms, {d}s, {w.rps} req/s; mix per 100 requests: `{MIX}`",
         f"- header-poisoning wrk: 1 thread, {v['poison_conns']} connections, {pw.rps} req/s, `Range: bytes=0-0`, `If-None-Match: *`, `Accept-Encoding: gzip`, `Cookie: a=b` on every request; mix: `{POISON_MIX}`",
         f"- key service flapped every {v['interval']}s through `{' '.join(STATES)}`; `jwt_peer_auth_key_cache 2s stale=1h min_refresh=1s`",
         f"- reloads every {v['interval'] * v['reload_every']}s, configuration unchanged (fetched keys kept)", "",
         f"## Verdict: {verdict}", ""]
    L += [f"- FAIL: {f}" for f in fails] + [f"- WARN: {x}" for x in warns]
    if not fails and not warns:
        L.append("- no failure, no warning")
    L += ["", "## Requests per kind (access log)", "",
          f"{total_reqs} requests; invalid or missing token answered 2xx: **{invalid_2xx}**; valid token answered non-2xx: **{valid_non2xx}** of {valid_total}.",
          "", *table, "",
          f"wrk's own count: {w.statuses_text or 'none'}{f' (non-2xx: {non2xx.group(1)})' if non2xx else ''}; socket errors: {w.socket_errors or 'none'}{wrk_note}.",
          f"Header-poisoning wrk's own count: {pw.statuses_text or 'none'}.", "",
          "## Key service and reloads", "",
          f"- states set: {state_counts}",
          f"- key service requests: {len(jwks_lines)} (by status: {jwks_fetches or 'none'}); with a client header or not a GET: **{jwks_leaked}**",
          f"- fetches published: {fetch_ok} (last generation {max(gens) if gens else 'none'}); fetch failures logged: {fetch_failed}",
          f"- reloads sent: {v['reloads']}, seen by NGINX (`reconfiguring`): {reloads_seen}",
          f"- status page counters: ok {counted_ok}, all {counted_all} (access log: {valid_total} valid, {total_reqs} in all, + 1 warm-up request)", ""]
    if fr:
        L += ["| failed fetches | why |", "|--:|---|"] + [f"| {n} | {why} |" for why, n in fr.most_common()] + [""]
    L += ["## Error log", "", f"exited on signal: {n_signal}, [alert]: {n_alert}, [crit]: {n_crit}, [emerg]: {n_emerg}, panics: {n_panic}."]
    if other:
        L += ["", "Other `[error]` lines (numbers as N):", "", "```"] + [f"{n:7} {x}" for x, n in other.most_common(10)] + ["```"]
    if n_signal + n_alert + n_crit + n_emerg:
        L += ["", "```"] + [l for l in errlog.splitlines() if re.search(r"exited on signal|\[(alert|crit|emerg)\]", l)][:20] + ["```"]
    L += ["", f"## Worker RSS (KiB, sampled every {v['interval']}s)", "",
          f"Master: {master[0] if master else '?'} at start, {master[-1] if master else '?'} at the end.", "",
          "| generation | worker pids | RSS first sample (sum) | RSS last sample (sum) | samples | > 20% growth |",
          "|--:|---|--:|--:|--:|---|"]
    L += [f"| {a} | {b} | {c} | {dd} | {e} | {'WARN' if f else ''} |" for a, b, c, dd, e, f in gen_rows]
    L += ["", "## Status page at the end", "", "```json", open(f"{logs}/status.json").read(), "```", "",
          "Logs: `build/soak/logs/` (access.log, nginx-error.log, keyservice.log, states.log, rss.log, wrk.txt, wrk-poison.txt)."]
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(results), exist_ok=True)
    open(results, "w").write(text)
    if valid_non2xx or invalid_2xx:
        say("first unexpected answers (epoch kind status reason request_time pid), with the key service state then:")
        bad = [a for a in access if (a[1] == "valid") != a[2].startswith("2")][:10]
        print("\n".join(" ".join(a) for a in bad), file=sys.stderr)
        print("".join(f"{t:.3f} {s}\n" for t, s in ks.history[-20:]), file=sys.stderr)
    return text


if __name__ == "__main__":
    main("soak", run)
