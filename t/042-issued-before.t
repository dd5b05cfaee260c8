# "issued_before" revocation entries (issue 27): {"name":"sub","value":"peer-7","issued_before":T}
# refuses the subject's tokens whose iat is before T, and a token of it without iat; newer tokens
# and other subjects pass. Through the API's POST, GET and DELETE, the journal (a restart enforces
# it), the merge rules (an add never weakens an entry) and the feed. Two workers: every worker
# refuses at once.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Test::Nginx::Socket 'no_plan';

JwtPeerAuth::setup();

our $STATE_DIR = File::Temp::tempdir('jwt-peer-auth-ib-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $STATE_DIR;
$ENV{TEST_NGINX_IB_DIR} = $STATE_DIR;

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $http = $block->http_config // '';
    $http = "    jwt_peer_auth_revocation zone=\@REV\@:1m;\n$http" unless $http =~ /jwt_peer_auth_revocation\b/;
    $http =~ s/\@REV\@/rev_ib$n/g;
    $block->set_value('http_config', $http);
    my $config = $block->config // <<'_EOC_';
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check sub;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
_EOC_
    $block->set_value('config', $config);
    $block->set_value('user_files', [["index.html" => "ok\n"]]) unless defined $block->user_files;
});

our $JSON = 'Content-Type: application/json';
our $NOW = time;
# The time a peer was "logged out everywhere": 100 s ago.
our $T = $NOW - 100;
sub tok {
    my (%c) = @_;
    return JwtPeerAuth::bearer('rsa', '--claims', JSON::PP->new->canonical->encode({ sub => 'peer-7', %c }));
}
require JSON::PP;
our $OLD = tok(iat => $NOW - 200);
our $NEW = tok(iat => $NOW - 10);
our $AT_T = tok(iat => $T);
our $NO_IAT = 'Authorization: Bearer ' . JwtPeerAuth::token('rsa', '--no-iat', '--claims', '{"sub":"peer-7"}');
our $OTHER = JwtPeerAuth::bearer('rsa', '--claims', qq({"sub":"peer-8","iat":@{[$NOW - 200]}}));
our $ADD_T = qq(POST /revocations\n{"name":"sub","value":"peer-7","issued_before":$T,"ttl":"2h"});

run_tests();

__DATA__

=== TEST 1: POST issued_before: the subject's older tokens and one without iat are refused, newer ones (iat at T included) and other subjects pass; GET shows it; DELETE lifts it
--- request eval
[$main::ADD_T, "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html",
 "GET /p/index.html", "GET /revocations", "DELETE /revocations?name=sub&value=peer-7",
 "GET /p/index.html"]
--- more_headers eval
[$main::JSON, $main::OLD, $main::NO_IAT, $main::NEW, $main::AT_T, $main::OTHER, "", "", $main::OLD]
--- error_code eval
[201, 401, 401, 200, 200, 200, 200, 200, 200]
--- response_headers eval
["", "X-Status: revoked", "X-Status: revoked", "X-Status: ok", "X-Status: ok", "X-Status: ok", "", "", "X-Status: ok"]
--- response_body_like eval
[qr/^\{"name":"sub","value":"peer-7","expires":\d+,"issued_before":$main::T,"expires_in":72(00|99)\}$/,
 "401 Authorization Required", "401 Authorization Required", "ok", "ok", "ok",
 qr/^\{"entries":\[\{"name":"sub","value":"peer-7","expires":\d+,"issued_before":$main::T,"expires_in":\d+\}\]\}$/,
 qr/^\{"name":"sub","value":"peer-7","expires":\d+,"issued_before":$main::T,/, "ok"]
--- between_8
Test::More::is(JwtPeerAuth::log_count(qr/\[notice\].*revocation: added sub "peer-7" until \d+ \(tokens issued before $main::T\)/), 1, 'the addition is logged with its time');
Test::More::is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: revoked/), 2, 'two refusals logged');
Test::More::is(JwtPeerAuth::log_count(qr/\[(error|alert|crit|emerg)\]/), 0, 'no error');



