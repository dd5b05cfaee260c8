# Test helper for jwt_peer_auth's t/*.t files: finds the built NGINX and module, makes test keys
# once per run (with build/jwt-mint) and mints tokens at test time.
#
# Load it before Test::Nginx::Socket, which reads TEST_NGINX_BINARY when it loads:
#   use FindBin; use lib "$FindBin::Bin/helpers"; use JwtPeerAuth;
#   use Test::Nginx::Socket 'no_plan';
# In blocks: --- more_headers eval
#            JwtPeerAuth::bearer('rsa', '--exp', '-60')
# Most files then call setup(...) (below) for the preamble they share: master on, two workers,
# log level info, a cold zone per block, between hooks, default block sections.
# Also: use_between_hooks() (Perl hooks between a block's requests), zone_per_block() (a cold
# shared zone per block), key_service() (the key-service server block), http_get()/http_request()/
# free_port() (loopback), and jwthenticator_*() (the real JWThenticator from tools/jwthenticator).
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
# jwks-algs.json (and the P-384 key) came with a later jwt-mint: a key directory made before
# is made anew.
if (!-f "$KEYS/jwks.json" || !-f "$KEYS/jwks-algs.json") {
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

# The claims of a JWT (its payload, decoded; the signature is not checked), as a hash ref.
sub claims {
    my ($token) = @_;
    require JSON::PP;
    require MIME::Base64;
    my (undef, $payload) = split /\./, $token;
    return JSON::PP::decode_json(MIME::Base64::decode_base64url($payload));
}

# Sleeps until $token's exp is at least one whole second past (so it is expired however the
# server rounds time), however long the runner took to get here. Dies if it has no exp.
sub sleep_past_exp {
    my ($token) = @_;
    my $exp = claims($token)->{exp} // die "token without exp\n";
    require Time::HiRes;
    my $left = $exp + 1 - Time::HiRes::time();
    Time::HiRes::sleep($left) if $left > 0;
}

# --- the NGINX under test ------------------------------------------------------------------

# Whether the NGINX under test ($TEST_NGINX_BINARY) is at least version $want ("1.25.1").
sub nginx_at_least {
    my ($want) = @_;
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my @have = (qx{$nginx -v 2>&1} // '') =~ m{nginx/(\d+)\.(\d+)\.(\d+)} or return 0;
    my @want = split /\./, $want;
    for my $i (0 .. 2) {
        return $have[$i] > $want[$i] if $have[$i] != $want[$i];
    }
    return 1;
}

# HTTP/2 on a listen socket: "listen ...; http2 on;" since NGINX 1.25.1, "listen ... http2;"
# before (Debian's 1.22). Sets $TEST_NGINX_H2 to what follows the address in a listen line
# (" http2" or "; http2 on"), and $TEST_NGINX_TLS_H2 for TLS (" ssl http2" or " ssl; http2 on").
sub set_http2_listen {
    my $new = nginx_at_least('1.25.1');
    $ENV{TEST_NGINX_H2} = $new ? '; http2 on' : ' http2';
    $ENV{TEST_NGINX_TLS_H2} = $new ? ' ssl; http2 on' : ' ssl http2';
}

# --- a fresh shared zone per block ---------------------------------------------------------
#
# JwtPeerAuth::zone_per_block(), called by a test file, gives every block a jwt_peer_auth_zone
# of its own (jwt_peer_auth_b<block number>:1m, prepended to its http_config unless it declares
# one), so each block starts with no fetched keys and zeroed status counters, as with a fresh
# NGINX. That also holds under Test::Nginx's TEST_NGINX_USE_HUP=1, which keeps one NGINX for a
# whole file and reloads it with SIGHUP between blocks: a reload keeps a zone of the same name
# and size (as it must). Call it before the file's own add_block_preprocessor() calls, which
# may set a default http_config: the preprocessor added last runs first.
sub zone_per_block {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        my $http = $block->http_config // '';
        return if $http =~ /\bjwt_peer_auth_zone\b/;
        my $n = $block->seq_num // die "block without seq_num";
        $block->set_value('http_config', "    jwt_peer_auth_zone jwt_peer_auth_b$n:1m;\n$http");
    });
}

