# Where verification runs and what a refusal does (issue 14, parts 1 and 2):
# - `jwt_peer_auth_phase preaccess`: verified before limit_req/limit_conn (per-peer limits, bad
#   tokens never reach a limiter), before auth_request, with cold key fetches, the token cache,
#   variables and internal redirects working as in the access phase;
# - `jwt_peer_auth realm optional`: no token passes without identity, a bad one is refused;
# - `jwt_peer_auth realm shadow`: verified, counted and logged, never refused, no identity for
#   a bad token; beside auth_request, with the README's log_format and awk line;
# - every new configuration error, as in t/003-config.t.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Test::Nginx::Socket 'no_plan';

my $ID = '11111111-2222-3333-4444-555555555555';    # jwt-mint's default identifier

# The counters of the status page at /status.
sub status_json { JwtPeerAuth::status_json() }

# Two peers (tokens with different identifiers) each send $n requests, interleaved, on one
# keep-alive connection (so within a few milliseconds); returns { A => [statuses], B => [...] }.
sub two_peers {
    my ($path, $n, @extra) = @_;
    my %bearer = (A => JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-a"}'),
                  B => JwtPeerAuth::bearer('ec', '--claims', '{"identifier":"peer-b"}'));
    my @order = map { $_ % 2 ? 'B' : 'A' } 0 .. 2 * $n - 1;
    my @r = KeyService::session(server_port_for_client(), [map { [$path, $bearer{$_}, @extra] } @order], 30);
    @r == @order or die "only " . scalar(@r) . " of " . scalar(@order) . " requests were answered";
    my %st;
    push @{ $st{ $order[$_] } }, $r[$_]{status} for 0 .. $#r;
    return \%st;
}

sub count_of { my ($want, $list) = @_; scalar grep { $_ == $want } @$list }

# Two workers; every block starts with a cold key cache and zeroed counters, also under
# TEST_NGINX_USE_HUP=1.
JwtPeerAuth::setup(user_files => ">>> index.html\nok\n");

run_tests();

__DATA__

=== TEST 1: preaccess runs before limit_req: two peers at once each get their own 200s and 429s
--- http_config
    limit_req_zone $jwt_claim_identifier zone=peers1:1m rate=5r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p { limit_req zone=peers1; limit_req_status 429; alias html/; }
    location /open { jwt_peer_auth off; alias html/; }
--- request
GET /open/index.html
--- between_0
my $st = main::two_peers('/p/index.html', 20);
for my $peer ('A', 'B') {
    my @s = @{ $st->{$peer} };
    Test::More::is($s[0], 200, "peer $peer: its first request passes (not starved by the other)");
    Test::More::ok(main::count_of(429, \@s) >= 1, "peer $peer: limited on its own (" . join(' ', @s) . ")");
    Test::More::is(main::count_of(200, \@s) + main::count_of(429, \@s), scalar @s, "peer $peer: only 200 and 429");
}
Test::More::ok(JwtPeerAuth::log_count(qr/limiting requests, excess: .* by zone "peers1"/) >= 2,
               'the limiter logged its refusals');
# Each peer's limit recovers on its own.
Time::HiRes::sleep(0.5);
$st = main::two_peers('/p/index.html', 1);
Test::More::is("$st->{A}[0] $st->{B}[0]", '200 200', 'both peers pass again after 0.5 s');
--- error_code: 200



=== TEST 2: control: in the access phase (the default) limit_req runs first and sees no identity, so it limits nobody
--- http_config
    limit_req_zone $jwt_claim_identifier zone=peers2:1m rate=5r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { limit_req zone=peers2; limit_req_status 429; alias html/; }
    location /open { jwt_peer_auth off; alias html/; }
--- request
GET /open/index.html
--- between_0
my $st = main::two_peers('/p/index.html', 10);
Test::More::is(join(' ', @{ $st->{A} }, @{ $st->{B} }), join(' ', ('200') x 20), 'no request limited');
--- error_code: 200



=== TEST 3: preaccess: a refused token never reaches the limiter (limit by address, 1 r/m)
--- http_config
    limit_req_zone $binary_remote_addr zone=addr3:1m rate=1r/m;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p { limit_req zone=addr3; limit_req_status 429; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), JwtPeerAuth::bearer('rsa', '--exp', '-60'),
 "Authorization: Bearer a.b.c", "Authorization: Bearer a b",
 JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[401, 401, 401, 401, 400, 200, 429]
--- response_headers eval
['WWW-Authenticate: Bearer realm="peers"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_request"',
 "!WWW-Authenticate", "!WWW-Authenticate"]
