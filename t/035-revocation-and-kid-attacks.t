# Attacks on the revocation journal and on unknown-kid waits (issue 21, points 2, 3 and 5,
# reviewed as an attacker): each block is a way to lose a revocation or to hold a worker.
#
#   TEST 1: a worker that applies a run of the journal written by another zone (an older
#           generation during a binary upgrade, or a zone replaced by a reload) dies after it
#           claimed the run and before it applied it (gdb stops it at List::apply and kills it,
#           as an OOM kill or a crash in another module would). The zone's mark must not say
#           the run is applied: the other worker and the replacement must enforce the entry
#           (failed before the fix: both admitted the revoked peer for good, 2 of 3 checks;
#           now the claim of a dead worker is taken over after 1 s).
#   TEST 2: the disk is full: a POST whose record is written but for its newline (a short write,
#           then ENOSPC) answers 500 and must change nothing. The next append, once there is
#           room, must not complete the torn record into a valid line (failed before the fix:
#           the refused entry was listed and enforced after the next POST, 3 of 8 checks). The
#           state directory is a tmpfs of one page (mount: root; the block is skipped, saying
#           so, where it cannot be mounted).
#
# Requests are pinned to a worker as in t/024 and t/026. gdb is required (scripts/deps.sh).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use Workers;
use File::Temp ();
use Time::HiRes ();
use Test::Nginx::Socket 'no_plan';

JwtPeerAuth::setup(
    config => "    location = /t { return 200 \"ok\\n\"; }\n",
    request => 'GET /t',
    response_body => "ok\n",
    user_files => [["index.html" => "ok\n"]],
);

# State files outside the server root (a restart between blocks may wipe it), writable by
# the workers (possibly "nobody").
our $STATE_DIR = File::Temp::tempdir('jwt-peer-auth-rev35-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $STATE_DIR;
$ENV{TEST_NGINX_REV35_DIR} = $STATE_DIR;

our %PORT;

# TEST 2's state directory: a tmpfs of one page, mounted here (unmounted at the end).
our $FULL_DIR = "$STATE_DIR/full";
mkdir $FULL_DIR or die "mkdir: $!";
our $FULL = system('mount', '-t', 'tmpfs', '-o', 'size=4k,mode=0777', 'tmpfs', $FULL_DIR) == 0;
END { system('umount', $FULL_DIR) if $FULL; }
# The record a POST of peer-z writes (its expiry has 10 digits until 2286).
our $TORN_LEN = length(qq({"op":"add","name":"identifier","value":"peer-z","expires":) . (time() + 3600) . "}\n");
if ($FULL) {
    # The journal fills the page but for the record's length less one byte: the record's
    # newline is what does not fit.
    my $head = qq({"jwt_peer_auth_revocation":2}\n);
    my $pad = 4096 - ($TORN_LEN - 1) - length($head) - 1;
    JwtPeerAuth::write_file("$FULL_DIR/state2", $head . (' ' x $pad) . "\n");
    chmod 0666, "$FULL_DIR/state2";
}

add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $port = $PORT{$n} //= JwtPeerAuth::free_port();
    if (defined(my $http = $block->http_config)) {
        $http =~ s/\@PORT\@/$port/g;
        $http =~ s/\@REV\@/rev_r$n/g;
        $http =~ s/\@STATE\@/$STATE_DIR\/state$n/g;
        $http =~ s/\@FULL\@/$FULL_DIR\/state$n/g;
        $block->set_value('http_config', $http);
    }
});

our $RSA = JwtPeerAuth::bearer_claims(identifier => 'peer-a');

# Appends $text to the journal of block $n as another process (another zone's worker) would:
# one write.
sub append_journal {
    my ($n, $text) = @_;
    open(my $fh, '>>', "$STATE_DIR/state$n") or die "open: $!";
    syswrite($fh, $text) == length($text) or die "write: $!";
    close $fh;
}

