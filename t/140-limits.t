#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Limits and hardening: slow clients cut by their timeouts with the thread
# count back to its baseline, a connection flood against maxConnections
# while established sessions go on, allow/deny ranges, per-address limits,
# a descriptor limit far below the load, privileges dropped to nobody.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Socket::IP;
use IO::Select;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

sub threads_of {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return -1;
    while (<$fh>) { return $1 if /^Threads:\s+(\d+)/ }
    return -1;
}

sub wait_threads {
    my ($pid, $want, $timeout) = @_;
    my $until = time + $timeout;
    my $n;
    while (time < $until) {
        $n = threads_of($pid);
        return $n if $n <= $want;
        sleep 0.1;
    }
    return $n;
}

sub open_session {
    my ($port, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => $opt{host} // '127.0.0.1', PeerPort => $port,
                                ($opt{from} ? (LocalHost => $opt{from}) : ()),
                                Timeout => 5) or return undef;
    binmode $s;
    return $s if $opt{raw};
    syswrite($s, chr(1)) or return undef;
    my $sel = IO::Select->new($s);
    my $answer = '';
    return undef unless $sel->can_read(5) && sysread($s, $answer, 1);
    return ord($answer) == 1 ? $s : undef;
}

sub closed_within {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;
    while (time < $until) {
        next unless $sel->can_read($until - time);
        my $n = sysread($s, my $b, 1);
        return 1 if !$n;
    }
    return 0;
}

# --- slowloris: 200 clients dribbling one byte a second -----------------------------
{
    my $d = start_daemon(ini => <<'INI');
[Server]
maxConnections = 1000
# No parked threads: the count itself shows the threads let go.
spareThreads = 0
[Port]
port = 0
bindAddress = 127.0.0.1
handshakeTimeout = 2
readTimeout = 2
INI
    my $base = threads_of($d->pid);
    ok($base > 0, "baseline: $base threads");
    my (@silent, @header);
    for (1 .. 100) { push @silent, open_session($d->port, raw => 1) }
    for (1 .. 100) {
        my $s = open_session($d->port);
        push @header, $s if $s;
    }
    is(scalar(@header), 100, '100 sessions accepted that will dribble a frame header');
    # One byte of header per second; a whole header would take 4 s.
    my $t0 = time;
    my %alive = map { $_ => $_ } @header;
    for my $round (1 .. 3) {
        for my $s (values %alive) { syswrite($s, "\0") or delete $alive{$s} }
        sleep 1;
    }
    my $cut = grep { closed_within($_, 3) } @header;
    is($cut, 100, 'all 100 header dribblers were cut (header must arrive within readTimeout)');
    $cut = grep { closed_within($_, 1) } @silent;
    is($cut, 100, 'all 100 silent clients were cut by handshakeTimeout');
    close $_ for @silent, @header;
    is(wait_threads($d->pid, $base, 10), $base, 'the thread count is back at its baseline');
    ok($d->wait_log(qr/reason="no protocol byte: timed out"/, 5), 'the cut is logged with its reason');
    my $s = open_session($d->port);
    ok($s, 'and the daemon serves normally');
    $d->stop;
}

