# Certificate-bound access tokens (RFC 8705 §3): jwt_peer_auth_cert_binding off | on | optional
# [cert=$variable], and $jwt_peer_auth_cert_thumbprint. Mutual TLS against an extra server (in
# http_config, on $TEST_NGINX_RAND_PORT_1) with a test CA and two client certificates, peer-a
# and peer-b (t/helpers/Tls.pm); tokens bound to peer-a are minted with jwt-mint --cnf-cert.
# The runner's own request is a plain GET to an open location; the TLS requests run in a
# between_0 hook through curl and are asserted with Test::More. Two workers.
#
# Every block fails on a module built before the feature: the directive is unknown (nginx -t
# fails, and the runner gives up on the file at the first block that must start NGINX).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Tls;
use Test::Nginx::Socket 'no_plan';

# HTTP/2 over TLS, in the listen syntax of the NGINX under test ($TEST_NGINX_TLS_H2).
JwtPeerAuth::set_http2_listen();

our %PRINT = map { $_ => Tls::thumbprint($_) } @Tls::PEERS;
our $BOUND_A = JwtPeerAuth::token('rsa', '--cnf-cert', "$Tls::DIR/peer-a.pem", '--claims', '{"sub":"peer-a"}');
our $UNBOUND = JwtPeerAuth::token('rsa', '--claims', '{"sub":"anyone"}');

# The token really carries peer-a's thumbprint as openssl computes it.
JwtPeerAuth::claims($BOUND_A)->{cnf}{'x5t#S256'} eq $PRINT{'peer-a'}
    or die "jwt-mint --cnf-cert and openssl disagree on peer-a's thumbprint\n";
$PRINT{'peer-a'} ne $PRINT{'peer-b'} or die "peer-a and peer-b have the same thumbprint\n";

# The port of the block's TLS server, as the runner wrote it into nginx.conf (both runners
# expand $TEST_NGINX_RAND_PORT_1 per block; neither exports it to Perl code).
sub tls_port {
    my $conf = JwtPeerAuth::slurp(Test::Nginx::Socket::server_root() . '/conf/nginx.conf');
    my ($port) = $conf =~ /listen\s+127\.0\.0\.1:(\d+)\s+ssl\b/
        or die "no 'listen 127.0.0.1:<port> ssl' in nginx.conf\n";
    return $port;
}

sub bearer { 'Authorization: Bearer ' . $_[0] }

# One TLS request and its checks: $want = { status, challenge (undef: none), x_status,
# thumbprint (optional), proto (optional) }.
sub check_tls {
    my ($what, $path, $want, %opts) = @_;
    my $r = Tls::get(tls_port(), $path, %opts);
    Test::More::is($r->{status}, $want->{status}, "$what: status")
        or Test::More::diag("curl exit $r->{exit}:\n$r->{raw}");
    Test::More::is($r->{proto}, $want->{proto}, "$what: protocol") if defined $want->{proto};
    Test::More::is($r->{headers}{'www-authenticate'}, $want->{challenge}, "$what: challenge");
    Test::More::is($r->{headers}{'x-status'}, $want->{x_status}, "$what: X-Status");
    Test::More::is($r->{headers}{'x-thumbprint'}, "[$want->{thumbprint}]", "$what: X-Thumbprint")
        if defined $want->{thumbprint};
    Test::More::is($r->{body}, "ok\n", "$what: body") if $want->{status} == 200;
    return $r;
}

our $INVALID = 'Bearer realm="peers", error="invalid_token"';
our $OK = { status => 200, challenge => undef, x_status => 'ok' };
our $REFUSED = { status => 401, challenge => $INVALID, x_status => 'binding' };

sub rejected_count {
    my ($detail) = @_;
    return JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: binding \(\Q$detail\E\)/);
}

# Two workers; a cold zone per block, also when Test::Nginx reloads one NGINX between blocks
# (HUP mode); called before this file's own preprocessor (the preprocessor added last runs first).
JwtPeerAuth::setup(
    user_files => ">>> index.html\nok\n",
    request => 'GET /open',
    config => "    location = /open { return 200 \"open\\n\"; }\n",
);

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->must_die && !defined $block->error_code) {
        $block->set_value('error_code', 200);
    }
});

run_tests();

__DATA__

=== TEST 1: jwt_peer_auth_cert_binding with an unknown mode fails nginx -t
--- config
    location /p {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_cert_binding maybe;
    }
--- must_die
--- error_log eval
qr/\[emerg\](?!.*unknown directive).*jwt_peer_auth_cert_binding/



