#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Protocol-byte dispatch (SPEC §3): 1 and 3 answer 1 and start a session,
# EOF closes quietly, 2 is the relay, any other byte goes to webUpstream
# with that byte replayed first, or is closed with a log line naming it.
# Every connection leaves one end line with its counts.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Socket::IP;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my $d = start_daemon(ini => "[Server]\nmaxConnections = 1000\n[Port]\nport = 0\nbindAddress = 127.0.0.1\nhandshakeTimeout = 3\n");
my $port = $d->port;

# --- 1 and 3 ------------------------------------------------------------------------------------
for my $case ([1, 'client'], [3, 'rapp']) {
    my ($byte, $name) = @$case;
    my ($s, $answer) = np_connect($d, byte => $byte);
    is($answer, 1, "byte $byte is answered with 1");
    my @payloads = ("session $byte", '', 'x' x 300);
    my $ok = 0;
    for my $p (@payloads) {
        send_frame($s, $p);
        my ($back, $was) = read_frame($s);
        $ok++ if defined $back && $back eq $p && !$was;
    }
    is($ok, 3, "byte $byte starts an echo session (3 transactions echoed, one of them empty)");
    my $peer = '127.0.0.1:' . $s->sockport;
    close $s;
    my $line = $d->wait_log(qr/^(.*conn \d+ end: peer=\Q$peer\E .*)$/m, 5);
    ok($line, "byte $byte: the session leaves an end line") or next;
    my $wire = 1 + 3 * 4 + length(join '', @payloads);    # protocol byte / answer byte + frames
    like($line, qr/ info: conn \d+ end: peer=\Q$peer\E via=- port=$port listener=\S+ protocol=$name transport=tcp tls=- /,
         "byte $byte: end line has peer, port, protocol=$name, tls=-");
    like($line, qr/ duration=\d+\.\d{3}s /, "byte $byte: end line has the duration");
    like($line, qr/ in=$wire out=$wire /, "byte $byte: end line counts $wire bytes in and out");
    like($line, qr/ transactions=3\/3 code=CR reason="closed by peer"$/, "byte $byte: end line counts 3/3 transactions, closed by peer");
}

# --- the protocol byte and the first transaction in one write --------------------------------------
{
    my $s = np_connect($d);
    syswrite($s, chr(1) . pack('N', 5) . 'eager' . pack('N', 0));
    is(read_exact($s, 1, 5), chr(1), 'byte 1 and two transactions in one write: answered 1');
    is((read_frame($s))[0], 'eager', 'and the transaction sent with the protocol byte is echoed');
    is((read_frame($s))[0], '', 'and the empty one after it');
    my $peer = '127.0.0.1:' . $s->sockport;
    close $s;
    $d->wait_log(qr/end: peer=\Q$peer\E /, 5);
}

# --- EOF before any byte -------------------------------------------------------------------------
{
    my $before = length $d->log_text;
    my $s = np_connect($d);
    close $s;
    # The next connection's end line proves the daemon has handled the first.
    my ($t) = np_connect($d, byte => 1);
    my $marker = '127.0.0.1:' . $t->sockport;
    close $t;
    $d->wait_log(qr/peer=\Q$marker\E /, 5);
    my $new = substr($d->log_text, $before);
    my @lines = grep { !/peer=\Q$marker\E / } split /\n/, $new;
    is_deeply(\@lines, [], 'EOF before the protocol byte leaves no line at info level or above');
}

