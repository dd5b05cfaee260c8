# jwt_peer_auth_status: counters of all workers, key sources, JSON and Prometheus formats.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Two workers; counters start at zero in each block (a zone of its own), also under
# TEST_NGINX_USE_HUP=1.
JwtPeerAuth::setup(
    log_level => undef,
    between_hooks => 0,
    user_files => ">>> index.html\nok\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: JSON counters by result, across workers
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /status"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), "X-None: 1", JwtPeerAuth::bearer('rsa', '--exp', '-5'), JwtPeerAuth::bearer('rsa2'), ""]
--- error_code eval
[200, 401, 401, 401, 200]
--- response_headers eval
["", "", "", "", "Content-Type: application/json"]
--- response_body_like eval
["ok", "", "", "",
 qr/^\{"requests":\{"ok":1,"missing":1,"malformed":0,"expired":1,"not_yet_valid":0,"signature":0,"unknown_kid":1,"algorithm":0,"claim":0,"no_keys":0,"invalid_request":0,"binding":0,"revoked":0,"dpop_proof":0,"dpop_replay":0,"dpop_nonce":0,"dpop_binding":0,"dpop_full":0,"forbidden":0\},"unenforced":0,"token_cache":\{"hits":0,"misses":3\},"refusal_cache":\{"hits":0\},"key_sources":\[\]\}$/]



=== TEST 2: Prometheus text format
--- request eval
["GET /p/index.html", "GET /status?format=prometheus"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--exp', '-5'), ""]
--- error_code eval
[401, 200]
--- response_headers eval
["", "Content-Type: text/plain; version=0.0.4"]
--- response_body_like eval
["", qr/# TYPE jwt_peer_auth_requests_total counter\njwt_peer_auth_requests_total\{result="ok"\} 0\n.*jwt_peer_auth_requests_total\{result="expired"\} 1\n.*jwt_peer_auth_token_cache_total\{result="miss"\} 1\n.*# TYPE jwt_peer_auth_refusal_cache_hits_total counter\njwt_peer_auth_refusal_cache_hits_total 0\n/s]



=== TEST 3: fetched key sources: state, generation, age, fetch counts, kids
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /jwks { alias $TEST_NGINX_JWT_KEYS/jwks.json; }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/index.html", "GET /status", "GET /status?format=prometheus"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), "", ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
["ok",
 qr/"key_sources":\[\{"uri":"\/_jwks","live":true,"state":"published","generation":1,"age_seconds":\d+,"consecutive_failures":0,"fetches":\{"ok":1,"failed":0\},"unknown_kid":\{"waited":0,"refused_absent":0,"refused_busy":0\},"absent_kids":0,"last_result":"200","last_result_age_seconds":\d+,"next_attempt_in":0,"kids":\["rsa","ec","ed"\]\}\]/,
 qr/jwt_peer_auth_key_fetches_total\{source="\/_jwks",result="ok"\} 1\n.*jwt_peer_auth_key_generation\{source="\/_jwks"\} 1\n.*jwt_peer_auth_key_info\{source="\/_jwks",kid="ed"\} 1/s]



=== TEST 4: the status directive takes no arguments
--- config
    location = /status { jwt_peer_auth_status json; }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid number of arguments in "jwt_peer_auth_status" directive/
