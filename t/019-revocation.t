# Runtime revocation: jwt_peer_auth_revocation zone=name:size [state=path] [ttl=time],
# jwt_peer_auth_revocation_check name ... | off, and the jwt_peer_auth_revocation_api location
# (GET lists, POST adds or extends, DELETE removes). Two workers: a change is seen by every
# worker at the next request, token-cache hits included; the list survives a reload (the zone)
# and a restart (the state file); entries expire by themselves; a full zone refuses with 507
# and evicts nothing; bad API input is a 4xx JSON error that changes nothing.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Test::Nginx::Socket 'no_plan';

# Two workers; a cold key zone per block too (the status counters of TEST 2 start at zero).
JwtPeerAuth::setup();

# State files live outside the server root (which a restart between blocks may wipe); the
# workers (possibly "nobody") must be able to write there. TEST 11 turns sub/ into a file.
our $STATE_DIR = File::Temp::tempdir('jwt-peer-auth-rev-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $STATE_DIR;
mkdir "$STATE_DIR/sub" or die "mkdir: $!";
chmod 0777, "$STATE_DIR/sub";
$ENV{TEST_NGINX_REV_DIR} = $STATE_DIR;

# A revocation zone per block (@REV@), so that a list never leaks into the next block when the
# runner reloads one NGINX between blocks (HUP mode); the default http_config and locations.
add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $http = $block->http_config // '';
    $http = "    jwt_peer_auth_revocation zone=\@REV\@:1m;\n$http" unless $http =~ /jwt_peer_auth_revocation\b/;
    $http =~ s/\@REV\@/rev_b$n/g;
    $block->set_value('http_config', $http);
    my $config = $block->config // <<'_EOC_';
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check identifier token_id;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
    $block->set_value('config', $config);
    $block->set_value('user_files', [["index.html" => "ok\n"]]) unless defined $block->user_files;
});

our $JSON = 'Content-Type: application/json';

our $A = JwtPeerAuth::bearer_claims(identifier => 'peer-a', token_id => 'tid-a');
our $B = JwtPeerAuth::bearer_claims(identifier => 'peer-b', token_id => 'tid-b');

run_tests();

__DATA__

=== TEST 1: POST revokes a peer at once (401 invalid_token, status "revoked", one info line); GET lists it; DELETE lets it back
--- request eval
["GET /p/index.html",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"2h\"}",
 "GET /p/index.html", "GET /p/index.html", "GET /revocations",
 "DELETE /revocations?name=identifier&value=peer-a", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::A, $main::JSON, $main::A, $main::B, "", "", $main::A, ""]
--- error_code eval
[200, 201, 401, 200, 200, 200, 200, 200]
--- response_headers eval
["X-Status: ok", "Content-Type: application/json",
 "WWW-Authenticate: Bearer realm=\"peers\", error=\"invalid_token\"\nX-Status: revoked",
 "X-Status: ok", "Content-Type: application/json", "Content-Type: application/json",
 "X-Status: ok", ""]
--- response_body_like eval
["ok", qr/^\{"name":"identifier","value":"peer-a","expires":\d+,"expires_in":72(00|99)\}$/,
 "401 Authorization Required", "ok",
 qr/^\{"entries":\[\{"name":"identifier","value":"peer-a","expires":\d+,"expires_in":\d+\}\]\}$/,
 qr/^\{"name":"identifier","value":"peer-a"/, "ok", qr/^\{"entries":\[\]\}$/]
--- between_7
Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: revoked \(listed on the revocation list: "identifier"\)/), 1, 'one info line for the refusal');
Test::More::is(JwtPeerAuth::log_count(qr/\[notice\].*revocation: added identifier "peer-a" until \d+/), 1, 'the addition is logged');
Test::More::is(JwtPeerAuth::log_count(qr/\[notice\].*revocation: removed identifier "peer-a"/), 1, 'the removal is logged');
Test::More::is(JwtPeerAuth::log_count(qr/\[(error|alert|crit|emerg)\]/), 0, 'no error');



