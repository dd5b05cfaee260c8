# TLS for t/*.t files: a test CA, two client certificates and a server certificate (made once
# per run with openssl, like t/keys.tmp), and HTTPS requests through curl (loopback only).
#
# Load it after JwtPeerAuth (it only needs openssl and curl):
#   use FindBin; use lib "$FindBin::Bin/helpers"; use JwtPeerAuth; use Tls;
#
# Files in $Tls::DIR (t/tls.tmp, or $TEST_NGINX_TLS_DIR; exported as TEST_NGINX_TLS_DIR so
# configurations can say $TEST_NGINX_TLS_DIR/server.pem):
#   ca.pem                      the test CA (ssl_client_certificate, curl --cacert)
#   server.pem, server.key      for 127.0.0.1 and localhost, signed by the CA
#   peer-a.pem, peer-a.key      client certificates (CN=peer-a, CN=peer-b), signed by the CA
#   peer-b.pem, peer-b.key
#
#   my $r = Tls::get($port, '/p/index.html', cert => 'peer-a', http2 => 1,
#                    headers => ['Authorization: Bearer ...']);
#   Test::More::is($r->{status}, 200, ...);
#   Test::More::is($r->{headers}{'www-authenticate'}, undef, ...);
#
# get() returns a hash ref like Http2::get: status (0 when curl got no HTTP answer), proto
# ('1.1' or '2'), headers (lower-cased names; repeated headers joined with ", "), body, exit
# (curl's exit code) and raw (curl's whole output).
package Tls;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Http2 ();

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $DIR = $ENV{TEST_NGINX_TLS_DIR} || "$ROOT/t/tls.tmp";
our $CURL = $ENV{TEST_NGINX_CURL} || 'curl';
our $OPENSSL = $ENV{TEST_NGINX_OPENSSL} || 'openssl';
our @PEERS = qw(peer-a peer-b);

$ENV{TEST_NGINX_TLS_DIR} = $DIR;

my $CNF = <<'EOF';
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF

# Runs openssl with @args in $dir and returns its output (stderr too); dies with it on failure.
# The child only ever execs or _exits: no END block of the test file runs in it.
sub openssl_in {
    my ($dir, @args) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        chdir $dir or POSIX::_exit(126);
        exec($OPENSSL, @args) or POSIX::_exit(127);
    }
    binmode $fh;
    my $out = do { local $/; <$fh> } // '';
    close($fh) or die "openssl @args failed (exit " . ($? >> 8) . "):\n$out";
    return $out;
}

# Whether $DIR holds a complete set whose certificates are valid for at least another day.
sub complete {
    return 0 unless -f "$DIR/complete";
    for my $name ('ca', 'server', @PEERS) {
        return 0 unless -f "$DIR/$name.pem";
        my $ok = eval { openssl_in($DIR, 'x509', '-in', "$name.pem", '-noout', '-checkend', '86400'); 1 };
        return 0 unless $ok;
    }
    return 1;
}

sub make_set {
    my ($dir) = @_;
    make_path($dir);
    open(my $fh, '>', "$dir/openssl.cnf") or die "$dir/openssl.cnf: $!\n";
    print $fh $CNF;
    close($fh) or die "$dir/openssl.cnf: $!\n";
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes');
    openssl_in($dir, 'req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca_ext', @ec,
               '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=jwt_peer_auth test CA', '-days', '3650');
    my $serial = 1000 + int(rand(1_000_000));
    for (['server', '/CN=127.0.0.1', 'server_ext'], map { [$_, "/CN=$_", 'client_ext'] } @PEERS) {
        my ($name, $subj, $ext) = @$_;
        openssl_in($dir, 'req', '-new', '-config', 'openssl.cnf', @ec, '-keyout', "$name.key",
                   '-out', "$name.csr", '-subj', $subj);
        openssl_in($dir, 'x509', '-req', '-in', "$name.csr", '-CA', 'ca.pem', '-CAkey', 'ca.key',
                   '-set_serial', $serial++, '-days', '3650', '-extfile', 'openssl.cnf',
                   '-extensions', $ext, '-out', "$name.pem");
        unlink "$dir/$name.csr";
    }
    # Only the test runner and NGINX's master (same user) read the keys; keep the tree readable.
    chmod 0644, glob("$dir/*.pem");
    chmod 0755, $dir;
    open($fh, '>', "$dir/complete") or die "$dir/complete: $!\n";
    close($fh);
}

# Makes the set once: in a directory of its own, then renamed into place (so parallel test
# files never see half a set); an expired or incomplete set is replaced.
sub setup {
    return if complete();
    my $tmp = "$DIR.$$.tmp";
    remove_tree($tmp);
    make_set($tmp);
    if (-e $DIR) {
        return remove_tree($tmp) if complete();    # another test file made it meanwhile
        remove_tree($DIR);
    }
    rename($tmp, $DIR) or do {
        remove_tree($tmp);
        complete() or die "cannot rename $tmp to $DIR: $!\n";
    };
}

setup();

# The PEM text of a certificate: 'peer-a', 'peer-b', 'server' or 'ca'.
sub pem {
    my ($name) = @_;
    open(my $fh, '<', "$DIR/$name.pem") or die "$DIR/$name.pem: $!\n";
    local $/;
    return scalar <$fh>;
}

# RFC 8705 x5t#S256 of a certificate, computed by openssl (DER, SHA-256), base64url unpadded.
sub thumbprint {
    my ($name) = @_;
    openssl_in($DIR, 'x509', '-in', "$name.pem", '-outform', 'DER', '-out', "$name.der");
    my $digest = openssl_in($DIR, 'dgst', '-sha256', '-binary', "$name.der");
    length($digest) == 32 or die "openssl dgst -sha256 of $name.der: no digest: $digest\n";
    return encode_base64url($digest);
}

# The PEM of a certificate URL-escaped as NGINX's $ssl_client_escaped_cert
# (ngx_escape_uri NGX_ESCAPE_URI_COMPONENT: all but letters, digits and "-._~" as %XX).
sub escaped_pem {
    my ($name) = @_;
    (my $v = pem($name)) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $v;
}

# GET https://127.0.0.1:$port$path, verifying the server with the test CA. %opts:
#   cert => 'peer-a' | 'peer-b'   present that client certificate
#   headers => [ 'Name: value', ... ]
#   http2 => 1                    negotiate HTTP/2 (ALPN); otherwise HTTP/1.1
#   timeout => seconds            default 5 (--max-time)
sub get {
    my ($port, $path, %opts) = @_;
    my $timeout = $opts{timeout} // 5;
    my @cmd = ($CURL, '-q', '-s', '-i', '--noproxy', '*', '--cacert', "$DIR/ca.pem",
               '--max-time', $timeout, '--connect-timeout', $timeout,
               $opts{http2} ? '--http2' : '--http1.1');
    if (my $c = $opts{cert}) {
        -f "$DIR/$c.pem" or die "Tls::get: no certificate $c\n";
        push @cmd, '--cert', "$DIR/$c.pem", '--key', "$DIR/$c.key";
    }
    push @cmd, '-H', $_ for @{ $opts{headers} // [] };
    push @cmd, "https://127.0.0.1:$port$path";
    return Http2::curl(@cmd);
}

1;
