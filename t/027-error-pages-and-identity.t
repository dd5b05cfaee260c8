# Error pages of a refusal under `recursive_error_pages on`, and no identity in a location that
# another module admitted under `satisfy any` (found by a review of the gateway paths).
#
#   TEST 1, 2: under `recursive_error_pages on` NGINX does not set r->error_page
#           (ngx_http_special_response.c: only `if (clcf->recursive_error_pages == 0)`), so the
#           error page of a refusal, in a protected location, is refused again on every round
#           until the redirection cycle ends in a 500. That is what auth_basic does in the same
#           shape (t/028 TEST 5 has both side by side); until issue 21 these tests asserted that
#           the protected page was served (a protected location opened by an error page).
#   TEST 3, 4: a location admitted by another module under `satisfy any` (the access handler
#           runs last, so it is not asked) must show no identity, also when the request was
#           allowed by another location before an internal redirect: neither an identity
#           verified with keys this location does not trust (TEST 3), nor one that this
#           location's own claim rules were never applied to (TEST 4).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Two workers, a cold zone per block.
JwtPeerAuth::setup(
    between_hooks => 0,
    user_files => [["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')],
                   ["partner.jwks" => JwtPeerAuth::jwks('rsa')],
                   ["corp.jwks" => JwtPeerAuth::jwks('ec')],
                   ["index.html" => "secret\n"],
                   ["401.html" => "please log in\n"]],
);

run_tests();

__DATA__

=== TEST 1: recursive_error_pages on: a refusal's error page in a protected location is refused again until the redirect cycle's 500 (as auth_basic)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks.json;
    recursive_error_pages on;
    error_page 401 /errors/401.html;
    location /errors/ { alias html/; }
    location /app/ { alias html/; }
--- request
GET /app/index.html
--- error_code: 500
--- response_body eval
qr/500 Internal Server Error/
--- error_log
rewrite or internal redirection cycle



=== TEST 2: recursive_error_pages on, preaccess: the same
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks.json;
    jwt_peer_auth_phase preaccess;
    recursive_error_pages on;
    error_page 401 /errors/401.html;
    location /errors/ { alias html/; }
    location /app/ { alias html/; }
--- request
GET /app/index.html
--- error_code: 500
--- response_body eval
qr/500 Internal Server Error/
--- error_log
rewrite or internal redirection cycle



=== TEST 3: satisfy any after a redirect: no identity verified with keys the target does not trust
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks.json;
    location /partner/ { jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/partner.jwks; try_files /nonexist @corp; }
    location @corp {
        jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/corp.jwks;
        satisfy any; allow 127.0.0.1; deny all;
        root html; try_files /index.html =404;
        add_header X-Peer "[$jwt_claim_identifier]" always;
    }
--- request
GET /partner/x
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"partner-1"}')
--- error_code: 200
--- response_headers
X-Peer: []



=== TEST 4: satisfy any after a redirect: no identity that the target's claim rules were not applied to
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/jwks.json;
    location /any/ { try_files /nonexist @admin; }
    location @admin {
        jwt_peer_auth_claim role admin;
        satisfy any; allow 127.0.0.1; deny all;
        root html; try_files /index.html =404;
        add_header X-Peer "[$jwt_claim_identifier] [$jwt_payload]" always;
    }
--- request
GET /any/x
--- more_headers eval
JwtPeerAuth::bearer('rsa', '--claims', '{"identifier":"user-1","role":"user"}')
--- error_code: 200
--- response_headers
X-Peer: [] []
