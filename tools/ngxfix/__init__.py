"""One way to run NGINX with the module outside t/: the fixture of scripts/ and bench/.

A Run owns a work directory under build/ with a snapshot of the binaries (a concurrent rebuild
cannot change what a reload loads mid-run), test keys minted by build/jwt-mint, configurations
written from templates, free loopback ports, and every NGINX it started (stopped on exit, also
on an error). Python 3 standard library only.

    from ngxfix import Run
    with Run("soak") as run:
        ks = run.key_service()                   # named states: ok, rotated, garbage, ...
        ngx = run.nginx(TEMPLATE, port=run.port("SOAK_PORT", 18600), ks=ks)
        ngx.start(); ngx.reload(); ngx.stop()

Templates use {{name}} placeholders (NGINX itself uses $ and @); {{work}}, {{module}},
{{keys}} and {{www}} are always known.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARIES = ("nginx", "ngx_http_jwt_peer_auth_module.so", "jwt-mint")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Fail(Exception):
    """A setup problem (exit status 2 by convention); the message says what."""


def say(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def main(prog, fn):
    """Runs fn() as a command: Fail -> exit 2 with its message, Ctrl-C -> 130."""
    try:
        sys.exit(fn() or 0)
    except Fail as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def env_int(name, default):
    v = os.environ.get(name, "")
    if v == "":
        return default
    if not re.fullmatch(r"\d+", v):
        raise Fail(f"{name} must be a number, not {v!r}")
    return int(v)


def need(*commands, install=None):
    """Fails unless every command is on PATH (first tries `scripts/deps.sh ci` if install)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing and install:
        subprocess.run([f"{ROOT}/scripts/deps.sh", "ci"], check=False)
        missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        raise Fail(f"{', '.join(missing)} missing (Debian: apt-get install {' '.join(missing)})")


