# Test helper for t/ files that need a chosen worker: keep-alive connections pinned to each
# worker of a server (its `location = /pid` answers the worker's pid; `listen ... reuseport`
# spreads new connections), and gdb stopping a worker at a breakpoint, optionally running more
# commands there, then killing it (SIGKILL), as a worker that dies at that point would.
#   use Workers;   # exports connect_to send_req read_resp ask pin_workers arm_gdb gdb_done wait_log
#                  # kill_at
# gdb comes with scripts/deps.sh; without it arm_gdb() dies (the tests fail, never skip).
package Workers;

use strict;
use warnings;
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use JwtPeerAuth;

our @EXPORT = qw(connect_to send_req read_resp ask pin_workers arm_gdb gdb_done wait_log kill_at);
our $GDB = (grep { -x } map { "$_/gdb" } split /:/, $ENV{PATH} // "")[0];

# --- keep-alive connections pinned to a worker ------------------------------------------------

sub connect_to {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $!";
    return $s;
}

# Writes one HTTP/1.1 request on keep-alive connection $s (a POST when $body is defined).
sub send_req {
    my ($s, $path, $header, $body) = @_;
    my $method = defined $body ? 'POST' : 'GET';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n" . ($header ? "$header\r\n" : '');
    $req .= "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n" if defined $body;
    $req .= "\r\n" . ($body // '');
    syswrite($s, $req) == length($req) or die "write: $!";
}

# Reads one answer (with a Content-Length) from $s within $timeout seconds. Returns
# ($status, $body); $status is 0 when no whole answer came in time or the connection closed.
sub read_resp {
    my ($s, $timeout) = @_;
    my ($buf, $sel) = ('', IO::Select->new($s));
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        if ($buf =~ /\A(HTTP\/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n)/s) {
            my ($head_len, $code, $head) = (length($1), $2, $3);
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            defined $len or die "answer without Content-Length: $buf";
            return ($code, substr($buf, $head_len, $len)) if length($buf) >= $head_len + $len;
        }
        my $left = $deadline - Time::HiRes::time();
        return (0, $buf) if $left <= 0 || !$sel->can_read($left);
        my $got = sysread($s, $buf, 65536, length $buf);
        return (0, $buf) unless $got;
    }
}

sub ask {
    my ($s, $path, $header, $body) = @_;
    send_req($s, $path, $header, $body);
    return read_resp($s, 5);
}

# Keep-alive connections to the workers whose pids are not in @not, one per worker, until
# $want of them: { pid => socket }. New connections land on a worker by the kernel's
# reuseport hash, so a bounded number of tries reaches each.
sub pin_workers {
    my ($port, $want, @not) = @_;
    my %skip = map { $_ => 1 } @not;
    my %c;
    for (1 .. 200) {
        my $s = connect_to($port);
        my ($code, $pid) = ask($s, '/pid');
        $code == 200 or die "GET /pid: status $code";
        if ($skip{$pid} || $c{$pid}) {
            close $s;
        } else {
            $c{$pid} = $s;
        }
        return \%c if keys %c == $want;
        Time::HiRes::sleep(0.01);
    }
    die "found " . scalar(keys %c) . " of $want workers after 200 connections";
}

# --- gdb -------------------------------------------------------------------------------------

# Attaches gdb to $pid with a breakpoint at $where; once it is hit, gdb runs @then (e.g.
# 'finish'), prints a backtrace and kills the process (SIGKILL). Returns (gdb's pid, its output
# file) when the breakpoint is set.
sub arm_gdb {
    my ($pid, $where, @then) = @_;
    $GDB or die "gdb not found in PATH: scripts/deps.sh installs it (this test needs it)";
    my $out = Test::Nginx::Socket::server_root() . "/logs/gdb-$pid.log";
    my @cmd = ($GDB, '-nx', '-batch', '-p', $pid,
        '-ex', 'set confirm off', '-ex', 'set pagination off',
        '-ex', 'handle all nostop noprint pass',
        '-ex', "break $where",
        '-ex', 'echo ARMED\n',
        '-ex', 'continue',
        (map { ('-ex', $_) } @then),
        '-ex', 'bt 6',
        '-ex', 'kill',
        '-ex', 'quit');
    my $gdb = fork() // die "fork: $!";
    if ($gdb == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd) or POSIX::_exit(127);
    }
    my $deadline = Time::HiRes::time() + 60;
    while (1) {
        my $log = -f $out ? JwtPeerAuth::slurp($out) : '';
        if ($log =~ /^ARMED$/m) {
            $log =~ /^Breakpoint 1 at /m or die "gdb set no breakpoint at $where:\n$log";
            return ($gdb, $out);
        }
        if (waitpid($gdb, POSIX::WNOHANG()) == $gdb) {
            die "gdb exited (status " . ($? >> 8) . ") before the breakpoint was set:\n$log";
        }
        if (Time::HiRes::time() > $deadline) {
            kill('KILL', $gdb);
            waitpid($gdb, 0);
            die "gdb did not attach to $pid within 60 s:\n$log";
        }
        Time::HiRes::sleep(0.05);
    }
}

# Waits (bounded) for gdb to report the breakpoint ($name) hit and to exit; returns its output.
sub gdb_done {
    my ($gdb, $out, $name) = @_;
    my $deadline = Time::HiRes::time() + 30;
    while (waitpid($gdb, POSIX::WNOHANG()) != $gdb) {
        if (Time::HiRes::time() > $deadline) {
            kill('INT', $gdb);
            Time::HiRes::sleep(2);
            kill('KILL', $gdb);
            waitpid($gdb, 0);
            # Interrupting `continue` runs the rest of the commands: the worker is killed anyway.
            die "the breakpoint at $name was not hit within 30 s:\n" . JwtPeerAuth::slurp($out);
        }
        Time::HiRes::sleep(0.05);
    }
    my $log = JwtPeerAuth::slurp($out);
    $log =~ /^(?:Thread \S+ )?(?:hit )?Breakpoint 1(?:\.\d+)?, .*\b\Q$name\E\b/m
        or die "gdb did not stop at $name:\n$log";
    return $log;
}

# Waits (bounded) until the error log has a line matching $re.
sub wait_log {
    my ($re, $what) = @_;
    for (1 .. 500) {
        return if JwtPeerAuth::log_count($re);
        Time::HiRes::sleep(0.02);
    }
    die "not in the error log within 10 s: $what";
}

# Stops the worker behind connection $s (pid $victim) at $where (then @then) with the request
# ($path, $header, $body), kills it there, and checks that NGINX unlocked zone $zone for it.
sub kill_at {
    my (%o) = @_;
    my ($gdb, $out) = arm_gdb($o{victim}, $o{where}, @{ $o{then} // [] });
    send_req($o{conn}, $o{path}, $o{header}, $o{body});
    my $bt = gdb_done($gdb, $out, $o{name} // $o{where});
    Test::More::note("worker $o{victim} stopped and killed by gdb at:\n$bt");
    my ($dead) = read_resp($o{conn}, 5);
    Test::More::is($dead, 0, "the victim ($o{victim}) died without answering");
    close $o{conn};
    wait_log(qr/worker process $o{victim} exited on signal 9/, "worker process $o{victim} exited on signal 9");
    my $unlocked = qr/shared memory zone "$o{zone}" was locked by $o{victim}\b/;
    for (1 .. 100) {
        last if JwtPeerAuth::log_count($unlocked);
        Time::HiRes::sleep(0.02);
    }
    Test::More::is(JwtPeerAuth::log_count($unlocked), 1, "the victim died holding zone $o{zone}'s lock");
}

1;
