# An attacker's review of issue 21 points 1 and 4 (error pages of refusals checked again; the
# preaccess work split around the limiters by $jwt_peer_auth_unverified_addr): each block is an
# attempt to reach content without a valid token, or to confuse the module's state.
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

our $HELPERS;
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
    make_path($HELPERS);
    my $c = "$HELPERS/preaccess_ok.c";
    my $old = -f $c ? do { local (@ARGV, $/) = $c; <> } : '';
    my $objs = do { local (@ARGV, $/) = "$root/target/release/nginx-build-dir"; my $d = <>; $d =~ s/\s+\z//; $d };
    # The NGINX source the objs/ directory was configured from (its Makefile's first include).
    my ($src_dir) = do { local (@ARGV, $/) = "$objs/Makefile"; <> } =~ m{^\s*-I\s+(\S+)/src/core\b}m;
    if (!defined $src_dir || $src_dir !~ m{^/}) {
        # Relative includes: the build ran in the source directory; nginx-src keeps it here.
        ($src_dir) = glob("$ENV{HOME}/.cargo/registry/src/*/nginx-src-*/nginx");
    }
    die "no NGINX source for the helper module\n" unless $src_dir && -d "$src_dir/src/http";
    my @inc = map { ('-I', "$src_dir/src/$_") } qw(core event event/modules event/quic os/unix http http/modules http/v2);
    if ($old ne $src || !-f "$HELPERS/between.so" || !-f "$HELPERS/ahead.so"
        || -M "$HELPERS/between.so" > -M "$root/build/nginx") {
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
    # "between" before jwt_peer_auth, "ahead" after it (postconfiguration runs in load order;
    # a phase runs its handlers last-added first).
    $ENV{TEST_NGINX_LOAD_MODULES} = join ' ', "$HELPERS/between.so",
        "$root/build/ngx_http_jwt_peer_auth_module.so", "$HELPERS/ahead.so";
}

use JwtPeerAuth;
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

JwtPeerAuth::setup(
    workers => 1,
    user_files => [["index.html" => "secret\n"], ["err.html" => "please log in\n"],
                   ["admin/secret" => "admin secret\n"]],
    http_config_prefix => <<'_EOC_',
    # The application: says what reached it.
    server {
        listen 127.0.0.1:$TEST_NGINX_BACKEND_PORT;
        location / { return 200 "backend reached: $request_method $request_uri\n"; }
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
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=100r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        set $preaccess_ok_between 1;
        limit_req zone=unverified burst=100 nodelay;
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
--- http_config
    limit_req_zone $jwt_peer_auth_unverified_addr zone=unverified:1m rate=100r/s;
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    jwt_peer_auth_phase preaccess;
    location /p/ {
        set $preaccess_ok_ahead 1;
        limit_req zone=unverified burst=100 nodelay;
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
