#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# valgrind's memcheck over 1,000 sessions of every kind of ending: no
# memory error, no leak, and a clean exit on SIGTERM.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;

plan skip_all => 'valgrind is not installed' unless `sh -c 'command -v valgrind'`;
plan skip_all => 'a sanitizer build: valgrind does not run it' if `nm build/npsocketd 2>/dev/null` =~ /__asan|__tsan/;

my $d = start_daemon(
    ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\ncompressionThreshold = 100\nhandshakeTimeout = 2\n",
    wrapper => ['valgrind', '--leak-check=full', '--show-leak-kinds=definite,indirect',
                '--errors-for-leak-kinds=definite,indirect', '--error-exitcode=9', '--log-file=VGLOG'],
    ready_timeout => 60);
my $bad = 0;
for my $i (1 .. 1000) {
    my ($s, $answer) = np_connect($d, byte => (1, 3)[$i % 2]);
    if ($i % 10 == 0) {                 # a session cut inside a transaction
        syswrite($s, pack('N', 1000) . 'partial');
        close $s;
        next;
    }
    if ($i % 10 == 5) {                 # a corrupt compressed transaction
        syswrite($s, pack('N', 0x80000005) . 'trash');
        read_exact($s, 1, 5);
        close $s;
        next;
    }
    send_frame($s, 'v' x ($i * 5), compress => $i % 3 == 0);
    my ($back) = read_frame($s, timeout => 20);
    $bad++ unless defined $back && length($back) == $i * 5;
    close $s;
}
is($bad, 0, '1,000 sessions under valgrind, 800 answered intact');
is($d->stop, 0, 'the daemon exits 0 under valgrind: no memory error, no leak');
my $report = do { local $/; open my $fh, '<', $d->dir . '/valgrind.log' or die; <$fh> };
like($report, qr/ERROR SUMMARY: 0 errors/, 'memcheck: 0 errors');
unlike($report, qr/definitely lost: [1-9]|indirectly lost: [1-9]/, 'memcheck: nothing lost');
done_testing;