--- between_4
Test::More::is(JwtPeerAuth::log_count(qr/limiting requests/), 0, 'no refused request reached the limiter');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: /), 5, 'each refusal logged once');
--- between_6
Test::More::is(JwtPeerAuth::log_count(qr/limiting requests, excess: .* by zone "addr3"/), 1,
               'the limiter is live: the second valid request was limited');



=== TEST 4: control: in the access phase the same refused tokens do reach that limiter
--- http_config
    limit_req_zone $binary_remote_addr zone=addr4:1m rate=1r/m;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { limit_req zone=addr4; limit_req_status 429; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt')]
--- error_code eval
[401, 429]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/limiting requests, excess: .* by zone "addr4"/), 1,
               'the refused token was limited');



=== TEST 5: preaccess: variables, refusals, the token cache, and one verification per request
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p {
        alias html/;
        add_header X-Id "[$jwt_claim_identifier]" always;
        add_header X-Kid "[$jwt_header_kid]" always;
        add_header X-Status "[$jwt_peer_auth_status]" always;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $t = JwtPeerAuth::bearer('rsa');
[$t, $t, JwtPeerAuth::bearer('rsa', '--exp', '-60'), ""]
--- error_code eval
[200, 200, 401, 401]
--- response_headers eval
["X-Id: [11111111-2222-3333-4444-555555555555]\nX-Kid: [rsa]\nX-Status: [ok]",
 "X-Id: [11111111-2222-3333-4444-555555555555]\nX-Kid: [rsa]\nX-Status: [ok]",
 "X-Id: []\nX-Kid: []\nX-Status: [expired]",
 "X-Id: []\nX-Status: [missing]\nWWW-Authenticate: Bearer realm=\"peers\""]
--- between_3
my $s = main::status_json();
# Verified once per request (not again by the access-phase handler).
Test::More::like($s, qr/"requests":\{"ok":2,"missing":1,"malformed":0,"expired":1,/, 'counted once each');
Test::More::like($s, qr/"token_cache":\{"hits":(\d+),"misses":(\d+)\}/, 'cache counters');
my ($hits, $misses) = $s =~ /"hits":(\d+),"misses":(\d+)/;
Test::More::is($hits + $misses, 3, 'three tokens looked up, once each');
# The same token twice on one connection (one worker): the second is a cache hit.
my $t = JwtPeerAuth::bearer('ed');
my @r = KeyService::session(server_port_for_client(), [['/p/index.html', $t], ['/p/index.html', $t]]);
Test::More::is(join(' ', map { $_->{status} } @r), '200 200', 'the same token twice');
Test::More::like(main::status_json(), qr/"token_cache":\{"hits":@{[$hits + 1]},"misses":@{[$misses + 1]}\}/,
                 'the second was a token-cache hit');



=== TEST 6: preaccess with a cold key cache: the first request waits for the key fetch and passes
--- http_config
    limit_req_zone $jwt_claim_identifier zone=peers6:1m rate=100r/s;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        default_type application/json;
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_phase preaccess;
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p {
        limit_req zone=peers6 burst=10;
        alias html/;
        add_header X-Id "[$jwt_claim_identifier]" always;
    }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec', '--claims', '{"identifier":"peer-b"}'), JwtPeerAuth::bearer('rsa2')]
--- error_code eval
[200, 200, 401]
--- response_headers eval
["X-Id: [11111111-2222-3333-4444-555555555555]", "X-Id: [peer-b]", "X-Id: []"]
--- response_body eval
["ok\n", "ok\n", qr/401 Authorization Required/]
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 2 keys/), 1, 'one fetch, from the preaccess phase');



=== TEST 7: preaccess, cold cache, slow key service: 12 concurrent requests (2 workers) wait for one fetch
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        default_type application/json;
        location = /slow { limit_rate 4k; alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_phase preaccess;
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slow; }
    location /p { alias html/; }
    location /open { jwt_peer_auth off; alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::big_jwks(6, 'rsa', 'ec', 'ed')], ["index.html" => "ok\n"]]
--- request
GET /open/index.html
--- between_0
my @codes = JwtPeerAuth::parallel_get(server_port_for_client(), '/p/index.html', 12,
                                       JwtPeerAuth::bearer('rsa'), 20);
Test::More::is(join(' ', @codes), join(' ', ('200') x 12), 'all 12 concurrent requests got 200');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 9 keys/), 1, 'one fetch for all of them');
--- error_code: 200



