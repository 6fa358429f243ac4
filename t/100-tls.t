#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# TLS on ports with an sslSection, checked with real clients: gnutls-cli,
# openssl s_client, npcat --tls, sslscan.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX ();
use Time::HiRes qw(sleep time);

my $pki = tempdir(CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');

sub have { `sh -c 'command -v $_[0]'` ne '' }

sub tls_daemon {
    my ($ssl, %port) = @_;
    my $extra = join '', map { "$_ = $port{$_}\n" } sort keys %port;
    # spareThreads = 0: the thread count itself shows what stalled handshakes hold.
    return start_daemon(ini => "[Server]\nmaxConnections = 500\nspareThreads = 0\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                              . "sslSection = SSL\nhandshakeTimeout = 3\n${extra}[SSL]\n$ssl");
}

sub check_config {
    my ($ssl) = @_;
    open my $fh, '>', "$pki/check.ini" or die;
    print $fh "[Port]\nport = 9000\nsslSection = SSL\n[SSL]\n$ssl";
    close $fh;
    my $out = `build/npsocketd -t -c $pki/check.ini 2>&1 >/dev/null`;
    return ($out, $? >> 8);
}

# A frame through a command-line TLS client: protocol byte 1, one
# transaction "abc"; the answer byte and the echo come back.
my $request = "\x01\x00\x00\x00\x03abc";
my $expected = "\x01\x00\x00\x00\x03abc";
sub through {
    my ($cmd) = @_;
    my $out = `(printf '\\001\\000\\000\\000\\003abc'; sleep 1) | timeout 10 $cmd 2>/dev/null`;
    return index($out, $expected) >= 0;
}

my $pem = "certFile = $pki/server.pem, $pki/other.pem\nkeyFile = $pki/server.key, $pki/other.key\n";
my $d = tls_daemon($pem);
my $port = $d->port;

# --- real clients, both versions --------------------------------------------------------
for my $v ('1.2', '1.3') {
    ok(through("gnutls-cli --x509cafile $pki/ca.pem --priority NORMAL:-VERS-ALL:+VERS-TLS$v -p $port localhost"),
       "gnutls-cli TLS $v: handshake, protocol byte and a transaction");
    (my $o = $v) =~ s/\./_/;
    ok(through("openssl s_client -quiet -no_ign_eof -tls$o -CAfile $pki/ca.pem -servername localhost -connect 127.0.0.1:$port"),
       "openssl s_client TLS $v: handshake, protocol byte and a transaction");
}
# OpenSSL's default offer carries a key share for X25519 only: the
# server's group order must take it as it is, with no HelloRetryRequest
# (a second ClientHello, one more round trip per connection).
for my $groups ('', '-groups X25519', '-groups P-256') {
    my $out = `echo | timeout 10 openssl s_client -msg -tls1_3 $groups -CAfile $pki/ca.pem -servername localhost -connect 127.0.0.1:$port 2>&1`;
    my $hellos = () = $out =~ /ClientHello/g;
    ok($out =~ /Verify return code: 0/ && $hellos == 1,
       "openssl s_client TLS 1.3 " . ($groups || 'default groups') . ": one ClientHello, no HelloRetryRequest (saw $hellos)");
}
ok($d->wait_log(qr/tls=TLS1\.2\/AES-\d+-GCM/), 'the log line names TLS 1.2 and the cipher');
ok($d->wait_log(qr/tls=TLS1\.3\/(AES-\d+-GCM|CHACHA20-POLY1305)/), 'the log line names TLS 1.3 and the cipher');

for my $old ('TLS1.0', 'TLS1.1') {
    my $out = `timeout 10 gnutls-cli --insecure --priority NORMAL:-VERS-ALL:+VERS-$old -p $port 127.0.0.1 </dev/null 2>&1`;
    ok($? != 0 && $out !~ /Handshake was completed/, "a $old-only offer is refused");
}
{
    my $out = `timeout 10 gnutls-cli --insecure --priority NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC -p $port 127.0.0.1 </dev/null 2>&1`;
    ok($? != 0 && $out !~ /Handshake was completed/, 'a CBC-only offer is refused');
    $out = `timeout 10 gnutls-cli --insecure --priority NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA -p $port 127.0.0.1 </dev/null 2>&1`;
    ok($? != 0 && $out !~ /Handshake was completed/, 'an offer without forward secrecy is refused');
}

# --- npcat and SNI ------------------------------------------------------------------------------
my ($out, $err, $rc) = npcat($d, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost', '-v'], 'over tls');
is($out, "over tls\n", 'npcat --tls exchanges transactions');
like($err, qr/npcat: TLS TLS1\.3, cipher \S+/, 'npcat -v prints the TLS version and cipher');
{
    my $big = join '', map { chr(int rand 256) } 1 .. 3_000_000;
    open my $fh, '>', "$pki/big.bin" or die;
    binmode $fh;
    print $fh $big;
    close $fh;
    ($out) = npcat($d, ['-r', '--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost', '-f', "$pki/big.bin",
                        '-f', "$pki/big.bin"]);
    ok($out eq $big . $big, 'two 3 MB transactions over TLS come back byte for byte');
}
($out, $err, $rc) = npcat($d, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'other.test'], 'sni');
is($out, "sni\n", 'SNI other.test gets the certificate for other.test (verified by name)');
($out, $err, $rc) = npcat($d, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'unknown.test'], 'x');
is($rc, 3, 'an unknown SNI name gets the first certificate, which does not verify for it');
ok($d->wait_log(qr/sni=other\.test/), 'the SNI name is in the log line');

# --- resumption -----------------------------------------------------------------------------------
{
    my $o = `timeout 10 gnutls-cli --x509cafile $pki/ca.pem --resume -p $port localhost </dev/null 2>&1`;
    like($o, qr/This is a resumed session/, 'gnutls-cli --resume resumes with a session ticket');
}

# --- bad clients ------------------------------------------------------------------------------------
{
    my ($s) = np_connect($d, byte => 1, timeout => 5);
    ok(NpTest::wait_for(sub { $d->log_text =~ /not a TLS ClientHello \(first byte 0x01\)/ }, 5),
       'a plain client on a TLS port is told apart at once');
    my $g = np_connect($d);
    syswrite($g, "\x16\x03\x01\x00\x05hello garbage after a handshake record header");
    # The garbage is all read at once: the handshake must fail on it,
    # not wait for more until handshakeTimeout.
    ok(NpTest::wait_for(sub { $d->log_text =~ /reason="TLS handshake failed: An unexpected TLS packet/ }, 5),
       'garbage instead of a ClientHello fails the handshake at once');
    my $plain = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my $o = `timeout 10 gnutls-cli --insecure -p @{[ $plain->port ]} 127.0.0.1 </dev/null 2>&1`;
    ok($? != 0, 'a TLS client on a plain port fails');
    ok($plain->wait_log(qr/unknown protocol byte 0x16/), 'the plain port logs the ClientHello byte');
}
{
    my $base = threads_of($d->pid);
    my @stalled = map { scalar np_connect($d) } 1 .. 20;
    my @partial;
    for (1 .. 20) {
        my $s = np_connect($d);
        syswrite($s, "\x16\x03\x01");
        push @partial, $s;
    }
    sleep 0.5;
    cmp_ok(threads_of($d->pid), '>=', $base + 40, '40 stalled handshakes hold 40 threads');
    my $t0 = time;
    my $cut = grep { !defined read_exact($_, 1, 8) } @stalled, @partial;
    is($cut, 40, 'every stalled handshake is cut after handshakeTimeout');
    ok(NpTest::wait_for(sub { threads_of($d->pid) == $base }, 5), "and the thread count is back at $base");
    ok($d->wait_log(qr/reason="TLS handshake timed out"/), 'the cut is logged');
}

# A real ClientHello, recorded from gnutls-cli, cut after every byte.
{
    my $rec = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
    my $rport = $rec->sockport;
    my $cli = fork // die;
    if ($cli == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { exec 'timeout', '5', 'gnutls-cli', '--insecure', '-p', $rport, '127.0.0.1' }
        POSIX::_exit(127);
    }
    my $c = $rec->accept;
    my $hello = read_exact($c, 5, 5) // '';
    my $len = length($hello) == 5 ? unpack('n', substr($hello, 3, 2)) : 0;
    $hello .= read_exact($c, $len, 5) // '' if $len;
    close $c;
    kill 'TERM', $cli;
    waitpid($cli, 0);
    cmp_ok(length($hello), '>', 100, 'recorded a ClientHello of ' . length($hello) . ' bytes');
    my $ended = 0;
    for my $cut (1 .. length($hello) - 1) {
        my $s = np_connect($d) or next;
        syswrite($s, substr($hello, 0, $cut));
        shutdown($s, 1);
        $ended++ unless defined read_exact($s, 1, 5);
        close $s;
    }
    is($ended, length($hello) - 1, 'a handshake cut after each byte of the ClientHello ends that connection');
    my ($o) = npcat($d, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost'], 'after cuts');
    is($o, "after cuts\n", 'and the port serves TLS clients after all of them');
}

sub threads_of {
    open my $fh, '<', "/proc/$_[0]/status" or return -1;
    while (<$fh>) { return $1 if /^Threads:\s+(\d+)/ }
    return -1;
}

# --- sslscan --------------------------------------------------------------------------------------------
SKIP: {
    skip 'sslscan is not installed', 2 unless have('sslscan');
    my $scan = `timeout 60 sslscan --no-colour --no-check-certificate --no-heartbleed 127.0.0.1:$port 2>&1`;
    my @accepted = $scan =~ /^(?:Accepted|Preferred)\s+(\S+)\s+\d+ bits\s+(\S+)/mg;
    my %proto;
    my @no_fs;
    while (my ($p, $c) = splice(@accepted, 0, 2)) {
        $proto{$p}++;
        push @no_fs, $c unless $p eq 'TLSv1.3' || $c =~ /^(ECDHE|DHE)-/;
    }
    is_deeply([sort grep { $_ ne 'TLSv1.2' && $_ ne 'TLSv1.3' } keys %proto], [],
              'sslscan: no protocol below TLS 1.2 (' . join(', ', sort keys %proto) . ')');
    is_deeply(\@no_fs, [], 'sslscan: every cipher has forward secrecy');
}
$d->stop;

# --- credentials --------------------------------------------------------------------------------------------
{
    my $k = tls_daemon("keyStore = $pki/keystore.p12\nkeyStorePassword = changeit\n");
    my ($o) = npcat($k, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost'], 'p12');
    is($o, "p12\n", 'a PKCS#12 keystore made with openssl works');
    $k->stop;
    my $e = tls_daemon("certFile = $pki/server.pem\nkeyFile = $pki/encrypted.key\nkeyPassword = secret\n");
    ($o) = npcat($e, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost'], 'enc');
    is($o, "enc\n", 'an encrypted key with keyPassword works');
    $e->stop;
}
my @bad = (
    [ 'a JKS keystore', "keyStore = $pki/fake.jks\n",
      qr/keyStore \S+fake\.jks is a Java KeyStore \(JKS\); convert it to PKCS#12: keytool -importkeystore -srckeystore \S+fake\.jks -destkeystore \S+fake\.jks\.p12 -deststoretype PKCS12/ ],
    [ 'a wrong keystore password', "keyStore = $pki/keystore.p12\nkeyStorePassword = wrong\n",
      qr/keystore\.p12: wrong keyStorePassword/ ],
    [ 'a key that does not match its certificate', "certFile = $pki/server.pem\nkeyFile = $pki/other.key\n",
      qr/keyFile \S+other\.key does not match certFile \S+server\.pem/ ],
    [ 'a missing key file', "certFile = $pki/server.pem\nkeyFile = $pki/none.key\n",
      qr/keyFile \S+none\.key: No such file or directory/ ],
    [ 'a wrong key password', "certFile = $pki/server.pem\nkeyFile = $pki/encrypted.key\nkeyPassword = nope\n",
      qr/encrypted\.key: wrong password/ ],
    [ 'an expired certificate', "certFile = $pki/expired.pem\nkeyFile = $pki/expired.key\n",
      qr/certificate 1 \(CN=expired\.test\) expired on 2021-01-01/ ],
);
for my $case (@bad) {
    my ($what, $ssl, $re) = @$case;
    my ($o, $code) = check_config($ssl);
    is($code, 78, "npsocketd -t refuses $what");
    like($o, $re, "and says why: $what") or diag($o);
}
{
    my ($o, $code) = check_config("certFile = $pki/soon.pem\nkeyFile = $pki/soon.key\n");
    is($code, 0, 'a certificate expiring in 10 days passes -t');
    like($o, qr/warning: certificate 1 \(CN=soon\.test\) expires on \S+, within 30 days/, 'with a warning');
}

{
    copy("$pki/server.key", "$pki/open.key");
    chmod 0644, "$pki/open.key";
    my ($o, $code) = check_config("certFile = $pki/server.pem\nkeyFile = $pki/open.key\n");
    like($o, qr/warning: private key \S+open\.key is readable by every user \(mode 0644\)/,
         'a private key readable by every user draws a warning');
}

# --- client certificates ------------------------------------------------------------------------------------
{
    my $c = tls_daemon("certFile = $pki/server.pem\nkeyFile = $pki/server.key\nclientAuth = required\ncaFile = $pki/ca.pem\n");
    my @tls = ('--tls', '--ca', "$pki/ca.pem", '--sni', 'localhost');
    my ($o, $e, $code) = npcat($c, [@tls], 'anon');
    isnt($code, 0, 'clientAuth = required refuses a client without a certificate');
    ($o, $e, $code) = npcat($c, [@tls, '--cert', "$pki/client.pem", '--key', "$pki/client.key"], 'mine');
    is($o, "mine\n", 'and accepts one signed by caFile');
    ok($c->wait_log(qr/subject="CN=np-client"/), "the client's subject reaches the log");
    ($o, $e, $code) = npcat($c, [@tls, '--cert', "$pki/intruder.pem", '--key', "$pki/intruder.key"], 'x');
    isnt($code, 0, 'a client certificate from an unknown CA is refused');
    ok($c->wait_log(qr/TLS client certificate rejected: |TLS handshake failed: Certificate is required/), 'and the log says why (GnuTLS clients send no certificate the server\'s CA list does not name)');
    $c->stop;
    my $opt = tls_daemon("certFile = $pki/server.pem\nkeyFile = $pki/server.key\nclientAuth = optional\ncaFile = $pki/ca.pem\n");
    ($o) = npcat($opt, [@tls], 'anon ok');
    is($o, "anon ok\n", 'clientAuth = optional serves a client without a certificate');
    $opt->stop;
}

# --- SIGHUP reload -------------------------------------------------------------------------------------------
{
    my $live_dir = tempdir(CLEANUP => 1);
    copy("$pki/server.pem", "$live_dir/cert.pem");
    copy("$pki/server.key", "$live_dir/key.pem");
    my $r = tls_daemon("certFile = $live_dir/cert.pem\nkeyFile = $live_dir/key.pem\n");
    my $pid = open(my $live, '-|', 'sh', '-c', "(printf 'first\\n'; sleep 2; printf 'second\\n'; sleep 1) | "
        . "build/npcat -w 10 -i --tls --ca $pki/ca.pem --sni localhost 127.0.0.1 " . $r->port) or die;
    sleep 1;
    copy("$pki/other.pem", "$live_dir/cert.pem");
    copy("$pki/other.key", "$live_dir/key.pem");
    kill 'HUP', $r->pid;
    ok($r->wait_log(qr/reload: \S+ in force: 1 port \(1 kept, 0 added, 0 removed\), 1 TLS section/),
       'SIGHUP reloads the configuration and its TLS section');
    my $answers = do { local $/; <$live> };
    close $live;
    is($answers, "first\nsecond\n", 'a session open across the reload keeps exchanging transactions');
    my ($o) = npcat($r, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'other.test'], 'new');
    is($o, "new\n", 'a new handshake gets the new certificate');
    open my $fh, '>', "$live_dir/cert.pem" or die;
    print $fh "broken\n";
    close $fh;
    kill 'HUP', $r->pid;
    ok($r->wait_log(qr/reload: \S+ not applied, nothing changed: \[SSL\]: /), 'a broken new file is refused with a log line');
    ($o) = npcat($r, ['--tls', '--ca', "$pki/ca.pem", '--sni', 'other.test'], 'still');
    is($o, "still\n", 'and the old credentials stay in use');
    # Under AddressSanitizer a reload that leaked on the garbage file
    # makes the exit status non-zero (LeakSanitizer at exit).
    for (1 .. 3) {
        my $n = () = $r->log_text =~ /not applied, nothing changed/g;
        kill 'HUP', $r->pid;
        wait_for(sub { my $m = () = $r->log_text =~ /not applied, nothing changed/g; $m > $n }, 10);
    }
    is($r->stop, 0, 'after four reloads that met a garbage certificate, a clean stop (no leak under ASan)')
        or diag(join '', grep { /Sanitizer|leak of/ } split /^/, $r->log_text);
}

# --- externalSSL ----------------------------------------------------------------------------------------------
{
    my $x = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nexternalSSL = true\n");
    my ($o) = npcat($x, [], 'ext');
    is($o, "ext\n", 'externalSSL: plain on the wire');
    ok($x->wait_log(qr/tls=external /), 'but reported secure (tls=external) in the log');
}

# --- a connection whose set-up fails still leaves its end line --------------------------------------
# GnuTLS refusing a server session (as when memory runs out: a preloaded
# fault, t/lib/fail_tls_init.c) ends that connection after admission;
# the daemon logs why, counts it out, and serves the next.  A sanitizer's
# runtime, when the daemon has one, must come first in LD_PRELOAD.
{
    my ($runtime) = `ldd build/npsocketd` =~ m{(\S*lib[at]san\.so\S*)};
    my $preload = join ' ', grep { defined } $runtime, 'build/t/fail_tls_init.so';
    my $f = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsslSection = SSL\nhandshakeTimeout = 3\n"
                              . "[Port.plain]\nport = 0\nbindAddress = 127.0.0.1\n[SSL]\n$pem",
                         wrapper => ['env', "LD_PRELOAD=$preload"]);
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $f->port('Port'), Timeout => 5) or die;
    is(wait_eof($s, 5), 'eof', 'the connection whose TLS session cannot be made is closed');
    ok($f->wait_log(qr/conn 1 end: peer=127\.0\.0\.1:\d+ via=- port=\d+ listener=\S+ protocol=none transport=tcp tls=- sni=- subject=- duration=\S+ in=0 out=0 transactions=0\/0 code=SA reason="cannot set up the connection: /),
       'and leaves its end line, with the reason');
    my $p = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $f->port('Port.plain'), Timeout => 5) or die;
    syswrite($p, "\x01");
    is(ord(read_exact($p, 1, 5) // "\0"), 1, 'the daemon goes on serving');
    close $p;
    is($f->stop, 0, 'and stops cleanly');
}
done_testing;
