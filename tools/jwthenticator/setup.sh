#!/usr/bin/env bash
# Creates a Python venv with the real JWThenticator (requirements.txt) and prints the path of its
# python on stdout (everything else goes to stderr), so callers can do:
#
#   PY=$(tools/jwthenticator/setup.sh)
#   "$PY" tools/jwthenticator/serve.py --state-dir build/jwth --port 8090
#
# The venv is build/venv, or $JWTH_VENV. Idempotent: pip only runs when requirements.txt changed
# since the last successful install. Needs python3 with venv support (Debian: python3-venv, which
# is installed with apt-get when missing and running as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${JWTH_VENV:-$root/build/venv}
req=$here/requirements.txt
stamp=$venv/.jwthenticator-requirements

command -v python3 >/dev/null || { echo "setup.sh: python3 is required" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
    echo "setup.sh: creating $venv" >&2
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >&2; then
        # Debian's python3 cannot make venvs (no ensurepip) until python3-venv is installed.
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "setup.sh: installing python3-venv" >&2
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
            python3 -m venv "$venv" >&2
        else
            echo "setup.sh: python3 cannot create a venv; install python3-venv (Debian) first" >&2
            exit 1
        fi
    fi
fi
if ! cmp -s "$req" "$stamp" || ! "$venv/bin/python" -c 'import importlib.metadata as m; m.version("jwthenticator")' 2>/dev/null; then
    echo "setup.sh: installing $(grep -v '^#' "$req" | xargs) into $venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
fi
echo "$venv/bin/python"
