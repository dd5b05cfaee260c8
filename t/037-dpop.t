# DPoP (RFC 9449) at the resource server: jwt_peer_auth_dpop off | on | optional, the proof
# checks of RFC 9449 §4.3 and §7.1 (one refusal each, with its $jwt_peer_auth_status word, its
# challenge and one info line), the replay cache shared by the workers and kept across a
# reload, a full replay cache (fail closed, one [error]), server nonces (across workers and
# across two NGINX instances sharing a key file), no Bearer downgrade of a bound token, the
# token cache and the refusal cache, and every bad directive's [emerg].
#
# Proofs and tokens are minted in the blocks' between_0 hooks (at run time: both runners), by
# build/jwt-mint; the requests of a hook go to 127.0.0.1 with "Host: 127.0.0.1", so the URL a
# proof names by default is http://127.0.0.1/<path>. Two workers.
#
# Every block fails on a module built before the feature: the directives are unknown (nginx -t
# fails).
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Temp ();
use Http2;
use Test::Nginx::Socket 'no_plan';

our $K = $JwtPeerAuth::KEYS;
JwtPeerAuth::set_http2_listen();
$ENV{TEST_NGINX_H2_PORT} ||= JwtPeerAuth::free_port();
our $MINT = $JwtPeerAuth::MINT;
-f "$K/ec2.pk8" or system($MINT, 'eckey', $K, 'ec2') == 0 or die "jwt-mint eckey failed\n";

