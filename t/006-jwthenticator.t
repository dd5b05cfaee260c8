# End to end with the real JWThenticator (PyPI `jwthenticator`, run by tools/jwthenticator/serve.py
# on loopback) and nginx-conf/netunnel-peer.conf, the translated NETunnel peer setup, used as is
# except for its listen/ssl lines and its two upstream addresses. A stub stands in for NETunnel.
#
# JWThenticator runs once for the whole file (state in t/servroot-jwth, git-ignored, removed at
# the end unless TEST_NGINX_NO_CLEAN is set); its GET /_stats counts requests per path, so blocks
# can show that /validate_request is never called and /jwks only when keys are needed.
# Needs tools/jwthenticator/setup.sh to work (python3 with venv, PyPI): bails out otherwise.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# JWThenticator: the venv (tools/jwthenticator/setup.sh), a free port, a token.
our ($JWTH_PORT, $JWTH_STATE, $TOKEN);
require File::Path;
eval {
    JwtPeerAuth::jwthenticator_python();
    # Next to the server root (t/servroot-jwth by default; git-ignored like it), so runs with
    # another TEST_NGINX_SERVROOT or TEST_NGINX_RANDOMIZE do not share it.
    $JWTH_STATE = server_root() . '-jwth';
    File::Path::remove_tree($JWTH_STATE) if -d $JWTH_STATE;
    $JWTH_PORT = JwtPeerAuth::jwthenticator_start($JWTH_STATE);
    $TOKEN = JwtPeerAuth::jwthenticator_token();
    1;
} or Test::More::BAIL_OUT("t/006-jwthenticator.t needs the real JWThenticator: $@");
my $main_pid = $$;
END {
    local ($?, $!, $@);
    if (defined $main_pid && $$ == $main_pid) {
        JwtPeerAuth::jwthenticator_stop();
        File::Path::remove_tree($JWTH_STATE) if $JWTH_STATE && -d $JWTH_STATE && !$ENV{TEST_NGINX_NO_CLEAN};
    }
}

