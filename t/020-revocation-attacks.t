# Attacks on runtime revocation: tokens that try to slip past the check (a kid-less token
# against a revoked key, non-integer values) and edge cases of the API's request bodies
# (chunked, HTTP/2, Expect, oversized), concurrent changes in two workers, exact rollback, a
# revocation made during a resizing reload. Blocks marked BYPASS failed on the first version
# of revocation (cd67234, found by a security review) and pass once the hole is closed; the
# others pin down behaviour that is right today.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Test::Nginx::Socket 'no_plan';

JwtPeerAuth::setup();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
JwtPeerAuth::set_http2_listen();

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $http = $block->http_config // '';
    $http = "    jwt_peer_auth_revocation zone=\@REV\@:1m;\n$http" unless $http =~ /jwt_peer_auth_revocation\b/;
    $http =~ s/\@REV\@/rev_r$n/g;
    $block->set_value('http_config', $http);
    my $config = $block->config // <<'_EOC_';
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check identifier token_id jti header.kid;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
_EOC_
    $block->set_value('config', $config);
    $block->set_value('user_files', [["index.html" => "ok\n"]]) unless defined $block->user_files;
});

# A state directory outside the server root, writable by the workers.
use File::Temp ();
our $STATE_DIR = File::Temp::tempdir('jwt-peer-auth-rev-review-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $STATE_DIR;
$ENV{TEST_NGINX_REV_DIR} = $STATE_DIR;
# TEST 9's state directory, which the test turns into a file (it must exist at start).
mkdir "$STATE_DIR/sub9" or die "mkdir: $!";
chmod 0777, "$STATE_DIR/sub9";

# Sends all requests at once (one connection each), then reads every answer; returns the codes.
sub parallel_requests {
    return JwtPeerAuth::parallel_raw(JwtPeerAuth::server_port(), [@_]);
}

sub post_req {
    my ($body) = @_;
    return "POST /revocations HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body";
}

# name NUL value of every entry in a JSON text (a GET answer, or a state file: a journal of
# add and del records since version 2, folded here), sorted.
sub entry_set {
    my ($text) = @_;
    require JSON::PP;
    my $json = JSON::PP->new;
    my @entries;
    if ($text =~ s/\A\{"jwt_peer_auth_revocation":2\}\n//) {
        my %l;
        for my $r (map { $json->decode($_) } grep { /\S/ } split /\n/, $text) {
            my $k = "$r->{name}=$r->{value}";
            if ($r->{op} eq 'del') { delete $l{$k} }
            elsif (!defined $l{$k} || $l{$k} < $r->{expires}) { $l{$k} = $r->{expires} }
        }
        return join(',', sort map { "$_:$l{$_}" } keys %l);
    }
    my $j = $json->decode($text);
    return join(',', sort map { "$_->{name}=$_->{value}:$_->{expires}" } @{ $j->{entries} });
}

our $JSON = 'Content-Type: application/json';

sub get_p {
    my ($auth) = @_;
    my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$auth]);
    return $code;
}

run_tests();

__DATA__

=== TEST 1: BYPASS: a key revoked by "header.kid" still verifies a token that names no kid
Whoever holds the revoked key (the reason to revoke it) signs without "kid": verify() then
tries every key that fits the alg, the revoked one verifies it, and Verified::kid() is None.
--- request eval
["POST /revocations\n{\"name\":\"header.kid\",\"value\":\"ec\"}",
 "GET /p/index.html", "GET /p/index.html",
 "POST /revocations\n{\"name\":\"header.kid\",\"value\":\"rsa\"}",
 "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::JSON, JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('ec', '--no-kid'),
 $main::JSON, JwtPeerAuth::bearer('rsa'), JwtPeerAuth::bearer('rsa', '--no-kid')]
--- error_code eval
[201, 401, 401, 201, 401, 401]



