#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# A real browser: Debian's chromium, headless, loads etc/www from
# npsocketd over HTTPS on the TLS port (its profile trusting the test
# CA), and the page's script runs a NetPhantom session of 100
# transactions over a WebSocket to the same port; the result is read
# from the DOM over the DevTools protocol (t/lib/browser.py), and a
# screenshot is kept in build/test-output/.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Cwd qw(getcwd);
use File::Path qw(make_path);
use File::Temp qw(tempdir);

sub have { `sh -c 'command -v $_[0]'` ne '' }
plan skip_all => 'chromium is not installed' unless have('chromium');
plan skip_all => 'certutil (libnss3-tools) is not installed' unless have('certutil');
plan skip_all => 'python3-websockets is not installed' unless system('/usr/bin/python3', '-c', 'import websockets') == 0;

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');
my $www = getcwd() . '/etc/www';
my $d = start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
webRoot = $www
compressionThreshold = 1K
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI
make_path('build/test-output');
my $shot = 'build/test-output/180-browser.png';
unlink $shot;
my $url = 'https://localhost:' . $d->port . '/?auto=100';
my ($out, $err, $rc) = run_bounded(['/usr/bin/python3', 't/lib/browser.py', $url, "$pki/ca.pem", $shot, 60], timeout => 120);
is($out, "OK 100 transactions\n", 'chromium: the page ran 100 transactions over wss:// and found every echo whole') or diag($err);
ok(-s $shot, "a screenshot of the page is kept: $shot");
ok($d->wait_log(qr/protocol=web transport=tcp tls=TLS1\.3\/\S+ sni=localhost .*reason="closed by peer after \d+ requests?"/),
   'the page came over HTTPS (TLS 1.3, SNI localhost)');
ok($d->wait_log(qr/protocol=client transport=ws tls=TLS1\.3\/\S+ .*transactions=100\/100/),
   'and its session over the WebSocket: 100 transactions each way');
is($d->stop, 0, 'the daemon stops cleanly');
done_testing;
