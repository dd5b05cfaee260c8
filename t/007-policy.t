# Verification policy and identity: token from a variable, claim rules, require, max_age,
# inheritance, and the variables.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

log_level('info');
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('user_files', ">>> index.html\nok\n") unless defined $block->user_files;
    $block->set_value('request', 'GET /p/index.html') unless defined $block->request;
});

# A block's --- access_log_check lines must each match a line of logs/access.log.
add_response_body_check(sub {
    my ($block, $body, $req_idx, $rep, $dry_run) = @_;
    my $want = $block->access_log_check or return;
    my @want = split /\n/, $want;
    return if $dry_run || $req_idx != $#{ ref $block->request ? $block->request : [1] };
    my $log = JwtPeerAuth::slurp(server_root() . '/logs/access.log');
    for my $w (@want) {
        Test::More::like($log, qr/^\Q$w\E$/m, $block->name . " - access log has \"$w\"");
    }
});

run_tests();

__DATA__

=== TEST 1: token from a cookie (token=$cookie_jwt); the Authorization header is not used then
--- config
    jwt_peer_auth "peers" token=$cookie_jwt;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["Cookie: a=b; jwt=" . JwtPeerAuth::token('rsa'), JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 401]



=== TEST 2: token from a query argument
--- config
    jwt_peer_auth "peers" token=$arg_access_token;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
--- request eval
["GET /p/index.html?access_token=" . JwtPeerAuth::token('ec'), "GET /p/index.html?access_token="]
--- error_code eval
[200, 401]



=== TEST 3: jwt_peer_auth_claim: the claim must equal one of the values
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss https://jwth.example other;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"https://jwth.example"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"https://evil.example"}'),
 JwtPeerAuth::bearer('rsa')]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"']




=== TEST 4: aud as an array: any element may match; as a string: must match
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim aud netunnel;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"aud":["other","netunnel"]}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"netunnel"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"aud":["other"]}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"other,netunnel"}')]
--- error_code eval
[200, 200, 401, 401]



=== TEST 5: claim values with variables are evaluated per request (audience = $server_name)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim aud $server_name;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"localhost"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"aud":"peer.example"}')]
--- error_code eval
[200, 401]



=== TEST 6: several claim rules must all hold (iss, sub, a custom claim, a number)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss jwth;
    jwt_peer_auth_claim sub peer-1 peer-2;
    jwt_peer_auth_claim identifier 11111111-2222-3333-4444-555555555555;
    jwt_peer_auth_claim level 3;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth","sub":"peer-2","level":3}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth","sub":"peer-3","level":3}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth","sub":"peer-1","level":4}')]
--- error_code eval
[200, 401, 401]



=== TEST 7: a location's claim rules replace the inherited ones; others inherit
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss server-issuer;
    location /p { alias html/; }
    location /q { jwt_peer_auth_claim iss location-issuer; alias html/; }
--- request eval
["GET /p/index.html", "GET /q/index.html", "GET /q/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"server-issuer"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"server-issuer"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"location-issuer"}')]
--- error_code eval
[200, 401, 200]



=== TEST 8: refusing a revoked peer with map + jwt_peer_auth_require ... error=403
--- http_config
    map $jwt_claim_identifier $peer_ok {
        revoked-peer 0;
        default 1;
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $peer_ok error=403;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"good-peer"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"revoked-peer"}')]
--- error_code eval
[200, 403]
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate"]



=== TEST 9: jwt_peer_auth_require defaults to 401; every value must be non-empty and not "0"
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $jwt_claim_role $jwt_claim_active;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"role":"tunnel","active":1}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"role":"tunnel","active":0}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"active":1}')]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="peers", error="invalid_token"']



=== TEST 10: jwt_peer_auth_max_age: iat required and recent enough
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_max_age 1m;
    location /p { alias html/; }
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iat":' . (time() - 120) . '}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iat":null}')]
--- error_code eval
[200, 401, 401]



=== TEST 11: every variable in a response header
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p {
        alias html/;
        add_header X-Id $jwt_claim_identifier;
        add_header X-Aud $jwt_claim_aud;
        add_header X-Level $jwt_claim_level;
        add_header X-Admin $jwt_claim_admin;
        add_header X-Obj $jwt_claim_obj;
        add_header X-Mixed $jwt_claim_mixed;
        add_header X-Missing "[$jwt_claim_nope]";
        add_header X-Kid $jwt_header_kid;
        add_header X-Alg $jwt_header_alg;
        add_header X-Typ $jwt_header_typ;
        add_header X-Payload $jwt_payload;
        add_header X-Status $jwt_peer_auth_status;
    }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims',
    '{"identifier":"peer-42","aud":["a","b"],"level":3,"admin":true,"obj":{"k":[1,2]},"mixed":[1,"x"]}')
