# jwt_peer_auth_discovery: keys found through an OpenID Connect discovery document served by a
# fixture provider (a server block on $TEST_NGINX_RAND_PORT_1). The document's issuer must be the
# configured one exactly (an IdP mix-up is refused, logged, on the status page); its jwks_uri must
# be https on the issuer's origin or a listed one; every bad answer is a failed fetch with a clear
# log line; a jwks_uri change is followed; the last keys serve while the document is unavailable.
# The fixture issuer is https://idp.test: the key location forwards $jwt_peer_auth_jwks_uri to
# the fixture in a header, and the fixture serves the key set that URL names.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Http2;
use Test::Nginx::Socket 'no_plan';

package Disco;

our $ISS = 'https://idp.test';

# A discovery document naming $iss and $jwks_uri (undef: the member is left out).
sub doc {
    my ($iss, $jwks_uri, %extra) = @_;
    require JSON::PP;
    my %d = (%extra, token_endpoint => "$ISS/token", response_types_supported => ['code']);
    $d{issuer} = $iss if defined $iss;
    $d{jwks_uri} = $jwks_uri if defined $jwks_uri;
    return JSON::PP->new->canonical->encode(\%d);
}

# "Authorization: Bearer ..." for a token of $iss (default the fixture issuer) signed with $key.
sub bearer {
    my ($key, $iss, @opts) = @_;
    return JwtPeerAuth::bearer($key, '--claims', '{"iss":"' . ($iss // $ISS) . '"}', @opts);
}

# The fixture documents and key sets every block starts with.
sub files {
    my (%over) = @_;
    my %f = (
        'doc.json' => doc($ISS, "$ISS/keys"),
        'jwks.json' => JwtPeerAuth::jwks('rsa'),
        'jwks2.json' => JwtPeerAuth::jwks('rsa', 'ec'),
        'index.html' => "ok\n",
        %over,
    );
    return [map { [$_ => $f{$_}] } sort keys %f];
}

package main;

JwtPeerAuth::set_http2_listen();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();

our $label = qr{key request "/_oidc_jwks \(discovery /_oidc\) \(issuer https://idp\.test\)"};

# The fixture provider (and the map choosing the key set a jwks_uri names).
our $FIXTURE = <<'_EOC_' . JwtPeerAuth::key_service(<<'_EOC2_');
    map $http_x_jwks_uri $jwks_file {
        "https://idp.test/keys"  jwks.json;
        "https://idp.test/keys2" jwks2.json;
        "https://keys.test/keys" jwks.json;
        "https://idp.test/doc"   doc.json;
        default                  missing.json;
    }
_EOC_
        # The document; a request carrying the client's credentials or cookies is refused.
        location = /doc {
            if ($http_authorization) { return 403; }
            if ($http_cookie) { return 403; }
            alias $TEST_NGINX_HTML_DIR/doc.json;
        }
        location = /route { alias $TEST_NGINX_HTML_DIR/$jwks_file; }
        location = /status500 { return 500; }
        location = /gzip { add_header Content-Encoding gzip; alias $TEST_NGINX_HTML_DIR/doc.json; }
        location = /slowdoc { limit_rate 2k; alias $TEST_NGINX_HTML_DIR/doc.json; }
        location = /slowroute { limit_rate 2k; alias $TEST_NGINX_HTML_DIR/$jwks_file; }
_EOC2_

JwtPeerAuth::setup(
    http_config => $FIXTURE,
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
    request => 'GET /p/index.html',
    user_files => Disco::files(),
);

run_tests();

__DATA__

=== TEST 1: a token passes; the document then the key set it names are fetched once, for both workers
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa')]
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/the discovery document names jwks_uri "https:\/\/idp\.test\/keys"/), 1,
               'one document');
