# Keys fetched through jwt_peer_auth_key_request into the shared zone: cold cache, rotation,
# refetch limit, outages, garbage, reload, large key sets. Two workers share one zone.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

my $fetched = qr/key request "\/_jwks": \d+ keys/;

# Two workers; every block starts with a cold key cache and zeroed counters (a zone of its own),
# also under TEST_NGINX_USE_HUP=1. Blocks carry --- between_N hooks (Perl code run after
# request N; see JwtPeerAuth.pm) that change the key service's answer, wait, reload, or count
# lines in the error log since the block began.
JwtPeerAuth::setup(
    http_config => JwtPeerAuth::key_service(<<'_EOC_'),
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
        location = /slow { limit_rate 2k; alias $TEST_NGINX_HTML_DIR/jwks.json; }
        location = /garbage { alias $TEST_NGINX_HTML_DIR/index.html; }
        location = /moved { return 302 /jwks; }
        # Refuses anything but a plain GET without a body.
        location = /strict {
            if ($request_method != GET) { return 405; }
            if ($http_content_length) { return 400; }
            if ($http_transfer_encoding) { return 400; }
            alias $TEST_NGINX_HTML_DIR/jwks.json;
        }
_EOC_
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
_EOC_
    request => 'GET /p/index.html',
);

run_tests();

__DATA__

=== TEST 1: cold cache: the first request waits for one fetch, later ones reuse the keys
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('rsa')]
--- between_2
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 2 keys/), 1, 'one fetch');
--- error_code eval
[200, 200, 200]



=== TEST 2: the fetch is a GET without the client's body or Content-Length, whatever the client sent
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/strict; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request
POST /p/index.html
hello
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 405
--- error_log
key request "/_jwks": 1 keys



=== TEST 3: rotation: a token with a new kid makes an immediate refetch that finds the new key
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec')]
--- between_0
JwtPeerAuth::write_file("$html/jwks.json", JwtPeerAuth::jwks('rsa', 'ec'));
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": \d+ keys/), 2, 'cold fetch + refetch');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 2 keys \(kids: rsa ec\), generation 2/), 1,
               'the refetch published the rotated set');
--- error_code eval
[200, 200]



=== TEST 4: unknown kids refetch at most once per min_refresh, across workers
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 5m min_refresh=60s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('ed'),
 JwtPeerAuth::bearer('rsa', '--kid', 'random-attacker-kid')]
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": \d+ keys/), 2, 'cold fetch + one refetch');
--- error_code eval
[200, 401, 401, 401]



=== TEST 5: key service down with cached keys: stale keys keep serving, one error line per failed fetch
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1s stale=1h;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
unlink "$html/jwks.json" or die "unlink: $!";
select(undef, undef, undef, 2.1);
--- between_2
# How many background refreshes ran depends on timing (1 s backoff after the first failure);
# each failed one is logged exactly once and counted once.
my $lines = JwtPeerAuth::log_count(qr/key request "\/_jwks" failed: status 404; keeping the last good keys/);
my (undef, $status) = JwtPeerAuth::http_get(server_port_for_client(), '/status');
my ($failed) = $status =~ /"fetches":\{"ok":1,"failed":(\d+)\}/ or die "no fetch counters in $status";
Test::More::ok($lines >= 1 && $lines <= 2, "failed refreshes were logged ($lines)");
Test::More::is($lines, $failed, 'one error line per failed fetch');
--- error_code eval
[200, 200, 200]



=== TEST 6: key service answering 404 and no keys yet: fail closed with 500 (not 401, not 2xx)
--- user_files eval
[["index.html" => "ok\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- response_headers
!WWW-Authenticate
--- error_log
key request "/_jwks" failed: status 404; no keys yet
token rejected: no_keys



=== TEST 7: key service unreachable and no keys yet: 500
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["index.html" => "ok\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log
key request "/_jwks" failed: no response from the key service (NGINX status 502); no keys yet



=== TEST 7b: a redirect from the key service is a failed fetch (not followed)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/moved; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log
key request "/_jwks" failed: status 302; no keys yet



=== TEST 8: a garbage answer is not published
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/garbage; }
    location /p { alias html/; }
--- user_files eval
[["index.html" => "this is not JSON\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log
key request "/_jwks" failed: invalid JWKS (invalid JSON, 17 bytes); no keys yet



=== TEST 9: a JWKS without usable keys is not published; the last good keys stay
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
JwtPeerAuth::write_file("$html/jwks.json", '{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}');
select(undef, undef, undef, 2.1);
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/failed: invalid JWKS \(no usable key/), 1, 'the bad set was refused');
--- error_code eval
[200, 200]



=== TEST 10: past the stale limit without a successful fetch: 500
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1s stale=1s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
unlink "$html/jwks.json" or die "unlink: $!";
select(undef, undef, undef, 3.1);
--- error_code eval
[200, 500]



=== TEST 11: file keys and fetched keys together
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/file-jwks.json;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["file-jwks.json" => JwtPeerAuth::jwks('ed')],
 ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('ed'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 200]



=== TEST 12: nginx -s reload keeps the fetched keys (the zone is reused)
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
unlink "$html/jwks.json" or die "unlink: $!";
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
select(undef, undef, undef, 1.5);
--- between_1
Test::More::ok(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\) received/) >= 1, 'reloaded');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks"/), 1, 'no fetch after the reload');
--- error_code eval
[200, 200]



=== TEST 13: a real-sized JWKS (68 KB, 151 keys) works without extra configuration
--- user_files eval
[["jwks.json" => JwtPeerAuth::big_jwks(150, 'rsa')], ["index.html" => "ok\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- error_log
key request "/_jwks": 151 keys (kids: rsa old-0001



=== TEST 14: a key service answering with a huge body (1.5 MB) is refused, nothing is published
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa') . (' ' x 1_500_000)], ["index.html" => "ok\n"]]
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log
jwt_peer_auth: key request "/_jwks" failed: response body larger than 1048576 bytes; no keys yet



=== TEST 15: concurrent requests on a cold cache cause one fetch (key service takes ~2.5 s, 2 workers)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slow; }
    location /p { alias html/; }
    location /open { jwt_peer_auth off; alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::big_jwks(10, 'rsa', 'ec', 'ed')], ["index.html" => "ok\n"]]
--- request
GET /open/index.html
--- between_0
my @codes = JwtPeerAuth::parallel_get($Test::Nginx::Util::ServerPortForClient, '/p/index.html', 20,
                                       JwtPeerAuth::bearer('rsa'), 20);
Test::More::is(join(' ', @codes), join(' ', ('200') x 20), 'all 20 concurrent requests got 200');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 13 keys/), 1, 'one fetch for 20 concurrent requests');
--- error_code: 200
