# Every bad token is refused with 401, an RFC 6750 challenge and one log line naming why.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

log_level('info');
no_shuffle();

my $invalid = 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"';

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
_EOC_
    }
    $block->set_value('user_files', ">>> index.html\nsecret\n") unless defined $block->user_files;
    $block->set_value('request', "GET /p/index.html") unless defined $block->request;
    $block->set_value('error_code', 401) unless defined $block->error_code;
    $block->set_value('response_headers', $invalid) unless defined $block->response_headers;
    $block->set_value('response_body_unlike', 'secret') unless defined $block->response_body_unlike;
});

run_tests();

__DATA__

=== TEST 1: no Authorization header: challenge without error code
--- response_headers
WWW-Authenticate: Bearer realm="peers"
--- error_log
jwt_peer_auth: token rejected: missing (no "Authorization" header)



=== TEST 2: another scheme counts as no bearer token
--- more_headers
Authorization: Basic dXNlcjpwYXNz
--- response_headers
WWW-Authenticate: Bearer realm="peers"
--- error_log
jwt_peer_auth: token rejected: missing (no "Bearer" credentials)



=== TEST 3: "Bearer" with two tokens
--- more_headers eval
"Authorization: Bearer " . JwtPeerAuth::token('rsa') . " Bearer " . JwtPeerAuth::token('rsa')
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 4: not a JWT at all
--- more_headers
Authorization: Bearer abc
--- error_log
jwt_peer_auth: token rejected: malformed (not three dot-separated parts)



=== TEST 5: bad base64url in the header part
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiJ9x.eyJleHAiOjF9.c2ln
--- error_log
jwt_peer_auth: token rejected: malformed (header is not base64url)



=== TEST 6: header part is base64url of something that is not JSON
--- more_headers eval
# "not json" base64url-encoded
"Authorization: Bearer bm90IGpzb24.eyJleHAiOjF9.c2ln"
--- error_log
jwt_peer_auth: token rejected: malformed (header is not a JSON object)



=== TEST 7: expired
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--exp', '-60')
--- error_log eval
qr/jwt_peer_auth: token rejected: expired \(token expired at \d+, now \d+, leeway 0s\)/



=== TEST 8: nbf in the future
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token is not valid yet"
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--nbf', '600')
--- error_log eval
qr/jwt_peer_auth: token rejected: not_yet_valid \("nbf" \d+ is in the future/



=== TEST 9: missing exp
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--no-exp')
--- error_log
jwt_peer_auth: token rejected: claim (no "exp" claim)



=== TEST 10: wrong signature (one bit flipped)
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--corrupt')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 11: signed by another key that claims a configured kid
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--kid', 'rsa')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 12: unknown kid
--- more_headers eval
JwtPeerAuth::bearer('rsa2')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "rsa2")



=== TEST 13: alg none, unsigned
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"none","typ":"JWT"}', '--unsigned')
--- error_log
jwt_peer_auth: token rejected: algorithm (unsigned token, alg "none")



=== TEST 14: HS256 signed with the RSA public key (PEM) as HMAC secret
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"HS256","kid":"rsa"}',
    '--secret-file', "$JwtPeerAuth::KEYS/rsa.pub.pem")
--- error_log
jwt_peer_auth: token rejected: algorithm (alg not allowed "HS256")



=== TEST 15: HS256 with the public key as secret stays refused even when HS256 is allowed
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms RS256 HS256;
    location /p { alias html; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"HS256","kid":"rsa"}',
    '--secret-file', "$JwtPeerAuth::KEYS/rsa.pub.der")
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "HS256")



=== TEST 16: algorithm outside the allow-list
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms ES256;
    location /p { alias html; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_log
jwt_peer_auth: token rejected: algorithm (alg not allowed "RS256")



=== TEST 17: unknown critical header parameter
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"rsa","crit":["x-custom"],"x-custom":1}')
--- error_log
jwt_peer_auth: token rejected: malformed (unsupported "crit" header parameter)



=== TEST 18: jku pointing elsewhere does not select a key
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--header', '{"alg":"RS256","kid":"rsa2","jku":"http://127.0.0.1:1/jwks.json"}')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "rsa2")



=== TEST 19: the refusal is logged at info level: silent at the default "error" level
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"
--- http_config
    error_log logs/error.log error;
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--exp', '-60')
--- no_error_log
token rejected
