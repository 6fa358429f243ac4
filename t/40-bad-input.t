#!/usr/bin/perl
# Hostile bytes end one session with a log line naming the cause; an
# established session beside them keeps working after each.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Compress::Zlib qw(compress);
use POSIX qw(_exit);
use Time::HiRes qw(sleep);

my $d = start_daemon(ini => "[Server]\nmaxConnections = 500\n[Port]\nport = 0\nbindAddress = 127.0.0.1\nmaxTransactionSize = 1M\nhandshakeTimeout = 2\n");
my ($witness) = np_connect($d, byte => 1);
my $round = 0;
sub witness_ok {
    my ($what) = @_;
    $round++;
    send_frame($witness, "still here $round");
    my ($back) = read_frame($witness);
    is($back, "still here $round", "after $what the other session still works");
}

sub hostile {
    my ($what, $bytes, $reason) = @_;
    my ($s) = np_connect($d, byte => 1);
    syswrite($s, $bytes);
    my $answer = read_exact($s, 1, 5);
    ok(!defined $answer, "$what: the session is ended");
    ok($d->wait_log($reason, 5), "$what: the log names the cause") or diag($d->log_text);
    close $s;
    witness_ok($what);
}

hostile('a header of 0x7fffffff', pack('N', 0x7fffffff),
        qr/reason="transaction of 2147483647 bytes exceeds maxTransactionSize \(1048576 bytes\)"/);
hostile('a compressed header of 2 GiB', pack('N', 0xffffffff),
        qr/reason="transaction of 2147483647 bytes exceeds maxTransactionSize/);
hostile('a corrupt zlib stream', pack('N', 0x80000000 | 10) . "not zlib!!",
        qr/reason="corrupt zlib stream: incorrect header check"/);
my $bomb = compress("\0" x (20 * 1024 * 1024));
cmp_ok(length $bomb, '<', 30000, 'a deflate bomb: ' . length($bomb) . ' bytes inflating to 20 MiB');
hostile('a deflate bomb', pack('N', 0x80000000 | length $bomb) . $bomb,
        qr/reason="transaction inflates past maxTransactionSize \(1048576 bytes\)"/);
my $z = compress('x' x 1000);
hostile('a zlib stream with trailing garbage', pack('N', 0x80000000 | (length($z) + 3)) . $z . 'abc',
        qr/reason="3 bytes after the end of the zlib stream"/);
hostile('a truncated zlib stream', pack('N', 0x80000000 | (length($z) - 4)) . substr($z, 0, -4),
        qr/reason="zlib stream ends before its end marker"/);
{
    my $random = join '', map { chr(int rand 256) } 1 .. 1024 * 1024;
    my ($s) = np_connect($d, byte => 1);
    syswrite($s, $random);
    ok(!defined read_exact($s, 1, 5), '1 MiB of random bytes after the protocol byte: the session is ended');
    close $s;
    witness_ok('1 MiB of random bytes');
}

# EOF at every byte position of a plain and a compressed frame.
for my $frame ([plain => pack('N', 6) . 'abcdef'], [compressed => pack('N', 0x80000000 | length $z) . $z]) {
    my ($kind, $bytes) = @$frame;
    my $ended = 0;
    for my $cut (1 .. length($bytes) - 1) {
        my ($s) = np_connect($d, byte => 1);
        syswrite($s, substr($bytes, 0, $cut));
        shutdown($s, 1);
        $ended++ unless defined read_exact($s, 1, 5);
        close $s;
    }
    is($ended, length($bytes) - 1, "EOF at each of the " . (length($bytes) - 1) . " cut points of a $kind frame ends that session");
}
ok($d->wait_log(qr/reason="connection closed inside a transaction \(the transaction header\)"/),
   'EOF inside a header is logged as such');
ok($d->wait_log(qr/reason="connection closed inside a transaction \(the transaction payload\)"/),
   'EOF inside a payload is logged as such');
witness_ok('EOF at every byte position');

{
    my $pid = fork // die;
    if ($pid == 0) {
        my ($s) = np_connect($d, byte => 1);
        syswrite($s, pack('N', 100000) . ('x' x 5000));
        sleep 30;
        _exit(0);
    }
    sleep 0.5;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    ok($d->wait_log(qr/reason="(connection closed inside a transaction|read failed in the transaction payload: connection reset)/),
       'a client killed mid-transaction ends its session');
    witness_ok('a client killed mid-transaction');
}
close $witness;
ok($d->wait_log(qr/transactions=\d+\/\d+ reason="closed by peer"/), 'the witness session ends normally');
done_testing;