# The module's symbol whose mangled name has $part (Rust's demangled paths are not always
# found by gdb's "break"; the hash suffix changes with each build).
sub symbol {
    my ($part) = @_;
    my $so = $ENV{TEST_NGINX_LOAD_MODULES};
    my @syms = grep { /\Q$part\E/ } map { (split ' ')[2] // () } `nm '$so'`;
    @syms == 1 or die "symbol $part in $so: " . scalar(@syms) . " found";
    return $syms[0];
}

# TEST 1.
sub death_between_claim_and_apply {
    my ($block) = @_;
    my $n = $block->seq_num;
    my $port = $PORT{$n};
    my $c = pin_workers($port, 2);
    my ($victim, $other) = sort { $a <=> $b } keys %$c;
    for my $w ($other, $victim) {
        my ($code) = ask($c->{$w}, '/p/index.html', $RSA);
        $code == 200 or die "before the revocation ($w): status $code";
    }
    # Another zone (an old generation's worker) revokes peer-a: its record in the journal.
    my $exp = time() + 3600;
    append_journal($n, qq({"jwt_peer_auth_revocation":2}\n)
        . qq({"op":"add","name":"identifier","value":"peer-a","expires":$exp}\n));
    Time::HiRes::sleep(0.3);
    # The victim follows the journal at its next check, claims the run and dies before applying it.
    my ($gdb, $out) = arm_gdb($victim, "'" . symbol('10revocation4list4List5apply') . "'");
    send_req($c->{$victim}, '/p/index.html', $RSA);
    # (The stop line names the first inlined frame: the iteration over the run's nets.)
    my $bt = gdb_done($gdb, $out, 'jwt_peer_auth_core::journal::Net');
    Test::More::note("worker $victim stopped and killed by gdb at:\n$bt");
    my ($dead) = read_resp($c->{$victim}, 5);
    Test::More::is($dead, 0, "the victim ($victim) died without answering");
    close $c->{$victim};
    wait_log(qr/worker process $victim exited on signal 9/, "worker process $victim exited on signal 9");
    Time::HiRes::sleep(0.3);
    my $r = pin_workers($port, 1, $victim, $other);
    my ($replacement) = keys %$r;
    for my $w ([other => $other, $c->{$other}], [replacement => $replacement, $r->{$replacement}]) {
        my ($name, $pid, $s) = @$w;
        # The dead worker's claim is taken over after 1 s (CLAIM_STALE_MS); the workers look
        # at the journal every 200 ms: within 2.5 s, bounded.
        my $code;
        for (1 .. 25) {
            ($code) = ask($s, '/p/index.html', $RSA);
            last if $code == 401;
            Time::HiRes::sleep(0.1);
        }
        Test::More::is($code, 401, "$name worker ($pid): the entry of the journal is enforced within 2.5 s");
    }
    close $_ for values %$c, values %$r;
}

# TEST 2.
sub torn_record_on_a_full_disk {
    my ($block) = @_;
    my $port = $PORT{$block->seq_num};
    SKIP: {
        Test::More::skip('cannot mount a tmpfs (not root, or no CAP_SYS_ADMIN)', 8) unless $FULL;
        my $s = Workers::connect_to($port);
        my $z = JwtPeerAuth::bearer_claims(identifier => 'peer-z');
        my ($code, $body) = ask($s, '/revocations', undef, '{"name":"identifier","value":"peer-z"}');
        Test::More::is($code, 500, 'the disk is full: the POST answers 500');
        Test::More::like($body, qr/No space left on device/, 'and says why');
        Test::More::is(-s "$FULL_DIR/state2", 4096, 'the record is in the file but for its newline (a short write)');
        ($code, $body) = ask($s, '/revocations');
        Test::More::unlike($body, qr/peer-z/, 'the refused entry is not listed');
        system('mount', '-o', 'remount,size=64k', $FULL_DIR) == 0 or die "remount: $?";
        ($code) = ask($s, '/revocations', undef, '{"name":"identifier","value":"peer-y"}');
        Test::More::is($code, 201, 'with room again, the next POST is served');
        ($code, $body) = ask($s, '/revocations');
        Test::More::unlike($body, qr/peer-z/, 'the refused entry is still not listed');
        Time::HiRes::sleep(0.3);
        ($code) = ask($s, '/p/index.html', $z);
        Test::More::is($code, 200, 'nor enforced');
        Test::More::ok(JwtPeerAuth::log_count(qr/damaged state file "\Q$FULL_DIR\E\/state2" at byte \d+: .*the line is skipped/),
                       'the torn line is reported as damaged and skipped');
        close $s;
    }
}

run_tests();

__DATA__

=== TEST 1: a worker killed after it claimed a run of the journal and before it applied it: the run is still applied
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=@STATE@;
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
main::death_between_claim_and_apply($block);



=== TEST 2: a full disk: a POST answers 500 and changes nothing, also after the next append
--- http_config
    jwt_peer_auth_revocation zone=@REV@:1m state=@FULL@;
    server {
        listen 127.0.0.1:@PORT@;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        jwt_peer_auth_revocation_check identifier;
        location /p { alias $TEST_NGINX_HTML_DIR/; }
        location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    }
--- between_0
main::torn_record_on_a_full_disk($block);
