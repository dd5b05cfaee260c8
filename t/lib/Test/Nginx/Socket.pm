package Test::Nginx::Socket;

# A compact, self-contained re-implementation of the subset of OpenResty's
# Test::Nginx::Socket (https://github.com/openresty/test-nginx) used by this
# project.  It is only put on PERL5LIB when the real module is not installed,
# so test files must stay compatible with the real one: same block format,
# same exported functions, same config template, same test names and the same
# number of assertions per section.
#
# Like the real module it is built on Test::Base (which provides the block
# parser, `blocks`, `plan`, the `eval` filters and ONLY/SKIP/LAST).
#
# NOTE: `use Test::Base -Base` turns on Spiffy's source filter, which inserts
# `my $self = shift;` into every named sub declared without a prototype.
# Every named sub below therefore carries a prototype.

use v5.10.1;
use Test::Base -Base;

our $VERSION = '0.33';    # the Test::Nginx API level this file mirrors
our $IsCompat = 1;        # lets a test tell this module from the real one

use POSIX ();
use Time::HiRes qw( sleep time );
use IO::Socket::INET ();
use IO::Select ();
use File::Path ();
use File::Spec ();
use File::Temp ();
use List::Util ();
use Scalar::Util ();
use HTTP::Response ();
use Test::LongString ();
use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use JSON::PP ();
use Config ();

our @EXPORT = qw( env_to_nginx is_str plan run_tests run_test
  repeat_each config_preamble worker_connections
  master_process_enabled
  no_long_string workers master_on master_off
  log_level no_shuffle no_root_location use_hup
  server_name
  server_addr server_root html_dir server_port server_port_for_client
  timeout no_nginx_manager check_accum_error_log
  add_block_preprocessor bail_out add_test_cleanup_handler add_cleanup_handler
  add_response_body_check
);

# ---------------------------------------------------------------------------
# settings (same environment variables and defaults as Test::Nginx::Util)

our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled        = 'on';
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $RepeatEach           = 1;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation       = 0;
our $NoLongString;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $ConnectWait          = 5;    # max seconds spent retrying connect()
our $StartWait            = 10;   # max seconds for `nginx` (the parent) to exit
our $ConfigPreamble       = '';
# As Test::Nginx::Util: nginx runs under valgrind (memcheck), in the foreground (daemon off),
# started by the runner; "1" (any number) means the default options below, anything else is
# the whole valgrind option string.  Its reports go to the test's stderr, or where the options'
# --log-file says.  valgrind slows nginx down 20-50 times: timeouts get a floor of
# TEST_NGINX_VALGRIND_TIMEOUT seconds (default 30).
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $ValgrindExitOnFirstErr = $ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR};
our $ValgrindTimeout      = $ENV{TEST_NGINX_VALGRIND_TIMEOUT} || 30;
$DaemonEnabled = 'off' if $UseValgrind;

our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers,
     @ResponseBodyChecks);
our ($NginxVersion, $NginxV, $PrevConfig, $ErrLogFilePos, $RandPorts,
     $PendingStderr, $CleanedUp, $TotalConnectFailures);
our %StartedPids;
our $MainPid = $$;

sub gen_rand_port ($);
sub value_contains ($$);
sub bail_out (@);

