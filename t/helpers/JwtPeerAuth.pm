# Test helper for jwt_peer_auth's t/*.t files: finds the built NGINX and module, makes test keys
# once per run (with build/jwt-mint) and mints tokens at test time.
#
# Load it before Test::Nginx::Socket, which reads TEST_NGINX_BINARY when it loads:
#   use FindBin; use lib "$FindBin::Bin/helpers"; use JwtPeerAuth;
#   use Test::Nginx::Socket 'no_plan';
# In blocks: --- more_headers eval
#            JwtPeerAuth::bearer('rsa', '--exp', '-60')
package JwtPeerAuth;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $MINT = $ENV{JWT_MINT} || "$ROOT/build/jwt-mint";
our $KEYS = $ENV{TEST_NGINX_JWT_KEYS} || "$ROOT/t/keys.tmp";

$ENV{TEST_NGINX_BINARY} ||= "$ROOT/build/nginx" if -x "$ROOT/build/nginx";
$ENV{TEST_NGINX_LOAD_MODULES} ||= "$ROOT/build/ngx_http_jwt_peer_auth_module.so";
$ENV{TEST_NGINX_JWT_KEYS} = $KEYS;
$ENV{TEST_NGINX_REPO} = $ROOT;

-x $MINT or die "$MINT not found: run scripts/build.sh first\n";
if (!-f "$KEYS/jwks.json") {
    system($MINT, 'keygen', $KEYS) == 0 or die "jwt-mint keygen failed\n";
    # Workers may run as another user; they never read keys, but keep the tree readable.
    chmod 0755, $KEYS;
}

# A token signed with test key $key ('rsa', 'rsa2', 'ec', 'ed', 'oct'); @opts as jwt-mint sign.
sub token {
    my ($key, @opts) = @_;
    open(my $fh, '-|', $MINT, 'sign', $KEYS, $key, @opts) or die "cannot run $MINT: $!";
    my $t = do { local $/; <$fh> };
    close($fh) or die "jwt-mint sign $key @opts failed\n";
    chomp $t;
    return $t;
}

# "Authorization: Bearer <token>", for --- more_headers eval.
sub bearer {
    return 'Authorization: Bearer ' . token(@_);
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub write_file {
    my ($path, $content) = @_;
    open(my $fh, '>', "$path.tmp") or die "$path.tmp: $!";
    print $fh $content;
    close($fh) or die "$path.tmp: $!";
    rename("$path.tmp", $path) or die "rename $path: $!";
    chmod 0644, $path;
}

# A JWKS (JSON text) with the test keys whose kids are given, e.g. jwks('rsa', 'ec'); 'rsa2'
# is the second RSA key (not in the default jwks.json).
sub jwks {
    my @kids = @_;
    require JSON::PP;
    my %all = map { $_->{kid} => $_ } @{ JSON::PP::decode_json(slurp("$KEYS/jwks.json"))->{keys} };
    $all{rsa2} = JSON::PP::decode_json(slurp("$KEYS/rsa2.jwk.json"));
    return JSON::PP->new->canonical->encode({ keys => [ map { $all{$_} // die "no key $_" } @kids ] });
}

# A large JWKS: the given keys plus $n copies of rsa2 under other kids (rotation history).
sub big_jwks {
    my ($n, @kids) = @_;
    require JSON::PP;
    my $doc = JSON::PP::decode_json(jwks(@kids));
    my $extra = JSON::PP::decode_json(slurp("$KEYS/rsa2.jwk.json"));
    for my $i (1 .. $n) {
        push @{ $doc->{keys} }, { %$extra, kid => sprintf('old-%04d', $i), x5t => 'x' x 27 };
    }
    return JSON::PP->new->canonical->encode($doc);
}

# Error-log lines since mark_log() matching $re, for counting fetches within one block.
my ($log_file, $log_mark) = ('', 0);
sub mark_log {
    ($log_file) = @_;
    $log_mark = -s $log_file || 0;
}
sub log_count {
    my ($re) = @_;
    open(my $fh, '<', $log_file) or die "$log_file: $!";
    seek($fh, $log_mark, 0);
    my $n = grep { $_ =~ $re } <$fh>;
    return $n;
}

# Sends $n requests for $path at once (all written before any answer is read) and returns
# their status codes. Loopback only; bounded by $timeout seconds.
sub parallel_get {
    my ($port, $path, $n, $header, $timeout) = @_;
    require IO::Socket::INET;
    require IO::Select;
    $timeout //= 10;
    my @socks;
    for (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => $timeout)
            or die "connect: $!";
        print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n" . ($header ? "$header\r\n" : '') . "\r\n";
        push @socks, $s;
    }
    my @codes;
    for my $s (@socks) {
        my $sel = IO::Select->new($s);
        my $resp = '';
        my $deadline = time + $timeout;
        while (time < $deadline && $sel->can_read($deadline - time)) {
            my $got = sysread($s, my $buf, 65536);
            last unless $got;
            $resp .= $buf;
        }
        close $s;
        push @codes, $resp =~ m{^HTTP/1\.\d (\d+)} ? $1 : 'none';
    }
    return @codes;
}

1;