# --- flood against maxConnections while 50 sessions work -------------------------------
{
    my $d = start_daemon(ini => <<'INI');
[Server]
maxConnections = 1000
[Port]
port = 0
bindAddress = 127.0.0.1
queueLength = 1024
handshakeTimeout = 5
INI
    my @workers;
    for my $w (1 .. 50) {
        my $pid = fork // die;
        if ($pid == 0) {
            alarm 120;
            my $s = open_session($d->port) or _exit(2);
            sleep 1.5;    # until the flood is on
            for my $i (1 .. 200) {
                my $p = "w$w-t$i-" . ('x' x ($i * 37 % 3000));
                send_frame($s, $p, compress => $i % 4 == 0);
                my ($back) = read_frame($s, timeout => 20);
                _exit(3) unless defined $back && $back eq $p;
            }
            _exit(0);
        }
        push @workers, $pid;
    }
    sleep 1;    # the 50 sessions are established before the flood starts
    my @flooders;
    for my $f (1 .. 5) {
        my $pid = fork // die;
        if ($pid == 0) {
            alarm 120;
            my @held;
            for my $i (1 .. 1000) {
                my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port,
                                            Timeout => 5);
                push @held, $s if $s;
            }
            sleep 2;
            _exit(0);
        }
        push @flooders, $pid;
    }
    my $ok = 0;
    for my $pid (@workers) { waitpid($pid, 0); $ok++ if $? == 0 }
    waitpid($_, 0) for @flooders;
    is($ok, 50, '50 established sessions exchanged 200 transactions each during a 5,000-connection flood');
    ok($d->wait_log(qr/refused 127\.0\.0\.1:\d+ on port \d+: maxConnections of \[Server\] reached/, 10),
       'connections over maxConnections are refused and logged');
    my @refusals = $d->log_text =~ /refused 127/g;
    my @suppressed = $d->log_text =~ /\((\d+) more like this not logged\)/g;
    cmp_ok(scalar(@refusals), '<', 200, 'the refusals are rate limited in the log (' . scalar(@refusals) . ' lines)');
    ok(open_session($d->port), 'the daemon serves after the flood');
    $d->stop;
}

# --- allow / deny --------------------------------------------------------------------------
{
    my $d = start_daemon(ini => <<'INI');
[Port.v4only]
port = 0
bindAddress = ::
allow = 127.0.0.0/8
deny = 127.0.0.2/32
[Port.v6denied]
port = 0
bindAddress = ::
deny = ::1
INI
    my $v4 = $d->port('Port.v4only');
    my $v6 = $d->port('Port.v6denied');
    ok(open_session($v4, host => '127.0.0.1'), '127.0.0.1 is allowed by allow = 127.0.0.0/8');
    my $s = open_session($v4, from => '127.0.0.2', raw => 1);
    ok($s && closed_within($s, 3), '127.0.0.2 is closed at once: deny wins over allow');
    SKIP: {
        my $probe = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $v4, Timeout => 2);
        skip 'no IPv6 loopback here', 2 unless $probe;
        ok(closed_within($probe, 3), '::1 is not in allow = 127.0.0.0/8 and is closed');
        my $d6 = open_session($v6, host => '::1', raw => 1);
        ok($d6 && closed_within($d6, 3), 'deny = ::1 closes connections from ::1');
    }
    ok(open_session($v6, host => '127.0.0.1'), '127.0.0.1 is served where only ::1 is denied');
    ok($d->wait_log(qr/refused 127\.0\.0\.2:\d+ on port \d+: address not allowed/, 5),
       'the refusal is logged with its cause');
    $d->stop;
}

# --- maxConnectionsPerAddress ---------------------------------------------------------------
{
    my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nmaxConnectionsPerAddress = 3\n");
    my @s = map { open_session($d->port) } 1 .. 3;
    is(scalar(grep { defined } @s), 3, 'three sessions from one address are served');
    my $fourth = open_session($d->port, raw => 1);
    ok($fourth && closed_within($fourth, 3), 'the fourth from the same address is closed');
    close $s[0];
    sleep 0.3;
    ok(open_session($d->port), 'after one closes, a new one is served');
    $d->stop;
}

