# DPoP end to end with an independent authorization server: panva's oidc-provider from npm
# (tools/oidc-provider, started with `dpop`) issues RS256 JWT access tokens (typ at+jwt) bound to
# the client's key: the client (panva's `dpop` and `jose` from npm, tools/dpop/client.mjs) sends
# a DPoP proof to the provider's token endpoint, and the provider puts its own RFC 7638
# thumbprint of the proof's key in the token's `cnf.jkt`. NGINX finds the provider's keys through
# jwt_peer_auth_discovery alone. With `jwt_peer_auth_dpop on` the token passes with a fresh proof
# by the same key; with a proof by another key, as Bearer (under `on` and `optional`), or with a
# proof replayed (to either worker) or made for the token endpoint, it is refused with the
# module's status word and the DPoP challenge. Two workers.
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
our $CLIENT = "$JwtPeerAuth::ROOT/tools/dpop/client.mjs";
our ($PORT, $STATE, $PID, $LOG);
my $parent = $$;

-d "$DIR/node_modules/oidc-provider"
    or Test::More::BAIL_OUT("$DIR/node_modules is missing: run scripts/deps.sh (npm ci in tools/oidc-provider)");
-d "$JwtPeerAuth::ROOT/tools/dpop/node_modules/dpop"
    or Test::More::BAIL_OUT("tools/dpop/node_modules is missing: run scripts/deps.sh (npm ci in tools/dpop)");

# Starts the provider with DPoP-bound tokens (and `rotate`: a new signing key first, see
# provider.mjs) and waits, bounded, until its discovery document answers.
sub start {
    my (@actions) = @_;
    die "provider already running\n" if $PID;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $LOG) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        exec('node', "$DIR/provider.mjs", $PORT, $STATE, @actions, 'dpop') or POSIX::_exit(127);
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

# The npm client (tools/dpop/client.mjs) with @args; returns what it prints.
sub client {
    my (@args) = @_;
    open(my $fh, '-|', 'node', $CLIENT, @args) or die "cannot run node: $!";
    my $out = do { local $/; <$fh> };
    close($fh) or die "node client.mjs @args failed\n";
    chomp $out;
    return $out;
}

# A new ES256 key of the npm client: returns its file and jose's thumbprint of it.
my $keys = 0;
sub key {
    my $file = "$STATE/client-" . ++$keys . '.json';
    my $jkt = client('keygen', 'ES256', $file);
    return ($file, $jkt);
}

# The provider's token endpoint with the client_credentials grant and a resource indicator;
# with a DPoP proof by the key in $file (made by the npm client for POST <issuer>/token), unless
# $file is undef. Returns ($status, $body, the proof sent). HTTP::Tiny sends "Host:
# 127.0.0.1:<port>", the host and port the provider checks the proof's htu against.
sub token_request {
    my ($file) = @_;
    require HTTP::Tiny;
    my $url = "http://127.0.0.1:$PORT/token";
    my %h = (Authorization => 'Basic cGVlcjpwZWVyLXNlY3JldA==',    # peer:peer-secret
             'Content-Type' => 'application/x-www-form-urlencoded');
    my $proof = defined $file ? client('proof', $file, 'POST', $url, '') : undef;
    $h{DPoP} = $proof if defined $proof;
    my $r = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef)->post($url, {
        headers => \%h,
        content => 'grant_type=client_credentials&scope=tunnel&resource=https%3A%2F%2Ftunnel.test',
    });
    return ($r->{status}, $r->{content}, $proof);
}

# A DPoP-bound access token for the key in $file: returns the token and the proof that got it.
sub token {
    my ($file) = @_;
    my ($code, $body, $proof) = token_request($file);
    $code == 200 or die "token endpoint: $code $body";
    $body =~ /"token_type":"DPoP"/ or die "not a DPoP token: $body";
    my ($t) = $body =~ /"access_token":"([^"]+)"/ or die "no access_token in $body";
    return wantarray ? ($t, $proof) : $t;
}

# Part $i (0: header, 1: claims) of a JWT, decoded from JSON.
sub part {
    my ($t, $i) = @_;
    require MIME::Base64;
    require JSON::PP;
    (my $b = (split /\./, $t)[$i]) =~ tr{-_}{+/};
    return JSON::PP::decode_json(MIME::Base64::decode_base64($b));
}

package main;

our $ALGS = 'DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA Ed25519"';