# The peer's server from nginx-conf/netunnel-peer.conf, with only these replacements (each must
# match exactly as often as expected, so the file cannot drift away from what is tested):
#   listen 443 ssl; + ssl_* lines  ->  listen 127.0.0.1:<peer port>;   (plain HTTP for the client)
#   127.0.0.1:4040 (NETunnel)      ->  the stub below
#   127.0.0.1:5050 (JWThenticator) ->  $jwth, by default the real JWThenticator
# plus the NETunnel stub, which answers with what reached it. Test::Nginx's client talks to the
# peer's server (server_port_for_client); the runner's own default server stays unused.
our $PEER_PORT = JwtPeerAuth::free_port();
our $NETUNNEL_PORT = JwtPeerAuth::free_port();
$NETUNNEL_PORT = JwtPeerAuth::free_port() while $NETUNNEL_PORT == $PEER_PORT;
server_port_for_client($PEER_PORT);
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub peer_http_config {
    my ($jwth) = @_;
    $jwth //= "127.0.0.1:$JWTH_PORT";
    my %count;
    my @lines;
    for my $line (split /^/m, JwtPeerAuth::slurp("$JwtPeerAuth::ROOT/nginx-conf/netunnel-peer.conf")) {
        if ($line !~ /^\s*#/) {
            $count{listen} += $line =~ s/\blisten 443 ssl;/listen 127.0.0.1:$PEER_PORT;/;
            $count{ssl} += 1, next if $line =~ /^\s*ssl_\w+\s/;
            $count{netunnel} += $line =~ s/\b127\.0\.0\.1:4040\b/127.0.0.1:$NETUNNEL_PORT/g;
            $count{jwth} += $line =~ s/\b127\.0\.0\.1:5050\b/$jwth/g;
        }
        push @lines, $line;
    }
    my $got = join ' ', map { "$_=" . ($count{$_} // 0) } qw(listen ssl netunnel jwth);
    $got eq 'listen=1 ssl=2 netunnel=1 jwth=2'
        or Test::More::BAIL_OUT("nginx-conf/netunnel-peer.conf changed shape: replacements $got, "
                                . "expected listen=1 ssl=2 netunnel=1 jwth=2");
    return join('', @lines) . <<"_EOC_";

    # Stand-in for NETunnel: shows what reached it.
    server {
        listen 127.0.0.1:$NETUNNEL_PORT;
        location / {
            return 200 "netunnel: \$request_uri upgrade=\$http_upgrade connection=\$http_connection auth=\$http_authorization\\n";
        }
    }
_EOC_
}
my $HTTP_CONFIG = peer_http_config();

# JWThenticator's request counts since the block began (taken by use_between_hooks' on_start).
my $stats0;
sub jwth_calls {
    my ($path) = @_;
    return JwtPeerAuth::jwthenticator_stats()->{$path} - $stats0->{$path};
}

sub bearer { "Authorization: Bearer $TOKEN" }

# The JWThenticator token with one character of its signature changed.
sub tampered_bearer {
    my ($head, $payload, $sig) = split /\./, $TOKEN;
    my $i = int(length($sig) / 2);
    substr($sig, $i, 1) = substr($sig, $i, 1) eq 'A' ? 'B' : 'A';
    return "Authorization: Bearer $head.$payload.$sig";
}

# The kid in JWThenticator's token header (the one key it signs with).
sub jwth_kid {
    require JSON::PP;
    require MIME::Base64;
    my ($head) = split /\./, $TOKEN;
    return JSON::PP::decode_json(MIME::Base64::decode_base64url($head))->{kid};
}

# Two workers; a cold key cache in every block, also under TEST_NGINX_USE_HUP=1 (one NGINX for
# the file). Nothing of the runner's own server is used (but Test::Nginx wants a config).
JwtPeerAuth::setup(
    http_config => $HTTP_CONFIG,
    config => "location = /unused { return 204; }\n",
    on_start => sub { $stats0 = JwtPeerAuth::jwthenticator_stats() },
);

run_tests();

__DATA__

=== TEST 1: JWThenticator's token opens NETunnel's routes; /jwks is fetched once, /validate_request never
--- request eval
["GET /netunnel/version", "GET /netunnel/version", "GET /netunnel/channels",
 "GET /netunnel/channels/42", "GET /netunnel/version"]
--- more_headers eval
[(main::bearer()) x 5]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body eval
["netunnel: /version upgrade= connection=close auth=Bearer $main::TOKEN\n",
 "netunnel: /version upgrade= connection=close auth=Bearer $main::TOKEN\n",
 "netunnel: /channels upgrade= connection=close auth=Bearer $main::TOKEN\n",
 "netunnel: /channels/42 upgrade= connection=close auth=Bearer $main::TOKEN\n",
 "netunnel: /version upgrade= connection=close auth=Bearer $main::TOKEN\n"]
--- between_4
Test::More::is(jwth_calls('/validate_request'), 0, 'JWThenticator: /validate_request not called');
Test::More::is(jwth_calls('/jwks'), 1, 'JWThenticator: /jwks called once for 5 requests');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwthenticator_jwks": 1 keys \(kids: \Q${\ jwth_kid()}\E\)/), 1,
               "one key fetched, with the kid of JWThenticator's token");
--- no_error_log
token rejected
[error]



=== TEST 2: websocket upgrade to a channel: Upgrade reaches NETunnel with Connection: upgrade
--- request
GET /netunnel/channels/1
--- more_headers eval
main::bearer() . "\nUpgrade: websocket"
--- error_code: 200
--- response_body eval
"netunnel: /channels/1 upgrade=websocket connection=upgrade auth=Bearer $main::TOKEN\n"
--- no_error_log
token rejected



=== TEST 3: no token: 401 with the realm, NETunnel not reached, no key fetch needed
--- request eval
["GET /netunnel/version", "GET /netunnel/channels/1"]
--- more_headers eval
["", "Upgrade: websocket"]
--- error_code eval
[401, 401]
--- response_headers eval
['WWW-Authenticate: Bearer realm="netunnel"', 'WWW-Authenticate: Bearer realm="netunnel"']
--- response_body_unlike eval
["netunnel:", "netunnel:"]
--- between_1
Test::More::is(jwth_calls('/validate_request'), 0, 'JWThenticator: /validate_request not called');
Test::More::is(jwth_calls('/jwks'), 0, 'JWThenticator: no key fetch for requests without a token');
--- error_log
token rejected: missing



=== TEST 4: a tampered JWThenticator token: 401 invalid_token, signature does not verify
--- request
GET /netunnel/version
--- more_headers eval
main::tampered_bearer()
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="netunnel", error="invalid_token"
--- response_body_unlike: netunnel:
--- between_0
Test::More::is(jwth_calls('/jwks'), 1, 'JWThenticator: /jwks fetched once (cold cache; a bad signature makes no refetch)');
--- error_log
token rejected: signature (signature does not verify)



=== TEST 5: tokens signed with other keys (other kids): 401 unknown_kid, at most one refetch a second
--- request eval
["GET /netunnel/version", "GET /netunnel/version", "GET /netunnel/version",
 "GET /netunnel/version", "GET /netunnel/version"]
--- more_headers eval
[main::bearer(), JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa'),
 JwtPeerAuth::bearer('rsa', '--kid', 'made-up-kid'), main::bearer()]
--- error_code eval
[200, 401, 401, 401, 200]
--- response_headers eval
["!WWW-Authenticate", ('WWW-Authenticate: Bearer realm="netunnel", error="invalid_token"') x 3,
 "!WWW-Authenticate"]
--- between_4
# The first unknown kid refetches at once; "rsa" again within that second is known absent
# (refused at once), in the next second it refetches again; "made-up-kid" waits for the next
# second's refetch.
my $jwks = jwth_calls('/jwks');
Test::More::ok($jwks >= 3 && $jwks <= 4, "JWThenticator: /jwks fetched $jwks times (cold cache + one unknown-kid refetch a second)");
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: unknown_kid \(no key with kid "rsa"; (a refetch did not find it|absent at the last refetch)\)/),
               2, 'unknown kid "rsa" twice');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: unknown_kid \(no key with kid "made-up-kid"; a refetch did not find it\)/), 1,
               'unknown kid "made-up-kid" once');