# Nonce key files: one of 32 random bytes (shared by two NGINX in TEST 8), one too short.
our $DPOP_DIR = File::Temp::tempdir('jwt-peer-auth-dpop-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $DPOP_DIR;
$ENV{TEST_NGINX_DPOP_DIR} = $DPOP_DIR;
JwtPeerAuth::write_file("$DPOP_DIR/nonce.key", join('', map { chr(int(rand(256))) } 1 .. 32));
JwtPeerAuth::write_file("$DPOP_DIR/short.key", 'x' x 16);

sub mint {
    my (@args) = @_;
    open(my $fh, '-|', $MINT, @args) or die "cannot run $MINT: $!";
    my $out = do { local $/; <$fh> };
    close($fh) or die "jwt-mint @args failed\n";
    chomp $out;
    return $out;
}

# A token bound to test key $key (cnf.jkt), typed at+jwt (RFC 9068).
sub bound { mint('sign', $K, 'rsa', '--typ', 'at+jwt', '--cnf-jkt', $_[0] // 'ec', @_[1 .. $#_]) }
sub jkt { mint('jkt', $K, $_[0]) }
# A proof by $key for GET http://127.0.0.1$path and token $t; @opts as jwt-mint proof.
sub proof {
    my ($key, $path, $t, @opts) = @_;
    return mint('proof', $K, $key, '--htu', "http://127.0.0.1$path", '--token', $t, @opts);
}

# One request: ($status, \%headers (lower-case names; repeated ones joined by "\n"), $body).
sub req {
    my ($path, %o) = @_;
    my @h;
    push @h, "Authorization: $o{auth}" if defined $o{auth};
    push @h, "DPoP: $_" for @{ $o{dpop} // [] };
    push @h, @{ $o{headers} // [] };
    my ($code, $body, $head) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), $o{method} // 'GET',
        $path, headers => \@h);
    my %h;
    for my $line (split /\r\n/, $head // '') {
        my ($n, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
        $n = lc $n;
        $h{$n} = defined $h{$n} ? "$h{$n}\n$v" : $v;
    }
    return ($code, \%h, $body);
}

# A DPoP request with token $t and proof(s) @p: checks status and X-Status.
sub dpop_is {
    my ($what, $path, $t, $p, $status, $word, %o) = @_;
    my ($code, $h) = req($path, auth => ($o{scheme} // 'DPoP') . " $t", dpop => ref $p ? $p : [$p], %o);
    Test::More::is($code, $status, "$what: status");
    Test::More::is($h->{'x-status'}, $word, "$what: \$jwt_peer_auth_status");
    return $h;
}

our $ALGS = 'DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA Ed25519"';

JwtPeerAuth::setup(
    user_files => ">>> index.html\nok\n",
    request => 'GET /open',
    response_body => "open\n",
    config => <<'_EOC_',
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location = /status { jwt_peer_auth off; jwt_peer_auth_status; }
    location /on/ {
        jwt_peer_auth_dpop on max_age=300;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Jkt $jwt_peer_auth_dpop_jkt always;
        add_header X-Pid $pid always;
    }
    location /opt/ {
        jwt_peer_auth_dpop optional max_age=300;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /off/ { alias html/; add_header X-Status $jwt_peer_auth_status always; }
_EOC_
);

# Each block's replay zone is its own (a reload under TEST_NGINX_USE_HUP=1 keeps a zone).
add_block_preprocessor(sub {
    my $block = shift;
    my $n = $block->seq_num;
    my $http = $block->http_config // "    jwt_peer_auth_dpop_zone dpop_b\@N\@:1m;\n";
    $http =~ s/\@N\@/$n/g;
    $block->set_value('http_config', $http);
});

run_tests();

__DATA__

=== TEST 1: on: a bound token with a fresh proof passes ($jwt_peer_auth_dpop_jkt is the key's RFC 7638 thumbprint); the same proof again is a replay, to any worker
--- between_0
my $t = bound('ec');
my $p = proof('ec', '/on/index.html', $t);
my $h = dpop_is('fresh proof', '/on/index.html', $t, $p, 200, 'ok');
is($h->{'x-jkt'}, jkt('ec'), '$jwt_peer_auth_dpop_jkt');
my $first = $h->{'x-pid'};
my ($other, $tries) = (undef, 0);
# The same proof, on new connections, until another worker than the first answers (bounded).
while ($tries++ < 40) {
    my ($code, $hh) = req('/on/index.html', auth => "DPoP $t", dpop => [$p]);
    is($code, 401, "replay $tries: 401");
    is($hh->{'x-status'}, 'dpop_replay', "replay $tries: dpop_replay");
    is($hh->{'www-authenticate'}, "$main::ALGS, error=\"invalid_dpop_proof\"", "replay $tries: challenge");
    if ($hh->{'x-pid'} ne $first) { $other = $hh->{'x-pid'}; last }
}
ok(defined $other, "a replay reached the other worker (pid $first answered first)");
is(JwtPeerAuth::log_count(qr/\[info\].*token rejected: dpop_replay \(the proof's jti was seen before\)/), $tries,
    'one info line per replay');
# A new proof for the same (now cached) token passes.
dpop_is('new proof, cached token', '/on/index.html', $t, proof('ec', '/on/index.html', $t), 200, 'ok');



=== TEST 2: on: one refusal per proof check (invalid_dpop_proof, status dpop_proof, one info line naming the check)
--- between_0
my $t = bound('ec');
my $u = '/on/index.html';
my @cases = (
    ['no DPoP header', [], qr/no "DPoP" header/],
    ['two DPoP headers', [proof('ec', $u, $t), proof('ec', $u, $t)], qr/more than one "DPoP" header/],
    ['not a JWT', ['abc'], qr/not a compact JWS/],
    ['typ JWT', [proof('ec', $u, $t, '--typ', 'JWT')], qr/"typ" is not dpop\+jwt/],
    ['no typ', [proof('ec', $u, $t, '--no-typ')], qr/no "typ" dpop\+jwt/],
    ['alg none', [proof('ec', $u, $t, '--header', '{"alg":"none"}')], qr/unsigned token, alg/],
    ['alg HS256', [proof('ec', $u, $t, '--header', '{"alg":"HS256"}')], qr/alg not allowed "HS256"/],
    ['private jwk', [proof('ec', $u, $t, '--jwk-private')], qr/"jwk" has a private key member "d"/],
    ['no jwk', [proof('ec', $u, $t, '--no-jwk')], qr/no "jwk" header member/],
    ['another key\'s jwk', [proof('ec2', $u, $t, '--jwk-of', 'ec')], qr/signature does not verify with its "jwk"/],
    ['bad signature', [proof('ec', $u, $t, '--corrupt')], qr/signature does not verify/],
    ['htm POST', [proof('ec', $u, $t, '--htm', 'POST')], qr/"htm" is not the request method: "POST"/],
    ['htu of another path', [proof('ec', '/on/other', $t)], qr/"htu" is not the request URL/],
    ['htu of another host', [mint('proof', $main::K, 'ec', '--htu', "http://evil.example$u", '--token', $t)], qr/"htu" is not the request URL/],
    ['htu https', [mint('proof', $main::K, 'ec', '--htu', "https://127.0.0.1$u", '--token', $t)], qr/"htu" is not the request URL/],
    ['iat too old', [proof('ec', $u, $t, '--iat', '-400')], qr/"iat" is older than max_age/],
    ['iat in the future', [proof('ec', $u, $t, '--iat', '100')], qr/"iat" is in the future/],
    ['no iat', [proof('ec', $u, $t, '--no-iat')], qr/no "iat"/],
    ['ath of another token', [proof('ec', $u, bound('ec', '--claims', '{"sub":"other"}'))], qr/"ath" is not the hash of the access token/],
    ['no ath', [mint('proof', $main::K, 'ec', '--htu', "http://127.0.0.1$u")], qr/no "ath"/],
    ['empty jti', [proof('ec', $u, $t, '--jti', '')], qr/"jti" is empty/],
);
for my $c (@cases) {
    my ($what, $proofs, $log) = @$c;
    my $re = qr/\[info\].*token rejected: dpop_proof \(.*$log/;
    my $before = JwtPeerAuth::log_count($re);
    my $h = dpop_is($what, $u, $t, $proofs, 401, 'dpop_proof');
    is($h->{'www-authenticate'}, "$main::ALGS, error=\"invalid_dpop_proof\"", "$what: challenge");
    is(JwtPeerAuth::log_count($re) - $before, 1, "$what: one info line");
}
# Normalized URLs name the same resource: case, default port, dot segments, percent-encoding.
for my $htu ("HTTP://127.0.0.1:80/on/index.html", "http://127.0.0.1/on/x/../index.html",
             "http://127.0.0.1/on/%69ndex.html?q=1#f") {
    dpop_is("htu $htu", $u, $t, [mint('proof', $main::K, 'ec', '--htu', $htu, '--token', $t)], 200, 'ok');
}



=== TEST 3: on: the token itself: bound to another key, not bound, sent as Bearer, a proof as access token, malformed DPoP credentials; RFC 9068 at+jwt tokens pass
--- between_0
my $u = '/on/index.html';
my $other = bound('ec2');
my $h = dpop_is('token bound to another key', $u, $other, proof('ec', $u, $other), 401, 'dpop_binding');
is($h->{'www-authenticate'}, "$main::ALGS, error=\"invalid_token\"", 'another key: invalid_token');
is(JwtPeerAuth::log_count(qr/token rejected: dpop_binding \(cnf\.jkt is not the thumbprint of the proof's key/), 1,
    'another key: info line');
my $unbound = JwtPeerAuth::token('rsa');
dpop_is('unbound token with a proof', $u, $unbound, proof('ec', $u, $unbound), 401, 'dpop_binding');
my $t = bound('ec');
($h) = (req($u, auth => "Bearer $t"))[1];
is($h->{'x-status'}, 'dpop_binding', 'Bearer at an "on" location: dpop_binding');
is($h->{'www-authenticate'}, "$main::ALGS, error=\"invalid_token\"", 'Bearer at "on": DPoP challenge only');
my $p = proof('ec', $u, $t);
dpop_is('a proof as the access token', $u, $p, proof('ec', $u, $p), 401, 'malformed');
is(JwtPeerAuth::log_count(qr/token rejected: malformed \(a DPoP proof \(typ dpop\+jwt\) is not an access token\)/), 1,
    'a proof is never an access token');
my ($code) = req($u, auth => "DPoP a b", dpop => [proof('ec', $u, $t)]);
is($code, 400, '"DPoP a b": 400 invalid_request');
($code, $h) = req($u);
is($code, 401, 'no credentials: 401');
is($h->{'www-authenticate'}, $main::ALGS, 'no credentials: DPoP challenge without error');
dpop_is('at+jwt token', $u, $t, proof('ec', $u, $t), 200, 'ok');
my $ed = bound('ed');
dpop_is('EdDSA proof', $u, $ed, proof('ed', $u, $ed), 200, 'ok');



=== TEST 4: optional: unbound Bearer passes; a bound token as Bearer is refused (no downgrade); DPoP checked fully; both challenges
--- between_0
my $u = '/opt/index.html';
my ($code, $h) = req($u, auth => 'Bearer ' . JwtPeerAuth::token('rsa'));
is($code, 200, 'unbound Bearer: 200');
my $t = bound('ec');
($code, $h) = req($u, auth => "Bearer $t");
is($code, 401, 'bound token as Bearer: 401');
is($h->{'x-status'}, 'dpop_binding', 'bound token as Bearer: dpop_binding');
is($h->{'www-authenticate'}, "$main::ALGS, error=\"invalid_token\"\nBearer realm=\"peers\"", 'both challenges, the error on DPoP');
is(JwtPeerAuth::log_count(qr/token rejected: dpop_binding \(a DPoP-bound token \(cnf\.jkt\) sent as Bearer\)/), 1, 'info line');
dpop_is('DPoP with a proof', $u, $t, proof('ec', $u, $t), 200, 'ok');
dpop_is('DPoP with a bad proof', $u, $t, proof('ec', $u, $t, '--htm', 'PUT'), 401, 'dpop_proof');
($code, $h) = req($u);
is($h->{'www-authenticate'}, "Bearer realm=\"peers\"\n$main::ALGS", 'no credentials: Bearer and DPoP challenges');
($code, $h) = req($u, auth => 'Bearer ' . JwtPeerAuth::token('rsa', '--corrupt'));
is($h->{'www-authenticate'}, "Bearer realm=\"peers\", error=\"invalid_token\"\n$main::ALGS", 'bad Bearer token: the error on Bearer');



=== TEST 5: off (the default): a bound token passes as Bearer (cnf.jkt is not looked at); DPoP credentials are not read
--- between_0
my $t = bound('ec');
my ($code, $h) = req('/off/index.html', auth => "Bearer $t");
is($code, 200, 'bound token as Bearer at an "off" location: 200');
($code, $h) = req('/off/index.html', auth => "DPoP $t", dpop => [proof('ec', '/off/index.html', $t)]);
is($code, 401, 'DPoP scheme at an "off" location: 401');
is($h->{'x-status'}, 'missing', 'DPoP scheme at "off": missing');



=== TEST 6: the token cache answers for the token, the proof is checked every request; a proof refusal is never remembered as the token's
--- between_0
my $u = '/on/index.html';
my $t = bound('ec');
dpop_is('first', $u, $t, proof('ec', $u, $t), 200, 'ok');
dpop_is('cached token, bad proof', $u, $t, proof('ec', $u, $t, '--corrupt'), 401, 'dpop_proof');
dpop_is('cached token, good proof after a bad one', $u, $t, proof('ec', $u, $t), 200, 'ok');
my $t2 = bound('ec');
dpop_is('new token, bad proof first', $u, $t2, proof('ec', $u, $t2, '--htm', 'PUT'), 401, 'dpop_proof');
dpop_is('same token, good proof', $u, $t2, proof('ec', $u, $t2), 200, 'ok');
my $s = JwtPeerAuth::status_json();
like($s, qr/"dpop":\{"capacity":\d+,"used":3,"stored":3,"replays":0,"full":0,"full_episodes":0\}/, 'status page: replay cache');



=== TEST 7: server nonces: use_dpop_nonce with DPoP-Nonce; the nonce passes at any worker; another nonce is refused
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location /n/ {
        jwt_peer_auth_dpop on nonce;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
        add_header X-Pid $pid always;
    }
--- between_0
my $u = '/n/index.html';
my $t = bound('ec');
my $h = dpop_is('no nonce', $u, $t, proof('ec', $u, $t), 401, 'dpop_nonce');
is($h->{'www-authenticate'}, "$main::ALGS, error=\"use_dpop_nonce\"", 'use_dpop_nonce challenge');
my $nonce = $h->{'dpop-nonce'};
like($nonce, qr/^[A-Za-z0-9_-]{32}$/, 'DPoP-Nonce');
my %pids;
for my $i (1 .. 12) {
    my $hh = dpop_is("with the nonce ($i)", $u, $t, proof('ec', $u, $t, '--nonce', $nonce), 200, 'ok');
    $pids{$hh->{'x-pid'}}++;
}
Test::More::note('workers that accepted the nonce: ' . join(' ', sort keys %pids));
dpop_is('a forged nonce', $u, $t, proof('ec', $u, $t, '--nonce', 'A' x 32), 401, 'dpop_nonce');
is(JwtPeerAuth::log_count(qr/token rejected: dpop_nonce \("nonce" is not a current nonce\)/), 1, 'info line');



=== TEST 8: a nonce from one NGINX is accepted by another sharing the nonce key file (a fleet behind a load balancer)
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location /n/ {
        jwt_peer_auth_dpop on nonce_key=$TEST_NGINX_DPOP_DIR/nonce.key;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
--- between_0
my $u = '/n/index.html';
my $t = bound('ec');
my $h = dpop_is('no nonce', $u, $t, proof('ec', $u, $t), 401, 'dpop_nonce');
my $nonce = $h->{'dpop-nonce'};
# A second NGINX with the same key file: its own prefix and port.
my $dir = File::Temp::tempdir('dpop-node-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
mkdir "$dir/logs"; mkdir "$dir/html"; chmod 0755, "$dir/html";
JwtPeerAuth::write_file("$dir/html/index.html", "ok\n");
my $port = JwtPeerAuth::free_port();
my $so = $ENV{TEST_NGINX_LOAD_MODULES};
JwtPeerAuth::write_file("$dir/nginx.conf", <<"_EOC_");
load_module $so;
daemon on; master_process on; worker_processes 1;
error_log $dir/logs/error.log info; pid $dir/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$port;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $main::K/jwks.json;
        location /n/ { jwt_peer_auth_dpop on nonce_key=$ENV{TEST_NGINX_DPOP_DIR}/nonce.key; alias $dir/html/;
            add_header X-Status \$jwt_peer_auth_status always; }
    }
}
_EOC_
system($ENV{TEST_NGINX_BINARY}, '-p', $dir, '-c', "$dir/nginx.conf") == 0 or die "second NGINX did not start\n";
my ($code, $body, $head);
for (1 .. 50) {
    my @h = ("Authorization: DPoP $t", 'DPoP: ' . mint('proof', $main::K, 'ec', '--htu', "http://127.0.0.1$u", '--token', $t, '--nonce', $nonce));
    ($code, $body, $head) = JwtPeerAuth::http_request($port, 'GET', $u, headers => \@h);
    last if $code;
    select(undef, undef, undef, 0.1);
}
my $pid = JwtPeerAuth::slurp("$dir/logs/nginx.pid");
chomp $pid;
kill 'QUIT', $pid;
is($code, 200, 'the other node accepts the nonce') or diag($head);
like($head, qr/X-Status: ok/, 'the other node: ok');
dpop_is('and this node too', $u, $t, proof('ec', $u, $t, '--nonce', $nonce), 200, 'ok');



=== TEST 9: the replay cache is kept across a reload (HUP): a proof accepted before is a replay after
--- between_0
my $u = '/on/index.html';
my $t = bound('ec');
my $p = proof('ec', $u, $t);
dpop_is('before the reload', $u, $t, $p, 200, 'ok');
my $master = JwtPeerAuth::slurp($pidfile);
chomp $master;
kill 'HUP', $master or die "HUP: $!";
# Wait (bounded) for the new configuration's workers: the old ones shut down.
my $ok = 0;
for (1 .. 100) {
    select(undef, undef, undef, 0.1);
    if (JwtPeerAuth::log_count(qr/reconfiguring/) && !JwtPeerAuth::shutting_down_workers()) { $ok = 1; last }
}
ok($ok, 'reloaded');
dpop_is('after the reload: a replay', $u, $t, $p, 401, 'dpop_replay');
dpop_is('after the reload: a new proof', $u, $t, proof('ec', $u, $t), 200, 'ok');



=== TEST 10: a full replay cache refuses new proofs (503, dpop_full) with one [error] per episode, on the status page
--- http_config
    jwt_peer_auth_dpop_zone dpop_b@N@:32k;
--- between_0
my $u = '/on/index.html';
my $t = bound('ec');
my @proofs = split /\n/, mint('proof', $main::K, 'ec', '--htu', "http://127.0.0.1$u", '--token', $t, '--count', 1200);
my ($cap) = JwtPeerAuth::status_json() =~ /"dpop":\{"capacity":(\d+)/ or die "no dpop in the status page";
ok($cap > 0 && $cap < 1200, "capacity $cap of a 32k zone");
my ($ok, $full, $first_full) = (0, 0, undef);
for my $i (0 .. $#proofs) {
    my ($code, $h) = req($u, auth => "DPoP $t", dpop => [$proofs[$i]]);
    if ($code == 200) { $ok++ } elsif ($code == 503 && $h->{'x-status'} eq 'dpop_full') { $full++; $first_full //= $i }
    else { fail("proof $i: $code $h->{'x-status'}"); last }
    last if $full >= 20;
}
ok($ok > $cap / 2, "$ok proofs remembered before the first full bucket");
is($full, 20, 'then refused: 503 dpop_full');
is(JwtPeerAuth::log_count(qr/\[error\].*the DPoP replay cache is full \($cap entries\)/), 1,
    'one [error] for the episode (refusals less than 10 s apart)');
like(JwtPeerAuth::status_json(), qr/"full":20,"full_episodes":1\}/, 'status page: 20 refused, one episode');



=== TEST 11: composition: revocation by cnf.jkt, HTTP/2, shadow, the preaccess phase
--- http_config
    jwt_peer_auth_dpop_zone dpop_b@N@:1m;
    jwt_peer_auth_revocation zone=rev_dpop_b@N@:1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT$TEST_NGINX_H2;
        server_name h2;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
        location /h2/ {
            jwt_peer_auth_dpop on;
            alias html/;
            add_header X-Status $jwt_peer_auth_status always;
        }
    }
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location = /revocations { jwt_peer_auth off; jwt_peer_auth_revocation_api; }
    location /rev/ {
        jwt_peer_auth_dpop on;
        jwt_peer_auth_revocation_check cnf.jkt;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /shadow/ {
        jwt_peer_auth "peers" shadow;
        jwt_peer_auth_dpop on;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /pre/ {
        jwt_peer_auth_phase preaccess;
        jwt_peer_auth_dpop on;
        alias html/;
        add_header X-Status $jwt_peer_auth_status always;
    }
--- between_0
# Revocation by the DPoP key's thumbprint: every token bound to the key is refused.
my $t = bound('ec');
dpop_is('before revocation', '/rev/index.html', $t, proof('ec', '/rev/index.html', $t), 200, 'ok');
my $jkt = jkt('ec');
my ($code) = JwtPeerAuth::http_request(JwtPeerAuth::server_port(), 'POST', '/revocations',
    headers => ['Content-Type: application/json'], body => qq({"name":"cnf.jkt","value":"$jkt","ttl":"1h"}));
is($code, 201, 'POST cnf.jkt');
dpop_is('revoked key, cached token', '/rev/index.html', $t, proof('ec', '/rev/index.html', $t), 401, 'revoked');
my $t2 = bound('ec', '--claims', '{"sub":"another"}');
dpop_is('revoked key, another token', '/rev/index.html', $t2, proof('ec', '/rev/index.html', $t2), 401, 'revoked');
my $t3 = bound('ec2');
dpop_is('another key', '/rev/index.html', $t3, proof('ec2', '/rev/index.html', $t3), 200, 'ok');
# Shadow: a bad proof is logged, never refused; the request goes on without identity.
dpop_is('shadow, bad proof', '/shadow/index.html', $t3, proof('ec2', '/shadow/index.html', $t3, '--htm', 'PUT'), 200, 'dpop_proof');
is(JwtPeerAuth::log_count(qr/shadow: token would be rejected: dpop_proof \("htm" is not the request method/), 1,
    'shadow: logged');
# The preaccess phase.
dpop_is('preaccess, good proof', '/pre/index.html', $t3, proof('ec2', '/pre/index.html', $t3), 200, 'ok');
my $p = proof('ec2', '/pre/index.html', $t3);
dpop_is('preaccess, first use', '/pre/index.html', $t3, $p, 200, 'ok');
dpop_is('preaccess, replay', '/pre/index.html', $t3, $p, 401, 'dpop_replay');
# HTTP/2 (h2c): the URL is from :authority; a good proof passes, a replay is refused.
my $h2port = $ENV{TEST_NGINX_H2_PORT};
my $u = '/h2/index.html';
my $p2 = mint('proof', $main::K, 'ec2', '--htu', "http://127.0.0.1:$h2port$u", '--token', $t3);
my $r = Http2::get($h2port, $u, ["Authorization: DPoP $t3", "DPoP: $p2"]);
is($r->{proto}, '2', 'spoke HTTP/2');
is($r->{status}, 200, 'HTTP/2: good proof') or diag($r->{raw});
$r = Http2::get($h2port, $u, ["Authorization: DPoP $t3", "DPoP: $p2"]);
is($r->{headers}{'x-status'}, 'dpop_replay', 'HTTP/2: replay');
$r = Http2::get($h2port, $u, ["Authorization: DPoP $t3", "DPoP: $p2", "DPoP: $p2"]);
is($r->{headers}{'x-status'}, 'dpop_proof', 'HTTP/2: two DPoP headers');



=== TEST 12: bad directives fail nginx -t with an [emerg] naming them
--- config
    location /x { jwt_peer_auth_dpop maybe; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": invalid value "maybe": "off", "on" or "optional" is expected/



=== TEST 13: algorithms=HS256 is refused (a proof's key is public)
--- config
    location /x { jwt_peer_auth_dpop on algorithms=ES256,HS256; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": "algorithms=ES256,HS256": HMAC algorithms cannot sign DPoP proofs/



=== TEST 14: algorithms=none is refused
--- config
    location /x { jwt_peer_auth_dpop on algorithms=none; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": "algorithms": the "none" algorithm is never accepted/



=== TEST 15: max_age=0 and unknown parameters are refused
--- config
    location /x { jwt_peer_auth_dpop on max_age=0; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": invalid "max_age" value "0"/



=== TEST 16: an unknown parameter is refused
--- config
    location /x { jwt_peer_auth_dpop on htm=GET; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": invalid parameter "htm=GET"/



=== TEST 17: a missing nonce key file is refused
--- config
    location /x { jwt_peer_auth_dpop on nonce_key=/nonexistent/dpop.key; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": "\/nonexistent\/dpop\.key": No such file or directory/



=== TEST 18: a nonce key shorter than 32 bytes is refused
--- config
    location /x { jwt_peer_auth_dpop on nonce_key=$TEST_NGINX_DPOP_DIR/short.key; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": ".*short\.key": the nonce key is shorter than 32 bytes/



=== TEST 19: jwt_peer_auth_dpop_zone: too small, bad syntax, duplicate
--- http_config
    jwt_peer_auth_dpop_zone d:16k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop_zone": zone "d" is too small \(at least 32k\)/



=== TEST 20: jwt_peer_auth_dpop twice at one level
--- config
    location /x { jwt_peer_auth_dpop on; jwt_peer_auth_dpop off; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop" directive is duplicate/



=== TEST 21: off takes no parameters
--- config
    location /x { jwt_peer_auth_dpop off max_age=10; }
--- must_die
--- error_log eval
qr/\[emerg\].*"jwt_peer_auth_dpop": invalid parameter "max_age=10" with "off"/



=== TEST 22: an internal redirect to a location with stricter proof rules checks the proof again by those rules (a nonce required there), without counting it as its own replay
--- config
    jwt_peer_auth "peers";
    jwt_peer_auth_jwks_file $TEST_NGINX_JWT_KEYS/jwks.json;
    location = /open { jwt_peer_auth off; return 200 "open\n"; }
    location /lax/ {
        jwt_peer_auth_dpop on;
        alias html/;
        try_files $uri @strict;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location @strict {
        jwt_peer_auth_dpop on nonce;
        empty_gif;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location /same/ {
        jwt_peer_auth_dpop on;
        alias html/;
        try_files $uri @same;
        add_header X-Status $jwt_peer_auth_status always;
    }
    location @same {
        jwt_peer_auth_dpop on;
        empty_gif;
        add_header X-Status $jwt_peer_auth_status always;
    }
--- between_0
my $t = bound('ec');
dpop_is('lax location, file there', '/lax/index.html', $t, proof('ec', '/lax/index.html', $t), 200, 'ok');
my $u = '/lax/missing';
my $h = dpop_is('redirected to a location that requires a nonce: none in the proof', $u, $t, proof('ec', $u, $t), 401, 'dpop_nonce');
my $nonce = $h->{'dpop-nonce'};
like($nonce // '', qr/^[A-Za-z0-9_-]{32}$/, 'DPoP-Nonce');
dpop_is('with the nonce', $u, $t, proof('ec', $u, $t, '--nonce', $nonce), 200, 'ok');
$u = '/same/missing';
dpop_is('redirected to a location with the same rules: the proof is not its own replay', $u, $t, proof('ec', $u, $t), 200, 'ok');




=== TEST 23: a proof whose key the token is not bound to takes no place in the replay cache (a stolen token with the thief's own key cannot fill it)
--- between_0
my $u = '/on/index.html';
my $other = bound('ec2');
dpop_is("token bound to another key ($_)", $u, $other, proof('ec', $u, $other), 401, 'dpop_binding') for 1 .. 3;
my $unbound = JwtPeerAuth::token('rsa');
dpop_is('unbound token with a proof', $u, $unbound, proof('ec', $u, $unbound), 401, 'dpop_binding');
like(JwtPeerAuth::status_json(), qr/"dpop":\{"capacity":\d+,"used":0,"stored":0,/, 'status page: nothing remembered');
my $t = bound('ec');
dpop_is('a bound token with its proof', $u, $t, proof('ec', $u, $t), 200, 'ok');
like(JwtPeerAuth::status_json(), qr/"dpop":\{"capacity":\d+,"used":1,"stored":1,/, 'status page: that one remembered');



=== TEST 24: a proof accepted before a reload that changed the replay zone's size (a new, empty zone) is not accepted after it: proofs issued before the zone was made are refused as possible replays
--- between_0
# An NGINX of its own (its configuration is rewritten and reloaded): prefix, port, zone.
my $dir = File::Temp::tempdir('dpop-resize-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
mkdir "$dir/logs"; mkdir "$dir/html"; chmod 0755, "$dir/html";
JwtPeerAuth::write_file("$dir/html/index.html", "ok\n");
my $port = JwtPeerAuth::free_port();
my $so = $ENV{TEST_NGINX_LOAD_MODULES};
my $conf = sub {
    my ($size) = @_;
    JwtPeerAuth::write_file("$dir/nginx.conf", <<"_EOC_");
load_module $so;
daemon on; master_process on; worker_processes 1;
error_log $dir/logs/error.log info; pid $dir/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    jwt_peer_auth_dpop_zone dpop_resize:$size;
    server {
        listen 127.0.0.1:$port;
        jwt_peer_auth "peers";
        jwt_peer_auth_jwks_file $main::K/jwks.json;
        location = /open { jwt_peer_auth off; return 200 "\$pid"; }
        location /on/ { jwt_peer_auth_dpop on; alias $dir/html/;
            add_header X-Status \$jwt_peer_auth_status always; }
    }
}
_EOC_
};
$conf->('1m');
system($ENV{TEST_NGINX_BINARY}, '-p', $dir, '-c', "$dir/nginx.conf") == 0 or die "NGINX did not start\n";
my $u = '/on/index.html';
my $t = bound('ec');
my $get = sub {
    my ($path, @h) = @_;
    my ($code, $body, $head);
    for (1 .. 50) {
        ($code, $body, $head) = JwtPeerAuth::http_request($port, 'GET', $path, headers => \@h);
        last if $code;
        select(undef, undef, undef, 0.1);
    }
    my ($status) = ($head // '') =~ /X-Status: (\S+)/;
    return ($code, $status // '', $body);
};
my ($code, undef, $worker) = $get->('/open');
is($code, 200, 'started');
my $p = proof('ec', $u, $t);
is(join(' ', ($get->($u, "Authorization: DPoP $t", "DPoP: $p"))[0, 1]), '200 ok', 'a fresh proof passes');
is(join(' ', ($get->($u, "Authorization: DPoP $t", "DPoP: $p"))[0, 1]), '401 dpop_replay', 'then is a replay');
my $pid = JwtPeerAuth::slurp("$dir/logs/nginx.pid");
chomp $pid;
# The zone's size changes: NGINX makes a new, empty zone (a second later than the proof's iat:
# a proof issued in the second the zone is made is not told from a new one).
sleep 1;
$conf->('2m');
kill 'HUP', $pid or die "HUP: $!";
my $new;
for (1 .. 100) {
    select(undef, undef, undef, 0.1);
    my ($c, undef, $w) = $get->('/open');
    if ($c && $c == 200 && $w ne $worker) { $new = $w; last }
}
ok(defined $new, "a new worker answers after the reload ($worker, then " . ($new // 'none') . ')');
is(join(' ', ($get->($u, "Authorization: DPoP $t", "DPoP: $p"))[0, 1]), '401 dpop_replay',
    'the proof accepted before the reload is refused after it');
is(join(' ', ($get->($u, "Authorization: DPoP $t", "DPoP: " . proof('ec', $u, $t)))[0, 1]), '200 ok',
    'a proof issued after the reload passes');
kill 'QUIT', $pid;
