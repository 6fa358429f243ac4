#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The built-in web server on the unknown-protocol path, with real clients:
# curl (plain and TLS, keep-alive, HEAD, conditional GETs, Range) for
# webRoot's files, raw sockets for the malformed requests, and a small
# upstream for webUpstream.  Each bad request ends its own connection
# with its status and a log line; canary sessions exchange transactions
# through all of it.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);

sub have { `sh -c 'command -v $_[0]'` ne '' }
plan skip_all => 'curl is not installed' unless have('curl');

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');
my $tmp = tempdir(CLEANUP => 1);
my $root = "$tmp/www";
mkdir $root;
mkdir "$root/docs";
sub put { my ($path, $text) = @_; open my $fh, '>', $path or die "$path: $!"; binmode $fh; print $fh $text; close $fh }
put("$root/index.html", "<h1>npsocketd</h1>\n");
put("$root/style.css", "body { color: black }\n");
put("$root/docs/index.html", "docs\n");
my $kib = join '', map { chr(65 + $_ % 26) } 0 .. 1023;
put("$root/1k.bin", $kib);
put("$tmp/secret.txt", "outside the root\n");
symlink("$tmp/secret.txt", "$root/link-out") or die;
symlink('style.css', "$root/link-in") or die;
symlink("$root/style.css", "$root/link-absolute") or die;

my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
webRoot = $root
httpHeaderTimeout = 1
httpKeepAliveTimeout = 2
maxTransactionSize = 64K
[Port.tls]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
webRoot = $root
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI
my $port = $d->port('Port');
my $base = "http://127.0.0.1:$port";

# Canaries: live sessions that must keep working through every test.
my @canaries = map { scalar np_connect($d, byte => 1) } 1 .. 3;
sub canaries_alive {
    my $n = 0;
    for my $i (0 .. $#canaries) {
        send_frame($canaries[$i], "canary $i") or next;
        my ($p) = read_frame($canaries[$i]);
        $n++ if defined $p && $p eq "canary $i";
    }
    return $n == @canaries;
}

# curl: returns (status, headers, body).
sub curl {
    my (@args) = @_;
    my ($out, $err, $rc) = run_bounded(['curl', '-s', '-S', '-D', '-', '--max-time', '10', @args], timeout => 20);
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.1 (\d+)};
    return ($status // 0, $head // '', $body // '', $err);
}

# --- files -----------------------------------------------------------------------
my ($st, $h, $b) = curl("$base/");
is($st, 200, 'GET / : 200');
is($b, "<h1>npsocketd</h1>\n", 'index.html for the directory');
like($h, qr{\r\nContent-Type: text/html; charset=utf-8}i, 'Content-Type text/html');
my ($etag) = $h =~ /\r\nETag: ("[^"]+")/;
my ($modified) = $h =~ /\r\nLast-Modified: ([^\r]+)/;
ok($etag && $modified, 'an ETag and a Last-Modified');
($st, $h) = curl("$base/style.css");
like($h, qr{\r\nContent-Type: text/css}i, 'Content-Type by extension: text/css');
($st) = curl('-H', "If-None-Match: $etag", "$base/");
is($st, 304, 'If-None-Match with the ETag: 304');
($st) = curl('-H', "If-Modified-Since: $modified", "$base/");
is($st, 304, 'If-Modified-Since the Last-Modified: 304');
($st) = curl('-H', 'If-None-Match: "other"', "$base/");
is($st, 200, 'another ETag: 200');
($st, $h, $b) = curl('-r', '10-19', "$base/1k.bin");
ok($st == 206 && $b eq substr($kib, 10, 10) && $h =~ m{\r\nContent-Range: bytes 10-19/1024}, 'Range 10-19: 206, those bytes');
($st, $h, $b) = curl('-r', '-5', "$base/1k.bin");
ok($st == 206 && $b eq substr($kib, -5), 'Range -5: the last five bytes');
($st, $h) = curl('-r', '5000-', "$base/1k.bin");
ok($st == 416 && $h =~ m{\r\nContent-Range: bytes \*/1024}, 'Range past the end: 416');
($st, $h) = curl("$base/docs");
ok($st == 301 && $h =~ m{\r\nLocation: /docs/\r\n}, 'a directory without its slash: 301 to it');
($st, $h, $b) = curl("$base/docs/");
is($b, "docs\n", 'and with it, its index.html');
($st) = curl("$base/nothing-here");
is($st, 404, 'no such file: 404');
($st) = curl('-X', 'POST', '-d', 'x=1', "$base/style.css");
is($st, 405, 'POST to a file: 405');
($st, $h, $b) = curl("$base/link-in");
ok($st == 200 && $b eq "body { color: black }\n", 'a symbolic link inside the root is served');

