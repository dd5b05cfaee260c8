# The per-worker refusal cache: a token refused for what it cannot outgrow under the current
# keys and policy (malformed, bad signature, expired) is answered again from the cache (its
# SHA-256), exactly as the first time: status, challenge, $jwt_peer_auth_status, counters and
# the info line. Never a policy result, never not_yet_valid, unknown_kid or algorithm; never
# across key sources, key generations, allow-lists or a reload. The status page's
# "refusal_cache" hits counter shows each answer from the cache.
#
# One worker: the cache is per worker, and the counts below are exact.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Counters start at zero in each block, also under TEST_NGINX_USE_HUP=1.
JwtPeerAuth::setup(
    workers => 1,
    user_files => ">>> index.html\nok\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
);

# The status page's counters: "<reason>" counts, and hits/misses/refusal_hits.
sub counts {
    my $body = JwtPeerAuth::status_json();
    my %c = $body =~ /"(\w+)":(\d+)/g;
    my ($hits, $misses) = JwtPeerAuth::cache_counts($body);
    my ($refusal_hits) = $body =~ /"refusal_cache":\{"hits":(\d+)\}/ or die "no refusal_cache in $body";
    return { %c, hits => $hits, misses => $misses, refusal_hits => $refusal_hits };
}

# A JWKS with the second RSA key under the first one's kid "rsa" (a rotation of "rsa").
sub rotated_jwks {
    require JSON::PP;
    my $k = JSON::PP::decode_json(JwtPeerAuth::slurp("$JwtPeerAuth::KEYS/rsa2.jwk.json"));
    $k->{kid} = 'rsa';
    return JSON::PP->new->canonical->encode({ keys => [$k] });
}

# Signed by rsa2 but naming kid "rsa": a bad signature under jwks.json, valid once "rsa" rotates.
our $ROTATED = JwtPeerAuth::bearer('rsa2', '--kid', 'rsa');
our $BAD = JwtPeerAuth::bearer('rsa', '--corrupt');
our $CHALLENGE = 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"';

# TEST 7's token expires 10 s after it is minted: minted when its block starts (OpenResty's
# runner evaluates every block's eval sections when it reads the file, long before).
add_block_preprocessor(sub {
    my $block = shift;
    return unless defined $block->expiring_token;
    $main::expiring = JwtPeerAuth::token('rsa', '--exp', '10');
    $block->set_value('more_headers', [("Authorization: Bearer $main::expiring") x 3]);
});

run_tests();

__DATA__

=== TEST 1: the same bad-signature token twice: the same 401, challenge, status word, counters and info line; the second from the cache
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::BAD, $main::BAD]
--- error_code eval
[401, 401]
--- response_headers eval
["$main::CHALLENGE\nX-Status: signature", "$main::CHALLENGE\nX-Status: signature"]
--- between_0
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{refusal_hits}", "1/0", 'the first is verified');
--- between_1
my $c = main::counts();
Test::More::is($c->{signature}, 2, 'both counted as signature refusals');
Test::More::is($c->{refusal_hits}, 1, 'the second answered from the refusal cache');
Test::More::is("$c->{hits}/$c->{misses}", "0/2", 'token cache: two misses, as without the refusal cache');
my @lines = JwtPeerAuth::log_lines(qr/token rejected/);
Test::More::is(scalar(@lines), 2, 'one info line per refusal');
Test::More::like($lines[0] // '', qr/^jwt_peer_auth: token rejected: signature \(signature does not verify\), client: /, 'what it says');
Test::More::is($lines[1], $lines[0], 'the same line both times');
Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: signature/), 2, 'both at info');



=== TEST 2: an expired token twice: the second from the cache, with the same challenge and a line naming the time now
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $h = JwtPeerAuth::bearer('rsa', '--exp', '-60');
[$h, $h, JwtPeerAuth::bearer('rsa', '--claims', '{"exp":"soon"}')]
--- error_code eval
[401, 401, 401]
--- response_headers eval
["WWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_token\", error_description=\"The access token expired\"\nX-Status: expired",
 "WWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_token\", error_description=\"The access token expired\"\nX-Status: expired",
 "$main::CHALLENGE\nX-Status: malformed"]
--- between_1
my $c = main::counts();
Test::More::is("$c->{expired}/$c->{refusal_hits}", "2/1", 'two expired refusals, the second from the cache');
my @lines = JwtPeerAuth::log_lines(qr/token rejected/);
Test::More::is(scalar(@lines), 2, 'one line each');
for my $l (@lines) {
    Test::More::like($l, qr/^jwt_peer_auth: token rejected: expired \(token expired at (\d+), now (\d+), leeway 0s\), client: /, 'the expired line');
}
my @exp = map { /expired at (\d+), now (\d+)/ ? [$1, $2] : [0, 0] } @lines;
Test::More::is($exp[1][0], $exp[0][0], 'the same exp');
Test::More::cmp_ok($exp[1][1], '>=', $exp[0][1], 'the time now, not the time of the first refusal');
--- between_2
# A malformed token (a signed "exp" that is not a number) is remembered too; once is a miss.
my $c = main::counts();
Test::More::is("$c->{malformed}/$c->{refusal_hits}", "1/1", 'malformed verified the first time');



