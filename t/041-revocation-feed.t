# jwt_peer_auth_revocation_feed uri [interval=time] [max_stale=time] (issue 27): the revocation
# list follows a feed every node pulls through an internal location. A fixture feed server (an
# NGINX server block serving the feed as a static file: ETag, Last-Modified and 304 as NGINX
# answers them; its access log counts 200s and 304s and records the request headers that reach
# it). Two workers. The feed's entries join the API's; an entry removed from the feed is lifted;
# an API entry never is; conditional requests (304s counted); client headers never reach the
# feed; every bad answer keeps the last list and is logged; past max_stale the list's locations
# refuse (one [error]) until a fetch succeeds; a reload keeps the list, a restart enforces the
# last feed (its snapshot) before its first fetch; bad directives are [emerg].
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use KeyService;
use File::Temp ();
use Time::HiRes ();
use Test::Nginx::Socket 'no_plan';

JwtPeerAuth::setup();

our $DIR = File::Temp::tempdir('jwt-peer-auth-feed-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $DIR;
$ENV{TEST_NGINX_FEED_DIR} = $DIR;

# Every block: its own zone (@REV@), state file, feed file and feed-server log (@N@), so that
# nothing leaks into the next block when the runner reloads one NGINX (HUP mode).
add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $of = $n;
    my $http = $block->http_config // <<'_EOC_';
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_FEED_DIR/state@OF@.json;
_EOC_
    $http .= <<'_EOC_';
    log_format feedsvc@N@ '$status "$http_if_none_match" "$http_if_modified_since" "$http_authorization" "$http_cookie" "$http_x_leak" "$http_accept_encoding" $request_method "$args"';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        root $TEST_NGINX_FEED_DIR;
        access_log $TEST_NGINX_FEED_DIR/access@N@.log feedsvc@N@;
        location / {
            if (-f $document_root/gzip@N@) { add_header Content-Encoding gzip; }
        }
    }
_EOC_
    $http =~ s/\@REV\@/rev_f$n/g;
    $http =~ s/\@N\@/$n/g;
    $http =~ s/\@OF\@/$of/g;
    $block->set_value('http_config', $http);
    my $config = $block->config // <<'_EOC_';
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check sub;
    jwt_peer_auth_revocation_feed /_feed interval=1s max_stale=@STALE@;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /_feed { internal; jwt_peer_auth off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/feed@OF@.json; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
_EOC_
    $config =~ s/\@N\@/$n/g;
    $config =~ s/\@OF\@/$of/g;
    # Only the block about max_stale lets the feed go stale within the block.
    my $stale = $block->name =~ /past max_stale/ ? '4s' : '1h';
    $config =~ s/\@STALE\@/$stale/g;
    $block->set_value('config', $config);
    $block->set_value('user_files', [["index.html" => "ok\n"]]) unless defined $block->user_files;
});

our $NOW = time;
our $EXP = $NOW + 7200;
our $MTIME = $NOW - 1000;

# Writes block $n's feed document (a new file renamed into place, a new mtime each time: the
# static ETag is mtime and size).
sub write_feed {
    my ($n, $text) = @_;
    my $path = "$DIR/feed$n.json";
    JwtPeerAuth::write_file("$path.tmp", $text);
    chmod 0644, "$path.tmp";
    $MTIME += 10;
    utime($MTIME, $MTIME, "$path.tmp") or die "utime: $!";
    rename("$path.tmp", $path) or die "rename: $!";
}