# One request to the runner's server with $auth ("DPoP <token>" or "Bearer <token>") and the
# DPoP proofs @$proofs: returns ($status, \%headers (lower-case names; repeated ones joined by
# "\n")).
sub req {
    my ($path, $auth, $proofs) = @_;
    my @h = ("Authorization: $auth", map { "DPoP: $_" } @{ $proofs // [] });
    my ($code, undef, $head) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', $path,
        headers => \@h);
    my %h;
    for my $line (split /\r\n/, $head // '') {
        my ($n, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        $n = lc $n;
        $h{$n} = defined $h{$n} ? "$h{$n}\n$v" : $v;
    }
    return ($code, \%h);
}

# A fresh proof of the npm client's key in $file for GET http://127.0.0.1$path and token $t.
sub proof {
    my ($file, $path, $t, $nonce) = @_;
    return Op::client('proof', $file, 'GET', "http://127.0.0.1$path", $t, defined $nonce ? $nonce : ());
}

# A DPoP request: checks the status, $jwt_peer_auth_status and (if given) the challenge.
sub dpop_is {
    my ($what, $path, $auth, $proofs, $code, $word, $challenge) = @_;
    my ($got, $h) = req($path, $auth, $proofs);
    is($got, $code, "$what: $code");
    is($h->{'x-status'}, $word, "$what: $word");
    is($h->{'www-authenticate'}, $challenge, "$what: challenge") if defined $challenge;
    return $h;
}

require File::Path;
$Op::STATE = server_root() . '-oidc-provider-dpop';
File::Path::remove_tree($Op::STATE) if -d $Op::STATE;
File::Path::make_path($Op::STATE);
$Op::LOG = "$Op::STATE/provider.log";
$Op::PORT = JwtPeerAuth::free_port();
$ENV{TEST_NGINX_OP_PORT} = $Op::PORT;
eval { Op::start(); 1 } or Test::More::BAIL_OUT("t/044-dpop-provider.t: $@");
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
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
    location /on/ {
        jwt_peer_auth_dpop on;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Jkt $jwt_peer_auth_dpop_jkt always;
        add_header X-Client $jwt_claim_client_id always;
        add_header X-Pid $pid always;
    }
    location /opt/ {
        jwt_peer_auth_dpop optional;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /nonce/ {
        jwt_peer_auth_dpop on nonce;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /off/ { alias html/; add_header X-Status $jwt_peer_auth_status always; }
_EOC_
    user_files => ">>> index.html\nok\n",
    request => 'GET /open',
    response_body => "open\n",
);

# Each block's replay zone is its own (a reload under TEST_NGINX_USE_HUP=1 keeps a zone).
add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    $block->set_value('http_config', "    jwt_peer_auth_dpop_zone dpop_p$n:1m;\n") unless defined $block->http_config;
});

run_tests();

__DATA__

=== TEST 1: the provider's DPoP-bound token with a fresh proof by the same key passes; cnf.jkt is the provider's thumbprint of the client's key
--- between_0
my ($file, $jkt) = Op::key();
my ($code, $body) = Op::token_request(undef);
is($code, 400, 'the provider issues no token without a DPoP proof (dpop_bound_access_tokens): 400');
like($body, qr/"error":"invalid_grant"/, 'the provider issues no token without a DPoP proof: invalid_grant');
my $t = Op::token($file);
my ($head, $claims) = (Op::part($t, 0), Op::part($t, 1));
is($head->{typ}, 'at+jwt', 'an RFC 9068 access token');
is($head->{alg}, 'RS256', 'signed RS256 by the provider');
is($claims->{cnf}{jkt}, $jkt, "the provider's cnf.jkt is jose's thumbprint of the client's key");
my $u = '/on/index.html';
my $h = dpop_is('fresh proof', $u, "DPoP $t", [proof($file, $u, $t)], 200, 'ok');
is($h->{'x-jkt'}, $jkt, '$jwt_peer_auth_dpop_jkt is the token\'s cnf.jkt');
is($h->{'x-client'}, 'peer', 'the provider\'s claims are read');
dpop_is('another fresh proof (the token cached)', $u, "DPoP $t", [proof($file, $u, $t)], 200, 'ok');
dpop_is('optional: fresh proof', '/opt/index.html', "DPoP $t", [proof($file, '/opt/index.html', $t)], 200, 'ok');
like(JwtPeerAuth::status_json(), qr/"kids":\["\Q$head->{kid}\E"\]/, 'the key came from the provider, found by discovery');



=== TEST 2: the same token with a proof by another key is refused (dpop_binding, invalid_token, the DPoP challenge)
--- between_0
my ($file, $jkt) = Op::key();
my ($other, $other_jkt) = Op::key();
my $t = Op::token($file);
my $u = '/on/index.html';
dpop_is('proof by another key', $u, "DPoP $t", [proof($other, $u, $t)], 401, 'dpop_binding',
    "$main::ALGS, error=\"invalid_token\"");
is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: dpop_binding \(cnf\.jkt is not the thumbprint of the proof's key/), 1,
    'one info line');
dpop_is('optional: proof by another key', '/opt/index.html', "DPoP $t", [proof($other, '/opt/index.html', $t)], 401,
    'dpop_binding', "$main::ALGS, error=\"invalid_token\"\nBearer realm=\"peers\"");
# The other way round: a token the provider bound to the other key, with a proof by the first.
my $t2 = Op::token($other);
isnt(Op::part($t2, 1)->{cnf}{jkt}, $jkt, 'the provider binds each token to its own key');
dpop_is('token of the other key, proof by the first', $u, "DPoP $t2", [proof($file, $u, $t2)], 401, 'dpop_binding');
dpop_is('token of the other key, its own proof', $u, "DPoP $t2", [proof($other, $u, $t2)], 200, 'ok');



=== TEST 3: the bound token sent as Bearer is refused under on and under optional (no downgrade); under off cnf.jkt is not looked at
--- between_0
my ($file) = Op::key();
my $t = Op::token($file);
dpop_is('Bearer under on', '/on/index.html', "Bearer $t", [], 401, 'dpop_binding', "$main::ALGS, error=\"invalid_token\"");
dpop_is('Bearer under on, with a valid proof', '/on/index.html', "Bearer $t", [proof($file, '/on/index.html', $t)], 401,
    'dpop_binding');
dpop_is('Bearer under optional', '/opt/index.html', "Bearer $t", [], 401, 'dpop_binding',
    "$main::ALGS, error=\"invalid_token\"\nBearer realm=\"peers\"");
is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: dpop_binding \(a DPoP-bound token \(cnf\.jkt\) sent as Bearer\)/), 1,
    'optional: one info line');
