# The per-worker verified-token cache: same results as a fresh verification, never past exp,
# dropped when keys change, never crossing locations whose policy or keys differ.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Token-cache counters from the status page.
sub cache_counts { JwtPeerAuth::cache_counts() }

# The runner's single process (the cache is per worker); counters start at zero in each block
# (a zone of its own), also under TEST_NGINX_USE_HUP=1.
JwtPeerAuth::setup(workers => 0, user_files => ">>> index.html\nok\n");

run_tests();

__DATA__

=== TEST 1: a cache hit gives the same variables as the fresh verification
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Id $jwt_claim_identifier;
        add_header X-Aud $jwt_claim_aud;
        add_header X-Kid $jwt_header_kid;
        add_header X-Payload $jwt_payload;
        add_header X-Status $jwt_peer_auth_status;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $h = JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-5","aud":["a","b"]}');
[$h, $h]
--- between_1
my ($hits, $misses) = main::cache_counts();
Test::More::is("$hits/$misses", "1/1", 'first request missed, second hit');
--- response_headers eval
["X-Id: peer-5\nX-Aud: [\"a\",\"b\"]\nX-Kid: rsa\nX-Status: ok", "X-Id: peer-5\nX-Aud: [\"a\",\"b\"]\nX-Kid: rsa\nX-Status: ok"]
--- response_headers_like eval
["X-Payload: \"identifier\":\"peer-5\"", "X-Payload: \"identifier\":\"peer-5\""]
--- error_code eval
[200, 200]



=== TEST 2: a cached token is refused once it expires
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
# Minted when the block is read, before NGINX starts: the lifetime covers a slow start, and
# between_1 waits for the token's own exp rather than a fixed time.
$main::expiring = JwtPeerAuth::token('rsa', '--exp', '10');
[("Authorization: Bearer $main::expiring") x 3]
--- between_1
JwtPeerAuth::sleep_past_exp($main::expiring);
--- between_2
my ($hits, $misses) = main::cache_counts();
Test::More::is("$hits/$misses", "2/1", 'served from the cache, and refused from it once expired');
--- error_code eval
[200, 200, 401]



=== TEST 3: a key removed from the fetched JWKS stops its cached tokens after the refresh
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 5m min_refresh=1s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $ec = JwtPeerAuth::bearer('ec');
[$ec, $ec, JwtPeerAuth::bearer('ed'), $ec]
--- between_1
# The ec key is rotated out; the ed key comes in. The ed token's unknown kid triggers the
# refetch that publishes the new set.
JwtPeerAuth::write_file("$html/jwks.json", JwtPeerAuth::jwks('rsa', 'ed'));
--- error_code eval
[200, 200, 200, 401]



=== TEST 4: a token cached by one location is checked again by another's policy and keys
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /a { alias html/; }
    location /es-only { jwt_peer_auth_algorithms ES256; alias html/; }
    location /other-keys { jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/ec-only.json; alias html/; }
    location /claims { jwt_peer_auth_claim iss jwth; alias html/; }
--- user_files eval
[["ec-only.json" => JwtPeerAuth::jwks('ec')], ["index.html" => "ok\n"]]
--- request eval
["GET /a/index.html", "GET /es-only/index.html", "GET /other-keys/index.html", "GET /claims/index.html",
 "GET /a/index.html"]
--- more_headers eval
my $h = JwtPeerAuth::bearer('rsa');
[$h, $h, $h, $h, $h]
--- error_code eval
[200, 401, 401, 401, 200]



=== TEST 5: jwt_peer_auth_token_cache off: every request is verified afresh
--- http_config
    jwt_peer_auth_token_cache off;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $h = JwtPeerAuth::bearer('rsa');
[$h, $h]
--- between_1
my ($hits, $misses) = main::cache_counts();
Test::More::is("$hits/$misses", "0/2", 'no hits with the cache off');
--- error_code eval
[200, 200]



=== TEST 6: bad jwt_peer_auth_token_cache value
--- http_config
    jwt_peer_auth_token_cache lots;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_token_cache": invalid number of entries "lots" \(1 to 10000000, or "off"\)/
