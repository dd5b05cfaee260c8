# A revocation accepted by any worker is enforced by all, across a binary upgrade (issue 21,
# point 3), and a damaged journal never crashes a worker nor loses the records before the
# damage. NGINX ignores USR2 with "daemon off": this file runs its own daemonized master
# (build/nginx, the module) on $TEST_NGINX_PORT, outside Test::Nginx::Socket, so it runs the
# same under t/lib's runner and OpenResty's (TEST_NGINX_USE_HUP changes nothing here).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} or plan skip_all => 'no build/nginx';
my $module = $ENV{TEST_NGINX_LOAD_MODULES};
my $port = $ENV{TEST_NGINX_PORT} || 1984;
my $dir = File::Temp::tempdir('jwt-peer-auth-upg-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{KEEP});
chmod 0755, $dir;
mkdir "$dir/$_" or die "mkdir $_: $!" for qw(logs html state);
chmod 0777, "$dir/state", "$dir/logs";
JwtPeerAuth::write_file("$dir/html/index.html", "ok\n");
my $journal = "$dir/state/revocations";
my $log = "$dir/logs/error.log";
my $keys = $ENV{TEST_NGINX_JWT_KEYS};

JwtPeerAuth::write_file("$dir/nginx.conf", <<"_EOC_");
load_module $module;
worker_processes 2;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 128; }
http {
    access_log off;
    jwt_peer_auth_revocation zone=rev:4m state=$journal;
    server {
        listen 127.0.0.1:$port;
        add_header X-Pid \$pid always;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $keys/jwks.json;
        jwt_peer_auth_revocation_check identifier;
        location /p { alias $dir/html/; }
        location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    }
}
_EOC_

sub master_pid {
    my ($file) = @_;
    open(my $fh, '<', $file) or return 0;
    my $p = <$fh> // 0;
    chomp $p;
    return $p + 0;
}

sub wait_for (&$) {
    my ($cond, $what) = @_;
    for (1 .. 300) {
        return 1 if $cond->();
        select(undef, undef, undef, 0.02);
    }
    die "timed out waiting for $what\n";
}

sub log_count {
    my ($re) = @_;
    my $text = -e $log ? JwtPeerAuth::slurp($log) : '';
    my $n = () = $text =~ /$re/g;
    return $n;
}

sub req {
    my ($method, $path, %o) = @_;
    my ($code, $body, $head) = JwtPeerAuth::http_request($port, $method, $path, %o);
    my ($pid) = ($head // '') =~ /^X-Pid: (\d+)/mi;
    return ($code, $body, $pid // 0);
}

sub post {
    my ($value) = @_;
    return req('POST', '/revocations', headers => ['Content-Type: application/json'],
        body => qq({"name":"identifier","value":"$value","ttl":"2h"}));
}

sub del { return req('DELETE', "/revocations?name=identifier&value=$_[0]") }

my %tokens;
sub peer {
    my ($value) = @_;
    $tokens{$value} //= JwtPeerAuth::bearer_claims(identifier => $value);
    my ($code, undef, $pid) = req('GET', '/p/index.html', headers => [$tokens{$value}]);
    return ($code, $pid);
}

# The status of a token of $value from every worker that answers within 20 tries: (codes by
# pid).
sub peer_everywhere {
    my ($value, $want_pids) = @_;
    my %seen;
    for (1 .. 30) {
        my ($code, $pid) = peer($value);
        $seen{$pid}{$code}++;
        last if keys %seen >= $want_pids && $_ >= 4;
    }
    return \%seen;
}

sub listed {
    my ($code, $body) = req('GET', '/revocations');
    $code == 200 or die "GET /revocations: $code $body";
    my %l = map { $_ => 1 } $body =~ /"value":"([^"]+)"/g;
    return \%l;
}