=== TEST 3: never remembered: not yet valid, unknown kid, algorithm, a claim rule; and a malformed token is
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location /rs { jwt_peer_auth_algorithms RS256; alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location /claim { jwt_peer_auth_claim sub someone-else; alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html",
 "GET /rs/index.html", "GET /rs/index.html", "GET /claim/index.html", "GET /claim/index.html",
 "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
my $nbf = JwtPeerAuth::bearer('rsa', '--nbf', '3600');
my $kid = JwtPeerAuth::bearer('rsa', '--kid', 'nobody');
my $ec = JwtPeerAuth::bearer('ec');
my $claim = JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"me"}');
my $payload = JwtPeerAuth::bearer('rsa', '--claims', '{"nbf":true}');
[$nbf, $nbf, $kid, $kid, $ec, $ec, $claim, $claim, $payload, $payload]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401, 401, 401, 401]
--- response_headers eval
["X-Status: not_yet_valid", "X-Status: not_yet_valid", "X-Status: unknown_kid", "X-Status: unknown_kid",
 "X-Status: algorithm", "X-Status: algorithm", "X-Status: claim", "X-Status: claim",
 "X-Status: malformed", "X-Status: malformed"]
--- between_7
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 0, 'none of these from the refusal cache');
Test::More::is($c->{hits}, 1, 'the claim-rule token is valid: the token cache has it, the refusal cache not');
--- between_9
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 1, 'the malformed one, the second time');



=== TEST 4: a new key generation forgets: the token refused under the old keys verifies under the new
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
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::ROTATED, $main::ROTATED, JwtPeerAuth::bearer('ed'), $main::ROTATED]
--- between_1
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{refusal_hits}", "2/1", 'refused twice under generation 1, the second from the cache');
# Key "rsa" rotates and "ed" comes in: the ed token's unknown kid makes the refetch that
# publishes generation 2.
require JSON::PP;
my $doc = JSON::PP::decode_json(main::rotated_jwks());
push @{ $doc->{keys} }, @{ JSON::PP::decode_json(JwtPeerAuth::jwks('ed'))->{keys} };
JwtPeerAuth::write_file("$html/jwks.json", JSON::PP->new->canonical->encode($doc));
select(undef, undef, undef, 1.1);
--- between_3
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 1, 'not answered from the cache under generation 2');
Test::More::like(JwtPeerAuth::slurp(Test::Nginx::Socket::server_root() . '/logs/error.log'), qr/key request "\/_jwks": 2 keys \(kids: rsa ed\), generation 2/, 'generation 2 published');
--- error_code eval
[401, 401, 200, 200]
--- response_headers eval
["X-Status: signature", "X-Status: signature", "X-Status: ok", "X-Status: ok"]



=== TEST 5: never across key sources: refused under one JWKS file, accepted by a location with another
--- config
    location /a { jwt_peer_auth "peers"; jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json; alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location /b { jwt_peer_auth "peers"; jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/rotated.json; alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["rotated.json" => main::rotated_jwks()], ["index.html" => "ok\n"]]
--- request eval
["GET /a/index.html", "GET /b/index.html", "GET /a/index.html", "GET /b/index.html"]
--- more_headers eval
[($main::ROTATED) x 4]
--- error_code eval
[401, 200, 401, 200]
--- response_headers eval
["X-Status: signature", "X-Status: ok", "X-Status: signature", "X-Status: ok"]
--- between_3
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{ok}", "2/2", 'refused twice by /a, accepted twice by /b');
Test::More::is($c->{refusal_hits}, 1, '/a answered from the cache the second time, /b never');



=== TEST 6: never across allow-lists: malformed where the algorithm is allowed, "algorithm" where it is not
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location /es { jwt_peer_auth_algorithms ES256; alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /es/index.html", "GET /p/index.html", "GET /es/index.html"]
--- more_headers eval
# RS256 with an unknown "crit" parameter: malformed where RS256 is allowed (checked after alg).
my $h = JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"rsa","crit":["x"]}');
[$h, $h, $h, $h]
--- error_code eval
[401, 401, 401, 401]
--- response_headers eval
["X-Status: malformed", "X-Status: algorithm", "X-Status: malformed", "X-Status: algorithm"]
--- between_3
my $c = main::counts();
Test::More::is("$c->{malformed}/$c->{algorithm}/$c->{refusal_hits}", "2/2/1", 'only /p answered from the cache');



=== TEST 7: a cached valid token that expires: refused from the token cache, then from the refusal cache
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- expiring_token
(more_headers set by the preprocessor: a token minted as the block starts; between_0 waits
for its own exp rather than a fixed time)
--- between_0
JwtPeerAuth::sleep_past_exp($main::expiring);
--- between_2
my $c = main::counts();
Test::More::is("$c->{hits}/$c->{misses}", "1/2", 'a hit that expired, then a miss');
Test::More::is("$c->{expired}/$c->{refusal_hits}", "2/1", 'the third from the refusal cache');
--- error_code eval
[200, 401, 401]
--- response_headers eval
["X-Status: ok", "X-Status: expired", "X-Status: expired"]



=== TEST 8: jwt_peer_auth_token_cache off turns the refusal cache off too
--- http_config
    jwt_peer_auth_token_cache off;
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::BAD, $main::BAD]
--- error_code eval
[401, 401]
--- between_1
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{refusal_hits}", "2/0", 'both verified');



=== TEST 9: a reload forgets (new workers start empty)
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::BAD, $main::BAD, $main::BAD]
--- between_1
my $c = main::counts();
Test::More::is($c->{refusal_hits}, 1, 'the second from the cache');
my $before = JwtPeerAuth::log_count(qr/worker process \d+ exited/);
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
for (1 .. 100) {
    last if JwtPeerAuth::log_count(qr/worker process \d+ exited/) > $before;
    select(undef, undef, undef, 0.1);
}
Test::More::ok(JwtPeerAuth::log_count(qr/worker process \d+ exited/) > $before, 'the old worker exited');
--- between_2
my $c = main::counts();
Test::More::is("$c->{signature}/$c->{refusal_hits}", "3/1", 'verified again after the reload');
--- error_code eval
[401, 401, 401]
