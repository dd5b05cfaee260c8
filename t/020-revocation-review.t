# Review of runtime revocation (h-review): attacks on the check and edge cases of the API's
# request-body handling. Blocks marked BYPASS fail on the reviewed change (cd67234) and pass
# once the hole is closed; the others pin down behaviour that is right today.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
master_on();
workers(2);
log_level('info');
no_shuffle();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
JwtPeerAuth::set_http2_listen();

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $http = $block->http_config // '';
    $http = "    jwt_peer_auth_revocation zone=\@REV\@:1m;\n$http" unless $http =~ /jwt_peer_auth_revocation\b/;
    $http =~ s/\@REV\@/rev_r$n/g;
    $block->set_value('http_config', $http);
    my $config = $block->config // <<'_EOC_';
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check identifier token_id jti header.kid;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
_EOC_
    $block->set_value('config', $config);
    $block->set_value('user_files', [["index.html" => "ok\n"]]) unless defined $block->user_files;
});

JwtPeerAuth::zone_per_block();
JwtPeerAuth::use_between_hooks();

sub port { $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984 }

sub peer {
    my (%claims) = @_;
    require JSON::PP;
    return JwtPeerAuth::bearer('rsa', '--claims', JSON::PP->new->canonical->encode(\%claims));
}

our $JSON = 'Content-Type: application/json';

sub api_post {
    my ($body) = @_;
    return JwtPeerAuth::http_request(port(), 'POST', '/revocations', headers => [$JSON], body => $body);
}

sub get_p {
    my ($auth) = @_;
    my ($code) = JwtPeerAuth::http_request(port(), 'GET', '/p/index.html', headers => [$auth]);
    return $code;
}

run_tests();

__DATA__

=== TEST 1: BYPASS: a key revoked by "header.kid" still verifies a token that names no kid
Whoever holds the revoked key (the reason to revoke it) signs without "kid": verify() then
tries every key that fits the alg, the revoked one verifies it, and Verified::kid() is None.
--- request eval
["POST /revocations\n{\"name\":\"header.kid\",\"value\":\"ec\"}",
 "GET /p/index.html", "GET /p/index.html",
 "POST /revocations\n{\"name\":\"header.kid\",\"value\":\"rsa\"}",
 "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::JSON, JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('ec', '--no-kid'),
 $main::JSON, JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa', '--no-kid')]
--- error_code eval
[201, 401, 401, 201, 401, 401]



=== TEST 2: BYPASS: a numeric value that is not written as an integer is accepted (201) but never matches
POST {"value":42.0} stores "42.0", POST {"value":1e2} stores "100.0"; a token's jti 42 / 100 is
looked up as "42" / "100". Either the API refuses such a value (400) or the token is refused.
--- request
GET /revocations
--- between_0
for my $case (['42.0', 42], ['1e2', 100], ['4.2e1', 42]) {
    my ($lit, $jti) = @$case;
    my ($code, $body) = main::api_post(qq({"name":"jti","value":$lit}));
    my $got = main::get_p(main::peer(jti => $jti));
    Test::More::ok($code == 400 || ($code =~ /^20[01]$/ && $got == 401),
        "POST value $lit: refused, or jti $jti is refused (POST $code, GET $got, $body)");
}
--- error_code: 200



=== TEST 3: a chunked POST body in two chunks is read (HTTP/1.1 without Content-Length)
--- raw_request eval
my @chunks = ('{"name":"identi', 'fier","value":"peer-chunk"}');
"POST /revocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
  . join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @chunks) . "0\r\n\r\n"
--- error_code: 201
--- response_body_like: "value":"peer-chunk"



=== TEST 4: a chunked POST body over 4 KiB is 413 once read, not a crash
--- raw_request eval
my $pad = ' ' x 5000;
my $body = "{\"name\":\"identifier\",\"value\":\"x\"$pad}";
sprintf("POST /revocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", length($body), $body)
--- error_code: 413
--- response_body_like: larger than 4096
--- no_error_log
[alert]



=== TEST 5: a body below 4 KiB but above client_body_buffer_size (in a temporary file) is 413, not a crash
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /revocations { jwt_peer_auth off; client_body_buffer_size 1k; jwt_peer_auth_revocation_api; }
--- request eval
"POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\"" . (' ' x 3900) . "}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- no_error_log
[alert]



=== TEST 6: HEAD lists nothing but headers; OPTIONS is 405 with Allow; Expect: 100-continue works
--- request eval
["HEAD /revocations", "OPTIONS /revocations"]
--- error_code eval
[200, 405]
--- response_headers eval
["Content-Type: application/json", "Allow: GET, HEAD, POST, DELETE"]
--- between_1
my $port = main::port();
my $body = '{"name":"identifier","value":"peer-expect"}' . (' ' x 2000);
my $out = qx{curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' -H 'Content-Type: application/json' --data-binary '$body' http://127.0.0.1:$port/revocations};
Test::More::is($out, '201', 'POST with Expect: 100-continue');



=== TEST 7: an HTTP/2 POST (h2c) is read and answered; the token is then refused
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        location = /revocations { jwt_peer_auth_revocation_api; }
    }
--- request
GET /revocations
--- between_0
my $port = $ENV{TEST_NGINX_H2_PORT};
for my $run (['{"name":"identifier","value":"peer-h2"}', '201'],
             ['{"name":"identifier","value":"peer-h2b","ttl":"1h"}' . (' ' x 3000), '201']) {
    my ($body, $want) = @$run;
    my $out = qx{curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' -H 'Content-Type: application/json' --data-binary '$body' http://127.0.0.1:$port/revocations};
    Test::More::is($out, "2 $want", "h2c POST: $want");
}
my $code = main::get_p(main::peer(identifier => 'peer-h2'));
Test::More::is($code, 401, 'the h2-revoked peer is refused');
--- error_code: 200
--- no_error_log
[alert]
