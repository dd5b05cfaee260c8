# Throttling unverifiable tokens by client address in `jwt_peer_auth_phase preaccess` (issue 21,
# point 4): `limit_req_zone $jwt_peer_auth_unverified_addr ...` counts only requests whose token
# still needs a signature verification. Where the configuration uses that variable, the
# preaccess handler decides before the limiters what it can decide cheaply (no token, a bad
# header, the token cache, the refusal cache) and verifies signatures after them: distinct junk
# tokens from one address get limit_req's status without an RSA verification, while cached
# valid tokens pass (from that address too) and limits keyed by claims keep working for them.
#
# "Without a verification" is proven by the status counters (token cache misses: one per
# signature verification; signature refusals) and the error log, not by timing. One worker: the
# token cache is per worker (a valid token's first use in each worker is verified, and counted
# against its address).
#
# Fails before the feature: the variable is unknown (nginx -t fails).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# A GET of /p/index.html "from" $addr (X-Real-IP, trusted from loopback by realip) with $token.
sub get_from {
    my ($addr, $token) = @_;
    my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html',
        headers => ["X-Real-IP: $addr", "Authorization: Bearer $token"]);
    return $code;
}

# The status page's counter "$name" (a number in the JSON).
sub counter {
    my ($json, $name) = @_;
    my ($n) = $json =~ /"\Q$name\E":(\d+)/ or die "no \"$name\" in $json";
    return $n;
}

# nginx-conf/throttle-unverified.conf with its port, upstream and key path pointed at the test
# environment (as t/008 does for the other examples).
sub example {
    my $conf = JwtPeerAuth::slurp("$JwtPeerAuth::ROOT/nginx-conf/throttle-unverified.conf");
    $conf =~ s/listen 8080;/listen \$TEST_NGINX_SERVER_PORT;/g;
    $conf =~ s{127\.0\.0\.1:9000}{127.0.0.1:\$TEST_NGINX_RAND_PORT_1}g;
    $conf =~ s{/etc/nginx/jwt/jwks\.json}{\$TEST_NGINX_JWT_KEYS/jwks.json}g;
    return $conf . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "upstream peer=$http_x_peer_id\n"; }
    }
_EOC_
}

our $PEER1 = JwtPeerAuth::token('rsa', '--claims', '{"identifier":"peer-1"}');

JwtPeerAuth::setup(workers => 1);

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', ">>> index.html\nok\n") unless defined $block->user_files;
    $block->set_value('request', 'GET /status') unless defined $block->request;
});

run_tests();

__DATA__

=== TEST 1: distinct junk tokens from one address: limit_req's 429 without a verification; cached valid tokens pass; per-peer limits still count them
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=1r/m;
    limit_req_zone $jwt_claim_identifier zone=peers:1m rate=1r/m;
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        limit_req zone=unverified burst=2 nodelay;   # 3 signature verifications per address
        limit_req zone=peers nodelay;                # 1 request a minute per peer
        limit_req_status 429;
        alias html/;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- error_code: 200
--- between_0
# A valid token, first seen from 10.0.0.2: verified after the limiters (its address is counted
# once by "unverified"; its identity is not known to "peers" yet).
Test::More::is(main::get_from('10.0.0.2', $main::PEER1), 200, 'a new valid token is verified and passes');
my %seen;
for my $i (1 .. 20) {
    my $junk = JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"identifier":"junk-$i"}));
    $seen{ main::get_from('10.0.0.1', $junk) }++;
}
Test::More::is($seen{401} // 0, 3, 'junk from 10.0.0.1: 3 verified and refused (burst 2 + 1)');
Test::More::is($seen{429} // 0, 17, "junk from 10.0.0.1: the rest get limit_req's status");
# The cached valid token passes from the throttled address: it needs no verification.
Test::More::is(main::get_from('10.0.0.1', $main::PEER1), 200, 'a cached valid token passes from the throttled address');
# ... and "peers" counted it (cached: the identity is known before the limiters): the next is over.
Test::More::is(main::get_from('10.0.0.2', $main::PEER1), 429, 'the per-peer limit counts cached tokens');
my $json = JwtPeerAuth::status_json();
Test::More::is(main::counter($json, 'signature'), 3, 'status: 3 signature refusals, not 20');
my ($hits, $misses) = JwtPeerAuth::cache_counts($json);
Test::More::is($misses, 4, 'status: 4 signature verifications (the valid token once, 3 junk)');
Test::More::is($hits, 2, 'status: the valid token twice from the cache');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: signature/), 3, 'log: 3 refusals');
Test::More::is(JwtPeerAuth::log_count(qr/limiting requests, excess: .* by zone "unverified"/), 17,
               'log: limit_req refused 17');