sub entries {
    return '{"entries":[' . join(',', map {
        my ($v, $before) = @$_;
        qq({"name":"sub","value":"$v","expires":$EXP) . (defined $before ? qq(,"issued_before":$before) : '') . '}'
    } @_) . "]}\n";
}

sub sub_token {
    my ($sub, $iat) = @_;
    return JwtPeerAuth::bearer('rsa', '--claims', qq({"sub":"$sub","iat":@{[$iat // time]}}));
}

# The feed server's access-log lines of block $n: [status, if_none_match, ...].
sub feed_log {
    my ($n) = @_;
    open(my $fh, '<', "$DIR/access$n.log") or return ();
    return map { [ /^(\d+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\S+) "([^"]*)"/ ] } <$fh>;
}

sub feed_status {
    my $s = JwtPeerAuth::status_json();
    my ($f) = $s =~ /"feed":(\{[^}]*\})/ or die "no feed on the status page: $s";
    return $f;
}

# Polls the runner's server with $header at /p/index.html until it answers $code (at most
# $secs seconds): the feed applied.
sub until_status {
    my ($code, $header, $secs) = @_;
    return KeyService::wait_until($secs, sub {
        my ($c) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$header]);
        return $c == $code;
    });
}

our $P7 = sub_token('peer-7');
our $P8 = sub_token('peer-8');
our $P9_OLD = sub_token('peer-9', $NOW - 500);
our $P9_NEW = sub_token('peer-9', $NOW - 5);
our $P10 = sub_token('peer-10');
our $P11 = sub_token('peer-11');
our $LEAK = "X-Leak: client-secret\r\nCookie: c=client-cookie\r\nAccept-Encoding: gzip\r\nIf-None-Match: \"client\"";

write_feed($_, entries(['peer-7'], ['peer-9', $NOW - 100])) for 1 .. 12;

# TEST 19: the snapshot cannot be written (its temporary name is taken by a directory).
mkdir("$DIR/state19.json.feed.tmp") or die "mkdir: $!";
write_feed(19, entries(['peer-7'], ['peer-9', $NOW - 100]));

# TEST 18: no feed yet, and a snapshot (peer-7) last confirmed two hours ago.
{
    my $snap = "$DIR/state18.json.feed";
    JwtPeerAuth::write_file($snap, qq({"jwt_peer_auth_feed":1,"etag":null,"last_modified":null}\n) . entries(['peer-7']));
    chmod 0666, $snap;
    my $t = time - 7200;
    utime($t, $t, $snap) or die "utime: $!";
}

run_tests();

__DATA__

=== TEST 1: the first request starts the fetch; its entries are then enforced by every worker (a plain one, an issued_before one); client headers never reach the feed; the status page shows it
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /status"]
--- more_headers eval
["$main::P8\n$main::LEAK", $main::P7, $main::P9_OLD, $main::P9_NEW, $main::P8, ""]
--- error_code eval
[200, 401, 401, 200, 200, 200]
--- response_headers eval
["", "X-Status: revoked", "X-Status: revoked", "X-Status: ok", "X-Status: ok", ""]
--- response_body_like eval
["ok", "401", "401", "ok", "ok",
 qr/"revocation":\{"zone":"rev_f1","entries":0,"feed":\{"uri":"\/_feed","state":"fresh","age":\d+,"entries":2,"fetched":1,"not_modified":0,"failures":0,"error":null\}\}/]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
my @codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 16, $main::P7);
Test::More::is(join(',', grep { $_ ne '401' } @codes), '', 'every worker refuses peer-7');
--- between_5
my @log = main::feed_log(1);
Test::More::is(scalar(grep { $_->[0] == 200 } @log), 1, 'one 200');
Test::More::is($log[0][0], 200, 'the first answer is a 200');
Test::More::is(join('|', @{$log[0]}[1 .. 7]), '-|-|-|-|-|-|GET', 'no client header reached the feed (no validators yet)');
Test::More::is(scalar(grep { join('|', @{$_}[3 .. 6]) ne '-|-|-|-' } @log), 0, 'never a client header');
Test::More::is(JwtPeerAuth::log_count(qr/\[notice\].*revocation feed "\/_feed": 2 entries, 2 put, 0 lifted, applied in \d+ ms/), 1, 'the apply is logged');
Test::More::is(JwtPeerAuth::log_count(qr/\[(error|alert|crit|emerg)\]/), 0, 'no error');



=== TEST 2: an unchanged feed costs a 304: the refreshes send If-None-Match and If-Modified-Since from the last answer, and nothing of the client's
--- request eval
["GET /p/index.html", "GET /status"]
--- more_headers eval
[$main::P8, ""]
--- error_code eval
[200, 200]
--- response_body_like eval
["ok", qr/"feed":\{"uri":"\/_feed","state":"fresh","age":\d+,"entries":2,"fetched":1,"not_modified":[2-9],"failures":0,"error":null\}/]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
# Requests for 3.5 s, with client validators and headers that must not reach the feed.
my $end = Time::HiRes::time() + 3.5;
while (Time::HiRes::time() < $end) {
    JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P8, split /\r\n/, $main::LEAK]);
    Time::HiRes::sleep(0.2);
}
my @log = main::feed_log(2);
my @s200 = grep { $_->[0] == 200 } @log;
my @s304 = grep { $_->[0] == 304 } @log;
Test::More::is(scalar(@s200), 1, 'one 200');
Test::More::ok(@s304 >= 2 && @s304 <= 5, 'then 304s, about one a second (' . scalar(@s304) . ')');
Test::More::is(scalar(@log), @s200 + @s304, 'nothing else');
for my $l (@s304) {
    Test::More::like($l->[1], qr/^\\x22[0-9a-f]+-[0-9a-f]+\\x22$/, 'If-None-Match is the ETag of the last answer');
    Test::More::like($l->[2], qr/GMT$/, 'If-Modified-Since is its Last-Modified');
    Test::More::is(join('|', @{$l}[3 .. 6]), '-|-|-|-', 'no client Authorization, Cookie, X-Leak or Accept-Encoding');
}