# --- 2: the relay ---------------------------------------------------------------------------------
{
    my ($s) = np_connect($d);
    syswrite($s, chr(2) . pack('N', 5) . chr(9) . 'keyx');    # role 9 does not exist
    is(read_exact($s, 1, 5), chr(0), 'byte 2 with a bad relay header is refused with 0');
    ok(wait_eof($s, 5), 'and the connection is closed');
    ok($d->wait_log(qr/protocol=relay .*reason="relay/, 5), 'the end line names the relay');
    my ($t) = np_connect($d);
    syswrite($t, chr(2));
    my $peer = '127.0.0.1:' . $t->sockport;
    close $t;
    ok($d->wait_log(qr/end: peer=\Q$peer\E .*protocol=relay /, 5), 'byte 2 then EOF: logged as relay');
}

# --- an unknown byte without webUpstream ----------------------------------------------------------
{
    my ($s) = np_connect($d);
    syswrite($s, 'Z');
    is(wait_eof($s, 5), 'eof', 'byte 0x5a without webUpstream: the connection is closed, nothing answered');
    ok($d->wait_log(qr/protocol=unknown .*reason="[^"]*protocol byte 0x5a/),
       'and the log line names the byte');
}

# --- all 256 byte values: in batches of 32 parallel connections ---------------------------------
# 1 and 3 must answer exactly 1 and stay open, 2 waits for its relay
# header, every other byte is closed without an answer and logged.
{
    my (%answer, %closed, %hung);
    my $t0 = time;
    for my $batch (0 .. 7) {
        my %sock;
        for my $byte ($batch * 32 .. $batch * 32 + 31) {
            my $s = np_connect($d) or do { $hung{$byte} = 'connect failed'; next };
            syswrite($s, chr $byte);
            $sock{$byte} = $s;
        }
        for my $byte (sort { $a <=> $b } keys %sock) {
            my $s = $sock{$byte};
            if ($byte == 1 || $byte == 3) {
                my $b = read_exact($s, 1, 5);
                $answer{$byte} = defined $b ? ord $b : undef;
                $hung{$byte} = 'closed after answering' if wait_eof($s, 0.2);
            }
            elsif ($byte == 2) {
                $hung{$byte} = 'closed before its relay header' if wait_eof($s, 0.2);
            }
            else {
                my $buf = '';
                my $end;
                my $sel = IO::Select->new($s);
                my $until = time + 5;
                while (!$end && (my $left = $until - time) > 0) {
                    last unless $sel->can_read($left);
                    my $r = sysread($s, $buf, 4096, length $buf);
                    $end = defined $r ? ($r ? undef : 'eof') : 'reset';
                }
                if (!$end) { $hung{$byte} = 'still open after 5 s' }
                elsif (length $buf) { $answer{$byte} = ord $buf }
                else { $closed{$byte} = 1 }
            }
            close $s;
        }
    }
    is_deeply(\%answer, { 1 => 1, 3 => 1 }, 'of all 256 byte values only 1 and 3 are answered, with 1');
    is(scalar(keys %closed), 253, 'the 253 bytes other than 1, 2 and 3 are closed without an answer')
        or diag('not closed: ' . join ' ', grep { !$closed{$_} } grep { $_ == 0 || $_ > 3 } 0 .. 255);
    is_deeply(\%hung, {}, 'no connection misbehaved (1 and 3 stay open, 2 waits for its header)');
    my @unlogged = grep {
        my $b = sprintf '0x%02x', $_;
        $d->log_text !~ /protocol byte $b\b/;
    } grep { $_ == 0 || $_ > 3 } 0 .. 255;
    NpTest::wait_for(sub {
        @unlogged = grep { my $b = sprintf '0x%02x', $_; $d->log_text !~ /protocol byte $b\b/ } @unlogged;
        !@unlogged;
    }, 5);
    is_deeply(\@unlogged, [], 'each of the 253 unknown bytes is named in the log');
    cmp_ok(time - $t0, '<', 30, 'all 256 bytes were dispatched quickly');
}
{
    my ($s, $answer) = np_connect($d, byte => 1);
    is($answer, 1, 'the daemon serves after all 256 byte values');
    send_frame($s, 'after');
    is((read_frame($s))[0], 'after', 'and echoes');
    close $s;
}

# --- webUpstream: a tiny HTTP-ish server that records what it receives ----------------------------
my $web = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5) or die;
my $web_port = $web->sockport;
pipe(my $got_r, my $got_w) or die;
my $pid = fork // die;
if ($pid == 0) {
    NpTest::die_with_parent();
    $SIG{ALRM} = 'DEFAULT';
    alarm 20;
    close $got_r;
    my $c = $web->accept or _exit(1);
    my $req = '';
    while ($req !~ /\r\n\r\n/) { sysread($c, $req, 1024, length $req) or last }
    syswrite($got_w, $req);
    close $got_w;
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
my $until = time + 10;
while (time < $until && $sel->can_read($until - time)) { sysread($c, $reply, 1024, length $reply) or last }
is($reply, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", 'the client gets the webUpstream reply, then EOF');
my $seen = '';
if (IO::Select->new($got_r)->can_read(10)) { local $/; $seen = <$got_r> }
is($seen, "GET / HTTP/1.0\r\n\r\n", 'the upstream received the protocol byte first, then the rest');
waitpid($pid, 0);
is($? >> 8, 0, 'the upstream saw one connection');
close $c;
ok($w->wait_log(qr/protocol=web .*reason="[^"]*webUpstream/), 'the relayed web connection is logged as protocol=web');
{
    my ($s, $answer) = np_connect($w, byte => 1);
    is($answer, 1, 'with webUpstream set, byte 1 is still a client session');
}

# webUpstream both ways in bulk: an upstream that echoes 1 MiB back.
{
    my $echo = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5) or die;
    my $echo_port = $echo->sockport;
    my $epid = fork // die;
    if ($epid == 0) {
        NpTest::die_with_parent();
        $SIG{ALRM} = 'DEFAULT';
        alarm 20;
        my $c = $echo->accept or _exit(1);
        while (1) { my $n = sysread($c, my $buf, 65536); last unless $n; syswrite($c, $buf) // last }
        _exit(0);
    }
    close $echo;
    my $e = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nwebUpstream = 127.0.0.1:$echo_port\n");
    my $c = np_connect($e);
    my $data = chr(0x16) . pack('C*', map { int rand 256 } 1 .. 1024 * 1024);
    my $wpid = fork // die;
    if ($wpid == 0) { NpTest::die_with_parent(); syswrite($c, $data); shutdown($c, 1); _exit(0) }
    my $got = '';
    my $sel = IO::Select->new($c);
    my $until = time + 15;
    while (length($got) < length($data) && time < $until && $sel->can_read($until - time)) {
        sysread($c, $got, 65536, length $got) or last;
    }
    waitpid($wpid, 0);
    ok($got eq $data, 'webUpstream relays 1 MiB + the protocol byte to the upstream and back intact ('
       . length($got) . ' of ' . length($data) . ' bytes)');
    close $c;
    kill 'KILL', $epid;
    waitpid($epid, 0);
}

# mapToPort is the port the end line gives; an IPv6 loopback peer is [::1]:PORT.
SKIP: {
    my $v6 = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
    skip 'no IPv6 loopback', 4 unless $v6;
    close $v6;
    my $m = start_daemon(ini => "[Port]\nport = 0\nbindAddress = ::1\nmapToPort = 4443\n");
    like($m->log_text, qr/listening on \[?::1\]?:\d+ for \[Port\]/, 'bindAddress = ::1: it listens on ::1');
    my ($s, $answer) = np_connect($m, host => '::1', byte => 3);
    is($answer, 1, 'a RAPP session over IPv6 loopback is answered 1');
    my $peer = '[::1]:' . $s->sockport;
    send_frame($s, 'six');
    read_frame($s);
    close $s;
    ok($m->wait_log(qr/end: peer=\Q$peer\E via=- port=4443 listener=\S+ protocol=rapp /, 5),
       'its end line has peer=[::1]:PORT and port=4443 (mapToPort)');
    ok(!IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $m->port, Timeout => 2),
       'bindAddress = ::1 does not listen on 127.0.0.1');
}

my $dead = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nwebUpstream = 127.0.0.1:1\nupstreamConnectTimeout = 1\n");
my $x = np_connect($dead);
syswrite($x, "Z");
ok(wait_eof($x, 5), 'an unreachable webUpstream closes the client');
ok($dead->wait_log(qr/reason="[^"]*webUpstream 127\.0\.0\.1:1[^"]*(unreachable|refused)/),
   'and the log says the upstream is unreachable');

done_testing;
