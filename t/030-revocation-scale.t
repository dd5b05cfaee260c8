# The revocation journal at scale (issue 21, point 2): a long journal of adds and removals
# loads with only its net list; a change on it is compacted in the background (a new file
# renamed over the journal, never partial) without losing an entry or bringing a removed one
# back; a change after the compaction is enforced by the other worker. Its own daemonized
# NGINX on $TEST_NGINX_PORT (as t/031), so it runs the same under both runners.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} or plan skip_all => 'no build/nginx';
my $port = $ENV{TEST_NGINX_PORT} || 1984;
my $dir = File::Temp::tempdir('jwt-peer-auth-scale-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
mkdir "$dir/$_" or die "mkdir $_: $!" for qw(logs html state);
chmod 0777, "$dir/state", "$dir/logs";
JwtPeerAuth::write_file("$dir/html/index.html", "ok\n");
my $journal = "$dir/state/revocations";
my $log = "$dir/logs/error.log";

JwtPeerAuth::write_file("$dir/nginx.conf", <<"_EOC_");
load_module $ENV{TEST_NGINX_LOAD_MODULES};
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
        jwt_peer_auth_jwks_file $ENV{TEST_NGINX_JWT_KEYS}/jwks.json;
        jwt_peer_auth_revocation_check identifier;
        location /p { alias $dir/html/; }
        location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    }
}
_EOC_

# 18,000 records (about 1.3 MB): peers churn-0..99 added and removed 90 times over, the even
# ones added last; 20 kept-N added once.
my $exp = time + 7200;
my $now = time;
open(my $fh, '>', $journal) or die $!;
print $fh qq({"jwt_peer_auth_revocation":2}\n);
for my $round (1 .. 90) {
    for my $i (0 .. 99) {
        print $fh qq({"op":"add","name":"identifier","value":"churn-$i","expires":$exp}\n);
        print $fh qq({"op":"del","name":"identifier","value":"churn-$i","at":$now}\n) unless $round == 90 && $i % 2 == 0;
    }
}
print $fh qq({"op":"add","name":"identifier","value":"kept-$_","expires":$exp}\n) for 1 .. 20;
close $fh;
chmod 0666, $journal;
my $size = -s $journal;
ok($size > 1 << 20, "a journal of $size bytes");

sub req {
    my ($method, $path, %o) = @_;
    my ($code, $body, $head) = JwtPeerAuth::http_request($port, $method, $path, %o);
    my ($pid) = ($head // '') =~ /^X-Pid: (\d+)/mi;
    return ($code, $body, $pid // 0);
}
sub wait_for (&$) {
    my ($cond, $what) = @_;
    for (1 .. 500) { return 1 if $cond->(); select(undef, undef, undef, 0.02) }
    die "timed out waiting for $what\n";
}
my %tokens;
sub codes {
    my ($value) = @_;
    $tokens{$value} //= JwtPeerAuth::bearer_claims(identifier => $value);
    my %c;
    for (1 .. 6) { my ($code, undef, $pid) = req('GET', '/p/index.html', headers => [$tokens{$value}]); $c{$code}++ }
    return join(',', sort keys %c);
}
sub listed {
    my ($code, $body) = req('GET', '/revocations');
    return { map { $_ => 1 } $body =~ /"value":"([^"]+)"/g };
}
sub master { open(my $f, '<', "$dir/logs/nginx.pid") or return 0; my $p = <$f>; chomp $p; $p }
END {
    if (my $p = master()) { kill 'QUIT', $p; for (1 .. 250) { last unless kill 0, $p; select(undef, undef, undef, 0.02) } }
}

system($nginx, '-p', $dir, '-c', "$dir/nginx.conf") == 0 or die "nginx did not start\n";
wait_for { (req('GET', '/revocations'))[0] == 200 } 'nginx';

my $want = join(',', (map { "churn-$_" } grep { $_ % 2 == 0 } 0 .. 99), map { "kept-$_" } 1 .. 20);
is(join(',', sort { $a cmp $b } keys %{ listed() }), join(',', sort { $a cmp $b } split /,/, $want),
    'the net list of the journal is loaded');
is(codes('churn-2'), '401', 'an entry added last is enforced');
is(codes('churn-3'), '200', 'an entry removed last is not');

my ($code) = JwtPeerAuth::http_request($port, 'POST', '/revocations', headers => ['Content-Type: application/json'],
    body => '{"name":"identifier","value":"trigger"}');
is($code, 201, 'a change');
# The next look at the journal (within 200 ms, at a request) finds it long for its list and
# compacts it in a thread.
wait_for { codes('kept-1'); -s $journal < $size / 4 } 'the compaction';
my $text = JwtPeerAuth::slurp($journal);
like($text, qr/\A\{"jwt_peer_auth_revocation":2\}\n/, 'the compacted journal has its header');
my $adds = () = $text =~ /"op":"add"/g;
is($adds, 71, 'one add per listed entry');
select(undef, undef, undef, 0.5);
is(codes('trigger'), '401', 'the change before the compaction is enforced');
is(codes('churn-3'), '200', 'a removal stays removed');
is(codes('kept-7'), '401', 'an entry stays listed');
($code, undef, my $pid) = req('POST', '/revocations', headers => ['Content-Type: application/json'],
    body => '{"name":"identifier","value":"after-compaction"}');
is($code, 201, 'a change after the compaction');
my $other = '';
for (1 .. 60) {
    my ($c, undef, $p) = req('GET', '/p/index.html', headers => [$tokens{'after-compaction'} //= JwtPeerAuth::bearer_claims(identifier => 'after-compaction')]);
    if ($p && $p != $pid) { $other = $c; last }
}
is($other, 401, 'enforced by the other worker');
ok(listed()->{'after-compaction'}, 'and listed');
is(() = JwtPeerAuth::slurp($log) =~ /exited on signal|\[alert\]|damaged/g, 0, 'no crash, no damage');
done_testing();
