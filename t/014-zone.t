# The shared zone across reloads and workers: key-source slots are reclaimed when the running
# configuration no longer claims them, and a key removed from the fetched set is refused by
# every worker at once.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

# Two workers; a cold zone per block, also when Test::Nginx reloads one NGINX between blocks
# (HUP mode).
JwtPeerAuth::setup(
    http_config => JwtPeerAuth::key_service('        location = /jwks { alias $TEST_NGINX_HTML_DIR/jwks.json; }'),
    request => 'GET /p/index.html',
);

# Rewrites the included key-source file to use URI /_jwks_$n, reloads, and waits until the
# two workers of the previous configuration have exited (bounded), so that the next request
# is served by the new configuration.
sub rename_source {
    my ($html, $pidfile, $n) = @_;
    JwtPeerAuth::write_file("$html/source.conf", source_conf($n));
    my $before = JwtPeerAuth::log_count(qr/worker process \d+ exited/);
    my $pid = JwtPeerAuth::slurp($pidfile);
    chomp $pid;
    kill('HUP', $pid) or die "HUP $pid: $!";
    for (1 .. 250) {
        return if JwtPeerAuth::log_count(qr/worker process \d+ exited/) >= $before + 2;
        select(undef, undef, undef, 0.02);
    }
    die "reload $n not seen";
}

# A key source served from a file (an exact-match internal location is all it takes).
sub source_conf {
    my ($n) = @_;
    return "jwt_peer_auth_key_request /_jwks_$n;\n"
        . "location = /_jwks_$n { internal; default_type application/json; alias html/jwks.json; }\n";
}

run_tests();

__DATA__

=== TEST 1: 100 reloads that each rename the key-request URI leave no "no room" error; keys still load
--- config
    jwt_peer_auth "peers";
    include $TEST_NGINX_HTML_DIR/source.conf;
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"],
 ["source.conf" => main::source_conf(0)]]
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa')]
--- between_0
my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
for my $n (1 .. 100) {
    rename_source($html, $pidfile, $n);
    # A request with the new configuration claims the new key source.
    my @codes = JwtPeerAuth::parallel_get($port, '/p/index.html', 1, JwtPeerAuth::bearer('rsa'));
    die "reload $n: status @codes" unless "@codes" eq '200';
}
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/no room|\[emerg\]|\[alert\]/), 0, 'no zone error over 100 reloads');
Test::More::ok(JwtPeerAuth::log_count(qr/key request "\/_jwks_100": 1 keys/) >= 1, 'the last source fetched its keys');
--- error_code eval
[200, 200]



=== TEST 2: a key removed from the fetched set is refused by every worker at once
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_key_request /_jwks;
    jwt_peer_auth_key_cache 1h min_refresh=1s;
    location = /_jwks { internal; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/jwks; }
    location /p { alias html/; }
--- user_files eval
[["jwks.json" => JwtPeerAuth::jwks('rsa', 'ec')], ["index.html" => "ok\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('ed'), JwtPeerAuth::bearer('ec')]
--- between_0
# Start just after a second boundary: the rest of the block runs within that second (a worker
# that cached the source's state for a second would keep using the old keys).
require Time::HiRes;
Time::HiRes::sleep(1 - (Time::HiRes::time() - int(Time::HiRes::time()))) ;
# Both workers verify (and cache) the 'ec' token.
my @codes = JwtPeerAuth::parallel_get($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984,
    '/p/index.html', 32, JwtPeerAuth::bearer('ec'));
Test::More::is(join(',', grep { $_ ne '200' } @codes), '', 'ec accepted by every worker');
# The key service drops 'ec'; an unknown kid makes one worker refetch.
JwtPeerAuth::write_file("$html/jwks.json", JwtPeerAuth::jwks('rsa', 'ed'));
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/key request "\/_jwks": 2 keys \(kids: rsa ed\)/), 1, 'the new set is published');
my @codes = JwtPeerAuth::parallel_get($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984,
    '/p/index.html', 32, JwtPeerAuth::bearer('ec'));
Test::More::is(join(',', grep { $_ ne '401' } @codes), '', 'ec refused by every worker at once');
--- error_code eval
[200, 200, 401]