dpop_is('Bearer under off', '/off/index.html', "Bearer $t", [], 200, 'ok');



=== TEST 4: a proof replayed is refused (to either worker); the proof the client sent to the token endpoint is refused
--- between_0
my ($file) = Op::key();
my ($t, $token_proof) = Op::token($file);
my $u = '/on/index.html';
my $p = proof($file, $u, $t);
my $h = dpop_is('first use', $u, "DPoP $t", [$p], 200, 'ok');
my $first = $h->{'x-pid'};
my ($other, $tries) = (undef, 0);
# The same proof, on new connections, until another worker than the first answers (bounded).
while ($tries++ < 40) {
    my $hh = dpop_is("replay $tries", $u, "DPoP $t", [$p], 401, 'dpop_replay', "$main::ALGS, error=\"invalid_dpop_proof\"");
    if ($hh->{'x-pid'} ne $first) { $other = $hh->{'x-pid'}; last }
}
ok(defined $other, "a replay reached the other worker (pid $first answered first)");
is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: dpop_replay/), $tries, 'one info line per replay');
dpop_is('the token endpoint\'s proof (POST, the provider\'s URL, no ath)', $u, "DPoP $t", [$token_proof], 401, 'dpop_proof',
    "$main::ALGS, error=\"invalid_dpop_proof\"");
dpop_is('a new proof after the replays', $u, "DPoP $t", [proof($file, $u, $t)], 200, 'ok');



=== TEST 5: with server nonces, the client retries with the DPoP-Nonce it was given
--- between_0
my ($file) = Op::key();
my $t = Op::token($file);
my $u = '/nonce/index.html';
my $h = dpop_is('no nonce', $u, "DPoP $t", [proof($file, $u, $t)], 401, 'dpop_nonce');
my $nonce = $h->{'dpop-nonce'};
ok(defined $nonce && length $nonce, 'DPoP-Nonce given');
dpop_is('retried with the nonce', $u, "DPoP $t", [proof($file, $u, $t, $nonce)], 200, 'ok');



=== TEST 6: the provider rotates its signing key: its new bound tokens pass without a reload
--- between_0
my ($file) = Op::key();
my $old = Op::token($file);
Op::stop();
Op::start('rotate');
my $new = Op::token($file);
isnt(Op::part($new, 0)->{kid}, Op::part($old, 0)->{kid}, 'the provider signs with a new key');
my $u = '/on/index.html';
dpop_is('new key\'s token', $u, "DPoP $new", [proof($file, $u, $new)], 200, 'ok');
dpop_is('old key\'s token', $u, "DPoP $old", [proof($file, $u, $old)], 200, 'ok');
is(JwtPeerAuth::log_count(qr/signal 1 \(SIGHUP\)|reconfiguring/), 0, 'no reload');
