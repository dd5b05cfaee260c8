# Key sources fetched through jwt_peer_auth_key_request: what identifies a source (server and
# configuration, not just the URI), what a client can do to a fetch (nothing), redirects inside
# the key location, and logs/status that are safe to keep on. Two workers share one zone.
#
# Every block has its own key service: the server on $TEST_NGINX_RAND_PORT_1 below, with one
# location per behaviour, an access log of its own (logs/keysvc-b<block number>.log, "$msec
# $request_time $status $request_uri") and the files it serves written per block (see $FILES).
# The log's name is the block's own: under TEST_NGINX_USE_HUP=1 a worker of the previous
# block's configuration may still be finishing a fetch, and it logs to that block's file.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Test::Nginx::Socket 'no_plan';

our $fetched = qr/key request "\/_jwks": \d+ keys/;
our $keysvc_log = sub { Test::Nginx::Socket::server_root() . '/logs/keysvc-b' . JwtPeerAuth::block_seq() . '.log' };
our $poison_log = sub { Test::Nginx::Socket::server_root() . '/logs/poison-b' . JwtPeerAuth::block_seq() . '.log' };

# A real-sized key set (rotation history) for the redirect blocks, and a slow one: through
# "limit_rate 2k" its ~5 KB (plus headers) need two more rate-limit seconds, so a fetch of it
# takes between 1 and 2 s.
my $BIG = JwtPeerAuth::big_jwks(150, 'rsa');
my $SLOW = JwtPeerAuth::big_jwks(10, 'rsa');
Test::More::cmp_ok(length $BIG, '>=', 60 * 1024, 'the big JWKS is at least 60 KiB');
Test::More::cmp_ok(length $SLOW, '>', 4096, 'the slow JWKS is more than two seconds of 2k');

our $FILES = [
    ["jwks.json" => JwtPeerAuth::jwks('rsa')],
    ["jwks_a.json" => JwtPeerAuth::jwks('rsa')],
    ["jwks_b.json" => JwtPeerAuth::jwks('ec')],
    ["big.json" => $BIG],
    ["slow.json" => $SLOW],
];

# $n clients that each send GET $path with @headers and leave, the request and the FIN in one
# TCP segment (TCP_CORK, then shutdown): NGINX has the end of the connection in hand when it
# reads the request.
sub leave_with_request {
    my ($port, $path, $n, @headers) = @_;
    require Socket;
    my $cork = eval { Socket::TCP_CORK() } // 3;    # 3 on Linux
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 2)
            or die "connect 127.0.0.1:$port: $!";
        setsockopt($s, Socket::IPPROTO_TCP(), $cork, 1) or die "TCP_CORK: $!";
        print $s join("\r\n", "GET $path HTTP/1.1", 'Host: localhost', @headers, '', '');
        shutdown($s, 1);
        close $s;
    }
}