=== TEST 2: every worker refuses the older token at once, and admits the newer one
--- request eval
["GET /p/index.html"]
--- more_headers eval
[$main::NEW]
--- between_0
my @codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 16, $main::OLD);
Test::More::is(join(',', grep { $_ ne '200' } @codes), '', 'the old token is admitted (and cached) by every worker');
my ($code) = JwtPeerAuth::revocation_post(qq({"name":"sub","value":"peer-7","issued_before":$main::T}));
Test::More::is($code, 201, 'added');
@codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 16, $main::OLD);
Test::More::is(join(',', grep { $_ ne '401' } @codes), '', 'refused by every worker, token-cache hits included');
@codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 16, $main::NEW);
Test::More::is(join(',', grep { $_ ne '200' } @codes), '', 'the newer token passes every worker');
--- error_code: 200



=== TEST 3: an add never weakens an entry: a plain entry stays plain after an issued_before add; an earlier issued_before gives way to a later one; after DELETE an issued_before add sets it
--- request eval
["POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\"}",
 $main::ADD_T, "GET /p/index.html",
 "DELETE /revocations?name=sub&value=peer-7",
 "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":" . ($main::T - 500) . "}",
 "GET /p/index.html",
 $main::ADD_T, "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::JSON, $main::JSON, $main::NEW, "", $main::JSON, $main::OLD, $main::JSON, $main::OLD, $main::NEW]
--- error_code eval
[201, 200, 401, 200, 201, 200, 200, 401, 200]
--- response_body_like eval
[qr/^\{"name":"sub","value":"peer-7","expires":\d+,"expires_in":\d+\}$/,
 qr/^\{"name":"sub","value":"peer-7","expires":\d+,"expires_in":\d+\}$/,
 "401", qr/"value":"peer-7"/,
 qr/"issued_before":\d+/, "ok",
 qr/"issued_before":$main::T,/, "401", "ok"]



=== TEST 4: bad issued_before values are refused with what is wrong, and change nothing
--- request eval
["POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":0}",
 "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":\"$main::T\"}",
 "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":1.5}",
 "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":99999999999999}",
 "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-7\",\"issued_before\":-1}",
 "GET /revocations", "GET /p/index.html"]
--- more_headers eval
[$main::JSON, $main::JSON, $main::JSON, $main::JSON, $main::JSON, "", $main::OLD]
--- error_code eval
[400, 400, 400, 400, 400, 200, 200]
--- response_body_like eval
[(qr/^\{"error":"\\"issued_before\\" must be a Unix time in whole seconds \(1 to 253402300799\)"\}$/) x 5,
 qr/^\{"entries":\[\]\}$/, "ok"]



=== TEST 5: with state=, the entry is journaled as an add with issued_before (older builds skip such a line), and a new zone (a restart) enforces it from the file
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_IB_DIR/state.json;
--- request eval
[$main::ADD_T, "GET /p/index.html"]
--- more_headers eval
[$main::JSON, $main::OLD]
--- error_code eval
[201, 401]
--- between_1
my $state = JwtPeerAuth::slurp("$main::STATE_DIR/state.json");
Test::More::like($state, qr/^\{"jwt_peer_auth_revocation":2\}\n\{"op":"add","name":"sub","value":"peer-7","expires":\d+,"issued_before":$main::T\}\n\z/, 'one journal line with issued_before');



=== TEST 6: after a restart (another zone on the same state file), the issued_before entry is back, still letting the newer token through
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_IB_DIR/state.json;
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::OLD, $main::NEW, $main::NO_IAT, ""]
--- error_code eval
[401, 200, 401, 200]
--- response_body_like eval
["401", "ok", "401", qr/"issued_before":$main::T,/]
--- no_error_log
[warn]
[error]
