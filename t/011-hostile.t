# Hostile tokens (RFC 8725, JWT BCP) through the real NGINX: every one is refused with 401, the
# RFC 6750 challenge and one log line naming the right reason; a few controls show where the
# line is (a correctly signed token with jku passes, an 8192-byte token passes, 8193 does not).
# No worker may crash: every block checks the log has no [alert]/[crit]/"exited on signal".
#
# Locations: /p    jwks.json (rsa pinned to RS256, ec, ed), default allow-list (no HMAC)
#            /mixed mixed.jwks (rsa *unpinned*, ec, ed, and the oct key), every algorithm
#            /hs   jwks-oct.json, HS256 HS384 HS512: tokens with raw header/payload text are
#                  HMAC-signed here in Perl, so checks after the signature are reached
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

package Hostile;

use MIME::Base64 qw(encode_base64 encode_base64url decode_base64url);
use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);

our $KEYS = $JwtPeerAuth::KEYS;
my $secret = JwtPeerAuth::slurp("$KEYS/oct.secret");
my %hmac = (HS256 => \&hmac_sha256, HS384 => \&hmac_sha384, HS512 => \&hmac_sha512);

sub b64u { encode_base64url($_[0]) }    # unpadded, '-' and '_'

# Standard base64 without padding: '+' and '/' where base64url has '-' and '_'.
sub b64std { (my $s = encode_base64($_[0], '')) =~ s/=+\z//; $s }

sub claims { '{"sub":"peer","exp":' . (time + 3600) . '}' }

# "<input>.<HMAC of input>" with the oct key: the signing input is taken exactly as given.
sub hs_input {
    my ($input, $alg) = @_;
    return "$input." . b64u($hmac{ $alg // 'HS256' }->($input, $secret));
}

# A token with this exact header and payload text, HMAC-signed (alg from the header text).
sub hs {
    my ($header, $payload) = @_;
    my ($alg) = $header =~ /"(HS(?:256|384|512))"/;
    return hs_input(b64u($header) . '.' . b64u($payload // claims()), $alg);
}

sub auth { "Authorization: Bearer $_[0]" }

# The same bytes with non-zero unused bits in the last character (a second encoding of them).
sub nudge_last {
    my ($s) = @_;
    my $abc = join '', 'A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_';
    length($s) % 4 or die "no unused bits in a part of length " . length($s);
    my $i = index($abc, substr($s, -1));
    return substr($s, 0, -1) . substr($abc, $i | 1, 1);
}

# A JSON text made by $make->($filler) whose standard base64 has a '+' or '/'.
sub with_std_chars {
    my ($make) = @_;
    for my $pad ('', 'a', 'aa') {
        my $text = $make->("$pad~~~???");
        return $text if b64std($text) =~ m{[+/]};
    }
    die "no '+' or '/' in the standard base64";
}

# An RSA-signed token (jwt-mint) split into its three parts.
sub parts { split /\./, JwtPeerAuth::token(@_) }

# An ES256 token whose signature is replaced by $f->(signature bytes).
sub es256_sig {
    my ($f) = @_;
    my ($h, $p, $s) = parts('ec');
    return auth("$h.$p." . b64u($f->(decode_base64url($s))));
}

# A token of exactly $len bytes, HMAC-signed (payload padded with a "pad" claim).
sub hs_of_length {
    my ($len) = @_;
    my $header = '{"alg":"HS256","kid":"oct"}';
    my $exp = time + 3600;
    for my $n (0 .. $len) {
        my $t = hs($header, qq({"exp":$exp,"pad":") . ('x' x $n) . '"}');
        return $t if length($t) == $len;
        die "cannot hit $len" if length($t) > $len;
    }
}

# A valid RS256 token whose signature is written in the standard alphabet ('+', '/').
sub std_sig {
    my ($h, $p, $s);
    ($h, $p, $s) = parts('rsa') until defined $s && $s =~ /[-_]/;
    $s =~ tr{-_}{+/};
    return "$h.$p.$s";
}

# A JWE compact serialization: five parts.
sub jwe {
    return join '.', map { b64u($_) }
        '{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa"}', 'cek', 'iv', 'ciphertext', 'tag';
}

# JWKS with the rsa key unpinned (usable for RS* and PS*) plus ec, ed and the oct key (which
# the module skips with a [warn]: shared secrets are never taken from a set with public keys).
sub mixed_jwks {
    require JSON::PP;
    my $doc = JSON::PP::decode_json(JwtPeerAuth::slurp("$KEYS/jwks.json"));
    delete $_->{alg} for @{ $doc->{keys} };
    push @{ $doc->{keys} }, @{ JSON::PP::decode_json(JwtPeerAuth::slurp("$KEYS/jwks-oct.json"))->{keys} };
    return JSON::PP->new->canonical->encode($doc);
}

package main;

log_level('info');
no_shuffle();
master_on();    # a worker that crashed would show as "exited on signal" in the log
workers(1);

my $invalid = 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"';
my $mixed = Hostile::mixed_jwks();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    large_client_header_buffers 4 32k;
    location /p { alias html; }
    location /mixed {
        jwt_peer_auth_jwks_file ../html/mixed.jwks;
        jwt_peer_auth_algorithms RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA
                                 HS256 HS384 HS512;
        alias html;
    }
    location /hs {
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks-oct.json;
        jwt_peer_auth_algorithms HS256 HS384 HS512;
        alias html;
    }
_EOC_
    }
    $block->set_value('user_files', ">>> index.html\nsecret\n>>> mixed.jwks\n$mixed\n");
    $block->set_value('request', "GET /p/index.html") unless defined $block->request;
    if (!defined $block->error_code) {
        $block->set_value('error_code', 401);
        $block->set_value('response_headers', $invalid) unless defined $block->response_headers;
        $block->set_value('response_body_unlike', 'secret');
    }
    $block->set_value('no_error_log', "[alert]\n[crit]\nexited on signal\n")
        unless defined $block->no_error_log;
});

run_tests();

__DATA__

=== TEST 1: alg "none", unsigned
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"none","typ":"JWT"}', '--unsigned')
--- error_log
jwt_peer_auth: token rejected: algorithm (unsigned token, alg "none")



=== TEST 2: alg "None" with the kid of a configured key
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"None","kid":"rsa"}', '--unsigned')
--- error_log
jwt_peer_auth: token rejected: algorithm (unsigned token, alg "None")



=== TEST 3: alg "NONE" with a (meaningless) signature, where HMAC is allowed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"NONE","kid":"oct"}'))
--- error_log
jwt_peer_auth: token rejected: algorithm (unsigned token, alg "NONE")



=== TEST 4: HS256 signed with the RSA public key (PEM) as secret, default allow-list
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS256', '--header', '{"alg":"HS256","kid":"rsa"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.pem")
--- error_log
jwt_peer_auth: token rejected: algorithm (alg not allowed "HS256")



=== TEST 5: HS384 signed with the RSA public key (DER), default allow-list
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS384', '--header', '{"alg":"HS384","kid":"rsa"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.der")
--- error_log
jwt_peer_auth: token rejected: algorithm (alg not allowed "HS384")



=== TEST 6: HS256 with the RSA public key (PEM), HMAC allowed and an oct key configured
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS256', '--header', '{"alg":"HS256","kid":"rsa"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.pem")
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "HS256")



=== TEST 7: HS384 with the RSA public key (DER), HMAC allowed
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS384', '--header', '{"alg":"HS384","kid":"rsa"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.der")
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "HS384")



=== TEST 8: HS512 with the RSA public key (PEM), HMAC allowed
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS512', '--header', '{"alg":"HS512","kid":"rsa"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.pem")
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "HS512")



=== TEST 9: HS512 with the RSA public key (DER) and no kid: no public key is an HMAC secret (the oct key of a mixed set is skipped)
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS512', '--header', '{"alg":"HS512"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.der")
--- error_log
jwt_peer_auth: token rejected: algorithm (no key allows alg "HS512")



=== TEST 10: HS256 with the RSA public key (DER) and no kid, no oct key configured
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_algorithms RS256 HS256;
    location /p { alias html; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'HS256', '--header', '{"alg":"HS256"}',
    '--secret-file', "$Hostile::KEYS/rsa.pub.der")
--- error_log
jwt_peer_auth: token rejected: algorithm (no key allows alg "HS256")



=== TEST 11: RS256 header over a PS256 signature (key pinned to RS256)
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'PS256', '--header', '{"alg":"RS256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 12: PS256 header over an RS256 signature (key pinned to RS256)
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'RS256', '--header', '{"alg":"PS256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "PS256")



=== TEST 13: RS256 header over a PS256 signature (unpinned key)
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'PS256', '--header', '{"alg":"RS256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 14: PS256 header over an RS256 signature (unpinned key)
--- request
GET /mixed/index.html
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--alg', 'RS256', '--header', '{"alg":"PS256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 15: ES256 header naming the RSA key
--- more_headers eval
JwtPeerAuth::bearer('ec', '--header', '{"alg":"ES256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: algorithm (the key with this kid does not allow alg "ES256")



=== TEST 16: ES256 signature one byte short (63 bytes)
--- more_headers eval
Hostile::es256_sig(sub { substr($_[0], 0, 63) })
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 17: ES256 signature one byte long (65 bytes)
--- more_headers eval
Hostile::es256_sig(sub { $_[0] . "\0" })
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 18: ES256 signature DER-encoded (ASN.1 SEQUENCE of r, s) instead of r || s
--- more_headers eval
Hostile::es256_sig(sub {
    my ($r, $s) = (substr($_[0], 0, 32), substr($_[0], 32));
    my $int = sub { my $v = shift; $v =~ s/^\0+//; $v = "\0$v" if ord($v) >= 0x80; "\x02" . chr(length $v) . $v };
    my $seq = $int->($r) . $int->($s);
    "\x30" . chr(length $seq) . $seq;
})
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 19: ES256 "psychic signature": r = s = 0 (CVE-2022-21449)
--- more_headers eval
Hostile::es256_sig(sub { "\0" x 64 })
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 20: ES256 with an empty signature
--- more_headers eval
Hostile::es256_sig(sub { '' })
--- error_log
jwt_peer_auth: token rejected: signature (empty signature)



=== TEST 21: kid with a path: no file is ever opened
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--kid', '../../etc/passwd')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "../../etc/passwd")



=== TEST 22: kid with SQL
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--kid', "' OR 1=1 --")
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "' OR 1=1 --")



=== TEST 23: kid with format directives is logged literally
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--kid', '%s%n%x%p%V')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "%s%n%x%p%V")



=== TEST 24: kid with CR LF, ESC, NUL, quote, backslash and non-ASCII: one printable log line
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"a\r\nb\u001b[31m\u0000\"\\\\' . "\xc3\xa9" . 'z"}'))
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "a??b?[31m????z")



=== TEST 25: a 300-character kid is cut to 64 in the log
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--kid', 'k' x 300)
--- error_log eval
'jwt_peer_auth: token rejected: unknown_kid (no key with kid "' . ('k' x 64) . '...")'



=== TEST 26: jku pointing elsewhere, token signed by an unknown key
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--header', '{"alg":"RS256","kid":"rsa2","jku":"http://127.0.0.1:1/jwks.json"}')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "rsa2")



=== TEST 27: x5u pointing elsewhere, token signed by an unknown key
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--header', '{"alg":"RS256","kid":"rsa2","x5u":"http://127.0.0.1:1/cert.pem"}')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "rsa2")



=== TEST 28: x5c with some certificate, token signed by an unknown key
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--header', '{"alg":"RS256","kid":"rsa2","x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}')
--- error_log
jwt_peer_auth: token rejected: unknown_kid (no key with kid "rsa2")



=== TEST 29: jku without kid, token signed by an unknown key: only configured keys are tried
--- more_headers eval
JwtPeerAuth::bearer('rsa2', '--header', '{"alg":"RS256","jku":"http://127.0.0.1:1/jwks.json"}')
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 30: embedded jwk (the signer's own public key) claiming a configured kid
--- more_headers eval
my $jwk = JwtPeerAuth::slurp("$Hostile::KEYS/rsa2.jwk.json");
$jwk =~ s/"kid":"rsa2"/"kid":"rsa"/;
JwtPeerAuth::bearer('rsa2', '--header', qq({"alg":"RS256","kid":"rsa","jwk":$jwk}))
--- error_log
jwt_peer_auth: token rejected: signature (signature does not verify)



=== TEST 31: control: correctly signed token with jku, x5u and x5c is accepted (they are ignored)
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"rsa","jku":"http://127.0.0.1:1/jwks.json","x5u":"http://127.0.0.1:1/c.pem","x5c":["AAAA"]}')
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body
secret



=== TEST 32: unknown crit
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"rsa","crit":["x-policy"],"x-policy":"admin"}')
--- error_log
jwt_peer_auth: token rejected: malformed (unsupported "crit" header parameter)



=== TEST 33: empty crit list
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct","crit":[]}'))
--- error_log
jwt_peer_auth: token rejected: malformed (unsupported "crit" header parameter)



=== TEST 34: b64 false (RFC 7797 unencoded payload), correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct","b64":false}'))
--- error_log
jwt_peer_auth: token rejected: malformed (unsupported "b64" header parameter)



=== TEST 35: b64 false with crit b64
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"rsa","b64":false,"crit":["b64"]}')
--- error_log
jwt_peer_auth: token rejected: malformed (unsupported "crit" header parameter)



=== TEST 36: duplicate alg in the header, none first
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"none","alg":"RS256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: malformed (header is not a JSON object)



=== TEST 37: duplicate alg in the header, spelled with a \u escape, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct","\u0061lg":"none"}'))
--- error_log
jwt_peer_auth: token rejected: malformed (header is not a JSON object)



=== TEST 38: duplicate kid in the header
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":"other","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: malformed (header is not a JSON object)



=== TEST 39: duplicate exp in the payload, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":1,"sub":"peer","exp":' . (time + 3600) . '}'))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not a JSON object)



=== TEST 40: duplicate sub nested in the payload, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . (time + 3600) . ',"ext":{"role":"peer","role":"admin"}}'))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not a JSON object)