# Protected locations proxy to the backend on $TEST_NGINX_RAND_PORT_9 ("ok <uri>"): a "return"
# would answer in the rewrite phase, before the access phase, and a static file would answer
# the client's Range/If-None-Match itself.
my $KEY_SERVICE = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_9;
        access_log off;
        location / { return 200 "ok $uri\n"; }
    }
    log_format keysvc '$msec $request_time $status $request_uri';
    log_format poison '$request_uri range="$http_range" inm="$http_if_none_match" ae="$http_accept_encoding"';
    upstream keysvc { server 127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        default_type application/json;
        access_log logs/keysvc-b@N@.log keysvc;
        root $TEST_NGINX_HTML_DIR;
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
        # 503 once the file is gone
        location = /jwks_a { try_files /jwks_a.json =503; }
        location = /jwks_b { try_files /jwks_b.json =503; }
        location = /big { alias $TEST_NGINX_HTML_DIR/big.json; }
        location = /slow { limit_rate 2k; alias $TEST_NGINX_HTML_DIR/slow.json; }
        location = /missing { return 404; }
        # Refuses a fetch that carries any client-controlled header (a distinct 4xx each, so
        # the module's "failed: status N" line says which one got through).
        location = /strict {
            if ($http_authorization) { return 400; }
            if ($http_cookie) { return 403; }
            if ($http_range) { return 416; }
            if ($http_if_none_match) { return 412; }
            if ($http_if_modified_since) { return 409; }
            if ($http_accept_encoding !~ "^(identity)?$") { return 406; }
            if ($http_x_forwarded_for) { return 422; }
            alias $TEST_NGINX_HTML_DIR/jwks.json;
        }
        # Honours Range, If-None-Match and Accept-Encoding like any static server would, and
        # logs them (logs/poison-b<block number>.log).
        location = /poisonable {
            access_log logs/poison-b@N@.log poison;
            gzip on; gzip_types application/json; gzip_min_length 1;
            alias $TEST_NGINX_HTML_DIR/jwks.json;
        }
        # 206 with the whole JWKS as the body (a ranged request for all of it).
        location = /partial {
            proxy_set_header Range "bytes=0-";
            proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks;
        }
        # Claims a gzip body; the body is the plain JSON.
        location = /gzipped { add_header Content-Encoding gzip; alias $TEST_NGINX_HTML_DIR/jwks.json; }
        # 203 with the JWKS as the body.
        location = /non-authoritative { error_page 404 =203 /jwks; return 404; }
        # Sends the fetching NGINX to its own internal location /_jwks_real.
        location = /accel { add_header X-Accel-Redirect /_jwks_real; return 200; }
    }
_EOC_

# Two workers; a cold zone per block, also when Test::Nginx reloads one NGINX between blocks
# (HUP mode). Blocks carry --- between_N hooks (Perl run after request N, see JwtPeerAuth.pm).
JwtPeerAuth::setup(
    user_files => $FILES,
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /open { jwt_peer_auth off; return 200 "open\n"; }
_EOC_
);

# The key service (with the block's own log files) in every block.
add_block_preprocessor(sub {
    my $block = shift;
    (my $service = $KEY_SERVICE) =~ s/\@N\@/$block->seq_num/ge;
    $block->set_value('http_config', $service . ($block->http_config // ''));
    $block->set_value('request', 'GET /p') unless defined $block->request || defined $block->must_die;
});

run_tests();

__DATA__

=== TEST 1: A1 same key-request URI in two servers, two key services: each server trusts only its own (A first)
# fails before the fix: one zone slot per URI, so server B verifies with server A's keys (200, not 401)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        jwt_peer_auth "a";
        jwt_peer_auth_key_request /_jwks;
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks_a; }
        location / { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9/server-a/; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        jwt_peer_auth "b";
        jwt_peer_auth_key_request /_jwks;
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks_b; }
        location / { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9/server-b/; }
    }
--- config
    location /a/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/; }
    location /b/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3/; }
--- request eval
["GET /a/x", "GET /b/x", "GET /b/x", "GET /a/x", "GET /a/x", "GET /b/x", "GET /b/x", "GET /a/x",
 "GET /a/x", "GET /b/x"]
--- more_headers eval
# the same two tokens throughout, so later requests can be token-cache hits
my ($ta, $tb) = (JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'));
[$ta, $ta, $tb, $tb, $ta, $ta, $tb, $tb, $ta, $ta]
--- error_code eval
[200, 401, 200, 401, 200, 401, 200, 401, 200, 401]
--- response_body_like eval
["ok /server-a/x", "", "ok /server-b/x", "", "ok /server-a/x", "", "ok /server-b/x", "", "ok /server-a/x", ""]
--- response_headers_like eval
["", 'WWW-Authenticate: Bearer realm="b".*', "", 'WWW-Authenticate: Bearer realm="a".*', "",
 'WWW-Authenticate: Bearer realm="b".*', "", 'WWW-Authenticate: Bearer realm="a".*', "",
 'WWW-Authenticate: Bearer realm="b".*']



=== TEST 2: A1 same key-request URI in two servers, two key services (B first)
# fails before the fix: the URI's one slot holds server B's keys, so server A accepts B's token
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        jwt_peer_auth "a";
        jwt_peer_auth_key_request /_jwks;
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks_a; }
        location / { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9/server-a/; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        jwt_peer_auth "b";
        jwt_peer_auth_key_request /_jwks;
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks_b; }
        location / { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9/server-b/; }
    }