=== TEST 2: cert= must name a variable
--- config
    location /p {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_cert_binding on cert=novariable;
    }
--- must_die
--- error_log eval
qr/\[emerg\](?!.*unknown directive).*jwt_peer_auth_cert_binding/



=== TEST 3: on (inherited from the server): only a token bound to the presented certificate passes
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        server_name tls;
        ssl_certificate $TEST_NGINX_TLS_DIR/server.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;
        ssl_client_certificate $TEST_NGINX_TLS_DIR/ca.pem;
        ssl_verify_client optional;

        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_cert_binding on;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Thumbprint "[$jwt_peer_auth_cert_thumbprint]" always;

        location /p/ { alias $TEST_NGINX_HTML_DIR/; }
        location /off/ { jwt_peer_auth_cert_binding off; alias $TEST_NGINX_HTML_DIR/; }
    }
--- between_0
my %a = (cert => 'peer-a');
main::check_tls('bound token, peer-a', '/p/index.html',
                { %$main::OK, thumbprint => $main::PRINT{'peer-a'} },
                %a, headers => [main::bearer($main::BOUND_A)]);
main::check_tls('bound token, peer-b', '/p/index.html', $main::REFUSED,
                cert => 'peer-b', headers => [main::bearer($main::BOUND_A)]);
main::check_tls('bound token, no certificate', '/p/index.html', $main::REFUSED,
                headers => [main::bearer($main::BOUND_A)]);
main::check_tls('unbound token, peer-a', '/p/index.html', $main::REFUSED,
                %a, headers => [main::bearer($main::UNBOUND)]);
main::check_tls('no token, peer-a', '/p/index.html',
                { status => 401, challenge => 'Bearer realm="peers"', x_status => 'missing' }, %a);
main::check_tls('binding off in a location: unbound token, no certificate', '/off/index.html', $main::OK,
                headers => [main::bearer($main::UNBOUND)]);

Test::More::is(main::rejected_count('cnf.x5t#S256 does not match the client certificate'), 1,
               'log: one mismatch');
Test::More::is(main::rejected_count('no client certificate'), 1, 'log: one without a certificate');
Test::More::is(main::rejected_count('no cnf.x5t#S256 claim'), 1, 'log: one unbound token');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: binding/), 3, 'log: three binding refusals');



=== TEST 4: optional: unbound tokens pass with or without a certificate, bound ones need theirs
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        server_name tls;
        ssl_certificate $TEST_NGINX_TLS_DIR/server.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;
        ssl_client_certificate $TEST_NGINX_TLS_DIR/ca.pem;
        ssl_verify_client optional;

        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Thumbprint "[$jwt_peer_auth_cert_thumbprint]" always;

        location /p/ { jwt_peer_auth_cert_binding optional; alias $TEST_NGINX_HTML_DIR/; }
    }
--- between_0
main::check_tls('unbound token, no certificate', '/p/index.html', { %$main::OK, thumbprint => '' },
                headers => [main::bearer($main::UNBOUND)]);
main::check_tls('unbound token, peer-b', '/p/index.html', $main::OK,
                cert => 'peer-b', headers => [main::bearer($main::UNBOUND)]);
main::check_tls('bound token, no certificate', '/p/index.html', $main::REFUSED,
                headers => [main::bearer($main::BOUND_A)]);
main::check_tls('bound token, peer-a', '/p/index.html', { %$main::OK, thumbprint => $main::PRINT{'peer-a'} },
                cert => 'peer-a', headers => [main::bearer($main::BOUND_A)]);
main::check_tls('bound token, peer-b', '/p/index.html', $main::REFUSED,
                cert => 'peer-b', headers => [main::bearer($main::BOUND_A)]);

Test::More::is(main::rejected_count('no client certificate'), 1, 'log: one without a certificate');
Test::More::is(main::rejected_count('cnf.x5t#S256 does not match the client certificate'), 1,
               'log: one mismatch');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: binding/), 2, 'log: two binding refusals');



=== TEST 5: a cnf of the wrong type is refused under optional too
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        server_name tls;
        ssl_certificate $TEST_NGINX_TLS_DIR/server.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;
        ssl_client_certificate $TEST_NGINX_TLS_DIR/ca.pem;
        ssl_verify_client optional;

        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_cert_binding optional;
        add_header X-Status $jwt_peer_auth_status always;

        location /p/ { alias $TEST_NGINX_HTML_DIR/; }
    }
--- between_0
my $print = $main::PRINT{'peer-a'};
main::check_tls('cnf as a string', '/p/index.html', $main::REFUSED, cert => 'peer-a',
                headers => [main::bearer(JwtPeerAuth::token('rsa', '--claims', qq({"cnf":"$print"})))]);
