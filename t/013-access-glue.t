# The NGINX glue around the verifier: how the access handler sits among NGINX's other access
# modules (`satisfy`, allow/deny, auth_basic, auth_request), what survives internal redirects
# and error_page, which variable values are safe to forward, a few exact time/key rules, and
# HTTP/2 answering like HTTP/1.1.
#
# Blocks expected to fail on a module built before the access-glue rewrite say so in their
# description line: "# fails before the fix: <why>".
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Http2;
use Test::Nginx::Socket 'no_plan';

use File::Temp ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64 encode_base64url);

# The HTTP/2 server's port (a TEST_NGINX_* variable, so both runners substitute it in configs
# and the Perl hooks know it too).
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
# HTTP/2 in the listen syntax of the NGINX under test ($TEST_NGINX_H2).
JwtPeerAuth::set_http2_listen();

# A 16-byte HMAC secret (too short to be a usable key), for the oct blocks.
our $TMP = File::Temp::tempdir('jwt-peer-auth-013-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $SHORT_SECRET = "$TMP/short16.secret";
JwtPeerAuth::write_file($SHORT_SECRET, '0123456789abcdef');

sub short_jwk {
    return { kty => 'oct', kid => 'short', k => encode_base64url(JwtPeerAuth::slurp($SHORT_SECRET)) };
}

# {"keys": [the 16-byte key]} and {"keys": [the 16-byte key, the test's 32-byte oct key]}.
sub short_jwks {
    return JSON::PP->new->canonical->encode({ keys => [short_jwk()] });
}
sub mixed_oct_jwks {
    my $long = JSON::PP::decode_json(JwtPeerAuth::slurp("$JwtPeerAuth::KEYS/jwks-oct.json"))->{keys}[0];
    return JSON::PP->new->canonical->encode({ keys => [short_jwk(), $long] });
}

sub basic { 'Authorization: Basic ' . encode_base64($_[0], '') }

# The header value of an HTTP/2 answer, '<none>' when absent (Http2::get lower-cases names).
sub h2_header { $_[0]{headers}{ lc $_[1] } // '<none>' }

# The runner's single process; a cold zone per block, also when Test::Nginx reloads one NGINX
# between blocks (HUP mode).
JwtPeerAuth::setup(workers => 0, user_files => ">>> index.html\nok\n", request => 'GET /p/index.html');

run_tests();

__DATA__

=== TEST 1: satisfy any + allow: no token and a token both pass at once, the key service (down) is never asked
# fails before the fix: the module runs before allow/deny; without a token it adds a Bearer
# challenge to the 200, with one it waits on the dead key service and answers 500
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks_down;
    location = /_jwks_down { internal; proxy_pass http://127.0.0.1:1/jwks; }
    location /p { satisfy any; allow 127.0.0.1; deny all; alias html/; }
    location /q { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /q/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 200, 500]
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate", "!WWW-Authenticate"]
--- response_body eval
["ok\n", "ok\n", qr/500 Internal Server Error/]
--- between_1
# The two requests to /p never reached the module: nothing refused, no key request made.
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected/), 0, 'no refusal logged for /p');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks_down"/), 0, 'no key request for /p');
--- between_2
# The control: /q (satisfy all) did ask the key service, which is down.
Test::More::ok(JwtPeerAuth::log_count(qr/key request "\/_jwks_down" failed/) >= 1, 'the key service is down');



=== TEST 2: satisfy any + deny all: the token decides; refusals keep the Bearer challenge
# passes before the fix too (regression guard: the module runs after deny and still decides)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { satisfy any; deny all; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa', '--corrupt')]
--- error_code eval
[401, 200, 401]
--- response_headers eval
['WWW-Authenticate: Bearer realm="peers"',
 "!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"']
--- response_body eval
[qr/401 Authorization Required/, "ok\n", qr/401 Authorization Required/]



=== TEST 3: satisfy any + auth_basic: valid basic credentials pass without a token and without a Bearer challenge
# fails before the fix: the module runs before auth_basic and refuses (and logs) the request
# that auth_basic then lets through
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        satisfy any;
        auth_basic "basic-realm";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        alias html/;
    }
--- user_files
>>> index.html
ok
>>> htpasswd
peer:{PLAIN}s3cret
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[main::basic('peer:s3cret'), "", main::basic('peer:wrong'), JwtPeerAuth::bearer('ec')]
--- error_code eval
[200, 401, 401, 200]
--- response_headers eval
["!WWW-Authenticate", "", "", "!WWW-Authenticate"]
--- response_body eval
["ok\n", qr/401 Authorization Required/, qr/401 Authorization Required/, "ok\n"]
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected/), 0,
               'auth_basic granted access: the module was not asked');