if (defined $WorkerUser && $WorkerUser !~ /^\w[-\w]+(?:\s+\w[-\w]+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

if ($Randomize) {
    $ServerPort = gen_rand_port({}) or die "Cannot find a free port\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize ? File::Spec->rel2abs("t/servroot_$ServerPort")
              : File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $CacheDir   = "$ServRoot/cache";

# Extension over the real module (which leaves it to the user).
$ENV{TEST_NGINX_HTML_DIR} //= $HtmlDir;

# Make the usual package variables reachable under the real module's names.
{
    no strict 'refs';
    for my $v (qw( ServerPort ServerPortForClient ServerAddr ServerName
                   ServRoot ErrLogFile AccLogFile HtmlDir ConfFile PidFile
                   LogDir RepeatEach NginxVersion RandPorts NoLongString ))
    {
        *{"Test::Nginx::Util::$v"} = \${"Test::Nginx::Socket::$v"};
    }
}

# nginx daemonizes; in containers whose PID 1 does not reap orphans the dead
# daemon would stay a zombie.  Become a "child subreaper" (Linux) so the
# daemon is re-parented to us and can be reaped by us.
if ($^O eq 'linux') {
    my %prctl = (x86_64 => 157, aarch64 => 167);
    my ($arch) = ($Config::Config{archname} // '') =~ /^(x86_64|aarch64)/;
    eval { syscall($prctl{$arch}, 36, 1, 0, 0, 0) } if $arch;  # PR_SET_CHILD_SUBREAPER
}

# Make sure END (which stops nginx) also runs on Ctrl-C / prove timeouts.
for my $sig (qw( INT TERM )) {
    next if $SIG{$sig};
    my $num = $sig eq 'INT' ? 2 : 15;
    $SIG{$sig} = sub { exit(128 + $num) };
}

# ---------------------------------------------------------------------------
# exported configuration functions

sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

sub workers (@) {
    return $Workers unless @_;
    $Workers = shift;
}

sub worker_connections (@) {
    return $WorkerConnections unless @_;
    $WorkerConnections = shift;
}

sub log_level (@) {
    return $LogLevel unless @_;
    $LogLevel = shift;
}

sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }

sub master_process_enabled (@) {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}

sub no_shuffle () { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }

# The real module reloads nginx via HUP in this mode; we always restart.
sub use_hup () { 1 }

sub config_preamble ($) { $ConfigPreamble = shift }

sub timeout (@) {
    if (!@_) {
        return $Timeout if !$UseValgrind || $Timeout >= $ValgrindTimeout;
        return $ValgrindTimeout;
    }
    $Timeout = shift;
}

sub server_addr (@) {
    return $ServerAddr unless @_;
    $ServerAddr = shift;
}

sub server_name (@) {
    return $ServerName unless @_;
    $ServerName = shift;
}

sub server_port (@) {
    return $ServerPort unless @_;
    $ServerPort = shift;
}

sub server_port_for_client (@) {
    return $ServerPortForClient unless @_;
    $ServerPortForClient = shift;
}

sub html_dir () { $HtmlDir }
sub server_root () { $ServRoot }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(@_);
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# ---------------------------------------------------------------------------
# small helpers

sub vwarn (@) { warn @_ if $Verbose }

sub parse_time ($) {
    my $tm = shift;
    return undef unless defined $tm;
    if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
        $tm = $tm / 1000;
    } else {
        $tm =~ s/([^_a-zA-Z])s$/$1/;
    }
    return $tm;
}

sub fmt_str ($) {
    my $s = shift;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub trim_str ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    return $s;
}

sub shell_quote ($) {
    my $s = shift;
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

sub skip_one ($) {
    Test::More->builder->skip(shift);
}

sub gen_rand_port ($) {
    my $used = shift;
    for (1 .. 1000) {
        my $port = int(rand 63547) + 1988;
        next if $used->{$port} || $port == $ServerPort;
        my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                         LocalPort => $port, Proto => 'tcp',
                                         Listen => 1, ReuseAddr => 1)
            or next;
        close $sock;
        return $port;
    }
    return undef;
}

# Substitute $TEST_NGINX_XXX with the environment value (bail out when it is
# not set); $TEST_NGINX_RAND_PORT_N become free random ports (per block).
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;
    return $text if ref $text;
    $rand_ports //= {};
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = map { $_ => 1 } grep { defined } values %$rand_ports;
                $rand_ports->{$var} = gen_rand_port(\%used)
                    // bail_out("$name - Cannot find an available listening port number for $var.\n");
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }eg;
    return $text;
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir ((split /$Config::Config{path_sep}/, $ENV{PATH} // ''), '.') {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x _;
    }
    return undef;
}

sub nginx_V () {
    return $NginxV if defined $NginxV;
    return '' unless can_run($NginxBinary);
    $NginxV = `@{[ shell_quote($NginxBinary) ]} -V 2>&1` // '';
    return $NginxV;
}

sub get_nginx_version () {
    my $out = nginx_V();
    if ($out =~ m{(?:nginx|openresty)[^/\s]*/(\d+)\.(\d+)\.(\d+)}) {
        return sprintf "%d.%03d%03d", $1, $2, $3;
    }
    return undef;
}

sub read_file_data ($) {
    my $file = shift;
    open my $in, '<', $file or return undef;
    binmode $in;
    local $/;
    my $data = <$in>;
    close $in;
    return $data;
}

# ---------------------------------------------------------------------------
# process management

sub proc_stat ($) {
    my $pid = shift;
    my $s = read_file_data("/proc/$pid/stat");
    return () unless defined $s && $s =~ /\)\s+(\S)\s+(\d+)\s+(\d+)/;
    return ($1, $2, $3);    # state, ppid, pgrp
}

# true if the process exists and is not a zombie (zombies we own get reaped)
sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/ && $pid > 1;
    return 0 unless kill 0, $pid;
    my ($state) = proc_stat($pid);
    if (defined $state && $state eq 'Z') {
        waitpid($pid, POSIX::WNOHANG());
        return 0;
    }
    return kill 0, $pid;
}

sub child_pids ($) {
    my $ppid = shift;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my (undef, $pp) = proc_stat($p);
        push @kids, $p if defined $pp && $pp == $ppid;
    }
    closedir $dh;
    return @kids;
}

sub wait_exit ($@) {
    my ($secs, @pids) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless grep { is_running($_) } @pids;
        sleep 0.02;
    }
    return !grep { is_running($_) } @pids;
}

sub kill_process ($$) {
    my ($pid, $name) = @_;
    return unless is_running($pid);
    my @kids = child_pids($pid);
    my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT';
    vwarn "sending $sig signal to $pid\n";
    kill $sig, $pid;
    if (!wait_exit(timeout(), $pid)) {
        warn "$name - timeout when waiting for the process $pid to exit\n";
        my (undef, undef, $pgrp) = proc_stat($pid);
        if (defined $pgrp && $pgrp == $pid) {
            kill 'KILL', -$pid;
        } else {
            kill 'KILL', $pid, @kids;
        }
        wait_exit(2, $pid);
    }
    # workers left behind (normally none: the master waits for them)
    my @left = grep { is_running($_) } @kids;
    if (@left) {
        kill 'KILL', @left;
        wait_exit(2, @left);
    }
    delete $StartedPids{$pid};
}

sub get_pid_from_pidfile ($) {
    my $data = read_file_data($PidFile);
    return undef unless defined $data;
    $data =~ s/\s+//g;
    return $data =~ /^\d+$/ ? $data : undef;
}

