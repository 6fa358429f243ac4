#!/usr/bin/perl
# npbench, the load generator of `make bench`, against the real daemon:
# every mode plain and over TLS, its JSON, its figures from /proc, errors
# counted rather than hidden, and echo keeping every session's
# transaction in flight at once (checked against a server that answers
# only when all of them have arrived).
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

my $d = start_daemon(ini => "[Server]\nmaxConnections = 200\n"
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
    ok($rc == 0 && $r->{ops} > 0 && $r->{errors} == 0, "$what handshake: $r->{ops} connections, no error");
    ok($r->{p50_us} > 0 && $r->{p99_us} >= $r->{p50_us} && $r->{max_us} >= $r->{p99_us},
       "$what handshake: latency percentiles in order");

    ($r, $err, $rc) = npbench(@t, '-z', '-c', 6, '-t', 2, '-s', 3000, '-d', 1, '-p', $d->pid, 'echo', @target);
    ok($rc == 0 && $r->{ops} > 0 && $r->{errors} == 0, "$what echo, deflated: $r->{ops} transactions, no error");
    ok(defined $r->{client_cpu_share} && $r->{server_cpu_share} >= 0 && $r->{client_cpu_share} >= 0, "$what echo: server and client CPU reported");

    ($r, $err, $rc) = npbench(@t, '-s', 300000, '-d', 1, 'bulk', @target);
    ok($rc == 0 && $r->{ops} > 0 && $r->{errors} == 0 && $r->{mb_per_s} > 0,
       "$what bulk 300 KB: $r->{mb_per_s} MB/s, no error");

    ($r, $err, $rc) = npbench(@t, '-c', 20, '-t', 4, '-d', 0.5, '-p', $d->pid, 'idle', @target);
    is($r->{sessions_held}, 20, "$what idle: 20 sessions held");
    is($r->{threads_per_session}, '1.000', "$what idle: one daemon thread per session, read from /proc");
    ok($r->{rss_kib_per_session} > 0, "$what idle: RSS per session from /proc: $r->{rss_kib_per_session} KiB");
}

my ($plain_port) = $d->port('Port.plain');
my ($r, $err, $rc) = npbench('-d', 0.5, 'echo', '127.0.0.1', $plain_port);
ok($rc == 0 && $r->{errors} == 0, 'the daemon serves on after all of it');

# A server that answers nothing until every one of $n sessions has sent
# its transaction: a client with one transaction in flight per thread
# would wait for ever here.
sub barrier_server {
    my ($n) = @_;
    my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 64)
        or die "listen: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        alarm 20;
        my @c;
        for (1 .. $n) {
            my $s = $listen->accept or POSIX::_exit(1);
            NpTest::read_exact($s, 1, 5) // POSIX::_exit(1);
            syswrite($s, "\x01") == 1 or POSIX::_exit(1);
            push @c, $s;
        }
        for (1 .. 1_000_000) {
            my @frames;
            for my $s (@c) {
                my $h = NpTest::read_exact($s, 4, 10) // POSIX::_exit(0);
                my $len = unpack('N', $h) & 0x7fffffff;
                my $body = $len ? NpTest::read_exact($s, $len, 10) // POSIX::_exit(0) : '';
                push @frames, $h . $body;
            }
            NpTest::write_all($c[$_], $frames[$_]) or POSIX::_exit(0) for 0 .. $#c;
        }
        POSIX::_exit(0);
    }
    my $port = $listen->sockport;
    close $listen;
    return ($pid, $port);
}

my ($bpid, $bport) = barrier_server(8);
($r, $err, $rc) = npbench('-c', 8, '-t', 2, '-d', 1, 'echo', '127.0.0.1', $bport);
ok($r->{ops} >= 8 && $r->{errors} == 0, "echo: 8 sessions on 2 threads all in flight at once ($r->{ops} transactions)")
    or diag("errors $r->{errors}, first: $r->{first_error}");
kill 'KILL', $bpid;
waitpid($bpid, 0);

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

is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
