#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# An idle session gives back what it does not use: after a second with
# nothing to read, a connection thread releases the stack pages below the
# frame it waits in (and a TLS session's GnuTLS frees its record buffer),
# yet every session, TLS and plain, goes on exchanging transactions of any
# size, a readTimeout still ends a silent session on time, and a parked
# spare thread serves the next connection.  The stacks are found in
# /proc/PID/smaps by their size (threadStackSize 192K, behind a 4 KiB
# guard page).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-idle-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $sanitized = `nm build/npsocketd 2>/dev/null` =~ /__asan|__tsan/;

my $d = start_daemon(ini => <<"INI");
[Server]
threadStackSize = 192K
spareThreads = 4
[Port]
port = 0
bindAddress = 127.0.0.1
compression = false
[Port.tls]
port = 0
bindAddress = 127.0.0.1
compression = false
sslSection = SSL
[Port.timed]
port = 0
bindAddress = 127.0.0.1
readTimeout = 3
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI

# Resident KiB of each connection thread's stack, by address: 192 KiB
# read-write mappings right above a 4 KiB guard.
sub stack_rss {
    no warnings 'portable';    # 64-bit addresses in hex
    open my $fh, '<', '/proc/' . $d->pid . '/smaps' or return ();
    my (@maps, $cur);
    while (<$fh>) {
        if (/^([0-9a-f]+)-([0-9a-f]+) (\S+)/) {
            $cur = { lo => hex $1, hi => hex $2, perm => $3 };
            push @maps, $cur;
        } elsif (/^Rss:\s+(\d+)/) {
            $cur->{rss} = $1;
        }
    }
    my %rss;
    for my $i (1 .. $#maps) {
        my ($g, $m) = @maps[$i - 1, $i];
        $rss{ $m->{lo} } = $m->{rss} if $m->{perm} eq 'rw-p' && $m->{hi} - $m->{lo} == 192 * 1024
            && $g->{perm} eq '---p' && $g->{hi} == $m->{lo} && $g->{hi} - $g->{lo} == 4096;
    }
    return %rss;
}

# Resident KiB per stack, by address.
sub stacks { my %m = stack_rss(); return \%m }
sub total { my ($m) = @_; my $n = 0; $n += $_ for values %$m; return $n }

# Just after their handshakes the TLS sessions' threads have touched the
# deepest part of their stacks.
my @tls = map { np_tls_session($d->port('Port.tls'), "$dir/pki/ca.pem") } 1 .. 6;
my $busy = stacks();
is(scalar(grep { defined } @tls), 6, 'six TLS sessions past their protocol byte');
my @plain = map { scalar np_connect($d, byte => 1, port => $d->port('Port')) } 1 .. 6;
is(scalar(grep { defined } @plain), 6, 'six plain sessions past their protocol byte');

# Idle for 2.5 s: every connection thread has waited its second.
sleep 2.5;
my $idle = stacks();
SKIP: {
    skip 'a sanitizer build maps its threads\' stacks and frames its own way', 3 if $sanitized;
    cmp_ok(scalar(keys %$busy), '>=', 6, 'the connection threads\' stacks are found in smaps');
    my %common = map { $_ => 1 } grep { exists $idle->{$_} } keys %$busy;
    my ($was, $now) = (0, 0);
    for (keys %common) { $was += $busy->{$_}; $now += $idle->{$_} }
    diag("stack KiB resident: busy $was, idle $now") if $ENV{NPTEST_VERBOSE};
    # Without the release a stack keeps what the handshake touched.
    cmp_ok($was - $now, '>=', 8, 'the idle TLS sessions gave stack pages back')
        or diag("busy: @{[ map { $busy->{$_} } sort keys %common ]}; idle: @{[ map { $idle->{$_} } sort keys %common ]}");
    cmp_ok(total($idle) / (keys(%$idle) || 1), '<=', 12, 'an idle session keeps 12 KiB of stack or less')
        or diag("idle: @{[ values %$idle ]}");
}
my $big = join '', map { chr(($_ * 7) & 0xff) } 1 .. 60_000;
is(scalar(grep { echo_ok($_, 'first') && echo_ok($_, $big) } @tls, @plain), 12,
   'each answers a small and a 60 KB transaction');
is(scalar(grep { echo_ok($_, $big) && echo_ok($_, 'again') } @tls, @plain), 12,
   'after the release each session still answers, 60 KB and small');
sleep 1.5;
is(scalar(grep { echo_ok($_, 'x' x 3000) } @tls, @plain), 12, 'and again after a second release');

# A readTimeout is kept whole across the wait's release.
my $t0 = time;
my $s = np_connect($d, byte => 1, port => $d->port('Port.timed'));
ok($s && echo_ok($s, 'timed'), 'a session on the readTimeout port answers');
my $end = wait_eof($s, 10);
my $took = time - $t0;
ok(defined $end, "the silent session is closed (after ${\ sprintf '%.1f', $took} s)");
cmp_ok($took, '>=', 2.5, 'not before its readTimeout of 3 s');

# Sessions end; their threads park, release, and serve new connections.
close $_ for @tls, @plain;
sleep 1.5;
my $again = np_tls_session($d->port('Port.tls'), "$dir/pki/ca.pem");
ok($again && echo_ok($again, $big), 'a parked thread serves a new TLS session');
my ($p2) = np_connect($d, byte => 1, port => $d->port('Port'));
ok($p2 && echo_ok($p2, 'plain again'), 'and a new plain session');
close $again if $again;
close $p2 if $p2;

unlike($d->log_text, qr/error|cannot find its stack/, 'no error in the log');
$d->stop;
done_testing();