=== TEST 2: $jwt_peer_auth_unverified_addr is the client address only while a signature verification is pending
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=100r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        limit_req zone=unverified burst=100 nodelay;
        alias html/;
        # After the checks: nothing is pending any more.
        add_header X-Unverified "[$jwt_peer_auth_unverified_addr]" always;
    }
    location /a/ {
        jwt_peer_auth_phase access;
        alias html/;
        add_header X-Unverified "[$jwt_peer_auth_unverified_addr]" always;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /a/index.html"]
--- more_headers eval
["Authorization: Bearer $main::PEER1", "Authorization: Bearer $main::PEER1", "",
 JwtPeerAuth::bearer('rsa', '--corrupt')]
--- error_code eval
[200, 200, 401, 401]
--- response_headers eval
["X-Unverified: []", "X-Unverified: []", "X-Unverified: []", "X-Unverified: []"]
--- between_3
my ($hits, $misses) = JwtPeerAuth::cache_counts(JwtPeerAuth::status_json());
Test::More::is($misses, 2, 'status: one verification in /p/, one in /a/ (the access phase is not split)');



=== TEST 3: without the variable in the configuration the preaccess checks stay before the limiters: a per-peer limit counts a token's first use
--- http_config
    limit_req_zone $jwt_claim_identifier zone=peers:1m rate=1r/m;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        limit_req zone=peers nodelay;
        limit_req_status 429;
        alias html/;
    }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["Authorization: Bearer $main::PEER1", "Authorization: Bearer $main::PEER1"]
--- error_code eval
[200, 429]



=== TEST 4: nginx-conf/throttle-unverified.conf: 40 junk tokens at once from one address, most answered 429 unverified; a valid token passes
--- http_config eval: main::example()
--- config
--- request
GET /
--- more_headers eval
"Host: peer.example\nAuthorization: Bearer $main::PEER1"
--- error_code: 200
--- response_body
upstream peer=peer-1
--- between_0
my @junk = map { JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"identifier":"junk-$_"})) } 1 .. 40;
my %seen;
for my $t (@junk) {
    my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/',
        headers => ["Authorization: Bearer $t"]);
    $seen{$code}++;
}
my $refused = $seen{401} // 0;
Test::More::ok($refused >= 20 && $refused < 40, "junk: $refused verified and refused (burst 20 + 1, and the refill)");
Test::More::is($refused + ($seen{429} // 0), 40, 'junk: the rest got 429');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: signature/), $refused,
               'log: a refusal (one verification) per junk token let through, none for the 429s');
my ($code, $body) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/',
    headers => ["Authorization: Bearer $main::PEER1"]);
Test::More::is("$code $body", "200 upstream peer=peer-1\n", 'the valid (cached) token still passes');



=== TEST 5: a pending token whose check waits for a key refetch (unknown kid) after the limiters is still refused, not let through
# The handler after the limiters answers NGX_AGAIN while the refetch runs and NGINX calls it
# again: the token must still be pending then (a request must never pass that way unverified).
# Failed during development: the key request (a sub-request, sharing the main request's state)
# ran the handler after the limiters too and cleared the mark: 200.
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=100r/s;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { default_type application/json; alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_phase preaccess;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p/ { limit_req zone=unverified burst=100 nodelay; alias html/; }
--- user_files eval
[["index.html" => "ok\n"], ["jwks.json" => JwtPeerAuth::jwks('rsa')]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["Authorization: Bearer $main::PEER1", JwtPeerAuth::bearer('rsa', '--kid', 'not-there'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-2"}')]
--- error_code eval
[200, 401, 200]
--- response_body eval
["ok\n", qr/401 Authorization Required/, "ok\n"]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: unknown_kid/), 1, 'refused: unknown_kid');
# The refetch for the unknown kid ran (the handler after the limiters waited for it).
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: key request "\/_jwks": 1 keys/), 2, 'a first fetch and the refetch');



=== TEST 6: split preaccess and error pages: a protected error page refuses again (NGINX's page), an open one is served; a refused POST never reaches the named fallback's backend
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=100r/s;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend reached: $request_method $request_uri\n"; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    limit_req zone=unverified burst=100 nodelay;
    location /p/ { error_page 401 /err.html; alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { jwt_peer_auth off; alias html/err.html; }
    location /a/ { error_page 401 = @fallback; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    location @fallback { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- user_files
>>> index.html
ok
>>> err.html
please log in
--- request eval
["GET /p/index.html", "GET /q/index.html", "POST /a/private\nhello=world", "POST /a/private\nhello=world"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--corrupt'), JwtPeerAuth::bearer('rsa', '--corrupt'),
 JwtPeerAuth::bearer('rsa', '--corrupt', '--claims', '{"identifier":"x"}'), "Authorization: Bearer $main::PEER1"]
--- error_code eval
[401, 401, 401, 200]
--- response_body eval
[qr/401 Authorization Required/, "please log in\n", qr/401 Authorization Required/, "backend reached: POST /a/private\n"]
