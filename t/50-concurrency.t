#!/usr/bin/perl
# 200 concurrent sessions, each sending 100 transactions of mixed sizes
# and compression, all answered intact.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Select;
use Digest::MD5 qw(md5_hex);
use POSIX qw(_exit);

my $d = start_daemon(ini => "[Server]\nmaxConnections = 1000\n[Port]\nport = 0\nbindAddress = 127.0.0.1\nqueueLength = 512\ncompressionThreshold = 512\n");
my $children = 20;
my $per_child = 10;
my $transactions = 100;
my @kids;
for my $c (1 .. $children) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        alarm 150;
        srand($c);
        my @socks;
        for (1 .. $per_child) {
            my ($s, $answer) = np_connect($d, byte => (1, 3)[rand 2]);
            _exit(2) unless $s && ($answer // 0) == 1;
            push @socks, $s;
        }
        # Round-robin over this child's sessions: all 10 stay open and busy.
        for my $t (1 .. $transactions) {
            for my $i (0 .. $#socks) {
                my $size = (0, 1, 100, 1000, 10000, 65536)[($t + $i) % 6] + int(rand 50);
                my $payload = pack('N', $c * 1000 + $i) . join('', map { chr(($_ * $t) % 256) } 1 .. $size);
                send_frame($socks[$i], $payload, compress => ($t + $i) % 3 == 0) or _exit(3);
                my ($back) = read_frame($socks[$i], timeout => 60);
                _exit(4) unless defined $back && md5_hex($back) eq md5_hex($payload);
            }
        }
        close $_ for @socks;
        _exit(0);
    }
    push @kids, $pid;
}
my %codes;
for my $pid (@kids) { waitpid($pid, 0); $codes{$? >> 8}++ }
is($codes{0} // 0, $children, ($children * $per_child) . " concurrent sessions x $transactions transactions answered intact"
   . ' (child exit codes: ' . join(', ', map { "$_ x$codes{$_}" } sort keys %codes) . ')');
my $ends = () = $d->log_text =~ /transactions=100\/100 reason="closed by peer"/g;
ok(NpTest::wait_for(sub { ($ends = () = $d->log_text =~ /transactions=100\/100 reason="closed by peer"/g) >= 200 }, 10),
   "every session logged 100/100 transactions ($ends)");
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'the daemon serves afterwards');
done_testing;
