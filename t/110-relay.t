#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The Remote Assistance relay (protocol byte 2): pairing by key, the
# waiting / paired / refused answers, relayTimeout, bytes relayed
# untouched both ways, a close on one side carried to the other.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Socket::IP;
use IO::Select;
use Digest::MD5 qw(md5_hex);
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);

my $d = start_daemon(ini => <<'INI');
[Server]
maxConnections = 1000
[Port]
port = 0
bindAddress = 127.0.0.1
relayTimeout = 2
handshakeTimeout = 3
[Port.patient]
port = 0
bindAddress = 127.0.0.1
relayTimeout = 120
INI

sub relay_connect {
    my ($role, $key, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port($opt{port}), Timeout => 5)
        or die "connect: $!";
    binmode $s;
    my $header = chr($role) . $key;
    syswrite($s, chr(2) . pack('N', length $header) . $header) or die "write: $!";
    return $s;
}

sub read_byte {
    my ($s, $timeout) = @_;
    my $sel = IO::Select->new($s);
    return undef unless $sel->can_read($timeout // 5);
    my $n = sysread($s, my $b, 1);
    return $n ? ord($b) : undef;
}

sub read_all {
    my ($s, $want, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;
    while (length($buf) < $want && time < $until) {
        last unless $sel->can_read($until - time);
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
    }
    return $buf;
}

# --- one pair, a few bytes each way ------------------------------------
{
    my $w = relay_connect(1, 'pair-one');
    is(read_byte($w), 2, 'a waiter is told it waits (2)');
    my $j = relay_connect(2, 'pair-one');
    is(read_byte($j), 1, 'the joiner is paired (1)');
    is(read_byte($w), 1, 'the waiter is paired (1)');
    syswrite($w, "from waiter");
    syswrite($j, "from joiner");
    is(read_all($j, 11, 5), 'from waiter', 'bytes flow waiter -> joiner untouched');
    is(read_all($w, 11, 5), 'from joiner', 'bytes flow joiner -> waiter untouched');
    close $j;
    my $rest = read_all($w, 1, 5);
    is($rest, '', 'the joiner closing closes the waiter too');
    close $w;
}

# --- refusals -------------------------------------------------------------
is(read_byte(relay_connect(2, 'nobody-waits')), 0, 'a joiner with no waiter is refused (0)');
{
    my $w = relay_connect(1, 'taken');
    is(read_byte($w), 2, 'first waiter on a key waits');
    is(read_byte(relay_connect(1, 'taken')), 0, 'a second waiter on the same key is refused');
    close $w;
}
is(read_byte(relay_connect(1, 'x' x 65)), 0, 'a key longer than 64 bytes is refused');
is(read_byte(relay_connect(1, "bad key")), 0, 'a key with a space is refused');
is(read_byte(relay_connect(1, "")), 0, 'an empty key is refused');
is(read_byte(relay_connect(3, 'role')), 0, 'an unknown role is refused');
{
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
    syswrite($s, chr(2));
    my $t0 = time;
    my $b = read_byte($s, 10);
    ok(!defined $b && time - $t0 < 9, 'a relay header never sent is cut by handshakeTimeout');
}
{
    my $w = relay_connect(1, 'lonely');
    is(read_byte($w), 2, 'a lonely waiter waits');
    is(read_byte($w, 10), 0, 'and is refused after relayTimeout');
}
{
    my $w = relay_connect(1, 'leaver');
    is(read_byte($w), 2, 'a waiter that will leave waits');
    close $w;
    sleep 0.3;
    is(read_byte(relay_connect(2, 'leaver')), 0, 'a joiner after the waiter left is refused');
}
ok($d->wait_log(qr/reason="relay refused: no joiner within relayTimeout"/, 5),
   'the timed-out waiter is logged with its reason');
ok($d->wait_log(qr/reason="relay refused: key in use/, 5), 'the duplicate waiter is logged');

# --- 200 parties waiting at once, joined in another order -----------------
# Keys that share prefixes and lengths; each pair passes a token both ways,
# so a joiner paired with the wrong waiter shows.  Every tenth waiter
# leaves first: its joiner is refused, the others are unaffected.  On a
# port whose relayTimeout outlasts the test however slow the machine.
{
    my @keys = map { "k$_" } 1 .. 200;
    my %waiter;
    for my $k (@keys) {
        $waiter{$k} = relay_connect(1, $k, port => 'Port.patient');
    }
    my $waiting = grep { (read_byte($waiter{$_}) // -1) == 2 } @keys;
    is($waiting, 200, '200 waiters with distinct keys all wait');
    my @leavers = grep { /0$/ } @keys;
    close $waiter{$_} for @leavers;
    sleep 0.5;
    srand(7);
    my @order = sort { $a->[1] <=> $b->[1] } map { [$_, rand] } @keys;
    my ($paired, $refused, $wrong) = (0, 0, 0);
    for my $k (map { $_->[0] } @order) {
        my $j = relay_connect(2, $k, port => 'Port.patient');
        my $answer = read_byte($j) // -1;
        if ($k =~ /0$/) {
            $refused++ if $answer == 0;
            next;
        }
        next unless $answer == 1 && (read_byte($waiter{$k}) // -1) == 1;
        syswrite($j, "to $k;");
        syswrite($waiter{$k}, "from $k;");
        my $to = read_all($waiter{$k}, length("to $k;"), 5);
        my $from = read_all($j, length("from $k;"), 5);
        ($to eq "to $k;" && $from eq "from $k;") ? $paired++ : $wrong++;
        close $j;
        close $waiter{$k};
    }
    is($paired, 180, '180 joiners in random order each reached their own waiter') or diag("$wrong mismatched");
    is($refused, 20, 'the 20 joiners whose waiter left were refused');
    my $again = relay_connect(1, 'k7', port => 'Port.patient');
    is(read_byte($again), 2, 'a key is free for a new waiter once its pair is done');
    close $again;
}

# --- a joiner right behind its waiter -------------------------------------
# Sent back to back, the joiner may come while the waiter's 2 is still
# being written: the waiter's client must get 2 before 1 all the same
# (or the joiner, if it came first, is refused and the waiter waits).
{
    my ($in_order, $paired) = (0, 0);
    for my $i (1 .. 30) {
        my $w = relay_connect(1, "close-$i", port => 'Port.patient');
        my $j = relay_connect(2, "close-$i", port => 'Port.patient');
        my $jb = read_byte($j) // -1;
        my $w1 = read_byte($w) // -1;
        my $w2 = $jb == 1 ? read_byte($w) // -1 : 1;
        $in_order++ if $w1 == 2 && $w2 == 1 && ($jb == 1 || $jb == 0);
        $paired++ if $jb == 1;
        close $j;
        close $w;
    }
    is($in_order, 30, "30 waiters joined back to back got 2, then 1 ($paired paired, the rest came after their joiner)");
}

# --- a waiting party's thread sleeps until something happens --------------
# It used to wake every second to look at its socket; with thousands
# waiting that was CPU spent on nothing.  Once, a second into its wait, it
# gives its idle stack back (stack.h); then its switches stay put for 2.5 s.
{
    my $port = $d->port('Port.patient');
    my $w = relay_connect(1, 'sleeper', port => 'Port.patient');
    is(read_byte($w), 2, 'a waiter for the sleep check waits');
    sleep 1.5;    # let it reach its wait, and release its stack
    my $switches = sub {
        my %n;
        for my $task (glob('/proc/' . $d->pid . '/task/*')) {
            open(my $c, '<', "$task/comm") or next;
            next unless (<$c> // '') eq "conn:$port\n";
            open(my $st, '<', "$task/status") or next;
            /^voluntary_ctxt_switches:\s+(\d+)/ and $n{$task} = $1 for <$st>;
        }
        return \%n;
    };
    # Threads of the pairs above may still be ending: wait for ours alone.
    my $before = $switches->();
    for (1 .. 50) {
        last if keys %$before == 1;
        sleep 0.1;
        $before = $switches->();
    }
    sleep 2.5;
    my $after = $switches->();
    is(scalar(keys %$before), 1, 'one connection thread on that port');
    is_deeply($after, $before, 'its thread was not woken while it waited');
    my $j = relay_connect(2, 'sleeper', port => 'Port.patient');
    ok((read_byte($j) // -1) == 1 && (read_byte($w) // -1) == 1, 'and a joiner still pairs with it at once');
    close $j;
    close $w;
}

# --- 100 pairs at once, 4 MiB each way --------------------------------------
my $pairs = 100;
my $size = 4 * 1024 * 1024;
my @kids;
for my $p (1 .. $pairs) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        alarm 120;
        my $key = "bulk-$p";
        # The patient port: 200 connections at once under a sanitizer
        # may take longer than [Port]'s 2 s relayTimeout and 3 s
        # handshakeTimeout to be read, which this block is not about.
        my $w = relay_connect(1, $key, port => 'Port.patient');
        read_byte($w, 10) == 2 or _exit(2);
        my $j = relay_connect(2, $key, port => 'Port.patient');
        (read_byte($j, 10) // -1) == 1 or _exit(3);
        (read_byte($w, 10) // -1) == 1 or _exit(4);
        srand($p);
        my $a = join '', map { pack 'N', rand(2**32) } 1 .. $size / 4;
        my $b = reverse $a;
        my %out = ($w => [$w, $a, 0], $j => [$j, $b, 0]);
        my %in = ($w => '', $j => '');
        my $sel_r = IO::Select->new($w, $j);
        my $sel_w = IO::Select->new($w, $j);
        my $deadline = time + 100;
        while ((length($in{$w}) < $size || length($in{$j}) < $size) && time < $deadline) {
            my ($r, $wr) = IO::Select->select($sel_r, $sel_w, undef, 5);
            for my $s (@{ $wr || [] }) {
                my $o = $out{$s};
                my $n = syswrite($s, $o->[1], 65536, $o->[2]);
                $o->[2] += $n if $n;
                if ($o->[2] >= $size) { $sel_w->remove($s); shutdown($s, 1); }
            }
            for my $s (@{ $r || [] }) {
                my $n = sysread($s, $in{$s}, 262144, length $in{$s});
                $sel_r->remove($s) unless $n;
            }
        }
        _exit(md5_hex($in{$j}) eq md5_hex($a) && md5_hex($in{$w}) eq md5_hex($b) ? 0 : 5);
    }
    push @kids, $pid;
}
my %codes;
for my $pid (@kids) { waitpid($pid, 0); $codes{$? >> 8}++; }
is($codes{0} // 0, $pairs, "$pairs pairs moved 4 MiB each way intact (exit codes: "
   . join(', ', map { "$_ x$codes{$_}" } sort keys %codes) . ')');

# --- a side killed: the other is closed --------------------------------------
{
    my $w = relay_connect(1, 'killed');
    read_byte($w);
    my $pid = fork // die;
    if ($pid == 0) {
        my $j = relay_connect(2, 'killed');
        read_byte($j);
        sleep 30;
        _exit(0);
    }
    is(read_byte($w), 1, 'waiter paired with a joiner that will be killed');
    kill 'KILL', $pid;
    waitpid($pid, 0);
    is(read_all($w, 1, 5), '', 'the killed joiner closes the waiter');
}

my ($s) = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
syswrite($s, chr(1));
is(read_byte($s), 1, 'the daemon still serves clients after all of it');

# --- a waiter over TLS (gnutls-cli) and a joiner over plain TCP, on two ports ------------
SKIP: {
    skip 'gnutls-cli is not installed', 7 unless `sh -c 'command -v gnutls-cli'`;
    require File::Temp;
    require IPC::Open2;
    my $pki = File::Temp::tempdir(CLEANUP => 1);
    system('sh', 't/lib/make-certs.sh', $pki) == 0 or skip 'cannot make certificates', 7;
    my $m = start_daemon(ini => "[Port.plain]\nport = 0\nbindAddress = 127.0.0.1\n"
        . "[Port.tls]\nport = 0\nbindAddress = 127.0.0.1\nsslSection = SSL\n"
        . "[SSL]\ncertFile = $pki/server.pem\nkeyFile = $pki/server.key\n");
    my $cli = IPC::Open2::open2(my $from_tls, my $to_tls, 'gnutls-cli', '--x509cafile', "$pki/ca.pem",
                                '-p', $m->port('Port.tls'), 'localhost');
    binmode $_ for $from_tls, $to_tls;
    syswrite($to_tls, "\x02" . pack("N", 6) . "\x01mixed");
    my $sel = IO::Select->new($from_tls);
    my $seen = '';
    my $until = time + 10;
    while ($seen !~ /\x02$/ && time < $until) {
        next unless $sel->can_read(0.2);
        sysread($from_tls, $seen, 4096, length $seen) or last;
    }
    like($seen, qr/\x02$/, 'a waiter over TLS is told it waits');
    my $j = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $m->port('Port.plain'), Timeout => 5);
    binmode $j;
    syswrite($j, "\x02" . pack('N', 6) . "\x02mixed");
    is(read_byte($j), 1, 'a joiner over plain TCP on another port is paired with it');
    syswrite($j, 'plain to tls');
    syswrite($to_tls, 'tls to plain');
    is(read_all($j, 12, 5), 'tls to plain', 'bytes flow from the TLS side to the plain side');
    $seen = '';
    $until = time + 10;
    while ($seen !~ /plain to tls/ && time < $until) {
        next unless $sel->can_read(0.2);
        sysread($from_tls, $seen, 4096, length $seen) or last;
    }
    like($seen, qr/plain to tls/, 'and from the plain side to the TLS side');
    close $j;
    kill 'TERM', $cli;
    waitpid($cli, 0);
    ok($m->wait_log(qr/protocol=relay transport=tcp tls=TLS1\.\d/), 'the TLS side is logged as a relay over TLS');

    # Data right behind the relay header, in the same TLS record: the
    # daemon holds it decrypted or read ahead, where poll() cannot see it.
    $cli = IPC::Open2::open2($from_tls, $to_tls, 'gnutls-cli', '--x509cafile', "$pki/ca.pem",
                             '-p', $m->port('Port.tls'), 'localhost');
    binmode $_ for $from_tls, $to_tls;
    $sel = IO::Select->new($from_tls);
    syswrite($to_tls, "\x02" . pack("N", 6) . "\x01early" . "too soon");
    $seen = '';
    $until = time + 10;
    while ($seen !~ /\x02\x00/ && time < $until) {
        next unless $sel->can_read(0.2);
        sysread($from_tls, $seen, 4096, length $seen) or last;
    }
    like($seen, qr/\x02\x00/, 'a TLS waiter that sends data with its header waits, then is refused');
    ok($m->wait_log(qr/relay refused: waiting party sent data before it was paired/),
       'and the log says why');
    kill 'TERM', $cli;
    waitpid($cli, 0);
}

# --- the same over plain TCP ----------------------------------------------------
{
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5) or die;
    binmode $s;
    syswrite($s, chr(2) . pack('N', 6) . "\x01early" . 'too soon');
    is(read_byte($s), 2, 'a plain waiter that sends data with its header is told it waits');
    is(read_byte($s), 0, '... and then refused');
    ok($d->wait_log(qr/relay refused: waiting party sent data before it was paired/), 'and the log says why');
}

# --- an answer that cannot be delivered names the write's fault -----------------
# The stop shuts a waiting party's connection down: its read sees the end
# ("closed by peer"), and the refusal written after it fails ("connection
# reset by peer", EPIPE): the debug line gives the write's fault.
{
    my $q = start_daemon(ini => "[Server]\nlogLevel = debug\nshutdownTimeout = 0\n"
                              . "[Port]\nport = 0\nbindAddress = 127.0.0.1\nrelayTimeout = 60\n");
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $q->port, Timeout => 5) or die;
    binmode $s;
    my $header = "\x01" . 'stopped-waiter';
    syswrite($s, chr(2) . pack('N', length $header) . $header);
    is(read_byte($s), 2, 'a waiter waits on a daemon about to stop');
    is($q->stop, 0, 'the daemon stops with the waiter still there');
    my $log = $q->log_text;
    like($log, qr/relay answer 0 not delivered: connection reset by peer/,
         'the undelivered refusal is logged with the write\'s fault');
    unlike($log, qr/relay answer 0 not delivered: closed by peer/, 'not with the read\'s');
    like($log, qr/end: .*protocol=relay .*reason="closed by shutdown: waiting party left before a joiner came"/,
         'and the waiter leaves its end line');
}
# A compressed relay header is a transaction like any other (npsocketd(8)):
# inflated and checked; one that inflates past 65 bytes is refused.
{
    use Compress::Zlib ();
    my $z = sub { my $h = Compress::Zlib::compress($_[0]); chr(2) . pack('N', 0x80000000 | length $h) . $h };
    my $w = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5) or die;
    syswrite($w, $z->("\x01zipped-key"));
    is(read_byte($w), 2, 'a waiter whose header came compressed waits');
    my $j = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5) or die;
    syswrite($j, chr(2) . pack('N', 11) . "\x02zipped-key");
    is(read_byte($j), 1, 'a plain joiner with the same key is paired with it');
    is(read_byte($w), 1, 'and the waiter hears so');
    syswrite($j, 'across');
    is(read_all($w, 6, 5), 'across', 'bytes flow between them');
    close $_ for $w, $j;
    my $big = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5) or die;
    syswrite($big, $z->("\x01" . ('k' x 200)));
    is(read_byte($big), 0, 'a compressed header that inflates past 65 bytes is refused');
    close $big;
}
done_testing;
