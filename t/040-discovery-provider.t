# End to end with a real OpenID Provider: panva's oidc-provider from npm (tools/oidc-provider,
# installed by scripts/deps.sh with `npm ci`), run on loopback with issuer
# http://127.0.0.1:<port>. It publishes its discovery document and key set and issues RS256 JWT
# access tokens (typ at+jwt) with the client_credentials grant and a resource indicator. The
# module finds the keys through jwt_peer_auth_discovery alone (the key location proxies to
# $jwt_peer_auth_jwks_uri); after the provider rotates its signing key (a restart with a new
# first key, the old one kept or not), new tokens pass without an NGINX reload.
#
# Skipped (with a message) only when `node` is not installed; a missing node_modules fails.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;

BEGIN {
    if (system('node --version >/dev/null 2>&1') != 0) {
        print "1..0 # SKIP node (Node.js) is not installed: scripts/deps.sh installs it\n";
        exit 0;
    }
}

use Test::Nginx::Socket 'no_plan';

package Op;

use POSIX ();
use Time::HiRes ();

our $DIR = "$JwtPeerAuth::ROOT/tools/oidc-provider";
our ($PORT, $STATE, $PID, $LOG);
my $parent = $$;

-d "$DIR/node_modules/oidc-provider"
    or Test::More::BAIL_OUT("$DIR/node_modules is missing: run scripts/deps.sh (npm ci in tools/oidc-provider)");

# Starts the provider (`rotate` or `replace`: with a new signing key first, see provider.mjs)
# and waits, bounded, until its discovery document answers.
sub start {
    my ($action) = @_;
    die "provider already running\n" if $PID;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $LOG) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        exec('node', "$DIR/provider.mjs", $PORT, $STATE, defined $action ? $action : ()) or POSIX::_exit(127);
    }
    $PID = $pid;
    my $deadline = Time::HiRes::time() + 30;
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $PID = undef;
            die "oidc-provider exited with status " . ($? >> 8) . "; see $LOG:\n" . JwtPeerAuth::slurp($LOG);
        }
        my ($code) = JwtPeerAuth::http_get($PORT, '/.well-known/openid-configuration', 2);
        return if $code == 200;
        if (Time::HiRes::time() > $deadline) {
            stop();
            die "oidc-provider did not answer on 127.0.0.1:$PORT within 30 s; see $LOG\n";
        }
        Time::HiRes::sleep(0.1);
    }
}

sub stop {
    my $pid = $PID // return;
    return unless $$ == $parent;
    kill('TERM', $pid);
    my $deadline = Time::HiRes::time() + 5;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill('KILL', $pid);
            waitpid($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    $PID = undef;
}

# Restarts the provider with a new signing key (see start).
sub restart {
    my ($action) = @_;
    stop();
    start($action);
}

# An access token from the provider's token endpoint (client_credentials, resource indicator).
sub token {
    require MIME::Base64;
    my $basic = MIME::Base64::encode_base64('peer:peer-secret', '');
    my ($code, $body) = JwtPeerAuth::http_request($PORT, 'POST', '/token',
        headers => ["Authorization: Basic $basic", 'Content-Type: application/x-www-form-urlencoded'],
        body => 'grant_type=client_credentials&scope=tunnel&resource=' . 'https%3A%2F%2Ftunnel.test');
    $code == 200 or die "token endpoint: $code $body";
    my ($t) = $body =~ /"access_token":"([^"]+)"/ or die "no access_token in $body";
    return $t;
}

# The kid in a token's header.
sub kid {
    my ($t) = @_;
    require MIME::Base64;
    (my $h = (split /\./, $t)[0]) =~ tr{-_}{+/};
    my ($kid) = MIME::Base64::decode_base64($h) =~ /"kid":"([^"]+)"/ or die "no kid in $t";
    return $kid;
}

# GET /p/index.html on the runner's server with $token; returns the status.
sub get {
    my ($token) = @_;
    my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html',
        headers => ["Authorization: Bearer $token"]);
    return $code;
}

package main;

require File::Path;
$Op::STATE = server_root() . '-oidc-provider';
File::Path::remove_tree($Op::STATE) if -d $Op::STATE;
File::Path::make_path($Op::STATE);
$Op::LOG = "$Op::STATE/provider.log";
$Op::PORT = JwtPeerAuth::free_port();
$ENV{TEST_NGINX_OP_PORT} = $Op::PORT;
eval { Op::start(); 1 } or Test::More::BAIL_OUT("t/040-discovery-provider.t: $@");
my $main_pid = $$;
END {
    local ($?, $!, $@);
    if (defined $main_pid && $$ == $main_pid) {
        Op::stop();
        File::Path::remove_tree($Op::STATE) if $Op::STATE && -d $Op::STATE && !$ENV{TEST_NGINX_NO_CLEAN};
    }
}

JwtPeerAuth::setup(
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=http://127.0.0.1:$TEST_NGINX_OP_PORT;
    jwt_peer_auth_claim aud https://tunnel.test;
    location = /_oidc {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_OP_PORT/.well-known/openid-configuration;
    }
    location = /_oidc_jwks { internal; proxy_pass $jwt_peer_auth_jwks_uri; }
    location /p {
        add_header X-Client $jwt_claim_client_id;
        alias html/;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
    user_files => [["index.html" => "ok\n"]],
    request => 'GET /p/index.html',
);

run_tests();

__DATA__

=== TEST 1: a token the provider issues passes; the keys come from the jwks_uri its discovery document names
--- more_headers eval
"Authorization: Bearer " . Op::token()
--- error_code: 200
--- response_headers
X-Client: peer
--- response_body
ok
--- error_log eval
qr/the discovery document names jwks_uri "http:\/\/127\.0\.0\.1:$Op::PORT\/jwks"/



=== TEST 2: the provider rotates its signing key (the old one kept): new tokens pass without a reload, old ones still do
--- more_headers eval
"Authorization: Bearer " . Op::token()
--- error_code: 200
--- between_0
my $old = Op::token();
Op::restart('rotate');
my $new = Op::token();
Test::More::isnt(Op::kid($new), Op::kid($old), 'the provider signs with a new key');
Test::More::is(Op::get($new), 200, 'a token of the new key passes');
Test::More::is(Op::get($old), 200, 'a token of the old key still passes');
Test::More::like(JwtPeerAuth::status_json(), qr/"kids":\["\Q${\ Op::kid($new)}\E","\Q${\ Op::kid($old)}\E"/,
                 'the published set has both keys, the new one first');
Test::More::is(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\)|reconfiguring/), 0, 'no reload');



=== TEST 3: the provider replaces its signing key (the old one dropped): new tokens pass without a reload, old ones are refused
--- more_headers eval
"Authorization: Bearer " . Op::token()
--- error_code: 200
--- between_0
my $old = Op::token();
Op::restart('replace');
my $new = Op::token();
Test::More::is(Op::get($new), 200, 'a token of the new key passes');
Test::More::is(Op::get($old), 401, 'a token of the dropped key is refused');
Test::More::is(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\)|reconfiguring/), 0, 'no reload');



=== TEST 4: a token of the provider presented for another issuer's discovery source is refused
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_discovery /_oidc /_oidc_jwks issuer=http://localhost:$TEST_NGINX_OP_PORT;
    location = /_oidc {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_OP_PORT/.well-known/openid-configuration;
    }
    location = /_oidc_jwks { internal; proxy_pass $jwt_peer_auth_jwks_uri; }
    location /p { alias html/; }
--- more_headers eval
"Authorization: Bearer " . Op::token()
--- error_code: 401