=== TEST 41: base64 padding "=" after the header part
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h=.$p.$s")
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 42: base64 padding "==" after the signature
--- more_headers eval
Hostile::auth(JwtPeerAuth::token('rsa') . '==')
--- error_log
jwt_peer_auth: token rejected: malformed (signature is not base64url)



=== TEST 43: standard base64 ("+" or "/") in the header
--- request
GET /hs/index.html
--- more_headers eval
my $h = Hostile::with_std_chars(sub { qq({"alg":"HS256","kid":"oct","x":"$_[0]"}) });
Hostile::auth(Hostile::hs_input(Hostile::b64std($h) . '.' . Hostile::b64u(Hostile::claims())))
--- error_log
jwt_peer_auth: token rejected: malformed (header is not base64url)



=== TEST 44: standard base64 ("+" or "/") in the payload, signature valid over that text
--- request
GET /hs/index.html
--- more_headers eval
my $p = Hostile::with_std_chars(sub { '{"exp":' . (time + 3600) . qq(,"x":"$_[0]"}) });
Hostile::auth(Hostile::hs_input(Hostile::b64u('{"alg":"HS256","kid":"oct"}') . '.' . Hostile::b64std($p)))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not base64url)



=== TEST 45: standard base64 ("+" and "/") in the signature
--- more_headers eval
Hostile::auth(Hostile::std_sig())
--- error_log
jwt_peer_auth: token rejected: malformed (signature is not base64url)