# --- nothing from outside the root ------------------------------------------------
($st) = curl('--path-as-is', "$base/../secret.txt");
is($st, 404, '/../ : 404');
($st) = curl('--path-as-is', "$base/docs/../../secret.txt");
is($st, 404, '/docs/../../ : 404');
($st) = curl('--path-as-is', "$base/%2e%2e/secret.txt");
is($st, 404, 'percent-encoded .. : 404');
($st) = curl("$base/link-out");
is($st, 404, 'a symbolic link that leads out: 404');
($st) = curl("$base/link-absolute");
is($st, 404, 'an absolute symbolic link, even to a file inside: 404 (links resolve beneath the root only)');
($st) = curl("$base/a%00b");
is($st, 400, 'a NUL in the path: 400');

# --- keep-alive, pipelining, TLS --------------------------------------------------
my ($out, $err) = run_bounded(['curl', '-s', '-v', '-o', '/dev/null', '-o', '/dev/null', "$base/", "$base/style.css"],
                              timeout => 20);
like($err, qr/Re-using existing connection/i, 'keep-alive: curl sends its second request on the same connection');
ok($d->wait_log(qr/protocol=web transport=tcp .*reason="closed by peer after 2 requests"/), 'the log counts 2 requests on it');
($st, $h, $b) = curl('--cacert', "$pki/ca.pem", '--resolve', "localhost:@{[ $d->port('Port.tls') ]}:127.0.0.1",
                     "https://localhost:@{[ $d->port('Port.tls') ]}/");
ok($st == 200 && $b eq "<h1>npsocketd</h1>\n", 'HTTPS on the TLS port: 200 and the page');

