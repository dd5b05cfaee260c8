# Refuse as NGINX refuses: the error page of a refusal (issue 21, point 1), and the status
# variables after a redirect (point 4).
#
# Every block puts the jwt_peer_auth case beside an auth_basic case of the same shape: the main
# server has `jwt_peer_auth` at server level, and `location /basic/` proxies to a second server
# with `auth_basic` at server level and the same locations (the block's `--- basic_server`
# section; `jwt_peer_auth off` there is `auth_basic off`). Where a block expects the same answer
# for `/x` and `/basic/x`, the module refuses as auth_basic does: an error page location is
# served without a check only where the module is off there; where it is protected the request
# is checked again, and a second refusal ends in NGINX's own page for that status (with
# `recursive_error_pages on`: the redirect cycle, 500, as auth_basic).
#
# Before the fix the first location an error page led to was served unchecked: TEST 1-5 and 7
# fail there (a protected error page, a named location proxying a POST to the backend, a
# `rewrite ... last` or `try_files` into a protected location were served), TEST 8 fails on the
# status and thumbprint variables.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Http2;
use Tls;
use Test::Nginx::Socket 'no_plan';

# Fixed ports of the auth_basic server, its HTTP/2 listener, the main server's HTTP/2 listener
# and the backend (TEST_NGINX_* variables: both runners substitute them in configs, and the Perl
# hooks know them).
$ENV{TEST_NGINX_BASIC_PORT} ||= JwtPeerAuth::free_port();
$ENV{TEST_NGINX_BASIC_H2_PORT} ||= JwtPeerAuth::free_port();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
$ENV{TEST_NGINX_BACKEND_PORT} ||= JwtPeerAuth::free_port();
JwtPeerAuth::set_http2_listen();

our $BUILTIN = qr/<title>401 Authorization Required<\/title>/;
our $BEARER = 'Bearer realm="peers"';
our $INVALID = 'Bearer realm="peers", error="invalid_token"';
our $BASIC = 'Basic realm="basic"';

JwtPeerAuth::setup();

add_block_preprocessor(sub {
    my $block = shift;
    my $basic = $block->basic_server // '';
    my $config = $block->config // '';
    $block->set_value('http_config', <<"_EOC_");
    # auth_basic in the same shape as the main server's jwt_peer_auth.
    server {
        listen 127.0.0.1:\$TEST_NGINX_BASIC_PORT;
        listen 127.0.0.1:\$TEST_NGINX_BASIC_H2_PORT\$TEST_NGINX_H2;
        server_name basic;
        auth_basic "basic";
        auth_basic_user_file \$TEST_NGINX_HTML_DIR/htpasswd;
$basic
    }
    # The application: says what reached it.
    server {
        listen 127.0.0.1:\$TEST_NGINX_BACKEND_PORT;
        location / { return 200 "backend reached: \$request_method \$request_uri\\n"; }
    }
_EOC_
    $block->set_value('config', <<"_EOC_");
    listen 127.0.0.1:\$TEST_NGINX_H2_PORT\$TEST_NGINX_H2;
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file \$TEST_NGINX_JWT_KEYS/jwks.json;
    location /basic/ { jwt_peer_auth off; proxy_pass http://127.0.0.1:\$TEST_NGINX_BASIC_PORT/; }
$config
_EOC_
    $block->set_value('user_files', [["index.html" => "secret\n"],
                                     ["err.html" => "please log in\n"],
                                     ["admin/secret" => "admin secret\n"],
                                     ["htpasswd" => "peer:{PLAIN}s3cret\n"]])
        unless defined $block->user_files;
});

run_tests();

__DATA__

=== TEST 1: error_page to an exact (=) location: protected, refused again (NGINX's page); off, served with the challenge
--- config
    location /p/ { error_page 401 /err.html; alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { jwt_peer_auth off; alias html/err.html; }
--- basic_server
    location /p/ { error_page 401 /err.html; alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { auth_basic off; alias html/err.html; }
--- request eval
["GET /p/index.html", "GET /basic/p/index.html", "GET /p/index.html",
 "GET /q/index.html", "GET /basic/q/index.html", "GET /q/index.html"]
--- more_headers eval
["", "", JwtPeerAuth::bearer('rsa', '--corrupt'), "", "", JwtPeerAuth::bearer('rsa', '--corrupt')]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_headers eval
# One challenge, the first refusal's (auth_basic adds its challenge again at the error page:
# a repeated challenge tells the client nothing more).
["WWW-Authenticate: $main::BEARER", "", "WWW-Authenticate: $main::INVALID",
 "WWW-Authenticate: $main::BEARER", "WWW-Authenticate: $main::BASIC", "WWW-Authenticate: $main::INVALID"]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, "please log in\n", "please log in\n", "please log in\n"]
--- between_2
# The corrupt token: refused once, refused again at the error page, one line each.
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: signature/), 1,
               'the refusal is logged once');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: error page refused too: signature/), 1,
               'the second refusal (at the error page) has its own line');



