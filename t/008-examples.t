# The example configurations in nginx-conf/ work as shipped: each is included with only its
# paths and ports pointed at the test environment, then exercised with real requests.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
no_shuffle();

# The example with its listen port, upstream and key paths replaced.
sub example {
    my ($name) = @_;
    my $conf = JwtPeerAuth::slurp("$JwtPeerAuth::ROOT/nginx-conf/$name");
    # Like the runner's own server, on all addresses (as the example's `listen 8080;` is): on
    # 127.0.0.1 only, it would take every connection to 127.0.0.1 away from the runner's
    # servers, which Test::Nginx's TEST_NGINX_USE_HUP=1 mode needs to see a reload through.
    $conf =~ s/listen 8080;/listen \$TEST_NGINX_SERVER_PORT;/g;
    $conf =~ s{127\.0\.0\.1:9000}{127.0.0.1:\$TEST_NGINX_RAND_PORT_1}g;
    $conf =~ s{/etc/nginx/jwt/jwks\.json}{\$TEST_NGINX_JWT_KEYS/jwks.json}g;
    $conf =~ s{/etc/nginx/jwt/revoked-peers\.map}{$JwtPeerAuth::ROOT/nginx-conf/revoked-peers.map}g;
    $conf =~ s{/var/lib/nginx/jwt_peer_auth/}{\$TEST_NGINX_HTML_DIR/}g;
    # two-issuers.conf: both identity providers' key services on loopback, without TLS.
    $conf =~ s{https://login\.corp\.example/\.well-known/jwks\.json}{http://127.0.0.1:\$TEST_NGINX_RAND_PORT_2/corp}g;
    $conf =~ s{https://idp\.partner\.example/jwks}{http://127.0.0.1:\$TEST_NGINX_RAND_PORT_2/partner}g;
    $conf =~ s{^\s*proxy_ssl_\w+ [^;]*;\n}{}mg;
    return $conf . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "upstream $request_uri peer=$http_x_peer_id token_id=$http_x_peer_token_id kid=$http_x_peer_key_id auth=$http_authorization\n";
        }
    }
_EOC_
}

# Blocks may carry --- between_N hooks (Perl code run after request N; see JwtPeerAuth.pm).
JwtPeerAuth::use_between_hooks();

run_tests();

__DATA__

=== TEST 1: minimal.conf: protected /api/
--- http_config eval: main::example('minimal.conf')
--- config
--- request eval
["GET /api/x", "GET /api/x"]
--- more_headers eval
["Host: peer.example\n" . JwtPeerAuth::bearer('rsa'), "Host: peer.example"]
--- error_code eval
[200, 401]



=== TEST 2: identity-forwarding.conf: the upstream gets the identity, not the token
--- http_config eval: main::example('identity-forwarding.conf')
--- config
--- request
GET /tunnel
--- more_headers eval
"Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-9","token_id":"t-1"}')
--- error_code: 200
--- response_body
upstream /tunnel peer=peer-9 token_id=t-1 kid=rsa auth=



=== TEST 3: cookie-token.conf
--- http_config eval: main::example('cookie-token.conf')
--- config
--- request eval
["GET /page", "GET /page"]
--- more_headers eval
["Host: peer.example\nCookie: access_token=" . JwtPeerAuth::token('ec'), "Host: peer.example\n" . JwtPeerAuth::bearer('ec')]
--- error_code eval
[200, 401]



=== TEST 4: per-location-mode.conf: server policy, stricter location, open location
--- http_config eval: main::example('per-location-mode.conf')
--- config
--- request eval
["GET /x", "GET /admin/x", "GET /admin/x", "GET /health", "GET /x"]
--- more_headers eval
["Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"peer.example"}'),
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"peer.example"}'),
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"peer.example","role":"admin"}'),
 "Host: peer.example",
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"other.example"}')]
--- error_code eval
[200, 401, 200, 200, 401]



=== TEST 5: revoked-peers.conf: a listed identifier gets 403, others pass
--- http_config eval: main::example('revoked-peers.conf')
--- config
--- request eval
["GET /x", "GET /x"]
--- more_headers eval
["Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"11111111-2222-3333-4444-555555555555"}'),
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"22222222-3333-4444-5555-666666666666"}')]
--- error_code eval
[200, 403]



