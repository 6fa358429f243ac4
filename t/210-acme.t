#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Certificates by ACME against pebble (never a public CA): a TLS port
# with domains gets its certificate by http-01 through the built-in HTTP
# server of a plain port while a TLS session opened before keeps
# exchanging transactions; the issued certificate verifies against
# pebble's root (openssl s_client); acme status and acme renew on the
# control socket; ten restarts reuse the stored certificate and order
# nothing; a corrupted stored certificate is logged and ordered anew.
# pebble rejects 5 % of nonces (its default), which the client survives.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpHaproxy qw(free_port);
use NpPebble;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::SSL;
use Time::HiRes qw(time sleep);

plan skip_all => 'needs pebble (make test installs it)' unless pebble_available();

my $dir = tempdir('npsocketd-acme-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $http_port = free_port();
my $pebble = start_pebble(pki => "$dir/pki", http_port => $http_port);
my $ctl = "$dir/control.sock";
my $state = "$dir/state";
my $ini = <<"INI";
[Server]
logLevel = info
controlSocket = $ctl
[Port.web]
port = $http_port
bindAddress = 127.0.0.1
statusPath = /status
[Port.other]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL2
domains = c.test
[SSL2]
[Port.secure]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
domains = a.test, www.a.test
[SSL]
${\ $pebble->acme_section(state => $state, challenges => 'http-01', contact => 'mailto:ops@a.test') }
INI

# What a TLS client sees of the port's certificate for a name.
sub served {
    my ($port, $name) = @_;
    my ($out, $err) = run_bounded(['sh', '-c', "openssl s_client -connect 127.0.0.1:$port -servername $name "
                                   . "-CAfile " . $pebble->root . " -verify_return_error </dev/null 2>&1 | "
                                   . "openssl x509 -noout -serial -ext subjectAltName 2>/dev/null; "
                                   . "openssl s_client -connect 127.0.0.1:$port -servername $name -CAfile "
                                   . $pebble->root . " -verify_return_error </dev/null 2>&1 | grep -m1 'Verify return code'"],
                                  timeout => 30);
    return $out;
}

my $started = time;
my $d = start_daemon(ini => $ini);
my $tls_port = $d->port('Port.secure');
like($d->log_text, qr/acme: a\.test: a self-signed certificate serves until the first one is issued/,
     'with no certificate yet, a self-signed one serves');
my $early = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $tls_port, SSL_verify_mode => SSL_VERIFY_NONE,
                                 SSL_hostname => 'a.test', Timeout => 5);
ok($early, 'a TLS session opens before the issue (on the stand-in)');
syswrite($early, "\x01") if $early;
my $b = $early ? read_exact($early, 1, 5) : undef;
ok(defined $b && $b eq "\x01" && echo_ok($early, 'before'), 'and exchanges a transaction');

ok($d->wait_log(qr/acme: a\.test: serial \S+, expires \S+; new handshakes on \[SSL\] use it/, 90),
   'the certificate is issued by http-01');
my $took = time - $started;
diag(sprintf('start to first issued certificate: %.1f s', $took));
like($d->log_text, qr/acme: a\.test: answering http-01/, 'by http-01');
ok(echo_ok($early, 'after'), 'the session opened before the issue goes on');
my $seen = served($tls_port, 'www.a.test');
like($seen, qr/DNS:a\.test, DNS:www\.a\.test/, 'the port serves the issued certificate for both names');
like($seen, qr/Verify return code: 0 \(ok\)/, 'which verifies against pebble\'s root');
my ($serial) = $seen =~ /serial=([0-9A-F]+)/i;
ok(-f "$state/a.test/cert.pem" && -f "$state/a.test/key.pem" && -f "$state/account.key", 'stored in the state directory');
is(sprintf('%04o', (stat "$state/a.test/key.pem")[2] & 07777), '0600', 'the key is mode 0600');
ok($d->wait_log(qr/acme: c\.test: serial/, 90), 'c.test issued too');
my $status = control($ctl, 'acme status');
like($status, qr/^a\.test a\.test,www\.a\.test issued [0-9a-f]+ \S+ \S+ 0 - -$/m, 'acme status: names, issued, expiry, no failure');
like(control($ctl, 'show tls'), qr/^SSL \S*a\.test/m, 'show tls names the issued certificate');
ok($d->wait_log(qr/acme: c\.test: serial \S+, expires \S+; new handshakes on \[SSL2\] use it/, 90),
   'a second port with other names gets its own certificate');
like(served($d->port('Port.other'), 'c.test'), qr/DNS:c\.test\n(?s:.*)Verify return code: 0 \(ok\)/,
     'which that port serves, verified');