Test::More::is(JwtPeerAuth::log_count(qr/: 1 keys \(kids: rsa\), generation/), 1, 'one key set');
my $status = JwtPeerAuth::status_json();
Test::More::like($status, qr/"discovery":\{"jwks_uri":"https:\/\/idp\.test\/keys","last_error":""/,
                 'the status page shows the jwks_uri');
Test::More::like($status, qr/"uri":"\/_oidc_jwks \(discovery \/_oidc\) \(issuer https:\/\/idp\.test\)"/,
                 'the status page names the source');
--- error_code eval
[200, 200, 200, 200]



=== TEST 2: tokens of another issuer, or without one, never use the discovered keys
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa', 'https://evil.test'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 401, 401]



=== TEST 3: IdP mix-up: a document naming another issuer yields no keys (fail closed: 500): refused, logged, on the status page
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://evil.test', 'https://idp.test/keys'))
--- request eval
["GET /p/index.html", "GET /status"]
--- more_headers eval
[Disco::bearer('rsa'), ""]
--- response_body_like eval
["", qr/"last_error":"discovery document refused: issuer mismatch: the document names \\"https:\/\/evil\.test\\" \(IdP mix-up refused\)/]
--- error_code eval
[500, 200]
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/$main::label failed: discovery document refused: issuer mismatch: the document names "https:\/\/evil\.test" \(IdP mix-up refused\) \(\d+ bytes\); no keys yet/),
               1, 'the mix-up is logged');



=== TEST 4: the issuer is compared exactly: a trailing slash is another issuer
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test/', 'https://idp.test/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
issuer mismatch: the document names "https://idp.test/"



=== TEST 5: a jwks_uri on another origin is refused
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://keys.test/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
jwks_uri "https://keys.test/keys" refused: not on the issuer's origin nor one in "jwks_origins="



=== TEST 6: ... and accepted when its origin is listed in jwks_origins=
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test jwks_origins=https://other.test,https://KEYS.test:443;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location /p { alias html/; }
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://keys.test/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 200
--- error_log
names jwks_uri "https://keys.test/keys"



=== TEST 7: a jwks_uri on another port of the issuer's host is another origin
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://idp.test:8443/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
jwks_uri "https://idp.test:8443/keys" refused: not on the issuer's origin



=== TEST 8: an http jwks_uri for an https issuer is refused
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'http://idp.test/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
jwks_uri "http://idp.test/keys" refused: not https (nor the issuer's scheme)



=== TEST 9: a relative jwks_uri is refused
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', '/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
jwks_uri "/keys" refused: not an absolute URL (no "scheme://")



=== TEST 10: a jwks_uri with userinfo is refused (also one that hides another host before the @)
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://keys.test@idp.test/keys'))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
jwks_uri "https://keys.test@idp.test/keys" refused: userinfo ("user@") not allowed



=== TEST 11: a jwks_uri with a fragment, or with CR LF (header injection into proxy_pass), is refused
--- user_files eval
[["doc.json" => Disco::doc('https://idp.test', "https://idp.test/keys\r\nX-Evil: 1")],
 ["doc2.json" => Disco::doc('https://idp.test', "https://idp.test/keys#x")],
 ["index.html" => "ok\n"]]
--- config
    location /a {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /b {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc2 /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc2 { internal; alias $TEST_NGINX_HTML_DIR/doc2.json; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
--- request eval
["GET /a/index.html", "GET /b/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa')]
--- error_code eval
[500, 500]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr{\Qjwks_uri "https://idp.test/keys??X-Evil: 1" refused: character 0x0d not allowed\E}), 1, 'jwks_uri "https://idp.test/keys??X-Evil: 1" refused: character 0x0d not allowed');
Test::More::is(JwtPeerAuth::log_count(qr{\Qjwks_uri "https://idp.test/keys#x" refused: fragment ("#") not allowed\E}), 1, 'jwks_uri "https://idp.test/keys#x" refused: fragment ("#") not allowed');



=== TEST 12: the document answered with an error status
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/status500; }
    location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route; }
    location /p { alias html/; }
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log eval
qr/$main::label failed: discovery document: status 500; no keys yet/
--- no_error_log
names jwks_uri



=== TEST 13: a document larger than 64 KB
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://idp.test/keys', padding => 'x' x 70000))
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
failed: discovery document: response body larger than 65536 bytes; no keys yet



=== TEST 14: a document with a Content-Encoding
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/gzip; }
    location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route; }
    location /p { alias html/; }
--- more_headers eval
Disco::bearer('rsa')
--- error_code: 500
--- error_log
failed: discovery document: response has Content-Encoding "gzip"



