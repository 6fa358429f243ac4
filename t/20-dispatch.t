#!/usr/bin/perl
# Protocol-byte dispatch (SPEC §3): 1 and 3 answer 1 and start a session,
# EOF closes quietly, 2 is the relay, any other byte goes to webUpstream
# with that byte replayed first, or is closed with a log line naming it.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Socket::IP;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(sleep);

my $d = start_daemon(ini => "[Server]\nmaxConnections = 1000\n[Port]\nport = 0\nbindAddress = 127.0.0.1\nhandshakeTimeout = 2\n");

for my $byte (1, 3) {
    my ($s, $answer) = np_connect($d, byte => $byte);
    is($answer, 1, "byte $byte is answered with 1");
    send_frame($s, "session $byte");
    my ($back) = read_frame($s);
    is($back, "session $byte", "byte $byte starts an echo session");
    close $s;
}
ok($d->wait_log(qr/protocol=client .*transactions=1\/1 reason="closed by peer"/),
   'a client session leaves its end line with counts and reason');
ok($d->wait_log(qr/protocol=rapp /), 'a RAPP session is logged as rapp');

{
    my $s = np_connect($d);
    close $s;
    sleep 0.3;
    unlike($d->log_text, qr/info: .*protocol=none .*closed before the protocol byte/,
           'EOF before the protocol byte leaves no info-level line');
}

{
    my ($s) = np_connect($d, byte => 0x47);
    is(read_exact($s, 1, 3), undef, 'an unknown byte without webUpstream is closed');
    ok($d->wait_log(qr/protocol=unknown .*reason="unknown protocol byte 0x47 and no webUpstream"/),
       'and the log line names the byte');
}

# Every byte value, one connection each: the daemon stays up and answers
# exactly 1 and 3 (2 is the relay: it waits for a header).
my %answered;
for my $byte (0 .. 255) {
    my $s = np_connect($d) or next;
    syswrite($s, chr($byte));
    if ($byte == 2) { close $s; next }
    my $b = read_exact($s, 1, 3);
    $answered{$byte} = ord $b if defined $b;
    close $s;
}
is_deeply(\%answered, { 1 => 1, 3 => 1 }, 'of all 256 byte values only 1 and 3 are answered, with 1');
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'the daemon serves after all 256 byte values');

# webUpstream: a tiny HTTP-ish server that records what it receives.
my $web = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5) or die;
my $web_port = $web->sockport;
pipe(my $got_r, my $got_w) or die;
my $pid = fork // die;
if ($pid == 0) {
    alarm 20;
    my $c = $web->accept or _exit(1);
    my $req = '';
    while ($req !~ /\r\n\r\n/) { sysread($c, $req, 1024, length $req) or last }
    syswrite($got_w, $req);
    syswrite($c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    close $c;
    _exit(0);
}
close $web;
close $got_w;
my $w = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nwebUpstream = 127.0.0.1:$web_port\n");
my $c = np_connect($w);
syswrite($c, "GET / HTTP/1.0\r\n\r\n");
my $reply = '';
my $sel = IO::Select->new($c);
while ($sel->can_read(5)) { sysread($c, $reply, 1024, length $reply) or last }
like($reply, qr{^HTTP/1\.0 200 OK\r\n.*\r\n\r\nhi$}s, 'the client gets the webUpstream reply');
my $seen = do { local $/; <$got_r> };
is($seen, "GET / HTTP/1.0\r\n\r\n", 'the upstream received the protocol byte first, then the rest');
waitpid($pid, 0);
close $c;
ok($w->wait_log(qr/protocol=web .*reason="webUpstream 127\.0\.0\.1:\d+: both sides closed"/),
   'the relayed web connection is logged');

my $dead = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nwebUpstream = 127.0.0.1:1\nupstreamConnectTimeout = 1\n");
my $x = np_connect($dead);
syswrite($x, "G");
is(read_exact($x, 1, 5), undef, 'an unreachable webUpstream closes the client');
ok($dead->wait_log(qr/reason="webUpstream 127\.0\.0\.1:1 unreachable: connect to 127\.0\.0\.1:1: Connection refused"/),
   'and the log says the upstream is unreachable');

done_testing;
