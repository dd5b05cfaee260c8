# The documentation keeps up with the code:
# - every directive of the module's command table and every variable it defines has an entry in
#   docs/reference.md (names found by scanning every src/**/*.rs, wherever the tables live), and
#   every directive entry there names a directive that exists, with Syntax/Default/Context;
# - every configuration block marked complete (a fence with the info string "nginx complete") in
#   README.md and docs/ passes `nginx -t` with the module loaded;
# - every relative link of the Markdown files resolves (files, and anchors into Markdown files).
#
# Plain Test::More: runs under `prove -r t/` with t/lib's runner or OpenResty's Test::Nginx on
# PERL5LIB (neither is used here). A complete block is a whole nginx.conf, or the inside of
# `http { }` (then wrapped in one, with `events {}`); its `load_module` line (added when
# missing) is pointed at the module under test. Paths under /etc/nginx/, /var/lib/nginx/ and
# /var/log/nginx/ are moved to a temporary prefix, where the test makes /etc/nginx/jwt/jwks.json
# (jwt-mint's test keys), /etc/nginx/jwt/revoked-peers.map and self-signed certificates in
# /etc/nginx/certs/ (with openssl).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/helpers";
use JwtPeerAuth;
use File::Find qw(find);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use Test::More;

my $ROOT = $JwtPeerAuth::ROOT;
my $NGINX = $ENV{TEST_NGINX_BINARY} || "$ROOT/build/nginx";
my $MODULE = (split /\s+/, $ENV{TEST_NGINX_LOAD_MODULES} || "$ROOT/build/ngx_http_jwt_peer_auth_module.so")[0];
my $REFERENCE = "$ROOT/docs/reference.md";

sub slurp { JwtPeerAuth::slurp(@_) }

sub spew {
    my ($path, $content) = @_;
    make_path(dirname($path));
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $content;
    close($fh) or die "$path: $!";
}

# ---------------------------------------------------------------------------------------------
# Directive and variable names, from the source.

sub rust_files {
    my @files;
    find({ no_chdir => 1, wanted => sub { push @files, $_ if -f $_ && /\.rs\z/ } }, "$ROOT/src");
    return sort @files;
}