=== TEST 46: non-zero trailing bits in the signature (same bytes, second encoding)
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h.$p." . Hostile::nudge_last($s))
--- error_log
jwt_peer_auth: token rejected: malformed (signature is not base64url)



=== TEST 47: non-zero trailing bits in the payload, signature valid over that text
--- request
GET /hs/index.html
--- more_headers eval
my $p = '{"exp":' . (time + 3600) . ',"sub":"peer"}';
$p .= ' ' until length($p) % 3;
Hostile::auth(Hostile::hs_input(Hostile::b64u('{"alg":"HS256","kid":"oct"}') . '.' . Hostile::nudge_last(Hostile::b64u($p))))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not base64url)



=== TEST 48: non-zero trailing bits in the header
--- request
GET /hs/index.html
--- more_headers eval
my $h = '{"alg":"HS256","kid":"oct"}';
$h .= ' ' until length($h) % 3;
Hostile::auth(Hostile::hs_input(Hostile::nudge_last(Hostile::b64u($h)) . '.' . Hostile::b64u(Hostile::claims())))
--- error_log
jwt_peer_auth: token rejected: malformed (header is not base64url)



=== TEST 49: two segments (signature dropped)
--- more_headers eval
my ($h, $p) = Hostile::parts('rsa');
Hostile::auth("$h.$p")
--- error_log
jwt_peer_auth: token rejected: malformed (not three dot-separated parts)