def port_in_use(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port():
    """A loopback port nobody listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(template, **params):
    """{{name}} -> params[name]; an unknown name is an error, not an empty string."""
    def one(m):
        if m.group(1) not in params:
            raise Fail(f"template: no value for {{{{{m.group(1)}}}}}")
        return str(params[m.group(1)])
    for _ in range(3):   # a value may hold placeholders too (a snippet)
        template = re.sub(r"\{\{(\w+)\}\}", one, template)
    return template


# --- HTTP --------------------------------------------------------------------------------------
class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower())

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def request(port, path, method="GET", headers=None, body=None, timeout=60):
    """One request on its own connection; never raises for a status. Raises OSError when no
    answer came (refused, reset, timed out)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        hdrs = {}
        for k, v in r.getheaders():
            hdrs[k.lower()] = v if k.lower() not in hdrs else hdrs[k.lower()] + ", " + v
        return Response(r.status, hdrs, r.read())
    except http.client.HTTPException as e:
        raise OSError(f"bad answer: {e!r}") from e
    finally:
        conn.close()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- CPU ticks ---------------------------------------------------------------------------------
def busy_ticks():
    """CPU ticks the whole machine spent busy (all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def idle_share_ticks():
    """(idle + iowait, all) ticks of the machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[3] + v[4], sum(v)


def children_ticks():
    """CPU ticks (user + system) of this process's finished children."""
    t = os.times()
    return round((t.children_user + t.children_system) * CLK_TCK)


def proc_ticks(pid):
    """user + system CPU ticks of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- keys and tokens ---------------------------------------------------------------------------
class Keys:
    """The test keys of build/jwt-mint keygen and the tokens it signs."""

    def __init__(self, mint_bin, path):
        self.bin, self.path = mint_bin, path
        if not os.path.exists(f"{path}/rsa2.jwk.json"):
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([mint_bin, "keygen", path], check=True, stdout=subprocess.DEVNULL)

    def sign(self, key, *opts):
        """One token (jwt-mint sign KEY OPTS...)."""
        return self.pool(key, *opts)[0]

    def pool(self, key, *opts, count=None):
        args = [self.bin, "sign", self.path, key, *map(str, opts)]
        if count is not None:
            args += ["--count", str(count)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return out.split()

    def jwks(self, name="jwks.json"):
        with open(f"{self.path}/{name}") as f:
            return json.load(f)


# --- the key service ---------------------------------------------------------------------------
KEY_SERVICE_STATES = ("ok", "rotated", "garbage", "truncated", "empty", "oversized", "missing",
                      "slow", "down")


class KeyService:
    """A JWKS served by a server block of the NGINX under test, with named states:

    ok         the test keys (build/jwt-mint keygen's jwks.json)
    rotated    the same plus rsa2 (a new key: a new generation)
    garbage    HTML and binary bytes
    truncated  the first half of the JSON
    empty      {"keys": []}
    oversized  a valid JWKS padded past the module's 1 MiB limit
    missing    no file: 404
    slow       ok, sent at SLOW_RATE bytes/s (~3 s a fetch)
    down       the connection closed without an answer (444; the proxy answers 502)

    Each state is installed by an atomic rename; server_block() is the configuration snippet
    (locations /jwks, /slow and one per state file, /states/<name>, whatever the state)."""

    SLOW_RATE = 250

    def __init__(self, keys, directory, log_format=None):
        self.keys, self.dir = keys, directory
        self.states = f"{directory}/states"
        os.makedirs(f"{directory}/flags", exist_ok=True)
        os.makedirs(self.states, exist_ok=True)
        self.log_format = log_format
        good = keys.jwks()
        rsa2 = keys.jwks("rsa2.jwk.json")
        text = json.dumps(good)
        files = {
            "ok": text.encode(),
            "rotated": json.dumps({"keys": good["keys"] + [rsa2]}).encode(),
            "garbage": b"<html><body>502 Bad Gateway</body></html>\n\x00\xff\xfe" * 8,
            "truncated": text[: len(text) // 2].encode(),
            "empty": b'{"keys": []}',
            "oversized": json.dumps({"keys": good["keys"], "pad": "x" * (1024 * 1024 + 4096)}).encode(),
        }
        for name, data in files.items():
            with open(f"{self.states}/{name}.json", "wb") as f:
                f.write(data)
        self.history = []
        self.set_state("ok")

    def set_state(self, state):
        if state not in KEY_SERVICE_STATES:
            raise Fail(f"unknown key service state {state}")
        for flag in ("slow", "down"):
            try:
                os.unlink(f"{self.dir}/flags/{flag}")
            except FileNotFoundError:
                pass
        live = f"{self.dir}/jwks.json"
        if state == "missing":
            try:
                os.unlink(live)
            except FileNotFoundError:
                pass
        else:
            src = "ok" if state in ("slow", "down") else state
            shutil.copyfile(f"{self.states}/{src}.json", live + ".tmp")
            os.replace(live + ".tmp", live)
            if state in ("slow", "down"):
                open(f"{self.dir}/flags/{state}", "w").close()
        self.history.append((time.time(), state))

    def server_block(self, port, extra=""):
        log = f"access_log logs/keyservice.log {self.log_format};" if self.log_format else "access_log off;"
        return fill("""
    # The key service (ngxfix.KeyService), state set by the script.
    server {
        listen 127.0.0.1:{{port}};
        default_type application/json;
        {{log}}
        location = /jwks {
            if (-f {{dir}}/flags/down) { return 444; }
            if (-f {{dir}}/flags/slow) { rewrite ^ /slow last; }
            alias {{dir}}/jwks.json;
        }
        location = /slow { internal; limit_rate {{rate}}; alias {{dir}}/jwks.json; }
        location ~ ^/states/(\\w+)$ { alias {{dir}}/states/$1.json; }
        location = /states/slow { limit_rate {{rate}}; alias {{dir}}/states/ok.json; }
{{extra}}
    }
""", port=port, log=log, dir=self.dir, rate=self.SLOW_RATE, extra=extra)


# --- NGINX -------------------------------------------------------------------------------------
class Nginx:
    """One NGINX: its configuration file, its master, reload/upgrade/stop, its logs."""

    def __init__(self, run, name, template, params):
        self.run, self.name = run, name
        self.conf = f"{run.work}/conf/{name}.conf"
        self.pidfile = f"{run.work}/logs/{name}.pid"
        self.error_log = f"{run.work}/logs/{name}-error.log"
        self.params = dict(run.params(), name=name, pidfile=self.pidfile,
                           error_log=self.error_log, **params)
        self.template = template
        self.binary = None   # another NGINX than the run's snapshot of build/nginx
        self.proc = None
        self.pid = None
        self.seen_workers = set()
        self.write()

    def write(self, **changes):
        """(Re)writes the configuration from the template (atomically)."""
        self.params.update(changes)
        text = fill(self.template, **self.params)
        with open(self.conf + ".tmp", "w") as f:
            f.write(f"# Written by {os.path.basename(sys.argv[0])} (tools/ngxfix).\n" + text)
        os.replace(self.conf + ".tmp", self.conf)

    def cmd(self, *args):
        return [self.binary or self.run.bin("nginx"), "-p", f"{self.run.work}/", "-c", self.conf, *args]

    def test(self):
        r = subprocess.run(self.cmd("-t", "-q"), capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail(f"nginx -t failed ({self.conf}): {r.stderr.strip()}")

    def start(self, wrapper=(), ready=None, timeout=30, daemon=False):
        """Starts the master (daemon off unless daemon; wrapper: e.g. a valgrind command line)
        and waits until the pid file names a running master and ready() (if given) is true."""
        self.test()
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        self.stderr = open(f"{self.run.work}/logs/{self.name}-stderr.log", "ab")
        self.proc = subprocess.Popen([*wrapper, *self.cmd()], stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not daemon and self.proc.poll() is not None:
                raise Fail(f"nginx {self.name} exited with {self.proc.returncode}; see {self.run.work}/logs/")
            pid = self.read_pid()
            if pid and self.alive(pid):
                self.pid = pid
                try:
                    if ready is None or ready():
                        return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise Fail(f"nginx {self.name} not ready within {timeout} s; see {self.run.work}/logs/")

    def read_pid(self, path=None):
        try:
            with open(path or self.pidfile) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    @staticmethod
    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def workers(self):
        w = [p for p in children_of(self.pid)] if self.pid else []
        self.seen_workers.update(w)
        return w

    def worker_ticks(self):
        return sum(proc_ticks(p) for p in self.workers())

    def log_pos(self, path=None):
        try:
            return os.path.getsize(path or self.error_log)
        except OSError:
            return 0

    def wait_log(self, pattern, since=0, timeout=30, count=1, path=None):
        """Waits until the error log (from byte since) has count lines matching pattern."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            n = len([l for l in self.read_log(since, path).splitlines() if rx.search(l)])
            if n >= count:
                return n
            if time.time() > deadline:
                raise Fail(f"nginx {self.name}: no {count} lines /{pattern}/ in the log within {timeout} s")
            time.sleep(0.1)

    def read_log(self, since=0, path=None):
        try:
            with open(path or self.error_log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def reload(self, timeout=60):
        """SIGHUP, then waits for the new workers to start and the old ones to be gone."""
        old = set(self.workers())
        pos = self.log_pos()
        os.kill(self.pid, signal.SIGHUP)
        self.wait_log(r"reconfiguring$", pos, timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = set(self.workers())
            if now and not (now & old):
                return
            time.sleep(0.1)
        raise Fail(f"nginx {self.name}: the old workers did not exit within {timeout} s of a reload")

    def reload_signal(self):
        """`nginx -s reload` as an operator runs it (no wait); True if it was accepted."""
        return subprocess.run(self.cmd("-s", "reload"), capture_output=True).returncode == 0

    def upgrade(self, timeout=30):
        """Binary upgrade (needs a daemonized master): USR2, WINCH and QUIT to the old one."""
        old = self.pid
        os.kill(old, signal.SIGUSR2)
        deadline = time.time() + timeout
        while time.time() < deadline:
            new = self.read_pid()
            if new and new != old and self.alive(new):
                break
            time.sleep(0.1)
        else:
            raise Fail(f"nginx {self.name}: no new master within {timeout} s of USR2")
        os.kill(old, signal.SIGWINCH)
        os.kill(old, signal.SIGQUIT)
        self.wait_gone(old, timeout)
        self.pid = new

    def wait_gone(self, pid, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    return True
            elif not self.alive(pid):
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=30, sig=signal.SIGQUIT):
        """Graceful stop (QUIT), bounded: then KILL the master and every worker seen. Returns
        True if it stopped by itself."""
        if not self.pid and self.proc is None:
            return True
        pid = self.pid or self.proc.pid
        self.workers()
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        clean = self.wait_gone(pid, timeout)
        if not clean:
            for p in [pid, *self.seen_workers]:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.pid, self.proc = None, None
        return clean

    def get(self, path, port=None, **kw):
        return request(port or self.params["port"], path, **kw)


class Run:
    """A work directory build/<name>/ with the binaries' snapshot, keys and NGINX instances."""

    def __init__(self, name, keep=("keys",)):
        self.work = f"{ROOT}/build/{name}"
        for f in BINARIES:
            if not os.access(f"{ROOT}/build/{f}", os.X_OK):
                raise Fail(f"build/{f} is missing (run scripts/build.sh)")
        os.makedirs(self.work, exist_ok=True)
        for d in os.listdir(self.work):
            if d not in keep:
                p = f"{self.work}/{d}"
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        for d in ("bin", "conf", "logs", "www"):
            os.makedirs(f"{self.work}/{d}", exist_ok=True)
        for f in BINARIES:
            shutil.copy2(f"{ROOT}/build/{f}", f"{self.bin(f)}.tmp")
            os.replace(f"{self.bin(f)}.tmp", self.bin(f))
        with open(f"{self.work}/www/hello.txt", "w") as f:
            f.write("hello, peer\n")
        self.keys = Keys(self.bin("jwt-mint"), f"{self.work}/keys")
        self.instances = []
        self.reserved = set()

    def bin(self, name):
        return f"{self.work}/bin/{name}"

    def params(self):
        return {"work": self.work, "module": self.bin("ngx_http_jwt_peer_auth_module.so"),
                "keys": self.keys.path, "www": f"{self.work}/www"}

    def port(self, env=None, default=None):
        """The port in $env (or default) if set and free, else a free one; never one already
        handed out by this run."""
        want = env_int(env, default) if env else default
        if want:
            if port_in_use(want) or want in self.reserved:
                if env and os.environ.get(env):
                    raise Fail(f"port {want} is in use (set {env})")
                want = None
        while not want or want in self.reserved:
            want = free_port()
        self.reserved.add(want)
        return want

    def key_service(self, log_format=None):
        return KeyService(self.keys, f"{self.work}/jwks", log_format)

    def nginx(self, template, name="nginx", **params):
        n = Nginx(self, name, template, params)
        self.instances.append(n)
        return n

    def chmod_readable(self):
        """Workers run as nobody under a root master: everything readable."""
        for d, dirs, files in os.walk(self.work):
            for x in dirs + files:
                p = os.path.join(d, x)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o444 | (0o111 if os.path.isdir(p) else 0))
        os.chmod(self.work, 0o755)

    def __enter__(self):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return self

    def __exit__(self, *exc):
        for n in self.instances:
            n.stop(timeout=20)
        return False