=== TEST 15: a document that is not JSON, or not an object
--- user_files eval
Disco::files('doc.json' => '{"issuer": "https://idp.test", ', 'doc2.json' => '["https://idp.test/keys"]')
--- config
    location /a {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /b {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc2 /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc2 { internal; alias $TEST_NGINX_HTML_DIR/doc2.json; }
    location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route; }
--- request eval
["GET /a/index.html", "GET /b/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa')]
--- error_code eval
[500, 500]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: invalid JSON (\E\d+ bytes\)}), 1, 'invalid JSON');
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: not a JSON object (\E\d+ bytes\)}), 1, 'not an object');



=== TEST 16: missing or mistyped members, duplicate issuer members
--- user_files eval
Disco::files('doc.json' => Disco::doc(undef, 'https://idp.test/keys'),
             'doc2.json' => Disco::doc('https://idp.test', undef),
             'doc3.json' => Disco::doc('https://idp.test', ['https://idp.test/keys']),
             'doc4.json' => '{"issuer":"https://evil.test","issuer":"https://idp.test","jwks_uri":"https://idp.test/keys"}')
--- config
    location /a {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /b {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc2 /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /c {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc3 /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /d {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc4 /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc2 { internal; alias $TEST_NGINX_HTML_DIR/doc2.json; }
    location = /_oidc3 { internal; alias $TEST_NGINX_HTML_DIR/doc3.json; }
    location = /_oidc4 { internal; alias $TEST_NGINX_HTML_DIR/doc4.json; }
    location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route; }
--- request eval
["GET /a/index.html", "GET /b/index.html", "GET /c/index.html", "GET /d/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa')]
--- error_code eval
[500, 500, 500, 500]
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: no "issuer" member\E}), 1, 'discovery document refused: no "issuer" member');
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: no "jwks_uri" member\E}), 1, 'discovery document refused: no "jwks_uri" member');
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: "jwks_uri" is not a string\E}), 1, 'discovery document refused: "jwks_uri" is not a string');
Test::More::is(JwtPeerAuth::log_count(qr{\Qdiscovery document refused: invalid JSON (\E\d+ bytes\)}), 1, 'duplicate issuer members');



=== TEST 17: a loop between the two locations: the jwks_uri names the document, an error_page sends one location to the other
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://idp.test/doc'))
--- config
    recursive_error_pages on;
    location /a {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
        alias html/;
    }
    location /b {
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_loop_doc /_loop_jwks issuer=https://idp.test;
        alias html/;
    }
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location = /_loop_doc {
        internal;
        proxy_intercept_errors on;
        error_page 404 = /_loop_jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/missing;
    }
    location = /_loop_jwks {
        internal;
        proxy_intercept_errors on;
        error_page 404 = /_loop_doc;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/missing;
    }
--- request eval
["GET /a/index.html", "GET /b/index.html", "GET /a/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa')]
--- error_code eval
[500, 500, 500]
--- between_2
Test::More::ok(JwtPeerAuth::log_count(qr/failed: invalid JWKS from "https:\/\/idp\.test\/doc" \(no "keys" array, \d+ bytes\); no keys yet/) >= 1,
               'the key set request got the document');
Test::More::ok(JwtPeerAuth::log_count(qr/key request "\/_loop_jwks \(discovery \/_loop_doc\) \(issuer https:\/\/idp\.test\)" failed: discovery document: /) >= 1,
               'the redirect loop is a failed document fetch');
Test::More::is(JwtPeerAuth::log_count(qr/\[(alert|crit|emerg)\]/), 0, 'no alert');



=== TEST 18: the key set's request is a GET to the key location with none of the client's headers; the variable is empty elsewhere
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        if ($http_cookie) { return 403; }
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location /p {
        add_header X-Jwks-Uri "[$jwt_peer_auth_jwks_uri]" always;
        alias html/;
    }
--- more_headers eval
Disco::bearer('rsa') . "\nCookie: session=1\nX-Jwks-Uri: https://idp.test/keys2"
--- error_code: 200
--- response_headers
X-Jwks-Uri: []
--- error_log
names jwks_uri "https://idp.test/keys"
: 1 keys (kids: rsa)



=== TEST 19: a jwks_uri change is followed: a token with a new kid refetches the document, then the new key set
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /status"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('ec'), ""]
--- between_0
JwtPeerAuth::write_file("$html/doc.json", Disco::doc('https://idp.test', 'https://idp.test/keys2'));
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/names jwks_uri "https:\/\/idp\.test\/keys2"/), 1, 'the new jwks_uri');
Test::More::is(JwtPeerAuth::log_count(qr/: 2 keys \(kids: rsa ec\), generation/), 1, 'the new key set');
--- response_body_like eval
["ok", "ok", qr/"jwks_uri":"https:\/\/idp\.test\/keys2"/]
--- error_code eval
[200, 200, 200]



