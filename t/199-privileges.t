#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# user = as root: the switch keeps only the capabilities still needed
# (CAP_SYS_NICE while an accepter runs at raised priority,
# CAP_NET_BIND_SERVICE while a port is below 1024, so that a reload as
# the user may bind one, none otherwise, nothing in the bounding set), the accepter really runs at
# accepterPriority after it, and the pid file goes where only root may
# write.  Capabilities are read from /proc/PID/status.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;

plan skip_all => 'needs root (CI runs as root)' unless $> == 0;
plan skip_all => 'no user nobody' unless defined getpwnam('nobody');

sub caps {
    my ($pid) = @_;
    my %c = NpTest::slurp("/proc/$pid/status") =~ /^(Cap\w+):\s+([0-9a-f]+)$/mg;
    return \%c;
}
sub accepter_nice {
    my ($pid) = @_;
    for my $task (glob "/proc/$pid/task/*") {
        next unless NpTest::slurp("$task/comm") =~ /^acc:/;
        my $stat = NpTest::slurp("$task/stat");
        $stat =~ s/^.*\) //s;
        return (split ' ', $stat)[16];
    }
    return undef;
}

my $root_only = tempdir('npsocketd-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0700, $root_only;
my $d = start_daemon(ini => <<"INI");
[Server]
user = nobody
pidFile = $root_only/npsocketd.pid
[Port]
port = 0
bindAddress = 127.0.0.1
INI
my $c = caps($d->pid);
like($d->log_text, qr/running as uid \d+ gid \d+, capabilities: CAP_SYS_NICE/, 'it switched to nobody, keeping CAP_SYS_NICE');
is($c->{CapEff}, '0000000000800000', 'effective: CAP_SYS_NICE alone');
is($c->{CapPrm}, '0000000000800000', 'permitted: the same');
is($c->{CapBnd}, '0000000000000000', 'and an empty bounding set: nothing can be gained back');
is(accepter_nice($d->pid), -5, 'the accepter runs at accepterPriority -5 after the switch');
is(NpTest::slurp("$root_only/npsocketd.pid"), $d->pid . "\n", 'the pid file was written where only root may write');
unlike($d->log_text, qr/cannot raise accepter priority/, 'no warning about the accepters\' priority');
my ($s, $answer) = np_connect($d, byte => 1);
is($answer, 1, 'and it serves');
close $s;
$d->stop;

my $plain = start_daemon(ini => <<'INI');
[Server]
user = nobody
[Port]
port = 0
bindAddress = 127.0.0.1
accepterPriority = 0
INI
$c = caps($plain->pid);
like($plain->log_text, qr/capabilities: none/, 'with no raised accepter: no capability kept');
is($c->{CapEff} . $c->{CapPrm}, '0' x 32, 'effective and permitted empty');
is($plain->stop, 0, 'it stops cleanly');
# -t as root with user =: the files the user could not read again on a
# SIGHUP are named.
{
    my $pki = tempdir('npsocketd-pki-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');
    chmod 0755, $pki;
    chmod 0644, "$pki/server.pem";
    chmod 0600, "$pki/server.key";
    my $ini = "$pki/t.ini";
    open my $fh, '>', $ini or die;
    print $fh "[Server]\nuser = nobody\n[Port]\nport = 0\nsslSection = SSL\n[SSL]\ncertFile = $pki/server.pem\nkeyFile = $pki/server.key\n";
    close $fh;
    my ($out, $err, $rc) = run_bounded(['build/npsocketd', '-t', '-c', $ini]);
    is($rc, 0, '-t as root with user = nobody and a key only root reads: still valid (read at start as root)');
    like($err, qr/warning: \[SSL\] keyFile \Q$pki\E\/server\.key cannot be read by user nobody \(Permission denied\)/,
         'but the key nobody cannot read is named');
    unlike($err, qr/certFile/, 'the certificate it can read is not');
    chmod 0644, "$pki/server.key";
    ($out, $err, $rc) = run_bounded(['build/npsocketd', '-t', '-c', $ini]);
    unlike($err, qr/cannot be read/, 'once nobody can read it, no warning');
}
# A port below 1024 keeps CAP_NET_BIND_SERVICE, so a reload (which runs
# as the user, reading the file and the keys as the user) may bind
# another; a key the user cannot read fails the reload, which says why.
{
    my @low;
    for my $p (900 .. 1000) {
        my $try = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $p, Listen => 1, ReuseAddr => 1) or next;
        close $try;
        push @low, $p;
        last if @low == 2;
    }
    my $pki = tempdir('npsocketd-pki-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    system('sh', 't/lib/make-certs.sh', $pki) == 0 or BAIL_OUT('cannot make the test PKI');
    my $gid = (getpwnam('nobody'))[3];
    chmod 0755, $pki;
    chown 0, $gid, "$pki/server.key", "$pki/other.key";
    chmod 0640, "$pki/server.key", "$pki/other.key";
    my $ini = sub {
        my ($extra) = @_;
        return "[Server]\nuser = nobody\nlogLevel = info\n[Port]\nport = $low[0]\nbindAddress = 127.0.0.1\n"
            . "[Port.tls]\nport = 0\nbindAddress = 127.0.0.1\nsslSection = SSL\n"
            . "[SSL]\ncertFile = $pki/server.pem\nkeyFile = $pki/server.key\n" . ($extra // '');
    };
    my $low = start_daemon(ini => $ini->());
    chmod 0755, $low->dir;
    chmod 0644, $low->config;
    my $caps = caps($low->pid);
    like($low->log_text, qr/capabilities: CAP_SYS_NICE,CAP_NET_BIND_SERVICE/,
         "port $low[0]: CAP_NET_BIND_SERVICE kept beside CAP_SYS_NICE");
    is($caps->{CapEff}, '0000000000800400', 'effective: CAP_SYS_NICE and CAP_NET_BIND_SERVICE');
    my $reload = sub {
        my ($text) = @_;
        open my $fh, '>', $low->config or die;
        print $fh $text;
        close $fh;
        my $n = () = $low->log_text =~ /reload: \S+ (?:in force|has errors|not applied)/g;
        kill 'HUP', $low->pid;
        wait_for(sub { my $m = () = $low->log_text =~ /reload: \S+ (?:in force|has errors|not applied)/g; $m > $n }, 20);
        my @lines = $low->log_text =~ /(reload: \S+ (?:in force|has errors|not applied)[^\n]*)/g;
        return $lines[-1] // '';
    };
    like($reload->($ini->("[Port.low2]\nport = $low[1]\nbindAddress = 127.0.0.1\n")), qr/in force: 3 ports \(2 kept, 1 added/,
         "as nobody, a reload binds port $low[1] too");
    like($low->log_text, qr/listening on 127\.0\.0\.1:$low[1] for \[Port\.low2\]/, 'which listens');
    my ($s, $answer) = np_connect($low, port => $low[1], byte => 1);
    is($answer, 1, 'and serves');
    close $s if $s;
    like($reload->($ini->() =~ s/server\.(pem|key)/other.$1/gr), qr/in force/,
         'a reload as nobody reads a new key the group may read');
    chmod 0600, "$pki/server.key";
    like($reload->($ini->()), qr/not applied, nothing changed: \[SSL\]: .*server\.key/,
         'a key only root may read: the reload fails and names the key');
    my ($out) = run_bounded(['build/npcat', '-w', 5, '--tls', '--ca', "$pki/ca.pem", '--sni', 'other.test', '127.0.0.1',
                             $low->port('Port.tls'), 'kept'], timeout => 30);
    is($out, "kept\n", 'and the credentials in force stay');
    is($low->stop, 0, 'it stops cleanly');
}
done_testing();
