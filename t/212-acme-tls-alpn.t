#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# ACME by tls-alpn-01 (RFC 8737) alone, on the TLS port itself, with no
# HTTP port at all: pebble's validator connects with ALPN acme-tls/1 and
# gets the challenge certificate, while other clients' handshakes on the
# port are served as usual; a handshake with acme-tls/1 for a name with
# no challenge pending is refused.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpHaproxy qw(free_port);
use NpPebble;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::SSL;

plan skip_all => 'needs pebble (make test installs it)' unless pebble_available();

my $dir = tempdir('npsocketd-alpn-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $tls_port = free_port();
my $pebble = start_pebble(pki => "$dir/pki", tls_port => $tls_port);
my $d = start_daemon(ini => <<"INI");
[Server]
logLevel = info
[Port]
port = $tls_port
bindAddress = 127.0.0.1
sslSection = SSL
domains = b.test
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
${\ $pebble->acme_section(state => "$dir/state", challenges => 'tls-alpn-01') }
INI
my $before = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $tls_port, SSL_ca_file => "$dir/pki/ca.pem",
                                  SSL_hostname => 'localhost', Timeout => 5);
ok($before, 'until the issue, the configured certificate serves (verified against the test CA)');
syswrite($before, "\x01") if $before;
my $b = $before ? read_exact($before, 1, 5) : undef;
ok(defined $b && $b eq "\x01", 'a session on it');
ok($d->wait_log(qr/acme: b\.test: serial \S+, expires \S+; new handshakes on \[SSL\] use it/, 90),
   'the certificate is issued by tls-alpn-01');
like($d->log_text, qr/acme: b\.test: answering tls-alpn-01/, 'by tls-alpn-01');
like($d->log_text, qr/reason="tls-alpn-01 challenge answered"/, 'the validator\'s connection ended after its handshake');
ok(echo_ok($before, 'during and after'), 'the session opened before goes on');
my ($out) = run_bounded(['sh', '-c', "openssl s_client -connect 127.0.0.1:$tls_port -servername b.test -CAfile "
                         . $pebble->root . " -verify_return_error </dev/null 2>&1 | grep -m1 'Verify return code'"],
                        timeout => 30);
like($out, qr/Verify return code: 0 \(ok\)/, 'the port now serves the issued certificate');
my ($alpn) = run_bounded(['sh', '-c', "openssl s_client -connect 127.0.0.1:$tls_port -servername b.test -alpn acme-tls/1 "
                          . "</dev/null 2>&1 | grep -c 'BEGIN CERTIFICATE'"], timeout => 30);
chomp $alpn;
is($alpn, '0', 'acme-tls/1 for a name with no challenge pending: no certificate (refused)');
$before->close(SSL_no_shutdown => 1);
is($d->stop, 0, 'npsocketd stops cleanly');
done_testing();