=== TEST 20: the document cannot be fetched: the last keys serve within the staleness rules
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    jwt_peer_auth_key_cache 1s stale=1h;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa')]
--- between_0
unlink "$html/doc.json" or die "unlink: $!";
select(undef, undef, undef, 2.1);
--- between_2
Test::More::ok(JwtPeerAuth::log_count(qr/$main::label failed: discovery document: status 404; keeping the last good keys/) >= 1,
               'the failed refresh is logged');
Test::More::like(JwtPeerAuth::status_json(), qr/"jwks_uri":"https:\/\/idp\.test\/keys","last_error":"discovery document: status 404"/,
                 'the status page keeps the jwks_uri and shows the last discovery error');
--- error_code eval
[200, 200, 200]



=== TEST 21: a background refresh fetches the document and then the key set it names (the request that started it is not held)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    jwt_peer_auth_key_cache 1s stale=1h;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('ec')]
--- between_0
JwtPeerAuth::write_file("$html/doc.json", Disco::doc('https://idp.test', 'https://idp.test/keys2'));
select(undef, undef, undef, 2.1);
--- between_1
KeyService::wait_until(5, sub { JwtPeerAuth::log_count(qr/: 2 keys \(kids: rsa ec\), generation/) >= 1 });
Test::More::is(JwtPeerAuth::log_count(qr/names jwks_uri "https:\/\/idp\.test\/keys2"/), 1, 'the refresh followed the new jwks_uri');
Test::More::is(JwtPeerAuth::log_count(qr/: 2 keys \(kids: rsa ec\), generation/), 1, 'and published its key set');
--- between_2
Test::More::is(JwtPeerAuth::log_count(qr/names jwks_uri/), 2, 'no refetch for the new kid: the refresh had it');
--- error_code eval
[200, 200, 200]



=== TEST 22: a reload keeps the discovered keys (the document is gone: no fetch after it)
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('rsa')]
--- between_0
unlink "$html/doc.json" or die "unlink: $!";
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
select(undef, undef, undef, 1.5);
--- between_1
Test::More::ok(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\) received/) >= 1, 'reloaded');
Test::More::is(JwtPeerAuth::log_count(qr/discovery document|names jwks_uri/), 1, 'no document fetched after the reload');
--- error_code eval
[200, 200]



=== TEST 23: clients that hang up while the document, then the key set, come slowly: no crash, no alert, the next client is answered
--- user_files eval
Disco::files('doc.json' => Disco::doc('https://idp.test', 'https://idp.test/keys', padding => 'x' x 3000),
             'jwks.json' => JwtPeerAuth::jwks('rsa') . (' ' x 3000))
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slowdoc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slowroute;
    }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /status", "GET /p/index.html"]
--- more_headers eval
["", Disco::bearer('rsa')]
--- between_0
# Clients hang up during the document (the first half second), then during the key set.
KeyService::hang_up_clients(JwtPeerAuth::server_port(), '/p/index.html', 5, 0.5, Disco::bearer('rsa'));
select(undef, undef, undef, 1.8);
KeyService::hang_up_clients(JwtPeerAuth::server_port(), '/p/index.html', 5, 0.5, Disco::bearer('rsa'));
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/\[(alert|crit|emerg)\]|signal \d+ .*exited|worker process \d+ exited on signal/), 0, 'no alert, no crash');
--- timeout: 15
--- error_code eval
[200, 200]



=== TEST 24: over HTTP/2: a cold fetch (the document, then the key set) runs inside a stream; the next streams use the keys
--- http_config eval
$main::FIXTURE . <<'_EOC_'
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        jwt_peer_auth "peers";
        jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
        location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
        location = /_oidc_jwks {
            internal;
            proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
            proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
        }
        location /p { alias html/; }
    }
