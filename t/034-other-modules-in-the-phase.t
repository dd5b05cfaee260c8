# An attacker's review of issue 21 points 1 and 4 (error pages of refusals checked again; the
# preaccess work split around the limiters by $jwt_peer_auth_unverified_addr): each block is an
# attempt to reach content without a valid token, or to confuse the module's state.
#
#   TEST 1-3  another module ends the preaccess phase with NGX_OK, between the module's two
#             preaccess handlers (a pending token) or ahead of them: before the fix a corrupt
#             token, an unknown kid and no token at all reached the backend (12 of 21 checks
#             failed); now the access phase checks what the preaccess phase left undecided.
#   TEST 4    satisfy any beside auth_basic: the Bearer challenge was dropped whenever another
#             module's challenge was on the response (2 checks failed before the fix).
#   TEST 5-9  held: limit_req delaying, limit_req_dry_run, limit_conn, X-Accel-Redirect, error
#             page chains (named, rewrite, =200, 403 pages, post_action), HTTP/2 streams.
#   TEST 10   a refusal loop between protected error pages is bounded by NGINX (11 rounds).
#   TEST 11   limit_req counts a request once: a documented limitation of the throttle.
#
# Helper modules: two copies of a tiny NGINX module (its C source is below, compiled at load
# time with the vendored NGINX's headers) whose preaccess handler ends the phase with NGX_OK
# (legal NGINX semantics: "this phase is done") where the location sets $preaccess_ok_between
# or $preaccess_ok_ahead to 1. "between" is loaded before jwt_peer_auth, so its handler runs
# after the module's first preaccess handler and before its handler after the limiters;
# "ahead" is loaded after it, so it runs before all of the module's preaccess handlers.
use FindBin;
use lib "$FindBin::Bin/helpers";
use File::Path qw(make_path);

our ($HELPERS, $NO_HELPERS);

# Compiles the helper modules with the headers of the NGINX the module was built for: the
# vendored build (target/release/nginx-build-dir), or NGINX_BUILD_DIR and NGINX_SOURCE_DIR as
# scripts/build.sh takes them. Dies if that is not possible.
sub build_helpers {
    my ($root, $src) = @_;
    my $objs = $ENV{NGINX_BUILD_DIR} // do {
        my $f = "$root/target/release/nginx-build-dir";
        open(my $fh, '<', $f) or die "$f: $!\n";
        my $d = <$fh> // die "$f is empty\n";
        $d =~ s/\s+\z//;
        $d;
    };
    die "no objs/ directory at $objs\n" unless -f "$objs/ngx_auto_config.h";
    # One directory per NGINX build: a module only loads into the NGINX it was compiled for.
    require Digest::MD5;
    $HELPERS .= '/' . substr(Digest::MD5::md5_hex($objs), 0, 12);
    # The NGINX source the objs/ directory was configured from (its Makefile's first include).
    my $src_dir = $ENV{NGINX_SOURCE_DIR};
    ($src_dir) = do { local (@ARGV, $/) = "$objs/Makefile"; <> } =~ m{^\s*-I\s+(\S+)/src/core\b}m
        unless defined $src_dir;
    if (!defined $src_dir || $src_dir !~ m{^/}) {
        # Relative includes: the build ran in the source directory; nginx-src keeps it here.
        ($src_dir) = glob("$ENV{HOME}/.cargo/registry/src/*/nginx-src-*/nginx");
    }
    die "no NGINX source for the helper module\n" unless $src_dir && -d "$src_dir/src/http";
    make_path($HELPERS);
    my $c = "$HELPERS/preaccess_ok.c";
    my $old = -f $c ? do { local (@ARGV, $/) = $c; <> } : '';
    my @inc = map { ('-I', "$src_dir/src/$_") } qw(core event event/modules event/quic os/unix http http/modules http/v2);
    if ($old ne $src || !-f "$HELPERS/between.so" || !-f "$HELPERS/ahead.so"
        || -M "$HELPERS/between.so" > -M "$objs/ngx_auto_config.h") {
        open(my $fh, '>', $c) or die "$c: $!";
        print $fh $src;
        close $fh;
        for my $which (qw(between ahead)) {
            system('cc', '-shared', '-fPIC', '-O', '-Wall',
                   "-DMODNAME=ngx_http_preaccess_ok_${which}_module", "-DVARNAME=preaccess_ok_$which",
                   @inc, '-I', $objs, $c, '-o', "$HELPERS/$which.so") == 0
                or die "cannot compile the helper module\n";
        }
    }
}