--- config
    location /a/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/; }
    location /b/ { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3/; }
--- request eval
["GET /b/x", "GET /a/x", "GET /a/x", "GET /b/x", "GET /b/x", "GET /a/x", "GET /a/x", "GET /b/x"]
--- more_headers eval
my ($ta, $tb) = (JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'));
[$tb, $tb, $ta, $ta, $tb, $tb, $ta, $ta]
--- error_code eval
[200, 401, 200, 401, 200, 401, 200, 401]
--- response_body_like eval
["ok /server-b/x", "", "ok /server-a/x", "", "ok /server-b/x", "", "ok /server-a/x", ""]



=== TEST 3: A2 the key-request URI has no location of its own in the server (only "location /")
# fails before the fix: not checked, NGINX starts
# (the server's only location is the test runner's own "location / { root html; ... }")
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": "\/_jwks" must lead to an exact-match internal location/



=== TEST 4: A2 a prefix location is not enough, even an internal one
# fails before the fix: not checked, NGINX starts
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": "\/_jwks" must lead to an exact-match internal location/



=== TEST 5: A2 an exact location without "internal" (clients could fetch or shadow it)
# fails before the fix: not checked, NGINX starts
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": "\/_jwks" must lead to an exact-match internal location/



=== TEST 6: A2 the exact internal location exists, but in another server
# fails before the fix: not checked, NGINX starts
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_key_request": "\/_jwks" must lead to an exact-match internal location/



=== TEST 7: A2 the valid form, "location = /_jwks { internal; ... }", starts and serves
# passes before the fix too: the valid form must keep working
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
ok /p
--- error_log eval
qr/key request "\/_jwks": 1 keys/
--- no_error_log
[emerg]



=== TEST 8: A3 a reload that points the key location at another key service drops the old keys
# fails before the fix: the zone keeps the URI's keys across the reload, so token A still gets 200
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; include $TEST_NGINX_HTML_DIR/keyloc.conf; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- user_files eval
[@$main::FILES, ["keyloc.conf" => "proxy_pass http://keysvc/jwks_a;\n"]]
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p"]
--- more_headers eval
my ($ta, $tb) = (JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'));
[$ta, $ta, $tb, $ta]
--- between_0
JwtPeerAuth::write_file("$html/keyloc.conf", "proxy_pass http://keysvc/jwks_b;\n");
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
select(undef, undef, undef, 1.5);
Test::More::ok(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\) received/) >= 1, 'reloaded');
--- between_3
Test::More::ok(KeyService::lines_at_least($main::keysvc_log->(), qr{ 200 /jwks_b$}, 1) >= 1, 'keys were fetched from the new key service');
--- error_code eval
[200, 401, 200, 401]



=== TEST 9: A3b a reload without any configuration change keeps the keys while the key service fails
# passes before the fix too (the zone keeps the keys); guards the fix against dropping keys on every reload
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; include $TEST_NGINX_HTML_DIR/keyloc.conf; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- user_files eval
[@$main::FILES, ["keyloc.conf" => "proxy_pass http://keysvc/jwks_a;\n"]]
--- request eval
["GET /p", "GET /p", "GET /p"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
unlink "$html/jwks_a.json" or die "unlink: $!";
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
select(undef, undef, undef, 1.5);
Test::More::ok(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\) received/) >= 1, 'reloaded');
--- between_2
# the key service fails now (a fetch would have made these 500)
Test::More::is(KeyService::lines($main::keysvc_log->(), qr{ 503 /jwks_a$}), 0, 'no fetch was needed after the reload');
--- error_code eval
[200, 200, 200]



=== TEST 10: B1 the key fetch carries none of the client's headers
# fails before the fix: the sub-request copies the client's headers (the key service answers 400, the client 500)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/strict; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa') . "\nCookie: a=b\nRange: bytes=0-0\nIf-None-Match: *\n"
  . "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\nAccept-Encoding: gzip\nX-Forwarded-For: 192.0.2.1"
