# jwt_peer_auth_status as an HTML page: chosen by ?format=html or a browser's Accept (curl's
# */* and explicit ?format= stay as they were), a strict CSP, escaped key-service text, and
# plain-language warnings for stale, failing and missing keys. Two workers share one zone.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# What Chromium sends for a page.
our $BROWSER = 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,'
    . 'image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
our $CSP = "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    . "form-action 'none'; frame-ancestors 'none'";

# A key set with the test key 'rsa' under its own kid and again under a hostile one.
our $HOSTILE_KID = q{<script>alert(1)</script>"'&};
sub hostile_jwks {
    require JSON::PP;
    my $doc = JSON::PP::decode_json(JwtPeerAuth::jwks('rsa'));
    push @{ $doc->{keys} }, { %{ $doc->{keys}[0] }, kid => $HOSTILE_KID };
    return JSON::PP->new->canonical->encode($doc);
}

# Polls the JSON status (bounded) until $re matches; dies otherwise.
sub wait_status {
    my ($re, $what) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        my (undef, $body) = JwtPeerAuth::http_get(server_port_for_client(), '/status?format=json');
        return if $body =~ $re;
        select(undef, undef, undef, 0.1);
    }
    die "status never showed $what\n";
}

# Two workers; every block starts with a cold key cache and zeroed counters, also under
# TEST_NGINX_USE_HUP=1.
JwtPeerAuth::setup(
    user_files => ">>> index.html\nok\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: ?format=html: a self-contained page with a strict policy and the counters
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /status?format=html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('rsa', '--exp', '-5'), "Accept: */*"]
--- error_code eval
[200, 200, 401, 200]
--- response_headers eval
["", "", "",
 "Content-Type: text/html; charset=utf-8\n$::CSP\nX-Content-Type-Options: nosniff\nCache-Control: no-store\n!Vary"]
--- response_body_like eval
["ok", "ok", "",
 qr{^<!DOCTYPE html>\n.*<meta http-equiv="refresh" content="5">.*<section id="summary" class="banner ok">\n<p>No fetched key sources.*id="cache-misses">3</td>.*<tr id="req-ok" title="verified"><td><code>ok</code></td><td class="num count">2</td>.*<tr id="req-expired"[^>]*><td><code>expired</code></td><td class="num count">1</td>.*id="req-total">3</td>.*</html>\n\z}s]
--- response_body_unlike eval
["", "", "", qr{<script|<link|<img|src=|https?:|\@import|url\(}i]



=== TEST 2: a browser's Accept gets the page (Vary: Accept), curl's */* and no Accept get JSON
--- request eval
["GET /status", "GET /status", "GET /status"]
--- more_headers eval
[$::BROWSER, "Accept: */*", ""]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Content-Type: text/html; charset=utf-8\n$::CSP\nVary: Accept\nCache-Control: no-store",
 "Content-Type: application/json\nVary: Accept\n!Content-Security-Policy\n!Cache-Control",
 "Content-Type: application/json\nVary: Accept"]
--- response_body_like eval
[qr{^<!DOCTYPE html>.*<h1>jwt_peer_auth status</h1>}s,
 qr/^\{"requests":\{"ok":0,"missing":0,.*"key_sources":\[\]\}\n\z/s,
 qr/^\{"requests":\{"ok":0,/]



=== TEST 3: an explicit ?format= wins over a browser's Accept
--- request eval
["GET /status?format=json", "GET /status?format=prometheus", "GET /status?format=other"]
--- more_headers eval
[$::BROWSER, $::BROWSER, $::BROWSER]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["Content-Type: application/json\n!Vary\n!Content-Security-Policy",
 "Content-Type: text/plain; version=0.0.4\n!Vary",
 "Content-Type: application/json\n!Vary"]
--- response_body_like eval
[qr/^\{"requests":\{"ok":0,/,
 qr/^# HELP jwt_peer_auth_requests_total /,
 qr/^\{"requests":\{"ok":0,/]



=== TEST 4: a kid and a key-request URI with markup are escaped, never raw
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request "/_jwks<b>\"'&x";
    location = "/_jwks<b>\"'&x" { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["jwks.json" => main::hostile_jwks()], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /status?format=html", "GET /status?format=json"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), "", ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
["ok",
 qr{<p>All key sources fresh</p>.*<tr class="source" data-state="fresh"><td><code class="uri">/_jwks&lt;b&gt;&quot;&#39;&amp;x</code></td>.*<code class="kid">rsa</code><code class="kid">&lt;script&gt;alert\(1\)&lt;/script&gt;\?&#39;&amp;</code>}s,
 qr{"uri":"/_jwks<b>\\"'&x",.*"kids":\["rsa","<script>alert\(1\)</script>\?'&"\]}]
--- response_body_unlike eval
["", qr{<script|<b>|"'&|alert\(1\)</}, ""]



=== TEST 5: key service unreachable, no keys: the page says so at the top
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:1/jwks; }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /status?format=html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), ""]
--- error_code eval
[500, 200]
--- response_body_like eval
["",
 qr{<section id="summary" class="banner bad">\n<p>Something is wrong with the keys:</p>\n<ul>\n<li><code>/_jwks</code>: no keys: last fetch failed: no response from the key service \(NGINX status 502\) \(\d+s ago\); next attempt (in \d+s|at the next request)</li>.*<tr class="source" data-state="none">.*<span class="state s-none">none</span>.*id="req-no_keys"[^>]*><td><code>no_keys</code></td><td class="num count">1</td>}s]



=== TEST 6: stale keys and a failing key service: "keys stale for ...; last fetch: status 404"
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1s stale=1h;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- request eval
["GET /status?format=html", "GET /p/index.html", "GET /p/index.html", "GET /status"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'), $::BROWSER]
--- between_0
# Not fetched yet: nothing is wrong, the page says keys come with the first request.
$body =~ m{<section id="summary" class="banner info">.*no keys yet: not fetched}s
    or die "first page: $body";
--- between_1
unlink "$html/jwks.json" or die "unlink: $!";
select(undef, undef, undef, 2.1);
--- between_2
# The background refresh started by request 2 ends with a 404.
main::wait_status(qr/"fetches":\{"ok":1,"failed":[1-9]/, 'a failed refresh');
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
["", "ok", "ok",
 qr{<section id="summary" class="banner bad">\n<p>Something is wrong with the keys:</p>\n<ul>\n<li><code>/_jwks</code>: keys stale for \d+s; last fetch: status 404 \(\d+s ago(, \d+ failures in a row)?\); next attempt .*</li>.*<tr class="source" data-state="failing">.*<span class="state s-failing">failing</span><br><span class="dim">for \d+s</span>.*<code class="kid">rsa</code>}s]
