# SPDX-License-Identifier: ISC
package NpHaproxy;
# Debian's HAProxy for the tests: started in the foreground (-db) on
# loopback ports with a configuration the test writes, its stats socket
# asked for `show stat`, and always stopped (END, and the kernel's
# parent-death signal).  Every wait here is bounded.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(time sleep);
use NpTest qw(wait_for);

our @EXPORT = qw(start_haproxy free_port haproxy_available);


sub haproxy_available { return -x '/usr/sbin/haproxy' }

# A loopback port nobody listens on now (for configurations that must
# name one before the server starts).
sub free_port {
    my $s = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die "listen: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# start_haproxy(cfg => TEXT, wait_port => P): the text's STATS is
# replaced by the stats socket's path.  Waits until wait_port accepts.
sub start_haproxy {
    my (%opt) = @_;
    my $dir = tempdir('npsocketd-haproxy-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{NPTEST_KEEP});
    my $self = bless { dir => $dir, stats => "$dir/stats.sock", log => "$dir/haproxy.log" }, __PACKAGE__;
    (my $cfg = $opt{cfg}) =~ s/STATS/$self->{stats}/g;
    open my $fh, '>', "$dir/haproxy.cfg" or die "$dir/haproxy.cfg: $!";
    print $fh $cfg;
    close $fh;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        NpTest::die_with_parent();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $self->{log};
        open STDERR, '>&', \*STDOUT;
        { exec '/usr/sbin/haproxy', '-db', '-f', "$dir/haproxy.cfg" }
        _exit(127);
    }
    $self->{pid} = $pid;
    NpTest::stop_at_end($self);
    my $up = wait_for(sub {
        return 2 if waitpid($pid, WNOHANG) == $pid;
        return 0 unless -S $self->{stats};
        return 1 unless $opt{wait_port};
        my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $opt{wait_port}, Timeout => 1);
        return $s ? 1 : 0;
    }, 15);
    if (!$up || $up == 2) {
        delete $self->{pid} if $up;
        die "haproxy did not start:\n" . $self->log_text;
    }
    return $self;
}

sub log_text { return NpTest::slurp($_[0]{log}) }

# One command on the stats socket; its whole answer.
sub command {
    my ($self, $cmd) = @_;
    my $s = IO::Socket::UNIX->new(Peer => $self->{stats}) or return '';
    print $s "$cmd\n";
    my $sel = IO::Select->new($s);
    my $out = '';
    my $until = time + 5;
    while (time < $until && $sel->can_read($until - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $out .= $buf;
    }
    return $out;
}

# show stat as { "BACKEND/SERVER" => { column => value } }.
sub stat {
    my ($self) = @_;
    my @lines = split /\n/, $self->command('show stat');
    my $head = shift @lines // '';
    $head =~ s/^# //;
    my @cols = split /,/, $head;
    my %out;
    for my $line (@lines) {
        my @v = split /,/, $line, -1;
        my %row;
        @row{@cols} = @v;
        $out{"$row{pxname}/$row{svname}"} = \%row if defined $row{svname};
    }
    return \%out;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'USR1', $pid;  # soft stop
    return if wait_for(sub { waitpid($pid, WNOHANG) == $pid }, 5);
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

1;