_EOC_
--- request
GET /status
--- error_code: 200
--- between_0
my @got;
for my $t (Disco::bearer('rsa'), Disco::bearer('rsa'), Disco::bearer('rsa', 'https://evil.test')) {
    my $r = Http2::get($ENV{TEST_NGINX_H2_PORT}, '/p/index.html', [$t]);
    Test::More::is($r->{proto}, '2', 'spoke HTTP/2') or Test::More::diag($r->{raw});
    push @got, $r->{status} . ($r->{status} == 200 ? " $r->{body}" : '');
}
Test::More::is(join(', ', map { s/\n//r } @got), '200 ok, 200 ok, 401', 'the answers');
Test::More::is(JwtPeerAuth::log_count(qr/names jwks_uri/), 1, 'one document');



=== TEST 25: a key request and a discovery source for two issuers side by side: each token verifies with its own issuer's keys only
--- user_files eval
Disco::files('static.json' => JwtPeerAuth::jwks('ec'))
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    jwt_peer_auth_key_request /_static issuer=https://static.test;
    location = /_oidc { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks {
        internal;
        proxy_set_header X-Jwks-Uri $jwt_peer_auth_jwks_uri;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route;
    }
    location = /_static { internal; alias $TEST_NGINX_HTML_DIR/static.json; }
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[Disco::bearer('rsa'), Disco::bearer('ec', 'https://static.test'), Disco::bearer('ec'), Disco::bearer('rsa', 'https://static.test')]
--- error_code eval
[200, 200, 401, 401]



=== TEST 26: the document location must be an exact-match internal location
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    location /_oidc { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/doc; }
    location = /_oidc_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/route; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": "\/_oidc" must lead to an exact-match internal location/



=== TEST 27: issuer= is required
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks jwks_origins=https://keys.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": "issuer=" is required/



=== TEST 28: the issuer must be an http(s) URL without query or fragment
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=idp.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": issuer "idp\.test": not an absolute URL/



=== TEST 29: an issuer with a query
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test/?tenant=a;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": issuer "https:\/\/idp\.test\/\?tenant=a": a query is not allowed/



=== TEST 30: a jwks_origins= entry with a path
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test jwks_origins=https://keys.test/certs;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": origin "https:\/\/keys\.test\/certs": an origin is "scheme:\/\/host\[:port\]"/



=== TEST 31: an http origin for an https issuer
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test jwks_origins=http://keys.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": origin "http:\/\/keys\.test": only "https" \(or the issuer's own scheme\) is accepted/



=== TEST 32: one location for the document and the keys
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc issuer=https://idp.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": the discovery URI and the jwks URI are the same location "\/_oidc"/



=== TEST 33: an unknown parameter, a URI that is not a local path, a duplicate, too few arguments
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test origins=https://keys.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": invalid parameter "origins=https:\/\/keys\.test": "issuer=string" or "jwks_origins=list" is expected/



=== TEST 34: a jwks URI that is not a local path
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc https://idp.test/keys issuer=https://idp.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": invalid jwks URI "https:\/\/idp\.test\/keys": a local path like "\/_oidc" is expected/



=== TEST 35: the same discovery source twice at one level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": duplicate key source "\/_oidc_jwks"/



=== TEST 36: too few arguments
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth_discovery" directive/



=== TEST 37: more than 8 key sources at one level, discovery sources included
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_k1;
    jwt_peer_auth_key_request /_k2;
    jwt_peer_auth_key_request /_k3;
    jwt_peer_auth_key_request /_k4;
    jwt_peer_auth_key_request /_k5;
    jwt_peer_auth_key_request /_k6;
    jwt_peer_auth_key_request /_k7;
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=https://idp.test;
    jwt_peer_auth_discovery /_oidc /_oidc_jwks2 issuer=https://idp.test;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_discovery": too many key sources at one level \(at most 8/



=== TEST 38: a HEAD request (headers only: nothing goes through the output filters) that waits for a cold discovery fetch is answered and its connection closed at once (Connection: close), not at send_timeout: the key set's sub-request, started from the document's, is not left queued in the client request's output
--- request
HEAD /p/index.html
--- more_headers eval
Disco::bearer('rsa')
--- timeout: 10
--- response_body
--- error_code: 200
--- no_error_log
client timed out
prematurely closed



=== TEST 39: a conditional GET answered 304 (headers only) that waits for a cold discovery fetch is answered and its connection closed at once (Connection: close), not at send_timeout
--- request
GET /p/index.html
--- more_headers eval
Disco::bearer('rsa') . "\nIf-None-Match: *"
--- timeout: 10
--- response_body
--- error_code: 304
--- no_error_log
client timed out
prematurely closed
