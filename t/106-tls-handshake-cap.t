#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# maxHandshakeSize: a ClientHello whose handshake header claims 16 MiB,
# fed in full 16 KiB records and never finished, is cut off once the
# client has sent maxHandshakeSize (GnuTLS alone would buffer it whole);
# 30 such connections (8 MiB each) leave the daemon's memory where it was,
# and a canary TLS session goes on throughout.  A real handshake fits a
# 4K bound.
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

my $dir = tempdir('npsocketd-hscap-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[Port.small]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
maxHandshakeSize = 4K
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI

sub rss_kib { my ($kib) = NpTest::slurp('/proc/' . $d->pid . '/status') =~ /^VmRSS:\s+(\d+) kB/m; return $kib // 0 }
sub tls_session { return np_tls_session($_[0], "$dir/pki/ca.pem") }
# The first record: a ClientHello header claiming 16 MiB - 1; then more
# records of the same handshake message.
my $first = "\x16\x03\x01\x40\x00" . "\x01\xff\xff\xff" . ("\0" x 16380);
my $more = "\x16\x03\x01\x40\x00" . ("\0" x 16384);
# Sends up to $records records; how many bytes went before the daemon
# closed (undef when it never did).
sub feed {
    my ($s, $records) = @_;
    my $sent = 0;
    for my $i (0 .. $records - 1) {
        my $buf = $i ? $more : $first;
        my $n = syswrite($s, $buf);
        # Closed by the daemon: a reset or a broken pipe.  A write that
        # timed out (the daemon not reading) is no verdict.
        return ($!{EPIPE} || $!{ECONNRESET}) ? $sent : undef unless defined $n;
        return undef unless $n == length $buf;
        $sent += $n;
        # The daemon's verdict: EOF or a reset.
        if (IO::Select->new($s)->can_read(0.02)) {
            my $r = sysread($s, my $x, 1024);
            return $sent if !$r;
        }
    }
    return wait_eof($s, 5) ? $sent : undef;
}

my $canary = tls_session($d->port('Port'));
ok($canary && echo_ok($canary, 'before'), 'a canary TLS session');
my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port'), Timeout => 5) or die;
setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_SNDTIMEO(), pack('l!l!', 5, 0));
my $sent = feed($s, 64);
ok(defined $sent && $sent < 512 * 1024, 'a 16 MiB ClientHello is cut off early (' . ($sent // 'never') . ' bytes sent)');
ok($d->wait_log(qr/end: [^\n]*reason="TLS handshake failed: the client sent more than maxHandshakeSize \(65536 bytes\) before its handshake was done"/),
   'its end line names maxHandshakeSize');

my $before = rss_kib();
my @conns;
for (1 .. 30) {
    my $c = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port'), Timeout => 5) or next;
    setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_SNDTIMEO(), pack('l!l!', 5, 0));
    push @conns, $c;
}
my $cut = 0;
# Up to 8 MiB each: without the bound 30 of them would hold 240 MiB.
for my $c (@conns) { my $n = feed($c, 512); $cut++ if defined $n && $n < 512 * 1024 }
is($cut, 30, '30 connections feeding such a ClientHello: each is cut off within 512 KiB');
my $after = rss_kib();
diag("RSS before $before KiB, after $after KiB");
# 100 MiB leaves room for a sanitizer's own (ThreadSanitizer's shadow
# of 30 threads is some 30 MiB); 240 MiB would be the ClientHellos.
ok($after - $before < 100 * 1024, 'the daemon grew by less than 100 MiB (' . ($after - $before) . ' KiB)');
ok(echo_ok($canary, 'after'), 'the canary session goes on');
close $_ for @conns;

my $small = tls_session($d->port('Port.small'));
ok($small && echo_ok($small, 'small'), 'a real handshake fits maxHandshakeSize = 4K');
$s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.small'), Timeout => 5) or die;
$sent = feed($s, 8);
ok(defined $sent && $sent <= 3 * 16389, 'and the bound holds there at 4K (' . ($sent // 'never') . ' bytes sent)');
ok($d->wait_log(qr/maxHandshakeSize \(4096 bytes\)/), 'saying so');
$canary->close(SSL_no_shutdown => 1);
$small->close(SSL_no_shutdown => 1) if $small;
is($d->stop, 0, 'npsocketd stops cleanly');
done_testing();
