# Attacks on the request path as data (the token parsed once, both caches looked up by digest
# first, the refusal cache for up to 8 sources, the issuer-bound path taking its sources from a
# cached token or a remembered refusal): identical token bytes get the identical answer, a
# token cached under issuer A's source never passes a location bound to B, a refusal remembered
# before a key rotation is never answered after it, and a location with the same sources in
# another order does not take another's refusal.
#
# Issuer A's keys: test key 'rsa' as kid "k1"; B's: 'rsa2' as "k1"; C's: 'ed' as "e1". All are
# fetched from a key service on $TEST_NGINX_RAND_PORT_1 (access log logs/keysvc.log).
# One worker: the caches are per worker, and the counts below are exact.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Http2;
use Test::Nginx::Socket 'no_plan';

# A JWKS with test keys [$key, $kid] ...
sub jwks_as {
    require JSON::PP;
    my @keys;
    for my $p (@_) {
        my ($key, $kid) = @$p;
        my $doc = JSON::PP::decode_json(JwtPeerAuth::jwks($key));
        $_->{kid} = $kid for @{ $doc->{keys} };
        push @keys, @{ $doc->{keys} };
    }
    return JSON::PP->new->canonical->encode({ keys => \@keys });
}

# "Authorization: Bearer ..." signed by test key $key, header kid $kid, claim iss $iss.
sub tok {
    my ($key, $kid, $iss, @more) = @_;
    return JwtPeerAuth::bearer($key, '--kid', $kid, '--claims', qq({"iss":"$iss"}), @more);
}

# The status page's counters: "<reason>" counts, and hits/misses/refusal_hits.
sub counts {
    my $body = JwtPeerAuth::status_json();
    my %c = $body =~ /"(\w+)":(\d+)/g;
    my ($hits, $misses) = JwtPeerAuth::cache_counts($body);
    my ($refusal_hits) = $body =~ /"refusal_cache":\{"hits":(\d+)\}/ or die "no refusal_cache in $body";
    return { %c, hits => $hits, misses => $misses, refusal_hits => $refusal_hits };
}

JwtPeerAuth::set_http2_listen();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();

our $keysvc_log = sub { Test::Nginx::Socket::server_root() . '/logs/keysvc.log' };
# Signed by rsa2 under kid "k1" with iss A: a bad signature under A's keys until A rotates k1.
our $ROTATED = tok('rsa2', 'k1', 'A');
our $BAD_A = tok('rsa', 'k1', 'A', '--corrupt');
our $GOOD_A = tok('rsa', 'k1', 'A');
# Claims iss B, signed with A's key (one token: the same bytes in every request).
our $B_WITH_A_KEY = tok('rsa', 'k1', 'B');

JwtPeerAuth::setup(
    workers => 1,
    http_config_prefix => <<'_EOC_' . JwtPeerAuth::key_service(<<'_EOC_'),
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_9;
        access_log off;
        location / { return 200 "ok $uri\n"; }
    }
    log_format keysvc '$request_uri';
_EOC_
        access_log logs/keysvc.log keysvc;
        location = /a { alias $TEST_NGINX_HTML_DIR/jwks_a.json; }
        location = /b { alias $TEST_NGINX_HTML_DIR/jwks_b.json; }
        location = /c { alias $TEST_NGINX_HTML_DIR/jwks_c.json; }
        location = /u { alias $TEST_NGINX_HTML_DIR/jwks_u.json; }