=== TEST 50: four segments
--- more_headers eval
Hostile::auth(JwtPeerAuth::token('rsa') . '.AAAA')
--- error_log
jwt_peer_auth: token rejected: malformed (not three dot-separated parts)



=== TEST 51: six segments
--- more_headers eval
Hostile::auth(JwtPeerAuth::token('rsa') . '.AAAA.AAAA.AAAA')
--- error_log
jwt_peer_auth: token rejected: malformed (not three dot-separated parts)



=== TEST 52: empty header segment
--- more_headers eval
my (undef, $p, $s) = Hostile::parts('rsa');
Hostile::auth(".$p.$s")
--- error_log
jwt_peer_auth: token rejected: malformed (empty header or payload part)



=== TEST 53: empty payload segment
--- more_headers eval
my ($h, undef, $s) = Hostile::parts('rsa');
Hostile::auth("$h..$s")
--- error_log
jwt_peer_auth: token rejected: malformed (empty header or payload part)



=== TEST 54: empty signature segment
--- more_headers eval
my ($h, $p) = Hostile::parts('rsa');
Hostile::auth("$h.$p.")
--- error_log
jwt_peer_auth: token rejected: signature (empty signature)



=== TEST 55: only dots
--- more_headers
Authorization: Bearer ..
--- error_log
jwt_peer_auth: token rejected: malformed (empty header or payload part)



