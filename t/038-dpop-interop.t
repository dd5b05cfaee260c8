# DPoP against software not written here: proofs made by an independent client (panva's `dpop`
# from npm, thumbprints cross-checked with `jose`; tools/dpop/client.mjs) for ES256, PS256,
# RS256 and Ed25519 keys pass; a token bound (cnf.jkt from jose's thumbprint) to one of its keys
# fails with a proof of another of its keys; its proof for another URL or method, or replayed,
# fails; with server nonces, it retries with the DPoP-Nonce it got.
#
# Needs node (CI installs it) and tools/dpop/node_modules (scripts/deps.sh: npm ci). Skipped,
# with a message, only when node is absent. Two workers.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Test::Nginx::Socket;

our $NODE;
BEGIN {
    ($NODE) = grep { -x } map { "$_/node" } split /:/, $ENV{PATH} // '';
}
if (!$NODE) {
    plan(skip_all => 'node is not installed: the independent DPoP client (tools/dpop) needs it');
} else {
    plan('no_plan');
}
our $CLIENT = "$JwtPeerAuth::ROOT/tools/dpop/client.mjs";
-d "$JwtPeerAuth::ROOT/tools/dpop/node_modules/dpop"
    or die "tools/dpop/node_modules is missing: run scripts/deps.sh (npm ci in tools/dpop)\n";
our $DIR = File::Temp::tempdir('jwt-peer-auth-dpop-npm-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub node {
    my (@args) = @_;
    open(my $fh, '-|', $NODE, $CLIENT, @args) or die "cannot run node: $!";
    my $out = do { local $/; <$fh> };
    close($fh) or die "node client.mjs @args failed\n";
    chomp $out;
    return $out;
}

# A key pair of the npm client for $alg: returns its file and jose's thumbprint.
sub client_key {
    my ($alg) = @_;
    my $file = "$DIR/$alg.json";
    my $jkt = node('keygen', $alg, $file);
    return ($file, $jkt);
}

# An access token bound to $jkt (by the test issuer's RSA key).
sub bound_to { JwtPeerAuth::token('rsa', '--typ', 'at+jwt', '--claims', qq({"cnf":{"jkt":"$_[0]"}})) }

sub req {
    my ($path, $t, $p, $method) = @_;
    my @h = ("Authorization: DPoP $t", "DPoP: $p");
    my ($code, $body, $head) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), $method // 'GET', $path,
        headers => \@h);
    my ($status) = ($head // '') =~ /^X-Status: (\S+)/mi;
    my ($nonce) = ($head // '') =~ /^DPoP-Nonce: (\S+)/mi;
    return ($code, $status // '', $nonce);
}

JwtPeerAuth::setup(
    user_files => ">>> index.html\nok\n",
    request => 'GET /open',
    response_body => "open\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location /api/ {
        jwt_peer_auth_dpop on;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /nonce/ {
        jwt_peer_auth_dpop on nonce;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
_EOC_
);

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    $block->set_value('http_config', "    jwt_peer_auth_dpop_zone dpop_i$n:1m;\n") unless defined $block->http_config;
});

run_tests();

__DATA__

=== TEST 1: proofs of the npm client pass for each of its algorithms; its token bound to one key fails with a proof of another
--- between_0
my $u = '/api/index.html';
my %keys;
for my $alg (qw(ES256 PS256 RS256 Ed25519)) {
    my ($file, $jkt) = client_key($alg);
    $keys{$alg} = [$file, $jkt];
    my $t = bound_to($jkt);
    my ($code, $status) = req($u, $t, node('proof', $file, 'GET', "http://127.0.0.1$u", $t));
    is($code, 200, "$alg: the npm client's proof passes");
    is($status, 'ok', "$alg: ok");
}
my $t = bound_to($keys{ES256}[1]);
for my $alg (qw(PS256 Ed25519)) {
    my ($code, $status) = req($u, $t, node('proof', $keys{$alg}[0], 'GET', "http://127.0.0.1$u", $t));
    is($code, 401, "token bound to the ES256 key, proof by the $alg key: 401");
    is($status, 'dpop_binding', "another key: dpop_binding");
}



=== TEST 2: the npm client's proof for another URL or method, or replayed, fails
--- between_0
my $u = '/api/index.html';
my ($file, $jkt) = client_key('ES256');
my $t = bound_to($jkt);
my ($code, $status) = req($u, $t, node('proof', $file, 'GET', "http://127.0.0.1/api/other", $t));
is($status, 'dpop_proof', 'proof for another URL');
($code, $status) = req($u, $t, node('proof', $file, 'POST', "http://127.0.0.1$u", $t));
is($status, 'dpop_proof', 'proof for another method');
($code, $status) = req($u, $t, node('proof', $file, 'GET', "http://127.0.0.1$u", bound_to('x' x 43)));
is($status, 'dpop_proof', 'proof for another token (ath)');
my $p = node('proof', $file, 'GET', "http://127.0.0.1$u", $t);
($code) = req($u, $t, $p);
is($code, 200, 'first use');
($code, $status) = req($u, $t, $p);
is($status, 'dpop_replay', 'replayed');



=== TEST 3: server nonces: the npm client retries with the DPoP-Nonce it was given
--- between_0
my $u = '/nonce/index.html';
my ($file, $jkt) = client_key('ES256');
my $t = bound_to($jkt);
my ($code, $status, $nonce) = req($u, $t, node('proof', $file, 'GET', "http://127.0.0.1$u", $t));
is($status, 'dpop_nonce', 'no nonce: use_dpop_nonce');
ok(defined $nonce, 'DPoP-Nonce given');
($code, $status) = req($u, $t, node('proof', $file, 'GET', "http://127.0.0.1$u", $t, $nonce));
is($code, 200, 'retried with the nonce: 200');