my $orders = $pebble->orders;
ok($orders >= 2, "pebble saw $orders orders");
my %m;
my @problems = prometheus_problems(control($ctl, 'show metrics'), \%m);
is_deeply(\@problems, [], 'show metrics is valid Prometheus text');
ok(($m{'npsocketd_acme_renewal_timestamp_seconds{name="a.test",source="issued"}'} // 0) > time,
   'the metrics say when a.test is due for renewal');
is($m{'npsocketd_acme_failures{name="a.test"}'}, 0, 'and that no order of it failed');
my ($json) = run_bounded(['curl', '-sS', '-H', 'Accept: application/json', "http://127.0.0.1:$http_port/status"], timeout => 20);
like($json // '', qr/"acme":\{"used":true,"certificates":\[.*\{"name":"a\.test","names":"a\.test,www\.a\.test","source":"issued",/,
     'the status page (JSON) shows the ACME state');

# acme renew: a new certificate now.
like(control($ctl, 'acme renew a.test'), qr/^ok: 1 certificate to order now/, 'acme renew a.test');
my $n = () = $d->log_text =~ /new handshakes on \[SSL\] use it/g;
ok(wait_for(sub { my $m = () = $d->log_text =~ /new handshakes on \[SSL\] use it/g; $m > $n }, 90), 'a second certificate is issued');
my ($serial2) = served($tls_port, 'a.test') =~ /serial=([0-9A-F]+)/i;
ok($serial && $serial2 && $serial ne $serial2, 'and served (a new serial)');
like(control($ctl, 'acme renew nobody.test'), qr/^error: no managed certificate names nobody\.test/, 'acme renew of a name not managed: an error');
ok(echo_ok($early, 'still'), 'the early session still goes on');
kill 'HUP', $d->pid;
ok($d->wait_log(qr/reload: \S+ in force: 3 ports/), 'a reload');
my ($serial3) = served($tls_port, 'a.test') =~ /serial=([0-9A-F]+)/i;
is($serial3, $serial2, 'keeps serving the issued certificate');
$early->close(SSL_no_shutdown => 1);
is($d->stop, 0, 'npsocketd stops cleanly');

# A restart: the stored certificate serves, nothing is ordered.
$orders = $pebble->orders;
for my $round (1 .. 10) {
    my $again = start_daemon(ini => $ini);
    ok($again->wait_log(qr/acme: a\.test: serving the stored certificate \(serial/) &&
       $again->wait_log(qr/acme: c\.test: serving the stored certificate \(serial/), "restart $round: the stored certificates serve");
    like(served($again->port('Port.secure'), 'a.test'), qr/Verify return code: 0 \(ok\)/, "restart $round: and verifies")
        if $round == 1 || $round == 10;
    $again->stop;
}
is($pebble->orders, $orders, 'ten restarts order nothing');

# A corrupted stored certificate: logged, and a new order.
open my $fh, '>', "$state/a.test/cert.pem" or die $!;
print $fh "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n";
close $fh;
my $fixed = start_daemon(ini => $ini);
ok($fixed->wait_log(qr/acme: a\.test: the stored certificate in \S+ is not used \(certificate: /), 'a corrupted cert.pem is logged');
ok($fixed->wait_log(qr/new handshakes on \[SSL\] use it/, 90), 'and a new one is issued');
is($fixed->stop, 0, 'npsocketd stops cleanly');

# -t: a state directory that cannot be created is an error.
{
    (my $bad = NpTest::slurp($fixed->config)) =~ s/stateDirectory = \S+/stateDirectory = \/nonexistent\/deeper\/acme/;
    open my $fh, '>', "$dir/bad-state.ini" or die $!;
    print $fh $bad;
    close $fh;
    my (undef, $e, $c) = run_bounded(['build/npsocketd', '-t', '-c', "$dir/bad-state.ini"], timeout => 30);
    is($c, 78, '-t: a stateDirectory whose parent is missing is refused');
    like($e, qr/\[ACME\] stateDirectory \/nonexistent\/deeper\/acme cannot be created: \/nonexistent\/deeper: No such file/,
         'and says why');
}
# -t prints the state of each managed certificate.
my (undef, $err, $code) = run_bounded(['build/npsocketd', '-t', '-c', $fixed->config], timeout => 30);
is($code, 0, '-t on the ACME configuration');
like($err, qr/\[SSL\] a\.test: issued certificate, serial [0-9a-f]+, expires \S+, renewal due \S+/, '-t says what is stored');
done_testing();