# Per address and per port: other addresses (127.0.0.2, .3) and the other
# port keep counts of their own, and 30 rounds of close-then-open keep the
# count right (a session counts until its thread has ended).
{
    my $d = start_daemon(ini => "[Port.a]\nport = 0\nbindAddress = 127.0.0.1\nmaxConnectionsPerAddress = 2\n"
                              . "[Port.b]\nport = 0\nbindAddress = 127.0.0.1\nmaxConnectionsPerAddress = 2\n");
    my ($pa, $pb) = ($d->port('Port.a'), $d->port('Port.b'));
    my @held = map { open_session($pa, from => '127.0.0.2') } 1 .. 2;
    is(scalar(grep { defined } @held), 2, '127.0.0.2: two sessions on port a');
    my $third = open_session($pa, from => '127.0.0.2', raw => 1);
    ok($third && closed_within($third, 3), '127.0.0.2: a third on port a is closed');
    ok(open_session($pa, from => '127.0.0.3'), '127.0.0.3 on port a: counted apart');
    my @on_b = map { open_session($pb, from => '127.0.0.2') } 1 .. 2;
    is(scalar(grep { defined } @on_b), 2, '127.0.0.2 on port b: two more, counted apart from port a');

    # Opens a session from 127.0.0.2 on port a within 5 s (the one closed
    # before it may still count until its thread ends).
    my $reopen = sub {
        for (1 .. 100) {
            my $s = open_session($pa, from => '127.0.0.2');
            return $s if $s;
            sleep 0.05;
        }
        return undef;
    };
    my $rounds = 0;
    for (1 .. 30) {
        close shift @held;
        my $s = $reopen->() or last;
        push @held, $s;
        $rounds++;
    }
    is($rounds, 30, '30 rounds of close and reopen from 127.0.0.2: each admitted');
    my $over = open_session($pa, from => '127.0.0.2', raw => 1);
    ok($over && closed_within($over, 3), 'and still no third at once');
    $d->stop;
}

# --- a descriptor limit far below the load -------------------------------------------------
{
    my $d = start_daemon(ini => "[Server]\ncontrolSocket = /tmp/npsocketd-140-$$.ctl\n"
                              . "[Port]\nport = 0\nbindAddress = 127.0.0.1\nqueueLength = 2000\nhandshakeTimeout = 3\n",
                         ulimit_nofile => 256);
    my $before = open_session($d->port);
    ok($before && echo_ok($before, 'before the storm'), 'a session opened before the storm answers');
    my @held;
    for (1 .. 1000) {
        my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 2);
        push @held, $s if $s;
    }
    # The daemon's descriptors are gone: the last clients are not left
    # waiting in the queue but refused at once (a reset or a close).
    my $ended = grep { defined wait_eof($_, 2) } @held[-5 .. -1];
    is($ended, 5, 'the last five clients of the storm were closed within 2 s, not left waiting');
    ok(echo_ok($before, 'during the storm'), 'the session held through the storm still answers');
    close $_ for @held;
    @held = ();
    ok(kill(0, $d->pid), 'the daemon survives 1,000 connections under ulimit -n 256');
    sleep 4;    # let handshakeTimeout cut what was accepted
    my $s = open_session($d->port);
    ok($s, 'and serves normally afterwards');
    if ($s) {
        send_frame($s, 'after the storm');
        my ($back) = read_frame($s, timeout => 5);
        is($back, 'after the storm', 'a transaction after the storm is answered');
    } else {
        fail('a transaction after the storm is answered');
    }
    like(control("/tmp/npsocketd-140-$$.ctl", 'show metrics'),
         qr/^npsocketd_connections_refused_total\{reason="descriptors"\} [1-9]/m,
         'refusals for want of descriptors are counted');
    like($d->log_text, qr/refused 127\.0\.0\.1:\d+ on port \d+: no descriptor left/,
         'each refusal for want of descriptors is logged (rate-limited)');
    close $before if $before;
    $d->stop;
    unlink "/tmp/npsocketd-140-$$.ctl";
}

# --- privileges ---------------------------------------------------------------------------------
SKIP: {
    skip 'dropping privileges needs root', 3 if $> != 0;
    my $nobody = getpwnam('nobody');
    skip 'no user nobody', 3 unless defined $nobody;
    my $d = start_daemon(ini => "[Server]\nuser = nobody\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    open my $fh, '<', '/proc/' . $d->pid . '/status' or die;
    my ($uid) = join('', <$fh>) =~ /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m;
    is($uid, $nobody, 'the daemon runs as nobody after start-up (/proc)');
    ok(open_session($d->port), 'and serves as nobody');
    ok($d->wait_log(qr/running as uid $nobody/, 2), 'the switch is logged');
    $d->stop;
}

done_testing;