=== TEST 4: satisfy any + auth_request answering 204: no token needed, no Bearer challenge
# fails before the fix: the module runs before auth_request and refuses (and logs) the request
# that auth_request then lets through
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /_ok { internal; return 204; }
    location /p { satisfy any; auth_request /_ok; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 200]
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate"]
--- response_body eval
["ok\n", "ok\n"]
--- no_error_log
jwt_peer_auth: token rejected



=== TEST 5: satisfy any + auth_request answering 401: a valid token still passes, no token is refused
# passes before the fix too (regression guard)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /_no { internal; return 401; }
    location /p { satisfy any; auth_request /_no; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), ""]
--- error_code eval
[200, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="peers"']
--- response_body eval
["ok\n", qr/401 Authorization Required/]



=== TEST 6: satisfy all (the default) + allow: the token is still required
# passes before the fix too (regression guard)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { allow 127.0.0.1; deny all; alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), ""]
--- error_code eval
[200, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="peers"']



=== TEST 7: error_page 401 to a location that inherits jwt_peer_auth: refused there too (NGINX's own page), as auth_basic; each refusal logged once
# Until issue 21 this page was served unchecked (a protected location opened by the error
# page): now it is checked again, as auth_basic does, and the second refusal gets NGINX's page.
# t/028 has the same shapes beside auth_basic.
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    error_page 401 /denied.html;
    location /p { alias html/; }
    location = /denied.html { root html; }
--- user_files
>>> index.html
ok
>>> denied.html
denied
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--corrupt')
--- error_code: 401
--- response_body eval
qr/401 Authorization Required/
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token"
--- grep_error_log eval
qr/jwt_peer_auth: (?:token rejected|error page refused too)/
--- grep_error_log_out
jwt_peer_auth: token rejected
jwt_peer_auth: error page refused too



=== TEST 8: the identity survives try_files' redirect to a named location with jwt_peer_auth off
# fails before the fix: the internal redirect drops the module's context, $jwt_claim_sub is empty
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /a { root html; try_files /nonexistent @app; }
    location @app {
        jwt_peer_auth off;
        root html;
        add_header X-Peer "[$jwt_claim_sub]" always;
    }
--- user_files
>>> a/index.html
app
--- request eval
["GET /a/index.html", "GET /a/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"peer-7"}'), ""]
--- error_code eval
[200, 401]
--- response_headers eval
["X-Peer: [peer-7]", "!X-Peer"]
--- response_body eval
["app\n", qr/401 Authorization Required/]



=== TEST 9: a token refused by jwt_peer_auth_require leaves no identity for the error_page location
# passes before the fix too (the redirect drops the context); guards the context kept across redirects
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $jwt_claim_admin;
    location /p { error_page 401 /who; alias html/; }
    location = /who {
        jwt_peer_auth off;
        alias html/who.txt;
        add_header X-Peer "[$jwt_claim_sub]" always;
    }
--- user_files
>>> index.html
ok
>>> who.txt
who
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"peer-9"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"peer-9","admin":true}')]
--- error_code eval
[401, 200]
--- response_headers eval
["X-Peer: []", "!X-Peer"]
--- response_body eval
["who\n", "ok\n"]



=== TEST 10: satisfy any + allow with a token that jwt_peer_auth_require refuses: 200, no identity
# fails before the fix: the module runs before allow, stores the claims, then allow lets the
# request through with them ($jwt_claim_sub = peer-9)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $jwt_claim_admin;
    location /p {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        alias html/;
        add_header X-Peer "[$jwt_claim_sub]" always;
    }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"peer-9"}')
--- error_code: 200
--- response_headers
X-Peer: []
!WWW-Authenticate
--- response_body
ok



=== TEST 11: a claim with CR LF is not forwarded: empty, one log line per request however often it is read
# fails before the fix: the value is copied as is (a header split in the response)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Note "[$jwt_claim_note]" always;
        add_header X-Note-Again "[$jwt_claim_note]" always;
        add_header X-Sub "[$jwt_claim_sub]" always;
    }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"sub":"peer-1","note":"a\r\nX-Injected: 1"}')
