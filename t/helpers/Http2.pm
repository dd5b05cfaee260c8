# HTTP/2 requests for t/*.t files, through curl (h2c with prior knowledge, loopback only).
#
# The bundled Test::Nginx runner (t/lib) has no `--- http2` section, so a test drives HTTP/2
# from Perl (a between_N hook, see JwtPeerAuth.pm) and asserts with Test::More itself:
#
#   my $r = Http2::get($port, '/p/index.html', ['Authorization: Bearer ...']);
#   Test::More::is($r->{proto}, '2', 'spoke HTTP/2');
#   Test::More::is($r->{status}, 200, ...);
#   Test::More::is($r->{headers}{'www-authenticate'}, 'Bearer realm="peers"', ...);
#
# get() returns a hash ref: status (0 when curl got no HTTP answer), proto ('2' for HTTP/2),
# headers (lower-cased names; repeated headers joined with ", "), body, and curl's exit code.
package Http2;

use strict;
use warnings;

our $CURL = $ENV{TEST_NGINX_CURL} || 'curl';

# GET http://127.0.0.1:$port$path over h2c (prior knowledge), bounded by $timeout seconds.
sub get {
    my ($port, $path, $headers, $timeout) = @_;
    $timeout //= 5;
    my @cmd = ($CURL, '-q', '--http2-prior-knowledge', '-s', '-i', '--noproxy', '*',
               '--max-time', $timeout, '--connect-timeout', $timeout);
    push @cmd, '-H', $_ for @{ $headers // [] };
    push @cmd, "http://127.0.0.1:$port$path";
    return curl(@cmd);
}

# Runs a `curl -s -i ...` command line and parses its answer into the hash get() returns
# (shared with Tls.pm).
sub curl {
    my @cmd = @_;
    open(my $fh, '-|', @cmd) or die "cannot run $cmd[0]: $!\n";
    binmode $fh;
    my $out = do { local $/; <$fh> } // '';
    close($fh);
    my $exit = $? >> 8;
    my %r = (status => 0, proto => '', headers => {}, body => '', exit => $exit, raw => $out);
    my ($head, $body) = split /\r?\n\r?\n/, $out, 2;
    return \%r unless defined $head;
    my ($status_line, @lines) = split /\r?\n/, $head;
    my ($proto, $status) = ($status_line // '') =~ m{^HTTP/(\S+) (\d{3})} or return \%r;
    @r{qw(proto status body)} = ($proto, $status, $body // '');
    for my $line (@lines) {
        my ($name, $value) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        $name = lc $name;
        $r{headers}{$name} = exists $r{headers}{$name} ? "$r{headers}{$name}, $value" : $value;
    }
    return \%r;
}

1;
