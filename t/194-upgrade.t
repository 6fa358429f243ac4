#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Upgrades without a refused connection: two instances behind the real
# HAProxy (retries 0, so a refused connect reaches the client), 50
# clients connecting in a loop and 50 live sessions exchanging
# transactions, while each instance in turn is replaced with
# `npsocketd -x CONTROLSOCKET`: no connect fails, every live session
# finishes all its transactions on the old instance, which exits once
# they have ended; the new one answers on the same ports, agent and
# control socket.  Also: systemd socket activation (LISTEN_FDS).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpHaproxy;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::UNIX;
use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Time::HiRes qw(sleep time);

plan skip_all => 'haproxy is not installed (make deps-test installs it)' unless haproxy_available();
my $python = '/usr/bin/python3';

my @inst;
for my $i (1 .. 2) {
    my $dir = tempdir("npsocketd-up$i-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    my $ini = <<"INI";
[Server]
logLevel = info
shutdownTimeout = 30
controlSocket = $dir/control.sock
pidFile = $dir/npsocketd.pid
agentPort = 0
[Port]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
queueLength = 512
INI
    my $d = start_daemon(ini => $ini);
    my ($agent) = $d->log_text =~ /agent-check listening on 127\.0\.0\.1:(\d+)/;
    push @inst, { d => $d, ini => $ini, control => "$dir/control.sock", agent => $agent, port => $d->port,
                  pidfile => "$dir/npsocketd.pid" };
}
my $fe = free_port();
my $servers = join '', map {
    sprintf "    server n%d 127.0.0.1:%d send-proxy-v2 check check-send-proxy inter 500ms agent-check agent-port %d agent-inter 300ms\n",
        $_ + 1, $inst[$_]{port}, $inst[$_]{agent}
} 0 .. 1;
my $h = start_haproxy(wait_port => $fe, cfg => <<"CFG");
global
    stats socket STATS mode 600 level admin
    maxconn 4000
defaults
    mode tcp
    retries 0
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$fe
    default_backend pool
backend pool
    balance roundrobin
$servers
CFG
ok(wait_for(sub { my $st = $h->stat; !grep { ($st->{"pool/n$_"}{status} // '') ne 'UP' } 1, 2 }, 10),
   'HAProxy sees both instances up');

# The load runs for 8 s; the instances are replaced at 1.5 s and 3.5 s.
my $out = "$inst[0]{control}.load";
my $load = fork // die "fork: $!";
if ($load == 0) {
    NpTest::die_with_parent();
    open STDOUT, '>', $out;
    { exec $python, 't/lib/upgrade_load.py', '127.0.0.1', $fe, 50, 50, 8 }
    _exit(127);
}
sleep 1.5;
my @new;
for my $i (0, 1) {
    my $old = $inst[$i];
    my $n = start_daemon(ini => $old->{ini}, args => ['-x', $old->{control}]);
    push @new, $n;
    like($n->log_text, qr/took 4 listening sockets from the running instance/,
         "instance " . ($i + 1) . ": the new process took the port, agent and control sockets and the pid file");
    is(NpTest::slurp($old->{pidfile}), $n->pid . "\n", 'the pid file names the new process');
    like($n->log_text, qr/listening on 127\.0\.0\.1:$old->{port} for \[Port\] \(plain, PROXY header, inherited\)/,
         'the same port, inherited, not bound anew');
    ok($old->{d}->wait_log(qr/handed over to a new instance: stopping/, 5), 'the old one stops accepting');
    # The new process answers on the control socket once it has told the
    # old one to stop, a moment after its "ready" (long under TSan).
    my $info = '';
    wait_for(sub { ($info = control($old->{control}, 'show info')) =~ /^pid: ${\ $n->pid }$/m }, 10);
    like($info, qr/^pid: ${\ $n->pid }$/m, 'the control socket answers from the new process');
    sleep 2 if $i == 0;
}
ok(wait_for(sub { waitpid($load, WNOHANG) == $load }, 30), 'the load finished');
my $stats = eval { open my $fh, '<', $out; local $/; decode_json(<$fh> // '{}') } // {};
diag(encode_json($stats));
ok(($stats->{connects} // 0) > 200, "clients connected in a loop throughout ($stats->{connects} sessions)");
is($stats->{connect_failures}, 0, 'not one connect failed or was refused across both upgrades');
is($stats->{live_sessions}, 50, '50 live sessions');
is($stats->{live_completed}, 50, 'every live session finished all its transactions');
is($stats->{live_transactions}, 50 * 80, 'all 4,000 of them');
is($stats->{live_failures}, 0, 'and none failed');

for my $i (0, 1) {
    my $old = $inst[$i]{d};
    is($old->wait_exit(15), 0, 'old instance ' . ($i + 1) . ' exits 0 once its sessions have ended');
    my @live = $old->log_text =~ /(end: .*transactions=80\/80 code=CR reason="closed by peer")/g;
    ok(@live > 0, scalar(@live) . ' live sessions ended on it with all 80 transactions and their end lines');
    unlike($old->log_text, qr/closed by shutdown|did not end/, 'none had to be cut at shutdownTimeout');
}
is(NpTest::slurp($inst[0]{pidfile}), $new[0]->pid . "\n", 'once the old one is gone, the pid file still names the new one');
{
    my ($o, $e, $rc) = run_bounded(['build/npsocketd', '-c', $new[0]->config], timeout => 20);
    is($rc, 69, 'a second instance with the same pid file refuses to start (69)');
    like($e, qr/pid file \S+ is locked by pid ${\ $new[0]->pid }: another npsocketd runs with it/,
         'and names the pid that holds it: the lock went over with the hand-over');
}
my $agent = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $inst[0]{agent}, Timeout => 5);
like(scalar(<$agent> // ''), qr/^up ready 100%/, 'the agent port answers from the new instance');
$h->stop;
is($_->stop, 0, 'new instance stops cleanly') for @new;

# --- systemd socket activation ------------------------------------------
{
    my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
        or die "listen: $!";
    my $port = $listen->sockport;
    my $dir = tempdir('npsocketd-sd-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $fh, '>', "$dir/sd.ini"; print $fh "[Port]\nport = $port\nbindAddress = 127.0.0.1\n"; close $fh;
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        open STDOUT, '>', "$dir/log"; open STDERR, '>&', \*STDOUT;
        # The socket as descriptor 3, as systemd passes it.
        POSIX::dup2(fileno($listen), 3) or _exit(126);
        $ENV{LISTEN_PID} = $$;
        $ENV{LISTEN_FDS} = 1;
        { exec 'build/npsocketd', '-c', "$dir/sd.ini" }
        _exit(127);
    }
    close $listen;
    my $ready = wait_for(sub { open(my $l, '<', "$dir/log") or return 0; local $/; (<$l> // '') =~ /ready:/ }, 10);
    my $log = do { open my $l, '<', "$dir/log"; local $/; <$l> // '' };
    ok($ready && $log =~ /socket activation: 1 socket from systemd/, 'LISTEN_FDS: the socket systemd passed is taken');
    like($log, qr/listening on 127\.0\.0\.1:$port for \[Port\] \(plain, inherited\)/, 'as [Port], matched by its address');
    my ($s, $answer) = np_connect(undef, port => $port, byte => 1);
    is($answer, 1, 'and served');
    close $s if $s;
    kill 'TERM', $pid;
    ok(wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 10) && $? == 0, 'it stops cleanly');
}
done_testing();
