#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# SIGTERM and SIGINT: stop accepting, let sessions finish for
# shutdownTimeout, then close them; exit 0; every session leaves its end
# line.  The pid file (-p and pidFile) is written and removed; -D detaches.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use Cwd ();
use IO::Socket::IP;
use Time::HiRes qw(time sleep);

my $tmp = tempdir(CLEANUP => 1);
my $plain = "[Port]\nport = 0\nbindAddress = 127.0.0.1\n";

# --- idle sessions are closed after shutdownTimeout -----------------------------------------------
for my $signal (qw(TERM INT)) {
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 2\n$plain");
    my @s = map { scalar np_connect($d, byte => 1) } 1 .. 5;
    send_frame($_, 'before') for @s;
    my $echoed = grep { ((read_frame($_))[0] // '') eq 'before' } @s;
    is($echoed, 5, "SIG$signal: 5 sessions open and echoing");
    my @peers = map { '127.0.0.1:' . $_->sockport } @s;
    my $t0 = time;
    my $status = $d->stop($signal);
    my $took = time - $t0;
    is($status, 0, "SIG$signal with 5 idle sessions: exit 0");
    ok($took < 10, sprintf('SIG%s: it ended within shutdownTimeout = 2 and some slack (%.1fs)', $signal, $took));
    cmp_ok($took, '>=', 1.5, "SIG$signal: it gave the idle sessions their shutdownTimeout first");
    my $eofs = grep { wait_eof($_, 2) } @s;
    is($eofs, 5, "SIG$signal: each of the 5 sessions got EOF");
    my $log = $d->log_text;
    my @ended = grep { $log =~ /end: peer=\Q$_\E .*transactions=1\/1 code=KR reason="[^"]*shutdown/ } @peers;
    is(scalar(@ended), 5, "SIG$signal: each session left its end line, with 1/1 transactions and a shutdown reason");
    like($log, qr/SIG$signal/, "SIG$signal: the signal is logged");
    close $_ for @s;
}

# --- no sessions: prompt ---------------------------------------------------------------------------
{
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 10\n$plain");
    my $t0 = time;
    is($d->stop('TERM'), 0, 'SIGTERM without sessions: exit 0');
    ok(time - $t0 < 3, sprintf('promptly, not after shutdownTimeout = 10 (%.1fs)', time - $t0));
}

# --- during shutdownTimeout: no new sessions, live ones finish ------------------------------------
{
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 8\n$plain");
    my $port = $d->port;
    my ($s, $answer) = np_connect($d, byte => 1);
    is($answer, 1, 'a session is open');
    my $t0 = time;
    kill 'TERM', $d->pid;
    # This line comes once the accepters are joined: "stopping" alone came
    # a moment before, and a connect in that moment was still accepted.
    ok($d->wait_log(qr/stopping: 1 session open, waiting/, 5), 'SIGTERM: the daemon says it is stopping');
    my $late = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 2);
    my $late_answer;
    if ($late) {
        syswrite($late, chr 1);
        $late_answer = read_exact($late, 1, 2);
    }
    ok(!defined $late_answer, 'a new connection during shutdownTimeout gets no session'
       . ($late ? ' (connected, but not answered)' : ' (refused)'));
    send_frame($s, 'finishing');
    is((read_frame($s))[0], 'finishing', 'a live session still gets its answer during shutdownTimeout');
    close $s;
    my $status = $d->wait_exit(8);
    is($status, 0, 'when its last session ends the daemon exits 0');
    ok(time - $t0 < 6, sprintf('without waiting the whole shutdownTimeout = 8 (%.1fs)', time - $t0));
    like($d->log_text, qr/transactions=1\/1 code=\S+ reason="closed by peer"/, 'the session that finished was closed by its peer');
}

# --- a session blocked writing to a client that does not read -------------------------------------
{
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 1\n$plain");
    my ($deaf) = np_connect($d, byte => 1);
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        my $mb = pack 'C*', map { int rand 256 } 1 .. 1024 * 1024;    # incompressible: answers stay big
        for (1 .. 64) { send_frame($deaf, $mb) or last }
        POSIX::_exit(0);
    }
    sleep 2;    # the daemon's answers have filled the buffers by now
    my $t0 = time;
    my $status = $d->stop('TERM');
    is($status, 0, 'SIGTERM while a session is blocked writing to a client that does not read: exit 0');
    ok(time - $t0 < 8, sprintf('within shutdownTimeout = 1 and some slack (%.1fs)', time - $t0));
    like($d->log_text, qr/reason="closed by shutdown: /, 'the blocked session leaves its end line');
    kill 'KILL', $pid;
    waitpid($pid, 0);
    close $deaf;
}

# --- SIGHUP is no stop --------------------------------------------------------------------------------
{
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 2\n$plain");
    my ($s) = np_connect($d, byte => 1);
    kill 'HUP', $d->pid;
    sleep 0.5;
    ok(kill(0, $d->pid) && !defined $d->wait_exit(0), 'SIGHUP on a plain configuration: the daemon keeps running');
    send_frame($s, 'after HUP');
    is((read_frame($s))[0], 'after HUP', 'an established session survives SIGHUP');
    my ($t, $answer) = np_connect($d, byte => 1);
    is($answer, 1, 'and new sessions are accepted');
    close $_ for $s, $t;
    is($d->stop, 0, 'SIGTERM afterwards: exit 0');
}

