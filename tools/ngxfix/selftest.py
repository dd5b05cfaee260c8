"""Self-test of the fixture's NGINX control (python3 tools/ngxfix/selftest.py; scripts/test.sh
runs it): a daemonized master started from a template, a reload (new workers, old ones gone),
a binary upgrade (USR2, WINCH, QUIT: a new master serves), a log line waited for, a clean stop.
Every step must also answer a valid token with 200."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ngxfix import Fail, Run, bearer, main  # noqa: E402

CONF = r"""
load_module {{module}};
daemon on;
worker_processes 1;
error_log {{error_log}} info;
pid {{pidfile}};
events { worker_connections 64; }
http {
    server {
        listen 127.0.0.1:{{port}};
        location /p/ { jwt_peer_auth "u"; jwt_peer_auth_jwks_file {{keys}}/jwks.json; alias {{www}}/; }
    }
}
"""


def run():
    with Run("fixture-selftest") as r:
        n = r.nginx(CONF, port=r.port())
        r.chmod_readable()
        tok = r.keys.sign("rsa")
        ok = lambda: n.get("/p/hello.txt", headers=bearer(tok)).status == 200  # noqa: E731
        n.start(daemon=True, ready=ok)
        first = n.pid
        n.reload()
        if not ok():
            raise Fail("no 200 after a reload")
        n.upgrade()
        if n.pid == first or not ok():
            raise Fail("no new master serving after a binary upgrade")
        n.wait_log(r"start worker process", count=3)
        if not n.stop():
            raise Fail("NGINX did not stop on QUIT")
        print("fixture self-test: PASS (start, reload, binary upgrade, log line, stop)")


if __name__ == "__main__":
    main("selftest", run)
