#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# sessionHandler = module:PATH — the C handler interface
# (include/npsocket/handler.h): the two example modules loaded from the
# built tree, and a module with a wrong ABI version refused at start-up.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Cwd qw(getcwd);
use IO::Socket::IP;
use IO::Select;
use File::Temp qw(tempdir);
use POSIX qw(_exit);
use Time::HiRes qw(time);

my $modules = getcwd() . '/build/modules';
ok(-f "$modules/echo.so" && -f "$modules/broadcast.so", 'make built both example modules');

sub connect_client {
    my ($d) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $d->port, Timeout => 5)
        or die "connect: $!";
    binmode $s;
    syswrite($s, chr(1));
    my $sel = IO::Select->new($s);
    return undef unless $sel->can_read(5) && sysread($s, my $b, 1);
    return ord($b) == 1 ? $s : undef;
}

# --- echo.so -------------------------------------------------------------------
{
    my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                              . "sessionHandler = module:$modules/echo.so\n");
    my $s = connect_client($d);
    ok($s, 'the echo module accepts a client');
    my $all = 1;
    for my $size (0, 5, 5000, 500000) {
        my $p = 'e' x $size;
        send_frame($s, $p, compress => $size > 1000);
        my ($back) = read_frame($s, timeout => 10);
        $all &&= defined $back && $back eq $p;
    }
    ok($all, 'the echo module answers transactions of 0 B to 500 kB intact');
    close $s;
    ok($d->wait_log(qr/protocol=client .*transactions=4\/4/, 5), 'its session is logged with 4/4');
    $d->stop;
}

# One transaction from $from reaches $to.
sub echo_broadcast {
    my ($from, $to) = @_;
    send_frame($from, 'after', compress => 0) or return 0;
    # What the sender sent before may still be on its way: skipped.
    for (1 .. 300) {
        my ($p) = read_frame($to, timeout => 10);
        return 0 unless defined $p;
        return 1 if $p eq 'after';
    }
    return 0;
}

# --- broadcast.so: 50 concurrent writers ----------------------------------------------
{
    my $d = start_daemon(ini => "[Server]\nmaxConnections = 200\n[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                              . "readTimeout = 30\nsessionHandler = module:$modules/broadcast.so\n");
    my $n = 50;
    my $each = 10;
    my @socks = map { connect_client($d) } 1 .. $n;
    is(scalar(grep { defined } @socks), $n, "$n sessions joined the broadcast port");
    my @kids;
    for my $i (0 .. $n - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            alarm 60;
            my $s = $socks[$i];
            my %seen;
            my $expect = ($n - 1) * $each;
            my $got = 0;
            for my $k (1 .. $each) { send_frame($s, "s$i-m$k", compress => 0) }
            while ($got < $expect) {
                my ($p) = read_frame($s, timeout => 20);
                last unless defined $p;
                $seen{$p}++;
                $got++;
            }
            my $bad = 0;
            for my $j (0 .. $n - 1) {
                for my $k (1 .. $each) {
                    my $c = $seen{"s$j-m$k"} // 0;
                    $bad++ if ($j == $i ? $c != 0 : $c != 1);
                }
            }
            $bad++ if $got != $expect;
            _exit($bad ? 1 : 0);
        }
        push @kids, $pid;
    }
    my $good = 0;
    for my $pid (@kids) { waitpid($pid, 0); $good++ if $? == 0 }
    is($good, $n, "every session received every other session's transactions exactly once, none of its own");
    close $_ for grep { defined } @socks;
    $d->stop;
}

# --- broadcast.so: a member that stops reading holds nobody up ----------------------
{
    my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                              . "sessionHandler = module:$modules/broadcast.so\n");
    my ($sender, $reader, $deaf) = map { connect_client($d) } 1 .. 3;
    ok($sender && $reader && $deaf, 'three members: a sender, a reader, one that never reads');
    setsockopt($deaf, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), pack('i', 4096));
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        alarm 60;
        for my $k (1 .. 200) {
            my ($p) = read_frame($reader, timeout => 20);
            _exit(1) unless defined $p && substr($p, 0, 8) eq sprintf('%08d', $k);
        }
        _exit(0);
    }
    my $noise = join '', map { chr(rand 256) } 1 .. 65528;    # incompressible
    my $sent = 0;
    for my $k (1 .. 200) { send_frame($sender, sprintf('%08d', $k) . $noise, compress => 0) or last; $sent++ }
    is($sent, 200, 'the sender sends 200 transactions of 64 KiB (12.5 MiB) while one member reads nothing');
    my $late = connect_client($d);
    ok($late, 'a new member joins meanwhile');
    waitpid($pid, 0);
    is($?, 0, 'the reader receives all 200, in order');
    ok($d->wait_log(qr/reason="broadcast: dropped, more than 4194304 bytes behind the others"/, 10),
       'the member that read nothing is dropped, saying so');
    ok(echo_broadcast($sender, $late), 'the others go on: the late member receives what the sender sends next');
    close $_ for $sender, $reader, $deaf, $late;
    is($d->stop, 0, 'npsocketd stops cleanly');
}

# --- a module with a wrong ABI version ---------------------------------------------------
SKIP: {
    my $cc = $ENV{CC} || 'cc';
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/bad.c" or die;
    print $fh <<'C';
#include <npsocket/handler.h>
static int nothing(void *state, struct np_session *s) { (void)state; (void)s; return 0; }
const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION + 41, .name = "bad",
	.on_client_connect = nothing, .on_remote_application_connect = nothing,
};
C
    close $fh;
    system("$cc -fPIC -shared -Iinclude -o $dir/bad.so $dir/bad.c") == 0
        or skip 'cannot build a test module', 2;
    open $fh, '>', "$dir/bad.ini" or die;
    print $fh "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/bad.so\n";
    close $fh;
    my $out = `build/npsocketd -c $dir/bad.ini 2>&1`;
    my $rc = $? >> 8;
    is($rc, 78, 'npsocketd refuses to start with a module of another ABI version (78)');
    like($out, qr/module \S*bad\.so refused: its ABI version differs/, 'and says which module and why');

    open $fh, '>', "$dir/none.ini" or die;
    print $fh "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/missing.so\n";
    close $fh;
    $out = `build/npsocketd -c $dir/none.ini 2>&1`;
    like($out, qr/cannot load module \S*missing\.so/, 'a missing module file is named');
}

# --- a module's own keys, a failing callback, a missing descriptor ------------------------------
SKIP: {
    my $cc = $ENV{CC} || 'cc';
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/probe.c" or die;
    print $fh <<'C';
#include <stdlib.h>
#include <string.h>
#include <npsocket/handler.h>
static int init(const struct np_handler_env *env, void **state)
{
	const char *greeting = env->setting(env, "greeting");
	*state = strdup(greeting ? greeting : "(none)");
	return *state ? 0 : -1;
}
static void done(void *state) { free(state); }
static int greet(void *state, struct np_session *s)
{
	struct np_comm *comm = np_session_comm(s);
	struct np_transaction t;
	if (np_comm_read_transaction(comm, &t) < 0)
		return -1;
#ifdef FAIL
	np_session_set_end_reason(s, "probe module refuses %zu bytes", t.length);
	return -1;
#else
	return np_comm_write_transaction(comm, state, strlen(state));
#endif
}
#ifndef NO_DESCRIPTOR
const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION, .name = "probe", .init = init, .shutdown = done,
	.on_client_connect = greet, .on_remote_application_connect = greet,
};
#endif
C
    close $fh;
    for my $variant (['probe', ''], ['fail', '-DFAIL'], ['none', '-DNO_DESCRIPTOR']) {
        system("$cc -fPIC -shared -Iinclude $variant->[1] -o $dir/$variant->[0].so $dir/probe.c") == 0
            or skip 'cannot build the test modules', 5;
    }
    my $p = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n"
                              . "sessionHandler = module:$dir/probe.so\ngreeting = hello from the INI\n");
    my $s = connect_client($p);
    send_frame($s, 'hi');
    my ($back) = read_frame($s);
    is($back, 'hello from the INI', "init() reads the module's own key from its port section");
    unlike($p->log_text, qr/unknown key 'greeting'/, "and the module's key draws no unknown-key warning");
    $p->stop;

    my $f = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/fail.so\n");
    $s = connect_client($f);
    send_frame($s, 'abc');
    ok(!defined read_exact($s, 1, 5), 'a callback that returns an error ends its session');
    ok($f->wait_log(qr/reason="probe module refuses 3 bytes"/), 'with the reason the module gave');
    ok(connect_client($f), 'and the port goes on serving');
    $f->stop;

    open $fh, '>', "$dir/none.ini" or die;
    print $fh "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/none.so\n";
    close $fh;
    my $out = `build/npsocketd -c $dir/none.ini 2>&1`;
    is($? >> 8, 78, 'a module without the descriptor refuses the start (78)');
    like($out, qr/module \S*none\.so refused: it does not export np_handler_descriptor/, 'naming the missing symbol');
}