=== TEST 3: a changed feed: an entry removed from it is lifted, a new one enforced, within the interval; an API entry is never removed by the feed, not even one the feed listed and then dropped
--- request eval
["GET /p/index.html", "POST /revocations\n{\"name\":\"sub\",\"value\":\"peer-11\"}", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /p/index.html", "GET /revocations"]
--- more_headers eval
[$main::P8, "Content-Type: application/json", $main::P11, $main::P7, $main::P10, $main::P11, ""]
--- error_code eval
[200, 201, 401, 200, 401, 401, 200]
--- response_body_like eval
["ok", qr/peer-11/, "401", "ok", "401", "401", qr/^\{"entries":\[\{"name":"sub","value":"peer-11","expires":\d+,"expires_in":\d+\}\]\}$/]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the first feed is applied');
# The feed lists peer-11 too (as the API does).
main::write_feed(3, main::entries(['peer-7'], ['peer-11']));
Test::More::ok(main::until_status(401, $main::P11, 5), 'the second feed is applied');
--- between_2
my $t0 = Time::HiRes::time();
main::write_feed(3, main::entries(['peer-10']));
Test::More::ok(main::until_status(200, $main::P7, 5), 'peer-7 lifted');
Test::More::ok(Time::HiRes::time() - $t0 < 3, 'within the interval and a second or so');
Test::More::ok(KeyService::wait_until(3, sub { JwtPeerAuth::log_count(qr/revocation feed "\/_feed": 1 entries, 1 put, 2 lifted/) == 1 }), 'the diff: one put, two lifted');



=== TEST 4: bad answers keep the last list and are logged: invalid JSON, a 404, Content-Encoding, an entry with a bad name
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /status"]
--- more_headers eval
[$main::P8, $main::P7, ""]
--- error_code eval
[200, 401, 200]
--- response_body_like eval
["ok", "401", qr/"feed":\{"uri":"\/_feed","state":"fresh","age":\d+,"entries":2,"fetched":1,"not_modified":\d+,"failures":[4-9],"error":"invalid feed/]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
my $f = "$main::DIR/feed4.json";
my $wait_fail = sub {
    my ($re, $what) = @_;
    Test::More::ok(KeyService::wait_until(5, sub {
        JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P8]);
        JwtPeerAuth::log_count($re) >= 1;
    }), $what);
    my ($c) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P7]);
    Test::More::is($c, 401, "peer-7 still refused after: $what");
};
main::write_feed(4, '{"entries":[{"name":"sub","value":"peer-7","expires":1');
$wait_fail->(qr/\[error\].*revocation feed "\/_feed" failed: invalid feed \(not a feed document \(.*\), \d+ bytes\); keeping the last list/, 'invalid JSON is refused');
rename($f, "$f.away") or die "rename: $!";
$wait_fail->(qr/\[error\].*revocation feed "\/_feed" failed: status 404; keeping the last list/, 'a 404 is refused');
rename("$f.away", $f) or die "rename: $!";
main::write_feed(4, main::entries(['peer-8']));
JwtPeerAuth::write_file("$main::DIR/gzip4", "");
$wait_fail->(qr/\[error\].*revocation feed "\/_feed" failed: the answer has Content-Encoding "gzip"; keeping the last list/, 'a Content-Encoding is refused');
main::write_feed(4, '{"entries":[{"name":"a b","value":"peer-8","expires":' . ($main::EXP) . '}]}');
unlink "$main::DIR/gzip4";
$wait_fail->(qr/\[error\].*revocation feed "\/_feed" failed: invalid feed \(entry 1: "name" has an invalid character ' '/, 'a bad entry refuses the whole feed');
my ($c) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P8]);
Test::More::is($c, 200, 'peer-8 (listed only by refused feeds) passes');