=== TEST 56: whitespace inside the token
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h.$p .$s")
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 57: a tab inside the token
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h.$p\t.$s")
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 58: "Bearer Bearer <token>"
--- more_headers eval
Hostile::auth('Bearer ' . JwtPeerAuth::token('rsa'))
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 59: a second Bearer after a comma
--- more_headers eval
Hostile::auth(JwtPeerAuth::token('rsa') . ', Bearer ' . JwtPeerAuth::token('rsa'))
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 60: "Bearer" without a token
--- more_headers
Authorization: Bearer
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 61: non-ASCII bytes in the token
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h.$p\xc3\xa9.$s")
--- error_log
jwt_peer_auth: token rejected: invalid_request ("Authorization: Bearer" is not exactly one token)
--- error_code: 400
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_request"



=== TEST 62: two Authorization headers (one valid): NGINX itself refuses the request
--- more_headers eval
Hostile::auth(JwtPeerAuth::token('rsa')) . "\n" . Hostile::auth(JwtPeerAuth::token('rsa2'))
--- error_code: 400
--- response_headers
!WWW-Authenticate
--- response_body_unlike: secret
--- error_log
client sent duplicate header line
--- no_error_log
[alert]
[crit]
exited on signal
token rejected



=== TEST 63: control: several spaces after "Bearer" are allowed (RFC 6750: 1*SP)
--- more_headers eval
'Authorization: bearer    ' . JwtPeerAuth::token('rsa')
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body
secret



=== TEST 64: a 16 KiB token (past the 8 KiB limit; NGINX's header buffers raised to 32k)
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h." . ('A' x (16 * 1024)) . ".$s")
--- error_log
jwt_peer_auth: token rejected: malformed (token longer than 8192 bytes)



=== TEST 65: control: a correctly signed token of exactly 8192 bytes is accepted
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs_of_length(8192))
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body
secret



=== TEST 66: a correctly signed token of 8193 bytes is refused
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs_of_length(8193))
--- error_log
jwt_peer_auth: token rejected: malformed (token longer than 8192 bytes)