# --- a module answers ACME http-01 challenges through the web path -------------------------------
SKIP: {
    my $cc = $ENV{CC} || 'cc';
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/acme.c" or die;
    print $fh <<'C';
#include <npsocket/handler.h>
static const struct np_handler_env *kept;
static int init(const struct np_handler_env *env, void **state)
{
	(void)state;
	kept = env;
	if (env->set_challenge(env, "bad token!", "x") == 0)
		return -1; /* a token that is not base64url must be refused */
	if (env->set_challenge(env, "gone-token", "gone") < 0 || env->set_challenge(env, "gone-token", NULL) < 0)
		return -1;
	return env->set_challenge(env, "Tok_en-123", "Tok_en-123.thumbprint");
}
static int nothing(void *state, struct np_session *s) { (void)state; (void)s; return 0; }
/* Later, from a session's thread, through the env init() kept. */
static int late(void *state, struct np_session *s)
{
	(void)state;
	(void)s;
	return kept->set_challenge(kept, "late-token", "late-token.answer");
}
const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION, .name = "acme-test", .init = init,
	.on_client_connect = late, .on_remote_application_connect = nothing,
};
C
    close $fh;
    system("$cc -fPIC -shared -Iinclude -o $dir/acme.so $dir/acme.c") == 0
        or skip 'cannot build the test module', 8;
    skip 'curl is not installed', 8 unless `sh -c 'command -v curl'` ne '';
    # The answer is on every port: also one that serves no web path of
    # its own (webSocketPath empty, no webRoot).
    my $a = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/acme.so\n"
                              . "[Port.bare]\nport = 0\nbindAddress = 127.0.0.1\nwebSocketPath =\n");
    for my $name ('Port', 'Port.bare') {
        my $url = "http://127.0.0.1:@{[ $a->port($name) ]}/.well-known/acme-challenge";
        my $got = `curl -s -w ' %{http_code}' --max-time 10 $url/Tok_en-123`;
        is($got, 'Tok_en-123.thumbprint 200', "[$name]: the key authorization for a pending token, 200");
        $got = `curl -s -o /dev/null -w '%{http_code}' --max-time 10 $url/gone-token`;
        is($got, '404', "[$name]: a token removed again: 404");
    }
    ok($a->wait_log(qr/answered the ACME http-01 challenge Tok_en-123/), 'the answer is logged');
    my $c = np_connect($a, byte => 1);
    ok($a->wait_log(qr/conn \d+ end: .*protocol=client /), 'a client session runs the module\'s callback');
    my $late = `curl -s -w ' %{http_code}' --max-time 10 http://127.0.0.1:@{[ $a->port('Port.bare') ]}/.well-known/acme-challenge/late-token`;
    is($late, 'late-token.answer 200', 'an answer set later, from a session, through the env init() kept');
    ok($a->wait_log(qr/ready: 2 ports/), 'the module\'s init (which checks a bad token is refused) succeeded');
    $a->stop;
}

done_testing;
