# Debug lines at each decision of the request path (src/log.rs): where the token came from,
# token-cache hit or miss, refusal-cache hit, the key sources looked at, a key request started
# and how it ended, the policy's result and the final decision. They exist only in an NGINX
# built --with-debug (Debian's is; scripts/build.sh with NGX_CONFIGURE_ARGS adding
# --with-debug), shown with "error_log ... debug": this file skips without it.
#
# One worker: the caches are per worker.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;

BEGIN {
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $v = `$nginx -V 2>&1`;
    if ($v !~ /--with-debug\b/) {
        print "1..0 # SKIP $nginx was built without --with-debug: no debug lines to check\n";
        exit 0;
    }
}

use Test::Nginx::Socket 'no_plan';

JwtPeerAuth::setup(
    workers => 1,
    log_level => 'debug',
    user_files => ">>> index.html\nok\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
_EOC_
);

# One token per file (OpenResty's runner evaluates each eval item apart: two mints would be
# two tokens with two digests, never a cache hit).
our $GOOD = JwtPeerAuth::bearer('rsa');
our $BAD = JwtPeerAuth::bearer('rsa', '--corrupt');
our $RAW = JwtPeerAuth::token('rsa');

run_tests();

__DATA__

=== TEST 1: a token from the Authorization header: verified (token-cache miss), then a token-cache hit; both allowed
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::GOOD, $main::GOOD]
--- error_code eval
[200, 200]
--- error_log eval
[
  'jwt_peer_auth: token from the "Authorization" header',
  'jwt_peer_auth: key sources: 1 files, 0 key requests',
  'jwt_peer_auth: decision: allowed',
]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token cache miss: verifying with 1 key sets/), 1, 'one miss');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: signature and policy passed/), 2, 'policy passed twice');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token cache hit/), 1, 'then one hit');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: decision: allowed/), 2, 'both allowed');
--- no_error_log
jwt_peer_auth: decision: refused



=== TEST 2: a bad signature refused, then answered from the refusal cache
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::BAD, $main::BAD]
--- error_code eval
[401, 401]
--- error_log eval
[
  'jwt_peer_auth: decision: refused (signature)',
]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token cache miss: verifying with 1 key sets/), 1, 'one verification');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: refusal cache hit: signature/), 1, 'then the refusal cache');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: decision: refused \(signature\)/), 2, 'both refused');
--- no_error_log
jwt_peer_auth: decision: allowed



=== TEST 3: a token from the token= variable; none there is refused as missing
--- config
    jwt_peer_auth "peers" token=$cookie_t;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["Cookie: t=$main::RAW", ""]
--- error_code eval
[200, 401]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token from the "token=" variable/), 1, 'token from the variable');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: decision: allowed/), 1, 'allowed');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: no token from the "token=" variable/), 1, 'none in the variable');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: decision: refused \(missing\)/), 1, 'refused as missing');



=== TEST 4: a claim rule refuses a verified token: the policy's result, then the decision
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss "https://nobody.invalid";
    location /p { alias html/; }
--- request eval
["GET /p/index.html"]
--- more_headers eval
[$main::GOOD]
--- error_code eval
[401]
--- error_log eval
[
  'jwt_peer_auth: policy refused: claim',
  'jwt_peer_auth: decision: refused (claim)',
]
--- no_error_log
jwt_peer_auth: signature and policy passed



=== TEST 5: keys from a key request: the fetch started, how it ended, the keys the source gave
--- http_config eval
JwtPeerAuth::key_service(<<'_EOC_');
        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }
_EOC_
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]]
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- request eval
["GET /p/index.html"]
--- more_headers eval
[$main::GOOD]
--- error_code eval
[200]
--- error_log eval
[
  'jwt_peer_auth: key sources: 0 files, 1 key requests',
  'jwt_peer_auth: key source "/_jwks": waiting for keys',
  'jwt_peer_auth: key request "/_jwks" started (waited: true)',
  qr/jwt_peer_auth: key request "\/_jwks" ended: status 200,/,
  qr/jwt_peer_auth: key source "\/_jwks": 1 keys, generation \d+/,
  'jwt_peer_auth: decision: allowed',
]
