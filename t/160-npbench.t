#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# npbench, the load generator of `make bench`, against the real daemon:
# every mode plain and over TLS, its JSON, its figures from /proc, errors
# counted rather than hidden, echo keeping every session's transaction in
# flight at once and bulk --depth keeping N on one session (each checked
# against a server that answers only when all of them have arrived), and
# the clock starting only once the sessions are open.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX ();

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

# spareThreads = 0: the idle figures are those of sessions on new threads
# (a spare thread ending meanwhile would give its memory back mid-count).
my $d = start_daemon(ini => "[Server]\nmaxConnections = 200\nspareThreads = 0\n"
                          . "[Port.plain]\nport = 0\nbindAddress = 127.0.0.1\n"
                          . "[Port.tls]\nport = 0\nbindAddress = 127.0.0.1\nsslSection = SSL\n"
                          . "[SSL]\ncertFile = $pki/server.pem\nkeyFile = $pki/server.key\n");

# npbench(ARGS...) with --json: (hash of the figures, stderr, exit code).
sub npbench {
    my ($out, $err, $rc) = run_bounded(['build/npbench', '--json', @_], timeout => 30);
    my %r;
    if ($out =~ /^\{(.*)\}$/m) {
        for (split /,(?=")/, $1) {
            my ($k, $v) = /^"([^"]+)":(.*)$/ or next;
            $v =~ s/^"(.*)"$/$1/;
            $r{$k} = $v;
        }
    }
    diag("npbench @_: $out$err") unless %r;
    return (\%r, $err, $rc);
}

for my $tls (0, 1) {
    my $what = $tls ? 'TLS' : 'plain';
    my @target = ('127.0.0.1', $d->port($tls ? 'Port.tls' : 'Port.plain'));
    my @t = $tls ? ('--tls') : ();

    my ($r, $err, $rc) = npbench(@t, '-d', 1, 'handshake', @target);
    ok($rc == 0 && $r->{mode} eq 'handshake' && $r->{ops} > 0 && $r->{errors} == 0, "$what handshake: $r->{ops} connections, no error");
    ok($r->{p50_us} > 0 && $r->{p99_us} >= $r->{p50_us} && $r->{max_us} >= $r->{p99_us},
       "$what handshake: latency percentiles in order");

    ($r, $err, $rc) = npbench(@t, '-z', '-c', 6, '-t', 2, '-s', 3000, '-d', 1, '-p', $d->pid, 'echo', @target);
    ok($rc == 0 && $r->{mode} eq 'echo' && $r->{ops} > 0 && $r->{errors} == 0, "$what echo, deflated: $r->{ops} transactions, no error");
    ok(defined $r->{client_cpu_share} && $r->{server_cpu_share} >= 0 && $r->{client_cpu_share} >= 0, "$what echo: server and client CPU reported");

    ($r, $err, $rc) = npbench(@t, '-c', 6, '-t', 2, '-s', 70000, '-d', 1, 'ws', @target);
    ok($rc == 0 && $r->{mode} eq 'ws' && $r->{ops} > 0 && $r->{errors} == 0,
       "$what ws (echo over WebSocket, 70 KB: 64-bit lengths): $r->{ops} transactions, no error")
        or diag("errors $r->{errors}, first: $r->{first_error}");
    ($r, $err, $rc) = npbench(@t, '-z', '-c', 2, '-s', 100, '-d', 0.5, 'ws', @target);
    ok($rc == 0 && $r->{ops} > 0 && $r->{errors} == 0, "$what ws, deflated, 100 B: $r->{ops} transactions, no error");

    ($r, $err, $rc) = npbench(@t, '-s', 300000, '-d', 1, 'bulk', @target);
    ok($rc == 0 && $r->{mode} eq 'bulk' && $r->{ops} > 0 && $r->{errors} == 0 && $r->{mb_per_s} > 0,
       "$what bulk 300 KB: $r->{mb_per_s} MB/s, no error");

    ($r, $err, $rc) = npbench(@t, '-s', 300000, '-c', 2, '-t', 1, '--depth', 3, '-d', 1, 'bulk', @target);
    ok($rc == 0 && $r->{ops} > 0 && $r->{errors} == 0 && $r->{depth} == 3,
       "$what bulk, 3 in flight on each of 2 sessions: $r->{ops} transactions, no error")
        or diag("errors $r->{errors}, first: $r->{first_error}");

    ($r, $err, $rc) = npbench(@t, '-c', 20, '-t', 4, '-d', 0.5, '-p', $d->pid, 'idle', @target);
    ok($r->{mode} eq 'idle' && $r->{sessions_held} == 20, "$what idle: 20 sessions held");
    is($r->{threads_per_session}, '1.000', "$what idle: one daemon thread per session, read from /proc");
    ok($r->{rss_kib_per_session} > 0, "$what idle: RSS per session from /proc: $r->{rss_kib_per_session} KiB");
}

my ($plain_port) = $d->port('Port.plain');
my ($r, $err, $rc) = npbench('-d', 0.5, 'echo', '127.0.0.1', $plain_port);
ok($rc == 0 && $r->{errors} == 0, 'the daemon serves on after all of it');

