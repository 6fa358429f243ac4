#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Threads as the design says (SPEC §2): accepterThreads accepters per port
# named acc:PORT at the raised accepterPriority, one conn:PORT thread per
# session at normal priority, the count back to its baseline when sessions
# end; without the privilege to raise priority, one warning and on it goes.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'needs Linux /proc/PID/task' unless -d "/proc/$$/task";

# Every thread of $pid: { tid, name, nice, policy }.  The name is between
# the first '(' and the last ')' of stat (it may hold spaces and
# parentheses); nice is field 19, the 17th after the ')', the scheduling
# policy field 41 (0 SCHED_OTHER, 3 SCHED_BATCH).
sub threads {
    my ($pid) = @_;
    my @t;
    for my $task (glob "/proc/$pid/task/*") {
        open my $fh, '<', "$task/stat" or next;
        my $stat = <$fh> // next;
        my $open = index($stat, '(');
        my $close = rindex($stat, ')');
        my $name = substr($stat, $open + 1, $close - $open - 1);
        my @f = split ' ', substr($stat, $close + 1);
        push @t, { tid => ($task =~ m{(\d+)$})[0], name => $name, nice => $f[16], policy => $f[38] };
    }
    return @t;
}
sub named { my ($pid, $name) = @_; grep { $_->{name} eq $name } threads($pid) }

SKIP: {
    skip 'raising priority needs root (CAP_SYS_NICE)', 12 if $> != 0;
    my $d = start_daemon(ini => "[Server]\nspareThreads = 0\n[Port]\nport = 0\nbindAddress = 127.0.0.1\naccepterThreads = 2\naccepterPriority = -5\n"
                              . "[Port.b]\nport = 0\nbindAddress = 127.0.0.1\naccepterThreads = 3\naccepterPriority = -3\n");
    my $port = $d->port('Port');
    my $port_b = $d->port('Port.b');
    my @acc = named($d->pid, "acc:$port");
    is(scalar(@acc), 2, "accepterThreads = 2: two accepter threads named acc:$port");
    is_deeply([map { $_->{nice} } @acc], [-5, -5], 'they run at nice -5 (accepterPriority = -5)');
    my @acc_b = named($d->pid, "acc:$port_b");
    is(scalar(@acc_b), 3, "accepterThreads = 3 on [Port.b]: three threads named acc:$port_b");
    is_deeply([map { $_->{nice} } @acc_b], [-3, -3, -3], 'they run at nice -3');
    is_deeply([map { $_->{policy} } @acc, @acc_b], [(0) x 5], 'accepters are SCHED_OTHER: a new connection preempts');
    unlike($d->log_text, qr/warning: .*priority/, 'as root no priority warning is logged');
    my $base = () = threads($d->pid);

    my @socks = map { scalar np_connect($d, byte => 1) } 1 .. 3;
    ok(NpTest::wait_for(sub { named($d->pid, "conn:$port") == 3 }, 5),
       "while 3 sessions are open there are 3 conn:$port threads");
    my @conn = named($d->pid, "conn:$port");
    is_deeply([map { $_->{nice} } @conn], [0, 0, 0], 'connection threads run at normal priority (nice 0)');
    is_deeply([map { $_->{policy} } @conn], [3, 3, 3], 'as SCHED_BATCH: the turns, not wake-up preemption, decide who runs');
    send_frame($_, 'x') for @socks;
    my $echoed = grep { defined((read_frame($_))[0]) } @socks;
    is($echoed, 3, 'and each of them echoes');
    close $_ for @socks;
    ok(NpTest::wait_for(sub { scalar(threads($d->pid)) == $base }, 5),
       "with spareThreads = 0 the thread count returns to its baseline of $base after the sessions close");
    is($d->stop, 0, 'the daemon stops with exit 0');
}

# Without CAP_SYS_NICE: as root, started with it taken out of the bounding
# set (setpriv, util-linux), so exec leaves it out of the permitted set;
# as anyone else, that is simply the case.  (With user = root's
# CAP_SYS_NICE is kept for the accepters: t/199.)
SKIP: {
    my @wrapper = $> == 0 ? ('setpriv', '--bounding-set=-sys_nice', '--inh-caps=-sys_nice') : ();
    skip 'no setpriv to run without CAP_SYS_NICE as root', 5 if @wrapper && !-x '/usr/bin/setpriv';
    my $ini = "[Port]\nport = 0\nbindAddress = 127.0.0.1\naccepterThreads = 2\naccepterPriority = -5\n";
    my $d = start_daemon(ini => $ini, wrapper => \@wrapper);
    my $port = $d->port;
    ok($d->wait_log(qr/warning: [^\n]*priority/, 5), 'without the privilege one warning about the priority is logged');
    my $warnings = () = $d->log_text =~ /warning: [^\n]*priority/g;
    is($warnings, 1, 'only one, not one per accepter');
    my @acc = named($d->pid, "acc:$port");
    is(scalar(@acc), 2, 'the two accepters run anyway');
    is_deeply([map { $_->{nice} } @acc], [0, 0], 'at normal priority');
    my ($s, $answer) = np_connect($d, byte => 1);
    send_frame($s, 'unprivileged');
    is((read_frame($s))[0], 'unprivileged', 'and the daemon serves');
    close $s;
}

# spareThreads: a connection thread whose session ended waits for the
# next one (at most spareThreads of them), at normal priority again.
{
    my $d = start_daemon(ini => "[Server]\nspareThreads = 2\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my $port = $d->port;
    my $base = () = threads($d->pid);
    my @socks = map { scalar np_connect($d, byte => 1) } 1 .. 5;
    ok(NpTest::wait_for(sub { named($d->pid, "conn:$port") == 5 }, 5), 'five sessions, five connection threads');
    close $_ for @socks;
    ok(NpTest::wait_for(sub { named($d->pid, 'spare') == 2 && scalar(threads($d->pid)) == $base + 2 }, 5),
       'after they close, spareThreads = 2 of the threads stay, parked and named spare');
    my %tids = map { $_->{tid} => 1 } named($d->pid, 'spare');
    my ($ok, $new) = (0, 0);
    for my $i (1 .. 50) {
        my ($s) = np_connect($d, byte => 1);
        $ok++ if echo_ok($s, "session $i");
        $new += grep { !$tids{ $_->{tid} } } named($d->pid, "conn:$port");
        close $s;
        # Parked again (its end line written, waiting): the next goes to one.
        NpTest::wait_for(sub { named($d->pid, 'spare') == 2 }, 5);
    }
    is($ok, 50, '50 sessions one after another are served');
    is($new, 0, 'by the parked threads: no thread was made for them');
    ok(scalar(threads($d->pid)) <= $base + 2, 'and the count stays at the baseline and the two spares');
    is($d->stop, 0, 'the daemon stops with its spare threads, exit 0');
}

# threadStackSize bounds the connection threads' stacks; zlib still fits.
{
    my $d = start_daemon(ini => "[Server]\nthreadStackSize = 128K\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my ($s) = np_connect($d, byte => 1);
    send_frame($s, 'x' x 300000, compress => 1);
    my ($back, $was) = read_frame($s);
    is(length($back // ''), 300000, 'a 128 KiB thread stack handles compressed transactions both ways');
    close $s;
}
done_testing;