sub stop_nginx ($) {
    my $name = shift;
    my $pid = get_pid_from_pidfile($name);
    kill_process($pid, $name) if $pid;
    for my $p (keys %StartedPids) {
        kill_process($p, $name) if $p ne ($pid // '') && is_running($p);
        delete $StartedPids{$p};
    }
    unlink $PidFile if -f $PidFile;
}

sub cleanup () {
    return if $CleanedUp++;
    $_->() for @CleanupHandlers;
}

# ---------------------------------------------------------------------------
# server root, user files and nginx.conf

sub setup_server_root () {
    if (-d $ServRoot) {
        # only remove what we create, so a misused TEST_NGINX_SERVROOT is safe
        File::Path::remove_tree($ConfDir, $CacheDir, $HtmlDir, $LogDir,
                                glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        File::Path::make_path($d);
        bail_out("Failed to do mkdir $d\n") unless -d $d;
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("Can't open $HtmlDir/index.html for writing: $!\n");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
}

sub run_customer_init_script ($) {
    my $block = shift;
    my $code = $block->post_setup_server_root;
    return unless $code;
    eval $code;
    bail_out($block->name . " - post_setup_server_root failed: $@") if $@;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless $files;

    if (!ref $files) {
        my @list;
        for my $line (split /^/m, $files) {
            if ($line =~ />>> (\S+)(?:\s+(.+))?/) {
                push @list, [$1, undef, $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type: ", ref $files,
                 ", only scalar or ARRAY are accepted");
    }

    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/} && !-d $1) {
            File::Path::make_path($1);
            bail_out("$name - Cannot create directory $1") unless -d $1;
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("Failed to run shell command: touch -t $date $path\n");
        }
    }
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config, $name, $rand_ports) // '';
    $config //= '';

    my $main_config = $block->main_config // '';
    if ($LoadModules) {
        my @modules = map { "load_module $_;" } grep { $_ } split /\s+/, $LoadModules;
        $main_config = join ' ', @modules, $main_config if @modules;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    my $post_main_config =
        expand_env_in_text($block->post_main_config // '', $name, $rand_ports);
    my $err_log_file =
        expand_env_in_text($block->error_log_file || $ErrLogFile, $name, $rand_ports);

    (my $server_name = $block->server_name // $ServerName) =~ s/\\/\\\\/g;
    $server_name =~ s/'/\\'/g;

    my $V = nginx_V();
    my %temp;
    for my $m (qw( fastcgi scgi uwsgi proxy client_body )) {
        $temp{$m} = "${m}_temp_path $ServRoot/${m}_temp;";
    }
    for my $m (qw( fastcgi scgi uwsgi )) {
        $temp{$m} = '' if $V =~ /--without-http_${m}_module/;
    }
    for my $m (qw( proxy client_body )) {
        $temp{$m} = '' if $http_config =~ /\b${m}_temp_path\b/;
    }

    my $env = join '', map { my $v = /\s/ ? "'$_'" : $_; "env $v;\n" } @EnvToNginx;

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $event_type = $EventType ? "    use $EventType;\n" : '';

    my $user = '';
    if (defined $WorkerUser) {
        $user = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user = "user root;\n";
    }

    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log_file $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env DYLD_INSERT_LIBRARIES;
env DYLD_FORCE_FLAT_NAMESPACE;
${env}#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $AccLogFile; $temp{client_body} $temp{proxy} $temp{fastcgi} $temp{scgi} $temp{uwsgi}
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68000ms;

$http_config
    server {
        listen          $ServerPort;
        #placeholder
        server_name     '$server_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$event_type}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user
_EOC_

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

# ---------------------------------------------------------------------------
# starting nginx

sub nginx_cmd () {
    my @cmd = ($NginxBinary);
    # -e (nginx >= 1.19.5) sends early startup errors to our error.log
    push @cmd, '-e', $ErrLogFile if ($NginxVersion // 0) >= 1.019005;
    push @cmd, '-p', "$ServRoot/", '-c', $ConfFile;
    return @cmd;
}

# Runs the nginx command line (which daemonizes) and waits, bounded, for the
# foreground process to exit.  Returns ($status, $stderr_output); $status is
# -1 when exec failed and -2 when it did not exit in time.
sub launch_nginx ($) {
    my $block = shift;
    my $name = $block->name;
    my @cmd = nginx_cmd();
    @cmd = (valgrind_cmd(), @cmd) if $UseValgrind;
    vwarn "$name - running: @cmd\n";

    my $errfh = File::Temp->new(TMPDIR => 1);
    binmode $errfh;
    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;

    if ($pid == 0) {
        # child: never return into the test script (no END blocks)
        eval {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>&', $errfh unless $UseValgrind;
            if (defined $ENV{TEST_NGINX_LD_PRELOAD}) {
                $ENV{LD_PRELOAD} = join ' ', grep { defined && length }
                                   $ENV{TEST_NGINX_LD_PRELOAD}, $ENV{LD_PRELOAD};
            }
            { no warnings 'exec'; exec { $cmd[0] } @cmd; }
            print STDERR "failed to execute $cmd[0]: $!\n";
        };
        POSIX::_exit(127);
    }

    my $status;
    my $deadline = time + List::Util::max($StartWait, timeout());
    $deadline += $ValgrindTimeout if $UseValgrind;
    while (1) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        if ($r == $pid) { $status = $?; last }
        if ($r == -1) { $status = -1; last }
        # under valgrind nginx stays in the foreground: started once its pid file names it
        if ($UseValgrind && (get_pid_from_pidfile($name) // 0) == $pid) {
            $StartedPids{$pid} = 1;
            $status = 0;
            last;
        }
        if (time > $deadline) {
            warn "$name - the nginx command did not return in time; killing it\n";
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = -2;
            last;
        }
        sleep 0.01;
    }

    my $stderr = read_file_data($errfh->filename) // '';
    $status = -1 if $status > 0 && ($status >> 8) == 127
                    && $stderr =~ /^failed to execute /m;
    return ($status, $stderr);
}

# The valgrind command line, as Test::Nginx::Util builds it.
sub valgrind_cmd () {
    return ('valgrind', '-q', split ' ', $UseValgrind) if $UseValgrind !~ /^\d+$/;
    my @opts = qw( --num-callers=100 -q --tool=memcheck --leak-check=full
                   --keep-debuginfo=yes --show-possibly-lost=no );
    push @opts, qw( --exit-on-first-error=yes --error-exitcode=1 ) if $ValgrindExitOnFirstErr;
    push @opts, '--gen-suppressions=all';
    push @opts, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    return ('valgrind', @opts);
}

sub forward_stderr ($$) {
    my ($block, $stderr) = @_;
    print STDERR $stderr if length $stderr && !defined $block->suppress_stderr;
}

sub wait_for_pid_file ($) {
    my $name = shift;
    my $deadline = time + List::Util::max(5, timeout());
    while (time < $deadline) {
        my $pid = get_pid_from_pidfile($name);
        if ($pid && is_running($pid)) {
            $StartedPids{$pid} = 1;
            return $pid;
        }
        sleep 0.01;
    }
    warn "$name - nginx pid file $PidFile did not show up\n";
    return undef;
}

sub check_if_missing_directives () {
    my $data = read_file_data($ErrLogFile) // '';
    return $1 if $data =~ /\[emerg\] \S+?: unknown directive "([^"]+)"/;
    return 0;
}

# ---------------------------------------------------------------------------
# running the blocks

sub run_tests () {
    srand($$ + int(time * 1000000));
    $NginxVersion = get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    @blocks = List::Util::shuffle(@blocks) unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value("name", $0 . " " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }
}

sub check_skip ($) {
    my $block = shift;
    my $name = $block->name;
    my ($n, $should_skip, $reason);

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            ($n, $reason) = ($1, 'skip_eval');
            my $code = $2;
            $should_skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        }
    }

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/) {
            $n = $1;
            my ($op, $ver) = ($2, sprintf("%d.%03d%03d", $3, $4, $5));
            $reason = $6 || "nginx version $op $3.$4.$5";
            if ((!defined $NginxVersion && $op =~ /^</)
                || (defined $NginxVersion && eval "$NginxVersion $op $ver"))
            {
                $should_skip = 1;
            }
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $spec");
        }
    }

    return ($should_skip, $n, $reason // 'various reasons');
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    my $rand_ports = {};
    $RandPorts = $rand_ports;

    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    local $LogLevel = $LogLevel;
    $LogLevel = $block->log_level if $block->log_level;

    my $must_die = $block->must_die;
    my $dry_run = 0;
    my ($should_skip, $tests_to_skip, $skip_reason) = check_skip($block);

    my $own_config = defined $config;
    my $start = 1;
    if (!$own_config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could not "
                     . "get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # like the real module: keep the previous block's nginx running
        $config = $PrevConfig;
        my $pid = get_pid_from_pidfile($name);
        $start = 0 if !defined $must_die && $pid && is_running($pid);
    }

    if (!$NoNginxManager && !$should_skip && $start) {
        $PrevConfig = $config if $own_config;
        stop_nginx($name);
        setup_server_root();
        run_customer_init_script($block);
        write_user_files($block, $rand_ports);
        write_config_file($block, $config, $rand_ports);

        if (!can_run($NginxBinary)) {
            bail_out("$name - Cannot find the nginx executable in the PATH environment");
        }

        $ErrLogFilePos = 0;

        if (defined $must_die) {
            for my $i (0 .. $RepeatEach - 1) {
                my ($status, $stderr) = launch_nginx($block);
                forward_stderr($block, $stderr);
                my $exit_code = $status > 0 ? $status >> 8 : undef;

                if ($status == -1) {
                    Test::More::fail("$name - failed to execute the nginx command line");
                } elsif ($status > 0 && ($status & 128)) {
                    Test::More::fail("$name - nginx core dumped");
                } elsif (Scalar::Util::looks_like_number($must_die)) {
                    Test::More::is($exit_code, $must_die,
                                   "$name - die with the expected exit code");
                } else {
                    Test::More::isnt($status, 0, "$name - die as expected");
                }

                # the startup stderr output is checked along with error.log
                $PendingStderr = [ split /^/m, $stderr ];
                check_error_log($block, $dry_run, $i);
                undef $PendingStderr;

                if ($status == 0 || $status == -2) {
                    warn "WARNING: $name - nginx must die but it does not; "
                         . "killing it (req $i)\n";
                    wait_for_pid_file($name) if $status == 0;
                    stop_nginx($name);
                }
            }
            return;
        }

        my ($waited, $try, $status, $stderr) = (0, 0);
        while (1) {
            ($status, $stderr) = launch_nginx($block);
            last if $status == 0;
            if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}
                and my $directive = check_if_missing_directives())
            {
                $dry_run = "the lack of directive $directive";
                last;
            }
            stop_nginx($name) if $status == -2;
            my $delay = List::Util::min(0.1 * ++$try, 1);
            if ($waited >= 3) {
                forward_stderr($block, $stderr);
                bail_out("$name - Cannot start nginx using command \""
                         . join(' ', nginx_cmd()) . "\" (status code $status).");
            }
            sleep $delay;
            $waited += $delay;
        }
        forward_stderr($block, $stderr);
        wait_for_pid_file($name) unless $dry_run;
        sleep $TestNginxSleep;
    }

    if ($block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        write_user_files($block, $rand_ports) if $i > 0;
        if ($should_skip && defined $tests_to_skip) {
            skip_one("$name - $skip_reason") for 1 .. $tests_to_skip;
            next;
        }
        run_test_helper($block, $dry_run, $i);
    }
}