=== TEST 2: every worker refuses at the next request, token-cache hits included; counted in JSON and Prometheus
--- request eval
["GET /p/index.html", "GET /status", "GET /status?format=prometheus", "GET /status?format=html"]
--- more_headers eval
[$main::A, "", "", ""]
--- between_0
# Both workers verify and cache peer-a's token.
my @codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 32, $main::A);
Test::More::is(join(',', grep { $_ ne '200' } @codes), '', 'peer-a accepted (and cached) by every worker');
my ($code) = JwtPeerAuth::revocation_post('{"name":"identifier","value":"peer-a"}');
Test::More::is($code, 201, 'revoked');
@codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 32, $main::A);
Test::More::is(join(',', grep { $_ ne '401' } @codes), '', 'refused by every worker at once');
Test::More::ok(JwtPeerAuth::log_count(qr/token rejected: revoked/) == 32, '32 refusals logged');
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
["ok", qr/"revoked":32\b.*"token_cache":\{"hits":(\d+).*"revocation":\{"zone":"rev_b2","entries":1\}\}$/s,
 qr/^jwt_peer_auth_requests_total\{result="revoked"\} 32\n.*^jwt_peer_auth_revocation_entries\{zone="rev_b2"\} 1$/ms,
 qr{<section id="revocation">.*zone rev_b2.*1 entry\..*<td><code>identifier</code></td><td><code>peer-a</code></td>}s]



=== TEST 3: which names are checked: token_id, header.kid, a numeric jti, an array element; "off" at a level
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check identifier token_id;
    location /p { alias html/; }
    location /off/ { alias html/; jwt_peer_auth_revocation_check off; }
    location /kid/ { alias html/; jwt_peer_auth_revocation_check header.kid jti aud; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
--- request eval
["POST /revocations\n{\"name\":\"token_id\",\"value\":\"tid-a\"}",
 "GET /p/index.html", "GET /off/index.html", "GET /p/index.html",
 "POST /revocations\n{\"name\":\"header.kid\",\"value\":\"ec\"}",
 "POST /revocations\n{\"name\":\"jti\",\"value\":42}",
 "POST /revocations\n{\"name\":\"aud\",\"value\":\"gone\"}",
 "GET /kid/index.html", "GET /kid/index.html", "GET /kid/index.html", "GET /kid/index.html",
 "GET /kid/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::JSON, $main::A, $main::A, $main::B, $main::JSON, $main::JSON, $main::JSON,
 JwtPeerAuth::bearer('ec'), JwtPeerAuth::bearer('rsa'),
 JwtPeerAuth::bearer_claims(jti => 42), JwtPeerAuth::bearer_claims(aud => ['x', 'gone']), JwtPeerAuth::bearer_claims(jti => 43, aud => ['x']),
 JwtPeerAuth::bearer('ec')]
--- error_code eval
[201, 401, 200, 200, 201, 201, 201, 401, 200, 401, 401, 200, 200]
--- between_12
for my $name ('token_id', 'header.kid', 'jti', 'aud') {
    Test::More::is(JwtPeerAuth::log_count(qr/revoked \(listed on the revocation list: "\Q$name\E"\)/), 1, "refused for $name");
}



=== TEST 4: POST extends a listed entry (200) and never shortens it
--- request eval
["POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"1h\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":7200}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"10m\"}",
 "GET /revocations"]
--- more_headers eval
[$main::JSON, $main::JSON, $main::JSON, ""]
--- error_code eval
[201, 200, 200, 200]
--- response_body_like eval
[qr/"expires_in":(3600|3599)\}/, qr/"expires_in":(7200|7199)\}/, qr/"expires_in":(7200|7199|7198)\}/,
 qr/^\{"entries":\[\{"name":"identifier","value":"peer-a","expires":\d+,"expires_in":(7200|7199|7198)\}\]\}$/]
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/revocation: extended identifier "peer-a" until \d+/), 2, 'extensions are logged');



=== TEST 5: bad API input: a 4xx with a JSON error saying what is wrong, and nothing written
--- request eval
["POST /revocations\n{\"name\":",
 "POST /revocations\n{\"name\":\"identifier\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\",\"until\":\"never\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\",\"ttl\":\"forever\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\",\"ttl\":\"400d\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"" . ("v" x 300) . "\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"a\\u0000b\"}",
 "POST /revocations\n{\"name\":\"header.alg\",\"value\":\"none\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\",\"value\":\"y\"}",
 "POST /revocations\n[\"identifier\",\"x\"]",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"x\"}",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"" . ("v" x 5000) . "\"}",
 "PUT /revocations\n{}",
 "DELETE /revocations?name=identifier",
 "DELETE /revocations?name=identifier&value=nobody",
 "DELETE /revocations?name=identifier&value=%zz",
 "POST /revocations\n{\"name\":\"identifer\",\"value\":\"x\"}",
 "POST /revocations\n" . ("[" x 2000) . ("]" x 2000),
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"\xff\xfe\"}",
 "GET /revocations"]