_EOC_
    user_files => [
        ["jwks_a.json" => jwks_as(['rsa', 'k1'])],
        ["jwks_b.json" => jwks_as(['rsa2', 'k1'])],
        ["jwks_c.json" => jwks_as(['ed', 'e1'])],
    ],
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_a issuer=A;
    jwt_peer_auth_key_request /_jwks_b issuer=B;
    jwt_peer_auth_key_request /_jwks_c issuer=C;
    location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location = /_jwks_c { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/c; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
                  add_header X-Status $jwt_peer_auth_status always; }
    location /q {
        jwt_peer_auth_key_request /_jwks_c issuer=C;
        jwt_peer_auth_key_request /_jwks_b issuer=B;
        jwt_peer_auth_key_request /_jwks_a issuer=A;
        proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
    }
    location /only-b {
        jwt_peer_auth_key_request /_jwks_b issuer=B;
        proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: three key sources: a repeated bad-signature token is answered from the refusal cache (the issuer-bound path skipping the sources the remembered refusal skipped); a good token still passes
--- request eval
["GET /p/1", "GET /p/2", "GET /p/3", "GET /p/4"]
--- more_headers eval
[$main::BAD_A, $main::BAD_A, $main::BAD_A, $main::GOOD_A]
--- between_0
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{refusal_hits}", "1/0", 'the first is verified');
--- between_2
my $c = main::counts();
Test::More::is($c->{signature}, 3, 'all three counted as signature refusals');
Test::More::is($c->{refusal_hits}, 2, 'the second and third answered from the refusal cache');
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/a$}, 1), 1, 'A fetched once');
Test::More::is(KeyService::lines($main::keysvc_log->(), qr{^/[bc]$}), 0, 'B and C never fetched (skipped for iss A)');
--- error_code eval
[401, 401, 401, 200]
--- response_headers eval
["X-Status: signature", "X-Status: signature", "X-Status: signature", "X-Status: ok"]



=== TEST 2: a key rotation at one of three sources: the refusal remembered under A's old keys is not answered once A publishes new ones; the same bytes then pass
--- request eval
["GET /p/1", "GET /p/2", "GET /p/kid-miss", "GET /p/3", "GET /p/4"]
--- more_headers eval
[$main::ROTATED, $main::ROTATED, main::tok('ed', 'k2', 'A'), $main::ROTATED, $main::ROTATED]
--- between_1
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 1, 'the second from the refusal cache');
JwtPeerAuth::write_file("$html/jwks_a.json", main::jwks_as(['rsa2', 'k1'], ['ed', 'k2']));
--- between_2
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/a$}, 2), 2, 'A refetched for the unknown kid');
--- between_4
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 1, 'no stale refusal answered after the rotation');
--- error_code eval
[401, 401, 200, 200, 200]



=== TEST 3: a token verified by A's source (cached with its iss) is refused at a location bound only to B, before and after; B's token passes there
--- request eval
["GET /p/1", "GET /only-b/1", "GET /p/2", "GET /only-b/2", "GET /only-b/3"]
--- more_headers eval
[$main::GOOD_A, $main::GOOD_A, $main::GOOD_A, $main::GOOD_A, main::tok('rsa2', 'k1', 'B')]
--- between_3
my $c = main::counts();
Test::More::is($c->{hits}, 1, 'the token cache answered /p once');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: claim \(no key source for the issuer/), 2, 'refused at /only-b as no source for A');
--- error_code eval
[200, 401, 200, 401, 200]



=== TEST 4: the same sources in another order: a refusal remembered at /p is not answered at /q (another key), both refuse the same; the same sources in /q's order answer it
--- request eval
["GET /p/1", "GET /q/1", "GET /q/2", "GET /p/2", "GET /q/3"]
--- more_headers eval
[$main::BAD_A, $main::BAD_A, $main::BAD_A, $main::BAD_A, $main::GOOD_A]
--- between_1
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 0, '/q verifies again');
--- between_3
my $c = main::counts();
Test::More::is($c->{signature}, 4, 'four signature refusals');
Test::More::is($c->{refusal_hits}, 1, 'one remembered refusal per token: /q/2 answered from /q\'s, /p/2 verified again');
--- error_code eval
[401, 401, 401, 401, 200]



=== TEST 5: an internal redirect after access (try_files to a named location bound to B): A's admitted token is checked afresh there and refused; B's carries over
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_a issuer=A;
    jwt_peer_auth_key_request /_jwks_b issuer=B;
    jwt_peer_auth_key_request /_jwks_c issuer=C;
    location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location = /_jwks_c { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/c; }
    location /t { try_files /nonexistent @onlyb; }
    location @onlyb {
        jwt_peer_auth_key_request /_jwks_b issuer=B;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Iss $jwt_claim_iss always;
        proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
    }