main::check_tls('x5t#S256 as an array', '/p/index.html', $main::REFUSED, cert => 'peer-a',
                headers => [main::bearer(JwtPeerAuth::token('rsa', '--claims', qq({"cnf":{"x5t#S256":["$print"]}})))]);
main::check_tls('cnf with another method only (jkt)', '/p/index.html', $main::OK, cert => 'peer-a',
                headers => [main::bearer(JwtPeerAuth::token('rsa', '--claims', '{"cnf":{"jkt":"dpop-key"}}'))]);
Test::More::is(main::rejected_count('cnf is not an object'), 1, 'log: cnf is not an object');
Test::More::is(main::rejected_count('x5t#S256 is not a string'), 1, 'log: x5t#S256 is not a string');



=== TEST 6: HTTP/2 over TLS answers like HTTP/1.1: bound token with peer-a 200, with peer-b 401
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 $TEST_NGINX_TLS_H2;
        server_name tls;
        ssl_certificate $TEST_NGINX_TLS_DIR/server.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;
        ssl_client_certificate $TEST_NGINX_TLS_DIR/ca.pem;
        ssl_verify_client optional;

        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Thumbprint "[$jwt_peer_auth_cert_thumbprint]" always;

        location /p/ { jwt_peer_auth_cert_binding on; alias $TEST_NGINX_HTML_DIR/; }
    }
--- between_0
main::check_tls('h2: bound token, peer-a', '/p/index.html',
                { %$main::OK, proto => '2', thumbprint => $main::PRINT{'peer-a'} },
                http2 => 1, cert => 'peer-a', headers => [main::bearer($main::BOUND_A)]);
main::check_tls('h2: bound token, peer-b', '/p/index.html', { %$main::REFUSED, proto => '2' },
                http2 => 1, cert => 'peer-b', headers => [main::bearer($main::BOUND_A)]);
# Two streams on one connection would share the certificate; separate connections here, so
# also the unbound token on HTTP/2.
main::check_tls('h2: unbound token, peer-a', '/p/index.html', { %$main::REFUSED, proto => '2' },
                http2 => 1, cert => 'peer-a', headers => [main::bearer($main::UNBOUND)]);
Test::More::is(main::rejected_count('cnf.x5t#S256 does not match the client certificate'), 1,
               'log: one mismatch over HTTP/2');



=== TEST 7: cert=$http_x_client_cert (a TLS terminator in front): URL-escaped PEM over plain HTTP
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    add_header X-Status $jwt_peer_auth_status always;
    add_header X-Thumbprint "[$jwt_peer_auth_cert_thumbprint]" always;
    location /p/ {
        jwt_peer_auth_cert_binding on cert=$http_x_client_cert;
        alias html/;
    }
    location /raw/ {
        # The connection's own certificate: plain HTTP has none.
        jwt_peer_auth_cert_binding on;
        alias html/;
    }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html",
 "GET /raw/index.html"]
--- more_headers eval
[main::bearer($main::BOUND_A) . "\nX-Client-Cert: " . Tls::escaped_pem('peer-a'),
 main::bearer($main::BOUND_A) . "\nX-Client-Cert: " . Tls::escaped_pem('peer-b'),
 main::bearer($main::BOUND_A),
 main::bearer($main::BOUND_A) . "\nX-Client-Cert: %zz" . Tls::escaped_pem('peer-a'),
 main::bearer($main::BOUND_A) . "\nX-Client-Cert: " . Tls::escaped_pem('peer-a')]
--- error_code eval
[200, 401, 401, 401, 401]
--- response_headers eval
["X-Status: ok\nX-Thumbprint: [$main::PRINT{'peer-a'}]\n!WWW-Authenticate",
 "X-Status: binding\nWWW-Authenticate: $main::INVALID",
 "X-Status: binding\nWWW-Authenticate: $main::INVALID",
 "X-Status: binding\nWWW-Authenticate: $main::INVALID",
 "X-Status: binding\nWWW-Authenticate: $main::INVALID"]
--- response_body eval
["ok\n", qr/401 Authorization Required/, qr/401 Authorization Required/,
 qr/401 Authorization Required/, qr/401 Authorization Required/]
--- between_4
Test::More::is(main::rejected_count('cnf.x5t#S256 does not match the client certificate'), 1,
               'log: peer-b in the header is a mismatch');
Test::More::is(main::rejected_count('no client certificate'), 3,
               'log: no header, a bad escape, and plain HTTP without cert= have no certificate');
