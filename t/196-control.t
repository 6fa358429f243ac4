#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The control socket (controlSocket): its commands against a live daemon
# (show info, show sessions, kill session, drain/ready, help), and bad
# input that gets an error line or a close and touches no session:
# unknown, binary, over 4096 bytes, a kill of no session, 100 clients at
# once, a client that never ends its line, one that leaves mid-answer.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Socket::UNIX;
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-ctl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $path = "$dir/control.sock";
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $d = start_daemon(ini => <<"INI");
[Server]
logLevel = info
controlSocket = $path
[Port]
port = 0
bindAddress = 127.0.0.1
[Port.tls]
port = 0
bindAddress = 127.0.0.1
sslSection = SSL
[SSL]
certFile = $dir/pki/server.pem
keyFile = $dir/pki/server.key
INI

sub ask {
    my ($cmd, $s) = @_;
    my $own = !$s;
    $s //= IO::Socket::UNIX->new(Peer => $path) or return undef;
    print $s $cmd;
    my ($out, $sel, $until) = ('', IO::Select->new($s), time + 5);
    while ($out !~ /\n\n\z/ && time < $until && $sel->can_read($until - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $out .= $buf;
    }
    close $s if $own;
    return $out;
}

my @mode = (stat $path)[2];
is(sprintf('%04o', $mode[0] & 07777), '0600', 'the control socket is mode 0600');
my ($s1) = np_connect($d, byte => 1);
my ($s2) = np_connect($d, byte => 1);
ok(echo_ok($s1, 'one') && echo_ok($s2, 'two'), 'two live sessions');

like(ask("help\n"), qr/^show sessions .*\n(.*\n)*kill address ADDR/m, 'help lists the commands');
my $info = ask("show info\n");
like($info, qr/^pid: ${\ $d->pid }\n.*^sessions: 2\n.*^state: ready\n/ms, 'show info: pid, 2 sessions, ready');
my $list = ask("show sessions\n");
my @rows = grep { !/^#/ && /\S/ } split /\n/, $list;
is(scalar(@rows), 2, 'show sessions: a line per live session');
my $p1 = $s1->sockport;
my ($id1) = map { /^(\d+) / ? $1 : () } grep { /127\.0\.0\.1:$p1 / } @rows;
like((grep { /127\.0\.0\.1:$p1 / } @rows)[0] // '', qr/^\d+ Port \d+ client tcp running 127\.0\.0\.1:$p1 - \d+ \d+ 8 8 1 1 - - - -$/,
     'with id, listener, port, protocol, transport, stage, peer, via, start, idle, bytes and transactions');
is(ask("kill session $id1\n"), "ok: session $id1 closed\n\n", 'kill session ID');
ok(wait_eof($s1, 5), 'its client sees the connection close');
ok($d->wait_log(qr/conn $id1 end: .*reason="killed by control: /, 5), 'its end line says killed by control');
ok(echo_ok($s2, 'still'), 'the other session goes on');

# kill address: every session of a client, none of another.
{
    my @by = map { (np_connect($d, byte => 1))[0] } 1 .. 3;
    is(ask("kill address 127.0.0.2\n"), "ok: 0 sessions closed\n\n", 'kill address of a client with no session: 0');
    is(ask("kill address 127.0.0.0/8\n"), "ok: 4 sessions closed\n\n", 'kill address 127.0.0.0/8: its 4 sessions');
    is(scalar(grep { wait_eof($_, 5) } @by, $s2), 4, 'each of them sees its connection close');
    is(ask("kill address 300.1.2.3\n"), "error: not an address or CIDR range: 300.1.2.3\n\n", 'a bad range: an error');
    ($s2) = np_connect($d, byte => 1);
}
my $metrics = ask("show metrics\n");
$metrics =~ s/\n\z//;
my %samples;
is_deeply([prometheus_problems($metrics, \%samples)], [], 'show metrics: valid Prometheus text');
ok(exists $samples{'npsocketd_connections_accepted_total'}, 'with the accepted counter');
{
    my $t = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.tls'),
                                 SSL_ca_file => "$dir/pki/ca.pem", SSL_verifycn_name => 'localhost',
                                 SSL_hostname => 'localhost', Timeout => 5);
    ok($t, 'a TLS session');
    syswrite($t, "\x01") if $t;
    read_exact($t, 1, 5) if $t;
    my $p = $t ? $t->sockport : 0;
    like(ask("show sessions\n"), qr/^\d+ Port\.tls \d+ client tcp running 127\.0\.0\.1:$p - \d+ \d+ \d+ \d+ 0 0 TLS1\.3 \S+ localhost -$/m,
         'show sessions: its TLS version, cipher and SNI (no client certificate: -)');
    IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.tls'), SSL_ca_file => "$dir/pki/rogue.pem",
                         Timeout => 5);  # refused by the client: a failed handshake
    ok(wait_for(sub { ask("show metrics\n") =~ /^npsocketd_tls_handshakes_total\{result="failed"\} [1-9]/m }, 5),
       'show metrics counts the failed handshake');
    like(ask("show metrics\n"), qr/^npsocketd_tls_handshakes_total\{result="ok"\} [1-9]/m, 'and the good one');
    close $t if $t;
}
like(ask("show tls\n"), qr/^# section subject not_after days_left\nSSL CN=localhost \d{4}-\d\d-\d\dT\S+Z 36[45]\n\n\z/,
     'show tls: the section, its certificate\'s subject, expiry and days left');
is(ask("kill session 999\n"), "error: no session 999\n\n", 'kill of a session that does not exist: an error');
is(ask("kill session -1\n"), "error: no session -1\n\n", 'a negative id: an error');
is(ask("bogus\n"), "error: unknown command (try help)\n\n", 'unknown command');
is(ask("show info extra\n"), "error: this command takes no arguments\n\n", 'extra arguments');
is(ask("\x00\x01\xff\n"), "error: not a text command\n\n", 'binary');
is(ask("\n"), "error: empty command\n\n", 'an empty line');
is(ask("help\r\n"), ask("help\n"), 'CRLF is taken like LF');
is(ask(('x' x 5000) . "\n"), "error: command longer than 4096 bytes\n\n", 'a line over 4096 bytes: an error, then closed');
{
    my $s = IO::Socket::UNIX->new(Peer => $path);
    is(ask("drain\nshow info\n", $s) =~ /^ok: draining\n\n/ ? 'ok' : 'no', 'ok', 'two commands on one connection');
    close $s;
}
like(ask("show info\n"), qr/^state: draining$/m, 'drain: state draining');
is(ask("ready\n"), "ok: ready\n\n", 'ready');

# 100 clients at once: 16 served, the rest told so; sessions untouched.
my @many = grep { defined } map { IO::Socket::UNIX->new(Peer => $path) } 1 .. 100;
is(scalar(@many), 100, '100 control clients connected at once');
# The 16 served wait for a command; each of the others gets its answer
# (waited for up to 5 s, bounded) without sending anything.
my ($busy, $until) = (0, time + 5);
my $pending = IO::Select->new(@many);
while ($pending->count && (my @ready = $pending->can_read($until - time))) {
    for my $c (@ready) {
        my $n = sysread($c, my $buf, 1000);
        $busy++ if $n && $buf eq "error: too many control clients\n\n";
        $pending->remove($c);
    }
    last if time >= $until || $busy >= 100 - 16;
}
is($busy, 100 - 16, 'beyond 16 each is answered "too many control clients" and closed');
ok(echo_ok($s2, 'during'), 'the live session goes on meanwhile');
close $_ for @many;
ok(wait_for(sub { ask("show info\n") =~ /^pid:/ }, 5), 'once they left, commands are answered again');

# A client that never ends its line is closed after 10 s; one that
# leaves mid-answer costs nothing.
my $silent = IO::Socket::UNIX->new(Peer => $path);
print $silent "show sess";
my $t0 = time;
ok(wait_eof($silent, 15), 'a client that never sends a newline is closed');
my $took = time - $t0;
ok($took >= 9.5, sprintf('not before its 10 s (%.1f s)', $took));
for (1 .. 20) {
    my $c = IO::Socket::UNIX->new(Peer => $path);
    print $c "help\nshow sessions\nshow info\n";
    close $c;
}
ok(echo_ok($s2, 'after'), 'clients that left mid-answer: the session goes on');
ok(wait_for(sub { ask("show info\n") =~ /^sessions: 1$/m }, 10), 'and the daemon answers (once their threads are done: at most 16 at a time)');

is($d->stop, 0, 'the daemon stops cleanly');
ok(!-e $path, 'and removes its control socket');

# Refusals counted by reason, logged once a second per reason with the
# count of those held back.
{
    my $path2 = "$dir/limits.sock";
    my $l = start_daemon(ini => <<"INI");
[Server]
controlSocket = $path2
maxConnections = 1
[Port]
port = 0
bindAddress = 127.0.0.1
deny = 127.0.0.9
INI
    my ($held) = np_connect($l, byte => 1);
    my @over = map { IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $l->port, Timeout => 5) } 1 .. 5;
    my @denied = map { IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $l->port, LocalHost => '127.0.0.9',
                                           Timeout => 5) } 1 .. 3;
    ok(wait_for(sub { control($path2, 'show metrics') =~ /max_connections"\} 5\n/ }, 5),
       'show metrics: 5 refused for maxConnections');
    # The accepter takes them one after another: wait for the last too.
    ok(wait_for(sub { control($path2, 'show metrics') =~ /^npsocketd_connections_refused_total\{reason="address"\} 3$/m }, 5),
       'and 3 for the address');
    my $one = () = $l->log_text =~ /refused 127\.0\.0\.1:\d+ on port \d+: maxConnections of \[Server\] reached/g;
    is($one, 1, 'one line for the first refusal of a reason');
    ok($l->wait_log(qr/refused connections \(maxConnections of \[Server\] reached\): 4 more not logged/, 5),
       'the 4 held back are told within a second or two, with no further refusal to carry them');
    ok($l->wait_log(qr/refused connections \(address not allowed\): 2 more not logged/, 5), 'per reason');
    close $_ for grep { defined } $held, @over, @denied;
    is($l->stop, 0, 'it stops cleanly');
}
done_testing();
