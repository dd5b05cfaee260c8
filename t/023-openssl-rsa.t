# RSA signatures are checked by NGINX's OpenSSL (src/openssl_rsa.rs) with the key prepared
# once; everything else stays in the core. Tokens that a wrongly set up OpenSSL context would
# accept must be refused: a PSS salt of another length than the digest (OpenSSL's default for
# verification accepts any), a signature one byte short (with its leading zero byte dropped,
# OpenSSL's PSS verification alone accepts it), another key's signature, another hash or
# padding than the header's alg, MGF1 with another hash. Refusals do not upset the prepared
# contexts: the valid tokens after them pass. Two workers; keys from a file (prepared at
# configuration time) and fetched (prepared by each worker per generation).
#
# Test key 'rsa' is published as kid "rsa" (RS256) and "rsa-ps" (PS256) in jwks-algs.json.
# Tokens signed by `openssl dgst` use 'rsa' (t/keys.tmp/rsa.pk8).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# A token whose header is $header (JSON) with jwt-mint's default claims, its signature made by
# `openssl dgst -$hash` with test key 'rsa' and the given -sigopt values.
sub openssl_token {
    my ($header, $hash, @sigopts) = @_;
    my $t = JwtPeerAuth::token('rsa', '--header', $header);
    my ($input) = $t =~ /\A(.*)\.[^.]*\z/ or die "no signing input in $t";
    require File::Temp;
    my ($fh, $file) = File::Temp::tempfile(UNLINK => 1);
    print $fh $input;
    close $fh;
    my @cmd = ('openssl', 'dgst', "-$hash", '-sign', "$JwtPeerAuth::KEYS/rsa.pk8", '-keyform', 'DER',
               (map { ('-sigopt', $_) } @sigopts), '-binary', $file);
    open(my $out, '-|', @cmd) or die "cannot run openssl: $!";
    my $sig = do { local $/; <$out> };
    close($out) or die "@cmd failed\n";
    require MIME::Base64;
    return "$input." . MIME::Base64::encode_base64url($sig);
}

my %h = (
    rs256 => '{"alg":"RS256","kid":"rsa","typ":"JWT"}',
    ps256 => '{"alg":"PS256","kid":"rsa-ps","typ":"JWT"}',
);
my $pss = 'rsa_padding_mode:pss';

# name => [token, expected status]; the same list for each key source.
our @CASES = (
    ['rs256 valid',                     sub { JwtPeerAuth::token('rsa') }, 200],
    ['ps256 valid',                     sub { JwtPeerAuth::token('rsa', '--alg', 'PS256', '--kid', 'rsa-ps') }, 200],
    ['ps256 by openssl, salt 32',       sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:32') }, 200],
    ['rs256 by openssl',                sub { openssl_token($h{rs256}, 'sha256') }, 200],
    ['ps256 salt 20',                   sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:20') }, 401],
    ['ps256 salt 0',                    sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:0') }, 401],
    ['ps256 salt max',                  sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:max') }, 401],
    ['ps256 salt 64',                   sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:64') }, 401],
    ['ps256 mgf1 sha1',                 sub { openssl_token($h{ps256}, 'sha256', $pss, 'rsa_pss_saltlen:32', 'rsa_mgf1_md:sha1') }, 401],
    ['ps256 header, sha384 pss',        sub { openssl_token($h{ps256}, 'sha384', $pss, 'rsa_pss_saltlen:32') }, 401],
    ['ps256 header, pkcs1 sig',         sub { openssl_token($h{ps256}, 'sha256') }, 401],
    ['rs256 header, pss sig',           sub { openssl_token($h{rs256}, 'sha256', $pss, 'rsa_pss_saltlen:32') }, 401],
    ['rs256 header, sha384 pkcs1 sig',  sub { JwtPeerAuth::token('rsa', '--alg', 'RS384', '--header', $h{rs256}) }, 401],
    ['rs256 header, sha512 by openssl', sub { openssl_token($h{rs256}, 'sha512') }, 401],
    ['rs256 one byte short',            sub { JwtPeerAuth::token('rsa', '--truncate') }, 401],
    ['rs256 leading zero dropped',      sub { JwtPeerAuth::token('rsa', '--strip-leading-zero') }, 401],
    ['ps256 leading zero dropped',      sub { JwtPeerAuth::token('rsa', '--alg', 'PS256', '--kid', 'rsa-ps', '--strip-leading-zero') }, 401],
    ['rs256 by another key',            sub { JwtPeerAuth::token('rsa2', '--kid', 'rsa') }, 401],
    ['ps256 by another key',            sub { JwtPeerAuth::token('rsa2', '--alg', 'PS256', '--kid', 'rsa-ps') }, 401],
    ['rs256 one bit flipped',           sub { JwtPeerAuth::token('rsa', '--corrupt') }, 401],
    ['rs256 valid again',               sub { JwtPeerAuth::token('rsa') }, 200],
    ['ps256 valid again',               sub { JwtPeerAuth::token('rsa', '--alg', 'PS256', '--kid', 'rsa-ps') }, 200],
);
our @TOKENS = map { $_->[1]->() } @CASES;

sub requests { [("GET /p/index.html") x @CASES] }
sub headers { [map { "Authorization: Bearer $_" } @TOKENS] }
sub codes { [map { $_->[2] } @CASES] }
# The info line of each refusal: "signature does not verify", nothing else.
sub refusals { scalar grep { $_->[2] == 401 } @CASES }

# Two workers, a cold zone per block; a connection per request: with two workers, both verify.
JwtPeerAuth::setup(
    user_files => ">>> index.html\nok\n",
    request => requests(),
    more_headers => headers(),
    error_code => codes(),
);

run_tests();

__DATA__

# between_21: after the last of the 22 requests (@CASES).

=== TEST 1: keys from a file: the valid RSA tokens pass, every malformed RSA signature is refused
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks-algs.json;
    location /p { alias html; }
--- between_21
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: signature \(signature does not verify\)/),
               main::refusals(), 'each bad signature refused as such');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected/), main::refusals(), 'and nothing else refused');
Test::More::is(JwtPeerAuth::log_count(qr/\[error\]|\[crit\]|\[alert\]|\[emerg\]/), 0,
               'no OpenSSL failure (none falls back to ring)');
--- no_error_log
OpenSSL:



=== TEST 2: fetched keys: each worker prepares them with OpenSSL, same verdicts
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        access_log off;
        default_type application/json;
        location = /jwks { alias $TEST_NGINX_JWT_KEYS/jwks-algs.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html; }
--- between_21
Test::More::cmp_ok(JwtPeerAuth::log_count(qr/jwt_peer_auth: OpenSSL prepared 2 RSA key\(s\) of a key set \(kids: rsa rsa-ps\)/),
                   '>=', 1, 'the fetched set\'s RSA keys are prepared by OpenSSL');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: signature \(signature does not verify\)/),
               main::refusals(), 'each bad signature refused as such');
Test::More::is(JwtPeerAuth::log_count(qr/token rejected/), main::refusals(), 'and nothing else refused');
Test::More::is(JwtPeerAuth::log_count(qr/\[error\]|\[crit\]|\[alert\]|\[emerg\]/), 0,
               'no OpenSSL failure (none falls back to ring)');
--- no_error_log
OpenSSL:
