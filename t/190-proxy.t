#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# PROXY protocol in (proxyProtocol, proxyFrom) and out
# (upstreamProxyProtocol) through the real daemon, with raw headers: the
# client's address from the header in the log (peer=, via=) and in
# admission (allow, deny, maxConnectionsPerAddress); TLS and the protocol
# byte right behind the header, nothing of them eaten; LOCAL health checks
# quiet; the SSL TLV on an externalSSL port; every malformed header ends
# its own connection with a log line naming the cause while canary
# sessions keep exchanging transactions.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

my $pki = tempdir('npsocketd-pki-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

my $SIG2 = "\r\n\r\n\0\r\nQUIT\n";
sub v2 {
    my ($cmd, $fam, $body) = @_;
    return $SIG2 . chr($cmd) . chr($fam) . pack('n', length $body) . $body;
}
sub v2_tcp4 {
    my ($src, $sport, $dst, $dport, $tlvs) = @_;
    my $a = pack('C4', split /\./, $src) . pack('C4', split /\./, $dst) . pack('nn', $sport, $dport);
    return v2(0x21, 0x11, $a . ($tlvs // ''));
}
sub tlv { my ($type, $value) = @_; return chr($type) . pack('n', length $value) . $value }

# An upstream that records the PROXY header it gets, then answers the
# protocol byte with 1 and echoes.
my $rec = tempdir('npsocketd-rec-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $up = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $up_port = $up->sockport;
my $up_pid = fork // die "fork: $!";
if ($up_pid == 0) {
    NpTest::die_with_parent();
    my $n = 0;
    while (my $c = $up->accept) {
        $n++;
        my $pid = fork;
        if (defined $pid && $pid == 0) {
            binmode $c;
            my $head = read_exact($c, 16, 5) // _exit(1);
            if ($head =~ /^PROXY /) {
                while ($head !~ /\r\n\z/ && length $head < 108) { $head .= read_exact($c, 1, 5) // last }
            } elsif (substr($head, 0, 12) eq $SIG2) {
                my $len = unpack 'n', substr($head, 14, 2);
                $head .= read_exact($c, $len, 5) // '' if $len;
            }
            open my $fh, '>', "$rec/$n.tmp"; binmode $fh; print $fh $head; close $fh;
            rename "$rec/$n.tmp", "$rec/$n";
            while (sysread($c, my $buf, 65536)) {
                write_all($c, $buf) or last;
            }
            _exit(0);
        }
        close $c;
    }
    _exit(0);
}
close $up;
END { my $status = $?; if ($up_pid) { kill "KILL", $up_pid; waitpid($up_pid, 0) } $? = $status }

my $d = start_daemon(ini => <<"INI");
[Server]
logLevel = info
[Port]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = any
handshakeTimeout = 2
maxConnectionsPerAddress = 2
deny = 192.0.2.66
[Port.v2only]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
[Port.far]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v1
proxyFrom = 127.0.0.2/32
[Port.tls]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
sslSection = SSL
[Port.ext]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = v2
externalSSL = true
sessionHandler = module:build/t/whoami.so
[Port.fwd]
port = 0
bindAddress = 127.0.0.1
proxyProtocol = any
sessionHandler = forward
upstream = 127.0.0.1:$up_port
upstreamProxyProtocol = v2
[Port.web]
port = 0
bindAddress = 127.0.0.1
webSocketPath =
webUpstream = 127.0.0.1:$up_port
upstreamProxyProtocol = v1
[SSL]
certFile = $pki/server.pem
keyFile = $pki/server.key
INI

# A session behind a header: header, byte 1, accepted.
sub session {
    my ($port, $header, %opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 5) or return;
    binmode $s;
    write_all($s, $header . chr(1)) or return;
    my $b = read_exact($s, 1, 5);
    return (defined $b && $b eq "\x01") ? $s : undef;
}
sub end_line {
    my ($re) = @_;
    return $d->wait_log(qr/^(.*end: .*$re.*)$/m, 6) // '';
}

# --- the client's address, from the header ---------------------------------
my $s = session($d->port, "PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n");
ok(echo_ok($s, 'v1'), 'v1 header, then byte 1 and a transaction in the same write: answered');
my $via = $s->sockhost . ':' . $s->sockport;
close $s;
like(end_line('peer=192\.0\.2\.7:51234'), qr/peer=192\.0\.2\.7:51234 via=\Q$via\E port=\d+ listener=\S+ protocol=client/,
     'the end line: peer= the client from the header, via= the balancer');

$s = session($d->port, v2_tcp4('192.0.2.8', 4000, '198.51.100.1', 7000, tlv(0x05, "\xde\xad\xbe\xef")));
ok(echo_ok($s, 'v2'), 'v2 header with a UNIQUE_ID TLV: answered');
close $s;
like(end_line('peer=192\.0\.2\.8:4000'), qr/proxy_id=deadbeef /, 'the unique id is in the end line');

my $ip6 = "\x20\x01\x0d\xb8" . ("\0" x 11) . "\x07" . "\x20\x01\x0d\xb8" . ("\0" x 11) . "\x01" . pack('nn', 1234, 7000);
$s = session($d->port, v2(0x21, 0x21, $ip6));
ok(echo_ok($s, 'v6'), 'v2 over IPv6 addresses: answered');
close $s;
ok(end_line('peer=\[2001:db8::7\]:1234'), 'peer= the IPv6 client');

# Canaries: live sessions that must outlive every bad header below.
my @canary = map { session($d->port, "PROXY TCP4 198.51.100.$_ 198.51.100.1 1000 7000\r\n") } 10 .. 13;
is(scalar(grep { defined } @canary), 4, 'four canary sessions behind headers');

# --- admission on the header's address ------------------------------------
my @same = map { session($d->port, "PROXY TCP4 192.0.2.20 198.51.100.1 " . (5000 + $_) . " 7000\r\n") } 1 .. 3;
ok($same[0] && $same[1], 'two sessions of client 192.0.2.20 admitted (maxConnectionsPerAddress = 2)');
ok(!$same[2], 'a third of the same client is refused, though all came from the same balancer');
like(end_line('peer=192\.0\.2\.20:5003'), qr/code=RA reason="refused: maxConnectionsPerAddress reached"/,
     'its end line says why');
ok(session($d->port, "PROXY TCP4 192.0.2.21 198.51.100.1 5004 7000\r\n"), 'another client through the same balancer is admitted');
ok(!session($d->port, "PROXY TCP4 192.0.2.66 198.51.100.1 5005 7000\r\n"), 'deny = 192.0.2.66 acts on the header\'s address');
like(end_line('peer=192\.0\.2\.66:5005'), qr/reason="refused: address not allowed"/, 'and says so');
close $_ for grep { defined } @same;

# --- the header and what follows it --------------------------------------
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.tls'), Timeout => 5);
    write_all($t, v2_tcp4('192.0.2.30', 3000, '198.51.100.1', 443));
    my $ok = IO::Socket::SSL->start_SSL($t, SSL_verify_mode => SSL_VERIFY_NONE, Timeout => 5);
    ok($ok, 'TLS port: the ClientHello right behind the v2 header is the handshake\'s (nothing eaten)');
    if ($ok) {
        syswrite($t, "\x01");
        is(read_exact($t, 1, 5), "\x01", 'the protocol byte over TLS is answered');
        ok(echo_ok($t, 'tls'), 'and a transaction');
        close $t;
    }
    like(end_line('peer=192\.0\.2\.30:3000'), qr/tls=TLS1\.3\//, 'its end line: the client from the header, tls=TLS1.3');
}
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
    binmode $t;
    my $all = "PROXY TCP4 192.0.2.31 198.51.100.1 3100 7000\r\n\x01";
    for my $ch (split //, $all) { syswrite($t, $ch); sleep 0.02 }
    is(read_exact($t, 1, 5), "\x01", 'a header dripped a byte at a time, then the protocol byte: accepted');
    ok(echo_ok($t, 'drip'), 'and the session works');
    close $t;
}
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.ext'), Timeout => 5);
    binmode $t;
    my $ssl = tlv(0x20, "\x07\0\0\0\0" . tlv(0x21, 'TLSv1.3') . tlv(0x23, 'TLS_AES_128_GCM_SHA256') . tlv(0x22, 'alice'));
    write_all($t, v2_tcp4('192.0.2.32', 3200, '198.51.100.1', 443, tlv(0x02, 'np.example') . tlv(0x05, "\x01\xab") . $ssl) . "\x01");
    is(read_exact($t, 1, 5), "\x01", 'externalSSL behind a balancer with the SSL TLV: accepted');
    my $via_ext = $t->sockhost . ':' . $t->sockport;
    my ($who) = read_frame($t, timeout => 5);
    is($who, "peer=192.0.2.32:3200 via=$via_ext local=0 authority=np.example unique_id=01ab secure=1 tls=TLSv1.3 "
             . 'cipher=TLS_AES_128_GCM_SHA256 sni=np.example subject=CN=alice',
       'a module sees it all: the client, the balancer, AUTHORITY, UNIQUE_ID, and the TLS facts as np_session_tls()');
    close $t;
    like(end_line('peer=192\.0\.2\.32:3200'),
         qr/tls=external:TLSv1\.3\/TLS_AES_128_GCM_SHA256 sni=np\.example subject="CN=alice"/,
         'the TLS facts in the end line are the SSL TLV\'s');
}

# --- LOCAL: a balancer's health check ----------------------------------------
{
    # The sessions before may still be writing their end lines: count
    # once the number has stood still for half a second (bounded).
    my ($before, $last, $since) = (-1, -1, time);
    wait_for(sub {
        my $n = () = $d->log_text =~ /end:/g;
        ($last, $since) = ($n, time) if $n != $last;
        return time - $since >= 0.5 ? ($before = $n, 1)[1] : 0;
    }, 10);
    for (1 .. 3) {
        my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
        write_all($t, v2(0x20, 0, ''));
        close $t;
    }
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
    close $t;  # a bare TCP check
    sleep 0.5;
    my $after = () = $d->log_text =~ /end:/g;
    is($after, $before, 'LOCAL headers and bare TCP checks leave no line at logLevel info');
    ok(session($d->port, v2(0x20, 0, '')), 'a LOCAL connection that goes on is served with its own address');
}

# --- bad headers: each ends its own connection, named -------------------
my @bad = (
    [ 'no header, the protocol byte', "\x01\0\0\0\x01x", qr/no PROXY header/ ],
    [ 'a v1 line of 108 bytes', 'PROXY UNKNOWN ' . ('x' x 92) . "\r\n", qr/no CRLF within 107 bytes/ ],
    [ 'a v1 line without CRLF', 'PROXY TCP4 ' . ('1' x 100), qr/no CRLF within 107 bytes|control byte/ ],
    [ 'PROXY TCP4 with a bad address', "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n", qr/an address is not IPv4/ ],
    [ 'PROXY TCP4 with a bad port', "PROXY TCP4 192.0.2.3 198.51.100.1 70000 2\r\n", qr/a port is not a number/ ],
    [ 'LF without CR', "PROXY TCP4 192.0.2.3 198.51.100.1 1 2\n\x01", qr/LF without CR/ ],
    [ 'v2 with a wrong signature', "\r\n\r\n\0\r\nQUIX\n\x21\x11\0\x0c" . ("\0" x 12), qr/no PROXY header/ ],
    [ 'version 1 in the v2 nibble', v2(0x11, 0x11, "\0" x 12), qr/version is not 2/ ],
    [ 'an unknown family', v2(0x21, 0x51, "\0" x 12), qr/unknown address family/ ],
    [ 'a length of 65535', $SIG2 . "\x21\x11\xff\xff", qr/declared length over 1536/ ],
    [ 'a length shorter than the addresses', v2(0x21, 0x11, "\0" x 8), qr/shorter than its addresses/ ],
    [ 'TLVs overrunning the header', v2(0x21, 0x11, ("\0" x 12) . "\x02\0\x20ab"), qr/a TLV runs past the header/ ],
    [ 'a v1 header on a v2-only port', "PROXY TCP4 192.0.2.3 198.51.100.1 1 2\r\n", qr/v1 header on a port that takes v2 only/, 'Port.v2only' ],
);
for my $case (@bad) {
    my ($what, $bytes, $why, $port) = @$case;
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port($port // 'Port'), Timeout => 5);
    binmode $t;
    my $local = $t->sockport;
    write_all($t, $bytes);
    ok(wait_eof($t, 5), "$what: the connection is closed");
    my $line = end_line(":$local via=- ");
    like($line, $why, "$what: the end line names the cause");
    like($line, qr/ code=PA reason=/, "$what: end code PA (protocol broken, before TLS)");
    close $t;
}
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5);
    my $local = $t->sockport;
    write_all($t, 'PROXY TCP4 192.0.2.3');
    ok(wait_eof($t, 6), 'a header that never ends: closed at handshakeTimeout');
    like(end_line(":$local via=- "), qr/code=TA reason="PROXY header not complete within handshakeTimeout/, 'and says so (TA)');
}
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.far'), Timeout => 5);
    ok(wait_eof($t, 5), 'a balancer outside proxyFrom: closed at once');
    ok($d->wait_log(qr/refused 127\.0\.0\.1:\d+ on port \d+: PROXY header not taken from this address \(proxyFrom\)/, 5),
       'with a log line naming proxyFrom');
}
is(scalar(grep { echo_ok($_, 'canary') } @canary), 4, 'every canary session still exchanges transactions');

# --- PROXY out -----------------------------------------------------------
sub recorded {
    my ($n) = @_;
    wait_for(sub { -e "$rec/$n" }, 5) or return '';
    open my $fh, '<', "$rec/$n"; binmode $fh; local $/; return <$fh>;
}
$s = session($d->port('Port.fwd'), "PROXY TCP4 192.0.2.40 198.51.100.1 4040 7000\r\n");
ok(echo_ok($s, 'forwarded'), 'forward behind a header: transactions through the upstream');
close $s;
is(unpack('H*', recorded(1)), unpack('H*', v2_tcp4('192.0.2.40', 4040, '198.51.100.1', 7000)),
   'the upstream got a v2 header naming the client and the address it connected to');
{
    my $t = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port('Port.web'), Timeout => 5);
    my ($cport, $dport) = ($t->sockport, $d->port('Port.web'));
    my $req = "GET /anything HTTP/1.1\r\nHost: x\r\n\r\n";
    write_all($t, $req);
    is(read_exact($t, length $req, 5), $req, 'webUpstream: the request replayed to it (the recorder echoes)');
    close $t;
    is(recorded(2), "PROXY TCP4 127.0.0.1 127.0.0.1 $cport $dport\r\n",
       'webUpstream with upstreamProxyProtocol = v1: the direct client\'s line');
}

is($d->stop, 0, 'the daemon stops cleanly');
unlike($d->log_text, qr/ (crit|alert|emerg):/, 'nothing worse than an error was logged');
done_testing();
