# A worker killed in the middle of a shared-zone update: a worker that dies under a zone's
# slab mutex (SIGKILL, as an OOM kill or a crash in another module would) must
# leave the zone in a state that is safe for the others, not merely unlocked (t/024 checks
# that). gdb stops one of two workers at a point inside the update and kills it there.
#
#   TEST 1: the key zone publishes a changed JWKS (a key removed, another added by a
#           rotation) and the worker dies freeing the replaced body. The slot must not hold
#           the new body under the old generation: a worker that parsed the old body under
#           that generation would keep it (and a refetch of the same body does not move the
#           generation), accepting the removed key.
#   TEST 2: the revocation list adds an entry and the worker dies right after linking it into
#           the tree. The entry count must not stay below the entries in the tree: with a
#           count of 0 the lock-free check skips the list, and the revoked peer passes (also
#           after the add is repeated, which only extends the listed entry).
#   TEST 3 (not a death): RSA refusals by OpenSSL leave nothing in OpenSSL's per-thread error queue: TLS
#           requests on the same worker after them log no "ignoring stale global SSL error".
#
# Requests are pinned to a worker as in t/024 (a reuseport listener, keep-alive connections
# on which GET /pid answered the worker's pid). gdb is required (scripts/deps.sh installs it).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Workers;
use Tls;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use Test::Nginx::Socket 'no_plan';

# Two workers, a cold key zone per block.
JwtPeerAuth::setup(
    config => "    location = /t { return 200 \"ok\\n\"; }\n",
    request => 'GET /t',
    response_body => "ok\n",
    user_files => [["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]],
);

# The pinned server's port, per block.
our %PORT;

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $port = $PORT{$n} //= JwtPeerAuth::free_port();
    if (defined(my $http = $block->http_config)) {
        $http =~ s/\@PORT\@/$port/g;
        $http =~ s/\@REV\@/rev_r$n/g;
        $block->set_value('http_config', $http);
    }
});

# Key 'rsa' (kid "rsa") and key 'rsa2' (kid "rsa2").
our $RSA = JwtPeerAuth::bearer_claims(identifier => 'peer-a');
our $RSA2 = JwtPeerAuth::bearer('rsa2');

# TEST 1.
sub key_rotation_death {
    my ($block) = @_;
    my $port = $PORT{$block->seq_num};
    my $c = pin_workers($port, 2);
    my ($victim, $other) = sort { $a <=> $b } keys %$c;
    # Both workers parse the published JWKS (key rsa) under its generation.
    for my $w ($other, $victim) {
        my ($code) = ask($c->{$w}, '/p/index.html', $RSA);
        $code == 200 or die "warm-up in $w: status $code";
    }
    # The key service rotates: rsa removed, rsa2 added. The victim sees a token with the new
    # kid, refetches at once (min_refresh=1s) and dies freeing the replaced body, after the new
    # one went into the slot.
    JwtPeerAuth::write_file(Test::Nginx::Socket::html_dir() . '/jwks.json', JwtPeerAuth::jwks('rsa2'));
    Time::HiRes::sleep(1.1);
    kill_at(victim => $victim, conn => $c->{$victim}, where => 'free_body', path => '/p/index.html',
            header => $RSA2, zone => 'jwt_peer_auth_b' . $block->seq_num);

    my $r = pin_workers($port, 1, $victim, $other);
    my ($replacement) = keys %$r;
    for my $w ([other => $other, $c->{$other}], [replacement => $replacement, $r->{$replacement}]) {
        my ($name, $pid, $s) = @$w;
        my ($code) = ask($s, '/p/index.html', $RSA);
        Test::More::is($code, 401, "$name worker ($pid): the removed key (rsa) is no longer accepted");
        ($code) = ask($s, '/p/index.html', $RSA2);
        Test::More::is($code, 200, "$name worker ($pid): the new key (rsa2) is accepted");
    }
    close $_ for values %$c, values %$r;
}

