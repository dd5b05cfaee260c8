# Test helpers for t/012-key-sources.t: HTTP exchanges with chosen headers on one keep-alive
# connection, clients that send a request and hang up, and counting the key service's
# access-log lines. Loopback only; every wait is bounded.
package KeyService;

use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes ();

# Reads one HTTP response from $s (Content-Length, chunked, or until EOF) before $deadline.
# Returns { status => N (0 if none), headers => text, body => text }.
sub read_response {
    my ($s, $deadline) = @_;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $more = sub {
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $got = sysread($s, my $chunk, 65536);
        return 0 unless $got;
        $buf .= $chunk;
        return 1;
    };
    while (index($buf, "\r\n\r\n") < 0) {
        $more->() or return { status => 0, headers => $buf, body => '' };
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})} or return { status => 0, headers => $head, body => '' };
    $buf = $rest;
    my $body;
    if ($head =~ /^Content-Length:\s*(\d+)/mi) {
        my $len = $1;
        while (length($buf) < $len) { $more->() or last }
        $body = substr($buf, 0, $len);
    } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        $body = '';
        while (1) {
            while ($buf !~ /\r\n/) { $more->() or last }
            my ($size) = $buf =~ /^([0-9a-fA-F]+)/ or last;
            $size = hex $size;
            my $start = index($buf, "\r\n") + 2;
            while (length($buf) < $start + $size + 2) { $more->() or last }
            last if $size == 0;
            $body .= substr($buf, $start, $size);
            $buf = substr($buf, $start + $size + 2);
        }
    } else {
        1 while $more->();
        $body = $buf;
    }
    return { status => $status, headers => $head, body => $body };
}

# Sends the requests [$path, @header_lines] one after the other on ONE keep-alive connection
# to 127.0.0.1:$port (so one worker answers them all), each answer read completely before the
# next is sent; closes the connection as soon as the last answer is in. Returns one hash per
# request (see read_response) with `secs`, the time that answer took. A request's own `Host:`
# line replaces the default `Host: localhost`.
sub session {
    my ($port, $requests, $timeout) = @_;
    $timeout //= 5;
    my $deadline = Time::HiRes::time() + $timeout;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => $timeout) or die "connect 127.0.0.1:$port: $!";
    my @out;
    for my $req (@$requests) {
        my ($path, @headers) = @$req;
        my $t0 = Time::HiRes::time();
        my @host = (grep { /^Host:/i } @headers) ? () : ('Host: localhost');
        print $s join("\r\n", "GET $path HTTP/1.1", @host, @headers, '', '');
        my $resp = read_response($s, $deadline);
        $resp->{secs} = Time::HiRes::time() - $t0;
        push @out, $resp;
        last unless $resp->{status};
    }
    close $s;
    return @out;
}

# $n clients, spread over about $spread seconds, each connecting, sending GET $path with the
# header lines @headers and closing the connection at once without reading anything.
sub hang_up_clients {
    my ($port, $path, $n, $spread, @headers) = @_;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                      Timeout => 2) or die "connect 127.0.0.1:$port: $!";
        print $s join("\r\n", "GET $path HTTP/1.1", 'Host: localhost', @headers, '', '');
        close $s;
        Time::HiRes::sleep($spread / $n) if $i < $n;
    }
}

# Lines of the file $path (0 when it does not exist) matching $re.
sub lines {
    my ($path, $re) = @_;
    open(my $fh, '<', $path) or return 0;
    $re //= qr/./;
    return scalar grep { $_ =~ $re } <$fh>;
}

# Lines of $path matching $re once at least $n of them are there (polls for at most 5 s):
# NGINX writes an access-log line in the log phase, after the answer has gone out, so the module
# can have its keys (and the client its answer) a moment before the key service's line is
# written. For counts that must have reached $n; a count past $n shows too.
sub lines_at_least {
    my ($path, $re, $n) = @_;
    wait_until(5, sub { lines($path, $re) >= $n });
    return lines($path, $re);
}

# Requests for $uri in the key service's access log (format "keysvc": "$msec $request_time
# $status $request_uri") that STARTED no later than the epoch time $until (log time minus duration).
sub started_before {
    my ($path, $uri, $until) = @_;
    open(my $fh, '<', $path) or return 0;
    my $n = 0;
    while (<$fh>) {
        my ($msec, $rt, undef, $u) = split ' ';
        $n++ if defined $u && $u eq $uri && $msec - $rt <= $until;
    }
    return $n;
}

# Polls $cond every 50 ms for at most $timeout seconds; returns whether it became true.
sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        return 1 if $cond->();
        return 0 if Time::HiRes::time() >= $deadline;
        Time::HiRes::sleep(0.05);
    }
}

