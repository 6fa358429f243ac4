#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# A CA that misbehaves (t/lib/NpFakeCa.pm): a 500, a directory that is
# not JSON, one of 10 MiB, a redirect to another host, a certificate of
# another key, one for other names, an expired one, an order that stays
# pending, a directory never answered.  Each is a log line naming the cause, a retry later with
# back-off, and the certificate in force (the section's certFile) still
# served; then the CA behaves and its certificate is installed.  A stop
# while a request hangs abandons it.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpFakeCa;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(time);

my $dir = tempdir('npsocketd-badca-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $pki = "$dir/pki";
my $ca = start_fake_ca(pki => $pki, mode => 'status500');
my $ctl = "$dir/control.sock";
my $d = start_daemon(ini => <<"INI");
[Server]
controlSocket = $ctl
[Port]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
domains = a.test
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
[ACME]
directory = ${\ $ca->directory }
caFile = $pki/ca.pem
agreeTermsOfService = true
stateDirectory = $dir/state
challenges = http-01
INI
my ($configured) = run_bounded(['sh', '-c', "openssl x509 -in $pki/server.pem -noout -serial"]);

# The serial a handshake for localhost gets, verified against the test CA.
sub served_serial {
    my ($out) = run_bounded(['sh', '-c', "openssl s_client -connect 127.0.0.1:" . $d->port . " -servername localhost"
                             . " -CAfile $pki/ca.pem -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial"],
                            timeout => 30);
    return $out // '';
}
my $failures = 0;
sub failure_is {
    my ($what, $cause, $timeout) = @_;
    $failures++;
    my $line = $d->wait_log(qr/(acme: a\.test: no certificate this time \(failure $failures\): [^\n]*)/, $timeout // 45);
    like($line // '', $cause, "$what: the log names the cause");
    like($line // '', qr/next try in (\d+)s; the certificate in force stays/, "$what: a retry later");
    my ($wait) = ($line // '') =~ /next try in (\d+)s/;
    ok(($wait // 0) >= 50, "$what: not before a minute or so (back-off: ${\ ($wait // '?') } s)");
    is(served_serial(), $configured, "$what: the configured certificate is still served");
}
sub next_mode {
    my ($mode) = @_;
    $ca->mode($mode);
    like(control($ctl, 'acme renew'), qr/^ok: 1 certificate to order now/, "acme renew with the CA in mode $mode");
}

failure_is('a 500 from the directory', qr/directory: HTTP 500, serverInternal: the fake CA is down/);
next_mode('invalid-json');
failure_is('a directory that is not JSON', qr/directory https:\S+: not JSON/);
next_mode('huge');
failure_is('a 10 MiB directory', qr/the answer is longer than 1 MiB/);
next_mode('redirect');
failure_is('a redirect to another host', qr/directory: HTTP 301 from the CA/);
next_mode('other-key');
failure_is('a certificate of another key', qr/the CA's certificate is refused: the certificate is not for this key/);
next_mode('other-names');
failure_is('a certificate for other names', qr/the CA's certificate is refused: the certificate does not cover a\.test/);
next_mode('expired');
failure_is('an expired certificate', qr/the CA's certificate is refused: the certificate is not valid now/);
like(control($ctl, 'acme status'), qr/^a\.test a\.test configured - - - 7 \S+ \S*not_valid_now/m,
     'acme status: still the configured certificate, 7 failures, the last error');
next_mode('pending');
failure_is('an order that stays pending', qr/the order stays pending/, 90);
next_mode('silent');
failure_is('a directory never answered', qr/GET https:\S+: .*[Tt]imed? ?out/, 60);
next_mode('ok');
ok($d->wait_log(qr/acme: a\.test: serial \S+, expires \S+; new handshakes on \[SSL\] use it/, 60),
   'once the CA behaves, its certificate is installed');
isnt(served_serial(), $configured, 'and served');
like(control($ctl, 'acme status'), qr/^a\.test a\.test issued [0-9a-f]+ \S+ \S+ 0 /m, 'acme status: issued, no failure');

# A stop while a request to the CA hangs abandons it (not 30 s later).
my $asked = () = $ca->requests =~ /\(silent\)$/mg;
next_mode('silent');
ok(wait_for(sub { my $n = () = $ca->requests =~ /\(silent\)$/mg; $n > $asked }, 20), 'a request to the silent CA is in flight');
my $t0 = time;
is($d->stop, 0, 'npsocketd stops cleanly');
my $took = time - $t0;
ok($took < 15, sprintf('without waiting for the CA (%.1f s)', $took));
like($d->log_text, qr/abandoned: the daemon stops/, 'the request is abandoned, saying why');
done_testing();