=== TEST 2: BYPASS: a numeric value that is not written as an integer is accepted (201) but never matches
POST {"value":42.0} stores "42.0", POST {"value":1e2} stores "100.0"; a token's jti 42 / 100 is
looked up as "42" / "100". Either the API refuses such a value (400) or the token is refused.
--- request
GET /revocations
--- between_0
for my $case (['42.0', 42], ['1e2', 100], ['4.2e1', 42]) {
    my ($lit, $jti) = @$case;
    my ($code, $body) = JwtPeerAuth::revocation_post(qq({"name":"jti","value":$lit}));
    my $got = main::get_p(JwtPeerAuth::bearer_claims(jti => $jti));
    Test::More::ok($code == 400 || ($code =~ /^20[01]$/ && $got == 401),
        "POST value $lit: refused, or jti $jti is refused (POST $code, GET $got, $body)");
}
--- error_code: 200



=== TEST 3: a chunked POST body in two chunks is read (HTTP/1.1 without Content-Length)
--- raw_request eval
my @chunks = ('{"name":"identi', 'fier","value":"peer-chunk"}');
"POST /revocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
  . CORE::join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } @chunks) . "0\r\n\r\n"
--- error_code: 201
--- response_body_like: "value":"peer-chunk"



=== TEST 4: a chunked POST body over 4 KiB is 413 once read, not a crash
--- raw_request eval
my $pad = ' ' x 5000;
my $body = "{\"name\":\"identifier\",\"value\":\"x\"$pad}";
sprintf("POST /revocations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", length($body), $body)
--- error_code: 413
--- response_body_like: larger than 4096
--- no_error_log
[alert]



=== TEST 5: a body below 4 KiB but above client_body_buffer_size (in a temporary file) is 413, not a crash
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /revocations { jwt_peer_auth off; client_body_buffer_size 1k; jwt_peer_auth_revocation_api; }
--- request eval
"POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\"" . (' ' x 3900) . "}"
--- more_headers
Content-Type: application/json
--- error_code: 413
--- no_error_log
[alert]



=== TEST 6: HEAD lists nothing but headers; OPTIONS is 405 with Allow; Expect: 100-continue works
--- request eval
["HEAD /revocations", "OPTIONS /revocations"]
--- error_code eval
[200, 405]
--- response_headers eval
["Content-Type: application/json", "Allow: GET, HEAD, POST, DELETE"]
--- between_1
my $port = JwtPeerAuth::server_port();
my $body = '{"name":"identifier","value":"peer-expect"}' . (' ' x 2000);
my $out = qx{curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' -H 'Content-Type: application/json' --data-binary '$body' http://127.0.0.1:$port/revocations};
Test::More::is($out, '201', 'POST with Expect: 100-continue');



=== TEST 7: an HTTP/2 POST (h2c) is read and answered; the token is then refused
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        location = /revocations { jwt_peer_auth_revocation_api; }
    }
