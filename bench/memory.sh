#!/usr/bin/env bash
# Memory of the verified-token cache: sends MEM_TOKENS distinct valid tokens (default 100000)
# to NGINX with one worker, with wrk, exactly one pass (every token once), then a second pass,
# for each cache size in MEM_CACHE_SIZES (default "off 4096 100000"), and reports the worker's
# RSS before and after each pass and the growth per cache entry held (one worker: the entries
# held are exactly min(tokens, cache size)). With a bounded cache the RSS stays flat however many
# distinct tokens arrive, and flat on the second pass. Writes bench/results/memory-latest.md
# (MEM_OUT to write elsewhere).
#
# The tokens are shaped like JWThenticator's (RS256, 2048-bit key, kid, typ, and the claims
# identifier, token_id, iat, exp, plus sub and jti): about 611 bytes.
#
#   MEM_MODULE   the module to load (default build/ngx_http_jwt_peer_auth_module.so), to compare
#                builds; MEM_LABEL names it in the table
#   MEM_PORT     port on 127.0.0.1 (default 18560; a free one if that is taken)
#   MEM_KEY      jwt-mint key to sign with (default rsa; "ed" mints a million tokens in seconds
#                instead of a quarter of an hour: an entry holds no signature, so its size
#                does not depend on the algorithm beyond the few bytes of its header)
# MEM_APPEND=1 appends to MEM_OUT instead of starting it anew. The work is done by
# tools/ngxfix/memory.py, on the shared fixture (tools/ngxfix).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/ngxfix/memory.py "$@"