# TEST 2.
sub revocation_death {
    my ($block) = @_;
    my $port = $PORT{$block->seq_num};
    my $c = pin_workers($port, 2);
    my ($victim, $other) = sort { $a <=> $b } keys %$c;
    my ($code) = ask($c->{$other}, '/p/index.html', $RSA);
    $code == 200 or die "before the revocation: status $code";
    my $entry = '{"name":"identifier","value":"peer-a"}';
    # The revocation list's tree is the only red-black tree but NGINX's timers here. The
    # breakpoint is at the function's first instruction and tests its first argument in its
    # register (x86-64 SysV: rdi): Debian's nginx has no debug information, so no parameter
    # names, only its exported symbols.
    die "this test reads the first argument from rdi: x86-64 only" unless (POSIX::uname())[4] eq 'x86_64';
    kill_at(victim => $victim, conn => $c->{$victim}, path => '/revocations', body => $entry,
            where => '*ngx_rbtree_insert if $rdi != (long) &ngx_event_timer_rbtree', name => 'ngx_rbtree_insert',
            then => ['finish'], zone => 'rev_r' . $block->seq_num);
    ($code) = ask($c->{$other}, '/p/index.html', $RSA);
    Test::More::is($code, 401, "other worker ($other): the entry the dead worker linked is checked");
    # The operator repeats the add that got no answer.
    my ($add) = ask($c->{$other}, '/revocations', undef, $entry);
    Test::More::like($add, qr/^20\d$/, 'the repeated add succeeds');
    ($code) = ask($c->{$other}, '/p/index.html', $RSA);
    Test::More::is($code, 401, "other worker ($other): the revoked peer is refused after the repeated add");
    close $_ for values %$c;
}

# TEST 3.
sub tls_after_rsa_refusals {
    my ($block) = @_;
    my $port = $PORT{$block->seq_num};
    my @bad = (JwtPeerAuth::token('rsa', '--corrupt'), JwtPeerAuth::token('rsa2', '--kid', 'rsa'),
               JwtPeerAuth::token('rsa', '--alg', 'PS256', '--kid', 'rsa-ps', '--corrupt'), JwtPeerAuth::token('rsa', '--truncate'));
    # A few rounds, so that each worker (the kernel picks one per connection) sees each.
    for my $round (1 .. 3) {
        for my $t (@bad) {
            my $r = Tls::get($port, '/p/index.html', headers => ["Authorization: Bearer $t"]);
            Test::More::is($r->{status}, 401, "round $round: a bad RSA signature over TLS is refused");
            $r = Tls::get($port, '/p/index.html', headers => [$RSA]);
            Test::More::is($r->{status}, 200, "round $round: the next TLS request passes");
        }
    }
    Test::More::is(JwtPeerAuth::log_count(qr/stale global SSL error|\[alert\]|\[crit\]/), 0,
                   'nothing left in OpenSSL\'s error queue for NGINX\'s SSL code');
}

run_tests();

__DATA__

=== TEST 1: a worker killed while it publishes a rotated JWKS: no worker keeps the removed key
--- http_config
    server {
        listen 127.0.0.1:@PORT@ reuseport;
        jwt_peer_auth "peers";
        jwt_peer_auth_key_request /_jwks;
        jwt_peer_auth_key_cache 1h min_refresh=1s;
        location = /_jwks { internal; default_type application/json; alias $TEST_NGINX_HTML_DIR/jwks.json; }
        location /p { alias $TEST_NGINX_HTML_DIR/; }
        location = /pid { jwt_peer_auth off; return 200 "$pid"; }
    }
--- between_0
main::key_rotation_death($block);



=== TEST 2: a worker killed right after it linked a revocation entry: the entry is still checked
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m;
    server {
        listen 127.0.0.1:@PORT@ reuseport;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_revocation_check identifier;
        location /p { alias $TEST_NGINX_HTML_DIR/; }
        location = /pid { jwt_peer_auth off; return 200 "$pid"; }
        location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    }
--- between_0
main::revocation_death($block);



=== TEST 3: RSA refusals by OpenSSL leave no error behind for the TLS connections of the worker
--- http_config
    server {
        listen 127.0.0.1:@PORT@ ssl;
        ssl_certificate $TEST_NGINX_TLS_DIR/server.pem;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/server.key;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks-algs.json;
        location /p { alias $TEST_NGINX_HTML_DIR/; }
    }
--- between_0
main::tls_after_rsa_refusals($block);
