# The key zone's lock survives a worker that dies holding it. gdb stops one of two workers at
# code that only runs with the key zone's lock held (a breakpoint on it) and kills the worker
# there (SIGKILL, as an OOM kill or a crash in another module would). The master then unlocks
# the zone's slab mutex that the dead worker held (NGINX's "shared memory zone ... was locked
# by <pid>"), and the other worker and the replacement worker still answer valid tokens (200),
# tokens with an unknown kid (401, a refetch under the lock) and the status page within a few
# seconds. With a spinlock in the zone they would spin forever: the whole server hangs.
#
# Requests are pinned to a worker: the server listens with reuseport (each worker its own
# socket) and each worker is reached through a keep-alive connection on which GET /pid
# answered its pid. gdb is required (scripts/deps.sh installs it): without it the test fails.
#
# The breakpoints are functions (inlined; the module's line tables name them) that run only
# with the zone's lock held: `may_force` (the core's SourceState::may_force, called only by
# Zone::try_start) and `body_of` (zone.rs, a published body read under the lock). A
# breakpoint reached outside the lock would fail the "was locked by" check below.
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Workers;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use Test::Nginx::Socket 'no_plan';

# Two workers; a cold key zone per block (jwt_peer_auth_b<N>), also when one NGINX is reloaded
# between blocks (TEST_NGINX_USE_HUP=1).
JwtPeerAuth::setup(
    config => "    location = /t { return 200 \"ok\\n\"; }\n",
    request => 'GET /t',
    response_body => "ok\n",
    user_files => [["jwks.json" => JwtPeerAuth::jwks('rsa')], ["index.html" => "ok\n"]],
);

# The pinned server's port, per block (the hooks need it, and under TEST_NGINX_USE_HUP=1 no
# worker of the previous block's configuration, still finishing, listens on it).
our %PORT;

add_block_preprocessor(sub {
    my $block = shift;
    my $port = $PORT{$block->seq_num} //= JwtPeerAuth::free_port();
    (my $http = <<'_EOC_') =~ s/\@PORT\@/$port/;
    server {
        listen 127.0.0.1:@PORT@ reuseport;
        jwt_peer_auth "peers";
        jwt_peer_auth_key_request /_jwks;
        jwt_peer_auth_key_cache 1h min_refresh=1s;
        location = /_jwks { internal; default_type application/json; alias $TEST_NGINX_HTML_DIR/jwks.json; }
        location /p { alias $TEST_NGINX_HTML_DIR/; }
        location = /pid { jwt_peer_auth off; return 200 "$pid"; }
        location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
    }
_EOC_
    $block->set_value('http_config', $http) unless defined $block->http_config;
});

our $VALID = JwtPeerAuth::bearer('rsa');
# Signed with a key the JWKS does not have: an unknown kid, refused after a refetch.
our $UNKNOWN_KID = JwtPeerAuth::bearer('rsa2');

# The whole case: pins a connection to each worker, warms the key zone ($warm: which workers
# parse the keys before, 'both' or 'other'), stops the victim at $where under the lock with
# the request $trigger and kills it there; then checks that NGINX unlocked the zone and that
# the other worker and the replacement answer within 5 s each.
sub killed_holding_lock {
    my ($block, %o) = @_;
    my $port = $PORT{$block->seq_num} // die "no port for this block";
    my $c = pin_workers($port, 2);
    my ($victim, $other) = sort { $a <=> $b } keys %$c;

    # The other worker fetches the keys; the victim parses them too when asked to.
    my ($code) = ask($c->{$other}, '/p/index.html', $VALID);
    $code == 200 or die "warm-up in the other worker: status $code";
    if ($o{warm} eq 'both') {
        ($code) = ask($c->{$victim}, '/p/index.html', $VALID);
        $code == 200 or die "warm-up in the victim: status $code";
    }

    kill_at(victim => $victim, conn => $c->{$victim}, path => '/p/index.html', header => $o{trigger},
            where => $o{where}, zone => 'jwt_peer_auth_b' . $block->seq_num);

    # The replacement worker takes the dead one's reuseport socket.
    my $r = pin_workers($port, 1, $victim, $other);
    my ($replacement) = keys %$r;
    for my $w ([other => $other, $c->{$other}], [replacement => $replacement, $r->{$replacement}]) {
        my ($name, $pid, $s) = @$w;
        # Each within 5 s (a worker spinning on the lock never answers); after a timeout the
        # connection is useless, so the rest count as failed too.
        my ($code) = ask($s, '/p/index.html', $VALID);
        Test::More::is($code, 200, "$name worker ($pid): a valid token is accepted within 5 s");
        ($code) = ask($s, '/p/index.html', $UNKNOWN_KID) if $code;
        Test::More::is($code, 401, "$name worker ($pid): a token with an unknown kid is refused within 5 s");
        my $body;
        ($code, $body) = ask($s, '/status') if $code;
        Test::More::is($code, 200, "$name worker ($pid): the status page answers within 5 s");
        Test::More::like($body // '', qr/"requests":\{"ok":\d+.*"key_sources":\[\{/,
            "$name worker ($pid): the status page lists the key source");
    }
    close $_ for values %$c, values %$r;
}

run_tests();

__DATA__

=== TEST 1: a worker killed while it holds the lock to take a fetch lease (an unknown kid's refetch): both workers go on
--- between_0
main::killed_holding_lock($block, where => 'may_force', warm => 'both', trigger => $main::UNKNOWN_KID);



=== TEST 2: a worker killed while it holds the lock to copy the published JWKS: both workers go on
--- between_0
main::killed_holding_lock($block, where => 'body_of', warm => 'other', trigger => $main::VALID);