my (%directives, %variables);
for my $file (rust_files()) {
    my $src = slurp($file);
    $src =~ s{^\s*//.*$}{}mg;    # comments (also doc comments) name things without defining them
    # ngx_string!("jwt_...") literals: a command's name, or a variable's where the text before it
    # is about variables rather than commands.
    while ($src =~ /ngx_string!\(\s*"(jwt_[a-z0-9_]*)"\s*\)/g) {
        my ($name, $at) = ($1, $-[0]);
        my $before = lc substr($src, $at > 300 ? $at - 300 : 0, $at > 300 ? 300 : $at);
        my ($c, $v) = (rindex($before, 'command'), rindex($before, 'variable'));
        if ($v > $c) { $variables{$name} = $file } else { $directives{$name} = $file }
    }
    # Variable tables: ("jwt_name", getter, flags) rows.
    while ($src =~ /\(\s*"(jwt_[a-z0-9_]*)"\s*,\s*[A-Za-z_][A-Za-z0-9_:]*\s*,/g) {
        $variables{$1} = $file;
    }
}
# A scan that finds (next to) nothing has lost track of the source, not proved the docs right.
ok(keys(%directives) >= 15 && $directives{jwt_peer_auth}, 'directives found in src/: ' . join(' ', sort keys %directives));
ok(keys(%variables) >= 3 && $variables{jwt_payload} && $variables{jwt_claim_},
    'variables found in src/: ' . join(' ', sort keys %variables));

# ---------------------------------------------------------------------------------------------
# Headings of a Markdown text (outside fenced code), as GitHub makes their anchors.

sub strip_fences {
    my ($md) = @_;
    my (@out, $fence);
    for my $line (split /\n/, $md, -1) {
        if (defined $fence) {
            undef $fence if $line =~ /^\s*\Q$fence\E\s*$/;
            push @out, '';
            next;
        }
        if ($line =~ /^\s*(```+|~~~+)/) {
            $fence = $1;
            push @out, '';
            next;
        }
        push @out, $line;
    }
    return join("\n", @out);
}

sub headings {
    my ($md) = @_;
    my @h;
    for my $line (split /\n/, strip_fences($md)) {
        push @h, [length($1), $2] if $line =~ /^(#{1,6})\s+(.*?)\s*#*\s*$/;
    }
    return @h;
}

sub slug {
    my ($text) = @_;
    $text =~ s/\[([^\]]*)\]\([^)]*\)/$1/g;    # links keep their text
    $text =~ s/&lt;/</g;
    $text =~ s/&gt;/>/g;
    $text =~ s/&amp;/&/g;
    $text = lc $text;
    $text =~ s/[^\w\- ]//g;    # \w keeps letters, digits and _
    $text =~ s/ /-/g;
    return $text;
}

sub anchors {
    my ($md) = @_;
    my (%seen, %anchors);
    for my $h (headings($md)) {
        my $s = slug($h->[1]);
        my $n = $seen{$s}++;
        $anchors{$n ? "$s-$n" : $s} = 1;
    }
    return \%anchors;
}

# ---------------------------------------------------------------------------------------------
# The reference: a "### name" entry with Syntax/Default/Context per directive, a "### $name"
# entry per variable ("$jwt_claim_<name>" for a prefix).

ok(-f $REFERENCE, 'docs/reference.md exists') or BAIL_OUT('no reference');
my $ref = slurp($REFERENCE);
my ($ref_directives, $ref_variables) = split /^## Embedded Variables\s*$/m, $ref, 2;
ok(defined $ref_variables, 'docs/reference.md has an "Embedded Variables" section');
$ref_variables //= '';

my %entry;    # directive => text of its entry, up to the next heading
{
    my @parts = split /^(#{2,4} .*)$/m, strip_fences($ref_directives);
    for (my $i = 1; $i < @parts; $i += 2) {
        $entry{$1} = $parts[$i + 1] if $parts[$i] =~ /^### `?(jwt_[a-z0-9_]*)`?\s*$/;
    }
}
for my $d (sort keys %directives) {
    my $e = $entry{$d};
    ok(defined $e, "directive $d has a reference entry (a heading of its name)") or next;
    like($e, qr/^\s+Syntax:\s+\Q$d\E[\s;]/m, "$d: Syntax: line names it");
    like($e, qr/^\s+Default:\s+\S/m, "$d: Default: line");
    like($e, qr/^\s+Context:\s+(?:http|server|location)/m, "$d: Context: line");
}
for my $d (sort keys %entry) {
    ok($directives{$d}, "reference entry $d names a directive of the module");
}

my %var_heading = map { $_->[1] => 1 } grep { $_->[0] >= 3 } headings($ref_variables);
for my $v (sort keys %variables) {
    my $want = $v =~ /_\z/ ? qr/^`?\$\Q$v\E(?:&lt;|<)name(?:&gt;|>)`?$/ : qr/^`?\$\Q$v\E`?$/;
    ok((grep { $_ =~ $want } keys %var_heading), "variable \$$v has a reference entry");
}

# ---------------------------------------------------------------------------------------------
# Markdown files and their relative links.

my @markdown = grep { -f } map { "$ROOT/$_" } qw(README.md CHANGELOG.md CONTRIBUTING.md);
for my $dir ("$ROOT/docs", "$ROOT/bench") {
    find({ no_chdir => 1, wanted => sub { push @markdown, $_ if -f $_ && /\.md\z/ } }, $dir) if -d $dir;
}
@markdown = sort @markdown;
ok(@markdown >= 5, scalar(@markdown) . ' Markdown files');

my %anchor_cache;
sub anchors_of {
    my ($path) = @_;
    return $anchor_cache{$path} //= anchors(slurp($path));
}

for my $file (@markdown) {
    (my $name = $file) =~ s{^\Q$ROOT\E/}{};
    my $text = strip_fences(slurp($file));
    $text =~ s/<!--.*?-->//sg;
    $text =~ s/(`+).*?\1//sg;    # inline code
    my @bad;
    while ($text =~ /\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g) {
        my $link = $1;
        next if $link =~ m{^[a-z][a-z0-9+.-]*:}i;    # http:, https:, mailto:
        my ($path, $frag) = $link =~ /^([^#]*)(?:#(.*))?$/;
        my $target = $path eq '' ? $file : dirname($file) . "/$path";
        if (!-e $target) {
            push @bad, "$link (no such file)";
            next;
        }
        next unless defined $frag && $frag ne '';
        next unless $target =~ /\.md\z/ && -f $target;
        push @bad, "$link (no such anchor)" unless anchors_of($target)->{$frag};
    }
    is(join("\n", @bad), '', "$name: relative links resolve");
}

# ---------------------------------------------------------------------------------------------
# Configuration blocks marked complete: nginx -t with the module.

my @blocks;    # [file, line, text]
for my $file (grep { m{/README\.md\z} || m{/docs/} } @markdown) {
    (my $name = $file) =~ s{^\Q$ROOT\E/}{};
    my @lines = split /\n/, slurp($file), -1;
    for (my $i = 0; $i < @lines; $i++) {
        next unless $lines[$i] =~ /^(\s*)(```+)\s*nginx\s+complete\s*$/;
        my ($indent, $fence, $start, @body) = ($1, $2, $i + 1);
        for ($i++; $i < @lines && $lines[$i] !~ /^\s*\Q$fence\E\s*$/; $i++) {
            push @body, $lines[$i];
        }
        push @blocks, [$name, $start, join("\n", @body) . "\n"];
    }
}
ok((grep { $_->[0] eq 'README.md' } @blocks), "README.md has a complete configuration");
ok(@blocks >= 5, scalar(@blocks) . ' complete configuration blocks');

SKIP: {
    skip "no NGINX binary ($NGINX) or module ($MODULE): run scripts/build.sh", scalar(@blocks)
        unless -x $NGINX && -f $MODULE;
    my $tmp = tempdir('jwt-docs-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    # What blocks may refer to under /etc/nginx/.
    my $etc = "$tmp/etc";
    spew("$etc/jwt/jwks.json", slurp("$JwtPeerAuth::KEYS/jwks.json"));
    spew("$etc/jwt/revoked-peers.map", slurp("$ROOT/nginx-conf/revoked-peers.map"));
    if (grep { $_->[2] =~ m{/etc/nginx/certs/} } @blocks) {
        make_path("$etc/certs");
        my @req = ('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=docs-test',
            '-keyout', "$etc/certs/this-peer.key", '-out', "$etc/certs/this-peer.pem");
        system("@req >/dev/null 2>&1") == 0 or die "openssl req failed: @req\n";
        spew("$etc/certs/peers-ca.pem", slurp("$etc/certs/this-peer.pem"));
        spew("$etc/certs/$_.crt", slurp("$etc/certs/this-peer.pem")) for 'netunnel-peer';
        spew("$etc/certs/$_.key", slurp("$etc/certs/this-peer.key")) for 'netunnel-peer';
    }

    my $n = 0;
    for my $b (@blocks) {
        my ($name, $line, $conf) = @$b;
        my $dir = "$tmp/block" . ++$n;
        make_path("$dir/conf", "$dir/logs", "$dir/var/lib");
        $conf =~ s{/etc/nginx/}{$etc/}g;
        $conf =~ s{/var/lib/nginx/}{$dir/var/lib/}g;
        $conf =~ s{/var/log/nginx/}{$dir/logs/}g;
        make_path(dirname($1)) while $conf =~ m{(\Q$dir\E/var/lib/[^\s;]+)}g;
        $conf = "events {}\nhttp {\n$conf}\n" unless $conf =~ /^\s*http\s*\{/m;
        $conf = "events {}\n$conf" unless $conf =~ /^\s*events\b/m;
        $conf = "load_module $MODULE;\n$conf" unless $conf =~ s{^(\s*)load_module\s+[^;]*ngx_http_jwt_peer_auth_module\.so\s*;}{$1load_module $MODULE;}m;
        spew("$dir/conf/nginx.conf", $conf);
        my $out = `'$NGINX' -p '$dir/' -c '$dir/conf/nginx.conf' -t 2>&1`;
        my $ok = $? == 0 && $out =~ /test is successful/;
        ok($ok, "$name:$line: nginx -t") or diag("$out\n--- the configuration tested:\n$conf");
    }
}

done_testing();