=== TEST 8: internal redirects between a preaccess and an access location keep the decision; each applies its own rules
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /a { jwt_peer_auth_phase preaccess; try_files /nonexistent @b; }
    location @b { jwt_peer_auth_claim role admin; root html; try_files /index.html =404; }
    location /c { try_files /nonexistent @d; }
    location @d { jwt_peer_auth_phase preaccess; jwt_peer_auth_claim role admin; root html; try_files /index.html =404; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /a", "GET /a", "GET /c", "GET /c"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"role":"admin"}'), JwtPeerAuth::bearer('rsa', '--claims', '{"role":"user"}'),
 JwtPeerAuth::bearer('ec', '--claims', '{"role":"admin"}'), JwtPeerAuth::bearer('ec', '--claims', '{"role":"user"}')]
--- error_code eval
[200, 401, 200, 401]
--- response_body eval
["ok\n", qr/401 Authorization Required/, "ok\n", qr/401 Authorization Required/]
--- between_3
my $s = main::status_json();
# Four tokens, each verified once (the redirect target re-checks its claim rules only).
Test::More::like($s, qr/"token_cache":\{"hits":0,"misses":4\}/, 'no token verified twice');
Test::More::like($s, qr/"claim":2,/, 'the targets\' claim rules refused two');



=== TEST 9: preaccess and satisfy any: an address-allowed client still needs a token; a valid token still counts
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p { satisfy any; allow 127.0.0.1; deny all; alias html/; }
    location /q { satisfy any; deny all; alias html/; }
    location /r { deny all; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /q/index.html", "GET /q/index.html", "GET /r/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'), "", JwtPeerAuth::bearer('rsa')]
--- error_code eval
[401, 200, 200, 401, 403]



=== TEST 10: preaccess runs before auth_request: no token is refused without asking it, a valid token is still subject to it
--- http_config
    log_format sub '$request_uri';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        access_log logs/legacy10.log sub;
        location /no { return 403; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location = /_legacy { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/no; }
    location /p { auth_request /_legacy; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa')]
--- error_code eval
[401, 403]
--- response_headers eval
['WWW-Authenticate: Bearer realm="peers"', "!WWW-Authenticate"]
--- between_1
my $log = Test::Nginx::Socket::server_root() . '/logs/legacy10.log';
KeyService::wait_until(5, sub { KeyService::lines($log) >= 1 });
Test::More::is(KeyService::lines($log), 1, 'auth_request asked only for the request with a valid token');



=== TEST 11: optional: no token passes without identity; a present token is held to every check
--- config
    jwt_peer_auth "peers" optional;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Id "[$jwt_claim_identifier]" always;
        add_header X-Status "[$jwt_peer_auth_status]" always;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", "Authorization: Basic cGVlcjpzM2NyZXQ=", JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa', '--exp', '-60'),
 JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer a b"]
--- error_code eval
[200, 200, 200, 401, 401, 400]
--- response_headers eval
["X-Id: []\nX-Status: [missing]\n!WWW-Authenticate",
 "X-Id: []\nX-Status: [missing]\n!WWW-Authenticate",
 "X-Id: [11111111-2222-3333-4444-555555555555]\nX-Status: [ok]",
 "X-Id: []\nX-Status: [expired]\nWWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_token\", error_description=\"The access token expired\"",
 "X-Id: []\nX-Status: [signature]\nWWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_token\"",
 "X-Id: []\nX-Status: [invalid_request]\nWWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_request\""]
--- between_5
Test::More::like(main::status_json(),
    qr/"requests":\{"ok":1,"missing":2,"malformed":0,"expired":1,"not_yet_valid":0,"signature":1,"unknown_kid":0,"algorithm":0,"claim":0,"no_keys":0,"invalid_request":1,/,
    'a missing token is counted as missing');
Test::More::like(main::status_json(), qr/"unenforced":2\b/, 'the two requests without a token went on: unenforced');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: missing/), 0, 'a request without a token is not a refusal');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: (expired|signature|invalid_request)/), 3, 'the others are');