--- error_code: 200
--- response_headers
X-Note: []
X-Note-Again: []
X-Sub: [peer-1]
!X-Injected
--- response_body
ok
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/claim "note".*control character/), 1,
               'one log line about the control character');



=== TEST 12: NUL, DEL and TAB in claims are not forwarded either
# fails before the fix: the values are copied as is
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Nul "[$jwt_claim_nul]" always;
        add_header X-Del "[$jwt_claim_del]" always;
        add_header X-Tab "[$jwt_claim_tab]" always;
        add_header X-Fine "[$jwt_claim_fine]" always;
    }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims',
    '{"nul":"a\u0000b","del":"a\u007fb","tab":"a\tb","fine":"a b"}')
--- error_code: 200
--- response_headers
X-Nul: []
X-Del: []
X-Tab: []
X-Fine: [a b]
--- response_body
ok
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/claim "nul".*control character/), 1, 'nul logged');
Test::More::is(JwtPeerAuth::log_count(qr/claim "del".*control character/), 1, 'del logged');
Test::More::is(JwtPeerAuth::log_count(qr/claim "tab".*control character/), 1, 'tab logged');



=== TEST 13: jwt_peer_auth_claim_set without a claim name
# fails before the fix: the directive is unknown (the [emerg] says "unknown directive")
--- http_config
    jwt_peer_auth_claim_set $peer_tid;
--- config
--- must_die
--- error_log eval
qr/\[emerg\](?!.*unknown directive).*jwt_peer_auth_claim_set/



=== TEST 14: jwt_peer_auth_claim_set with a name that is not a variable
# fails before the fix: the directive is unknown (the [emerg] says "unknown directive")
--- http_config
    jwt_peer_auth_claim_set peer_tid tokenId;
--- config
--- must_die
--- error_log eval
qr/\[emerg\](?!.*unknown directive).*jwt_peer_auth_claim_set/



=== TEST 15: arrays are rendered as compact JSON: ["x,admin"] and ["x","admin"] differ
# fails before the fix: string arrays are joined with "," (both give x,admin)
--- http_config
    map $jwt_claim_roles $is_admin {
        '["x","admin"]' 1;
        default 0;
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Roles $jwt_claim_roles always;
        add_header X-Admin $is_admin always;
    }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"roles":["x,admin"]}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"roles":["x","admin"]}')]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Roles: [\"x,admin\"]\nX-Admin: 0", "X-Roles: [\"x\",\"admin\"]\nX-Admin: 1"]



=== TEST 16: "Authorization: Bearer a b" is a bad request: 400, error="invalid_request"
# fails before the fix: it is refused as a malformed token (401, invalid_token, status "malformed")
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
--- more_headers
Authorization: Bearer a b
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"
X-Status: invalid_request
--- response_body_unlike: ok



=== TEST 17: jwt_peer_auth_max_age with leeway 0: an iat two minutes ahead is not valid yet
# fails before the fix: max_age only checks that iat is not too old (200)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_max_age 1h;
    jwt_peer_auth_leeway 0s;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"iat":' . (time() + 120) . '}')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token is not valid yet"
--- error_log eval
qr/token rejected: not_yet_valid \("iat" \d+ is in the future/



=== TEST 17b: jwt_peer_auth_max_age with leeway 0: an iat a minute ago passes
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_max_age 1h;
    jwt_peer_auth_leeway 0s;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"iat":' . (time() - 60) . '}')
--- error_code: 200
--- response_headers
!WWW-Authenticate



=== TEST 18: jwt_peer_auth_key_cache 0s is refused
# fails before the fix: 0s is accepted
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 0s;
    location = /_jwks { internal; return 404; }
    location /p { alias html/; }
--- must_die
--- error_log eval
qr/\[emerg\].*jwt_peer_auth_key_cache/



