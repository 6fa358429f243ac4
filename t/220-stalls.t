#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Every stall is bounded with the default configuration: a transaction
# that has begun must end within transactionTimeout, a client that reads
# nothing is let go after writeTimeout, a byte relay one side of which has
# closed ends after halfClosedTimeout, and idleTimeout counts from the
# last complete transaction (a header byte and then nothing is idle too).
# Plain and TLS; canary sessions of both kinds exchange transactions
# through every case; 300 stalled connections all end and give their
# threads back.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Select;
use Compress::Zlib ();
use Socket qw(SOL_SOCKET SO_RCVBUF SHUT_WR);
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-stalls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');

# The defaults, as -t prints them.
open my $fh, '>', "$dir/defaults.ini" or die; print $fh "[Port]\nport = 0\n"; close $fh;
my ($out) = run_bounded(['build/npsocketd', '-t', '-c', "$dir/defaults.ini"], timeout => 10);
like($out, qr/^\s*transactionTimeout = 120\b/m, 'transactionTimeout is on by default (120 s)');
like($out, qr/^\s*writeTimeout = 60\b/m, 'writeTimeout is on by default (60 s)');
like($out, qr/^\s*halfClosedTimeout = 60\b/m, 'halfClosedTimeout is on by default (60 s)');

# A silent upstream for webUpstream: accepts, reads, never answers.
my $silent = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die;
my $upport = $silent->sockport;
my $up_pid = fork // die;
if ($up_pid == 0) {
    NpTest::die_with_parent();
    my @held;
    alarm 120;
    while (my $c = $silent->accept) { push @held, $c }
    exit 0;
}
close $silent;
END { local $?; kill "KILL", $up_pid if $up_pid; waitpid($up_pid, 0) if $up_pid }

my $tls = "sslSection = SSL\n";
my $common = "bindAddress = 127.0.0.1\ntransactionTimeout = 2\nwriteTimeout = 2\nhalfClosedTimeout = 2\n";
my $d = start_daemon(ini => <<"INI");
[Server]
# No parked threads: the count itself shows the threads let go.
spareThreads = 0
[Port]
port = 0
$common
webUpstream = 127.0.0.1:$upport
[Port.tls]
port = 0
$common$tls
[Port.idle]
port = 0
bindAddress = 127.0.0.1
idleTimeout = 2
[Port.idletls]
port = 0
bindAddress = 127.0.0.1
idleTimeout = 2
$tls
[Port.defaults]
port = 0
bindAddress = 127.0.0.1
[Port.inflate]
port = 0
bindAddress = 127.0.0.1
inflateRate = 8M
[Port.inflatefail]
port = 0
bindAddress = 127.0.0.1
inflateRate = 8M
transactionTimeout = 0.5
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI

sub tls_connect {
    my ($port) = @_;
    return IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $port, SSL_ca_file => "$dir/pki/ca.pem",
                                SSL_hostname => 'localhost', Timeout => 5);
}
# A session past its protocol byte, plain or TLS.
sub session {
    my ($name, $secure) = @_;
    my $s = $secure ? tls_connect($d->port($name)) : np_connect($d, port => $d->port($name));
    return undef unless $s;
    syswrite($s, "\x01");
    my $b = read_exact($s, 1, 5);
    return defined $b && $b eq "\x01" ? $s : undef;
}
sub conn_ids { my @ids = $d->log_text =~ /conn (\d+) end:/g; return { map { $_ => 1 } @ids } }
# The end line of the one session that ended since $seen (a conn_ids()).
sub new_end {
    my ($seen, $re, $timeout) = @_;
    my $line;
    wait_for(sub {
        for my $l ($d->log_text =~ /^(.*conn \d+ end:.*)$/mg) {
            my ($id) = $l =~ /conn (\d+) end:/;
            next if $seen->{$id};
            $line = $l, return 1 if $l =~ $re;
        }
        return 0;
    }, $timeout // 10);
    return $line;
}

my @canaries = (session('Port.defaults', 0), session('Port.tls', 1));
ok(@canaries == 2 && !grep({ !$_ } @canaries), 'two canary sessions (plain and TLS, default bounds)');
my $round = 0;
sub canaries_ok {
    $round++;
    for my $c (@canaries) { return 0 unless echo_ok($c, "canary $round") }
    return 1;
}

# Each stall: what it sends, the port, and the end reason it must get.
my @stalls = (
    [ 'a header byte, then nothing (plain)', 'Port', 0, "\x00",
      qr/reason="transaction timeout: the transaction header not complete after 2\.000s"/ ],
    [ 'a header byte, then nothing (TLS)', 'Port.tls', 1, "\x00",
      qr/reason="transaction timeout: the transaction header not complete after 2\.000s"/ ],
    [ 'a header promising 8 MiB, then 1 byte (plain)', 'Port', 0, pack('N', 8 << 20) . 'x',
      qr/reason="transaction timeout: the transaction payload not complete after 2\.000s"/ ],
    [ 'a header promising 8 MiB, then 1 byte (TLS)', 'Port.tls', 1, pack('N', 8 << 20) . 'x',
      qr/reason="transaction timeout: the transaction payload not complete after 2\.000s"/ ],
    [ 'a compressed header, then part of it (plain)', 'Port', 0, pack('N', 0x80000000 | 1000) . "\x78\x9c",
      qr/reason="transaction timeout: a compressed payload not complete after 2\.000s"/ ],
    [ 'idleTimeout: a header byte after a transaction, then nothing (plain)', 'Port.idle', 0, "\x00",
      qr/reason="idle timeout: no complete transaction for 2\.000s \(one had begun\)"/, 1 ],
    [ 'idleTimeout: a header and one payload byte (TLS)', 'Port.idletls', 1, pack('N', 10) . 'x',
      qr/reason="idle timeout: no complete transaction for 2\.000s \(one had begun\)"/, 1 ],
);
for my $case (@stalls) {
    my ($what, $port, $secure, $bytes, $re, $one_first) = @$case;
    my $seen = conn_ids();
    my $s = session($port, $secure);
    ok($s, "$what: connected") or next;
    ok(echo_ok($s, 'one whole transaction'), "$what: a transaction first") if $one_first;
    my $t0 = time;
    syswrite($s, $bytes);
    my $end = wait_eof($s, 8);
    my $took = time - $t0;
    ok($end, "$what: the daemon closes it (" . sprintf('%.1f', $took) . ' s)');
    ok($took >= 1.5 && $took < 6, "$what: after the bound, not before");
    ok(new_end($seen, $re), "$what: the end line says which bound") or diag($d->log_text);
    ok(canaries_ok(), "$what: the canaries go on");
    close $s;
}

# A client that never reads its answers: its echoes fill the kernel's
# buffers, then writeTimeout lets its thread go.
for my $secure (0, 1) {
    my $what = 'a client that never reads (' . ($secure ? 'TLS' : 'plain') . ')';
    my $seen = conn_ids();
    my $s = session($secure ? 'Port.tls' : 'Port', $secure);
    ok($s, "$what: connected") or next;
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 4096));
    my $payload = join '', map { chr(rand 256) } 1 .. 65536; # incompressible
    my $sent = 0;
    my $t0 = time;
    # Writes until the daemon stops taking them (bounded in count and time).
    while ($sent < 400 && time - $t0 < 20) {
        last unless IO::Select->new($s)->can_write(3);
        last unless send_frame($s, $payload);
        $sent++;
    }
    ok(new_end($seen, qr/reason="[^"]*timed out: the peer took nothing for writeTimeout/, 30),
       "$what: the session ends by writeTimeout ($sent transactions sent)") or diag($d->log_text);
    ok(canaries_ok(), "$what: the canaries go on");
    close $s;
}

# webUpstream: the client sends a request and leaves; the upstream says
# nothing; halfClosedTimeout ends it.
{
    my $seen = conn_ids();
    my $s = np_connect($d, port => $d->port('Port'));
    syswrite($s, "GET /x HTTP/1.0\r\nHost: a\r\n\r\n");
    shutdown($s, SHUT_WR);
    my $t0 = time;
    ok(new_end($seen, qr/reason="webUpstream 127\.0\.0\.1:\d+: client closed, upstream silent for 2\.000s after it"/, 10),
       'webUpstream: a client that left and an upstream that stays silent: ended after halfClosedTimeout')
        or diag($d->log_text);
    ok(time - $t0 < 8, 'within the bound');
    close $s;
    ok(canaries_ok(), 'webUpstream: the canaries go on');
}

