# What an outside review of the glue found, each as a test: a key request shares nothing with
# the client's request (not even NGINX's variable cache), key fetches through aio, and a
# decision carried across an internal redirect only where it is valid (the same key source,
# the same token; an error page in a protected location is checked again).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Two workers, a cold zone per block. The key service refuses a key request that carries client
# credentials or no Host.
JwtPeerAuth::setup(
    between_hooks => 0,
    http_config => JwtPeerAuth::key_service(<<'_EOC_'),
        location = /jwks {
            if ($http_authorization) { return 403; }
            if ($http_cookie) { return 409; }
            if ($http_host = "") { return 400; }
            alias $TEST_NGINX_HTML_DIR/jwks.json;
        }
        # An echo backend for protected locations.
        location / { return 200 "host=[$http_x_host] peer=[$http_x_peer] uri=$uri\n"; }
_EOC_
    user_files => [["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')],
                   ["partner.jwks" => JwtPeerAuth::jwks('rsa')],
                   ["admin.jwks" => JwtPeerAuth::jwks('ec')],
                   ["index.html" => "secret\n"]],
);

run_tests();

__DATA__

=== TEST 1: a key request gets its own variable cache: client credentials cached by the server level never reach the key service
--- config
    set $seen "$http_authorization$http_cookie";
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header Authorization $http_authorization;
    proxy_set_header Cookie $http_cookie;
    proxy_set_header X-Host $http_host;
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- request
GET /p/x
--- more_headers eval
JwtPeerAuth::bearer('rsa') . "\nCookie: session=SECRET"
--- error_code: 200
--- response_body
host=[localhost] peer=[] uri=/p/x
--- error_log eval
qr/key request "\/_jwks": 2 keys/
--- no_error_log
failed



=== TEST 2: claim variables are empty in a key request (a background refresh carries no identity)
--- config
    proxy_set_header X-Peer $jwt_claim_sub;
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/echo-peer; }
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        default_type application/json;
        location = /echo-peer {
            if ($http_x_peer) { return 403; }
            alias $TEST_NGINX_HTML_DIR/jwks.json;
        }
        location / { return 200 "peer=[$http_x_peer]\n"; }
    }
--- request
GET /p/x
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"alice"}')
--- error_code: 200
--- response_body
peer=[alice]



=== TEST 3: a key location served with aio threads loads its keys
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; aio threads; default_type application/json; alias html/jwks.json; }
    location /p { alias html/; }
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- timeout: 5
--- error_code: 200
--- response_body
secret



=== TEST 4: try_files into a location that trusts other keys verifies from scratch
--- config
    location /partner/ {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/partner.jwks;
        try_files $uri @admin;
    }
    location @admin {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/admin.jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /admin/ {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/admin.jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request eval
["GET /partner/nothing-here", "GET /admin/x", "GET /partner/nothing-here"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('ec')]
--- error_code eval
[401, 200, 401]
--- response_body_unlike eval
["uri=", "secret", "uri="]



=== TEST 5: an error page's own redirect into a protected location is refused
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    error_page 401 /errors/401.html;
    location /errors/ { jwt_peer_auth off; try_files $uri /app/index.html; }
    location /app/ { alias html/; }
--- request
GET /app/index.html
--- error_code: 401
--- response_body_unlike
secret
--- response_headers
WWW-Authenticate: Bearer realm="peers"