# A server that takes $sessions sessions and then answers nothing until
# $frames transactions have come on every one of them (with $hang_up it
# hangs up instead of answering).  A client that keeps fewer transactions
# in flight than that waits for ever here.  With $delay it takes that many
# seconds to accept each session's protocol byte.
sub batch_server {
    my ($sessions, $frames, $hang_up, $delay) = @_;
    my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 64)
        or die "listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        alarm 20;
        my @c;
        for (1 .. $sessions) {
            my $s = $listen->accept or POSIX::_exit(1);
            NpTest::read_exact($s, 1, 5) // POSIX::_exit(1);
            select(undef, undef, undef, $delay) if $delay;
            syswrite($s, "\x01") == 1 or POSIX::_exit(1);
            push @c, $s;
        }
        for (1 .. 1_000_000) {
            my @answers;
            for my $s (@c) {
                my $batch = '';
                for (1 .. $frames) {
                    my $h = NpTest::read_exact($s, 4, 10) // POSIX::_exit(0);
                    my $len = unpack('N', $h) & 0x7fffffff;
                    $batch .= $h . ($len ? NpTest::read_exact($s, $len, 10) // POSIX::_exit(0) : '');
                }
                push @answers, $batch;
            }
            POSIX::_exit(0) if $hang_up;
            NpTest::write_all($c[$_], $answers[$_]) or POSIX::_exit(0) for 0 .. $#c;
        }
        POSIX::_exit(0);
    }
    my $port = $listen->sockport;
    close $listen;
    return ($pid, $port);
}

# npbench(ARGS..., '127.0.0.1', port) against batch_server(@$server),
# which is stopped after.
sub against_batch_server {
    my ($server, @args) = @_;
    my ($pid, $port) = batch_server(@$server);
    my @result = npbench(@args, '127.0.0.1', $port);
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return @result;
}

($r, $err, $rc) = against_batch_server([8, 1, 0], '-c', 8, '-t', 2, '-d', 1, 'echo');
ok($r->{ops} >= 8 && $r->{errors} == 0, "echo: 8 sessions on 2 threads all in flight at once ($r->{ops} transactions)")
    or diag("errors $r->{errors}, first: $r->{first_error}");
($r, $err, $rc) = against_batch_server([1, 3, 0], '-s', 20000, '--depth', 3, '-d', 1, 'bulk');
ok($r->{ops} >= 3 && $r->{errors} == 0, "bulk --depth 3: 3 transactions on the way at once ($r->{ops} answered)")
    or diag("errors $r->{errors}, first: $r->{first_error}");
($r, $err, $rc) = against_batch_server([1, 2, 1], '-s', 20000, '--depth', 2, '-d', 2, 'bulk');
ok($r->{errors} == 1 && $r->{ops} == 0, "bulk --depth 2, server hangs up: the one error counted, npbench ends")
    or diag("errors $r->{errors}, ops $r->{ops}, exit $rc");
like($r->{first_error}, qr/connection closed/, 'and named');

# Sessions are set up before the clock starts: 2 sessions that take
# 0.8 s each to open, then 1 s of load.
($r, $err, $rc) = against_batch_server([2, 1, 0, 0.8], '-c', 2, '-t', 1, '-d', 1, 'echo');
ok($r->{ops} > 0 && $r->{errors} == 0 && $r->{seconds} >= 1 && $r->{seconds} < 1.5,
   "echo: the 1 s run starts once its slow sessions are open ($r->{ops} transactions in $r->{seconds} s)")
    or diag("errors $r->{errors}, first: $r->{first_error}");
($r, $err, $rc) = against_batch_server([1, 1, 0, 1.2], '-s', 1000, '-d', 1, 'bulk');
ok($r->{ops} > 0 && $r->{errors} == 0 && $r->{seconds} >= 1 && $r->{seconds} < 1.5,
   "bulk: the same ($r->{ops} transactions in $r->{seconds} s)")
    or diag("errors $r->{errors}, first: $r->{first_error}");

# A server that takes the protocol byte and hangs up: errors counted,
# the first one shown, exit 1.
my $closer = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 64) or die;
my $cpid = fork // die;
if ($cpid == 0) {
    NpTest::die_with_parent();
    alarm 20;
    while (my $s = $closer->accept) {
        NpTest::read_exact($s, 1, 5);
        close $s;
    }
    POSIX::_exit(0);
}
($r, $err, $rc) = npbench('-c', 3, '-d', 0.5, 'echo', '127.0.0.1', $closer->sockport);
close $closer;
ok($r->{errors} >= 3 && $r->{ops} == 0, "a server that hangs up: $r->{errors} errors counted");
like($r->{first_error}, qr/protocol byte not accepted/, 'and the first one named');
is($rc, 1, 'nothing done: exit 1');
kill 'KILL', $cpid;
waitpid($cpid, 0);

my ($out, $err2, $rc2) = run_bounded(['build/npbench', 'sideways', '127.0.0.1', 1]);
is($rc2, 2, 'an unknown mode: exit 2');
like($err2, qr/unknown mode 'sideways'/, 'and says which');
for (['--depth', 0, 'bulk'], ['--depth', 17, 'bulk']) {
    ($out, $err2, $rc2) = run_bounded(['build/npbench', @$_, '127.0.0.1', 1]);
    ok($rc2 == 2 && $err2 =~ /--depth must be 1 to 16/, "@$_: refused, exit 2");
}
($out, $err2, $rc2) = run_bounded(['build/npbench', '--depth', 2, 'echo', '127.0.0.1', 1]);
ok($rc2 == 2 && $err2 =~ /--depth applies to bulk only/, '--depth with echo: refused, exit 2');

# aead: the machine's AES-128-GCM bound, no server.
($out, $err2, $rc2) = run_bounded(['build/npbench', '--json', '-d', '0.2', 'aead']);
ok($rc2 == 0 && $out =~ /"mode":"aead".*"mb_per_s":([\d.]+)/ && $1 > 0, 'aead: sealing and opening AES-128-GCM records, MB/s')
    or diag("exit $rc2: $out$err2");
($out, $err2, $rc2) = run_bounded(['build/npbench', '-d', '0', 'aead']);
ok($rc2 == 2 && $err2 =~ /duration must be positive/, 'aead with no duration: refused, exit 2');

is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
