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

1;