Test::More::is(jwth_calls('/validate_request'), 0, 'JWThenticator: /validate_request not called');



=== TEST 6: paths outside the seed's allow-list: 403, with or without a token (rewrite phase runs first)
--- request eval
["GET /netunnel/other", "GET /netunnel/other", "GET /netunnel/", "GET /netunnel/channelsX"]
--- more_headers eval
[main::bearer(), "", main::bearer(), main::bearer()]
--- error_code eval
[403, 403, 403, 403]
--- response_body_like eval
[("403 Forbidden") x 4]
--- between_3
Test::More::is(jwth_calls('/jwks'), 0, 'JWThenticator: no key fetch for refused paths');
--- no_error_log
token rejected



=== TEST 7: JWThenticator's public routes need no token; its other routes and the key location stay closed
--- request eval
["GET /jwthenticator/jwks", "GET /jwthenticator/register_key", "GET /_jwthenticator_jwks", "GET /jwthenticator/_stats"]
--- error_code eval
[200, 403, 404, 403]
--- response_body_like eval
['^\{"keys":\s*\[\{.*"kid":\s*"' . main::jwth_kid() . '"', '403 Forbidden', '404 Not Found', '403 Forbidden']
--- between_3
Test::More::is(jwth_calls('/jwks'), 1, 'JWThenticator: /jwks called once (the public route, no key fetch)');
--- no_error_log
key request
token rejected



=== TEST 8: the key request sends JWThenticator neither the client's Authorization header nor its body
--- http_config eval
# The same file, but /jwks comes from a stub with JWThenticator's keys that refuses requests
# carrying an Authorization header or a body (the key fetch would fail, the client get 500).
# Without `proxy_set_header Authorization ""`, or without `proxy_pass_request_body off;
# proxy_set_header Content-Length ""`, in the file this block fails.
main::peer_http_config('127.0.0.1:$TEST_NGINX_RAND_PORT_1') . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks {
            if ($http_authorization) { return 403; }
            if ($http_content_length) { return 403; }
            if ($http_transfer_encoding) { return 403; }
            default_type application/json;
            alias $TEST_NGINX_HTML_DIR/jwth-jwks.json;
        }
    }
_EOC_
--- user_files eval
[["jwth-jwks.json" => (JwtPeerAuth::http_get($main::JWTH_PORT, '/jwks'))[1]]]
--- request
POST /netunnel/channels/9
some channel data
--- more_headers eval
main::bearer()
--- error_code: 200
--- response_body eval
"netunnel: /channels/9 upgrade= connection=close auth=Bearer $main::TOKEN\n"
--- error_log
key request "/_jwthenticator_jwks": 1 keys
--- no_error_log
key request "/_jwthenticator_jwks" failed



=== TEST 9: JWThenticator down after the keys were fetched: valid tokens still pass on cached keys
--- request eval
["GET /netunnel/version", "GET /netunnel/version", "GET /netunnel/channels/7",
 "GET /netunnel/version", "GET /netunnel/version", "GET /jwthenticator/jwks"]
--- more_headers eval
[main::bearer(), main::bearer(), main::bearer(), JwtPeerAuth::bearer('rsa'), main::bearer(), ""]
--- error_code eval
[200, 200, 200, 401, 200, 502]
--- between_0
JwtPeerAuth::jwthenticator_stop();
my ($code) = JwtPeerAuth::http_get($main::JWTH_PORT, '/_stats', 1);
Test::More::is($code, 0, 'JWThenticator is down');
--- between_5
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwthenticator_jwks": 1 keys/), 1, 'one successful key fetch');
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwthenticator_jwks" failed: no response from the key service \(NGINX status 502\); keeping the last good keys/), 1,
               'the unknown-kid refetch failed, the cached keys stayed');
# Back up for any block that runs after this one (same state dir and port: same keys).
JwtPeerAuth::jwthenticator_start();
