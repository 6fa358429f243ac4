#!/usr/bin/perl
# SIGTERM and SIGINT: stop accepting, let sessions finish for
# shutdownTimeout, then close them; exit 0; pid file written and removed.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp ();
use Time::HiRes qw(time);

for my $signal (qw(TERM INT)) {
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 2\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my @s = map { scalar np_connect($d, byte => 1) } 1 .. 5;
    send_frame($_, 'before') for @s;
    read_frame($_) for @s;
    my $t0 = time;
    my $status = $d->stop($signal);
    my $took = time - $t0;
    is($status, 0, "SIG$signal with 5 live sessions: exit 0");
    ok($took < 8, sprintf('it ended within shutdownTimeout and the grace (%.1fs)', $took));
    my $eofs = grep { !defined read_exact($_, 1, 2) } @s;
    is($eofs, 5, 'the sessions were closed');
    my $ends = () = $d->log_text =~ /reason="closed by shutdown: /g;
    is($ends, 5, 'each left its end line, closed by shutdown');
    like($d->log_text, qr/stopping: 5 sessions open, waiting up to 2\.000s/, 'the wait is logged');
}

{
    my $d = start_daemon(ini => "[Server]\nshutdownTimeout = 10\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my ($s) = np_connect($d, byte => 1);
    my $pid = fork // die;
    if ($pid == 0) { sleep 1; close $s; POSIX::_exit(0) }
    close $s;
    my $t0 = time;
    is($d->stop('TERM'), 0, 'a session that ends by itself during shutdownTimeout: exit 0');
    ok(time - $t0 < 6, 'without waiting the whole shutdownTimeout');
    waitpid($pid, 0);
}

{
    my $pidfile = File::Temp::tempdir(CLEANUP => 1) . '/run.pid';
    my $e = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n", args => ['-p', $pidfile]);
    ok(-f $pidfile, 'the pid file is written');
    open my $fh, '<', $pidfile;
    my $written = <$fh>;
    chomp $written;
    is($written, $e->pid, 'it holds the daemon pid');
    $e->stop;
    ok(!-e $pidfile, 'and is removed at exit');
}
done_testing;
