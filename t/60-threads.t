#!/usr/bin/perl
# Threads as the design says: accepterThreads accepters named acc:PORT at
# the raised accepterPriority, one conn:PORT thread per session at normal
# priority, and the count back to its baseline when sessions end.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Time::HiRes qw(sleep);

sub threads {
    my ($pid) = @_;
    my @t;
    for my $task (glob "/proc/$pid/task/*") {
        open my $fh, '<', "$task/stat" or next;
        my $stat = <$fh>;
        my ($comm) = $stat =~ /\((.*)\)/s;
        my @f = split ' ', substr($stat, rindex($stat, ')') + 2);
        push @t, { name => $comm, nice => $f[16] };    # field 19 of stat
    }
    return @t;
}

my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\naccepterThreads = 2\naccepterPriority = -5\n");
my $port = $d->port;
my @acc = grep { $_->{name} eq "acc:$port" } threads($d->pid);
is(scalar(@acc), 2, "two accepter threads named acc:$port");
my $base = () = threads($d->pid);

SKIP: {
    skip 'raising priority needs root (CAP_SYS_NICE)', 1 if $> != 0;
    is_deeply([map { $_->{nice} } @acc], [-5, -5], 'the accepters run at nice -5 (accepterPriority)');
}
if ($> != 0) {
    ok($d->wait_log(qr/cannot raise accepter priority/), 'without the privilege a warning is logged');
}

my @socks = map { scalar np_connect($d, byte => 1) } 1 .. 3;
ok(NpTest::wait_for(sub { (grep { $_->{name} eq "conn:$port" } threads($d->pid)) == 3 }, 5),
   "each session has its own conn:$port thread");
my @conn = grep { $_->{name} eq "conn:$port" } threads($d->pid);
is_deeply([map { $_->{nice} } @conn], [0, 0, 0], 'connection threads run at normal priority (nice 0)');
close $_ for @socks;
ok(NpTest::wait_for(sub { scalar(threads($d->pid)) == $base }, 5), "the thread count returns to its baseline of $base");

my $ps = start_daemon(ini => "[Server]\nthreadStackSize = 128K\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
my ($s) = np_connect($ps, byte => 1);
send_frame($s, 'x' x 300000, compress => 1);
my ($back) = read_frame($s);
is(length($back // ''), 300000, 'a 128 KiB thread stack handles compressed transactions');
done_testing;