BEGIN {
    # Compiled once per run into t/preaccess-ok.tmp (ignored by git, as t/keys.tmp).
    my $root = "$FindBin::Bin/..";
    $HELPERS = "$FindBin::Bin/preaccess-ok.tmp";
    my $src = <<'_C_';
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static ngx_int_t preaccess_ok_init(ngx_conf_t *cf);

static ngx_http_module_t ctx = {
    NULL, preaccess_ok_init, NULL, NULL, NULL, NULL, NULL, NULL
};

ngx_module_t MODNAME = {
    NGX_MODULE_V1, &ctx, NULL, NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NGX_MODULE_V1_PADDING
};

/* Ends the preaccess phase (NGX_OK) where the location set $<VARNAME> to "1". */
static ngx_int_t
preaccess_ok_handler(ngx_http_request_t *r)
{
    ngx_str_t name = ngx_string(STR(VARNAME));
    ngx_http_variable_value_t *v;

    v = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));
    if (v == NULL || v->not_found || v->len != 1 || v->data[0] != '1') {
        return NGX_DECLINED;
    }
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  STR(MODNAME) ": preaccess phase ended with NGX_OK");
    return NGX_OK;
}

static ngx_int_t
preaccess_ok_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt *h;
    ngx_http_core_main_conf_t *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = preaccess_ok_handler;
    return NGX_OK;
}

ngx_module_t *ngx_modules[] = { &MODNAME, NULL };
char *ngx_module_names[] = { STR(MODNAME), NULL };
char *ngx_module_order[] = { NULL };
_C_
    $NO_HELPERS = eval { build_helpers($root, $src); 0 } // do { warn "t/034: $@"; 1 };
    # "between" before jwt_peer_auth, "ahead" after it (postconfiguration runs in load order;
    # a phase runs its handlers last-added first). Without them, TEST 1-3 are skipped.
    # The module under test: the one the runner was given (e.g. scripts/test-debian.sh's build
    # for Debian's NGINX), else the vendored build.
    my $module = $ENV{TEST_NGINX_LOAD_MODULES} || "$root/build/ngx_http_jwt_peer_auth_module.so";
    $ENV{TEST_NGINX_LOAD_MODULES} = join ' ', ($NO_HELPERS ? () : "$HELPERS/between.so"),
        $module, ($NO_HELPERS ? () : "$HELPERS/ahead.so");
}

use JwtPeerAuth;
use Http2;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_BACKEND_PORT} ||= JwtPeerAuth::free_port();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
JwtPeerAuth::set_http2_listen();

our $BUILTIN = qr/<title>401 Authorization Required<\/title>/;
our $PEER1 = JwtPeerAuth::token('rsa', '--claims', '{"identifier":"peer-1","role":"user"}');

# The counter "$name" on the status page.
sub counter {
    my ($json, $name) = @_;
    my ($n) = $json =~ /"\Q$name\E":(\d+)/ or die "no \"$name\" in $json";
    return $n;
}

# Requests the backend's /d/ location logged (post_action), since this block began.
my $backend_d_mark;
sub backend_d {
    my $f = Test::Nginx::Socket::server_root() . '/logs/backend-d.log';
    my @lines = -f $f ? do { open(my $fh, '<', $f) or die "$f: $!"; <$fh> } : ();
    $backend_d_mark //= 0;
    return @lines - $backend_d_mark;
}

