#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Hostile bytes end one session with a log line naming the cause; an
# established session beside them keeps working after each, and the
# daemon keeps accepting new ones.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Compress::Zlib qw(compress);
use POSIX qw(_exit);
use Time::HiRes qw(sleep);

my $d = start_daemon(ini => "[Server]\nmaxConnections = 500\n[Port]\nport = 0\nbindAddress = 127.0.0.1\nmaxTransactionSize = 1M\nhandshakeTimeout = 2\n");
my ($witness, $wanswer) = np_connect($d, byte => 1);
is($wanswer, 1, 'a witness session is open beside the hostile ones');
my $round = 0;
sub witness_ok {
    my ($what) = @_;
    $round++;
    send_frame($witness, "still here $round");
    my ($back) = read_frame($witness);
    is($back, "still here $round", "after $what the established session still echoes");
}

# Sends $bytes after protocol byte 1 (then half-closes when $then_close),
# expects the daemon to end the session without answering anything and to
# log $reason on the session's end line.
sub hostile {
    my ($what, $bytes, $reason, $then_close) = @_;
    my ($s, $answer) = np_connect($d, byte => 1);
    my $peer = '127.0.0.1:' . $s->sockport;
    syswrite($s, $bytes);
    shutdown($s, 1) if $then_close;
    ok(wait_eof($s, 5), "$what: the session is ended");
    my $line = $d->wait_log(qr/^(.*end: peer=\Q$peer\E .*)$/m, 5);
    like($line // '', $reason, "$what: the end line names the cause");
    close $s;
    witness_ok($what);
}

my $z = compress('x' x 1000);
hostile('a header of 0x7fffffff', pack('N', 0x7fffffff),
        qr/reason="[^"]*2147483647[^"]*maxTransactionSize/);
hostile('a compressed header of 2 GiB (0xffffffff)', pack('N', 0xffffffff),
        qr/reason="[^"]*maxTransactionSize/);
hostile('a header of 1M + 1', pack('N', 1048577),
        qr/reason="[^"]*maxTransactionSize/);
hostile('a corrupt zlib stream', pack('N', 0x80000000 | 10) . "not zlib!!",
        qr/reason="[^"]*zlib/);
hostile('a compressed transaction of length 0', pack('N', 0x80000000),
        qr/reason="[^"]*zlib/);
my $bomb = compress("\0" x (20 * 1024 * 1024));
cmp_ok(length $bomb, '<', 30000, 'the deflate bomb is ' . length($bomb) . ' bytes inflating to 20 MiB');
hostile('a deflate bomb (20 MiB from ' . length($bomb) . ' bytes, maxTransactionSize = 1M)',
        pack('N', 0x80000000 | length $bomb) . $bomb,
        qr/reason="[^"]*inflate[^"]*maxTransactionSize/);
hostile('a zlib stream with trailing garbage', pack('N', 0x80000000 | (length($z) + 3)) . $z . 'abc',
        qr/reason="[^"]*(zlib|after the end)/);
hostile('a zlib stream cut short inside its frame', pack('N', 0x80000000 | (length($z) - 4)) . substr($z, 0, -4),
        qr/reason="[^"]*zlib/);
hostile('raw deflate without the zlib header', pack('N', 0x80000000 | (length($z) - 6)) . substr($z, 2, -4),
        qr/reason="[^"]*zlib/);
hostile('a truncated transaction, then close', pack('N', 1000) . ('t' x 300),
        qr/reason="[^"]*closed inside a transaction/, 'then close');

