# A verified request continues to the content phase: proxied upstreams, websocket upgrades.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_');
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            access_log logs/upstream.log;
            return 200 "upstream saw: $request_uri upgrade=$http_upgrade connection=$http_connection\n";
        }
    }
_EOC_
    $block->set_value('config', <<'_EOC_');
    location /netunnel/ {
        jwt_peer_auth "netunnel";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: valid token: the request is proxied
--- request
GET /netunnel/status
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
upstream saw: /netunnel/status upgrade= connection=upgrade



=== TEST 2: websocket-style upgrade with a valid token reaches the upstream with its headers
--- request
GET /netunnel/connect
--- more_headers eval
# (the test client closes the connection itself, so it sends no "Connection: Upgrade")
"Upgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
  . JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
upstream saw: /netunnel/connect upgrade=websocket connection=upgrade



=== TEST 3: websocket-style upgrade with an expired token never reaches the upstream
--- request
GET /netunnel/connect
--- more_headers eval
"Upgrade: websocket\n" . JwtPeerAuth::bearer('rsa', '--exp', '-1')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="netunnel", error="invalid_token", error_description="The access token expired"
--- response_body_unlike: upstream saw