# HPACK: a literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2).
sub hpack_int {
    my ($n, $prefix_bits, $first) = @_;
    my $max = (1 << $prefix_bits) - 1;
    return chr($first | $n) if $n < $max;
    my $out = chr($first | $max);
    $n -= $max;
    while ($n >= 128) { $out .= chr(($n % 128) + 128); $n = int($n / 128); }
    return $out . chr($n);
}
sub hpack_literal {
    my ($name, $value) = @_;
    return "\x00" . hpack_int(length $name, 7, 0) . $name . hpack_int(length $value, 7, 0) . $value;
}

# GETs of $path on one h2c (prior knowledge) connection to 127.0.0.1:$port, all streams sent
# at once, one per Authorization value: the DATA of each stream, in order (bounded by 10 s).
sub h2_streams {
    my ($port, $path, @auth) = @_;
    require IO::Socket::INET;
    require IO::Select;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    binmode $s;
    my $frame = sub { my ($type, $flags, $id, $payload) = @_;
        return substr(pack('N', length $payload), 1) . pack('CCN', $type, $flags, $id) . $payload };
    my $out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . $frame->(4, 0, 0, '');
    my %body;
    my $id = 1;
    for my $a (@auth) {
        my $block = hpack_literal(':method', 'GET') . hpack_literal(':scheme', 'http')
            . hpack_literal(':path', $path) . hpack_literal(':authority', "127.0.0.1:$port")
            . hpack_literal('authorization', $a);
        $out .= $frame->(1, 0x5, $id, $block);    # END_STREAM | END_HEADERS
        $body{$id} = '';
        $id += 2;
    }
    print $s $out;
    my ($buf, %done) = ('');
    my $sel = IO::Select->new($s);
    my $deadline = time + 10;
    while (keys %done < @auth && time < $deadline && $sel->can_read($deadline - time)) {
        sysread($s, $buf, 65536, length $buf) or last;
        while (length $buf >= 9) {
            my ($len) = unpack('N', "\0" . substr($buf, 0, 3));
            last if length $buf < 9 + $len;
            my ($type, $flags, $sid) = unpack('CCN', substr($buf, 3, 6));
            my $payload = substr($buf, 9, $len);
            substr($buf, 0, 9 + $len) = '';
            $sid &= 0x7fffffff;
            print $s $frame->(4, 0x1, 0, '') if $type == 4 && !($flags & 0x1);    # SETTINGS ack
            $body{$sid} .= $payload if $type == 0;
            $done{$sid} = 1 if ($type == 0 || $type == 1) && ($flags & 0x1);
            $done{$sid} = 1 if $type == 3;                                       # RST_STREAM
            $deadline = 0 if $type == 7;                                         # GOAWAY
        }
    }
    close $s;
    return map { $body{$_} } sort { $a <=> $b } keys %body;
}

JwtPeerAuth::setup(
    workers => 1,
    user_files => [["index.html" => "secret\n"], ["err.html" => "please log in\n"],
                   ["admin/secret" => "admin secret\n"]],
    http_config_prefix => <<'_EOC_',
    # The application: says what reached it.
    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        location / { return 200 "backend reached: $request_method $request_uri\n"; }
        location /d/ { access_log logs/backend-d.log; return 200 "post_action reached\n"; }
        location /accel/ {
            add_header X-Accel-Redirect /admin/secret;
            return 200 "accel\n";
        }
    }
_EOC_
);

run_tests();

__DATA__

=== TEST 1: split preaccess: another module ends the preaccess phase (NGX_OK) between the module's two handlers: a pending token is still verified
--- skip_eval
11: $main::NO_HELPERS
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified1:1m rate=100r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        set $preaccess_ok_between 1;
        limit_req zone=unverified1 burst=100 nodelay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request eval
["GET /p/x", "GET /p/x", "GET /p/x", "GET /p/x"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), JwtPeerAuth::bearer('rsa', '--kid', 'not-there'),
 "Authorization: Bearer $main::PEER1"]
--- error_code eval
[401, 401, 401, 200]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, "backend reached: GET /p/x\n"]
--- between_3
Test::More::is(JwtPeerAuth::log_count(qr/preaccess_ok_between_module: preaccess phase ended/), 3,
               'the helper ended the phase for the three requests the first handler left pending');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: the preaccess phase ended before the token was checked there/), 3,
               'each of them checked in the access phase instead, said once');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: token rejected: (signature|unknown_kid)/), 2,
               'the corrupt token and the unknown kid refused there');