--- error_code: 200
--- response_body
ok /p
--- error_log eval
qr/key request "\/_jwks": 1 keys/
--- no_error_log eval
qr/key request "\/_jwks" failed/



=== TEST 11: B2 a 206 from the key service is not a key set
# fails before the fix: any 2xx is taken, the 206's body is published and the request gets 200
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/partial; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log eval
qr/key request "\/_jwks" failed: status 206/
--- no_error_log eval
qr/key request "\/_jwks": \d+ keys/



=== TEST 12: B2 a 200 with "Content-Encoding: gzip" is not a key set
# fails before the fix: the Content-Encoding is ignored and the (plain) body is published
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/gzipped; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log eval
qr/key request "\/_jwks" failed: .*gzip/
--- no_error_log eval
qr/key request "\/_jwks": \d+ keys/



=== TEST 13: B2 a 203 is not a key set either
# fails before the fix: any 2xx is taken
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/non-authoritative; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 500
--- error_log eval
qr/key request "\/_jwks" failed: status 203/



=== TEST 14: B3 tokens that fail the header checks never start a fetch (cold cache)
# fails before the fix: keys are fetched before the token is even parsed
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_algorithms RS256;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- request eval
["GET /p", "GET /p", "GET /p"]
--- more_headers eval
["Authorization: Bearer x", JwtPeerAuth::bearer('oct'), JwtPeerAuth::bearer('rsa')]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/key request/), 0, 'no key request logged');
Test::More::is(KeyService::lines($main::keysvc_log->()), 0, 'the key service saw no request');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: malformed/), 1, '"Bearer x" is malformed');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: algorithm/), 1, 'HS256 is not allowed');
--- between_2
# control: a valid token does fetch, and the key service's access log sees it
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), qr{ 200 /jwks$}, 1), 1, 'one fetch for the valid token');
--- error_code eval
[401, 401, 200]