# --- pid file --------------------------------------------------------------------------------------
{
    my $pidfile = "$tmp/arg.pid";
    my $e = start_daemon(ini => $plain, args => ['-p', $pidfile]);
    ok(-f $pidfile, '-p PIDFILE: the pid file is written');
    open my $fh, '<', $pidfile;
    my $written = <$fh> // '';
    chomp $written;
    is($written, $e->pid, 'it holds the daemon pid');
    is($e->stop, 0, 'the daemon stops with exit 0');
    ok(!-e $pidfile, 'and the pid file is removed at exit');
}
{
    my $pidfile = "$tmp/conf.pid";
    my $e = start_daemon(ini => "[Server]\npidFile = $pidfile\n$plain");
    ok(-f $pidfile, 'pidFile in [Server]: the pid file is written');
    is($e->stop('INT'), 0, 'SIGINT: exit 0');
    ok(!-e $pidfile, 'and the pid file is removed');
}

# --- -D: detach --------------------------------------------------------------------------------------
# Fields of /proc/PID/stat after the name: [0] state, [3] session id.  A
# process is alive when it exists and is no zombie (a detached daemon is
# reaped by whoever is pid 1 here, maybe late).
sub stat_fields {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $stat = <$fh> // return;
    return split ' ', substr($stat, rindex($stat, ')') + 1);
}
sub alive { my @f = stat_fields($_[0]); @f && $f[0] ne 'Z' && $f[0] ne 'X' }

{
    my $pidfile = "$tmp/detached.pid";
    my $conf = "$tmp/detached.ini";
    # A detached daemon logs to /dev/null, so port 0 would be unknowable:
    # take a free port and give it back.
    my $probe = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
    my $port = $probe->sockport;
    close $probe;
    open my $fh, '>', $conf or die;
    print $fh "[Port]\nport = $port\nbindAddress = 127.0.0.1\n";
    close $fh;
    my $daemon_pid;
    END { kill 'KILL', $daemon_pid if $daemon_pid && alive($daemon_pid) }
    my ($out, $err, $rc) = run_bounded(['build/npsocketd', '-D', '-c', $conf, '-p', $pidfile], timeout => 10);
    is($rc, 0, '-D: the starting process exits 0 once the daemon runs') or diag($err);
    is($err, '', '-D: and prints nothing when all went well');
    if (open my $p, '<', $pidfile) { $daemon_pid = <$p>; chomp $daemon_pid if defined $daemon_pid }
    ok($daemon_pid && alive($daemon_pid), '-D: the detached daemon runs, its pid in the pid file');
    my $sid = $daemon_pid ? (stat_fields($daemon_pid))[3] : undef;
    isnt($sid // (stat_fields($$))[3], (stat_fields($$))[3], '-D: it runs in a session of its own (setsid)');
    my ($s, $answer) = np_connect(undef, port => $port, byte => 1);
    send_frame($s, 'detached') if $s;
    is($s ? (read_frame($s))[0] : undef, 'detached', '-D: the detached daemon serves');
    close $s if $s;
    kill 'TERM', $daemon_pid if $daemon_pid;
    ok(NpTest::wait_for(sub { !alive($daemon_pid) }, 10), '-D: SIGTERM stops it');
    ok(!-e $pidfile, '-D: and its pid file is removed');
    $daemon_pid = undef;

    # Relative paths on the command line mean the starting directory, even
    # though the detached daemon changes to /.
    my $rel = tempdir(CLEANUP => 1);
    ($out, $err, $rc) = run_bounded(['sh', '-c', 'cd "$1" && exec "$2" -D -c "$3" -p rel.pid', 'sh',
                                     $rel, Cwd::abs_path('build/npsocketd'), $conf], timeout => 10);
    is($rc, 0, '-D -p with a relative pid file path: started') or diag($err);
    my $where = -e "$rel/rel.pid" ? "$rel/rel.pid" : -e '/rel.pid' ? '/rel.pid' : undef;
    is($where, "$rel/rel.pid", '-D -p rel.pid: the pid file is written in the starting directory');
    if ($where && open my $p, '<', $where) { $daemon_pid = <$p>; chomp $daemon_pid if defined $daemon_pid }
    if ($daemon_pid) {
        kill 'TERM', $daemon_pid;
        NpTest::wait_for(sub { !alive($daemon_pid) }, 10);
    }
    ok(!-e "$rel/rel.pid" && !-e '/rel.pid', '-D -p rel.pid: and removed at exit');
    $daemon_pid = undef;

    my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
    open $fh, '>', $conf or die;
    print $fh "[Port]\nport = " . $taken->sockport . "\nbindAddress = 127.0.0.1\n";
    close $fh;
    ($out, $err, $rc) = run_bounded(['build/npsocketd', '-D', '-c', $conf], timeout => 10);
    is($rc, 71, '-D on a port in use: the starting process still exits 71');
    like($err, qr/^npsocketd: \[Port\]: .*Address already in use/m, 'and the reason is printed on its terminal');
}
done_testing;