=== TEST 12: optional: an empty token= variable is no token; under satisfy any, no token is no vote, a valid one is
--- config
    jwt_peer_auth "peers" token=$cookie_access_token optional;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; add_header X-Status "[$jwt_peer_auth_status]" always; }
    location /q { satisfy any; deny all; alias html/; }
    location /r { jwt_peer_auth "peers" optional token=$cookie_access_token; jwt_peer_auth_phase preaccess; alias html/; add_header X-Status "[$jwt_peer_auth_status]" always; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /q/index.html", "GET /q/index.html", "GET /r/index.html", "GET /r/index.html"]
--- more_headers eval
["Cookie: access_token=", "Cookie: access_token=" . JwtPeerAuth::token('ec'), "", "Cookie: access_token=" . JwtPeerAuth::token('ec'),
 "", "Cookie: access_token=" . JwtPeerAuth::token('ec', '--exp', '-60')]
--- error_code eval
[200, 200, 403, 200, 200, 401]
--- response_headers eval
["X-Status: [missing]", "X-Status: [ok]", "", "", "X-Status: [missing]", "X-Status: [expired]"]



=== TEST 13: shadow: nothing is refused; every token is verified, counted and logged; no identity for a bad one
--- http_config
    map $jwt_claim_identifier $peer_ok { revoked 0; default 1; }
--- config
    jwt_peer_auth "peers" shadow;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $peer_ok error=403;
    location /p {
        alias html/;
        add_header X-Id "[$jwt_claim_identifier]" always;
        add_header X-Payload "[$jwt_payload]" always;
        add_header X-Status "[$jwt_peer_auth_status]" always;
    }
    location /e { jwt_peer_auth "peers"; alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /e/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), "", JwtPeerAuth::bearer('rsa', '--exp', '-60'), JwtPeerAuth::bearer('rsa', '--corrupt'),
 "Authorization: Bearer a b", JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"revoked"}'), JwtPeerAuth::bearer('rsa', '--exp', '-60')]
--- error_code eval
[200, 200, 200, 200, 200, 200, 401]
--- response_headers eval
["X-Id: [11111111-2222-3333-4444-555555555555]\nX-Status: [ok]\n!WWW-Authenticate",
 "X-Id: []\nX-Payload: []\nX-Status: [missing]\n!WWW-Authenticate",
 "X-Id: []\nX-Payload: []\nX-Status: [expired]\n!WWW-Authenticate",
 "X-Id: []\nX-Payload: []\nX-Status: [signature]\n!WWW-Authenticate",
 "X-Id: []\nX-Payload: []\nX-Status: [invalid_request]\n!WWW-Authenticate",
 "X-Id: []\nX-Payload: []\nX-Status: [claim]\n!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"']
--- response_body eval
["ok\n", "ok\n", "ok\n", "ok\n", "ok\n", "ok\n", qr/401 Authorization Required/]
--- between_5
Test::More::like(main::status_json(),
    qr/"requests":\{"ok":1,"missing":1,"malformed":0,"expired":1,"not_yet_valid":0,"signature":1,"unknown_kid":0,"algorithm":0,"claim":0,"no_keys":0,"invalid_request":1,"binding":0,"revoked":0,"dpop_proof":0,"dpop_replay":0,"dpop_nonce":0,"dpop_binding":0,"dpop_full":0,"forbidden":1\}/,
    'shadow decisions are counted');
Test::More::like(main::status_json(), qr/"unenforced":5\b/, 'the five refusals shadow did not enforce are counted as such');
Test::More::like((JwtPeerAuth::http_get(JwtPeerAuth::server_port(), '/status?format=prometheus'))[1] // '', qr/^jwt_peer_auth_unenforced_total 5$/m,
                 'and in the Prometheus text');
for my $what ('token would be rejected: missing', 'token would be rejected: expired', 'token would be rejected: signature',
              'token would be rejected: invalid_request', 'request would be forbidden by "jwt_peer_auth_require"') {
    Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*jwt_peer_auth: shadow: \Q$what\E/), 1, "logged at info: shadow: $what");
}
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: (token rejected|request forbidden)/), 0, 'nothing logged as refused');
--- between_6
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: expired/), 1, 'a location that enforces still refuses');
Test::More::like(main::status_json(), qr/"unenforced":5\b/, 'a refusal that is enforced is not counted as unenforced');



=== TEST 14: shadow beside auth_request (the README recipe): both decisions logged, the awk line finds where they differ
--- http_config
    log_format migration '$remote_addr [$time_local] "$request" $status '
                         'jwt=$jwt_peer_auth_status legacy=$legacy';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location /validate {
            if ($http_x_legacy = "yes") { return 204; }
            return 401;
        }
    }
--- config
    location /p {
        auth_request /_legacy;
        auth_request_set $legacy $upstream_status;
        jwt_peer_auth "peers" shadow;
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        access_log logs/migration.log migration;
        alias html/;
    }
    location = /_legacy {
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/validate;
    }
