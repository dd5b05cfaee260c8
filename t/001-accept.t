# Valid tokens reach the content phase; jwt_peer_auth on/off inheritance both ways.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid RS256 token gets the protected file
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
protected content
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
protected content
--- no_error_log
jwt_peer_auth: token rejected



=== TEST 2: without a token the same location answers 401
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
protected content
--- request
GET /p/index.html
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="peers"
--- response_body_unlike: protected content



=== TEST 3: ES256 and EdDSA tokens are accepted by default
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('ed')]
--- error_code eval
[200, 200]
--- response_body eval
["ok\n", "ok\n"]



=== TEST 4: a JWThenticator-shaped token (RS256, kid, typ; token_id, identifier, iat, exp)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims',
    '{"token_id":"d68827c9-13bd-4b91-b47e-ad17f6959c63","identifier":"11111111-2222-3333-4444-555555555555"}')
--- error_code: 200



=== TEST 5: a token without kid is checked against the keys that fit its alg
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('ed', '--no-kid')
--- error_code: 200



=== TEST 6: the scheme is case-insensitive
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
"Authorization: bEARER " . JwtPeerAuth::token('rsa')
--- error_code: 200



=== TEST 7: server protected, one location opened with "off"
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html; }
    location /open { jwt_peer_auth off; alias html; }
--- user_files
>>> index.html
public
--- request eval
["GET /open/index.html", "GET /p/index.html"]
--- error_code eval
[200, 401]



=== TEST 8: server open, one location protected (the reverse)
--- config
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { jwt_peer_auth "inner"; alias html; }
    location /open { alias html; }
--- user_files
>>> index.html
public
--- request eval
["GET /open/index.html", "GET /p/index.html"]
--- error_code eval
[200, 401]
--- response_headers eval
["!WWW-Authenticate", "WWW-Authenticate: Bearer realm=\"inner\""]



=== TEST 9: set at http level, inherited by the server, "off" in a nested location
--- http_config
    jwt_peer_auth "http-level";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- config
    location /p {
        alias html;
        location /p/open { jwt_peer_auth off; alias html; }
    }
--- user_files
>>> index.html
hi
--- request eval
["GET /p/index.html", "GET /p/open/index.html"]
--- error_code eval
[401, 200]
--- response_headers eval
["WWW-Authenticate: Bearer realm=\"http-level\"", "!WWW-Authenticate"]



=== TEST 10: leeway accepts a token expired a few seconds ago
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_leeway 1m;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--exp', '-10')
--- error_code: 200



=== TEST 11: HS256 with a kty "oct" key when explicitly allowed
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks-oct.json;
    jwt_peer_auth_algorithms HS256;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('oct')
--- error_code: 200



=== TEST 12: a narrowed allow-list still accepts what it lists
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms ES256 EdDSA;
    location /p { alias html; }
--- user_files
>>> index.html
ok
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('ed')
--- error_code: 200
