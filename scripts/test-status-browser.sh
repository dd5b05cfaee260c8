#!/usr/bin/env bash
# The HTML status page in headless Chromium: the DOM the browser built (key sources, escaped
# kids, warnings, counters that move) and a screenshot, build/status-page.png. The checks and
# settings are described in tools/ngxfix/status_browser.py (on the shared fixture, tools/ngxfix).
#
#   ./scripts/test-status-browser.sh          # uses build/ as it is (run scripts/build.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/status_browser.py "$@"