# A Remote Assistance pair: one party half-closes, the other is silent.
{
    my $seen = conn_ids();
    my @pair;
    for my $role (1, 2) {
        my $s = np_connect($d, port => $d->port('Port'));
        syswrite($s, "\x02" . pack('N', 6) . chr($role) . 'stall');
        push @pair, $s;
        sleep 0.2 if $role == 1;
    }
    my @answers = map { my $b = read_exact($_, 1, 5); defined $b ? ord $b : -1 } @pair;
    ok($answers[0] > 0 && $answers[1] > 0, "the relay pair is made (@answers)");
    shutdown($pair[1], SHUT_WR);
    ok(new_end($seen, qr/reason="relay with conn \d+ ended: client closed, upstream silent for 2\.000s after it"/, 10),
       'relay: one party closed and the other silent: ended after halfClosedTimeout') or diag($d->log_text);
    close $_ for @pair;
    ok(canaries_ok(), 'relay: the canaries go on');
}

# inflateRate: 8 MiB of zeros is 8 KiB on the wire; four of them inflate
# to 32 MiB, twice the bucket (two maxTransactionSize), so at 8M a second
# the last ones wait about a second each, and all come back whole.
{
    my $bomb = Compress::Zlib::compress("\0" x ((8 << 20) - 16));
    my $s = session('Port.inflate', 0);
    my $t0 = time;
    my $good = 0;
    for (1 .. 4) {
        write_all($s, pack('N', 0x80000000 | length $bomb) . $bomb) or last;
        my ($back) = read_frame($s, timeout => 15);
        $good++ if defined $back && length($back) == (8 << 20) - 16 && $back !~ /[^\0]/;
    }
    my $took = time - $t0;
    is($good, 4, 'inflateRate: four 8 MiB transactions of zeros (8 KiB each on the wire) are all answered');
    ok($took >= 1.4, sprintf('no faster than the rate lets them (%.2f s for 32 MiB at 8M/s past a 16 MiB burst)', $took));
    ok(canaries_ok(), 'inflateRate: the canaries go on');
    close $s;
    my $seen = conn_ids();
    # Six sent at once, so how fast this client reads does not refill the
    # bucket: 48 MiB to inflate against 16 MiB of burst and 8 MiB a
    # second, so one of them would wait past its 0.5 s unless the daemon
    # took over 3.5 s for all six.
    $s = session('Port.inflatefail', 0);
    my $frame = pack('N', 0x80000000 | length $bomb) . $bomb;
    write_all($s, $frame x 6);
    for (1 .. 6) { read_frame($s, timeout => 5) or last }
    ok(new_end($seen, qr/reason="inflateRate: the transaction inflates faster than 8388608 bytes\/s on average"/),
       'a transaction that would wait past its transactionTimeout ends the session, naming inflateRate')
        or diag($d->log_text);
    close $s;
}

# 300 connections that each send one header byte and stall: every one
# ends by transactionTimeout, and the threads go back to where they were.
sub threads { my ($n) = NpTest::slurp('/proc/' . $d->pid . '/status') =~ /^Threads:\s+(\d+)/m; return $n // 0 }
{
    my $base = threads();
    my $seen = conn_ids();
    my @held;
    for (1 .. 300) {
        my $s = np_connect($d, port => $d->port('Port')) or last;
        syswrite($s, "\x01\x00");
        push @held, $s;
    }
    is(scalar @held, 300, '300 stalled connections');
    my $ended = wait_for(sub {
        my $n = () = grep { !$seen->{$_} } keys %{ conn_ids() };
        return $n >= 300;
    }, 30);
    ok($ended, 'all 300 end by transactionTimeout');
    ok(wait_for(sub { threads() <= $base }, 10), 'and their threads are gone (' . threads() . " now, $base before)");
    close $_ for @held;
    ok(canaries_ok(), 'the canaries go on');
}

close $_ for @canaries;
is($d->stop, 0, 'npsocketd stops cleanly');
done_testing();
