#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# systemd's notification protocol (sd_notify), with a datagram socket
# the test binds as NOTIFY_SOCKET: READY=1 once the ports accept (with a
# STATUS= line of the sessions), WATCHDOG=1 at half of WATCHDOG_USEC,
# RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 on SIGTERM.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use Socket qw(AF_UNIX SOCK_DGRAM pack_sockaddr_un);
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-notify-XXXXXX', TMPDIR => 1, CLEANUP => 1);
socket(my $notify, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
bind($notify, pack_sockaddr_un("$dir/notify")) or die "bind: $!";
my $sel = IO::Select->new($notify);

# Every message that arrives within $timeout seconds (bounded), until one
# matches $until.
sub messages {
    my ($until, $timeout) = @_;
    my @got;
    my $end = time + $timeout;
    while ((my $left = $end - time) > 0) {
        last unless $sel->can_read($left);
        recv($notify, my $msg, 4096, 0);
        push @got, $msg;
        last if $msg =~ $until;
    }
    return @got;
}

local $ENV{NOTIFY_SOCKET} = "$dir/notify";
local $ENV{WATCHDOG_USEC} = 400_000;
my $d = start_daemon(ini => <<'INI');
[Server]
logLevel = info
[Port]
port = 0
bindAddress = 127.0.0.1
INI
my @m = messages(qr/READY=1/, 5);
my ($ready) = grep { /READY=1/ } @m;
ok($ready, 'READY=1 once the ports accept');
like($ready // '', qr/^STATUS=0 sessions open; 0 accepted, 0 refused$/m, 'with a status line');
ok($d->log_text =~ /ready:/, 'after the log said ready');

my ($s) = np_connect($d, byte => 1);
@m = messages(qr/(?!)/, 2);   # all that comes in 2 s
my @dog = grep { /WATCHDOG=1/ } @m;
ok(@dog >= 2, scalar(@dog) . ' WATCHDOG=1 within 2 s of a 400 ms watchdog');
ok((grep { /STATUS=1 session open; 1 accepted/ } @m), 'and the status follows the sessions');
close $s;

kill 'HUP', $d->pid;
@m = messages(qr/READY=1/, 5);
my $reload = join '|', @m;
like($reload, qr/RELOADING=1\nMONOTONIC_USEC=\d+/, 'SIGHUP: RELOADING=1 with MONOTONIC_USEC');
like($reload, qr/RELOADING=1.*\|.*READY=1/s, 'then READY=1 when it is done');

kill 'TERM', $d->pid;
@m = messages(qr/STOPPING=1/, 5);
ok((grep { /^STOPPING=1\nSTATUS=stopping: SIGTERM$/ } @m), 'SIGTERM: STOPPING=1');
is($d->wait_exit(10), 0, 'and it exits 0');

# Without NOTIFY_SOCKET nothing is sent and nothing fails.
delete local $ENV{NOTIFY_SOCKET};
delete local $ENV{WATCHDOG_USEC};
my $plain = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
is($plain->stop, 0, 'outside systemd it starts and stops as before');
unlike($plain->log_text, qr/sd_notify/, 'without a word of sd_notify');
done_testing();