# --- the shared preamble -------------------------------------------------------------------
#
# JwtPeerAuth::setup(%opts), called by a test file after `use Test::Nginx::Socket` and before
# run_tests(), sets what most files share:
#   workers => N      master on and N worker processes (2 by default; 0: the runner's default,
#                     no master). Two workers where workers matter.
#   log_level => L    'info' by default (the module's refusal lines); undef: the runner's default
#   zone_per_block    1 by default: a cold jwt_peer_auth_zone per block (zone_per_block())
#   between_hooks     1 by default: --- between_N hooks (use_between_hooks()); on_start => sub
#                     is passed on to it
#   http_config, config, user_files, request, ...   any block section: set in every block that
#                     has none (the file's defaults)
#   http_config_prefix => text   put before every block's own http_config (a key service that
#                     every block needs); zone_per_block's zone line still comes first
# It also sets $TEST_NGINX_HTML_DIR (the runner's html directory, for configs) and no_shuffle().
# A file's own add_block_preprocessor() calls after setup() run before setup's (the
# preprocessor added last runs first), so what they set wins over these defaults.
sub setup {
    my (%o) = @_;
    my $workers = exists $o{workers} ? delete $o{workers} : 2;
    my $level = exists $o{log_level} ? delete $o{log_level} : 'info';
    my $zones = exists $o{zone_per_block} ? delete $o{zone_per_block} : 1;
    my $hooks = exists $o{between_hooks} ? delete $o{between_hooks} : 1;
    my $on_start = delete $o{on_start};
    my $prefix = delete $o{http_config_prefix};
    my %defaults = %o;
    die "setup: on_start needs between_hooks\n" if $on_start && !$hooks;

    $ENV{TEST_NGINX_HTML_DIR} ||= Test::Nginx::Socket::html_dir();
    if ($workers) {
        Test::Nginx::Socket::master_on();
        Test::Nginx::Socket::workers($workers);
    }
    Test::Nginx::Socket::log_level($level) if defined $level;
    Test::Nginx::Socket::no_shuffle();

    # Added first, so it runs last: it prepends its zone to the http_config set below.
    zone_per_block() if $zones;
    if (%defaults || defined $prefix) {
        Test::Nginx::Socket::add_block_preprocessor(sub {
            my $block = shift;
            for my $section (sort keys %defaults) {
                next if defined $block->$section;
                $block->set_value($section, $defaults{$section});
            }
            $block->set_value('http_config', $prefix . ($block->http_config // '')) if defined $prefix;
        });
    }
    use_between_hooks($on_start ? (on_start => $on_start) : ()) if $hooks;
}

# A key service for the module's key requests: a server on 127.0.0.1:$TEST_NGINX_RAND_PORT_1
# answering JSON, with $body (its locations and other server-level lines) inside. Text for a
# block's http_config.
sub key_service {
    my ($body) = @_;
    $body =~ s/\n?\z/\n/;
    return <<"_EOC_" . $body . "    }\n";
    server {
        listen 127.0.0.1:\$TEST_NGINX_RAND_PORT_1;
        default_type application/json;
_EOC_
}

# --- counting error-log lines within one block ---------------------------------------------
#
# Error-log lines since mark_log() matching $re, for counting fetches within one block. Lines
# of the worker processes that were shutting down when the block began are not counted: under
# TEST_NGINX_USE_HUP=1 the runner reloads one NGINX between blocks, and a worker of the
# previous block's configuration that still finishes a request (a slow key fetch, say) writes
# into this block's error log.
my ($log_file, $log_mark, %old_workers) = ('', 0);
sub mark_log {
    ($log_file) = @_;
    $log_mark = -s $log_file || 0;
    %old_workers = map { $_ => 1 } shutting_down_workers();
}

# The pids of NGINX worker processes that are gracefully shutting down (children of the
# master in logs/nginx.pid whose title says so): a previous configuration's workers.
sub shutting_down_workers {
    my $pidfile = Test::Nginx::Socket::server_root() . '/logs/nginx.pid';
    open(my $pf, '<', $pidfile) or return ();
    my $master = <$pf> // return ();
    chomp $master;
    $master =~ /^\d+$/ or return ();
    my @old;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $line = <$fh> // next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so take the last ')'.
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+) / or next;
        next unless $ppid == $master;
        (my $cmd = $stat) =~ s/stat$/cmdline/;
        open(my $ch, '<', $cmd) or next;
        my $title = do { local $/; <$ch> } // '';
        push @old, $pid if $title =~ /worker process is shutting down/;
    }
    return @old;
}

# This block's lines of the error log since mark_log(): without those of old workers, nor the
# master's notes that one of them exited (a block that reloads NGINX itself counts those of
# its own workers).
sub block_log {
    open(my $fh, '<', $log_file) or die "$log_file: $!";
    seek($fh, $log_mark, 0);
    my @lines = <$fh>;
    return @lines unless %old_workers;
    return grep {
        !(/^\S+ \S+ \[\w+\] (\d+)#/ && $old_workers{$1})
            && !(/worker process (\d+) exited/ && $old_workers{$1})
    } @lines;
}

sub log_count {
    my ($re) = @_;
    my $n = grep { $_ =~ $re } block_log();
    return $n;
}

# The error-log lines since mark_log() matching $re, without the timestamp, pid and connection
# number: what a line says, to compare lines of different requests.
sub log_lines {
    my ($re) = @_;
    my @lines = grep { $_ =~ $re } block_log();
    s/^\S+ \S+ \[\w+\] \d+#\d+: \*\d+ // for @lines;
    chomp @lines;
    return @lines;
}

# --- between hooks --------------------------------------------------------------------------
#
# JwtPeerAuth::use_between_hooks(%opts), called by a test file before run_tests(), lets a block
# carry Perl code in sections `--- between_N`, run after the block's request N has been answered
# and checked (to change a key file, stop a service, wait, reload NGINX, or count log lines).
# The code runs in package main (so it can call the test file's own subs) with these lexicals:
#   $block    the Test::Base block          $html     html_dir() of the test server
#   $req_idx  N                             $pidfile  the NGINX master's pid file
#   $body     the body of response N
# and it dies to fail loudly (an unexpected die is reported by the runner).
#
# It also sets every block's `--- init` to mark the error log (log_count() then counts only
# this block's lines), to note the block's number (block_seq()) and to call $opts{on_start} (a
# code ref), if given. A block's own
# `--- init` still runs, after that (Test::Base allows a section only once per block, so
# the two are joined into one).
my @on_start;
my $block_seq;
sub block_start {
    ($block_seq) = @_;
    mark_log(Test::Nginx::Socket::server_root() . '/logs/error.log');
    $_->() for @on_start;
}

# The number of the block that runs (from its `--- init`), for names of its own: a log file
# that workers of a previous block's configuration, still finishing under TEST_NGINX_USE_HUP=1,
# do not write to.
sub block_seq { $block_seq // die "block_seq: no block started (use_between_hooks)\n" }

my $hooks_installed;
sub use_between_hooks {
    my (%opts) = @_;
    push @on_start, $opts{on_start} if $opts{on_start};
    # Installed once per file: a second set of hooks would run every between_N twice.
    return if $hooks_installed++;
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        my $start = 'JwtPeerAuth::block_start(' . ($block->seq_num // die "block without seq_num") . ');';
        my $init = $block->init // '';
        $block->set_value('init', "$start\n$init") unless index($init, $start) == 0;
    });
    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $rep_idx, $dry_run) = @_;
        return if $dry_run;
        my $section = "between_$req_idx";
        my $hook = $block->$section // return;
        my $html = Test::Nginx::Socket::html_dir();
        my $pidfile = Test::Nginx::Socket::server_root() . '/logs/nginx.pid';
        (my $where = "between_$req_idx of " . $block->name) =~ tr/"\n/'/d;
        # A hook that dies is a failed test (not only a warning: a runner may catch the die and
        # go on, and a hook's checks that never ran must not pass for ones that did).
        eval "package main;\n#line 1 \"$where\"\n$hook\n;1"
            or Test::More::fail("$where died: $@");
    });
}