=== TEST 2: another module ends the preaccess phase before the module's first handler: the token is still checked (split or not)
--- skip_eval
11: $main::NO_HELPERS
--- http_config
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        set $preaccess_ok_ahead 1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /p/x", "GET /p/x", "GET /p/x"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer $main::PEER1"]
--- error_code eval
[401, 401, 200]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, "backend reached: GET /p/x\n"]
--- between_2
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: the preaccess phase ended before the token was checked there/), 3,
               'all three checked in the access phase instead');



=== TEST 3: the same with the split
--- skip_eval
11: $main::NO_HELPERS
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified3:1m rate=100r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        set $preaccess_ok_ahead 1;
        limit_req zone=unverified3 burst=100 nodelay;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
--- request eval
["GET /p/x", "GET /p/x", "GET /p/x"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer $main::PEER1"]
--- error_code eval
[401, 401, 200]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, "backend reached: GET /p/x\n"]



=== TEST 4: satisfy any beside auth_basic: a client no module admits gets both challenges (Basic and Bearer), as the guide says
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /p/ {
        satisfy any;
        auth_basic "basic";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        alias html/;
    }
--- user_files eval
[["index.html" => "secret\n"], ["htpasswd" => "peer:{PLAIN}s3cret\n"]]
--- request eval
["GET /p/index.html", "GET /p/index.html", "GET /p/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer $main::PEER1"]
--- error_code eval
[401, 401, 200]
--- response_headers_like eval
['WWW-Authenticate: Basic realm="basic", Bearer realm="peers"',
 'WWW-Authenticate: Basic realm="basic", Bearer realm="peers", error="invalid_token"', '']
--- response_body eval
[qr/401 Authorization Required/, qr/401 Authorization Required/, "secret\n"]



=== TEST 5: split preaccess with limit_req delaying (no nodelay): a delayed request re-enters the phase after limit_req and is still verified
# limit_req puts an excess request on a timer (NGX_AGAIN); NGINX then runs the phase again from
# limit_req's handler: the handler after the limiters must still verify it.
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified5:1m rate=5r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        limit_req zone=unverified5 burst=10;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request
GET /status
--- between_0
my %seen;
for my $i (1 .. 4) {
    my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/x',
        headers => ['Authorization: Bearer ' . JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"n":$i}))]);
    $seen{$code}++;
}
Test::More::is($seen{401} // 0, 4, 'delayed junk tokens: all refused after the delay');
my ($code, $body) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', '/p/x',
    headers => ["Authorization: Bearer $main::PEER1"]);
Test::More::is("$code $body", "200 backend reached: GET /p/x\n", 'a delayed new valid token: verified and passed');
Test::More::ok(JwtPeerAuth::log_count(qr/delaying request, excess: .* by zone "unverified5"/) >= 3, 'limit_req delayed them');
my $json = JwtPeerAuth::status_json();
Test::More::is(main::counter($json, 'signature'), 4, 'status: 4 signature refusals');
Test::More::is(JwtPeerAuth::log_count(qr/the preaccess phase ended before the token was checked/), 0,
               'all decided in the preaccess phase');



=== TEST 6: limit_req_dry_run on, and limit_conn: every pending token is still verified (nothing passes unverified)
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified6:1m rate=1r/m;
    limit_conn_zone $jwt_peer_auth_unverified_addr zone=conns6:1m;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /dry/ {
        limit_req zone=unverified6 nodelay;
        limit_req_dry_run on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /conn/ {
        limit_conn conns6 1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request
GET /status
--- between_0
for my $path ('/dry/x', '/conn/x') {
    my %seen;
    for my $i (1 .. 5) {
        my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', $path,
            headers => ['Authorization: Bearer ' . JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"n":$i}))]);
        $seen{$code}++;
    }
    Test::More::is($seen{401} // 0, 5, "$path: 5 junk tokens, 5 verified and refused");
    my ($code, $body) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', $path,
        headers => ["Authorization: Bearer $main::PEER1"]);
    Test::More::is("$code $body", "200 backend reached: GET $path\n", "$path: a valid token passes");
}
Test::More::is(JwtPeerAuth::log_count(qr/limiting requests, dry run, excess: .* by zone "unverified6"/), 5,
               'dry run: limit_req would have refused 5 (4 junk tokens and the new valid one)');