sub raw {
    my ($data, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $opt{port} // $port, Timeout => 5) or die "connect: $!";
    binmode $s;
    write_all($s, $data) if length $data;
    my $got = '';
    my $sel = IO::Select->new($s);
    my $until = time + ($opt{timeout} // 5);
    while (time < $until) {
        last unless $sel->can_read($until - time);
        my $n = sysread($s, $got, 65536, length $got);
        last unless $n;
    }
    return $got;
}
my $head = raw("HEAD /1k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
like($head, qr{^HTTP/1\.1 200 OK\r\n(?:[^\r]+\r\n)*Content-Length: 1024\r\n(?:[^\r]+\r\n)*\r\n\z}, 'HEAD: the headers with Content-Length, no body');
my $two = raw("GET /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
like($two, qr{^HTTP/1\.1 200 .*body \{ color: black \}\n.*HTTP/1\.1 200 .*docs\n$}s, 'pipelined requests are answered in order');

# --- the file a connection was sent last stays open for its next request ------------
# On one keep-alive connection: whatever happens to the file between two
# requests, the second answer is what opening it again would give.
{
    my $fds = sub { opendir my $dh, "/proc/@{[ $d->pid ]}/fd" or return -1; scalar grep { !/^\./ } readdir $dh };
    my $before = $fds->();
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 5) or die "connect: $!";
    binmode $s;
    my $get = sub {
        my ($path) = @_;
        write_all($s, "GET $path HTTP/1.1\r\nHost: x\r\n\r\n") or return (0, '');
        my $head = '';
        while ($head !~ /\r\n\r\n\z/) {
            my $c = read_exact($s, 1, 5);
            return (0, '') unless defined $c;
            $head .= $c;
        }
        my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($length) = $head =~ /\r\nContent-Length: (\d+)/i;
        my $body = $length ? read_exact($s, $length, 5) : '';
        return ($status // 0, $body // '');
    };
    put("$root/again.txt", "first\n");
    my ($st1, $b1) = $get->('/again.txt');
    ok($st1 == 200 && $b1 eq "first\n", 'keep-alive: a file');
    # The same inode, new bytes of the same length: its current bytes.
    open my $fh, '+<', "$root/again.txt" or die;
    print $fh "again\n";
    close $fh;
    my ($st2, $b2) = $get->('/again.txt');
    ok($st2 == 200 && $b2 eq "again\n", 'the same file written over in place: its new bytes');
    # Another file renamed over the path.
    put("$root/again.new", "replaced, longer\n");
    rename("$root/again.new", "$root/again.txt") or die;
    my ($st3, $b3) = $get->('/again.txt');
    ok($st3 == 200 && $b3 eq "replaced, longer\n", 'another file renamed over the path: that file');
    # The path now a link out of the root: refused, as opening it would be.
    unlink "$root/again.txt";
    symlink("$tmp/secret.txt", "$root/again.txt") or die;
    my ($st4, $b4) = $get->('/again.txt');
    ok($st4 == 404 && $b4 !~ /outside/, 'the path turned into a link out of the root: 404, nothing from outside');
    unlink "$root/again.txt";
    my ($st5) = $get->('/again.txt');
    is($st5, 404, 'the file removed: 404');
    my ($st6, $b6) = $get->('/1k.bin');
    my ($st7, $b7) = $get->('/1k.bin');
    ok($st6 == 200 && $st7 == 200 && $b6 eq $kib && $b7 eq $kib, 'the same file twice: the same bytes');
    my $held = $fds->();
    ok($held > $before && $held <= $before + 3, "the connection holds 3 descriptors at most (socket, webRoot, its last file): @{[ $held - $before ]}");
    close $s;
    ok(wait_for(sub { $fds->() <= $before }, 5), 'the connection ended: all three are closed');
}

# --- bad requests: each its status and a log line ----------------------------------
my @bad = (
    [ '10 KiB request line', 'GET /' . ('a' x 10240) . " HTTP/1.1\r\nHost: x\r\n\r\n", 414, qr/request line longer/ ],
    [ 'a head over httpMaxHeaderSize', "GET / HTTP/1.1\r\nHost: x\r\n" . ("X-Pad: " . ('p' x 100) . "\r\n") x 90 . "\r\n", 431,
      qr/request head longer/ ],
    [ '101 headers', "GET / HTTP/1.1\r\nHost: x\r\n" . join('', map { "X-$_: y\r\n" } 1 .. 100) . "\r\n", 431,
      qr/more than 100 headers/ ],
    [ 'LF-only lines', "GET / HTTP/1.1\nHost: x\n\n", 400, qr/not ended by CRLF/ ],
    [ 'NUL in a header name', "GET / HTTP/1.1\r\nHost: x\r\nX\0Y: z\r\n\r\n", 400, qr/header name/ ],
    [ 'a control byte in a value', "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400, qr/control byte/ ],
    [ 'obs-fold', "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, qr/folding/ ],
    [ 'duplicate Content-Length', "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400,
      qr/more than one Content-Length/ ],
    [ 'CL and TE', "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      qr/Content-Length and Transfer-Encoding/ ],
    [ 'chunked body', "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, qr/chunked/ ],
    [ 'negative length', "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, qr/invalid Content-Length/ ],
    [ '2^64 length', "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n", 400,
      qr/invalid Content-Length/ ],
    [ 'a body over maxTransactionSize', "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 413,
      qr/over maxTransactionSize/ ],
    [ 'HTTP/2.0', "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, qr/version not supported/ ],
    [ 'no Host', "GET / HTTP/1.1\r\n\r\n", 400, qr/without Host/ ],
    [ 'a body longer than declared', "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabcdef\r\n\r\n", 400,
      qr/malformed request line/ ],
);
for my $case (@bad) {
    my ($what, $request, $status, $log) = @$case;
    my $got = raw($request);
    like($got, qr{HTTP/1\.1 $status [^\r]*\r\n(?:[^\r]+\r\n)*Connection: close\r\n}, "$what: $status, Connection: close");
    ok($d->wait_log(qr/protocol=web .*reason="HTTP $status: [^"]*$log/), "$what: the log line says why");
}
my $t0 = time;
my $never = raw("GET / HTTP/1.1\r\nHost: x\r\n", timeout => 5);
like($never, qr{^HTTP/1\.1 408 }, 'a head that never ends: 408');
ok(time - $t0 < 4, sprintf('after httpHeaderTimeout (1 s), not the client\'s 5 (%.1f s)', time - $t0));
{
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 5) or die;
    my $until = time + 3;
    my $i = 0;
    my $line = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('d' x 100);
    while (time < $until && $i < length $line) { syswrite($s, substr($line, $i++, 1)); sleep 0.02 }
    my $got = read_exact($s, 12, 3) // '';
    like($got, qr{^HTTP/1\.1 408}, 'a head dripped a byte at a time: 408 all the same');
}
ok(canaries_alive(), 'the canary sessions kept exchanging transactions through every bad request');

# --- webUpstream behind the local routes --------------------------------------------
# A small upstream: records what it gets, answers a fixed response.
my $up = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 8, ReuseAddr => 1) or die;
my $upport = $up->sockport;
my $seen = "$tmp/upstream-seen";
my $upid = fork // die;
if ($upid == 0) {
    NpTest::die_with_parent();
    for (1 .. 4) {
        my $c = $up->accept or last;
        my $req = '';
        my $sel = IO::Select->new($c);
        while ($req !~ /\r\n\r\n/ && $sel->can_read(5)) { sysread($c, $req, 4096, length $req) or last }
        open my $fh, '>>', $seen; print $fh "$req\n---\n"; close $fh;
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream");
        close $c;
    }
    POSIX::_exit(0);
}
close $up;
my $w = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nwebRoot = $root\nwebUpstream = 127.0.0.1:$upport\n"
                           . "[Port.only]\nport = 0\nbindAddress = 127.0.0.1\nwebUpstream = 127.0.0.1:$upport\n");
my $wbase = "http://127.0.0.1:@{[ $w->port('Port') ]}";
($st, $h, $b) = curl("$wbase/style.css");
is($b, "body { color: black }\n", 'with webRoot and webUpstream: a file is served locally');
($st, $h, $b) = curl('-H', 'X-Mark: relayed-1', "$wbase/app/page?x=1");
is($b, 'upstream', 'a path with no file goes to webUpstream');
($st, $h, $b) = curl('-H', 'X-Mark: relayed-2', "http://127.0.0.1:@{[ $w->port('Port.only') ]}/anything");
is($b, 'upstream', 'only webUpstream (the drop-in case): every request goes there');
($st, $h, $b) = curl('-H', 'X-Mark: relayed-3', "http://127.0.0.1:@{[ $w->port('Port.only') ]}/netphantom");
is($b, 'upstream', 'a plain GET of webSocketPath (no upgrade) goes there too');
waitpid($upid, 0) if 0;
my $recorded = do { local $/; open my $fh, '<', $seen or die; <$fh> };
like($recorded, qr{^GET /app/page\?x=1 HTTP/1\.1\r\n.*X-Mark: relayed-1\r\n}ms, 'the request is replayed to it byte for byte');
like($recorded, qr{^GET /anything HTTP/1\.1\r\n.*X-Mark: relayed-2}ms, 'also on the webUpstream-only port');
ok($w->wait_log(qr/protocol=web .*reason="webUpstream 127\.0\.0\.1:$upport: both sides closed"/), 'and the log says so');
kill 'TERM', $upid;
waitpid($upid, 0);

close $_ for @canaries;
is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