=== TEST 2: error_page 401 = @named proxying to the application: a POST without a token never reaches it
--- config
    location /a/ { error_page 401 = @fallback; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location @fallback { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location /o/ { error_page 401 = @open; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location @open { jwt_peer_auth off; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
--- basic_server
    location /a/ { error_page 401 = @fallback; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location @fallback { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location /o/ { error_page 401 = @open; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location @open { auth_basic off; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
--- request eval
["POST /a/private\nhello=world", "POST /basic/a/private\nhello=world", "POST /a/private\nhello=world",
 "POST /a/private\nhello=world",
 "POST /o/private\nhello=world", "POST /basic/o/private\nhello=world"]
--- more_headers eval
["", "", JwtPeerAuth::bearer('rsa', '--corrupt'), JwtPeerAuth::bearer('rsa'), "", ""]
--- error_code eval
[401, 401, 401, 200, 200, 200]
--- response_headers eval
["WWW-Authenticate: $main::BEARER", "", "WWW-Authenticate: $main::INVALID",
 "!WWW-Authenticate", "WWW-Authenticate: $main::BEARER", "WWW-Authenticate: $main::BASIC"]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN,
 "backend reached: POST /a/private\n",
 "backend reached: POST /o/private\n", "backend reached: POST /o/private\n"]



=== TEST 3: an error page that rewrites (last) into a protected location: refused again, protected or not itself
--- config
    location /p/ { error_page 401 /err; alias html/; }
    location = /err { rewrite ^ /admin/secret last; }
    location /q/ { error_page 401 /open-err; alias html/; }
    location = /open-err { jwt_peer_auth off; rewrite ^ /admin/secret last; }
    location /admin/ { root html; }
--- basic_server
    location /p/ { error_page 401 /err; alias html/; }
    location = /err { rewrite ^ /admin/secret last; }
    location /q/ { error_page 401 /open-err; alias html/; }
    location = /open-err { auth_basic off; rewrite ^ /admin/secret last; }
    location /admin/ { root html; }
--- request eval
["GET /p/index.html", "GET /basic/p/index.html", "GET /q/index.html", "GET /basic/q/index.html"]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, $main::BUILTIN]



=== TEST 4: try_files in the error page location: protected, refused again; off, its fallback into a protected location is refused
--- config
    location /p/ { error_page 401 /e/401.html; alias html/; }
    location /e/ { root html; try_files /err.html =404; }
    location /q/ { error_page 401 /oe/401.html; alias html/; }
    location /oe/ { jwt_peer_auth off; try_files /nonexistent @app; }
    location @app { root html; try_files /admin/secret =404; }
    location /r/ { error_page 401 /ro/401.html; alias html/; }
    location /ro/ { jwt_peer_auth off; root html; try_files /err.html =404; }
--- basic_server
    location /p/ { error_page 401 /e/401.html; alias html/; }
    location /e/ { root html; try_files /err.html =404; }
    location /q/ { error_page 401 /oe/401.html; alias html/; }
    location /oe/ { auth_basic off; try_files /nonexistent @app; }
    location @app { root html; try_files /admin/secret =404; }
    location /r/ { error_page 401 /ro/401.html; alias html/; }
    location /ro/ { auth_basic off; root html; try_files /err.html =404; }
--- request eval
["GET /p/index.html", "GET /basic/p/index.html", "GET /q/index.html", "GET /basic/q/index.html",
 "GET /r/index.html", "GET /basic/r/index.html"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, $main::BUILTIN, "please log in\n", "please log in\n"]



=== TEST 5: recursive_error_pages on: a protected error page ends in the redirect cycle (500) as with auth_basic; an open one is served
# The error page's location has the error_page too (server level): with recursive_error_pages
# on, each refusal there goes to the error page again, until NGINX ends the cycle with a 500.
--- config
    recursive_error_pages on;
    error_page 401 /err.html;
    location /p/ { alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { jwt_peer_auth off; alias html/err.html; }
--- basic_server
    recursive_error_pages on;
    error_page 401 /err.html;
    location /p/ { alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { auth_basic off; alias html/err.html; }
--- request eval
["GET /p/index.html", "GET /basic/p/index.html", "GET /q/index.html", "GET /basic/q/index.html"]
--- error_code eval
[500, 500, 401, 401]
--- response_body eval
[qr/500 Internal Server Error/, qr/500 Internal Server Error/, "please log in\n", "please log in\n"]
--- between_0
Test::More::is(JwtPeerAuth::log_count(qr/rewrite or internal redirection cycle/), 1, 'jwt: the redirect cycle');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: missing/), 1, 'jwt: refused, logged once');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: error page refused too: missing/), 1,
               'jwt: refused again at the error page, logged once');
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/rewrite or internal redirection cycle/), 2, 'auth_basic: the same cycle');
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/rewrite or internal redirection cycle/), 2, 'no cycle for an open error page');