sub start {
    # -e: the lines NGINX logs while it reads the configuration (a damaged journal's [warn])
    # go to the test's log too, whatever error log path the binary was built with (Debian's:
    # /var/log/nginx/error.log).
    system($nginx, '-p', $dir, '-e', $log, '-c', "$dir/nginx.conf") == 0 or die "nginx did not start\n";
    wait_for { my ($c) = req('GET', '/revocations'); $c == 200 } 'nginx to answer';
}

sub stop {
    my $pid = master_pid("$dir/logs/nginx.pid") or return;
    kill 'QUIT', $pid;
    wait_for { !kill(0, $pid) } 'the master to quit';
}

END { stop() if $dir && -e "$dir/logs/nginx.pid" }

start();

# --- Two workers: a POST to one is enforced by the other within a second.
{
    my ($code, undef, $pid) = post('two-w');
    is($code, 201, 'POST answered 201');
    my $other_refused = 0;
    for (1 .. 50) {
        my ($c, $p) = peer('two-w');
        if ($p && $p != $pid) { $other_refused = ($c == 401); last }
    }
    ok($other_refused, 'the other worker refuses the revoked peer at once');
}

# --- A binary upgrade: changes served by both generations are enforced and listed by the new
# one after the old master quits, and kept by a reload.
my %want;    # value => 1 listed, 0 removed
for my $v (map { "pre-$_" } 1 .. 4) {
    my ($code) = post($v);
    is($code, 201, "POST $v before the upgrade");
    $want{$v} = 1;
}
my $old_master = master_pid("$dir/logs/nginx.pid");
my $old_workers = log_count(qr/start worker process/);
kill 'USR2', $old_master or die "USR2: $!";
wait_for { -e "$dir/logs/nginx.pid.oldbin" && master_pid("$dir/logs/nginx.pid") != $old_master } 'the new master';
wait_for { log_count(qr/start worker process/) >= $old_workers + 2 } 'the new workers';
my $new_master = master_pid("$dir/logs/nginx.pid");