=== TEST 6: per-peer-rate-limit.conf: each peer has its own limit (5 r/s, burst 10), others are not slowed
--- http_config eval: main::example('per-peer-rate-limit.conf')
--- config
--- request
GET /x
--- more_headers eval
"Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-0"}')
--- error_code: 200
--- response_body
upstream /x peer=peer-0 token_id= kid= auth=
--- between_0
my @host = ('Host: peer.example');
my $a = JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-a"}');
my $b = JwtPeerAuth::bearer('ec', '--claims', '{"identifier":"peer-b"}');
my $port = server_port_for_client();
# Peer A: 20 requests at once (one keep-alive connection, a few milliseconds).
my @a = map { $_->{status} } KeyService::session($port, [map { ['/x', @host, $a] } 1 .. 20], 20);
Test::More::is(scalar @a, 20, 'peer A: every request answered');
Test::More::is(join(' ', @a[0 .. 10]), join(' ', ('200') x 11), 'peer A: one request and a burst of 10 pass at once');
Test::More::ok((grep { $_ == 429 } @a) >= 1, "peer A: then 429 ('@a')");
# Peer B right after: its own limit, untouched by A's.
my @b = map { $_->{status} } KeyService::session($port, [map { ['/x', @host, $b] } 1 .. 3], 20);
Test::More::is("@b", '200 200 200', 'peer B is not limited by peer A');
# A refused token is answered 401 by the module, not 429 by the limiter.
my @bad = map { $_->{status} } KeyService::session($port,
    [map { ['/x', @host, JwtPeerAuth::bearer('rsa', '--corrupt')] } 1 .. 3], 20);
Test::More::is("@bad", '401 401 401', 'bad tokens: 401');



=== TEST 7: revocation.conf: POST to the API revokes a peer at once; the list is in the state file
--- http_config eval: main::example('revocation.conf')
--- config
--- request eval
["GET /x", "POST /_revocations\n{\"name\":\"identifier\",\"value\":\"peer-7\"}", "GET /x", "GET /x", "GET /_revocations"]
--- more_headers eval
["Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-7"}'),
 "Host: peer.example\nContent-Type: application/json",
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-7"}'),
 "Host: peer.example\n" . JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-8"}'),
 "Host: peer.example"]
--- error_code eval
[200, 201, 401, 200, 200]
--- response_body_like eval
["peer=", qr/"value":"peer-7"/, "401", "upstream", qr/^\{"entries":\[\{"name":"identifier","value":"peer-7"/]
--- between_4
Test::More::like(JwtPeerAuth::slurp("$html/revocations.json"), qr/"value":"peer-7"/, 'written to the state file');



=== TEST 8: two-issuers.conf: each provider's tokens verify with its own keys only, even with the same kid
--- http_config eval
main::example('two-issuers.conf') . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        default_type application/json;
        location = /corp { alias $TEST_NGINX_HTML_DIR/corp.json; }
        location = /partner { alias $TEST_NGINX_HTML_DIR/partner.json; }
    }
_EOC_
--- config
--- user_files eval
# Both publish the kid "k1", for different keys.
require JSON::PP;
my $as = sub {
    my $doc = JSON::PP::decode_json(JwtPeerAuth::jwks($_[0]));
    $_->{kid} = 'k1' for @{ $doc->{keys} };
    JSON::PP->new->canonical->encode($doc);
};
[["corp.json" => $as->('rsa')], ["partner.json" => $as->('rsa2')]]
--- request eval
["GET /x", "GET /y", "GET /z", "GET /w"]
--- more_headers eval
my $corp = '{"iss":"https://login.corp.example/","sub":"alice"}';
my $partner = '{"iss":"https://idp.partner.example/","sub":"bob"}';
["Host: api.example\n" . JwtPeerAuth::bearer('rsa', '--kid', 'k1', '--claims', $corp),
 "Host: api.example\n" . JwtPeerAuth::bearer('rsa2', '--kid', 'k1', '--claims', $partner),
 "Host: api.example\n" . JwtPeerAuth::bearer('rsa2', '--kid', 'k1', '--claims', $corp),
 "Host: api.example\n" . JwtPeerAuth::bearer('rsa', '--kid', 'k1')]
--- error_code eval
[200, 200, 401, 401]
--- response_body_like eval
["^upstream /x peer=alice token_id= kid= auth=\n\$", "^upstream /y peer=bob token_id= kid= auth=\n\$", "401", "401"]
