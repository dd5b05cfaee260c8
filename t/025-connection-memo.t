# The token digest remembered per connection: on a kept-alive HTTP/1.x connection, a request
# that repeats the previous request's exact token bytes reuses their SHA-256 instead of
# hashing them again. Only exact byte equality reuses it: a token of the same length that
# differs in one byte of its signature, or that carries another token's signature, is
# verified (and refused) as itself; a different valid token gets its own identity; and the
# first token still passes after all of them, on the same connection.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use Test::Nginx::Socket 'no_plan';

# One worker (the digest is remembered per connection); keys from a file, no zone needed.
JwtPeerAuth::setup(
    workers => 1,
    zone_per_block => 0,
    user_files => ">>> index.html\nok\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    keepalive_requests 1000;
    location /p {
        alias html/;
        add_header X-Sub $jwt_claim_sub always;
        add_header X-Status $jwt_peer_auth_status always;
    }
_EOC_
);

# Runs @seq ([token, status, sub or '', status word]) on one kept-alive connection.
sub run_on_one_connection {
    my ($label, @seq) = @_;
    my @answers = KeyService::session(JwtPeerAuth::server_port(),
        [map { ['/p/index.html', "Authorization: Bearer $_->[0]"] } @seq]);
    Test::More::is(scalar(@answers), scalar(@seq), "$label: every request answered on one connection");
    for my $i (0 .. $#seq) {
        my ($code, $head) = @{ $answers[$i] // {} }{qw(status headers)};
        my (undef, $want, $sub, $word) = @{ $seq[$i] };
        my ($got_sub) = ($head // '') =~ /^X-Sub: (.*?)\r?$/mi;
        my ($got_word) = ($head // '') =~ /^X-Status: (.*?)\r?$/mi;
        Test::More::is(($code // 0) . " " . ($got_sub // '') . " " . ($got_word // ''), "$want $sub $word", "$label: request $i");
    }
}

run_tests();

__DATA__

=== TEST 1: one connection: a token, a one-byte change of its signature, itself, another token's payload under its signature, another valid token, itself
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer_claims(sub => 'peer-zero')
--- error_code: 200
--- between_0
my $a = JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-a"}');
my $c = JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-c"}');
Test::More::is(length($c), length($a), 'the two valid tokens have the same length');
# One base64url character in the middle of the signature, changed: same length, bad signature.
my $b = $a;
my $at = length($b) - 20;
substr($b, $at, 1) = substr($b, $at, 1) eq 'A' ? 'B' : 'A';
# C's header and payload under A's signature: same length as A, same signature bytes.
my ($c_hp) = $c =~ /\A([^.]+\.[^.]+)\./;
my ($a_sig) = $a =~ /\.([^.]+)\z/;
my $d = "$c_hp.$a_sig";
Test::More::is(length($d), length($a), 'the spliced token has the same length');
main::run_on_one_connection('keep-alive',
    [$a, 200, 'peer-a', 'ok'],
    [$b, 401, '', 'signature'],
    [$a, 200, 'peer-a', 'ok'],
    [$d, 401, '', 'signature'],
    [$c, 200, 'peer-c', 'ok'],
    [$a, 200, 'peer-a', 'ok'],
    [$a, 200, 'peer-a', 'ok'],
);
Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: signature/), 2, 'one info line for each of the two refusals');
--- no_error_log
[alert]
[emerg]



=== TEST 2: a refused token repeated on one connection stays refused, and the valid token after it passes
--- request
GET /p/index.html
--- more_headers eval
JwtPeerAuth::bearer_claims(sub => 'peer-zero')
--- error_code: 200
--- between_0
my $a = JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-a"}');
my $bad = JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-a"}', '--corrupt');
my $expired = JwtPeerAuth::token('rsa', '--claims', '{"sub":"peer-a"}', '--exp', '-60');
main::run_on_one_connection('repeated refusals',
    [$bad, 401, '', 'signature'],
    [$bad, 401, '', 'signature'],
    [$expired, 401, '', 'expired'],
    [$expired, 401, '', 'expired'],
    [$a, 200, 'peer-a', 'ok'],
    [$bad, 401, '', 'signature'],
);
--- no_error_log
[alert]
[emerg]
