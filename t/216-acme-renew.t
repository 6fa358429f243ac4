#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Renewal by the clock: with renewBefore set so that a certificate of
# pebble's (five years) is due about 24 seconds after it is issued, the
# worker orders the next one by itself and swaps it in, while a TLS
# session opened on the first goes on; acme status shows the new serial.
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

my $dir = tempdir('npsocketd-renew-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $http_port = free_port();
my $pebble = start_pebble(pki => "$dir/pki", http_port => $http_port);
my $ctl = "$dir/control.sock";
my $d = start_daemon(ini => <<"INI");
[Server]
controlSocket = $ctl
[Port.web]
port = $http_port
bindAddress = 127.0.0.1
[Port.secure]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
domains = renew.test
[SSL]
${\ $pebble->acme_section(state => "$dir/state", challenges => 'http-01', renewBefore => '0.99999985') }
INI
my $issued = qr/acme: renew\.test: serial (\S+), expires \S+; new handshakes on \[SSL\] use it/;
my $first = $d->wait_log($issued, 90);
ok($first, "the first certificate ($first)");
my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.secure'), SSL_ca_file => $pebble->root,
                             SSL_hostname => 'renew.test', Timeout => 5);
ok($s, 'a TLS session on it, verified against pebble\'s root');
syswrite($s, "\x01") if $s;
my $b = $s ? read_exact($s, 1, 5) : undef;
ok(defined $b && $b eq "\x01" && echo_ok($s, 'one'), 'exchanging transactions');
like(control($ctl, 'acme status'), qr/^renew\.test renew\.test issued $first \S+ \S+ 0 /m, 'acme status: the first serial');
my $second;
ok(wait_for(sub { my @all = $d->log_text =~ /$issued/g; $second = $all[1]; defined $second }, 120),
   'renewal when due: a second certificate, ordered by the worker itself');
isnt($second // '', $first, "with a new serial ($second)");
like(control($ctl, 'acme status'), qr/^renew\.test renew\.test issued \Q$second\E /m, 'acme status: the new serial');
ok(echo_ok($s, 'two'), 'the session opened on the first certificate goes on');
my ($seen) = run_bounded(['sh', '-c', "openssl s_client -connect 127.0.0.1:" . $d->port('Port.secure')
                          . " -servername renew.test -CAfile " . $pebble->root . " -verify_return_error </dev/null 2>/dev/null"
                          . " | openssl x509 -noout -serial"], timeout => 30);
like(lc($seen // ''), qr/^serial=0*\Q$second\E$/m, 'a new handshake gets the renewed one');
$s->close(SSL_no_shutdown => 1) if $s;
is($d->stop, 0, 'npsocketd stops cleanly');
done_testing();