# --- plain HTTP on loopback ----------------------------------------------------------------

# GET http://127.0.0.1:$port$path (HTTP/1.0, no proxy), bounded by $timeout seconds.
# Returns ($status, $body); $status is 0 when nothing (or no HTTP answer) came back.
sub http_get {
    my ($port, $path, $timeout) = @_;
    my ($code, $body) = http_request($port, 'GET', $path, timeout => $timeout);
    return ($code, $body);
}

# Any request to http://127.0.0.1:$port$path (HTTP/1.0, no proxy): options headers => [lines],
# body => text, timeout => seconds (5). Returns ($status, $body, $head); $status is 0 when
# nothing (or no HTTP answer) came back.
sub http_request {
    my ($port, $method, $path, %o) = @_;
    require IO::Socket::INET;
    require IO::Select;
    my $timeout = $o{timeout} // 5;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => $timeout) or return (0, "connect: $!", '');
    my $req = "$method $path HTTP/1.0\r\nHost: 127.0.0.1\r\n";
    $req .= "$_\r\n" for @{ $o{headers} // [] };
    $req .= "Content-Length: " . length($o{body}) . "\r\n" if defined $o{body};
    $req .= "\r\n" . ($o{body} // '');
    print $s $req;
    my ($resp, $sel, $deadline) = ('', IO::Select->new($s), time + $timeout);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $got = sysread($s, my $buf, 65536);
        last unless $got;
        $resp .= $buf;
    }
    close $s;
    my ($code) = $resp =~ m{^HTTP/1\.\d (\d{3})} or return (0, $resp, '');
    my ($head, $body) = $resp =~ /\A(.*?)\r\n\r\n(.*)\z/s;
    return ($code, $body // '', $head // '');
}

# The port the runner's server listens on (for requests from hooks).
sub server_port {
    return $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
}

# "Authorization: Bearer <token>" for an RS256 token with these claims (over the defaults).
sub bearer_claims {
    my (%claims) = @_;
    require JSON::PP;
    return bearer('rsa', '--claims', JSON::PP->new->canonical->encode(\%claims));
}

# The runner's server's status page (/status, JSON) from a hook; dies unless it answers 200.
sub status_json {
    my ($code, $body) = http_get(server_port(), '/status');
    $code == 200 or die "status page: $code $body";
    return $body;
}

# The token cache's (hits, misses) on the status page (or in the JSON text given).
sub cache_counts {
    my ($body) = @_;
    $body //= status_json();
    my ($hits, $misses) = $body =~ /"token_cache":\{"hits":(\d+),"misses":(\d+)\}/ or die "no token_cache in $body";
    return ($hits, $misses);
}

# POST of a JSON body to the revocation API at /revocations from a hook; returns ($status,
# $body, $head) as http_request().
sub revocation_post {
    my ($body) = @_;
    return http_request(server_port(), 'POST', '/revocations',
        headers => ['Content-Type: application/json'], body => $body);
}

# A TCP port on 127.0.0.1 that was free a moment ago.
sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "cannot bind 127.0.0.1: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# --- the real JWThenticator (tools/jwthenticator) -------------------------------------------
#
# jwthenticator_start($state_dir) runs tools/jwthenticator/serve.py from the venv made by
# setup.sh on a free loopback port (the same port again after a jwthenticator_stop()), waits
# (bounded) until it answers, and returns the port. It is stopped at exit by this module's END
# block. Errors die with a message that says what to do.
my %jwth = (pid => undef, port => undef, dir => undef, python => undef, parent => $$);

sub jwthenticator_python {
    return $jwth{python} //= do {
        my $setup = "$ROOT/tools/jwthenticator/setup.sh";
        open(my $fh, '-|', $setup) or die "cannot run $setup: $!\n";
        my $out = do { local $/; <$fh> };
        my $ok = close($fh);
        my ($py) = ($out // '') =~ /(\S+)\s*\z/;
        die "tools/jwthenticator/setup.sh failed (exit " . ($? >> 8) . "): the real JWThenticator "
            . "(PyPI jwthenticator, see tools/jwthenticator/requirements.txt) could not be installed "
            . "into a venv; this needs python3 with venv support and pip reaching PyPI\n"
            unless $ok && $py && -x $py;
        $py;
    };
}

sub jwthenticator_start {
    my ($dir, $timeout) = @_;
    $timeout //= 60;
    die "JWThenticator already running\n" if $jwth{pid};
    my $python = jwthenticator_python();
    $jwth{dir} = $dir //= $jwth{dir} // die "jwthenticator_start: no state dir\n";
    $jwth{port} //= free_port();
    require File::Path;
    File::Path::make_path($dir);
    my $log = "$dir/serve.log";
    require POSIX;
    require Time::HiRes;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT);
        exec($python, "$ROOT/tools/jwthenticator/serve.py", '--state-dir', $dir, '--port', $jwth{port})
            or POSIX::_exit(127);
    }
    $jwth{pid} = $pid;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $jwth{pid} = undef;
            die "JWThenticator (serve.py) exited with status " . ($? >> 8) . "; see $log:\n"
                . (eval { slurp($log) } // '');
        }
        my ($code) = http_get($jwth{port}, '/_stats', 2);
        return $jwth{port} if $code == 200;
        if (Time::HiRes::time() > $deadline) {
            jwthenticator_stop();
            die "JWThenticator did not answer on 127.0.0.1:$jwth{port} within ${timeout}s; see $log\n";
        }
        Time::HiRes::sleep(0.1);
    }
}

