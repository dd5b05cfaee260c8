"""wrk runs with CPU accounting, shared by bench/run.sh, bench/compare.sh and bench/memory.sh."""
import os
import re
import shutil
import subprocess
import time

from ngxfix import CLK_TCK, ROOT, Fail, busy_ticks, children_ticks, proc_ticks, say


def need_wrk():
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing wrk")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
    if not shutil.which("wrk"):
        raise Fail("wrk is missing (Debian: apt-get install wrk)")


def to_ms(v):
    """wrk duration (850.00us, 1.20ms, 2.00s, 1.00m) -> milliseconds, "?" if not one."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", v or "")
    if not m:
        return "?"
    return f"{float(m.group(1)) * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000}[m.group(2)]:.2f}"


def seconds(d):
    m = re.fullmatch(r"([0-9.]+)([smh]?)", d)
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else 0


class Result:
    """What one wrk run printed (with bench/status.lua or tokens.lua: a statuses line)."""

    def __init__(self, out):
        self.path = out
        text = open(out, errors="replace").read() if os.path.exists(out) else ""
        m = re.search(r"^Requests/sec:\s*(\S+)", text, re.M)
        self.rps = m.group(1) if m else ""
        self.p50 = to_ms(next(iter(re.findall(r"^\s*50%\s+(\S+)", text, re.M)), ""))
        self.p99 = to_ms(next(iter(re.findall(r"^\s*99%\s+(\S+)", text, re.M)), ""))
        m = re.search(r"^statuses:\s*(.*)$", text, re.M)
        self.statuses_text = m.group(1).strip() if m else ""
        self.statuses = {int(k): int(v) for k, v in re.findall(r"(\d+)=(\d+)", self.statuses_text)}
        m = re.search(r"^\s*Socket errors:\s*(.*)$", text, re.M)
        self.socket_errors = m.group(1).strip() if m else ""
        self.answered = sum(self.statuses.values())

    def unexpected(self, expect):
        """Statuses other than expected ("2xx" or a code), as "code=n ..."."""
        def bad(code):
            return not (200 <= code <= 299) if expect == "2xx" else code != int(expect)
        return " ".join(f"{k}={v}" for k, v in self.statuses.items() if v > 0 and bad(k))

    def verdict(self, expect, prefix=""):
        rel = os.path.relpath(self.path, ROOT)
        if not self.rps or not self.statuses_text:
            return f"FAILED ({prefix}no wrk result, see {rel})"
        if self.unexpected(expect):
            return f"FAILED ({prefix}unexpected {self.unexpected(expect)})"
        if self.socket_errors:
            return f"FAILED ({prefix}{self.socket_errors})"
        return "ok"


def measure(args, out, worker_pids, other_pids=(), nproc=None):
    """Runs wrk ARGS (output to out) and accounts its CPU: returns (Result, cpu_us per
    answered request of the workers, others % of all CPUs: the machine's busy time minus the
    workers', other_pids' and wrk's)."""
    nproc = nproc or os.cpu_count()
    w0 = sum(proc_ticks(p) for p in worker_pids)
    m0 = sum(proc_ticks(p) for p in other_pids)
    b0, k0, t0 = busy_ticks(), children_ticks(), time.time()
    with open(out, "w") as f:
        subprocess.run(["wrk", *args], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    b1, k1, t1 = busy_ticks(), children_ticks(), time.time()
    w1 = sum(proc_ticks(p) for p in worker_pids)
    m1 = sum(proc_ticks(p) for p in other_pids)
    r = Result(out)
    cpu = (w1 - w0) * 1e6 / CLK_TCK / r.answered if r.answered else None
    others = max(0.0, ((b1 - b0) - (w1 - w0) - (m1 - m0) - (k1 - k0)) / CLK_TCK / (t1 - t0) / nproc * 100)
    return r, cpu, others


def fmt(v, f="%.1f"):
    return "-" if v is None or v == "" else (f % v if isinstance(v, float) else str(v))


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPUs (`nproc`), {cpu}, Linux {os.uname().release}"


def commit():
    c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "core", "Cargo.toml", "Cargo.lock",
                            "build.rs"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return (c or "unknown") + (" + uncommitted changes" if dirty else "")


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def wrk_version():
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return " ".join((out.stdout + out.stderr).splitlines()[0].split()[:2])
