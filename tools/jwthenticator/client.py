#!/usr/bin/env python3
"""Gets an access token from a running JWThenticator and prints only the token.

    client.py [--url URL] [--key KEY] [--identifier UUID] [--no-register] [--json]

It does what a peer does: POST /register_key {"key", "identifier"} (201; JWThenticator's
"internal" API, idempotent: an existing key only gets its expiry renewed), then
POST /authenticate {"key", "identifier"} (200 {"jwt", "refresh_token"}), and prints the "jwt".
--json prints the whole /authenticate answer instead. Standard library only, so any python3 runs it.
"""
import argparse
import json
import sys
import urllib.error
import urllib.request


def post(url: str, body: dict, expect: int) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        # No proxies: JWThenticator runs on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            status, data = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, data = err.code, err.read()
    if status != expect:
        sys.exit(f"client.py: POST {url}: HTTP {status} (expected {expect}): "
                 f"{data.decode(errors='replace')}")
    return json.loads(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:8090",
                        help="JWThenticator base URL (default http://127.0.0.1:8090)")
    parser.add_argument("--key", default="jwt-peer-auth-test-key",
                        help="the peer's secret key (any string) to register and authenticate with")
    parser.add_argument("--identifier", default="11111111-2222-3333-4444-555555555555",
                        help="the peer's UUID; becomes the token's 'identifier' claim")
    parser.add_argument("--no-register", action="store_true",
                        help="skip /register_key (the key is registered already)")
    parser.add_argument("--json", action="store_true",
                        help="print the whole /authenticate answer (jwt and refresh_token)")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    body = {"key": args.key, "identifier": args.identifier}
    if not args.no_register:
        result = post(f"{base}/register_key", body, 201)
        if result.get("result") is not True:
            sys.exit(f"client.py: /register_key answered {result}")
    tokens = post(f"{base}/authenticate", body, 200)
    print(json.dumps(tokens) if args.json else tokens["jwt"])


if __name__ == "__main__":
    main()
