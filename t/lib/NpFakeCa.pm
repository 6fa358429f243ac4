# SPDX-License-Identifier: ISC
package NpFakeCa;
# A small ACME CA that misbehaves on purpose, for the bad-input tests
# pebble cannot give: HTTPS on a loopback port (the test PKI's localhost
# certificate), one connection at a time with keep-alive, signatures not
# checked.  Its mode, read from a file on every request so a test can
# change it between orders:
#   ok            the whole flow; the certificate is the CSR signed by the
#                 test CA for the names asked
#   status500     the directory answers 500 with a problem document
#   invalid-json  the directory is not JSON
#   huge          the directory is 10 MiB long
#   redirect      the directory redirects to another host
#   silent        no request is ever answered
#   other-key     the certificate is another key's
#   other-names   the certificate (of the right key) is for other.test
#   expired       the certificate (of the right key) expired in 2021
#   pending       the order stays pending for ever
# Always stopped (END, and the kernel's parent-death signal).
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::SSL;
use MIME::Base64 qw(decode_base64);
use POSIX qw(WNOHANG _exit);
use NpTest qw(wait_for);
use NpHaproxy qw(free_port);

our @EXPORT = qw(start_fake_ca);


sub unb64url {
    my ($s) = @_;
    $s =~ tr/-_/+\//;
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

# start_fake_ca(pki => DIR): ->directory, ->mode(NAME), ->requests.
sub start_fake_ca {
    my (%opt) = @_;
    my $dir = tempdir('npsocketd-fakeca-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{NPTEST_KEEP});
    my $port = free_port();
    my $self = bless { dir => $dir, port => $port, pki => $opt{pki} }, __PACKAGE__;
    $self->mode($opt{mode} // 'ok');
    my $listen = IO::Socket::SSL->new(LocalHost => '127.0.0.1', LocalPort => $port, Listen => 16, ReuseAddr => 1,
                                      SSL_server => 1, SSL_cert_file => "$opt{pki}/server.pem",
                                      SSL_key_file => "$opt{pki}/server.key") or die "fake CA: listen: $!, $SSL_ERROR";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        open STDOUT, '>', "$dir/ca.log";
        open STDERR, '>&', \*STDOUT;
        $| = 1;
        $SIG{PIPE} = 'IGNORE';   # a client that stops reading the huge answer
        $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP ALRM);  # not the test's handlers
        while (1) {
            my $c = $listen->accept or next;
            $self->serve($c);
            close $c;
        }
        _exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    NpTest::stop_at_end($self);
    return $self;
}

sub directory { return "https://localhost:$_[0]{port}/dir" }
sub mode {
    my ($self, $mode) = @_;
    open my $fh, '>', "$self->{dir}/mode" or die $!;
    print $fh $mode;
    close $fh;
}
sub requests { return NpTest::slurp("$_[0]{dir}/ca.log") }

sub answer {
    my ($c, $status, $headers, $body) = @_;
    $body //= '';
    my $text = "HTTP/1.1 $status\r\nContent-Length: " . length($body) . "\r\nReplay-Nonce: n" . int(rand(1e9))
        . "\r\nConnection: keep-alive\r\n" . join('', map { "$_\r\n" } @$headers) . "\r\n";
    print $c $text . $body;
}

sub problem {
    my ($c, $status, $type, $detail) = @_;
    answer($c, $status, ['Content-Type: application/problem+json'],
           qq({"type":"urn:ietf:params:acme:error:$type","detail":"$detail"}));
}

# The certificate for the CSR the finalize sent, by mode.
sub certificate {
    my ($self, $mode) = @_;
    my ($d, $pki) = ($self->{dir}, $self->{pki});
    return NpTest::slurp("$pki/other.pem") if $mode eq 'other-key';
    my $q = sub { system("@_ >/dev/null 2>&1") == 0 };
    $q->("openssl req -inform DER -in $d/csr.der -out $d/csr.pem") or return '';
    if ($mode eq 'expired') {
        open my $t, '>', "$d/expired.tmpl" or die $!;
        print $t qq(dns_name = "a.test"\nactivation_date = "2020-01-01 00:00:00 UTC"\n)
            . qq(expiration_date = "2021-01-01 00:00:00 UTC"\n);
        close $t;
        $q->("certtool --generate-certificate --load-request $d/csr.pem --load-ca-certificate $pki/ca.pem"
             . " --load-ca-privkey $pki/ca.key --template $d/expired.tmpl --outfile $d/cert.pem") or return '';
        return NpTest::slurp("$d/cert.pem");
    }
    my $names = $mode eq 'other-names' ? 'DNS:other.test' : $self->{names};
    open my $e, '>', "$d/ext" or die $!;
    print $e "subjectAltName=$names\n";
    close $e;
    $q->("openssl x509 -req -in $d/csr.pem -CA $pki/ca.pem -CAkey $pki/ca.key -CAcreateserial -days 30"
         . " -extfile $d/ext -out $d/cert.pem") or return '';
    return NpTest::slurp("$d/cert.pem");
}

sub serve {
    my ($self, $c) = @_;
    my $base = "https://localhost:$self->{port}";
    while (1) {
        my $head = '';
        while (defined(my $line = <$c>)) {
            $head .= $line;
            last if $line eq "\r\n";
        }
        return unless $head =~ m{^(\w+) (\S+) HTTP/1\.[01]\r\n};
        my ($method, $path) = ($1, $2);
        my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
        my $body = '';
        read($c, $body, $len) if $len;
        my $mode = NpTest::slurp("$self->{dir}/mode");
        print "$method $path ($mode)\n";
        my $payload = $body =~ /"payload":"([^"]*)"/ ? unb64url($1) : '';
        if ($mode eq 'silent') {
            sleep 35;            # past the client's 30 s
            return;
        }
        if ($path eq '/dir') {
            return problem($c, '500 Internal Server Error', 'serverInternal', 'the fake CA is down') if $mode eq 'status500';
            return answer($c, '200 OK', ['Content-Type: application/json'], '{"newNonce": [broken') if $mode eq 'invalid-json';
            return answer($c, '301 Moved Permanently', ['Location: https://elsewhere.test/dir']) if $mode eq 'redirect';
            if ($mode eq 'huge') {
                print $c "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\nContent-Type: application/json\r\n\r\n";
                print $c ' ' x 65536 for 1 .. 160;
                return;
            }
            answer($c, '200 OK', ['Content-Type: application/json'],
                   qq({"newNonce":"$base/nonce","newAccount":"$base/acct","newOrder":"$base/order"}));
        } elsif ($path eq '/nonce') {
            answer($c, '200 OK', ['Cache-Control: no-store']);
        } elsif ($path eq '/acct') {
            answer($c, '201 Created', ["Location: $base/acct/1", 'Content-Type: application/json'], '{"status":"valid"}');
        } elsif ($path eq '/order') {
            my @names = $payload =~ /"value":"([^"]+)"/g;
            $self->{names} = join(',', map { "DNS:$_" } @names);
            open my $fh, '>', "$self->{dir}/names" or die $!;
            print $fh $self->{names};
            close $fh;
            my $status = $mode eq 'pending' ? 'pending' : 'ready';
            answer($c, '201 Created', ["Location: $base/order/1", 'Content-Type: application/json'],
                   qq({"status":"$status","authorizations":["$base/authz/1"],"finalize":"$base/finalize/1"}));
        } elsif ($path eq '/authz/1') {
            answer($c, '200 OK', ['Content-Type: application/json'],
                   '{"status":"valid","identifier":{"type":"dns","value":"a.test"},"challenges":[]}');
        } elsif ($path eq '/order/1' && $mode eq 'pending') {
            answer($c, '200 OK', ['Content-Type: application/json'],
                   qq({"status":"pending","authorizations":["$base/authz/1"],"finalize":"$base/finalize/1"}));
        } elsif ($path eq '/finalize/1' || $path eq '/order/1') {
            if ($payload =~ /"csr":"([^"]+)"/) {
                open my $fh, '>:raw', "$self->{dir}/csr.der" or die $!;
                print $fh unb64url($1);
                close $fh;
            }
            answer($c, '200 OK', ['Content-Type: application/json'],
                   qq({"status":"valid","authorizations":["$base/authz/1"],"finalize":"$base/finalize/1",)
                   . qq("certificate":"$base/cert/1"}));
        } elsif ($path eq '/cert/1') {
            $self->{names} //= NpTest::slurp("$self->{dir}/names");
            my $pem = $self->certificate($mode);
            return problem($c, '500 Internal Server Error', 'serverInternal', 'cannot sign') unless $pem;
            answer($c, '200 OK', ['Content-Type: application/pem-certificate-chain'], $pem);
        } else {
            problem($c, '404 Not Found', 'malformed', "no $path here");
        }
    }
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    return if wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 5);
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

1;