--- error_code: 200
--- response_headers
X-Id: peer-42
X-Aud: ["a","b"]
X-Level: 3
X-Admin: true
X-Obj: {"k":[1,2]}
X-Mixed: [1,"x"]
X-Missing: []
X-Kid: rsa
X-Alg: RS256
X-Typ: JWT
X-Status: ok
--- response_headers_like
X-Payload: ^\{.*"identifier":"peer-42".*\}$



=== TEST 12: identity forwarding: the upstream sees the peer's identifier
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "peer=$http_x_peer_id auth=$http_authorization\n"; }
    }
--- config
    location /p {
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        proxy_set_header X-Peer-Id $jwt_claim_identifier;
        proxy_set_header Authorization "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"peer-7"}')
--- error_code: 200
--- response_body
peer=peer-7 auth=



=== TEST 13: $jwt_peer_auth_status names each refusal (response header and access log)
--- http_config
    log_format auth '$request_uri $status $jwt_peer_auth_status';
--- config
    access_log logs/access.log auth;
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss jwth;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
--- request eval
["GET /p/index.html?ok", "GET /p/index.html?missing", "GET /p/index.html?malformed", "GET /p/index.html?expired",
 "GET /p/index.html?not_yet_valid", "GET /p/index.html?signature", "GET /p/index.html?unknown_kid",
 "GET /p/index.html?algorithm", "GET /p/index.html?claim"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth"}'), "X-None: 1", "Authorization: Bearer x.y",
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth"}', '--exp', '-5'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth"}', '--nbf', '300'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"jwth"}', '--corrupt'),
 JwtPeerAuth::bearer('rsa2', '--claims', '{"iss":"jwth"}'),
 JwtPeerAuth::bearer('rsa', '--header', '{"alg":"none"}', '--unsigned'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"other"}')]
--- error_code eval
[200, 401, 401, 401, 401, 401, 401, 401, 401]
--- response_headers eval
["X-Status: ok", "X-Status: missing", "X-Status: malformed", "X-Status: expired", "X-Status: not_yet_valid",
 "X-Status: signature", "X-Status: unknown_kid", "X-Status: algorithm", "X-Status: claim"]
--- access_log_check
/p/index.html?ok 200 ok
/p/index.html?missing 401 missing
/p/index.html?malformed 401 malformed
/p/index.html?expired 401 expired
/p/index.html?not_yet_valid 401 not_yet_valid
/p/index.html?signature 401 signature
/p/index.html?unknown_kid 401 unknown_kid
/p/index.html?algorithm 401 algorithm
/p/index.html?claim 401 claim



=== TEST 14: log lines of policy refusals (one request each)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_claim iss jwth;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"iss":"https://evil.example"}')
--- error_code: 401
--- error_log
token rejected: claim (claim does not have an allowed value: "iss")



=== TEST 15: log line of max_age
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_max_age 1m;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"iat":' . (time() - 120) . '}')
--- error_code: 401
--- error_log
token rejected: claim (token older than max_age)



=== TEST 16: log line of require error=403
--- http_config
    map $jwt_claim_identifier $peer_ok { revoked-peer 0; default 1; }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $peer_ok error=403;
    location /p { alias html/; }
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"revoked-peer"}')
--- error_code: 403
--- error_log
jwt_peer_auth: request forbidden by "jwt_peer_auth_require"



=== TEST 17: log line of an empty token variable
--- config
    jwt_peer_auth "peers" token=$arg_access_token;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
--- error_code: 401
--- error_log
token rejected: missing (the token variable is empty)



=== TEST 18: require, max_age and token= inherit from the server, and a location replaces them
--- http_config
    map $jwt_claim_role $is_admin { admin 1; default 0; }
--- config
    jwt_peer_auth "peers" token=$http_x_token;
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_require $is_admin error=403;
    jwt_peer_auth_max_age 1h;
    location /inherits { alias html/; }
    location /replaces {
        jwt_peer_auth "peers";
        jwt_peer_auth_require $jwt_claim_role;
        jwt_peer_auth_max_age 1m;
        alias html/;
    }
--- request eval
["GET /inherits/index.html", "GET /inherits/index.html", "GET /inherits/index.html",
 "GET /replaces/index.html", "GET /replaces/index.html", "GET /replaces/index.html"]
--- more_headers eval
["X-Token: " . JwtPeerAuth::token('rsa', '--claims', '{"role":"admin"}'),
 "X-Token: " . JwtPeerAuth::token('rsa', '--claims', '{"role":"peer"}'),
 "X-Token: " . JwtPeerAuth::token('rsa', '--claims', '{"role":"admin","iat":' . (time() - 7200) . '}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"role":"peer"}'),
 "X-Token: " . JwtPeerAuth::token('rsa', '--claims', '{"role":"peer"}'),
 JwtPeerAuth::bearer('rsa', '--claims', '{"role":"peer","iat":' . (time() - 120) . '}')]
--- error_code eval
[200, 403, 401, 200, 401, 401]