=== TEST 19: an oct JWKS whose only key is 16 bytes has no usable key for HS256
# passes before the fix too (regression guard: short HMAC keys were already refused)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/oct-short.json;
    jwt_peer_auth_algorithms HS256;
    location /p { alias html/; }
--- user_files eval
[["oct-short.json" => main::short_jwks()]]
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_jwks_file".*no usable key/



=== TEST 20: a 16-byte oct key next to a 32-byte one: tokens signed with the short key are refused
# passes before the fix too (regression guard: the short key is skipped with a [warn])
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/oct-mixed.json;
    jwt_peer_auth_algorithms HS256;
    location /p { alias html/; }
--- user_files eval
[["oct-mixed.json" => main::mixed_oct_jwks()], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('oct'),
 JwtPeerAuth::bearer('short', '--secret-file', $main::SHORT_SECRET),
 JwtPeerAuth::bearer('short', '--secret-file', $main::SHORT_SECRET, '--no-kid')]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"']



=== TEST 21: HTTP/2 (h2c, prior knowledge) answers like HTTP/1.1: 200, 401 with the challenge, 400
# fails before the fix: "Bearer a b" gets 401 (invalid_token), not 400 (invalid_request)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        location /p { alias $TEST_NGINX_HTML_DIR/; add_header X-Peer "[$jwt_claim_sub]" always; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
ok
--- between_0
my $port = $ENV{TEST_NGINX_H2_PORT};
my $ok = Http2::get($port, '/p/index.html',
                    ['Authorization: Bearer ' . JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-h2"}')]);
Test::More::is($ok->{proto}, '2', 'h2: valid token - spoke HTTP/2') or Test::More::diag($ok->{raw});
Test::More::is($ok->{status}, 200, 'h2: valid token - 200');
Test::More::is($ok->{body}, "ok\n", 'h2: valid token - body');
Test::More::is(main::h2_header($ok, 'X-Peer'), '[peer-h2]', 'h2: valid token - identity');
Test::More::is(main::h2_header($ok, 'WWW-Authenticate'), '<none>', 'h2: valid token - no challenge');

my $none = Http2::get($port, '/p/index.html');
Test::More::is($none->{proto}, '2', 'h2: no token - spoke HTTP/2');
Test::More::is($none->{status}, 401, 'h2: no token - 401');
Test::More::is(main::h2_header($none, 'WWW-Authenticate'), 'Bearer realm="peers"', 'h2: no token - challenge');
Test::More::is(main::h2_header($none, 'X-Peer'), '[]', 'h2: no token - no identity');

my $bad = Http2::get($port, '/p/index.html', ['Authorization: Bearer a b']);
Test::More::is($bad->{proto}, '2', 'h2: "Bearer a b" - spoke HTTP/2');
Test::More::is($bad->{status}, 400, 'h2: "Bearer a b" - 400');
Test::More::is(main::h2_header($bad, 'WWW-Authenticate'), 'Bearer realm="peers", error="invalid_request"',
               'h2: "Bearer a b" - challenge');



=== TEST 22: jwt_peer_auth_claim_set / jwt_peer_auth_header_set: case-sensitive names, nested paths, header members
# fails before the fix: the directives do not exist (nginx does not start; the runner then
# stops the file, so this block is the last one)
--- http_config
    jwt_peer_auth_claim_set $peer_tid tokenId;
    jwt_peer_auth_claim_set $org_name org name;
    jwt_peer_auth_claim_set $org_city org city;
    jwt_peer_auth_claim_set $deep_missing nope deeper;
    jwt_peer_auth_header_set $hdr_kid kid;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Tid "[$peer_tid]" always;
        add_header X-Tid-Prefix "[$jwt_claim_tokenId]" always;
        add_header X-Org "[$org_name]" always;
        add_header X-City "[$org_city]" always;
        add_header X-Deep "[$deep_missing]" always;
        add_header X-Kid "[$hdr_kid]" always;
    }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"tokenId":"T-1","org":{"name":"acme"}}'), ""]
--- error_code eval
[200, 401]
--- response_headers eval
["X-Tid: [T-1]\nX-Tid-Prefix: []\nX-Org: [acme]\nX-City: []\nX-Deep: []\nX-Kid: [rsa]",
 "X-Tid: []\nX-Org: []\nX-Kid: []"]