=== TEST 15: B4 a burst of bad tokens with Range/If-None-Match/Accept-Encoding cannot poison the cold cache
# fails before the fix: a bad token starts a fetch carrying its Range etc. (seen in logs/poison.log); the poisoned
# answer fails, and the valid token gets 500 while the failure backs off (unless the backoff second has passed)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/poisonable; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /open { jwt_peer_auth off; return 200 "open\n"; }
--- request eval
["GET /open", "GET /p"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa')]
--- between_0
my @codes = JwtPeerAuth::parallel_get(server_port_for_client(), '/p', 20,
    "Authorization: Bearer x\r\nRange: bytes=0-0\r\nIf-None-Match: *\r\nAccept-Encoding: gzip", 10);
Test::More::is(join(' ', @codes), join(' ', ('401') x 20), 'the 20 bad tokens got 401');
--- between_1
my $log = $main::poison_log->();
KeyService::lines_at_least($log, qr{^/poisonable }, 1);
Test::More::is(KeyService::lines($log, qr/range="[^-]|inm="[^-]|ae="(?!-"|identity")/), 0,
               'no fetch reached the key service with a Range, If-None-Match or Accept-Encoding');
Test::More::ok(KeyService::lines($log, qr{^/poisonable }) >= 1, 'the keys were fetched from it');
--- error_code eval
[200, 200]
--- response_body eval
["open\n", "ok /p\n"]



=== TEST 16: B5 clients that hang up during a slow cold fetch do not start a fetch each
# fails before the fix: each hang-up abandons the fetch and the next client starts a new one
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slow; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /open { jwt_peer_auth off; return 200 "open\n"; }
--- timeout: 10
--- request eval
["GET /open", "GET /p"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa')]
--- between_0
$main::burst_t0 = Time::HiRes::time();
KeyService::hang_up_clients(server_port_for_client(), '/p', 20, 1, JwtPeerAuth::bearer('rsa'));
$main::hung_up_at = Time::HiRes::time();
--- between_1
# A fetch is logged by the key service when it ends (done or cut off): give cut-off ones a moment.
select(undef, undef, undef, 1);
my $log = $main::keysvc_log->();
# At most one fetch start per second since the burst began (the abandon cool-down is at least
# 1 s), plus the first one and one for a second boundary: a slow machine stretches the time,
# not the limit. (Without the cool-down, each of the 20 clients starts its own.)
$main::fetch_limit = 2 + int(Time::HiRes::time() - $main::burst_t0 + 0.999);
my $seen = KeyService::started_before($log, '/slow', $main::hung_up_at);
Test::More::ok($seen <= $main::fetch_limit, "the key service saw at most $main::fetch_limit fetches for 20 clients that hung up ($seen)");
# A fetch given up right away may never reach the key service: count those too.
my $abandoned = JwtPeerAuth::log_count(qr/key request "\/_jwks".*abandoned/);
Test::More::ok($abandoned <= $main::fetch_limit, "at most $main::fetch_limit fetches were started and abandoned ($abandoned)");
Test::More::ok(KeyService::lines_at_least($log, qr{ 200 /slow$}, 1) >= 1, 'the key service log works: the keys came from it');
--- error_code eval
[200, 200]
--- response_body eval
["open\n", "ok /p\n"]



=== TEST 17: B6 a background refresh publishes although the client that triggered it has gone
# passes before the fix too (a background sub-request does not notice the client leaving); guards the fix for B5
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slow; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- timeout: 10
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- between_0
Test::More::is(JwtPeerAuth::log_count($main::fetched), 1, 'the cold fetch');
select(undef, undef, undef, 2.1);
my ($r) = KeyService::session(server_port_for_client(), [['/p', JwtPeerAuth::bearer('rsa')]], 3);
Test::More::is($r->{status}, 200, 'stale keys answer');
Test::More::cmp_ok($r->{secs}, '<', 0.8, 'at once, without waiting for the refresh');
# session() has closed the connection: the client is gone while the refresh (1-2 s) runs.
Test::More::is(JwtPeerAuth::log_count($main::fetched), 1, 'the refresh had not ended when the client left');
Test::More::ok(KeyService::wait_until(8, sub { JwtPeerAuth::log_count($main::fetched) >= 2 }),
               'the background refresh published');
Test::More::is(JwtPeerAuth::log_count(qr/abandoned/), 0, 'nothing abandoned');
--- error_code: 200



=== TEST 18: C1 key location redirected by error_page to a 68 KB key set, no subrequest_output_buffer_size
# fails before the fix: the intercepted 404 is taken as the outcome ("no response ... 404"), then the redirect
# has dropped the module's marker and the 68 KB body overflows NGINX's in-memory buffer (connection closed)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks {
        internal;
        proxy_intercept_errors on;
        error_page 404 = /_jwks_real;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/missing;
    }
    location = /_jwks_real { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/big; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
ok /p
--- error_log eval
qr/key request "\/_jwks": 151 keys/
--- no_error_log eval
[qr/too big subrequest response/, qr/key request "\/_jwks" failed/]



=== TEST 19: C2 key location falling back with try_files to another internal location (68 KB key set)
# fails before the fix: the try_files redirect drops the module's marker and the body overflows NGINX's in-memory buffer
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; root $TEST_NGINX_HTML_DIR; try_files /nonexistent /_jwks_file; }
    location = /_jwks_file { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/big; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
ok /p
--- error_log eval
qr/key request "\/_jwks": 151 keys/
--- no_error_log eval
[qr/too big subrequest response/, qr/key request "\/_jwks" failed/]



=== TEST 20: C3 the key service answers X-Accel-Redirect to another internal location (68 KB key set)
# fails before the fix: the X-Accel-Redirect drops the module's marker and the body overflows NGINX's in-memory buffer
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/accel; }
    location = /_jwks_real { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/big; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_body
ok /p
--- error_log eval
qr/key request "\/_jwks": 151 keys/
--- no_error_log eval
[qr/too big subrequest response/, qr/key request "\/_jwks" failed/]



=== TEST 21: D1 key service down on a cold cache: 500s, but one no_keys line at error level
# fails before the fix: every no_keys refusal is logged at error level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/missing; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
--- request eval
["GET /p", "GET /p", "GET /p", "GET /p", "GET /p"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'),
 JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_4
Test::More::is(JwtPeerAuth::log_count(qr/\[error\].*no_keys/), 1, 'one [error] no_keys line for 5 refusals');
Test::More::ok(JwtPeerAuth::log_count(qr/key request "\/_jwks" failed: status 404/) >= 1, 'the failed fetch is logged');
--- error_code eval
[500, 500, 500, 500, 500]



=== TEST 22: D2 reading the status page changes nothing (same worker: one keep-alive connection)
# passes before the fix too (the status page reads the worker's parsed copy); guards the rewrite
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { proxy_pass_request_headers off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9; }
    location /open { jwt_peer_auth off; return 200 "open\n"; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request
GET /open
--- between_0
my $t = JwtPeerAuth::bearer('rsa');
my @r = KeyService::session(server_port_for_client(),
                            [['/p', $t], ['/status'], ['/p', $t], ['/status']], 5);
Test::More::is(join(' ', map { $_->{status} } @r), '200 200 200 200', 'all answered on one connection');
my ($hits0) = ($r[1]{body} // '') =~ /"token_cache":\{"hits":(\d+)/;
my ($hits1) = ($r[3]{body} // '') =~ /"token_cache":\{"hits":(\d+)/;
Test::More::is($hits0, 0, 'no hit before the status read');
Test::More::ok(defined $hits1 && $hits1 >= 1, 'the token cache survived the status read (hits ' . ($hits1 // 'none') . ')');
Test::More::is(JwtPeerAuth::log_count(qr/key request/), 1, 'only the cold fetch: the status read fetched nothing');
Test::More::is(KeyService::lines_at_least($main::keysvc_log->(), undef, 1), 1, 'the key service saw one request');
--- error_code: 200



=== TEST 23: E1 clients that left while they wait for another request's fetch are let go at once, never verified nor proxied
# a client whose FIN came with its request gives NGINX no new read event (epoll: pending_eof), so a request
# waiting on a timer for another request's fetch must look at it on every poll (src/fetch/wait.rs): without
# that it was verified when the keys came and reached the backend, or, during the cool-down after an abandoned
# fetch, started and abandoned a fetch of its own (the timeouts of TEST 16). Failed 1 of 12 checks before.
--- http_config
    log_format clients '$status upstream=$upstream_addr';
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/slow; }
    location /p {
        access_log logs/clients.log clients;
        proxy_pass_request_headers off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_9;
    }
    location /open { jwt_peer_auth off; return 200 "open\n"; }
--- timeout: 10
--- request eval
["GET /open", "GET /open"]
--- between_0
my $bearer = JwtPeerAuth::bearer('rsa');
# A client that stays starts the cold fetch (1-2 s) and waits for it.
my $live = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => server_port_for_client(), Proto => 'tcp')
    or die "connect: $!";
print $live "GET /p HTTP/1.1\r\nHost: localhost\r\n$bearer\r\n\r\n";
select(undef, undef, undef, 0.3);
# Five clients come while it runs, and leave at once.
main::leave_with_request(server_port_for_client(), '/p', 5, $bearer);
# The key service logs a fetch when it ends.
Test::More::is(KeyService::lines($main::keysvc_log->()), 0, 'the five came while the fetch ran');
my $r = KeyService::read_response($live, Time::HiRes::time() + 8);
close $live;
Test::More::is($r->{status}, 200, 'the client that stayed gets its answer');
select(undef, undef, undef, 0.5);
my $log = Test::Nginx::Socket::server_root() . '/logs/clients.log';
Test::More::is(KeyService::lines($log, qr/^200 upstream=127/), 1, 'one request was proxied: the one of the client that stayed');
Test::More::is(KeyService::lines($log, qr/^499 upstream=-$/), 5, 'the five that left: 499, neither verified nor proxied');
Test::More::is(JwtPeerAuth::log_count($main::fetched), 1, 'one fetch');
Test::More::is(JwtPeerAuth::log_count(qr/abandoned/), 0, 'nothing abandoned');
--- error_code eval
[200, 200]
--- response_body eval
["open\n", "open\n"]