--- request eval
["GET /p/index.html?1", "GET /p/index.html?2", "GET /p/index.html?3", "GET /p/index.html?4"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa') . "\nX-Legacy: yes", JwtPeerAuth::bearer('rsa'),
 JwtPeerAuth::bearer('rsa', '--exp', '-60') . "\nX-Legacy: yes", ""]
--- error_code eval
[200, 401, 200, 401]
--- between_3
my $log = Test::Nginx::Socket::server_root() . '/logs/migration.log';
KeyService::wait_until(5, sub { KeyService::lines($log) >= 4 });
my $all = JwtPeerAuth::slurp($log);
Test::More::like($all, qr{"GET /p/index.html\?1 HTTP/1.1" 200 jwt=ok legacy=204\n}, 'both allow');
# The shadow check ran although auth_request refused: it runs before it (preaccess).
Test::More::like($all, qr{"GET /p/index.html\?2 HTTP/1.1" 401 jwt=ok legacy=401\n}, 'only the new check allows');
Test::More::like($all, qr{"GET /p/index.html\?3 HTTP/1.1" 200 jwt=expired legacy=204\n}, 'only the old check allows');
Test::More::like($all, qr{"GET /p/index.html\?4 HTTP/1.1" 401 jwt=missing legacy=401\n}, 'both refuse');
# The README's one-liner, verbatim.
my $diff = qx{awk '(\$(NF-1) == "jwt=ok") != (\$NF ~ /^legacy=2/)' $log};
Test::More::is(join(',', $diff =~ m{index\.html\?(\d)}g), '2,3', 'the awk line finds the two requests where they differ');



=== TEST 15: shadow with the key service down and no keys: the request passes as no_keys, never 500
--- config
    jwt_peer_auth "peers" shadow;
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:1/jwks; }
    location /p { alias html/; add_header X-Status "[$jwt_peer_auth_status]" always; add_header X-Id "[$jwt_claim_identifier]" always; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Status: [no_keys]\nX-Id: []", "X-Status: [no_keys]\nX-Id: []"]
--- between_1
# One failed fetch, or two when the runner is slow enough for the retry delay to pass.
Test::More::ok(JwtPeerAuth::log_count(qr/key request "\/_jwks" failed/) >= 1, 'the key service is down');
Test::More::is(JwtPeerAuth::log_count(qr/\[error\].*jwt_peer_auth: shadow: token would be rejected: no_keys/), 1,
               'no_keys: an error once');
Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*jwt_peer_auth: shadow: token would be rejected: no_keys/), 1,
               'then at info');



=== TEST 16: shadow in the access phase (set explicitly) never admits a request under satisfy any
--- config
    jwt_peer_auth "peers" shadow;
    jwt_peer_auth_phase access;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /q { satisfy any; deny all; alias html/; add_header X-Status "[$jwt_peer_auth_status]" always; }
    location /p { alias html/; add_header X-Status "[$jwt_peer_auth_status]" always; }
--- request eval
["GET /q/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa', '--exp', '-60')]
--- error_code eval
[403, 200]
--- response_headers eval
["X-Status: [ok]", "X-Status: [expired]"]



=== TEST 17: config: jwt_peer_auth_phase with an unknown value
--- config
    jwt_peer_auth_phase content;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_phase": invalid value "content": "access" or "preaccess" is expected/



=== TEST 18: config: jwt_peer_auth_phase twice at one level
--- config
    jwt_peer_auth_phase preaccess;
    jwt_peer_auth_phase access;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_phase" directive is duplicate/



=== TEST 19: config: jwt_peer_auth_phase without a value
--- config
    jwt_peer_auth_phase;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth_phase" directive/



=== TEST 20: config: optional and shadow together
--- config
    jwt_peer_auth "peers" optional shadow;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": "optional" and "shadow" are mutually exclusive/



=== TEST 21: config: shadow and optional together, with token= between them
--- config
    jwt_peer_auth "peers" shadow token=$cookie_t optional;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": "optional" and "shadow" are mutually exclusive/



=== TEST 22: config: optional twice
--- config
    jwt_peer_auth "peers" optional optional;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": duplicate parameter "optional"/



=== TEST 23: config: token= twice
--- config
    jwt_peer_auth "peers" token=$cookie_a token=$cookie_b;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": duplicate parameter "token=\$cookie_b"/



=== TEST 24: config: a mode after off
--- config
    jwt_peer_auth off shadow;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": invalid parameter "shadow" after "off"/



=== TEST 25: config: an unknown mode word
--- config
    jwt_peer_auth "peers" report-only;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth": invalid parameter "report-only"/
