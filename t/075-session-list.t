#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# SIGUSR1: the daemon logs its counters and one line per live session
# from the registry's snapshots (peer, listener, protocol, stage, TLS,
# bytes and transactions each way), and goes on serving; the sessions
# listed keep working.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;

eval { require IO::Socket::SSL; 1 } or plan skip_all => 'IO::Socket::SSL (libio-socket-ssl-perl) is not installed';

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
[Port.secure]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI

# A plain client with three transactions done.
my $plain = np_connect($d, byte => 1);
for my $n (1 .. 3) {
    send_frame($plain, "ping $n");
    read_frame($plain);
}
# A TLS client with one done.
my $raw = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.secure'), Timeout => 5)
    or die "connect: $!";
IO::Socket::SSL->start_SSL($raw, SSL_ca_file => "$pki/ca.pem", SSL_hostname => 'localhost',
                           SSL_version => 'TLSv1_3', Timeout => 5)
    or die 'TLS: ' . IO::Socket::SSL::errstr();
my $tls = $raw;
syswrite($tls, "\x01");
my $answer = read_exact($tls, 1, 5);
is(ord($answer // "\0"), 1, 'the TLS client is accepted');
send_frame($tls, 'secure ping');
is((read_frame($tls))[0], 'secure ping', 'and echoed');
# A relay party waiting.
my $waiter = np_connect($d);
my $header = "\x01" . 'listed-waiter';
syswrite($waiter, "\x02" . pack('N', length $header) . $header);
is(ord(read_exact($waiter, 1, 5) // "\0"), 2, 'a relay party waits');

kill 'USR1', $d->pid;
ok($d->wait_log(qr/SIGUSR1: 3 sessions open; \d+ accepted, 0 refused/), 'SIGUSR1: the counters, 3 sessions open');
my $log = $d->log_text;
my $pp = $plain->sockport;
like($log, qr/session \d+: listener=Port port=\d+ peer=127\.0\.0\.1:$pp protocol=client stage=running tls=-\/- idle=\S+ in=\d+ out=\d+ transactions=3\/3/,
     'the plain client: its peer, protocol, stage and 3 transactions each way');
my $tp = $tls->sockport;
like($log, qr/session \d+: listener=Port\.secure port=\d+ peer=127\.0\.0\.1:$tp protocol=client stage=running tls=TLS1\.3\/\S+ .*transactions=1\/1/,
     'the TLS client: its listener, TLS version and cipher, 1 transaction each way');
my $wp = $waiter->sockport;
like($log, qr/session \d+: listener=Port port=\d+ peer=127\.0\.0\.1:$wp protocol=relay stage=running/,
     'the waiting relay party');

send_frame($plain, 'after');
is((read_frame($plain))[0], 'after', 'the plain session goes on after SIGUSR1');
send_frame($tls, 'after');
is((read_frame($tls))[0], 'after', 'and the TLS one');
ok(kill(0, $d->pid), 'the daemon still runs');

close $_ for $plain, $tls, $waiter;
is($d->stop, 0, 'it stops with exit 0');
done_testing;
