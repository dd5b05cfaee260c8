#!/usr/bin/env bash
# Regenerates the fuzzing key set (fuzz/keys/jwks.json) and the seed corpora (fuzz/seeds/*)
# from fresh keys: build/jwt-mint for RSA, P-256, Ed25519 and the oct secret, openssl for a
# P-384 public key. Run scripts/build.sh first. Seed tokens expire in 2100, so they stay
# valid at the targets' fixed clock (fuzz_targets/common/mod.rs: NOW). The private keys are
# thrown away; rerun this script to mint more seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
mint=$PWD/build/jwt-mint
[ -x "$mint" ] || { echo "build/jwt-mint missing: run scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$mint" keygen "$tmp" >/dev/null

# P-384: the last 97 bytes of the SPKI DER are the uncompressed point 04 || x || y.
openssl ecparam -name secp384r1 -genkey -noout -out "$tmp/p384.pem" 2>/dev/null
openssl ec -in "$tmp/p384.pem" -pubout -outform DER 2>/dev/null | tail -c 97 >"$tmp/p384.point"
b64u() { basenc --base64url -w0 | tr -d '='; }
x=$(head -c 49 "$tmp/p384.point" | tail -c 48 | b64u)
y=$(tail -c 48 "$tmp/p384.point" | b64u)

# rsa unpinned (every RS*/PS* algorithm), rsa2 pinned to RS256, then ec, ed, ec384 and oct.
mkdir -p fuzz/keys
jq -c --argjson oct "$(cat "$tmp/jwks-oct.json")" --argjson rsa2 "$(cat "$tmp/rsa2.jwk.json")" \
    --arg x "$x" --arg y "$y" \
    '{keys: ([.keys[] | if .kid == "rsa" then del(.alg) else . end] + [$rsa2,
      {kty: "EC", kid: "ec384", crv: "P-384", x: $x, y: $y}] + $oct.keys)}' \
    "$tmp/jwks.json" >fuzz/keys/jwks.json

far='{"exp":4102444800,"nbf":1700000000,"aud":["a","b"],"iss":"jwthenticator"}'
s() { "$mint" sign "$tmp" "$@" --claims "$far" | tr -d '\n'; }
rm -rf fuzz/seeds && mkdir -p fuzz/seeds/{verify,verify_signed,jwks,json}
cd fuzz/seeds
s rsa >verify/rs256
s rsa --alg RS384 >verify/rs384
s rsa --alg RS512 >verify/rs512
s rsa --alg PS256 >verify/ps256
s rsa --alg PS512 >verify/ps512
s rsa2 >verify/rs256-pinned
s rsa --no-kid >verify/rs256-no-kid
s ec >verify/es256
s ed >verify/eddsa
s oct >verify/hs256
s oct --alg HS384 >verify/hs384
s oct --alg HS512 >verify/hs512
"$mint" sign "$tmp" rsa --exp -60 | tr -d '\n' >verify/expired-rs256
s rsa --header '{"alg":"none","typ":"JWT"}' --unsigned >verify/alg-none
s rsa --header '{"alg":"RS256","kid":"rsa","crit":["x"],"x":1}' >verify/crit
s rsa --header '{"alg":"RS256","kid":"rsa","jku":"http://127.0.0.1:1/k"}' >verify/jku
s rsa --alg PS256 --header '{"alg":"RS256","kid":"rsa"}' >verify/rs-header-ps-sig
s ec --corrupt >verify/es256-corrupt
printf 'Bearer %s' "$(cat verify/rs256)" >verify/bearer-rs256
printf '%s.eyJ4IjoxfQ.c2ln.aXY.dGFn' "$(cut -d. -f1 verify/rs256)" >verify/jwe

printf '{"alg":"HS256","kid":"oct"}\0{"exp":4102444800,"sub":"peer"}' >verify_signed/hs256
printf '{"alg":"HS512","typ":"JWT"}\0{"exp":4102444800,"nbf":1,"iat":1,"aud":["x"]}' >verify_signed/hs512-no-kid
printf '{"alg":"HS384","kid":"oct","b64":true}\0{"exp":4102444800,"n":{"a":[1,2.5,null,true]}}' >verify_signed/hs384
printf '{"alg":"HS256","crit":["b64"],"b64":false}\0{"exp":4102444800}' >verify_signed/crit
printf '{"alg":"HS256"}\0{"exp":"4102444800"}' >verify_signed/exp-string
printf '{"alg":"HS256"}\0{"exp":1e10}' >verify_signed/exp-float

cp ../keys/jwks.json jwks/fuzz-keys.json
cp ../../core/tests/fixtures/jwthenticator-jwks.json jwks/jwthenticator.json
printf '%s' '{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-521","x":"AA","y":"AA"},{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}' >jwks/skips.json
printf '%s' '{"keys":[{"kty":"oct","kid":"o","alg":"HS256","key_ops":["verify"],"k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}' >jwks/oct-padded.json

for f in verify/rs256 verify/es256 verify/hs512 verify/crit; do
    cut -d. -f1 "$f" | tr -d '\n' | basenc --base64url -d 2>/dev/null >"json/header-$(basename "$f")" || true
    cut -d. -f2 "$f" | tr -d '\n' | basenc --base64url -d 2>/dev/null >"json/payload-$(basename "$f")" || true
done
printf '%s' '{"a":{"b":[1,-0,1.5e300,"\u0000\ud83d\ude00",true,false,null]},"c":""}' >json/nested
cp ../keys/jwks.json json/jwks.json
echo "seeds: $(find . -type f | wc -l) files; keys: fuzz/keys/jwks.json"
