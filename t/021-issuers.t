# Several key sources at one level, and key sources bound to an issuer ("issuer="): a key of
# a bound source only verifies tokens whose iss is that issuer, also when another issuer's
# source publishes the same kid; each fetched source keeps its own keys, refetch and status.
# Two workers share one zone.
#
# Issuer A's keys: test key 'rsa' published as kid "k1"; issuer B's: test key 'rsa2', ALSO
# published as kid "k1". Both key services are locations of the server on
# $TEST_NGINX_RAND_PORT_1 (access log logs/keysvc.log: "$request_uri" per fetch).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Test::Nginx::Socket 'no_plan';


# A JWKS with test key $key published under the kid $kid.
sub jwks_as {
    my ($key, $kid) = @_;
    require JSON::PP;
    my $doc = JSON::PP::decode_json(JwtPeerAuth::jwks($key));
    $_->{kid} = $kid for @{ $doc->{keys} };
    return JSON::PP->new->canonical->encode($doc);
}

# "Authorization: Bearer ..." signed by test key $key, header kid $kid, claim iss $iss (none
# if undef).
sub tok {
    my ($key, $kid, $iss) = @_;
    my @claims = defined $iss ? ('--claims', qq({"iss":"$iss"})) : ();
    return JwtPeerAuth::bearer($key, '--kid', $kid, @claims);
}

our $keysvc_log = sub { Test::Nginx::Socket::server_root() . '/logs/keysvc.log' };
our $FILES = [
    ["jwks_a.json" => jwks_as('rsa', 'k1')],
    ["jwks_b.json" => jwks_as('rsa2', 'k1')],
];

# Two workers, a cold zone per block, the backend and the key service in every block.
JwtPeerAuth::setup(
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
_EOC_
    user_files => $FILES,
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_a issuer=A;
    jwt_peer_auth_key_request /_jwks_b issuer=B;
    location = /_jwks_a { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/a; }
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: two issuers, each with its own key service publishing the same kid: each token verifies only with its issuer's keys
--- request eval
["GET /p/a", "GET /p/b", "GET /p/a-with-b-key", "GET /p/b-with-a-key", "GET /p/no-iss", "GET /p/other-iss",
 "GET /p/a", "GET /p/b"]
--- more_headers eval
[main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B'), main::tok('rsa2', 'k1', 'A'), main::tok('rsa', 'k1', 'B'), main::tok('rsa', 'k1'),
 main::tok('rsa', 'k1', 'C'), main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B')]
--- between_0
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/a$}, 1), 1, 'the token of A fetched A\'s keys');
Test::More::is(KeyService::lines($main::keysvc_log->(), qr{^/b$}), 0, 'and not B\'s');
--- between_7
Test::More::is(KeyService::lines($main::keysvc_log->(), qr{^/a$}), 1, 'A fetched once');
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/b$}, 1), 1, 'B fetched once');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: signature \(signature does not verify\)/), 2,
               'a token signed with the other issuer\'s key: its own issuer\'s key does not verify it');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: claim \(no "iss" claim, and every key source is bound to an issuer\)/),
               1, 'no iss');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: claim \(no key source for the issuer/), 1, 'iss C');
--- error_code eval
[200, 200, 401, 401, 401, 401, 200, 200]
--- response_body_like eval
["ok /p/a", "ok /p/b", "", "", "", "", "ok /p/a", "ok /p/b"]



=== TEST 2: key rotation at A (a new kid, refetched) does not disturb B
--- request eval
["GET /p/a", "GET /p/b", "GET /p/a2", "GET /p/b", "GET /p/a", "GET /p/b2"]
--- more_headers eval
[main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B'), main::tok('ed', 'k2', 'A'), main::tok('rsa2', 'k1', 'B'), main::tok('rsa', 'k1', 'A'),
 main::tok('ed', 'k2', 'B')]
--- between_1
JwtPeerAuth::write_file("$html/jwks_a.json", do {
    require JSON::PP;
    my $doc = JSON::PP::decode_json(main::jwks_as('rsa', 'k1'));
    push @{ $doc->{keys} }, @{ JSON::PP::decode_json(main::jwks_as('ed', 'k2'))->{keys} };
    JSON::PP->new->canonical->encode($doc);
});
--- between_5
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/a$}, 2), 2, 'A: cold fetch + the kid-miss refetch');
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{^/b$}, 2), 2, 'B: cold fetch + its own kid-miss refetch (k2 of B)');
--- error_code eval
[200, 200, 200, 200, 200, 401]



=== TEST 3: each fetched source has its own status-page entry, named with its issuer
--- request eval
["GET /p/a", "GET /p/b", "GET /status"]
--- more_headers eval
[main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B'), ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
["ok /p/a", "ok /p/b",
 qr/"key_sources":\[\{"uri":"\/_jwks_a \(issuer A\)","live":true,"state":"published","generation":\d+,.*"kids":\["k1"\]\},\{"uri":"\/_jwks_b \(issuer B\)","live":true,"state":"published","generation":\d+,.*"kids":\["k1"\]\}\]/]



=== TEST 4: a source without keys fails closed only for its own issuer
--- user_files eval
[["jwks_a.json" => main::jwks_as('rsa', 'k1')]]
--- request eval
["GET /p/a", "GET /p/b"]
--- more_headers eval
[main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B')]
--- error_code eval
[200, 500]



=== TEST 5: two JWKS files at one level, each bound to its issuer; a level with its own key sources replaces all inherited ones
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks_a.json issuer=A;
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks_b.json issuer=B;
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /only-b { jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks_b.json issuer=B; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /fetched-b { jwt_peer_auth_key_request /_jwks_b issuer=B; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- request eval
["GET /p/a", "GET /p/b", "GET /p/x", "GET /p/y", "GET /only-b/a", "GET /only-b/b", "GET /fetched-b/a", "GET /fetched-b/b"]
--- more_headers eval
[main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B'), main::tok('rsa2', 'k1', 'A'), main::tok('rsa', 'k1'),
 main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B'), main::tok('rsa', 'k1', 'A'), main::tok('rsa2', 'k1', 'B')]
--- error_code eval
[200, 200, 401, 401, 401, 200, 401, 200]



=== TEST 6: an unbound file beside a bound key request: the file verifies any issuer, the fetched keys only B's
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/ed.json;
    jwt_peer_auth_key_request /_jwks_b issuer=B;
    location = /_jwks_b { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/b; }
    location /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- user_files eval
[["jwks_b.json" => main::jwks_as('rsa2', 'k1')], ["ed.json" => main::jwks_as('ed', 'e1')]]
--- request eval
["GET /p/1", "GET /p/2", "GET /p/3", "GET /p/4"]
--- more_headers eval
[main::tok('ed', 'e1', 'A'), main::tok('ed', 'e1'), main::tok('rsa2', 'k1', 'B'), main::tok('rsa2', 'k1', 'A')]
--- error_code eval
[200, 200, 200, 401]
