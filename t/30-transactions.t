#!/usr/bin/perl
# Framed transactions both ways: sizes, compression in and out,
# compressionThreshold, compression = false, maxTransactionSize exactly at
# the limit, readTimeout and idleTimeout cutting a silent session.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Time::HiRes qw(time);

my $d = start_daemon(ini => <<'INI');
[Port]
port = 0
bindAddress = 127.0.0.1
maxTransactionSize = 1M
compressionThreshold = 100
INI
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'session accepted');
for my $case ([0, 0], [0, 1], [1, 0], [99, 0], [100, 0], [5000, 1], [1048576, 0], [1048576, 1]) {
    my ($size, $compress) = @$case;
    my $payload = join '', map { chr(65 + $_ % 26) } 1 .. $size;
    send_frame($s, $payload, compress => $compress);
    my ($back, $was) = read_frame($s, timeout => 10);
    is($back, $payload, "$size bytes" . ($compress ? ' sent compressed' : '') . ' come back intact');
    is($was, $size >= 100 ? 1 : 0, "$size bytes: compressed back exactly when >= compressionThreshold");
}
{
    my $random = join '', map { chr(int rand 256) } 1 .. 4000;
    send_frame($s, $random);
    my ($back, $was) = read_frame($s);
    is($back, $random, 'incompressible data comes back intact');
    is($was, 0, 'and uncompressed, since compressing would not make it smaller');
}
close $s;
ok($d->wait_log(qr/transactions=9\/9 reason="closed by peer"/), 'the session counted 9 transactions each way');
$d->stop;

my $plain = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\ncompression = false\n");
($s) = np_connect($plain, byte => 1);
send_frame($s, 'z' x 100000, compress => 1);
my ($back, $was) = read_frame($s);
is($back, 'z' x 100000, 'with compression = false a compressed transaction is still read');
is($was, 0, 'but the answer goes out uncompressed');
$plain->stop;

my $timed = start_daemon(ini => "[Port.read]\nport = 0\nbindAddress = 127.0.0.1\nreadTimeout = 1\n"
                               . "[Port.idle]\nport = 0\nbindAddress = 127.0.0.1\nidleTimeout = 1.5\n");
($s) = np_connect($timed, byte => 1, port => $timed->port('Port.read'));
my $t0 = time;
my $eof = read_exact($s, 1, 10);
ok(!defined $eof && time - $t0 < 5, 'readTimeout = 1 closes a silent session');
ok($timed->wait_log(qr/reason="read timeout: no data for 1\.000s"/), 'with the reason in the log');
($s) = np_connect($timed, byte => 1, port => $timed->port('Port.idle'));
send_frame($s, 'keep');
read_frame($s);
$t0 = time;
$eof = read_exact($s, 1, 10);
ok(!defined $eof && time - $t0 < 5, 'idleTimeout = 1.5 closes a session without transactions');
ok($timed->wait_log(qr/reason="idle timeout: no transaction for 1\.500s"/), 'with the reason in the log');

done_testing;