--- request
GET /revocations
--- between_0
my $port = $ENV{TEST_NGINX_H2_PORT};
for my $run (['{"name":"identifier","value":"peer-h2"}', '201'],
             ['{"name":"identifier","value":"peer-h2b","ttl":"1h"}' . (' ' x 3000), '201']) {
    my ($body, $want) = @$run;
    my $out = qx{curl -s --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' -H 'Content-Type: application/json' --data-binary '$body' http://127.0.0.1:$port/revocations};
    Test::More::is($out, "2 $want", "h2c POST: $want");
}
my $code = main::get_p(JwtPeerAuth::bearer_claims(identifier => 'peer-h2'));
Test::More::is($code, 401, 'the h2-revoked peer is refused');
--- error_code: 200
--- no_error_log
[alert]



=== TEST 8: concurrent POSTs and DELETEs in two workers: the state file and the zone agree, entry for entry
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/concurrent.json;
--- request
GET /revocations
--- between_0
my @reqs = map { main::post_req(qq({"name":"identifier","value":"c-$_"})) } 1 .. 40;
my @codes = main::parallel_requests(@reqs);
Test::More::is(CORE::join(',', grep { $_ ne '201' } @codes), '', '40 concurrent adds: 201 each');
@reqs = ((map { "DELETE /revocations?name=identifier&value=c-$_ HTTP/1.0\r\nHost: localhost\r\n\r\n" } 1 .. 20),
         (map { main::post_req(qq({"name":"identifier","value":"c-$_","ttl":"2h"})) } 21 .. 40),
         (map { main::post_req(qq({"name":"token_id","value":"d-$_"})) } 1 .. 20));
@codes = main::parallel_requests(@reqs);
Test::More::is(CORE::join(',', grep { !/^20[01]$/ } @codes), '', '60 concurrent changes: 200/201 each');
my (undef, $list) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/revocations');
my $file = JwtPeerAuth::slurp("$main::STATE_DIR/concurrent.json");
Test::More::is(main::entry_set($file), main::entry_set($list), 'the state file is the zone');
my $n = () = $list =~ /"name":/g;
Test::More::is($n, 40, '20 + 20 entries');
my %pids = map { $_ => 1 } (JwtPeerAuth::slurp(Test::Nginx::Socket::server_root() . "/logs/error.log") =~ /(\d+)#\d+: \*\d+ jwt_peer_auth: revocation: added/g);
Test::More::diag('workers that served changes: ' . scalar(keys %pids));
--- error_code: 200



=== TEST 9: a state file that cannot be written: an extension and a removal are taken back exactly
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/sub9/state.json;
--- request eval
["POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"1h\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"5h\"}",
 "DELETE /revocations?name=identifier&value=peer-a",
 "GET /revocations"]
--- more_headers eval
[$main::JSON, $main::JSON, "", ""]
--- between_0
our $before = do { my (undef, $l) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/revocations'); main::entry_set($l) };
rename "$main::STATE_DIR/sub9", "$main::STATE_DIR/sub9-gone" or die "rename: $!";
JwtPeerAuth::write_file("$main::STATE_DIR/sub9", "not a directory\n");
--- between_3
Test::More::is(main::entry_set($body), $main::before, 'the same entry, with its old expiry');
--- error_code eval
[201, 500, 500, 200]



=== TEST 10: LOST: a revocation answered 201 by an old worker during a reload that changes the zone size is not lost
The master reads the state file when it parses the new configuration; a POST still in flight in
an old worker lands in the old zone and the file, not in the new zone; the next change by a new
worker then rewrites the file without it. (USR2 binary upgrades lose changes the same way.)
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/resize.json;
--- request
GET /revocations
--- between_0
require IO::Socket::INET;
my $body = '{"name":"identifier","value":"in-flight"}';
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => JwtPeerAuth::server_port(), Proto => 'tcp', Timeout => 10)
    or die "connect: $!";
print $s "POST /revocations HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
    . length($body) . "\r\n\r\n";
select(undef, undef, undef, 0.3);
# The operator grows the zone and reloads while the POST's body is on its way.
my $conf = JwtPeerAuth::slurp($Test::Nginx::Socket::ConfFile);
$conf =~ s/(zone=rev_r\d+):1m/$1:2m/ or die "zone not found in the configuration";
open(my $fh, '>', $Test::Nginx::Socket::ConfFile) or die $!;
print $fh $conf;
close $fh;
my $before = JwtPeerAuth::log_count(qr/start worker process/);
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
for (1 .. 250) {
    last if JwtPeerAuth::log_count(qr/start worker process/) >= $before + 2;
    select(undef, undef, undef, 0.02);
}
select(undef, undef, undef, 0.3);
print $s $body;
my $resp = '';
while (sysread($s, my $buf, 65536)) { $resp .= $buf }
my ($code) = $resp =~ m{^HTTP/1\.\d (\d+)};
Test::More::is($code, 201, 'the in-flight POST is answered 201');
my ($c2) = JwtPeerAuth::revocation_post('{"name":"identifier","value":"after-reload"}');
Test::More::is($c2, 201, 'a change by a new worker');
my (undef, $list) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/revocations');
Test::More::like($list, qr/"in-flight"/, 'the revocation answered 201 is on the list');
Test::More::like(JwtPeerAuth::slurp("$main::STATE_DIR/resize.json"), qr/"in-flight"/, 'and in the state file');
--- error_code: 200
