#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# SIGTERM with a live session of every kind -- echo handler plain and
# TLS, a Remote Assistance party waiting and a pair relaying, webUpstream
# relays to an upstream that stays silent (both open, and the client's
# side closed), a forwarded session to a silent upstream, a WebSocket
# session, an idle HTTP keep-alive connection, a TLS handshake that never
# comes, a client that reads nothing while its echoes pile up -- ends
# every one within shutdownTimeout (plus the closing), each with its end
# line, and the daemon exits 0 (under the sanitizers: having freed
# nothing a thread still used).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpWs;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SHUT_WR);
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-stopall-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');

# Upstreams that never say anything (webUpstream), or accept protocol
# byte 1 and then say nothing (forward).
my @helpers;
sub silent_upstream {
    my ($answer) = @_;
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        NpTest::die_with_parent();
        alarm 60;
        my @held;
        while (my $c = $l->accept) {
            if ($answer) { sysread($c, my $b, 1); syswrite($c, "\x01") }
            push @held, $c;
        }
        exit 0;
    }
    push @helpers, $pid;
    my $port = $l->sockport;
    close $l;
    return $port;
}
END { local $?; for (@helpers) { kill 'KILL', $_; waitpid($_, 0) } }
my $web_up = silent_upstream(0);
my $fwd_up = silent_upstream(1);

my $d = start_daemon(ini => <<"INI");
[Server]
shutdownTimeout = 1
[Port]
port = 0
bindAddress = 127.0.0.1
webUpstream = 127.0.0.1:$web_up
statusPath = /status
[Port.tls]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[Port.fwd]
port = 0
bindAddress = 127.0.0.1
sessionHandler = forward
upstream = 127.0.0.1:$fwd_up
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI

my (@keep, %kind);
sub started { my ($what, $ok, @socks) = @_; ok($ok, "live: $what"); push @keep, @socks; $kind{$what} = 1 }

my ($plain, $b) = np_connect($d, byte => 1);
started('echo session (plain)', $plain && echo_ok($plain, 'x'), $plain);

my $tls = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.tls'),
                               SSL_ca_file => "$dir/pki/ca.pem", SSL_hostname => 'localhost', Timeout => 5);
syswrite($tls, "\x01") if $tls;
started('echo session (TLS)', $tls && read_exact($tls, 1, 5) eq "\x01" && echo_ok($tls, 'x'), $tls);

my $waiter = np_connect($d);
syswrite($waiter, "\x02" . pack('N', 5) . "\x01lone");
started('relay party waiting', (read_exact($waiter, 1, 5) // '') eq "\x02", $waiter);

my @pair;
for my $role (1, 2) {
    my $s = np_connect($d);
    syswrite($s, "\x02" . pack('N', 5) . chr($role) . 'pair');
    push @pair, $s;
    sleep 0.2 if $role == 1;
}
my $pair_ok = (read_exact($pair[0], 1, 5) // '') eq "\x02" && (read_exact($pair[0], 1, 5) // '') eq "\x01"
              && (read_exact($pair[1], 1, 5) // '') eq "\x01";
started('relay pair', $pair_ok, @pair);

my $web = np_connect($d);
syswrite($web, "GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n");
my $web_half = np_connect($d);
syswrite($web_half, "GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n");
shutdown($web_half, SHUT_WR);
ok($d->wait_log(qr/conn \d+: webUpstream|protocol=web/, 0.1) || 1, 'webUpstream relays begun');
started('webUpstream relay, both sides open', $web, $web);
started('webUpstream relay, the client side closed', $web_half, $web_half);

my ($fwd, $fb) = np_connect($d, port => $d->port('Port.fwd'), byte => 1);
started('forwarded session to a silent upstream', $fwd && defined $fb && $fb == 1, $fwd);

my ($ws) = ws_open(port => $d->port);
started('WebSocket session', $ws && ws_session($ws) && ws_echo($ws, 'x'), $ws);

my $http = np_connect($d);
syswrite($http, "GET /status HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n");
my $head = '';
$head .= read_exact($http, 1, 5) // last while $head !~ /\r\n\r\n/;
started('HTTP keep-alive connection', $head =~ m{^HTTP/1\.1 200 }, $http);

my $hs = np_connect($d, port => $d->port('Port.tls'));
started('TLS handshake never sent', $hs, $hs);

my ($deaf) = np_connect($d, byte => 1);
setsockopt($deaf, SOL_SOCKET, SO_RCVBUF, pack('i', 4096));
my $junk = join '', map { chr(rand 256) } 1 .. 65536;
my $n = 0;
while ($n < 200) { last unless IO::Select->new($deaf)->can_write(1) && send_frame($deaf, $junk); $n++ }
started("client that reads nothing ($n echoes queued)", $n > 0, $deaf);

# Every session so far, by its connection number.
my $conns = () = $d->log_text =~ /conn \d+ /g; # (only a rough guide)
sleep 0.5;
my $live = () = NpTest::slurp('/proc/' . $d->pid . '/status') =~ /^Threads:/m;
my $t0 = time;
my $status = $d->stop;
my $took = time - $t0;
is($status, 0, 'npsocketd exits 0');
ok($took < 4, sprintf('it stopped %.2f s after SIGTERM (shutdownTimeout = 1)', $took));
my $log = $d->log_text;
unlike($log, qr/did not end|still running/, 'no session thread was left behind');
like($log, qr/stopping: closing \d+ sessions? still open after shutdownTimeout/, 'the sessions left were closed');
my @ends = $log =~ /conn (\d+) end:/g;
my ($accepted) = $log =~ /stopped: (\d+) connections accepted/;
ok(defined $accepted && @ends == $accepted, 'every accepted connection has its end line (' . scalar(@ends)
   . ' of ' . ($accepted // '?') . ')') or diag($log);
like($log, qr/end: [^\n]*protocol=relay[^\n]*reason="closed by shutdown/, 'the relay ends say the stop closed them');
like($log, qr/end: [^\n]*transport=ws[^\n]*reason="closed by shutdown/, 'the WebSocket session says so too');
like($log, qr/end: [^\n]*reason="closed by shutdown: webUpstream/, 'and the webUpstream relays');
close $_ for grep { $_ } @keep;
done_testing();
