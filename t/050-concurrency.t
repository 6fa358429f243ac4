#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# 200 concurrent sessions (20 processes x 10 sessions, all opened before
# any transaction), each sending 100 transactions of mixed sizes (0 to
# 64 KiB), content and compression; every answer is compared by digest.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Select;
use Digest::MD5 qw(md5_hex);
use POSIX qw(_exit);
use Time::HiRes qw(time);

my $children = 20;
my $per_child = 10;
my $transactions = 100;
my $sessions = $children * $per_child;

my $d = start_daemon(ini => "[Server]\nmaxConnections = 1000\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                          . "queueLength = 512\ncompressionThreshold = 512\nmaxConnectionsPerAddress = 0\n");
my $port = $d->port;

sub threads_named {
    my ($name) = @_;
    my $n = 0;
    for my $task (glob '/proc/' . $d->pid . '/task/*') {
        open my $fh, '<', "$task/comm" or next;
        my $comm = <$fh> // '';
        chomp $comm;
        $n++ if $comm eq $name;
    }
    return $n;
}
my $base_threads = () = glob '/proc/' . $d->pid . '/task/*';

# The children report "ready" on one pipe once their sessions are open,
# then wait for the parent to close the other before the first transaction.
pipe(my $ready_r, my $ready_w) or die;
pipe(my $go_r, my $go_w) or die;
my @kids;
my $parent = $$;
END { if ($$ == $parent && @kids) { kill 'KILL', @kids; waitpid($_, 0) for @kids } }
for my $c (1 .. $children) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        $SIG{ALRM} = 'DEFAULT';
        alarm 100;
        close $ready_r;
        close $go_w;
        srand($c);
        # Content pools: compressible text and random bytes, 64 KiB each.
        my $text = substr(join('', map { "line $_ of child $c\n" } 1 .. 4000), 0, 65536);
        my $noise = pack 'C*', map { int rand 256 } 1 .. 65536;
        my @socks;
        for (1 .. $per_child) {
            my ($s, $answer) = np_connect($d, byte => (1, 3)[rand 2]);
            unless ($s && ($answer // 0) == 1) { print STDERR "# child $c: session not accepted\n"; _exit(2) }
            push @socks, $s;
        }
        syswrite($ready_w, 'r');
        sysread($go_r, my $x, 1);    # EOF = go
        for my $t (1 .. $transactions) {
            # Each round sends one transaction on every session, then reads
            # every answer: 10 transactions in flight per child.
            my @sent;
            for my $i (0 .. $#socks) {
                my $size = (0, 1, 100, 511, 512, 1000, 4096, 10000, 32768, 65536)[($t + $i) % 10];
                $size = int rand 65537 if ($t * 7 + $i) % 5 == 0;
                my $pool = ($t + $i) % 2 ? $text : $noise;
                my $payload = substr($pool, ($t * 131 + $i) % 7, $size);
                $payload .= 'x' x ($size - length $payload);
                substr($payload, 0, 8) = pack('NN', $c * 100 + $i, $t) if $size >= 8;
                unless (send_frame($socks[$i], $payload, compress => ($t + $i) % 3 == 0)) {
                    print STDERR "# child $c session $i transaction $t: write failed: $!\n";
                    _exit(3);
                }
                $sent[$i] = [length($payload), md5_hex($payload)];
            }
            for my $i (0 .. $#socks) {
                my ($back) = read_frame($socks[$i], timeout => 60);
                if (!defined $back) {
                    print STDERR "# child $c session $i transaction $t: no answer\n";
                    _exit(4);
                }
                if (length($back) != $sent[$i][0] || md5_hex($back) ne $sent[$i][1]) {
                    print STDERR "# child $c session $i transaction $t: answer differs ("
                        . length($back) . " bytes, sent $sent[$i][0])\n";
                    _exit(5);
                }
            }
        }
        close $_ for @socks;
        _exit(0);
    }
    push @kids, $pid;
}
close $ready_w;
close $go_r;

# A global bound: whatever happens, the children and the daemon are gone
# after 150 s.
local $SIG{ALRM} = sub { die "t/050-concurrency.t: global timeout (the END blocks stop children and daemon)\n" };
alarm 150;
my $t0 = time;

my $ready = 0;
my $sel = IO::Select->new($ready_r);
while ($ready < $children && $sel->can_read(30)) {
    my $n = sysread($ready_r, my $buf, 64);
    last unless $n;
    $ready += $n;
}
is($ready, $children, "$children processes opened their $per_child sessions each");
ok(NpTest::wait_for(sub { threads_named("conn:$port") >= $sessions }, 10),
   "$sessions sessions are open at once (" . threads_named("conn:$port") . " conn:$port threads)");
close $go_w;

my %codes;
for my $pid (@kids) { waitpid($pid, 0); $codes{$? & 127 ? 'signal ' . ($? & 127) : $? >> 8}++ }
@kids = ();
alarm 0;
my $took = time - $t0;
is($codes{0} // 0, $children, "$sessions concurrent sessions x $transactions transactions answered intact"
   . ' (child exit codes: ' . join(', ', map { "$_ x$codes{$_}" } sort keys %codes) . ')');
diag(sprintf '%d transactions each way in %.1f s', $sessions * $transactions, $took);

my $ends = 0;
ok(NpTest::wait_for(sub { ($ends = () = $d->log_text =~ /transactions=$transactions\/$transactions code=\S+ reason="closed by peer"/g) >= $sessions }, 10),
   "every session logged $transactions/$transactions transactions and closed by peer ($ends of $sessions)");
# spareThreads (64 by default) of them stay parked for the next sessions.
ok(NpTest::wait_for(sub { (() = glob '/proc/' . $d->pid . '/task/*') == $base_threads + 64 }, 10),
   "the thread count returns to its baseline of $base_threads and 64 spare threads");
unlike($d->log_text, qr/ (error|warning): /, 'nothing was logged at warning or error level')
    or diag(join "\n", grep { / (error|warning): / } split /\n/, $d->log_text);
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'the daemon serves afterwards');
close $s;
is($d->stop, 0, 'and stops with exit 0');
done_testing;
