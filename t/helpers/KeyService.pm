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

1;
