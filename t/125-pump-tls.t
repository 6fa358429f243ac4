#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The byte pump (webUpstream) on a TLS port: a client whose TLS record
# comes in part must not hold up the other direction, and the record goes
# through once its rest comes.  The client makes its records in memory
# (Net::SSLeay with memory BIOs) so it can send half of one.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use Net::SSLeay;
use POSIX ();
use Time::HiRes qw(sleep time);

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

# The upstream web server: sends "tick N\n" every 100 ms (at most 150),
# and "request: <what came>\n" once a blank line ended a request.
my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 8) or die "listen: $!";
my $up_pid = fork // die "fork: $!";
if ($up_pid == 0) {
    NpTest::die_with_parent();
    alarm 30;
    my $c = $listen->accept or POSIX::_exit(1);
    my $sel = IO::Select->new($c);
    my $got = '';
    my $answered = 0;
    for my $n (1 .. 150) {
        my $until = time + 0.1;
        while ((my $left = $until - time) > 0) {
            next unless $sel->can_read($left);
            my $r = sysread($c, my $buf, 4096);
            POSIX::_exit(0) unless $r;
            $got .= $buf;
            if (!$answered && $got =~ /\r\n\r\n/) {
                (my $shown = $got) =~ s/\r\n/|/g;
                NpTest::write_all($c, "request: $shown\n") or POSIX::_exit(0);
                $answered = 1;
            }
        }
        NpTest::write_all($c, "tick $n\n") or POSIX::_exit(0);
    }
    POSIX::_exit(0);
}
my $up_port = $listen->sockport;
close $listen;

# webUpstream alone, the built-in web server off (no webSocketPath, no
# webRoot): every byte after the first is the pump's.
my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsslSection = SSL\n"
                          . "webUpstream = 127.0.0.1:$up_port\nwebSocketPath =\n"
                          . "[SSL]\ncertFile = $pki/server.pem\nkeyFile = $pki/server.key\n");

Net::SSLeay::load_error_strings();
Net::SSLeay::SSLeay_add_ssl_algorithms();
my $ctx = Net::SSLeay::CTX_new() or die 'CTX_new';
Net::SSLeay::CTX_set_verify($ctx, 0, undef);
my $ssl = Net::SSLeay::new($ctx) or die 'SSL_new';
my ($rbio, $wbio) = map { Net::SSLeay::BIO_new(Net::SSLeay::BIO_s_mem()) } 1, 2;
Net::SSLeay::set_bio($ssl, $rbio, $wbio);
Net::SSLeay::set_connect_state($ssl);

my $tcp = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5) or die "connect: $!";
my $tcp_sel = IO::Select->new($tcp);

# The records OpenSSL made, taken out of the memory BIO.
sub made {
    my $out = '';
    while (Net::SSLeay::BIO_pending($wbio)) {
        $out .= Net::SSLeay::BIO_read($wbio);
    }
    return $out;
}

# Feeds what the socket has (waiting up to $wait s) to OpenSSL; false on EOF.
sub feed {
    my ($wait) = @_;
    return 1 unless $tcp_sel->can_read($wait);
    my $r = sysread($tcp, my $buf, 65536);
    return 0 unless $r;
    Net::SSLeay::BIO_write($rbio, $buf);
    return 1;
}

my $shaken = 0;
for (1 .. 200) {
    my $rc = Net::SSLeay::do_handshake($ssl);
    NpTest::write_all($tcp, made()) or last;
    if ($rc == 1) { $shaken = 1; last }
    my $err = Net::SSLeay::get_error($ssl, $rc);
    last unless $err == Net::SSLeay::ERROR_WANT_READ();
    feed(0.1) or last;
}
ok($shaken, 'TLS handshake through memory BIOs');

# Everything decrypted that came within $secs seconds.
sub received {
    my ($secs) = @_;
    my $text = '';
    my $until = time + $secs;
    while ((my $left = $until - time) > 0) {
        last unless feed($left);
        while (defined(my $plain = Net::SSLeay::read($ssl))) {
            last if $plain eq '';
            $text .= $plain;
        }
        NpTest::write_all($tcp, made());   # post-handshake answers, if any
    }
    return $text;
}

Net::SSLeay::write($ssl, 'G');
NpTest::write_all($tcp, made()) or die;
like(received(1), qr/tick \d+/, 'web byte over TLS: the upstream ticks reach the client');

Net::SSLeay::write($ssl, "ET /half HTTP/1.0\r\n\r\n");
my $record = made();
my $half = int(length($record) / 2);
NpTest::write_all($tcp, substr($record, 0, $half)) or die;
received(0.3);
my $meanwhile = received(1.5);
my @ticks = $meanwhile =~ /tick (\d+)/g;
cmp_ok(scalar @ticks, '>=', 3, 'half a TLS record from the client: upstream ticks still reach it ('
       . scalar(@ticks) . ' in 1.5 s)');
unlike($meanwhile, qr/request:/, 'and the upstream has not seen the half record');

NpTest::write_all($tcp, substr($record, $half)) or die;
like(received(2), qr/request: GET \/half HTTP\/1\.0\|\|/, 'the rest of the record: the request reaches the upstream whole');

close $tcp;
Net::SSLeay::free($ssl);
Net::SSLeay::CTX_free($ctx);
ok($d->wait_log(qr/protocol=web /), 'the web session ends and is logged');
kill 'KILL', $up_pid;
waitpid($up_pid, 0);
is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