Test::More::is(main::counter(JwtPeerAuth::status_json(), 'signature'), 10, 'status: 10 signature refusals');



=== TEST 7: X-Accel-Redirect from the application into a protected location: its own rules decide (an allowed token without the claim, an optional location without a token)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/accel/; }
    location /pub/ { jwt_peer_auth "peers" optional; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/accel/; }
    location /pre/ { jwt_peer_auth_phase preaccess; proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT/accel/; }
    location /admin/ {
        jwt_peer_auth_claim role admin;
        root html;
        add_header X-Seen "[$jwt_peer_auth_status] [$jwt_claim_role]" always;
    }
--- request eval
["GET /app/x", "GET /pub/x", "GET /pub/x", "GET /pre/x", "GET /app/x"]
--- more_headers eval
["Authorization: Bearer $main::PEER1", "", JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer $main::PEER1",
 JwtPeerAuth::bearer_claims(role => 'admin')]
--- error_code eval
[401, 401, 401, 401, 200]
--- response_headers eval
# The corrupt token is refused by /pub/ itself (optional admits only a missing token).
["X-Seen: [claim] []", "X-Seen: [missing] []", "!X-Seen", "X-Seen: [claim] []", "X-Seen: [ok] [admin]"]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, $main::BUILTIN, "admin secret\n"]



=== TEST 8: error page chains: 401 -> named -> rewrite last -> protected; 401 =200 into a protected page; require error=403 -> 403 page protected by another rule; post_action into a protected backend
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location /a/ { error_page 401 = @named; alias html/; }
    location @named { rewrite ^ /admin/secret last; }
    location /b/ { error_page 401 =200 /err.html; alias html/; }
    location = /err.html { root html; }
    location /c/ {
        jwt_peer_auth_require $jwt_claim_admin error=403;
        error_page 403 /forbidden/x;
        alias html/;
    }
    location /forbidden/ {
        jwt_peer_auth_claim role admin;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location /d/ { post_action @log; alias html/; }
    location @log { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location /admin/ { root html; }
--- request eval
["GET /a/index.html", "GET /b/index.html", "GET /c/index.html", "GET /d/index.html", "GET /d/index.html"]
--- more_headers eval
["", JwtPeerAuth::bearer('rsa', '--corrupt'), "Authorization: Bearer $main::PEER1", "", "Authorization: Bearer $main::PEER1"]
# The 403 page's location refuses the token too (claim): NGINX's own page for that status, 401.
--- error_code eval
[401, 401, 401, 401, 200]
--- response_body eval
[$main::BUILTIN, $main::BUILTIN, $main::BUILTIN, $main::BUILTIN, "secret\n"]
--- between_3
select(undef, undef, undef, 0.5);
# /a/'s refusal at /admin/ (request 0), and @log's.
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: error page refused too: missing/), 2,
               'post_action of a refused request: checked again in @log, refused');
Test::More::is(JwtPeerAuth::log_count(qr/jwt_peer_auth: error page refused too: (signature|claim)/), 2,
               '401 =200 and the 403 page: refused again');
Test::More::is(main::backend_d(), 0, 'the backend never saw it');
--- between_4
select(undef, undef, undef, 0.5);
Test::More::is(main::backend_d(), 1, "the valid token's post_action reached the backend");



=== TEST 9: split preaccess over HTTP/2: distinct junk tokens as streams of one connection are throttled unverified; none passes; a valid one does
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified9:1m rate=1r/m;
--- config
    listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        limit_req zone=unverified9 burst=2 nodelay;
        limit_req_status 429;
        proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT;
    }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request