# ---------------------------------------------------------------------------
# building requests

sub parse_more_headers ($) {
    my $in = shift;
    my ($out, $is_chunked) = ('');
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val //= '';
        $is_chunked = 1 if lc($key) eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Turns "METH [URL [VER]]\nBODY" (possibly split into packets) into a full
# HTTP request; returns the list of packets to write.
sub build_request ($$$$$) {
    my ($name, $more, $is_chunked, $conn, $packets) = @_;
    my @pk = map { $_ // '' } @$packets;
    my $raw = join '', @pk;

    my ($line, $content) = $raw =~ /\A([^\n]*\n?)(.*)\z/s;
    bail_out("$name - Request line should be non-empty") if !length $line;
    my ($lead, $meth, $url, $ver) =
        $line =~ /^(\s*)(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be "
                    . "'meth [url [version]]' but got \"$line\".");
    $url //= '/';
    $ver //= 'HTTP/1.1';

    my ($len_header, $ltrim) = ('', 0);
    if (!$is_chunked && $content ne '' && $more !~ /(?:^|\n)Content-Length:/) {
        $ltrim = length(($content =~ /^(\s*)/s)[0]);
        $content =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($content) . "\r\n";
    }

    $more =~ s/(?<!\r)\n/\r\n/gs;
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $more !~ /(?:^|\n)Connection/msi;
    my $head = "$meth $url $ver\r\n$headers$more$len_header\r\n";
    my $req = $head . $content;
    return [$req] if @pk <= 1;

    # keep the caller's packet boundaries (mapped into the rewritten request)
    my (@cuts, $off);
    $off = 0;
    for my $p (@pk[0 .. $#pk - 1]) {
        $off += length $p;
        my $new;
        if ($off >= length $line) {
            $new = length($head) + List::Util::max(0, $off - length($line) - $ltrim);
        } else {
            $new = List::Util::max(0, $off - length $lead);
        }
        $new = length $req if $new > length $req;
        $new = $cuts[-1] if @cuts && $new < $cuts[-1];
        push @cuts, $new;
    }
    my ($prev, @out) = (0);
    for my $c (@cuts, length $req) {
        push @out, substr($req, $prev, $c - $prev);
        $prev = $c;
    }
    return \@out;
}

sub more_headers_for ($$$) {
    my ($name, $more_headers, $i) = @_;
    if (ref $more_headers eq 'ARRAY') {
        my $hdr = $more_headers->[$i];
        bail_out("--- more_headers lacks data for the request $i") unless defined $hdr;
        return parse_more_headers($hdr);
    }
    return parse_more_headers($more_headers);
}

# Returns a list of requests; each request is a list of packets
# ({value => ..., delay_before => ...}).
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;
    my @reqs;

    if (defined(my $raw = $block->raw_request)) {
        my @bits = ref $raw eq 'ARRAY' ? @$raw : ($raw);
        push @reqs, [ map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } } @bits ];
        return \@reqs;
    }

    my $request;
    if (defined $block->request_eval) {
        $request = eval $block->request_eval;
        warn $@ if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//gs;
        }
    }

    my $more_headers = $block->more_headers || '';

    if (my $pipelined = $block->pipelined_requests) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            if ref $pipelined ne 'ARRAY';
        my $prq = '';
        for my $i (0 .. $#$pipelined) {
            my $r = expand_env_in_text($pipelined->[$i], $name, $RandPorts);
            my ($hdr, $chunked) = more_headers_for($name, $more_headers, $i);
            my $conn = $i == $#$pipelined ? 'close' : 'keep-alive';
            $prq .= build_request($name, $hdr, $chunked, $conn, [$r])->[0];
        }
        return [ [ { value => $prq } ] ];
    }

    if (!ref $request) {
        my ($hdr, $chunked) = more_headers_for($name, $more_headers, 0);
        my $r = build_request($name, $hdr, $chunked, 'close', [$request]);
        return [ [ { value => $r->[0] } ] ];
    }

    bail_out("$name - invalid ---request : MUST be string or array of requests")
        if ref $request ne 'ARRAY';

    my $i = 0;
    for my $one (@$request) {
        my ($hdr, $chunked) = more_headers_for($name, $more_headers, $i++);
        if (!ref $one) {
            my $r = build_request($name, $hdr, $chunked, 'close', [$one]);
            push @reqs, [ { value => $r->[0] } ];
        } elsif (ref $one eq 'ARRAY') {
            my @packets = map {
                !ref $_ ? { value => $_ }
                : ref $_ eq 'HASH' ? {%$_}
                : bail_out("$name - Invalid syntax. $_ should be a string or hash with value.")
            } @$one;
            my $out = build_request($name, $hdr, $chunked, 'close',
                                    [ map { $_->{value} } @packets ]);
            $packets[$_]{value} = $out->[$_] for 0 .. $#packets;
            push @reqs, \@packets;
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
        }
    }
    return \@reqs;
}