=== TEST 5: past max_stale without a successful fetch every token checked against the list is refused (one [error] for the episode, "stale" on the status page); a successful fetch (a 304) ends it by itself
--- request eval
["GET /p/index.html", "GET /status", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, "", $main::P8, $main::P7]
--- error_code eval
[200, 200, 401, 401]
--- response_headers eval
["X-Status: ok", "", "X-Status: revoked", "X-Status: revoked"]
--- response_body_like eval
["ok", qr/"feed":\{"uri":"\/_feed","state":"stale",/, "401", "401"]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
rename("$main::DIR/feed5.json", "$main::DIR/feed5.away") or die "rename: $!";
# 4 s of max_stale: peer-8 is refused after about 4 s.
my $t0 = Time::HiRes::time();
Test::More::ok(main::until_status(401, $main::P8, 8), 'the stale feed refuses peer-8');
my $took = Time::HiRes::time() - $t0;
Test::More::ok($took > 2.5 && $took < 7, "after max_stale ($took s)");
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/\[error\].*revocation feed "\/_feed" is stale: no successful fetch for \d+s \(max_stale 4s; last error: status 404\): tokens checked against the list are refused until a fetch succeeds/), 1, 'one [error] for the episode');
rename("$main::DIR/feed5.away", "$main::DIR/feed5.json") or die "rename: $!";
Test::More::ok(main::until_status(200, $main::P8, 5), 'fresh again: peer-8 passes');
my ($c) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P7]);
Test::More::is($c, 401, 'peer-7 still listed');
Test::More::is(JwtPeerAuth::log_count(qr/\[notice\].*revocation feed "\/_feed" is fresh again/), 1, 'the end of the episode is logged');
Test::More::like(main::feed_status(), qr/"state":"fresh"/, 'fresh on the status page');



=== TEST 6: a reload keeps the list and the feed state; the refreshes go on from the new workers
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, $main::P8]
--- error_code eval
[200, 200]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
open(my $pf, '<', $pidfile) or die "$pidfile: $!";
my $master = <$pf>; chomp $master;
kill 'HUP', $master or die "HUP: $!";
Time::HiRes::sleep(1);
my @codes = JwtPeerAuth::parallel_get(JwtPeerAuth::server_port(), '/p/index.html', 16, $main::P7);
Test::More::is(join(',', grep { $_ ne '401' } @codes), '', 'every new worker refuses peer-7 at once');
main::write_feed(6, main::entries(['peer-9']));
Test::More::ok(main::until_status(200, $main::P7, 5), 'the new workers follow the feed');



=== TEST 7: the snapshot of the last feed is kept next to the state file
--- request eval
["GET /p/index.html"]
--- more_headers eval
[$main::P8]
--- error_code eval
[200]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
# Written once the list is applied.
Test::More::ok(KeyService::wait_until(3, sub { -f "$main::DIR/state7.json.feed" }), 'the snapshot is written');
my $snap = JwtPeerAuth::slurp("$main::DIR/state7.json.feed");
Test::More::like($snap, qr/^\{"jwt_peer_auth_feed":1,"etag":"\\"[0-9a-f]+-[0-9a-f]+\\"","last_modified":"[^"]+ GMT"\}\n\{"entries":\[\{"name":"sub","value":"peer-7"/, 'validators and the document');



=== TEST 8: a restart (a new zone on TEST 7's state file) enforces the last feed before its first fetch, with the feed service refusing
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=$TEST_NGINX_FEED_DIR/state7.json;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_revocation_check sub;
    jwt_peer_auth_revocation_feed /_feed interval=1s max_stale=1h;
    location /p { alias html/; add_header X-Status $jwt_peer_auth_status always; }
    location = /_feed { internal; jwt_peer_auth off; proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/feed7.json; }
--- request eval
["GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P7, $main::P8]
--- error_code eval
[401, 200]
--- init
rename("$main::DIR/feed7.json", "$main::DIR/feed7.away") or die "rename: $!";
--- between_1
Test::More::ok(KeyService::wait_until(3, sub { JwtPeerAuth::log_count(qr/revocation feed "\/_feed" failed: status 404/) >= 1 }), 'its fetches fail');
my ($c) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/index.html', headers => [$main::P7]);
Test::More::is($c, 401, 'the last feed is still enforced');
rename("$main::DIR/feed7.away", "$main::DIR/feed7.json") or die "rename: $!";



=== TEST 9: bad directive: no state= on the list
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m;
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed" (in
needs "state=" on "jwt_peer_auth_revocation"



=== TEST 10: bad directive: no list
--- http_config
--- config
    jwt_peer_auth_revocation_feed /_feed;
--- must_die
--- error_log
needs "jwt_peer_auth_revocation zone=name:size state=path" in the http block



=== TEST 11: bad directives: parameters
--- config
    jwt_peer_auth_revocation_feed /_feed interval=0;
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed": invalid "interval=" value "0" (1s to 366d)



=== TEST 12: bad directives: max_stale not longer than interval
--- config
    jwt_peer_auth_revocation_feed /_feed interval=30s max_stale=30s;
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed": "max_stale=" must be longer than "interval=" (30s)



=== TEST 13: bad directives: a second feed
--- config
    jwt_peer_auth_revocation_feed /_feed;
    location /x { jwt_peer_auth_revocation_feed /_other; }
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed": a revocation list follows one feed: "/_feed" was set in



=== TEST 14: bad directives: not a path
--- config
    jwt_peer_auth_revocation_feed http://lists.example/peers.json;
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed": invalid uri "http://lists.example/peers.json": the path of an internal location is expected



=== TEST 15: bad directives: an unknown parameter
--- config
    jwt_peer_auth_revocation_feed /_feed every=5s;
--- must_die
--- error_log
"jwt_peer_auth_revocation_feed": invalid parameter "every=5s"



=== TEST 16: a feed larger than NGINX's buffer for in-memory sub-requests (2,000 entries, about 130 KB) is applied whole
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, $main::P7, $main::P8]
--- error_code eval
[200, 401, 200]
--- init
main::write_feed(16, main::entries(map { ["bulk-$_"] } 1 .. 1999) =~ s/\]\}\n\z/,{"name":"sub","value":"peer-7","expires":$main::EXP}]}\n/r);
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
# Logged once the snapshot is written, after the list is applied.
Test::More::ok(KeyService::wait_until(3, sub { JwtPeerAuth::log_count(qr/revocation feed "\/_feed": 2000 entries, 2000 put, 0 lifted/) == 1 }), 'all of it');
Test::More::is(JwtPeerAuth::log_count(qr/too big subrequest response/), 0, 'no NGINX buffer error');