--- more_headers eval
[($main::JSON) x 10, "Content-Type: application/x-www-form-urlencoded", $main::JSON, "", "", "", "", ($main::JSON) x 3, ""]
--- error_code eval
[400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 415, 413, 405, 400, 404, 400, 400, 400, 400, 200]
--- response_body_like eval
[qr/^\{"error":"the body is not valid JSON/,
 qr/^\{"error":"\\"value\\" is missing"\}$/,
 qr/^\{"error":"unknown member \\"until\\"/,
 qr/^\{"error":"invalid \\"ttl\\" \\"forever\\"/,
 qr/^\{"error":"\\"ttl\\" must be more than 0s and at most 366d"\}$/,
 qr/^\{"error":"\\"value\\" must be 1 to 256 bytes"\}$/,
 qr/^\{"error":"\\"value\\" has a control character"\}$/,
 qr/^\{"error":"\\"name\\" \\"header.alg\\" is not supported/,
 qr/repeats a member/,
 qr/must be a JSON object/,
 qr/^\{"error":"\\"Content-Type: application\/json\\" is expected"\}$/,
 qr/^\{"error":"the body is larger than 4096 bytes"\}$/,
 qr/^\{"error":"the method is not allowed/,
 qr/^\{"error":"argument \\"value\\" is missing"\}$/,
 qr/^\{"error":"no such entry"\}$/,
 qr/%-escape/,
 qr/^\{"error":"no location checks \\"identifer\\" \(\\"jwt_peer_auth_revocation_check\\" names: identifier, token_id\)"\}$/,
 qr/^\{"error":"the body is not valid JSON/,
 qr/^\{"error":"the body is not valid JSON/,
 qr/^\{"entries":\[\]\}$/]
--- response_headers eval
[("Content-Type: application/json") x 12, "Allow: GET, HEAD, POST, DELETE", ("Content-Type: application/json") x 7]
--- no_error_log
[alert]
[crit]
revocation: added



=== TEST 6: an entry expires by itself: the token passes again and the list is empty
--- request eval
["POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\",\"ttl\":\"2s\"}",
 "GET /p/index.html", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::JSON, $main::A, $main::A, ""]
--- between_1
# Past the entry's expiry (2 s after the POST, in the server's whole seconds).
require Time::HiRes;
Time::HiRes::sleep(3.2);
--- error_code eval
[201, 401, 200, 200]
--- response_body_like eval
[qr/"expires_in":2\}/, "401", "ok", qr/^\{"entries":\[\]\}$/]



=== TEST 7: a full zone answers 507 and logs it; nothing is evicted
--- http_config
    jwt_peer_auth_revocation zone=@REV@:32k;
--- request eval
["GET /p/index.html", "GET /p/index.html",
 "POST /revocations\n{\"name\":\"identifier\",\"value\":\"filler-x-" . ('x' x 40) . "\"}", "GET /p/index.html"]
--- more_headers eval
[$main::A, $main::A, $main::JSON, $main::B]
--- between_0
my ($created, $full) = (0, 0);
my ($code) = JwtPeerAuth::revocation_post('{"name":"identifier","value":"peer-a"}');
die "first POST: $code" unless $code == 201;
$created++;
for my $i (1 .. 3000) {
    ($code) = JwtPeerAuth::revocation_post(qq({"name":"identifier","value":"filler-$i-) . ('x' x 40) . '"}');
    if ($code == 507) { $full = 1; last }
    die "POST $i: $code" unless $code == 201;
    $created++;
}
Test::More::ok($full, "507 after $created entries");
my (undef, $list) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/revocations');
my $n = () = $list =~ /"name":/g;
Test::More::is($n, $created, 'every added entry is still listed');
--- error_code eval
[200, 401, 507, 200]
--- response_body_like eval
["ok", "401", qr/^\{"error":"the revocation zone \\"rev_b7\\" is full: nothing was added"\}$/, "ok"]
--- between_3
Test::More::ok(JwtPeerAuth::log_count(qr/\[error\].*revocation zone "rev_b7" is full \(\d+ entries\): "identifier" "filler-x-x+" not added/) == 1, 'the full zone is logged');
Test::More::is(JwtPeerAuth::log_count(qr/\[(crit|alert|emerg)\]/), 0, 'no slab allocator noise, no alert');



=== TEST 8: the list survives nginx -s reload (the zone is kept)
--- request eval
["POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\"}", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::JSON, $main::A, ""]
--- between_0
my $before = JwtPeerAuth::log_count(qr/worker process \d+ exited/);
my $pid = JwtPeerAuth::slurp($pidfile);
chomp $pid;
kill('HUP', $pid) or die "HUP $pid: $!";
for (1 .. 250) {
    last if JwtPeerAuth::log_count(qr/worker process \d+ exited/) >= $before + 2;
    select(undef, undef, undef, 0.02);
}
die "reload not seen" unless JwtPeerAuth::log_count(qr/worker process \d+ exited/) >= $before + 2;
--- error_code eval
[201, 401, 200]
--- response_body_like eval
[qr/peer-a/, "401", qr/"value":"peer-a"/]



=== TEST 9: with state=, every change is appended to the state file's journal (one line each; no temporary file is left)
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/shared.json ttl=3h;
--- request eval
["POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\"}",
 "POST /revocations\n{\"name\":\"token_id\",\"value\":\"tid-x\"}",
 "DELETE /revocations?name=token_id&value=tid-x"]
--- more_headers eval
[$main::JSON, $main::JSON, ""]
--- between_1
my $state = JwtPeerAuth::slurp("$main::STATE_DIR/shared.json");
Test::More::like($state, qr/^\{"jwt_peer_auth_revocation":2\}\n\{"op":"add","name":"identifier","value":"peer-a","expires":\d+\}\n\{"op":"add","name":"token_id","value":"tid-x","expires":\d+\}\n\z/, 'both entries written');
--- between_2
my $state = JwtPeerAuth::slurp("$main::STATE_DIR/shared.json");
Test::More::like($state, qr/\n\{"op":"del","name":"token_id","value":"tid-x","at":\d+\}\n\z/, 'the removal is written');
opendir(my $d, $main::STATE_DIR) or die $!;
Test::More::is(join(',', grep { /tmp/ } readdir $d), '', 'no temporary file left');
--- error_code eval
[201, 201, 200]
--- response_body_like eval
[qr/"expires_in":(10800|10799)\}/, qr/tid-x/, qr/tid-x/]



=== TEST 10: after a restart (a new zone), the list comes back from the state file
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/shared.json;
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::A, $main::B, ""]
--- error_code eval
[401, 200, 200]
--- response_body_like eval
["401", "ok", qr/^\{"entries":\[\{"name":"identifier","value":"peer-a","expires":\d+,"expires_in":\d+\}\]\}$/]
--- between_2
Test::More::is(JwtPeerAuth::log_count(qr/token rejected: revoked \(listed on the revocation list: "identifier"\)/), 1, 'refused from the loaded list');



=== TEST 11: a state file that cannot be written: 500 with the reason, and the change is taken back
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_REV_DIR/sub/state.json;
--- request eval
["GET /revocations", "POST /revocations\n{\"name\":\"identifier\",\"value\":\"peer-a\"}", "GET /p/index.html",
 "GET /revocations"]
--- more_headers eval
["", $main::JSON, $main::A, ""]
--- between_0
# The state file's directory turns into a plain file: no process (root included) can write.
rmdir "$main::STATE_DIR/sub" or die "rmdir: $!";
JwtPeerAuth::write_file("$main::STATE_DIR/sub", "not a directory\n");
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/\[error\].*revocation: cannot write the state file ".*\/sub\/state\.json": Not a directory/), 1, 'the failed write is logged');
--- error_code eval
[200, 500, 200, 200]
--- response_body_like eval
[qr/^\{"entries":\[\]\}$/,
 qr/^\{"error":"cannot write the state file \\".*\/sub\/state\.json\\": Not a directory: nothing was changed"\}$/,
 "ok", qr/^\{"entries":\[\]\}$/]



=== TEST 12: a damaged state file stops NGINX from starting, with an [emerg] naming it
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_HTML_DIR/state.json;
--- user_files
>>> state.json
{"jwt_peer_auth_revocation":1,"entries":[
{"name":"identifier","value":"peer-a","expires":9999999999},
{"name":"identifier","value":"peer-b"
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_revocation": damaged state file ".*state\.json": not a JSON object/
