#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Transactions of every size over TLS, against an independent TLS stack
# (OpenSSL, through IO::Socket::SSL): around the record size (16 KiB), the
# size up to which a write is corked into one record (64 KiB) and well
# over it, compressed or not, several in one record and one over many,
# with a client that reads slowly so the daemon's writes must wait, on a
# port without readTimeout (the fd blocks) and one with it (it does not).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Compress::Zlib qw(compress uncompress);
use Digest::MD5 qw(md5_hex);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use Socket qw(SOL_SOCKET SO_LINGER SO_RCVBUF);
use Time::HiRes qw(time sleep);

eval { require IO::Socket::SSL; 1 } or plan skip_all => 'IO::Socket::SSL (libio-socket-ssl-perl) is not installed';

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

my $d = start_daemon(ini => <<"INI");
[Port.blocking]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
maxTransactionSize = 16M
[Port.timeout]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
maxTransactionSize = 16M
readTimeout = 30
compression = false
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI

sub tls_connect {
    my ($port, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port($port), Timeout => 5)
        or die "connect: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $opt{rcvbuf})) if $opt{rcvbuf};
    IO::Socket::SSL->start_SSL($s, SSL_ca_file => "$pki/ca.pem", SSL_hostname => 'localhost',
                               SSL_verifycn_name => 'localhost', SSL_verifycn_scheme => 'default',
                               Timeout => 5)
        or die "TLS: " . IO::Socket::SSL::errstr();
    binmode $s;
    write_all($s, "\x01");
    my $answer = tls_read_exact($s, 1, 5);
    die 'no answer to the protocol byte' unless defined $answer && $answer eq "\x01";
    return $s;
}

# OpenSSL may hold decrypted bytes that select() cannot see: ask first.
sub tls_read_exact {
    my ($s, $n, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $until = time + $timeout;
    while (length($buf) < $n) {
        if (!$s->pending) {
            my $left = $until - time;
            return undef if $left <= 0 || !$sel->can_read($left);
        }
        my $r = sysread($s, $buf, $n - length($buf), length $buf);
        next if !defined $r && $!{EAGAIN};
        return undef unless $r;
    }
    return $buf;
}

sub frame {
    my ($payload, $compress) = @_;
    my $wire = $compress ? compress($payload) : $payload;
    return pack('N', length($wire) | ($compress ? 0x80000000 : 0)) . $wire;
}

sub read_tx {
    my ($s, $timeout) = @_;
    my $h = tls_read_exact($s, 4, $timeout // 20);
    return undef unless defined $h;
    my $w = unpack 'N', $h;
    my $len = $w & 0x7fffffff;
    my $body = $len ? tls_read_exact($s, $len, $timeout // 20) : '';
    return undef unless defined $body;
    return $w & 0x80000000 ? uncompress($body) : $body;
}

# Bytes that do not compress, the same every run.
srand(105);
sub noise { substr(pack('N*', map { int rand 4294967296 } 0 .. $_[0] / 4), 0, $_[0]) }

my @sizes = (0, 1, 1019, 16379, 16380, 16381, 16384, 32768, 65531, 65532, 65533, 65536,
             100_000, 1 << 20, 3 << 20);
for my $port (qw(blocking timeout)) {
    my $s = tls_connect($port);
    for my $size (@sizes) {
        for my $compress (0, 1) {
            my $payload = $compress ? ('NetPhantom ' x ($size / 11 + 1)) : noise($size);
            $payload = substr($payload, 0, $size);
            write_all($s, frame($payload, $compress)) or last;
            my $echo = read_tx($s);
            ok(defined $echo && length($echo) == $size && md5_hex($echo) eq md5_hex($payload),
               "$port port: a $size-byte transaction" . ($compress ? ' (compressed)' : '') . ' comes back whole');
        }
    }

    # Many transactions in one write: several to a TLS record, and
    # records that end in the middle of a header.
    my @many = map { noise(1 + ($_ * 997) % 5000) } 1 .. 40;
    write_all($s, join '', map { frame($_, 0) } @many);
    my $same = grep { my $e = read_tx($s); defined $e && $e eq $_ } @many;
    is($same, 40, "$port port: 40 transactions sent in one write come back in order");
    close $s;
}

# A client that does not read while the daemon answers 6 MiB: its writes
# wait for the window (blocked in send(), or EAGAIN and poll() with
# readTimeout), and nothing is lost.
for my $port (qw(blocking timeout)) {
    my $s = tls_connect($port, rcvbuf => 16384);
    my $payload = noise(6 << 20);
    write_all($s, frame($payload, 0));
    sleep 1;
    my $echo = read_tx($s, 30);
    ok(defined $echo && md5_hex($echo) eq md5_hex($payload), "$port port: 6 MiB to a slow reader comes back whole");
    close $s;
}

my ($alive) = tls_connect('timeout');
write_all($alive, frame('still here', 0));
is(read_tx($alive), 'still here', 'the daemon serves on afterwards');
close $alive;
unlike($d->log_text, qr/error|assert/i, 'no errors logged');

# A client that resets the connection while the daemon writes its 6 MiB
# answer: the session ends with the system's reason, not GnuTLS's "Error
# in the push function".
my $resets = 0;
for my $port (qw(blocking timeout)) {
    my $s = tls_connect($port, rcvbuf => 16384);
    write_all($s, frame(noise(6 << 20), 0));
    sleep 0.5;
    setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) or die "SO_LINGER: $!";
    $s->close(SSL_no_shutdown => 1);
    $resets++;
    my @why;
    wait_for(sub { @why = $d->log_text =~ /reason="(write failed: [^"]*)"/g; @why >= $resets }, 10);
    my $why = $why[$resets - 1] // 'nothing';
    like($why, qr/^write failed: (connection reset by peer|Broken pipe)$/,
         "$port port: a reset during a TLS write is logged as such ($why)");
}
done_testing;