# ---------------------------------------------------------------------------
# HTTP client

sub send_request ($$$) {
    my ($block, $bits, $timeout) = @_;
    my $name = $block->name;
    my @bits = @$bits;
    my $head_req = (join '', map { $_->{value} // '' } @bits) =~ /^\s*HEAD\s+/ ? 1 : 0;

    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $port = $ServerPortForClient;

    my ($sock, $err);
    my $deadline = time + $ConnectWait;
    my $warned;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        $err = $!;
        last if time >= $deadline;
        if (!$warned && time + $ConnectWait / 2 > $deadline) {
            warn "$name - Can't connect to $addr:$port: $err; retrying\n";
            $warned = 1;
        }
        sleep 0.05;
    }
    if (!$sock) {
        my $msg = "$name - Can't connect to $addr:$port: $err (aborted)\n";
        bail_out($msg) if ++$TotalConnectFailures >= 3;
        Test::More->builder->no_ending(1);
        Test::More::fail($msg);
        return (undef, $head_req);
    }

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);
    my $middle_delay = $block->raw_request_middle_delay;
    my $first = shift @bits;
    my ($buf, $off, $writing, $resp) = ($first->{value} // '', 0, 1, '');
    my $rsel = IO::Select->new($sock);
    my $wsel = IO::Select->new($sock);

    # every iteration either makes progress or waits at most $timeout; the
    # whole exchange is additionally capped (against endless responses)
    my $hard_deadline = time + List::Util::max(60, 20 * $timeout);
    while (1) {
        my ($r, $w) = IO::Select->select($rsel, $writing ? $wsel : undef, undef, $timeout);
        if (time > $hard_deadline) {
            Test::More->builder->no_ending(1);
            Test::More::fail("ERROR: client socket exceeded the total time limit - $name\n");
            last;
        }
        if (!$r && !$w) {
            if (!defined $block->abort) {
                Test::More->builder->no_ending(1);
                Test::More::fail("ERROR: client socket timed out - $name\n");
            }
            last;
        }

        if ($writing && $w && @$w) {
            while (1) {
                if ($off < length $buf) {
                    my $n = syswrite($sock, $buf, length($buf) - $off, $off);
                    if (!defined $n) {
                        last if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                        warn "write failed: $!\n";
                        $resp = "write failed: $!" if $resp eq '';
                        $writing = 0;
                        last;
                    }
                    $off += $n;
                    next;
                }
                my $next = shift @bits;
                if (!defined $next) {
                    $writing = 0;
                    if (defined(my $shutdown = $block->shutdown)) {
                        $shutdown = 1 if $shutdown =~ /^\s*$/;
                        shutdown($sock, $shutdown);
                    }
                    last;
                }
                my $delay = $next->{delay_before} // $middle_delay;
                sleep $delay if $delay;
                ($buf, $off) = ($next->{value} // '', 0);
            }
        }

        if ($r && @$r) {
            my $n = sysread($sock, my $chunk, 65536);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
                warn "WARNING: $name - HTTP response read failure: $!\n";
                last;
            }
            last if $n == 0;
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $head_req);
}

# Returns ($res, $raw_headers, $left_over_bytes); $res is an HTTP::Response.
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;

    my ($head, $body) = ('', $raw);
    if ($raw =~ /\A(.*?)\r?\n\r?\n/s) {
        $head = $1;
        $body = substr($raw, $+[0]);
    } elsif ($raw =~ /^HTTP\//) {
        ($head, $body) = ($raw, '');
    }
    my $raw_headers = $raw =~ /(.*?\r\n)\r\n/s ? $1 : '';

    my @lines = split /\r?\n/, $head;
    my ($code, $msg);
    if (@lines && $lines[0] =~ m{^HTTP/\S+\s+(\d+)(?:\s+(.*))?}) {
        ($code, $msg) = ($1, $2 // '');
        shift @lines;
    }
    my @headers;
    for my $l (@lines) {
        if ($l =~ /^[ \t]+(.*)/ && @headers) {
            $headers[-1] .= " $1";
        } elsif ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @headers, $1, $2;
        }
    }
    my $res = HTTP::Response->new($code, $msg, \@headers, '');
    my $left;

    return ($res, $raw_headers, undef) if $code && ($code == 304 || $code == 101);

    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my @trailers = $res->header('Trailer');

    if (defined $enc && $enc eq 'chunked') {
        my $decoded = '';
        pos($body) = 0;
        my $bad = sub {
            Test::More->builder->no_ending(1);
            Test::More::fail("$name - $_[0]");
            return ();
        };
        while (1) {
            if ($body =~ /\G0[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                for my $t (@trailers) {
                    return $bad->("invalid trailer data received (expected $t).")
                        unless $body =~ /\G\Q$t\E:[^\n]*\r\n/gc;
                }
                return $bad->("invalid chunked data received (expected CRLF).")
                    unless $body =~ /\G\r\n/gc;
                $left = substr($body, pos($body)) if pos($body) < length $body;
                last;
            }
            if ($body =~ /\G[ \t]*([A-Fa-f0-9]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my $size = hex $1;
                my $p = pos($body);
                return $bad->("invalid chunked data received "
                              . "(not enought octets for the data section)")
                    if $p + $size > length $body;
                $decoded .= substr($body, $p, $size);
                pos($body) = $p + $size;
                return $bad->("invalid chunked data received (expected CRLF).")
                    unless $body =~ /\G\r\n/gc;
            } elsif ($body =~ /\G.+/gcs) {
                return $bad->("invalid chunked body received: $&");
            } else {
                return $bad->("no last chunk found - $body");
            }
        }
        $res->content($decoded);
    } elsif (defined $len && $len =~ /^\d+$/) {
        if ($head_req) {
            $left = $body if length $body;
            $res->content('');
        } elsif (length $body < $len) {
            warn "WARNING: $name - response body truncated: ",
                 "$len expected, but got ", length $body, "\n";
            $res->content($body);
        } else {
            $left = substr($body, $len) if length $body > $len;
            $res->content(substr($body, 0, $len));
        }
    } else {
        $res->content($body);
    }

    return ($res, $raw_headers, $left);
}

# ---------------------------------------------------------------------------
# checks

sub get_indexed_value ($$$$) {
    my ($name, $value, $idx, $need_array) = @_;
    if ($need_array) {
        return $value->[$idx] if ref $value && ref $value eq 'ARRAY';
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    return $value->[0] if ref $value && ref $value eq 'ARRAY';
    return $value;
}

sub check_error_code ($$$$$) {
    my ($block, $res, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    return skip_one("$name - tests skipped due to $dry_run") if $dry_run;
    my $got = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like, $idx, $need_array);
        Test::More::like($got, qr/$val/sm, "$name - status code ok");
    } else {
        my $val = defined $block->error_code
                ? get_indexed_value($name, $block->error_code, $idx, $need_array)
                : 200;
        Test::More::is($got, $val, "$name - status code ok");
    }
}

sub check_raw_response_headers ($$$$$) {
    my ($block, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    for my $kind (qw( like unlike )) {
        my $spec = $kind eq 'like' ? $block->raw_response_headers_like
                                   : $block->raw_response_headers_unlike;
        next unless defined $spec;
        if ($dry_run) {
            skip_one("$name - raw_response_headers_$kind - tests skipped due to $dry_run");
            next;
        }
        my $pat = get_indexed_value($name, $spec, $idx, $need_array);
        if ($kind eq 'like') {
            Test::More::like($raw_headers, qr/$pat/s, "$name - raw resp headers like");
        } else {
            Test::More::unlike($raw_headers, qr/$pat/s, "$name - raw resp headers unlike");
        }
    }
}

# "Name: value" lines; "!Name" means the header must be absent
sub parse_headers ($) {
    my $s = shift;
    my %headers;
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        if ($line =~ s/^!\s*//) {
            $headers{$line} = undef;
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $headers{$key} = $val;
        }
    }
    return \%headers;
}

sub check_response_headers ($$$$$$) {
    my ($block, $res, $raw_headers, $dry_run, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers,
                                                      $idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key};
            if ($dry_run) {
                skip_one("$name - response_headers - tests skipped due to $dry_run");
                next;
            }
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/ms,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            Test::More::is($actual // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers_like,
                                                      $idx, $need_array));
        for my $key (sort keys %$headers) {
            my $val = $headers->{$key} // '';
            if ($dry_run) {
                skip_one("$name - response_headers_like - tests skipped due to $dry_run");
                next;
            }
            my $actual = $res ? $res->header($key) : undef;
            Test::More::like($actual // '', qr/^$val$/, "$name - header $key like ok");
        }
    }
}

sub run_filter_helper ($$$) {
    my ($block, $filter, $content) = @_;
    my $name = $block->name;
    return $filter->($content) if ref $filter eq 'CODE';
    bail_out("$name - the --- response_body_filters section only supports "
             . "subroutine reference values and string values") if ref $filter;
    my %f = (
        md5_hex  => sub { Digest::MD5::md5_hex($_[0]) },
        sha1_hex => sub { Digest::SHA::sha1_hex($_[0]) },
        uc       => sub { uc $_[0] },
        lc       => sub { lc $_[0] },
        ucfirst  => sub { ucfirst $_[0] },
        lcfirst  => sub { lcfirst $_[0] },
        length   => sub { length $_[0] },
    );
    my $code = $f{$filter}
        or bail_out("$name - unknown filter, \"$filter\", specified in the "
                    . "--- response_body_filters section");
    return $code->($content);
}

sub transform_response_body ($$$) {
    my ($block, $res, $idx) = @_;
    return unless $res && defined $res->content;
    my $filters = $block->response_body_filters;
    return unless defined $filters;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [ split /\s+/, $filters ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {    # one filter list per request
        $filters = $filters->[$idx];
        bail_out($block->name . " - the ---response_body_filters two-dimensional "
                 . "array unmatch the specified request($idx)") unless defined $filters;
    }
    my $new = $res->content;
    $new = run_filter_helper($block, $_, $new) for @$filters;
    $res->content($new);
}

sub check_response_body ($$$$$$) {
    my ($block, $res, $dry_run, $idx, $rep, $need_array) = @_;
    my $name = $block->name;

    my $content = $res ? $res->content : undef;
    if (defined $content) {
        $content =~ s/^TE: deflate,gzip;q=0\.3\r\n//gms;
        $content =~ s/^Connection: TE, close\r\n//gms;
    }

    if (defined(my $file = $block->write_resp_body_file)) {
        if (open my $out, '>', $file) {
            print $out $res ? $res->content // '' : '';
            close $out;
        }
    }

    if (defined $block->response_body || defined $block->response_body_eval) {
        if (defined $block->response_body_json_sort && defined $content) {
            my $js = JSON::PP->new->canonical(1);
            my $obj = eval { $js->loose(1)->decode($content) };
            $content = $js->encode($obj) . "\n" if !$@;
        }
        my $expected;
        if ($block->response_body_eval) {
            $expected = eval get_indexed_value($name, $block->response_body_eval,
                                               $idx, $need_array);
            warn $@ if $@;
        } else {
            $expected = get_indexed_value($name, $block->response_body, $idx, $need_array);
        }
        Encode::from_to($expected, 'UTF-8', $block->charset)
            if $block->charset && defined $expected;
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            $expected = expand_env_in_text($expected, $name, $RandPorts);
        }
        if ($dry_run) {
            skip_one("$name - response_body - tests skipped due to $dry_run");
        } elsif (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $rep, req $idx)");
        } elsif ($NoLongString) {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected (repeated req $rep, req $idx)");
        } else {
            Test::LongString::is_string($content, $expected,
                "$name - response_body - response is expected (repeated req $rep, req $idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $spec = $type eq 'like' ? $block->response_body_like : $block->response_body_unlike;
        my $pat = get_indexed_value($name, $spec, $idx, $need_array);
        $pat =~ s/\$ServerPort\b/$ServerPort/g;
        $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        my $summary = trim_str($content) // '';
        if ($dry_run) {
            skip_one("$name - response_body_$type - tests skipped due to $dry_run");
        } elsif ($type eq 'like') {
            Test::More::like($content, qr/$pat/s,
                "$name - response_body_like - response is expected ($summary)");
        } else {
            Test::More::unlike($content, qr/$pat/s,
                "$name - response_body_unlike - response is expected ($summary)");
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $idx, $rep, $dry_run);
    }
}

# lines of error.log written since the last call (plus, for must_die, the
# captured stderr of the nginx command)
sub error_log_data () {
    sleep $TestNginxSleep * 3;
    my @lines;
    if (open my $in, '<', $ErrLogFile) {
        seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos;
        @lines = <$in>;
        $ErrLogFilePos = tell($in) unless $CheckAccumErrLog;
        close $in;
    }
    push @lines, @$PendingStderr if $PendingStderr;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

sub to_patterns ($) {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}

sub line_matches ($$) {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ /$pat/ : index($line, $pat) >= 0;
}

sub value_contains ($$) {
    my ($val, $pat) = @_;
    return 0 unless defined $val;
    return index("$val", $pat) >= 0 if !ref $val || ref $val eq 'Regexp';
    return scalar grep { value_contains($_, $pat) } @$val if ref $val eq 'ARRAY';
    return 0;
}

# --- error_log / --- access_log style: every pattern must match some line
sub check_log_has ($$$$$$) {
    my ($block, $pats, $lines, $file, $dry_run, $rep) = @_;
    my $name = $block->name;
    my $sect = $file eq 'error.log' ? 'error_log' : 'access_log';
    for my $pat (@{ to_patterns($pats) }) {
        next unless defined $pat;
        if ($dry_run) {
            skip_one("$name - $sect - tests skipped due to $dry_run");
        } elsif (grep { line_matches($_, $pat) } @$lines) {
            Test::More::pass("$name - pattern \"$pat\" matches a line in $file (req $rep)");
        } else {
            Test::More::fail("$name - pattern \"$pat\" should match a line in $file (req $rep)");
        }
    }
}

# --- no_error_log / --- no_access_log style: no pattern may match any line
sub check_log_lacks ($$$$$$) {
    my ($block, $pats, $lines, $file, $dry_run, $rep) = @_;
    my $name = $block->name;
    my $sect = $file eq 'error.log' ? 'no_error_log' : 'no_access_log';
    for my $pat (@{ to_patterns($pats) }) {
        next unless defined $pat;
        my $p = fmt_str($pat);
        my @hits = grep { line_matches($lines->[$_], $pat) } 0 .. $#$lines;
        if ($dry_run) {
            skip_one("$name - $sect - tests skipped due to $dry_run");
            next;
        }
        if (!@hits) {
            Test::More::pass("$name - pattern \"$p\" does not match a line in $file (req $rep)");
            next;
        }
        Test::More->builder->no_ending(1) if @hits > 1;
        for my $i (@hits) {
            my $ln = fmt_str($lines->[$i]);
            my @more = @$lines[$i + 1 .. List::Util::min($i + 9, $#$lines)];
            Test::More::fail("$name - pattern \"$p\" should not match any line in "
                             . "$file but matches line \"$ln\" (req $rep)\n" . join('', @more));
        }
    }
}

sub check_error_log ($$$) {
    my ($block, $dry_run, $rep) = @_;
    my $name = $block->name;
    my $lines;

    my $grep_pats = $block->grep_error_log;
    if (defined $grep_pats) {
        my $grep_pat = ref $grep_pats eq 'ARRAY' ? $grep_pats->[$rep] : $grep_pats;
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = expand_env_in_text($expected, $name, $RandPorts);
        $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
        if (defined $grep_pat) {
            if ($dry_run) {
                skip_one("$name - error_log - tests skipped due to $dry_run");
            } else {
                $lines ||= error_log_data();
                my $matched = '';
                for my $line (@$lines) {
                    if (ref $grep_pat ? $line =~ /$grep_pat/ : $line =~ /\Q$grep_pat\E/) {
                        $matched .= "$&\n" if $& !~ /\n/;
                    }
                }
                my $desc = "$name - grep_error_log_out (req $rep)";
                if (ref $expected eq 'Regexp') {
                    Test::More::like($matched, $expected, $desc);
                } elsif ($NoLongString) {
                    Test::More::is($matched, $expected, $desc);
                } else {
                    Test::LongString::is_string($matched, $expected, $desc);
                }
            }
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    my %warn_for = map { $_ => 1 } qw( [alert] [crit] [emerg] );
    for my $sect ($block->error_log, $block->no_error_log) {
        for my $lvl (qw( alert crit emerg )) {
            delete $warn_for{"[$lvl]"} if value_contains($sect, "[$lvl");
        }
    }

    if (defined $block->error_log) {
        $lines ||= error_log_data();
        check_log_has($block, $block->error_log, $lines, 'error.log', $dry_run, $rep);
    }

    if (defined $block->no_error_log) {
        $lines ||= error_log_data();
        check_log_lacks($block, $block->no_error_log, $lines, 'error.log', $dry_run, $rep);
    }

    if (%warn_for && !$dry_run) {
        $lines ||= error_log_data();
        for my $line (@$lines) {
            next if $line =~ /^nginx: \[/;    # captured stderr copy
            for my $tag (keys %warn_for) {
                if (index($line, $tag) >= 0) {
                    warn "WARNING: $name - " . fmt_str($line) . "\n";
                    last;
                }
            }
        }
    }

    for my $line (@{ $lines || [] }) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            Test::More->builder->no_ending(1);
            chomp(my $l = $line);
            Test::More::fail("$name - $l\n");
        }
    }
}

sub check_access_log ($$$) {
    my ($block, $dry_run, $rep) = @_;
    my $lines;
    if (defined $block->access_log) {
        $lines ||= access_log_data();
        check_log_has($block, $block->access_log, $lines, 'access.log', $dry_run, $rep);
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        check_log_lacks($block, $block->no_access_log, $lines, 'access.log', $dry_run, $rep);
    }
}

sub run_test_helper ($$$) {
    my ($block, $dry_run, $rep) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") unless @$reqs;

    my $timeout = parse_time($block->timeout) // timeout();
    my ($res, $n, $need_array);
    my $idx = 0;

    for my $one (@$reqs) {
        my ($raw, $head_req) = $dry_run
            ? ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0)
            : send_request($block, $one, $timeout);

        if ($block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = @$reqs > 1;
        }

        while (1) {    # once per response (several with pipelined_requests)
            $raw //= '';
            my ($raw_headers, $left);
            if (!defined $block->ignore_response) {
                if (defined $block->http09) {
                    ($res, $raw_headers) = (HTTP::Response->new(200, 'OK', [], $raw), '');
                } else {
                    ($res, $raw_headers, $left) = parse_response($name, $raw, $head_req);
                    $raw_headers //= '';
                }
            }

            if (!$n) {
                if (defined $left && length $left) {
                    (my $l = $left) =~ s/([\0-\037\200-\377])/sprintf('\x{%02x}', ord $1)/eg;
                    warn "WARNING: $name - unexpected extra bytes after last chunk in ",
                         "response: \"$l\"\n";
                }
            } else {
                $raw = $left;
                $n--;
            }

            if (!defined $block->ignore_response) {
                check_error_code($block, $res, $dry_run, $idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $dry_run, $idx, $need_array);
                check_response_headers($block, $res, $raw_headers, $dry_run, $idx, $need_array);
                transform_response_body($block, $res, $idx);
                check_response_body($block, $res, $dry_run, $idx, $rep, $need_array);
            }

            if ($n || $idx < @$reqs - 1) {
                sleep $block->wait if $block->wait;
                check_error_log($block, $dry_run, $rep);
                check_access_log($block, $dry_run, $rep) unless defined $block->ignore_response;
            }

            $idx++;
            last unless $n;
        }
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $dry_run, $rep);
    check_access_log($block, $dry_run, $rep) unless defined $block->ignore_response;
}

END {
    if (defined $MainPid && $$ == $MainPid) {
        local ($?, $!, $@);
        cleanup();
        if (!$ENV{TEST_NGINX_NO_CLEAN}) {
            stop_nginx('END');
            if ($Randomize && -d $ServRoot && $ServRoot =~ m{/t/servroot_\d+$}) {
                File::Path::remove_tree($ServRoot);
            }
        }
        # reap anything re-parented to us (we may be a child subreaper)
        for (1 .. 1000) { last if waitpid(-1, POSIX::WNOHANG()) <= 0 }
    }
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - minimal stand-in for OpenResty's Test::Nginx::Socket

=head1 DESCRIPTION

Only used when the real Test::Nginx is not installed.  Supports the block
sections and functions documented by the real module that this project's
tests use; see the comments in the source for the exact subset.

=cut