# --- concurrent clients (t/032-key-rotation.t) ------------------------------------------------

# Runs $code in a child process and returns its pid. The child leaves with POSIX::_exit, so the
# runner's END blocks (Test::More's plan, stopping NGINX) never run in it.
sub spawn {
    my ($code) = @_;
    require POSIX;
    my $pid = fork() // die "fork: $!";
    return $pid if $pid;
    my $ok = eval { $code->(); 1 };
    print STDERR "child $$: $@" unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}

# Waits at most $timeout seconds for the child processes @pids; kills those still running
# (SIGKILL) and reaps them. Returns how many had to be killed.
sub reap {
    my ($timeout, @pids) = @_;
    require POSIX;
    my %left = map { $_ => 1 } @pids;
    my $deadline = Time::HiRes::time() + $timeout;
    while (%left && Time::HiRes::time() < $deadline) {
        for my $pid (keys %left) {
            delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) != 0;
        }
        Time::HiRes::sleep(0.02) if %left;
    }
    for my $pid (keys %left) {
        kill('KILL', $pid);
        waitpid($pid, 0);
    }
    return scalar keys %left;
}

# A client: until the epoch time $until and at most $max times, sends GET $path on a new
# connection to 127.0.0.1:$port with the header line that $pick->(now) returns (with a label
# for the record), at most one request per $every seconds, each answered before the next.
# Appends one line per request to the file $out: "sent answered status label".
sub client_loop {
    my ($port, $path, $until, $every, $max, $pick, $out) = @_;
    open(my $fh, '>>', $out) or die "$out: $!";
    $fh->autoflush(1);
    for (1 .. $max) {
        my $t0 = Time::HiRes::time();
        last if $t0 >= $until;
        my ($label, $header) = $pick->($t0);
        my ($r) = session($port, [[$path, $header, 'Connection: close']], 5);
        printf $fh "%.3f %.3f %d %s\n", $t0, Time::HiRes::time(), $r ? $r->{status} : 0, $label;
        my $pause = $t0 + $every - Time::HiRes::time();
        Time::HiRes::sleep($pause) if $pause > 0;
    }
    close $fh;
}

# The records written by client_loop into the files @files, as hashes {sent, answered, status,
# label}, in the order they were sent.
sub records {
    my @out;
    for my $file (@_) {
        open(my $fh, '<', $file) or next;
        while (<$fh>) {
            my ($sent, $answered, $status, $label) = split ' ';
            push @out, { sent => $sent, answered => $answered, status => $status, label => $label }
                if defined $label;
        }
    }
    return sort { $a->{sent} <=> $b->{sent} } @out;
}

# $n requests GET $path, each on its own connection to 127.0.0.1:$port, all sent before any
# answer is read; $header->($i) gives request $i's header line. Returns one hash per request
# {status (0: none), secs (from the last request sent to its answer)}, all within $timeout.
sub burst {
    my ($port, $path, $n, $header, $timeout) = @_;
    my @socks;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                      Timeout => 2) or die "connect 127.0.0.1:$port: $!";
        print $s join("\r\n", "GET $path HTTP/1.1", 'Host: localhost', $header->($i), 'Connection: close', '', '');
        push @socks, $s;
    }
    my $t0 = Time::HiRes::time();
    my $deadline = $t0 + $timeout;
    my %buf;
    my %done;
    my @out = map { { status => 0, secs => undef } } @socks;
    my $sel = IO::Select->new(@socks);
    my %index = map { ("$socks[$_]" => $_) } 0 .. $#socks;
    while ($sel->count && (my $left = $deadline - Time::HiRes::time()) > 0) {
        for my $s ($sel->can_read($left)) {
            my $i = $index{"$s"};
            my $got = sysread($s, my $chunk, 65536);
            $buf{$i} .= $chunk if $got;
            if (!$got) {
                my ($status) = ($buf{$i} // '') =~ m{^HTTP/1\.\d (\d{3})};
                $out[$i] = { status => $status // 0, secs => Time::HiRes::time() - $t0 };
                $sel->remove($s);
                close $s;
            }
        }
    }
    close $_ for $sel->handles;
    return @out;
}

# A copy of the JWT $token whose header names kid $kid (alg $alg, RS256 if not given). The
# signature stays the original token's: it verifies under no key with that kid.
sub with_kid {
    my ($token, $kid, $alg) = @_;
    require MIME::Base64;
    my (undef, $payload, $sig) = split /\./, $token;
    my $h = MIME::Base64::encode_base64url(sprintf('{"alg":"%s","kid":"%s","typ":"JWT"}', $alg // 'RS256', $kid));
    return "$h.$payload.$sig";
}

1;