# Stops JWThenticator (SIGTERM, then SIGKILL after 5 s) and reaps it; a no-op when not running.
sub jwthenticator_stop {
    my $pid = $jwth{pid} // return;
    return unless $$ == $jwth{parent};    # not from a forked child (it would run END blocks too)
    require POSIX;
    require Time::HiRes;
    kill('TERM', $pid);
    my $deadline = Time::HiRes::time() + 5;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill('KILL', $pid);
            waitpid($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
    $jwth{pid} = undef;
}

sub jwthenticator_port { $jwth{port} }

# A fresh JWThenticator access token (tools/jwthenticator/client.py: /register_key, /authenticate).
sub jwthenticator_token {
    my $py = jwthenticator_python();
    open(my $fh, '-|', $py, "$ROOT/tools/jwthenticator/client.py", '--url', "http://127.0.0.1:$jwth{port}")
        or die "cannot run client.py: $!\n";
    my $t = do { local $/; <$fh> };
    close($fh) or die "client.py could not get a token from JWThenticator\n";
    chomp $t;
    $t =~ /^[\w-]+\.[\w-]+\.[\w-]+$/ or die "client.py printed no JWT: $t\n";
    return $t;
}

# JWThenticator's request counts per path (serve.py's GET /_stats), as a hash ref.
sub jwthenticator_stats {
    my ($code, $body) = http_get($jwth{port}, '/_stats');
    $code == 200 or die "GET /_stats from JWThenticator: status $code $body\n";
    require JSON::PP;
    return JSON::PP::decode_json($body);
}

END {
    local ($?, $!, $@);
    jwthenticator_stop();
}

# Sends $n requests for $path at once (all written before any answer is read) and returns
# their status codes. Loopback only; bounded by $timeout seconds.
sub parallel_get {
    my ($port, $path, $n, $header, $timeout) = @_;
    my $req = "GET $path HTTP/1.0\r\nHost: localhost\r\n" . ($header ? "$header\r\n" : '') . "\r\n";
    return parallel_raw($port, [($req) x $n], $timeout);
}

# Sends every raw request text at once, one connection each, to 127.0.0.1:$port, then reads
# every answer (bounded by $timeout seconds, 10 by default); returns their status codes
# ('none' where nothing came back).
sub parallel_raw {
    my ($port, $requests, $timeout) = @_;
    require IO::Socket::INET;
    require IO::Select;
    $timeout //= 10;
    my @socks;
    for my $r (@$requests) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => $timeout)
            or die "connect: $!";
        print $s $r;
        push @socks, $s;
    }
    my @codes;
    for my $s (@socks) {
        my ($resp, $sel, $deadline) = ('', IO::Select->new($s), time + $timeout);
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
