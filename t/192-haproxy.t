#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Behind the real HAProxy (Debian's, -db, loopback ports): send-proxy-v2
# and send-proxy in front of one instance (the client's address in the
# log and in admission, health checks with LOCAL quiet); three instances
# with agent-check (the weights npsocketd reports in HAProxy's show stat,
# a loaded instance weighs less, `drain` moves new sessions away while
# its live ones go on); 100 Remote Assistance relay pairs through HAProxy
# ending TLS and choosing the instance by a hash of the relay key.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpHaproxy;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use IO::Socket::UNIX;
use Time::HiRes qw(sleep time);

plan skip_all => 'haproxy is not installed (make deps-test installs it)' unless haproxy_available();

my $pki = tempdir('npsocketd-pki-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');
system("cat $pki/server.pem $pki/server.key > $pki/haproxy.pem") == 0 or BAIL_OUT('cannot write haproxy.pem');

# The configurations npsocketd(8) BEHIND HAPROXY documents are valid for
# this HAProxy (its addresses and certificate made local).
{
    my ($man) = run_bounded(['mandoc', '-Tascii', 'man/npsocketd.8']);
    $man =~ s/.\x08//g;
    my ($section) = $man =~ /^BEHIND HAPROXY\n(.*?)^UPGRADES/ms;
    my @blocks = ($section // '') =~ /((?:^ {10,}\S.*\n)+)/mg;
    my @cfg = grep { /^\s*(defaults|frontend)\b/m } @blocks;
    is(scalar(@cfg), 2, 'npsocketd(8) shows two HAProxy configurations');
    for my $i (0 .. $#cfg) {
        (my $text = $cfg[$i]) =~ s/^ {11}//mg;
        $text =~ s{/etc/haproxy/netphantom\.pem}{$pki/haproxy.pem}g;
        $text =~ s/10\.0\.0\.\d/127.0.0.1/g;
        $text = "defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n$text"
            unless $text =~ /^defaults/m;
        open my $fh, '>', "$pki/man$i.cfg" or die;
        print $fh $text;
        close $fh;
        my ($out, $err, $rc) = run_bounded(['/usr/sbin/haproxy', '-c', '-f', "$pki/man$i.cfg"]);
        is($rc, 0, "configuration " . ($i + 1) . " of the manual: haproxy -c accepts it") or diag("$out$err\n$text");
    }
}

my $DEFAULTS = <<'CFG';
global
    stats socket STATS mode 600 level admin
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
CFG

# A client of HAProxy's frontend from a loopback address of its own, so
# the daemon's log can only know it from the PROXY header.
sub client {
    my ($port, $from, $byte) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, LocalHost => $from, Timeout => 5)
        or return;
    binmode $s;
    write_all($s, chr($byte // 1)) or return;
    my $b = read_exact($s, 1, 5);
    return (defined $b && $b eq "\x01") ? $s : undef;
}

# --- one instance behind send-proxy-v2 and send-proxy ----------------------
{
    my $d = start_daemon(ini => <<"INI");
[Server]
logLevel = info
[Port.v2]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
maxConnectionsPerAddress = 2
deny = 127.0.0.5
[Port.v1]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v1
[Port.tls]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
sslSection = SSL
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI
    my ($fe2, $fe1, $fet) = (free_port(), free_port(), free_port());
    my $pt = $d->port('Port.tls');
    my ($p2, $p1) = ($d->port('Port.v2'), $d->port('Port.v1'));
    my $h = start_haproxy(wait_port => $fe1, cfg => $DEFAULTS . <<"CFG");
frontend fe_v2
    bind 127.0.0.1:$fe2
    default_backend be_v2
frontend fe_v1
    bind 127.0.0.1:$fe1
    default_backend be_v1
frontend fe_tls
    bind 127.0.0.1:$fet
    default_backend be_tls
backend be_v2
    server n1 127.0.0.1:$p2 send-proxy-v2 check check-send-proxy inter 200ms
backend be_v1
    server n1 127.0.0.1:$p1 send-proxy check check-send-proxy inter 200ms
backend be_tls
    server n1 127.0.0.1:$pt send-proxy-v2 check check-send-proxy inter 200ms
CFG
    my $s = client($fe2, '127.0.0.2');
    ok(echo_ok($s, 'through haproxy'), 'send-proxy-v2: a session through HAProxy');
    my $cport = $s->sockport;
    close $s;
    like($d->wait_log(qr/^(.*end: peer=127\.0\.0\.2:$cport .*)$/m, 5) // '',
         qr/peer=127\.0\.0\.2:$cport via=127\.0\.0\.1:\d+ port=$p2 listener=\S+ protocol=client/,
         'its end line: peer= the client (127.0.0.2), via= HAProxy');
    $s = client($fe1, '127.0.0.2');
    ok(echo_ok($s, 'v1'), 'send-proxy (v1): a session through HAProxy');
    $cport = $s->sockport;
    close $s;
    ok($d->wait_log(qr/end: peer=127\.0\.0\.2:$cport via=127\.0\.0\.1:\d+ port=$p1 /, 5), 'peer= the client again');

    my $t = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $fet, LocalAddr => '127.0.0.6',
                                 SSL_ca_file => "$pki/ca.pem", SSL_verifycn_name => 'localhost', Timeout => 5);
    ok($t, 'TLS passed through HAProxy: the handshake with npsocketd completes (certificate verified)')
        or diag($SSL_ERROR);
    if ($t) {
        write_all($t, "\x01");
        is(read_exact($t, 1, 5), "\x01", 'the protocol byte over it is answered');
        ok(echo_ok($t, 'tls through haproxy'), 'and a transaction');
        $cport = $t->sockport;
        close $t;
        ok($d->wait_log(qr/end: peer=127\.0\.0\.6:$cport via=127\.0\.0\.1:\d+ port=$pt listener=\S+ protocol=client transport=tcp tls=TLS1\.3\//, 5),
           'its end line: the client behind HAProxy, TLS negotiated by npsocketd');
    }

    my @three = map { client($fe2, '127.0.0.3') } 1 .. 3;
    ok($three[0] && $three[1] && !$three[2], 'maxConnectionsPerAddress = 2 acts on the client behind HAProxy');
    ok(client($fe2, '127.0.0.4'), 'another client is admitted meanwhile');
    ok(!client($fe2, '127.0.0.5'), 'deny = 127.0.0.5 refuses that client behind HAProxy');
    ok($d->wait_log(qr/end: peer=127\.0\.0\.5:\d+ via=127\.0\.0\.1:\d+ .*reason="refused: address not allowed"/, 5),
       'and logs why, naming the client and HAProxy');
    close $_ for grep { defined } @three;

    sleep 1.5;  # several health checks with LOCAL
    my $stat = $h->stat;
    is($stat->{'be_v2/n1'}{status}, 'UP', 'HAProxy\'s checks with check-send-proxy see the v2 port up');
    is($stat->{'be_v1/n1'}{status}, 'UP', 'and the v1 port');
    is($stat->{'be_tls/n1'}{status}, 'UP', 'and the TLS port');
    unlike($d->log_text, qr/(error|warning):|end: peer=127\.0\.0\.1:\d+ via=127\.0\.0\.1/,
           'health checks with LOCAL leave no error and no end line at logLevel info');
    $h->stop;
    is($d->stop, 0, 'the instance stops cleanly');
}

# --- three instances, agent-check, drain; relay pairs by key -----------
my @inst;
for my $i (1 .. 3) {
    my $dir = tempdir("npsocketd-inst$i-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    my $d = start_daemon(ini => <<"INI");
[Server]
logLevel = info
maxConnections = 20
controlSocket = $dir/control.sock
agentPort = 0
[Port]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
[Port.ext]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
externalSSL = true
INI
    my ($agent) = $d->log_text =~ /agent-check listening on 127\.0\.0\.1:(\d+)/;
    push @inst, { d => $d, agent => $agent, control => "$dir/control.sock" };
}
my ($fe, $fe_tls) = (free_port(), free_port());
my $servers = join '', map {
    my $n = $_ + 1;
    sprintf "    server n%d 127.0.0.1:%d send-proxy-v2 weight 100 check check-send-proxy inter 300ms agent-check agent-port %d agent-inter 200ms\n",
        $n, $inst[$_]{d}->port, $inst[$_]{agent}
} 0 .. 2;
my $relay_servers = join '', map {
    sprintf "    server n%d 127.0.0.1:%d send-proxy-v2-ssl-cn check check-send-proxy inter 1s\n", $_ + 1,
        $inst[$_]{d}->port('Port.ext')
} 0 .. 2;
my $h = start_haproxy(wait_port => $fe_tls, cfg => $DEFAULTS . <<"CFG");
frontend fe
    bind 127.0.0.1:$fe
    default_backend pool
frontend fe_tls
    bind 127.0.0.1:$fe_tls ssl crt $pki/haproxy.pem
    tcp-request inspect-delay 5s
    acl relay req.payload(0,1) -m bin 02
    tcp-request content set-var(txn.relay_key) req.payload_lv(1,4),bytes(1) if relay { req.payload_lv(1,4) -m found }
    tcp-request content accept if relay { var(txn.relay_key) -m found }
    tcp-request content accept if !relay { req.len gt 0 }
    use_backend relay if relay
    default_backend pool_tls
backend pool
    balance roundrobin
$servers
backend pool_tls
    balance roundrobin
$relay_servers
backend relay
    balance hash var(txn.relay_key)
    hash-type consistent
$relay_servers
CFG

sub weight_of { my ($n) = @_; my $row = $h->stat->{"pool/n$n"} // {}; return ($row->{weight} // '', $row->{status} // '') }

ok(wait_for(sub { !grep { (weight_of($_))[0] ne '100' || (weight_of($_))[1] ne 'UP' } 1 .. 3 }, 10),
   'HAProxy sees all three instances up at the weight their agents report (100)');

# Load instance 1 with 10 of its 20 sessions: its agent says 50 %.
my $v2_local = "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";
my @held = map { my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $inst[0]{d}->port, Timeout => 5);
                 binmode $s; write_all($s, "$v2_local\x01"); read_exact($s, 1, 5); $s } 1 .. 10;
{
    my $agent = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $inst[0]{agent}, Timeout => 5);
    is(scalar(<$agent>), "up ready 50% maxconn:10\n", 'instance 1\'s agent: up ready 50% maxconn:10');
}
ok(wait_for(sub { (weight_of(1))[0] eq '50' }, 5), 'HAProxy lowers its weight to 50')
    or diag(join ' ', weight_of(1));

# A live session on instance 2, then drain it.
my ($live) = grep { my $p = $_->sockport; control($inst[1]{control}, 'show sessions') =~ /127\.0\.0\.7:$p 127\.0\.0\.1:\d+/ }
               grep { defined } map { client($fe, '127.0.0.7') } 1 .. 8;
ok($live, 'a live session through HAProxy on instance 2 (show sessions: the client as peer, HAProxy as via)');
is(control($inst[1]{control}, 'drain'), "ok: draining\n", 'control: drain on instance 2');
ok(wait_for(sub { (weight_of(2))[1] =~ /^DRAIN/ }, 5), 'HAProxy shows it DRAIN') or diag(join ' ', weight_of(2));
my $before2 = () = $inst[1]{d}->log_text =~ /end: peer=127\.0\.0\.8:/g;
my $ok = 0;
for (1 .. 30) { my $s = client($fe, '127.0.0.8'); $ok++ if echo_ok($s, "new $_"); close $s if $s }
is($ok, 30, '30 new sessions through HAProxy meanwhile, all answered');
my @landed;
wait_for(sub {
    @landed = map { scalar(() = $_->{d}->log_text =~ /end: peer=127\.0\.0\.8:/g) } @inst;
    $landed[0] + $landed[1] + $landed[2] - $before2 >= 30;
}, 15);
is($landed[1] - $before2, 0, 'none of them on the drained instance') or diag("per instance: @landed");
is($landed[0] + $landed[2], 30, 'all on the other two');
ok(echo_ok($live, 'still here'), 'the drained instance\'s live session keeps exchanging transactions');
is(control($inst[1]{control}, 'ready'), "ok: ready\n", 'control: ready');
ok(wait_for(sub { (weight_of(2))[1] eq 'UP' }, 5), 'HAProxy takes it back');
close $_ for @held, $live;

# 100 relay pairs through HAProxy ending TLS: both parties of a key on
# one instance, chosen by the key's hash.
my $paired = 0;
for my $i (1 .. 100) {
    my $key = sprintf 'pair-%03d-%08x', $i, int(rand(2**32));
    my @party;
    for my $role (1, 2) {
        my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $fe_tls, SSL_verify_mode => SSL_VERIFY_NONE,
                                     Timeout => 5) or last;
        write_all($s, "\x02" . pack('N', 1 + length $key) . chr($role) . $key) or last;
        my $answer = read_exact($s, 1, 5) // '';
        last unless $answer eq ($role == 1 ? "\x02" : "\x01");
        push @party, $s;
    }
    next unless @party == 2 && (read_exact($party[0], 1, 5) // '') eq "\x01";
    write_all($party[1], "to-waiter-$i");
    write_all($party[0], "to-joiner-$i");
    $paired++ if (read_exact($party[0], length("to-waiter-$i"), 5) // '') eq "to-waiter-$i"
              && (read_exact($party[1], length("to-joiner-$i"), 5) // '') eq "to-joiner-$i";
    close $_ for @party;
}
is($paired, 100, '100 relay pairs through HAProxy: all paired, bytes intact both ways');
# The end lines come as each party's thread ends: wait for them (bounded).
my @relays;
wait_for(sub {
    @relays = map { scalar(() = $_->{d}->log_text =~ /protocol=relay transport=tcp tls=external:/g) } @inst;
    $relays[0] + $relays[1] + $relays[2] >= 200;
}, 15);
is($relays[0] + $relays[1] + $relays[2], 200, 'their 200 end lines, each with the TLS facts HAProxy sent (SSL TLV)')
    or diag("per instance: @relays");
ok((grep { $_ > 0 } @relays) >= 2, "the pairs are spread over the instances (@relays)");
unlike(join('', map { $_->{d}->log_text } @inst), qr/reason="relay: (no waiting party|refused)/,
       'no joiner ever missed its waiter');

$h->stop;
# Stopping with a session open: the agent says drain until it has ended.
{
    my $d = $inst[2]{d};
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
    binmode $s;
    write_all($s, "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00\x01");
    is(read_exact($s, 1, 5), "\x01", 'a session open on instance 3');
    kill 'TERM', $d->pid;
    ok($d->wait_log(qr/stopping: 1 session open/, 5), 'SIGTERM: it waits for that session');
    my $agent = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $inst[2]{agent}, Timeout => 5);
    is($agent ? scalar(<$agent>) : undef, "drain\n", 'meanwhile its agent says drain');
    ok(echo_ok($s, 'while stopping'), 'and the session goes on');
    close $s;
    is($d->wait_exit(10), 0, 'once it ended, the instance exits 0');
}
is($_->{d}->stop, 0, 'instance stops cleanly') for @inst[0, 1];
done_testing();
