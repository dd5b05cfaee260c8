#!/usr/bin/env bash
# Memory check of the module under valgrind (memcheck): a subset of t/ run under valgrind
# (TEST_NGINX_USE_VALGRIND, with t/lib's runner or OpenResty's Test::Nginx), then the
# reload/fault sequences t/ cannot express (tools/ngxfix/valgrind.py: its docstring lists them
# and the settings), then one verdict over every valgrind log. scripts/valgrind.supp holds the
# known NGINX/OpenSSL/libc reports, each with its reason.
#
#   ./scripts/valgrind.sh                        # uses build/ as it is (run scripts/build.sh first)
#   VALGRIND_T_FILES="001-accept" ./scripts/valgrind.sh    # other t/ files ("" for none)
#   VALGRIND_SKIP_SEQUENCES=1 / VALGRIND_SKIP_RELOAD=1 ./scripts/valgrind.sh
#   TEST_NGINX_USE_VALGRIND=1 prove t/001-accept.t         # one file by hand (either runner)
#
# Exit status: 0 clean; 1 module errors or definite leaks, a crash, alerts or a failed t/ file;
# 3 module clean but a sequence request got an unexpected answer; 2 setup problem. Logs:
# build/valgrind/t/ (one per process) and build/valgrind/seq/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/valgrind.py "$@"
