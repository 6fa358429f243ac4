#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# user = as root: the switch keeps only the capabilities still needed
# (CAP_SYS_NICE while an accepter runs at raised priority, none
# otherwise, nothing in the bounding set), the accepter really runs at
# accepterPriority after it, and the pid file goes where only root may
# write.  Capabilities are read from /proc/PID/status.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);

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
done_testing();