=== TEST 67: a 64 KiB Authorization header: NGINX answers 400 itself, no worker crashes
--- more_headers eval
Hostile::auth('A' x (64 * 1024))
--- error_code: 400
--- response_headers
!WWW-Authenticate
--- response_body_like: Request Header Or Cookie Too Large
--- error_log
client sent too long header line
--- no_error_log
[alert]
[crit]
exited on signal
token rejected



=== TEST 68: a NUL byte in the Authorization header: NGINX answers 400 itself
--- more_headers eval
my ($h, $p, $s) = Hostile::parts('rsa');
Hostile::auth("$h.$p\0.$s")
--- error_code: 400
--- response_headers
!WWW-Authenticate
--- response_body_unlike: secret
--- no_error_log
[alert]
[crit]
exited on signal
token rejected



=== TEST 69: payload nested 1,000 deep, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}',
    '{"exp":' . (time + 3600) . ',"a":' . ('[' x 1000) . (']' x 1000) . '}'))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not a JSON object)



=== TEST 70: header nested 1,000 deep
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct","x":' . ('[' x 1000) . (']' x 1000) . '}'))
--- error_log
jwt_peer_auth: token rejected: malformed (header is not a JSON object)



=== TEST 71: exp as a string
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":"' . (time + 3600) . '"}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is not a number)



=== TEST 72: exp as a float
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . (time + 3600) . '.5}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is not an integer)



=== TEST 73: exp as an integral float in exponent form (1e10)
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":1e10}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is not an integer)



=== TEST 74: exp past the 64-bit range (u64::MAX)
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":18446744073709551615}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is out of range)



=== TEST 75: exp with 30 digits
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . ('9' x 30) . '}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is not an integer)



=== TEST 76: exp negative
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":-1}'))
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"
--- error_log eval
qr/jwt_peer_auth: token rejected: expired \(token expired at -1, now \d+, leeway 0s\)/



=== TEST 77: exp at the bottom of the 64-bit range
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":-9223372036854775808}'))
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token expired"
--- error_log eval
qr/jwt_peer_auth: token rejected: expired \(token expired at -9223372036854775808, now \d+/



=== TEST 78: exp null
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":null}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("exp" is not a number)



=== TEST 79: nbf as a float, exp fine
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . (time + 3600) . ',"nbf":1.5}'))
--- error_log
jwt_peer_auth: token rejected: malformed ("nbf" is not an integer)



=== TEST 80: nbf at the top of the 64-bit range
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . (time + 3600) . ',"nbf":9223372036854775807}'))
--- response_headers
WWW-Authenticate: Bearer realm="peers", error="invalid_token", error_description="The access token is not valid yet"
--- error_log eval
qr/jwt_peer_auth: token rejected: not_yet_valid \("nbf" 9223372036854775807 is in the future/



=== TEST 81: payload is a JSON array, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '[{"exp":' . (time + 3600) . '}]'))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not a JSON object)



=== TEST 82: payload with invalid UTF-8, correctly signed
--- request
GET /hs/index.html
--- more_headers eval
Hostile::auth(Hostile::hs('{"alg":"HS256","kid":"oct"}', '{"exp":' . (time + 3600) . ',"sub":"\xff\xfe"}'))
--- error_log
jwt_peer_auth: token rejected: malformed (payload is not a JSON object)



=== TEST 83: alg in lower case
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"rs256","kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: algorithm (unsupported alg "rs256")



=== TEST 84: alg as an array
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":["RS256"],"kid":"rsa"}')
--- error_log
jwt_peer_auth: token rejected: malformed ("alg" is not a string)



=== TEST 85: kid as a number
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--header', '{"alg":"RS256","kid":1}')
--- error_log
jwt_peer_auth: token rejected: malformed ("kid" is not a string)



=== TEST 86: JWE compact serialization (five parts)
--- more_headers eval
Hostile::auth(Hostile::jwe())
--- error_log
jwt_peer_auth: token rejected: malformed (JWE (five parts) is not supported)



=== TEST 87: control: after all of this, a valid token still passes
--- more_headers eval
JwtPeerAuth::bearer('rsa')
--- error_code: 200
--- response_headers
!WWW-Authenticate
--- response_body
secret
