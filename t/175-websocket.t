#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# NetPhantom sessions over WebSocket (RFC 6455) at webSocketPath, as a
# browser runs them: Debian's python3-websockets and node-ws over ws://
# and wss:// (1,000 transactions of mixed sizes and compression each),
# each also in a relay pair with a TCP party and through a forward to the
# Java reference listener; npcat --ws; the same relay and forward with a
# raw client; and raw frames for every malformed case, each closed with
# its code while canary sessions (TCP and WebSocket) go on.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpWs;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time sleep);

my $python = '/usr/bin/python3';
my $have_websockets = system($python, '-c', 'import websockets') == 0;

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
maxTransactionSize = 100K
compressionThreshold = 100
[Port.tls]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[Port.strict]
port = 0
bindAddress = 127.0.0.1
webSocketPath = /np
webSocketOrigins = https://good.example
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI
my $port = $d->port('Port');

# --- canaries ---------------------------------------------------------------------
my @tcp = map { scalar np_connect($d, byte => 1) } 1 .. 2;
my @ws = map { (ws_open(port => $port))[0] } 1 .. 2;
ok(@ws == 2 && ws_session($ws[0]) && ws_session($ws[1]), 'two WebSocket sessions are accepted (byte 1 back)');
sub canaries_alive {
    my $n = 0;
    for my $i (0 .. $#tcp) {
        send_frame($tcp[$i], "tcp canary $i");
        my ($p) = read_frame($tcp[$i]);
        $n++ if ($p // '') eq "tcp canary $i";
    }
    $n += grep { ws_echo($ws[$_], "ws canary $_") } 0 .. $#ws;
    return $n == @tcp + @ws;
}
ok(canaries_alive(), 'canaries: TCP and WebSocket sessions echo');

# --- real clients ------------------------------------------------------------------
SKIP: {
    skip 'python3-websockets is not installed', 6 unless $have_websockets;
    my ($out, $err, $rc) = run_bounded([$python, 't/lib/ws_session.py', "ws://127.0.0.1:$port/netphantom", 1000],
                                       timeout => 120);
    is($out, "ok 1000\n", 'python3-websockets over ws://: 1,000 transactions of mixed sizes and compression') or diag($err);
    ok($d->wait_log(qr/protocol=client transport=ws tls=- .*transactions=1000\/1000 code=\S+ reason="closed by peer"/),
       'its log line: transport=ws, 1000 transactions each way');
    my $tport = $d->port('Port.tls');
    ($out, $err, $rc) = run_bounded([$python, 't/lib/ws_session.py', "wss://localhost:$tport/netphantom", 1000, "$pki/ca.pem"],
                                    timeout => 120);
    is($out, "ok 1000\n", 'python3-websockets over wss:// (the TLS port): the same') or diag($err);
    ok($d->wait_log(qr/protocol=client transport=ws tls=TLS1\.3\/\S+ sni=localhost .*transactions=1000\/1000/),
       'its log line: transport=ws over TLS 1.3');
    ($out, $err, $rc) = run_bounded([$python, 't/lib/ws_relay.py', "ws://127.0.0.1:$port/netphantom", "127.0.0.1:$port",
                                     'python-pair', 100], timeout => 120);
    is($out, "ok 100\n", 'python3-websockets as a relay party paired with a TCP party: 100 chunks each way, '
                        . 'closed with 1000 when the TCP party leaves') or diag($err);
    ok($d->wait_log(qr/protocol=relay transport=ws .*reason="relay with conn \d+ ended: both parties closed"/, 20),
       'its log line: a relay over WebSocket');
}
my $have_node = -d '/usr/share/nodejs/ws' && `sh -c 'command -v node'` ne '';
SKIP: {
    skip 'node-ws is not installed', 3 unless $have_node;
    local $ENV{NODE_PATH} = '/usr/share/nodejs';
    my ($out, $err, $rc) = run_bounded(['node', 't/lib/ws_session.js', "ws://127.0.0.1:$port/netphantom", 1000],
                                       timeout => 120);
    is($out, "ok 1000\n", 'node-ws over ws://: 1,000 transactions of mixed sizes and compression') or diag($err);
    my $tport = $d->port('Port.tls');
    ($out, $err, $rc) = run_bounded(['node', 't/lib/ws_session.js', "wss://localhost:$tport/netphantom", 1000, "$pki/ca.pem"],
                                    timeout => 120);
    is($out, "ok 1000\n", 'node-ws over wss://: the same') or diag($err);
    ($out, $err, $rc) = run_bounded(['node', 't/lib/ws_relay.js', "ws://127.0.0.1:$port/netphantom", "127.0.0.1:$port",
                                     'node-pair', 100], timeout => 120);
    is($out, "ok 100\n", 'node-ws as a relay party paired with a TCP party: the same') or diag($err);
}
my ($out, $err, $rc) = npcat($d, ['--ws', '/netphantom', '-z'], 'over ws', 'x' x 5000);
ok($rc == 0 && $out eq "over ws\n" . ('x' x 5000) . "\n", 'npcat --ws: transactions, compressed ones too') or diag($err);
($out, $err, $rc) = npcat($d, ['--ws', '/netphantom', '-b', 3], 'rapp');
is($out, "rapp\n", 'npcat --ws -b 3: a Remote Application session over WebSocket');

# --- relay: a WebSocket party and a TCP party ---------------------------------------
{
    my $key = 'ws-tcp-pair';
    my ($w) = ws_open(port => $port);
    write_all($w, ws_frame(2, "\x02" . pack('N', 1 + length $key) . "\x01$key"));
    my ($op, $p) = ws_read($w);
    is($p, "\x02", 'a WebSocket party waits (2)');
    my $j = np_connect($d);
    syswrite($j, "\x02" . pack('N', 1 + length $key) . "\x02$key");
    is(read_exact($j, 1, 5), "\x01", 'a TCP party joins it (1)');
    ($op, $p) = ws_read($w);
    is($p, "\x01", 'and the WebSocket party is paired (1)');
    write_all($w, ws_frame(2, 'from the browser'));
    is(read_exact($j, 16, 5), 'from the browser', 'bytes flow from the WebSocket to TCP');
    syswrite($j, 'from tcp');
    ($op, $p) = ws_read($w);
    is($p, 'from tcp', 'and back, one binary message per write');
    close $j;
    is(close_code($w), 1000, 'the TCP side closing closes the WebSocket with 1000');
    write_all($w, ws_frame(8, pack('n', 1000)));  # the close handshake, as a browser answers
    ok($d->wait_log(qr/protocol=relay transport=ws .*reason="relay with conn \d+ ended: /, 20),
       'the relay ends on both sides')
        or diag(join "\n", grep { /protocol=relay/ } split /\n/, $d->log_text);
}

# --- forward to the Java reference listener through a WebSocket -----------------------
SKIP: {
    my $java = `sh -c 'command -v java'`;
    skip 'java is not installed', 4 unless $java;
    my $src = '../shared/peers/java-listener/JavaListener.java';
    skip "$src is not there", 4 unless -f $src;
    my $log = "$pki/java.log";
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        open STDOUT, '>', $log; open STDERR, '>&', \*STDOUT;
        exec 'java', $src, '--port', '0' or POSIX::_exit(127);
    }
    my $jport = wait_for(sub { open my $fh, '<', $log or return; local $/; (<$fh> // '') =~ /listening (\d+)/ ? $1 : undef }, 60);
    my $f = $jport ? start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = forward\n"
                                       . "upstream = 127.0.0.1:$jport\n") : undef;
    my ($fw) = $f ? ws_open(port => $f->port) : ();
    ok($fw && ws_session($fw), 'a WebSocket client is accepted through the forwarder by the Java listener');
    ok($fw && ws_echo($fw, 'to java and back') && ws_echo($fw, 'y' x 20000), 'and its transactions come back');
    my $url = 'ws://127.0.0.1:' . ($f ? $f->port : 0) . '/netphantom';
  SKIP: {
        skip 'python3-websockets is not installed', 1 unless $have_websockets;
        my ($out, $err) = run_bounded([$python, 't/lib/ws_session.py', $url, 1000], timeout => 120);
        is($out, "ok 1000\n", 'python3-websockets through the forwarder to the Java listener: 1,000 transactions '
                             . 'of mixed sizes and compression') or diag($err);
    }
  SKIP: {
        skip 'node-ws is not installed', 1 unless $have_node;
        local $ENV{NODE_PATH} = '/usr/share/nodejs';
        my ($out, $err) = run_bounded(['node', 't/lib/ws_session.js', $url, 1000], timeout => 120);
        is($out, "ok 1000\n", 'node-ws through the forwarder to the Java listener: the same') or diag($err);
    }
    kill 'TERM', $pid;
    waitpid($pid, 0);
    $f->stop if $f;
}

# --- the handshake refused -----------------------------------------------------------------
my ($none, $head) = ws_open(port => $port, version => 12);
like($head, qr{^HTTP/1\.1 426 .*\r\nSec-WebSocket-Version: 13\r\n}s, 'Sec-WebSocket-Version 12: 426, with 13 offered');
($none, $head) = ws_open(port => $d->port('Port.strict'), path => '/np', headers => { Origin => 'https://evil.example' });
like($head, qr{^HTTP/1\.1 403 }, 'an Origin not in webSocketOrigins: 403');
my ($good) = ws_open(port => $d->port('Port.strict'), path => '/np', headers => { Origin => 'https://good.example' });
ok($good && ws_session($good), 'the Origin listed, at that port\'s webSocketPath: accepted');
($none, $head) = ws_open(port => $port, path => '/elsewhere');
like($head, qr{^HTTP/1\.1 404 }, 'an upgrade at another path: 404');

# --- bad frames: each closed with its code -----------------------------------------------------
my @bad = (
    [ 'an unmasked frame', ws_frame(2, "\x01", mask => 0), 1002, qr/unmasked frame/ ],
    [ 'RSV bits', ws_frame(2, "\x01", rsv => 0x40), 1002, qr/reserved bits/ ],
    [ 'opcode 3', ws_frame(3, 'x'), 1002, qr/unknown opcode/ ],
    [ 'a 64-bit length of 2^63', pack('CCNN', 0x82, 0xff, 0x80000000, 0) . "\0\0\0\0", 1002, qr/top bit/ ],
    [ 'a ping over 125 bytes', ws_frame(9, 'p' x 126), 1002, qr/control frame over 125/ ],
    [ 'a fragmented ping', ws_frame(9, 'p', fin => 0), 1002, qr/fragmented control/ ],
    [ 'a continuation without a start', ws_frame(0, 'c'), 1002, qr/continuation without/ ],
    [ 'a close with code 999', ws_frame(8, pack('n', 999)), 1002, qr/invalid close code/ ],
    [ 'a close with an invalid UTF-8 reason', ws_frame(8, pack('n', 1000) . "\xc0\xaf"), 1007, qr/not UTF-8/ ],
    [ 'a text message', ws_frame(1, 'hello'), 1003, qr/text message/ ],
    [ 'a message over maxTransactionSize + 5', ws_frame(2, 'o' x (100 * 1024 + 6)), 1009, qr/message too big/ ],
    [ 'a message too big, in fragments', ws_frame(2, pack('N', 100000) . 'o' x 59996, fin => 0) . ws_frame(0, 'o' x 60000),
      1009, qr/too big/ ],
);
for my $case (@bad) {
    my ($what, $bytes, $code, $log) = @$case;
    my ($s) = ws_open(port => $port);
    ws_session($s) or diag("$what: no session");
    write_all($s, $bytes);
    is(close_code($s), $code, "$what: closed with $code");
    ok($d->wait_log(qr/transport=ws .*reason="[^"]*WebSocket: [^"]*$log/), "$what: the log line says why");
}
{
    my ($s) = ws_open(port => $port);
    ok(ws_session($s), 'ping: a session');
    write_all($s, ws_frame(9, 'are you there'));
    my ($op, $p) = ws_read($s);
    ok($op == 10 && $p eq 'are you there', 'a ping gets its pong, with the same payload');
    write_all($s, ws_frame(2, "\x00\x00", fin => 0) . ws_frame(9, 'between') . ws_frame(0, "\x00\x02ok"));
    ($op, $p) = ws_read($s);
    is($op, 10, 'a ping between the fragments of a message is answered at once');
    ($op, $p) = ws_read($s);
    is($p, "\x00\x00\x00\x02ok", 'and the fragmented transaction is whole');
    write_all($s, ws_frame(8, pack('n', 1000) . 'bye'));
    is(close_code($s), 1000, 'the close handshake: 1000 back');
    ok($d->wait_log(qr/transport=ws .*transactions=1\/1 code=\S+ reason="closed by peer"/), 'a closed-by-peer end line');
}
{
    my ($s) = ws_open(port => $port);
    ok(ws_session($s), '1 MiB of random bytes after a good upgrade: a session first');
    my $junk = join '', map { chr int rand 256 } 1 .. 1024 * 1024;
    syswrite($s, $junk);
    my $code = close_code($s);
    ok(!defined $code || $code == 1002 || $code == 1009 || $code == 1003, '... and then it is closed (' . ($code // 'no close frame') . ')');
}
ok(canaries_alive(), 'the canary sessions, TCP and WebSocket, kept working through every bad frame');
close $_ for @tcp, @ws;
is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