GET /status
--- between_0
# One connection, 8 streams at once, each with its own junk token (a minimal h2c client below:
# curl 7.88 cannot reuse a prior-knowledge connection).
my @bodies = main::h2_streams($ENV{TEST_NGINX_H2_PORT}, '/p/x',
    map { 'Bearer ' . JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"n":$_})) } 1 .. 8);
my %seen = map { $_ => 0 } qw(401 429 200);
for (@bodies) {
    $seen{ /<title>(\d{3}) / ? $1 : /backend reached/ ? 200 : 0 }++;
}
Test::More::is("$seen{401} $seen{429} $seen{200}", '3 5 0', '3 verified and refused, 5 throttled unverified, none passed');
Test::More::is(main::counter(JwtPeerAuth::status_json(), 'signature'), 3, 'status: 3 signature refusals');
my $ok = Http2::get($ENV{TEST_NGINX_H2_PORT}, '/p/x', ["Authorization: Bearer $main::PEER1"]);
# The valid token's first use is verified after the limiters too: from 127.0.0.1, over the limit.
Test::More::is($ok->{status}, 429, "a new valid token from the throttled address: over the address's limit");



=== TEST 10: a refusal loop between two protected error pages (recursive_error_pages on): bounded by NGINX's redirect limit, counted once
# Three key files per location: the refusal cache (locations with at most two key sources) does
# not answer, so each round verifies the signature again: at most NGINX's 10 internal redirects.
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/k2.json;
    jwt_peer_auth_jwks_file $TEST_NGINX_HTML_DIR/k3.json;
    recursive_error_pages on;
    location /a/ { error_page 401 /b/x; alias html/; }
    location /b/ { error_page 401 /a/x; alias html/; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- user_files eval
[["index.html" => "secret\n"], ["k2.json" => JwtPeerAuth::jwks('ec')], ["k3.json" => JwtPeerAuth::jwks('rsa2')]]
--- request eval
["GET /a/index.html", "GET /status"]
--- more_headers eval
[JwtPeerAuth::bearer('rsa', '--corrupt'), ""]
--- error_code eval
[500, 200]
--- between_1
my $json = JwtPeerAuth::status_json();
my ($hits, $misses) = JwtPeerAuth::cache_counts($json);
Test::More::diag("verifications for one request: $misses; refused too: "
    . JwtPeerAuth::log_count(qr/error page refused too/));
Test::More::ok($misses <= 11, "at most one verification per redirect ($misses)");
Test::More::is(main::counter($json, 'signature'), 1, 'counted once');



=== TEST 11: limit_req counts a request once (r->main->limit_req_status): a request that passed another limit before an internal redirect is not throttled by the variable in the protected location it reaches (a documented limitation)
# NGINX's limit_req runs once per request: in a location where a limit counted the request (a
# per-address zone here), it is done for the whole request. /static/ is open, its try_files
# goes to the protected @app: junk tokens reach @app's verification unthrottled. Directly in
# /app/, the same limits throttle them. Put the limit keyed by the variable in the locations
# that check tokens, and no other limit before an internal redirect into them.
--- http_config
    limit_req_zone $binary_remote_addr zone=perip11:1m rate=100r/s;
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified11:1m rate=1r/m;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    limit_req zone=perip11 burst=100 nodelay;
    limit_req zone=unverified11 nodelay;
    limit_req_status 429;
    location /static/ { jwt_peer_auth off; root html; try_files $uri @app; }
    location @app { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location /app/ { proxy_pass http://127.0.0.1:$TEST_NGINX_BACKEND_PORT; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
--- request
GET /status
--- between_0
for my $case (['/app/x', '1 4'], ['/static/x', '5 0']) {
    my ($path, $want) = @$case;
    my %seen = map { $_ => 0 } qw(401 429);
    for my $i (1 .. 5) {
        my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'GET', $path,
            headers => ['Authorization: Bearer ' . JwtPeerAuth::token('rsa', '--corrupt', '--claims', qq({"n":$i}))]);
        $seen{$code}++;
    }
    Test::More::is("$seen{401} $seen{429}", $want, "$path: refused after a verification, throttled");
}