my (%gen, %codes);
sub generation {
    my ($pid) = @_;
    return $gen{$pid} //= do {
        open(my $fh, '<', "/proc/$pid/stat") or return 'gone';
        my @f = split ' ', <$fh>;
        $f[3] == $old_master ? 'old' : $f[3] == $new_master ? 'new' : 'other';
    };
}
my %served;
my $n = 0;
for my $round (1 .. 12) {
    for my $i (1 .. 8) {
        $n++;
        my $v = "u-$n";
        my ($code, undef, $pid) = post($v);
        $codes{"POST $code"}++;
        $served{ generation($pid) }++;
        $want{$v} = 1 if $code == 201;
        # Remove every third entry, and one of those listed before the upgrade now and then.
        my $d = $n % 3 == 0 ? "u-" . ($n - 1) : $n % 11 == 0 ? "pre-" . (1 + $n % 4) : undef;
        next unless defined $d && $want{$d};
        my ($dc, undef, $dp) = del($d);
        $codes{"DELETE $dc"}++;
        $served{ generation($dp) }++;
        $want{$d} = 0 if $dc == 200;
    }
    last if ($served{old} // 0) >= 6 && ($served{new} // 0) >= 6 && $round >= 4;
}
diag('changes served: ' . join(', ', map { "$_ $served{$_}" } sort keys %served)
    . '; answers: ' . join(', ', map { "$_ x$codes{$_}" } sort keys %codes));
ok(($served{old} // 0) > 0 && ($served{new} // 0) > 0, 'both generations served changes');
is(join(',', grep { !/^(POST 201|DELETE 200)$/ } keys %codes), '', 'every change answered 201/200');

kill 'WINCH', $old_master;
kill 'QUIT', $old_master;
wait_for { !kill(0, $old_master) } 'the old master to quit';
select(undef, undef, undef, 1.0);

sub check_all {
    my ($when) = @_;
    my $l = listed();
    my @lost = grep { $want{$_} && !$l->{$_} } sort keys %want;
    my @back = grep { !$want{$_} && $l->{$_} } sort keys %want;
    is("@lost", '', "$when: every entry answered 201 is listed");
    is("@back", '', "$when: every entry removed with 200 stays removed");
    my (@admitted, @refused);
    for my $v (sort keys %want) {
        my $seen = peer_everywhere($v, 2);
        my @codes = map { keys %{ $seen->{$_} } } keys %$seen;
        if ($want{$v}) { push @admitted, $v if grep { $_ != 401 } @codes }
        else           { push @refused, $v if grep { $_ != 200 } @codes }
    }
    is("@admitted", '', "$when: every worker refuses every revoked peer");
    is("@refused", '', "$when: every worker admits every peer removed");
}
check_all('after the upgrade');

my $before = log_count(qr/start worker process/);
kill 'HUP', $new_master or die "HUP: $!";
wait_for { log_count(qr/start worker process/) >= $before + 2 } 'the reloaded workers';
select(undef, undef, undef, 0.5);
check_all('after a reload');

# --- A restart: the journal brings everything back.
stop();
start();
check_all('after a restart');

# --- A damaged journal: reported, never a crash, the records before (and after) the damage
# still count.
sub append_raw {
    open(my $fh, '>>', $journal) or die "open $journal: $!";
    print $fh $_[0];
    close $fh;
}
my $damaged = log_count(qr/damaged state file/);
append_raw(qq({"op":"add","name":"identifier","value":"x-garbage"}garbage\n));
append_raw('y' x 5000 . "\n");
append_raw(qq({"op":"add","name":"identifier","value":"after-damage","expires":) . (time + 3600) . "}\n");
select(undef, undef, undef, 1.0);
my $seen = peer_everywhere('after-damage', 2);
my %c = map { %{ $seen->{$_} } } keys %$seen;
is(join(',', sort keys %c), '401', 'a record after damaged lines is enforced within a second');
ok(log_count(qr/\[error\].*damaged state file ".*revocations" at byte \d+/) >= $damaged + 2, 'the damaged lines are reported');
# A truncated last record (a torn append): the next change still lands as a record of its own.
append_raw(qq({"op":"add","name":"identifier","value":"torn","exp));
my ($code) = post('after-torn');
is($code, 201, 'a change after a torn record');
select(undef, undef, undef, 0.5);
ok(listed()->{'after-torn'}, 'listed');
is((peer('after-torn'))[0], 401, 'and enforced');
stop();
my $warned = log_count(qr/\[warn\].*damaged state file/);
start();
ok(log_count(qr/\[warn\].*damaged state file/) > $warned, 'a start with a damaged journal warns');
$want{'after-damage'} = 1;
$want{'after-torn'} = 1;
check_all('after a restart with a damaged journal');

# The journal replaced by another file: ignored (the zone keeps its list), reported; a change
# answers 500 and changes nothing.
rename $journal, "$journal.good" or die $!;
JwtPeerAuth::write_file($journal, "this is not a journal\n");
chmod 0666, $journal;
select(undef, undef, undef, 0.5);
is((peer('pre-3'))[0], $want{'pre-3'} ? 401 : 200, 'the zone keeps its list');
my ($c500, $b500) = post('into-foreign');
is($c500, 500, 'a change into a foreign file: 500');
like($b500, qr/not a revocation journal/, 'saying why');
is((peer('into-foreign'))[0], 200, 'and nothing changed');
ok(log_count(qr/\[error\].*"\Q$journal\E" is not a revocation journal/) >= 1, 'the foreign file is reported');

# No permission to the journal: 500, nothing changed, the zone keeps its list.
rename "$journal.good", $journal or die $!;
select(undef, undef, undef, 0.5);
my $u = getpwnam('nobody');
if ($> == 0 && defined $u) {
    chmod 0600, $journal;
    chown 0, 0, $journal;
    my ($cp) = post('no-permission');
    is($cp, 500, 'a journal the workers cannot write: 500');
    is((peer('no-permission'))[0], 200, 'nothing changed');
    is((peer('after-torn'))[0], 401, 'the list is kept');
    chmod 0666, $journal;
}

is(log_count(qr/exited on signal|\[alert\]/), 0, 'no worker crashed');
done_testing();
