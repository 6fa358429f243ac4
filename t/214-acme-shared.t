#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Two instances sharing one stateDirectory behind one address (both
# ports with loadBalance, so the kernel spreads connections, the CA's
# validator's among them): one of them orders, under the lock; the other
# picks the stored result up; both serve the same certificate, and
# pebble sees one order.  The http-01 answer is in the shared directory,
# so whichever instance the validator reaches answers it.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpHaproxy qw(free_port);
use NpPebble;
use Test::More;
use File::Temp qw(tempdir);

plan skip_all => 'needs pebble (make test installs it)' unless pebble_available();

my $dir = tempdir('npsocketd-shared-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my ($http_port, $tls_port) = (free_port(), free_port());
my $pebble = start_pebble(pki => "$dir/pki", http_port => $http_port);
sub ini {
    my ($n) = @_;
    return <<"INI";
[Server]
logLevel = info
controlSocket = $dir/control$n.sock
[Port.web]
port = $http_port
bindAddress = 127.0.0.1
loadBalance = true
[Port.secure]
port = $tls_port
bindAddress = 127.0.0.1
loadBalance = true
sslSection = SSL
domains = shared.test
[SSL]
${\ $pebble->acme_section(state => "$dir/state", challenges => 'http-01') }
INI
}
my $one = start_daemon(ini => ini(1));
my $two = start_daemon(ini => ini(2));
my $issued = qr/acme: shared\.test: serial \S+, expires \S+; new handshakes on \[SSL\] use it/;
my $picked = qr/acme: shared\.test: picked up the certificate stored in \S+ \(serial/;
ok(wait_for(sub { ($one->log_text =~ $issued || $one->log_text =~ $picked)
                  && ($two->log_text =~ $issued || $two->log_text =~ $picked) }, 120),
   'both instances serve a certificate for shared.test');
my $ordered = grep { $_->log_text =~ /acme: shared\.test: ordering a certificate/ } $one, $two;
is($ordered, 1, 'one instance ordered');
is($pebble->orders, 1, 'pebble saw one order');
my @serials = map { control("$dir/control$_.sock", 'acme status') =~ /^shared\.test shared\.test (?:issued|stored) ([0-9a-f]+) /m ? $1 : '' } 1, 2;
ok($serials[0] && $serials[0] eq $serials[1], "the same serial on both ($serials[0])");
ok(!-e "$dir/state/shared.test/order.lock", 'the order lock is gone');
my @left = glob("$dir/state/http-01/*");
is(scalar(@left), 0, 'no http-01 answer is left in the shared directory');
is($one->stop, 0, 'the first stops cleanly');
is($two->stop, 0, 'the second stops cleanly');
done_testing();
