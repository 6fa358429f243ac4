#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Admission by memory: above maxMemory (resident) or near RLIMIT_AS
# (address space) new connections are refused, with a log line and a
# counter, before a TLS handshake can meet a failing malloc(); the
# sessions held go on, and once memory is back new connections are
# served again.  Under `prlimit --as` (not with a sanitizer, whose shadow
# memory is address space) the daemon is driven to the bound with plain
# sessions and then met with TLS handshakes: it refuses, never crashes.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Select;
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-mem-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $sanitized = `nm build/npsocketd 2>/dev/null` =~ /__asan|__tsan/;

sub ini {
    my ($server) = @_;
    return <<"INI";
[Server]
controlSocket = $dir/ctl
$server
[Port]
port = 0
bindAddress = 127.0.0.1
[Port.tls]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI
}
sub tls_session { my ($d) = @_; return np_tls_session($d->port('Port.tls'), "$dir/pki/ca.pem") }
sub plain_session {
    my ($d) = @_;
    my ($s, $b) = np_connect($d, byte => 1, timeout => 5);
    return defined $b && $b == 1 ? $s : undef;
}
sub status_kib { my ($d, $key) = @_; my ($v) = NpTest::slurp('/proc/' . $d->pid . '/status') =~ /^$key:\s+(\d+) kB/m; $v // 0 }
sub refused_metric {
    my ($d, $label) = @_;
    my ($v) = control("$dir/ctl", 'show metrics') =~ /^npsocketd_connections_refused_total\{reason="$label"\} (\d+)/m;
    return $v // -1;
}

# --- maxMemory (resident), set by a reload ------------------------------------
{
    my $d = start_daemon(ini => ini(''));
    like($d->log_text, qr/memory bound: none|memory bound: new connections are refused above/,
         'the start says which memory bound holds');
    my @canaries = (plain_session($d), tls_session($d));
    ok($canaries[0] && $canaries[1], 'plain and TLS canaries');
    my $rss = status_kib($d, 'VmRSS');
    my $bound = int($rss / 1024) + 24;
    open my $fh, '>', $d->config or die; print $fh ini("maxMemory = ${bound}M"); close $fh;
    kill 'HUP', $d->pid;
    ok($d->wait_log(qr/memory bound: new connections are refused above $bound MiB resident \(maxMemory\)/),
       "a reload sets maxMemory = ${bound}M (RSS now $rss KiB)");
    like(control("$dir/ctl", 'show metrics'), qr/^npsocketd_memory_bound_bytes\{kind="resident"\} @{[ $bound << 20 ]}$/m,
         'the metrics show the bound');
    # Sessions holding 4 MiB each: a header promising 8 MiB, half of it sent.
    my $chunk = join '', map { chr(rand 256) } 1 .. 65536;
    my @hogs;
    for my $i (1 .. 12) {
        my $s = plain_session($d) or last;
        write_all($s, pack('N', 8 << 20) . ($chunk x 64));
        push @hogs, $s;
        last if wait_for(sub { status_kib($d, 'VmRSS') > ($bound << 10) }, 0.5);
    }
    ok(status_kib($d, 'VmRSS') > ($bound << 10), scalar(@hogs) . ' sessions holding half-received transactions pass the bound ('
       . status_kib($d, 'VmRSS') . ' KiB)');
    my $refused = 0;
    for (1 .. 3) { $refused++ unless plain_session($d) }
    is($refused, 3, 'new connections are refused');
    ok(!tls_session($d), 'a new TLS connection too');
    ok($d->wait_log(qr/refused 127\.0\.0\.1:\d+ on port \d+: maxMemory reached \(resident memory\)/),
       'with a log line naming maxMemory');
    ok(refused_metric($d, 'max_memory') >= 4, 'and counted: npsocketd_connections_refused_total{reason="max_memory"}');
    ok(echo_ok($canaries[0], 'plain canary') && echo_ok($canaries[1], 'tls canary'), 'the canaries go on');
    close $_ for @hogs;
    SKIP: {
        # ASan and TSan keep freed memory (quarantine, shadow): it does not come back.
        skip "a sanitizer build keeps freed memory resident", 1 if $sanitized;
        my $back = wait_for(sub { my $s = plain_session($d); close $s if $s; $s ? 1 : 0 }, 20);
        ok($back, 'once the sessions holding memory left, new connections are served again ('
           . status_kib($d, 'VmRSS') . ' KiB)');
    }
    ok(echo_ok($canaries[0], 'plain canary') && echo_ok($canaries[1], 'tls canary'), 'the canaries go on');
    close $_ for grep { $_ } @canaries;
    is($d->stop, 0, 'npsocketd stops cleanly');
}

# --- RLIMIT_AS ------------------------------------------------------------------
SKIP: {
    skip 'a sanitizer build: its shadow memory is address space', 9 if $sanitized;
    skip 'no prlimit', 9 unless -x '/usr/bin/prlimit';
    my $d = start_daemon(ini => ini(''), wrapper => ['prlimit', '--as=600000000']);
    ok($d->wait_log(qr/memory bound: new connections are refused above 508 MiB of address space \(RLIMIT_AS less a margin\)/, 2),
       'under prlimit --as=600000000 the bound is the limit less a margin');
    like($d->log_text, qr/malloc\(\) keeps to 1 arena under RLIMIT_AS/, 'and malloc() keeps to few arenas');
    my @canaries = (plain_session($d), tls_session($d));
    ok($canaries[0] && $canaries[1], 'plain and TLS canaries');
    my (@held, $first_refusal);
    my $t0 = time;
    while (@held < 3000 && time - $t0 < 60) {
        my $s = plain_session($d);
        if (!$s) { $first_refusal = @held; last }
        push @held, $s;
    }
    ok(defined $first_refusal, "sessions are admitted up to the bound, then refused ($first_refusal held, VmSize "
       . status_kib($d, 'VmSize') . ' KiB)');
    my ($tls_ok, $tls_no) = (0, 0);
    for (1 .. 40) { if (my $s = tls_session($d)) { $tls_ok++; push @held, $s } else { $tls_no++ } }
    ok($tls_no > 0, "TLS handshakes at the bound are refused ($tls_no refused, $tls_ok served)");
    ok(kill(0, $d->pid) && $d->log_text !~ /Cannot allocate|AddressSanitizer|SIGSEGV/, 'the daemon is alive');
    like($d->log_text, qr/refused 127\.0\.0\.1:\d+ on port \d+: address space near RLIMIT_AS/, 'the refusals are logged');
    my $alive = 0;
    for my $s (@held[0 .. 9], @held[-10 .. -1]) { $alive++ if echo_ok($s, 'held') }
    ok($alive == 20 && echo_ok($canaries[0], 'c') && echo_ok($canaries[1], 'c'),
       "the sessions held and the canaries go on ($alive of 20 sampled)");
    close $_ for @held;
    ok(wait_for(sub { my $s = tls_session($d); close $s if $s; $s ? 1 : 0 }, 20), 'with them gone, TLS is served again');
    close $_ for grep { $_ } @canaries;
    $d->stop;
}
done_testing();
