# Every configuration error fails to start (nginx -t alike) with an [emerg] naming the problem.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
no_shuffle();

# A revocation state file that is a symbolic link (TEST 41), outside the server root.
use File::Temp ();
our $LINK_DIR = File::Temp::tempdir('jwt-peer-auth-link-XXXXXX', TMPDIR => 1, CLEANUP => 1);
symlink('/etc/passwd', "$LINK_DIR/link.json") or die "symlink: $!";
$ENV{TEST_NGINX_STATE_LINK} = "$LINK_DIR/link.json";
run_tests();

__DATA__

=== TEST 1: unreadable JWKS file
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/does-not-exist.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file": cannot read ".*does-not-exist\.json": No such file or directory/



=== TEST 2: JWKS file that is not JSON
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/bad.json;
--- user_files
>>> bad.json
{"keys": [
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file": invalid JWKS in ".*bad\.json": invalid JSON/



=== TEST 3: JWKS without a "keys" array
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/nokeys.json;
--- user_files
>>> nokeys.json
{"kty": "RSA"}
--- must_die
--- error_log eval
qr/\[emerg\].*invalid JWKS in ".*nokeys\.json": no "keys" array/



=== TEST 4: JWKS with no usable key names each skipped key
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/unusable.json;
--- user_files
>>> unusable.json
{"keys": [{"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"}, {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "", "y": ""}]}
--- must_die
--- error_log eval
qr/\[emerg\].*no usable key \(key #0 kid "tiny": RSA modulus of 17 bits \(need 2048 to 8192\); key #1 kid "enc": "use" is "enc", not "sig"\)/



=== TEST 5: unknown algorithm name
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms RS256 XS256;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_algorithms": unknown algorithm "XS256"/



=== TEST 6: "none" is refused as an algorithm
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms RS256 none;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_algorithms": the "none" algorithm is never accepted/



=== TEST 7: bad time value for the leeway
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_leeway soon;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_leeway": invalid time value "soon"/



=== TEST 8: jwt_peer_auth on without any key source
--- config
    location /p {
        jwt_peer_auth "peers";
        alias html;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*jwt_peer_auth: "jwt_peer_auth" is enabled \(in .*nginx\.conf:\d+\) but no key source is configured: add "jwt_peer_auth_jwks_file" or "jwt_peer_auth_key_request"/



=== TEST 9: keys that cannot verify any allowed algorithm
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks-oct.json;
--- must_die
--- error_log eval
qr/\[emerg\].*no key in ".*jwks-oct\.json" can verify any of the allowed algorithms \(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA\)/



=== TEST 10: a realm that cannot be quoted
--- config
    jwt_peer_auth 'pe"ers';
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": invalid character '"' in realm/



=== TEST 11: duplicate directive
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_leeway 5s;
    jwt_peer_auth_leeway 10s;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_leeway" directive is duplicate/



=== TEST 12: wrong number of arguments
--- config
    jwt_peer_auth;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth" directive/



=== TEST 13: skipped keys in a usable JWKS are warned about, and the rest is used
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/mixed.json;
    location /p { alias html; }
--- user_files eval
my $jwks = do { local (@ARGV, $/) = ("$JwtPeerAuth::KEYS/jwks.json"); <> };
$jwks =~ s/^\{"keys":\[/{"keys":[{"kty":"XYZ","kid":"odd"},/ or die "unexpected jwks: $jwks";
[["mixed.json" => $jwks], ["index.html" => "ok\n"]]
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('ec')
--- error_code: 200
--- error_log
skipped key #0 kid "odd": unsupported "kty" "XYZ"



=== TEST 14: key request URI that is not a local path
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request http://127.0.0.1:5050/jwks;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": invalid URI "http:\/\/127\.0\.0\.1:5050\/jwks": a local path like "\/_jwks" is expected/



=== TEST 15: bad key cache time and unknown parameter
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 5m stale=forever;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_cache": invalid time value "forever"/



=== TEST 16: unknown key cache parameter
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 5m fresh=1m;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_cache": invalid parameter "fresh=1m"/



=== TEST 17: zone without a size
--- http_config
    jwt_peer_auth_zone peers;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_zone": invalid zone "peers": "name:size" is expected/



=== TEST 18: zone too small
--- http_config
    jwt_peer_auth_zone peers:8k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_zone": zone "peers" is too small \(at least 32k\)/



=== TEST 19: zone is an http-level directive
--- config
    jwt_peer_auth_zone peers:1m;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_zone" directive is not allowed here/



=== TEST 20: a named zone is used for fetched keys
--- http_config
    jwt_peer_auth_zone peers:256k;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { alias $TEST_NGINX_JWT_KEYS/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200



=== TEST 21: token= needs a variable
--- config
    jwt_peer_auth "peers" token=abc;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": "token=" needs a variable, not "abc"/



=== TEST 22: unknown parameter of jwt_peer_auth
--- config
    jwt_peer_auth "peers" cookie=jwt;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": invalid parameter "cookie=jwt"/



=== TEST 23: jwt_peer_auth_claim needs a name and at least one value
--- config
    jwt_peer_auth_claim iss;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth_claim" directive/



=== TEST 24: jwt_peer_auth_require error= accepts 401 or 403 only
--- config
    jwt_peer_auth_require $arg_ok error=500;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_require": invalid "error=" value "500": 401 or 403 is expected/



=== TEST 25: jwt_peer_auth_require needs a value besides error=
--- config
    jwt_peer_auth_require error=403;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_require": no value to check/



=== TEST 26: bad max_age
--- config
    jwt_peer_auth_max_age old;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_max_age": invalid time value "old"/



=== TEST 27: a claim value with an unknown variable
--- config
    jwt_peer_auth_claim aud $no_such_variable;
--- must_die
--- error_log eval
qr/\[emerg\].*unknown "no_such_variable" variable/



=== TEST 28: jwt_peer_auth_revocation_check without a revocation list
--- config
    jwt_peer_auth_revocation_check identifier;
--- must_die
--- error_log eval
qr/\[emerg\].*jwt_peer_auth: "jwt_peer_auth_revocation_check" \(in .*nginx\.conf:\d+\) needs "jwt_peer_auth_revocation zone=name:size" in the http block/



=== TEST 29: jwt_peer_auth_revocation_api without a revocation list
--- config
    location = /revocations { jwt_peer_auth_revocation_api; }
--- must_die
--- error_log eval
qr/\[emerg\].*jwt_peer_auth: "jwt_peer_auth_revocation_api" \(in .*nginx\.conf:\d+\) needs "jwt_peer_auth_revocation zone=name:size" in the http block/



=== TEST 30: jwt_peer_auth_revocation needs zone=
--- http_config
    jwt_peer_auth_revocation ttl=1h;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": "zone=name:size" is required/



=== TEST 31: jwt_peer_auth_revocation: a zone without a size, a tiny zone
--- http_config
    jwt_peer_auth_revocation zone=rev;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": invalid zone "rev": "name:size" is expected/



=== TEST 32: jwt_peer_auth_revocation: a zone below 32k
--- http_config
    jwt_peer_auth_revocation zone=rev:8k;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": zone "rev" is too small \(at least 32k\)/



=== TEST 33: jwt_peer_auth_revocation: unknown parameter
--- http_config
    jwt_peer_auth_revocation zone=rev:1m persist=/tmp/x;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": invalid parameter "persist=\/tmp\/x"/



=== TEST 34: jwt_peer_auth_revocation: ttl of 0 or more than a year
--- http_config
    jwt_peer_auth_revocation zone=rev:1m ttl=400d;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": invalid "ttl=" value "400d" \(1s to 366d\)/



=== TEST 35: jwt_peer_auth_revocation twice
--- http_config
    jwt_peer_auth_revocation zone=rev:1m;
    jwt_peer_auth_revocation zone=rev2:1m;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation" directive is duplicate/



=== TEST 36: the revocation zone cannot share its name with the key zone
--- http_config
    jwt_peer_auth_zone shared:1m;
    jwt_peer_auth_revocation zone=shared:1m;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*the shared memory zone "shared" is already declared for a different use/



=== TEST 37: jwt_peer_auth_revocation_check: an unsupported header member, "off" with names
--- http_config
    jwt_peer_auth_revocation zone=rev:1m;
--- config
    location /a { jwt_peer_auth_revocation_check identifier header.alg; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation_check": invalid name "header\.alg": "header\.alg" is not supported: "header\.kid" is the only header member/



=== TEST 38: jwt_peer_auth_revocation_check: "off" cannot be combined with names
--- http_config
    jwt_peer_auth_revocation zone=rev:1m;
--- config
    location /a { jwt_peer_auth_revocation_check off identifier; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation_check": "off" cannot be combined with names/



=== TEST 39: a state file that is not a revocation state file
--- http_config
    jwt_peer_auth_revocation zone=rev:1m state=$TEST_NGINX_HTML_DIR/state.json;
--- user_files
>>> state.json
{"keys": []}
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": damaged state file ".*state\.json": no "jwt_peer_auth_revocation" version: not a revocation state file/



=== TEST 40: the state file's directory must exist
--- http_config
    jwt_peer_auth_revocation zone=rev:1m state=$TEST_NGINX_HTML_DIR/no-such-dir/state.json;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": the state file's directory ".*no-such-dir": No such file or directory/



=== TEST 41: a state file that is a symbolic link is refused (the master reads it as root)
--- http_config
    jwt_peer_auth_revocation zone=rev:1m state=$TEST_NGINX_STATE_LINK;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": state file ".*link\.json" is a symbolic link/



=== TEST 42: jwt_peer_auth_revocation: ttl= given twice
--- http_config
    jwt_peer_auth_revocation zone=rev:1m ttl=1h ttl=2h;
--- config
    jwt_peer_auth off;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": invalid parameter "ttl=2h"/



=== TEST 43: jwt_peer_auth_jwks_file: an empty "issuer=" value
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file": invalid "issuer=" value "": is empty/



=== TEST 44: jwt_peer_auth_key_request: a second parameter that is not "issuer="
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks iss=A;
    location = /_jwks { internal; return 200 "{}"; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": invalid parameter "iss=A": "issuer=string" is expected/



=== TEST 45: jwt_peer_auth_key_request: an "issuer=" value with a control character
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks "issuer=A\tB";
    location = /_jwks { internal; return 200 "{}"; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": invalid "issuer=" value "A\\tB": contains a control character/



=== TEST 46: the same JWKS file twice at one level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=A;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=A;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file": duplicate key source ".*jwks\.json"/



=== TEST 47: the same key request twice at one level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; return 200 "{}"; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": duplicate key source "\/_jwks"/



=== TEST 48: more than 8 key sources at one level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /k1;
    jwt_peer_auth_key_request /k2;
    jwt_peer_auth_key_request /k3;
    jwt_peer_auth_key_request /k4;
    jwt_peer_auth_key_request /k5;
    jwt_peer_auth_key_request /k6;
    jwt_peer_auth_key_request /k7;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=A;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file": too many key sources at one level \(at most 8/



=== TEST 49: jwt_peer_auth_jwks_file with three parameters
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=A issuer=B;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth_jwks_file" directive/



=== TEST 50: the same key request with and without "issuer=", and under two issuers, is allowed
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_request /_jwks issuer=A;
    jwt_peer_auth_key_request /_jwks issuer=B;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json issuer=A;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /_jwks { internal; return 200 "{}"; }
    location = /t { jwt_peer_auth off; return 200 "started\n"; }
--- request
GET /t
--- response_body
started