=== TEST 17: a zone whose snapshot is gone (deleted, damaged, or written by another generation) still lifts what the feed dropped: the lifts come from the zone's own feed entries
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, $main::P7, $main::P11]
--- error_code eval
[200, 200, 401]
--- init
main::write_feed(17, main::entries(['peer-7'], ['peer-9', $main::NOW - 100]));
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
Test::More::ok(KeyService::wait_until(3, sub { -f "$main::DIR/state17.json.feed" }), 'the snapshot is written');
unlink("$main::DIR/state17.json.feed") or die "unlink: $!";
main::write_feed(17, main::entries(['peer-11']));
Test::More::ok(main::until_status(200, $main::P7, 5), 'peer-7, dropped by the feed, is lifted');
Test::More::ok(KeyService::wait_until(3, sub { JwtPeerAuth::log_count(qr/revocation feed "\/_feed": 1 entries, 1 put, 2 lifted/) == 1 }), 'the diff against the zone: one put, two lifted');



=== TEST 18: a restart on a snapshot last confirmed longer than max_stale ago is stale at once (max_stale counts from the last successful fetch, not from the start), and recovers by itself once a fetch succeeds
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, $main::P7, $main::P8]
--- error_code eval
[401, 401, 200]
--- response_headers eval
["X-Status: revoked", "X-Status: revoked", "X-Status: ok"]
--- between_1
Test::More::is(JwtPeerAuth::log_count(qr/\[error\].*revocation feed "\/_feed" is stale: no successful fetch for \d+s \(max_stale 3600s/), 1, 'one [error] for the episode');
Test::More::like(main::feed_status(), qr/"state":"stale"/, 'stale on the status page');
main::write_feed(18, main::entries(['peer-7']));
Test::More::ok(main::until_status(200, $main::P8, 5), 'fresh again: peer-8 passes');



=== TEST 19: a zone whose snapshot could not be written (nor any before) still lifts what the feed dropped at the next refresh
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
[$main::P8, $main::P7, $main::P11]
--- error_code eval
[200, 200, 401]
--- between_0
Test::More::ok(main::until_status(401, $main::P7, 5), 'the feed is applied');
Test::More::ok(KeyService::wait_until(3, sub { JwtPeerAuth::log_count(qr/\[error\].*revocation feed "\/_feed": cannot write "[^"]*state19.json.feed"/) >= 1 }), 'the snapshot cannot be written');
main::write_feed(19, main::entries(['peer-11']));
Test::More::ok(main::until_status(200, $main::P7, 5), 'peer-7, dropped by the feed, is lifted');