=== TEST 6: HTTP/2: the same answers as HTTP/1.1, and as auth_basic over HTTP/2
--- config
    location /p/ { error_page 401 /err.html; alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { jwt_peer_auth off; alias html/err.html; }
--- basic_server
    location /p/ { error_page 401 /err.html; alias html/; }
    location = /err.html { root html; }
    location /q/ { error_page 401 /open-err.html; alias html/; }
    location = /open-err.html { auth_basic off; alias html/err.html; }
--- request
GET /q/index.html
--- error_code: 401
--- between_0
for my $case (['/p/index.html', $main::BUILTIN], ['/q/index.html', qr/\Aplease log in\n\z/]) {
    my ($path, $body) = @$case;
    my $jwt = Http2::get($ENV{TEST_NGINX_H2_PORT}, $path);
    my $basic = Http2::get($ENV{TEST_NGINX_BASIC_H2_PORT}, $path);
    for my $r ([jwt => $jwt], [basic => $basic]) {
        my ($who, $a) = @$r;
        Test::More::is($a->{proto}, '2', "$who $path: HTTP/2");
        Test::More::is($a->{status}, 401, "$who $path: status") or Test::More::diag($a->{raw});
        Test::More::like($a->{body}, $body, "$who $path: body");
        Test::More::unlike($a->{body}, qr/secret/, "$who $path: nothing protected");
    }
    Test::More::is($jwt->{headers}{'www-authenticate'}, $main::BEARER, "jwt $path: one challenge");
}



=== TEST 7: error page locations under satisfy any, optional, shadow, and one whose own checks the token passes
--- config
    location /any/ { error_page 401 /any-err.html; alias html/; }
    location = /any-err.html {
        satisfy any; allow 127.0.0.1; deny all;
        alias html/err.html;
        add_header X-Status "[$jwt_peer_auth_status]" always;
    }
    location /opt/ { error_page 401 /opt-err.html; alias html/; }
    location = /opt-err.html { jwt_peer_auth "peers" optional; alias html/err.html; }
    location /shadow/ { error_page 401 /shadow-err.html; alias html/; }
    location = /shadow-err.html { jwt_peer_auth "peers" shadow; alias html/err.html; }
    location /admin/ { jwt_peer_auth_claim role admin; error_page 401 /who.html; alias html/; }
    location = /who.html { alias html/err.html; add_header X-Peer "[$jwt_claim_sub] [$jwt_peer_auth_status]" always; }
--- basic_server
    location /any/ { error_page 401 /any-err.html; alias html/; }
    location = /any-err.html { satisfy any; allow 127.0.0.1; deny all; alias html/err.html; }
--- request eval
["GET /any/index.html", "GET /basic/any/index.html",
 "GET /opt/index.html", "GET /opt/index.html",
 "GET /shadow/index.html",
 "GET /admin/index.html", "GET /admin/index.html"]
--- more_headers eval
["", "", "", JwtPeerAuth::bearer('rsa', '--corrupt'), JwtPeerAuth::bearer('rsa', '--corrupt'),
 JwtPeerAuth::bearer_claims(sub => 'peer-1', role => 'user'), ""]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401]
--- response_headers eval
# satisfy any: allow admits the error page, and NGINX hides the challenge of the refusal.
["X-Status: []\n!WWW-Authenticate", "!WWW-Authenticate",
 "WWW-Authenticate: $main::BEARER", "WWW-Authenticate: $main::INVALID",
 "WWW-Authenticate: $main::INVALID",
 "X-Peer: [peer-1] [ok]", "X-Peer: [] [missing]"]
--- response_body eval
["please log in\n", "please log in\n",
 "please log in\n", $main::BUILTIN,
 "please log in\n",
 "please log in\n", $main::BUILTIN]



=== TEST 8: $jwt_peer_auth_status and $jwt_peer_auth_cert_thumbprint only where this location decided (satisfy any after a redirect)
--- config
    jwt_peer_auth_cert_binding on cert=$http_x_client_cert;
    location /any/ { try_files /nonexistent @admin; }
    location @admin {
        jwt_peer_auth_claim role admin;
        satisfy any; allow 127.0.0.1; deny all;
        root html; try_files /index.html =404;
        add_header X-Seen "[$jwt_peer_auth_status] [$jwt_peer_auth_cert_thumbprint] [$jwt_claim_sub]" always;
    }
    location /off/ { try_files /nonexistent @off; }
    location @off {
        jwt_peer_auth off;
        root html; try_files /index.html =404;
        add_header X-Seen "[$jwt_peer_auth_status] [$jwt_peer_auth_cert_thumbprint] [$jwt_claim_sub]" always;
    }
--- request eval
["GET /any/x", "GET /off/x"]
--- more_headers eval
[map { JwtPeerAuth::bearer('rsa', '--cnf-cert', "$Tls::DIR/peer-a.pem",
                           '--claims', '{"sub":"peer-a","role":"user"}')
       . "\nX-Client-Cert: " . Tls::escaped_pem('peer-a') } 1 .. 2]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Seen: [] [] []", "X-Seen: [ok] [" . Tls::thumbprint('peer-a') . "] [peer-a]"]
