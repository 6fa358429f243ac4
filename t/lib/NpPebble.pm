# SPDX-License-Identifier: ISC
package NpPebble;
# Debian's pebble (a small ACME CA for tests) and pebble-challtestsrv (its
# DNS, answering every name with 127.0.0.1) on loopback ports: started
# with a generated configuration (its own HTTPS certificate from the test
# PKI, httpPort and tlsPort where npsocketd listens, PEBBLE_VA_NOSLEEP=1),
# its root fetched from the management port, and always stopped (END,
# and the kernel's parent-death signal).  Every wait here is bounded.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX qw(WNOHANG _exit);
use NpTest qw(wait_for run_bounded);
use NpHaproxy qw(free_port);

our @EXPORT = qw(start_pebble pebble_available);


sub pebble_available { return -x '/usr/bin/pebble' && -x '/usr/bin/pebble-challtestsrv' }

sub spawn {
    my ($self, $log, $env, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        $ENV{$_} = $env->{$_} for keys %$env;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        { exec @cmd }
        _exit(127);
    }
    push @{ $self->{pids} }, $pid;
    return $pid;
}

sub port_open {
    my ($port) = @_;
    return IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 1) ? 1 : 0;
}

# start_pebble(pki => DIR (make-certs.sh's), http_port => P, tls_port => P,
#              env => { PEBBLE_... }): the directory URL is $p->directory,
# the CA's root (for verifying what it issues) $p->root, the trust for
# its own HTTPS (for [ACME] caFile) $p->ca_file.
sub start_pebble {
    my (%opt) = @_;
    my $dir = tempdir('npsocketd-pebble-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{NPTEST_KEEP});
    my $self = bless { dir => $dir, pids => [] }, __PACKAGE__;
    NpTest::stop_at_end($self);
    my ($acme, $mgmt, $dns, $ctl) = map { free_port() } 1 .. 4;
    $self->{acme_port} = $acme;
    $self->{mgmt_port} = $mgmt;
    $self->{log} = "$dir/pebble.log";
    open my $fh, '>', "$dir/pebble.json" or die $!;
    printf $fh '{"pebble":{"listenAddress":"127.0.0.1:%d","managementListenAddress":"127.0.0.1:%d",'
        . '"certificate":"%s/server.pem","privateKey":"%s/server.key","httpPort":%d,"tlsPort":%d,'
        . '"ocspResponderURL":"","externalAccountBindingRequired":false}}' . "\n",
        $acme, $mgmt, $opt{pki}, $opt{pki}, $opt{http_port} // 0, $opt{tls_port} // 0;
    close $fh;
    $self->spawn("$dir/challtestsrv.log", {}, '/usr/bin/pebble-challtestsrv', '-defaultIPv4', '127.0.0.1',
                 '-defaultIPv6', '', '-dns01', "127.0.0.1:$dns", '-http01', '', '-https01', '', '-tlsalpn01', '',
                 '-management', "127.0.0.1:$ctl");
    wait_for(sub { port_open($ctl) }, 15) or die "pebble-challtestsrv did not start:\n" . NpTest::slurp("$dir/challtestsrv.log");
    $self->spawn($self->{log}, { PEBBLE_VA_NOSLEEP => 1, %{ $opt{env} || {} } }, '/usr/bin/pebble',
                 '-config', "$dir/pebble.json", '-dnsserver', "127.0.0.1:$dns");
    wait_for(sub { port_open($acme) && port_open($mgmt) }, 20) or die "pebble did not start:\n" . $self->log_text;
    $self->{ca_file} = "$opt{pki}/ca.pem";
    my ($root, $err, $code) = run_bounded(['curl', '-sS', '--cacert', $self->{ca_file},
                                           "https://localhost:$mgmt/roots/0"], timeout => 20);
    die "cannot fetch pebble's root: $err" unless $code == 0 && $root =~ /BEGIN CERTIFICATE/;
    open $fh, '>', "$dir/root.pem" or die $!;
    print $fh $root;
    close $fh;
    $self->{root} = "$dir/root.pem";
    return $self;
}

sub directory { return "https://localhost:$_[0]{acme_port}/dir" }

# The [ACME] section that points npsocketd at this pebble:
# acme_section(state => DIR, challenges => LIST, KEY => VALUE ...).
sub acme_section {
    my ($self, %opt) = @_;
    my $text = "[ACME]\ndirectory = " . $self->directory . "\ncaFile = $self->{ca_file}\nagreeTermsOfService = true\n"
        . "stateDirectory = " . delete($opt{state}) . "\nchallenges = " . delete($opt{challenges}) . "\n";
    $text .= "$_ = $opt{$_}\n" for sort keys %opt;
    return $text;
}
sub root { $_[0]{root} }
sub ca_file { $_[0]{ca_file} }
sub log_text { return NpTest::slurp($_[0]{log}) }

# How many orders pebble has been sent (its log names each new one).
sub orders {
    my ($self) = @_;
    my $n = () = $self->log_text =~ /Added order "[^"]+" to the db/g;
    return $n;
}

sub stop {
    my ($self) = @_;
    for my $pid (@{ $self->{pids} }) {
        kill 'TERM', $pid;
        my $done = wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 10);
        if (!$done) { kill 'KILL', $pid; waitpid($pid, 0) }
    }
    $self->{pids} = [];
}

1;