# 1 MiB of random bytes after the protocol byte: whatever the first header
# says, the session must end (maybe after echoing a few lucky frames).
{
    my $random = pack 'C*', map { int rand 256 } 1 .. 1024 * 1024;
    substr($random, 0, 1) = chr(ord(substr $random, 0, 1) | 0x01);    # the first header is never tiny
    my ($s) = np_connect($d, byte => 1);
    my $peer = '127.0.0.1:' . $s->sockport;
    my $pid = fork // die;
    if ($pid == 0) { NpTest::die_with_parent(); syswrite($s, $random); _exit(0) }    # the write may block or fail: not the reader's problem
    ok(wait_eof($s, 10), '1 MiB of random bytes after the protocol byte: the session is ended');
    kill 'KILL', $pid;
    waitpid($pid, 0);
    close $s;
    my $line = $d->wait_log(qr/^(.*end: peer=\Q$peer\E .*)$/m, 5);
    unlike($line // 'no end line', qr/reason="closed by peer"|no end line/, '1 MiB of random bytes: the end line gives a reason that is not a normal close')
        or diag($line);
    witness_ok('1 MiB of random bytes');
}

# EOF at every byte position of a plain and a compressed frame.
for my $frame ([plain => pack('N', 6) . 'abcdef'], [compressed => pack('N', 0x80000000 | length $z) . $z]) {
    my ($kind, $bytes) = @$frame;
    my $cuts = length($bytes) - 1;
    my ($ended, @reasons) = (0);
    for my $cut (1 .. $cuts) {
        my ($s) = np_connect($d, byte => 1);
        my $peer = '127.0.0.1:' . $s->sockport;
        syswrite($s, substr($bytes, 0, $cut));
        shutdown($s, 1);
        $ended++ if wait_eof($s, 5);
        close $s;
        push @reasons, $d->wait_log(qr/end: peer=\Q$peer\E .*reason="([^"]*)"/, 5) // 'no end line';
    }
    is($ended, $cuts, "EOF at each of the $cuts cut points of a $kind frame ends that session");
    my @wrong = grep { !/closed inside a transaction/ } @reasons;
    is_deeply(\@wrong, [], "each of those $cuts end lines says: closed inside a transaction");
    witness_ok("EOF inside a $kind frame");
}
ok($d->wait_log(qr/reason="[^"]*closed inside a transaction[^"]*header/),
   'EOF inside a header is logged as such');
ok($d->wait_log(qr/reason="[^"]*closed inside a transaction[^"]*payload/),
   'EOF inside a payload is logged as such');

# A client killed (SIGKILL) in the middle of a transaction.
{
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        close $r;
        my ($s, $answer) = np_connect($d, byte => 1);
        syswrite($w, ($answer // 0) . ' ' . $s->sockport . "\n");
        close $w;
        syswrite($s, pack('N', 100000) . ('x' x 5000));
        sleep 30;
        _exit(0);
    }
    close $w;
    my $hello = IO::Select->new($r)->can_read(10) ? <$r> : '';
    my ($answer, $cport) = split ' ', $hello // '';
    is($answer, 1, 'a child opened a session and sent half a transaction');
    sleep 0.3;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    my $peer = '127.0.0.1:' . ($cport // 0);
    ok($d->wait_log(qr/end: peer=\Q$peer\E .*reason="[^"]*(closed inside a transaction|reset)/, 5),
       'a client killed mid-transaction ends its session with a reason');
    witness_ok('a client killed mid-transaction');
}

# A read timeout ends a silent session, and only that one.
{
    my $t = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nreadTimeout = 1\nwriteTimeout = 1\n");
    my ($idle) = np_connect($t, byte => 1);
    my ($busy) = np_connect($t, byte => 1);
    my $ok = 0;
    for (1 .. 6) { send_frame($busy, "tick $_"); $ok++ if ((read_frame($busy))[0] // '') eq "tick $_"; sleep 0.4 }
    is($ok, 6, 'readTimeout = 1: a session with a transaction every 0.4 s is kept (2.4 s)');
    ok(wait_eof($idle, 5), 'an idle session beside it is closed within 5 s');
    ok($t->wait_log(qr/reason="[^"]*time(d out|out)/, 5), 'the end line says timed out');

    # A client that sends and never reads: the daemon's answers fill the
    # socket buffers; writeTimeout bounds that blocked write.
    my ($deaf) = np_connect($t, byte => 1);
    my $peer = '127.0.0.1:' . $deaf->sockport;
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        my $mb = pack 'C*', map { int rand 256 } 1 .. 1024 * 1024;    # incompressible: answers stay big
        for (1 .. 64) { send_frame($deaf, $mb) or last }
        _exit(0);
    }
    my $line = $t->wait_log(qr/^(.*end: peer=\Q$peer\E .*)$/m, 15);
    ok($line, 'writeTimeout = 1: a client that never reads its answers has its session ended');
    like($line // '', qr/reason="[^"]*(time|write)/, 'with a reason about the stalled write') or diag($line);
    kill 'KILL', $pid;
    waitpid($pid, 0);
    my ($fresh) = np_connect($t, byte => 1);
    send_frame($fresh, 'tock');
    is((read_frame($fresh))[0], 'tock', 'a new session on that port still echoes');
    close $fresh;
    close $busy;
    close $deaf;
    is($t->stop, 0, 'and the daemon stops with exit 0');
}

close $witness;
ok($d->wait_log(qr/transactions=$round\/$round code=\S+ reason="closed by peer"/),
   "the witness session ends normally with $round/$round transactions");
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'the daemon still accepts new sessions');
ok(kill(0, $d->pid), 'and is still running');
close $s;
is($d->stop, 0, 'and stops cleanly (exit 0)');
done_testing;