--- request eval
["GET /t/1", "GET /t/2", "GET /t/3"]
--- more_headers eval
[$main::GOOD_A, main::tok('rsa2', 'k1', 'B'), $main::GOOD_A]
--- error_code eval
[401, 200, 401]
--- response_headers eval
["X-Status: claim\nX-Iss:", "X-Status: ok\nX-Iss: B", "X-Status: claim\nX-Iss:"]



=== TEST 6: keys arrive at a source that had none: the refusal remembered without them is not answered, the same bytes verify with the new keys
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_a;
    jwt_peer_auth_key_request /_jwks_u;
    location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
    location = /_jwks_u { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/u; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/1", "GET /p/2", "GET /p/3"]
--- more_headers eval
[$main::ROTATED, $main::ROTATED, $main::ROTATED]
--- between_1
# Asked at least once (404); again only if the 1 s backoff passed between the two requests on
# a slow machine.
$main::u_fetches = KeyService::lines($main::keysvc_log->(), qr{^/u$});
Test::More::cmp_ok($main::u_fetches, '>=', 1, 'the second source was asked (404)');
Test::More::is(main::counts()->{refusal_hits}, 1, 'the signature refusal under A alone was remembered and answered (500: U has no keys)');
JwtPeerAuth::write_file("$html/jwks_u.json", main::jwks_as(['rsa2', 'k1']));
sleep 2;    # past the 1 s backoff after the failed fetch
--- between_2
Test::More::cmp_ok(KeyService::lines($main::keysvc_log->(), qr{^/u$}), '>', $main::u_fetches, 'fetched again once the backoff passed');
Test::More::is(main::counts()->{refusal_hits}, 1, 'the refusal made without U\'s keys was not answered');
--- error_code eval
[500, 500, 200]



=== TEST 7: HTTP/2 (no connection digest memo): three sources, issuer-bound, the repeated bad token answered from the refusal cache on each stream's own digest; the good token passes
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        jwt_peer_auth "peers";
        jwt_peer_auth_key_request /_jwks_a issuer=A;
        jwt_peer_auth_key_request /_jwks_b issuer=B;
        jwt_peer_auth_key_request /_jwks_c issuer=C;
        location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
        location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
        location = /_jwks_c { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/c; }
        location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
                      add_header X-Status $jwt_peer_auth_status always; }
    }
--- request
GET /status
--- error_code: 200
--- between_0
my $port = $ENV{TEST_NGINX_H2_PORT};
my @got;
for my $h ($main::BAD_A, $main::BAD_A, $main::BAD_A, $main::GOOD_A) {
    my $r = Http2::get($port, '/p/x', [$h]);
    Test::More::is($r->{proto}, '2', 'spoke HTTP/2') or Test::More::diag($r->{raw});
    push @got, "$r->{status} " . ($r->{headers}{'x-status'} // '');
}
Test::More::is(join(', ', @got), '401 signature, 401 signature, 401 signature, 200 ok', 'the answers');
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 2, 'the second and third bad token from the refusal cache');
Test::More::is(KeyService::lines($main::keysvc_log->(), qr{^/[bc]$}), 0, 'B and C never fetched');



=== TEST 8: a token of iss B signed with A's key, verified and cached at a location whose source for A's keys is bound to no issuer, is refused at the issuer-bound location (B's keys); A's token cached there passes the unbound one by its own verification
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_a issuer=A;
    jwt_peer_auth_key_request /_jwks_b issuer=B;
    jwt_peer_auth_key_request /_jwks_c issuer=C;
    location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location = /_jwks_c { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/c; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
                  add_header X-Status $jwt_peer_auth_status always; }
    location /unbound {
        jwt_peer_auth_key_request /_jwks_a;
        proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /unbound/1", "GET /p/1", "GET /unbound/2", "GET /p/2", "GET /p/3", "GET /unbound/3"]
--- more_headers eval
[$main::B_WITH_A_KEY, $main::B_WITH_A_KEY, $main::B_WITH_A_KEY, $main::B_WITH_A_KEY, $main::GOOD_A, $main::GOOD_A]
--- error_code eval
[200, 401, 200, 401, 200, 200]
--- response_headers eval
["", "X-Status: signature", "", "X-Status: signature", "X-Status: ok", ""]
--- between_5
my $c = main::counts();
Test::More::is($c->{hits}, 1, 'one token-cache hit: /unbound/2 (its own source); none across the two sources');
