#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The man pages are the manual: they pass mandoc's lint, render with man,
# and npsocketd.ini(5) documents exactly the keys the daemon knows (every
# key -t prints for a configuration that sets them all, and no other).
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);

sub have { my ($tool) = @_; scalar grep { -x "$_/$tool" } split /:/, $ENV{PATH} }

my @pages = glob 'man/*.[1-8]';
my %names = map { s{^man/}{}r => 1 } @pages;
ok($names{$_}, "man/$_ exists") for qw(npsocketd.8 npsocketd.ini.5 npcat.1);

SKIP: {
    skip 'mandoc is not installed', scalar(@pages) unless have('mandoc');
    for my $page (@pages) {
        my ($out, $err, $rc) = run_bounded(['mandoc', '-Tlint', '-Wwarning', $page], timeout => 20);
        is($out . $err, '', "$page: mandoc -Tlint -Wwarning prints nothing");
    }
}
SKIP: {
    skip 'man is not installed', 2 * scalar(@pages) unless have('man');
    local $ENV{MANWIDTH} = 80;
    local $ENV{MAN_KEEP_FORMATTING};
    for my $page (@pages) {
        my ($text, $err, $rc) = run_bounded(['man', '-l', $page], timeout => 20);
        my @head = (split /\n/, $text)[0 .. 9];
        ok(scalar(grep { defined && /\S/ } @head), "$page: man -l renders (first lines not empty)");
        like($text, qr/^NAME\n/m, "$page: the rendering has a NAME section");
    }
}

# --- every key, both ways ---------------------------------------------------------------------------
open my $fh, '<', 'man/npsocketd.ini.5' or die "man/npsocketd.ini.5: $!";
my $manual = do { local $/; <$fh> };
# Keys are the Ic words of .It lines: ".It Ic key Ar type" and
# ".It Ic a Ar x , Ic b Ar y" for keys documented together.
my %documented;
for my $line ($manual =~ /^\.It (.*)$/mg) {
    $documented{$1} = 1 while $line =~ /\bIc (\w+)/g;
}
ok(scalar(keys %documented) > 30, 'npsocketd.ini(5) documents keys with .It Ic (' . scalar(keys %documented) . ')');

SKIP: {
    skip 'openssl and certtool are needed for a full TLS configuration', 4
        unless have('openssl') && have('certtool');
    my $dir = tempdir(CLEANUP => 1);
    my $quiet = ' >/dev/null 2>&1';
    system("cd $dir && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 365 -subj /CN=t"
           . " -passout pass:secret -keyout k.pem -out c.pem$quiet"
           . " && openssl ec -in k.pem -passin pass:secret -out plain.pem$quiet"
           . " && openssl pkcs12 -export -in c.pem -inkey k.pem -passin pass:secret -passout pass:ks -out ks.p12$quiet"
           . " && printf 'expiration_days = 365\\n' > crl.tmpl"
           . " && certtool --generate-crl --load-ca-privkey plain.pem --load-ca-certificate c.pem"
           . " --template crl.tmpl --outfile crl.pem$quiet") == 0
        or die 'cannot make the certificates';
    # Every key the design names, set to a value that is not its default.
    open my $cfg, '>', "$dir/full.ini" or die;
    print $cfg <<"INI";
[Server]
user = nobody
group = nogroup
pidFile = $dir/x.pid
logLevel = notice
log = stderr
logFacility = local3
maxConnections = 100
threadStackSize = 512K
shutdownTimeout = 3
controlSocket = $dir/control.sock
agentPort = 5555
agentBindAddress = 127.0.0.1
[Port]
port = 9000
mapToPort = 443
bindAddress = 127.0.0.1
queueLength = 10
sslSection = SSL
readTimeout = 5
accepterThreads = 2
accepterPriority = -2
loadBalance = true
externalSSL = false
domains = a.example, b.example
sessionHandler = forward
upstream = 127.0.0.1:9999
upstreamConnectTimeout = 2
webUpstream = 127.0.0.1:8080
maxTransactionSize = 2M
compression = false
compressionThreshold = 512
compressionLevel = 5
handshakeTimeout = 4
maxHandshakeSize = 32K
idleTimeout = 60
relayTimeout = 30
maxConnections = 50
maxConnectionsPerAddress = 5
allow = 127.0.0.0/8, ::1
deny = 10.0.0.0/8
tcpNoDelay = false
keepAlive = true
keepAliveIdle = 30
keepAliveInterval = 10
keepAliveCount = 3
webSocketPath = /np
webSocketOrigins = https://a.example
webRoot = $dir
httpHeaderTimeout = 5
httpKeepAliveTimeout = 20
httpMaxHeaderSize = 16K
statusPath = /status
metricsPath = /metrics
statusAllow = 127.0.0.1
proxyProtocol = v2
proxyFrom = 10.0.0.0/8
upstreamProxyProtocol = v1
[Port.two]
port = 9001
sslSection = SSL2
[SSL]
certFile = $dir/c.pem
keyFile = $dir/k.pem
keyPassword = secret
protocols = TLSv1.3
clientAuth = optional
caFile = $dir/c.pem
crlFile = $dir/crl.pem
sessionTickets = false
[SSL2]
keyStore = $dir/ks.p12
keyStorePassword = ks
priority = NORMAL
[ACME]
directory = https://acme-staging-v02.api.letsencrypt.org/directory
contact = mailto:ops\@a.example
agreeTermsOfService = true
stateDirectory = $dir/acme
caFile = $dir/c.pem
challenges = http-01, tls-alpn-01
renewBefore = 1/4
keyType = ecdsa-p256
INI
    close $cfg;
    my ($effective, $err, $rc) = run_bounded(['build/npsocketd', '-t', '-c', "$dir/full.ini"], timeout => 20);
    is($rc, 0, 'npsocketd -t accepts a configuration that sets every key') or diag($err);
    unlike($err, qr/unknown key/, 'and calls none of them unknown') or diag($err);
    my %printed = map { $_ => 1 } $effective =~ /^\s*(\w+) = /mg;
    my @undocumented = grep { !$documented{$_} } sort keys %printed;
    is_deeply(\@undocumented, [], 'every key -t prints is documented in npsocketd.ini(5)');
    my @unknown = grep { !$printed{$_} } sort keys %documented;
    is_deeply(\@unknown, [], 'every key npsocketd.ini(5) documents is one -t prints');
}

# The exit codes and signals the daemon has are in npsocketd(8).
open $fh, '<', 'man/npsocketd.8' or die;
my $eight = do { local $/; <$fh> };
like($eight, qr/\b$_\b/, "npsocketd(8) documents exit status $_") for 64, 71, 78;
like($eight, qr/\b$_\b/, "npsocketd(8) documents $_") for qw(SIGTERM SIGINT SIGHUP);
like($eight, qr/\bFl $_\b/, "npsocketd(8) documents -$_") for qw(c t D p l V h);
done_testing;
