#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# statusPath and metricsPath: the status page as HTML (for a person) and
# JSON (Accept: application/json), the metrics as Prometheus text checked
# by a strict reader of the format, both counting what the registry
# counts (sessions by listener, protocol and transport, connections,
# bytes and transactions, certificates and their expiry), and both only
# for statusAllow's addresses.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP qw(decode_json);

plan skip_all => 'curl is not installed' unless `sh -c 'command -v curl'` ne '';
my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
statusPath = /status
metricsPath = /metrics
[Port.secure]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[Port.closed]
port = 0
bindAddress = 127.0.0.1
queueLength = 10
statusPath = /status
metricsPath = /metrics
statusAllow = 10.0.0.0/8
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI
my $base = 'http://127.0.0.1:' . $d->port('Port');
sub get {
    my ($url, @h) = @_;
    my ($out, $err) = run_bounded(['curl', '-s', '--max-time', '10', '-w', '\n%{http_code}', (map { ('-H', $_) } @h), $url],
                                  timeout => 20);
    my ($body, $code) = $out =~ /\A(.*)\n(\d+)\z/s;
    return ($code // 0, $body // '');
}

# Some live sessions: two clients with transactions done, one over TLS.
my @plain = map { scalar np_connect($d, byte => 1) } 1 .. 2;
for my $s (@plain) { send_frame($s, 'x' x 100); read_frame($s) }
my ($code, $body) = get("$base/metrics");
is($code, 200, 'metricsPath: 200');
my %m;
my @problems = prometheus_problems($body, \%m);
is_deeply(\@problems, [], 'the metrics are valid Prometheus text (a strict reader)') or diag($body);
is($m{'npsocketd_sessions{listener="Port",protocol="client",transport="tcp"}'}, 2, 'two client sessions open on [Port]');
ok($m{'npsocketd_connections_accepted_total'} >= 3, 'connections accepted counted');
my @refused = grep { /^npsocketd_connections_refused_total\{reason="\w+"\}$/ } keys %m;
ok(@refused >= 6, 'refusals counted by reason (' . scalar(@refused) . ' reasons)');
is((grep { $m{$_} != 0 } @refused), 0, 'none refused');
ok($m{'npsocketd_received_transactions_total'} >= 2 && $m{'npsocketd_sent_transactions_total'} >= 2,
   'transactions each way');
ok($m{'npsocketd_received_bytes_total'} >= 208, 'bytes received, live sessions included');
my ($expiry) = grep { /^npsocketd_certificate_expiry_timestamp_seconds\{section="SSL",subject="CN=localhost"\}$/ } keys %m;
ok($expiry && $m{$expiry} > time, 'the certificate [SSL] serves, with its expiry in the future');
like($body, qr/^npsocketd_listener_sessions\{listener="Port.secure",port="\d+",tls="true"\} 0$/m, 'every listener, TLS or not');
my ($somaxconn) = NpTest::slurp('/proc/sys/net/core/somaxconn') =~ /(\d+)/;
my $default = $somaxconn && $somaxconn < 4096 ? $somaxconn : 4096;
my $p = $d->port('Port');
is($m{qq(npsocketd_listen_queue_max{listener="Port",port="$p"})}, $default,
   "each listener's accept queue: queueLength's default 4096 (cut to somaxconn $somaxconn)");
my $pc = $d->port('Port.closed');
is($m{qq(npsocketd_listen_queue_max{listener="Port.closed",port="$pc"})}, 10, 'queueLength = 10: 10');
is($m{qq(npsocketd_listen_queue{listener="Port",port="$p"})}, 0, 'nobody waiting in it');
ok(defined $m{npsocketd_host_listen_overflows_total}, 'the host\'s listen overflows (TcpExt ListenOverflows)');
ok($m{npsocketd_start_time_seconds} <= time && $m{npsocketd_start_time_seconds} > time - 600, 'the start time');

($code, $body) = get("$base/status", 'Accept: application/json');
my $j = eval { decode_json($body) };
ok($j, 'statusPath with Accept: application/json: JSON') or diag($body);
is($j->{sessions}{open}, 3, 'JSON: 3 sessions open (two clients and this request)');
is(scalar(@{ $j->{listeners} }), 3, 'JSON: the 3 listeners');
my ($secure) = grep { $_->{name} eq 'Port.secure' } @{ $j->{listeners} };
ok($secure && $secure->{tls}, 'JSON: [Port.secure] is TLS');
is($j->{certificates}[0]{subject}, 'CN=localhost', 'JSON: the certificate and its subject');
like($j->{certificates}[0]{expires}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'JSON: its expiry as a date');
($code, $body) = get("$base/status");
ok($code == 200 && $body =~ /<h1>npsocketd<\/h1>/ && $body =~ /Port\.secure/ && $body =~ /CN=localhost/,
   'statusPath for a browser: HTML with the listeners and the certificate');
($code) = get('http://127.0.0.1:' . $d->port('Port.closed') . '/metrics');
is($code, 403, 'from an address outside statusAllow: 403');
($code) = get('http://127.0.0.1:' . $d->port('Port.closed') . '/status');
is($code, 403, 'the status page too');
($code) = get("$base/elsewhere");
is($code, 404, 'other paths: 404 as before');
close $_ for @plain;
is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
