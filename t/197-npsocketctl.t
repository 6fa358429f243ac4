#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# npsocketctl against a live daemon: the session table aligned for
# people and as JSON, show info as JSON, show metrics as Prometheus text
# and as JSON, kill by id (the client sees the close), drain and ready,
# the socket found through -c, and the exit statuses: 0 answered,
# 1 refused, 2 usage or no daemon.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;

my $dir = tempdir('npsocketd-ctl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sock = "$dir/control.sock";
my $d = start_daemon(ini => <<"INI");
[Server]
controlSocket = $sock
[Port]
port = 0
bindAddress = 127.0.0.1
INI
sub ctl { return run_bounded(['build/npsocketctl', @_], timeout => 20) }

my ($s1) = np_connect($d, byte => 1);
my ($s2) = np_connect($d, byte => 1);
ok(echo_ok($s1, 'a') && echo_ok($s2, 'b'), 'two live sessions');

my ($out, $err, $rc) = ctl('-s', $sock, 'show', 'sessions');
is($rc, 0, 'show sessions: exit 0');
my @lines = split /\n/, $out;
is(scalar(@lines), 3, 'a header and a line per session');
like($lines[0], qr/^id\s+listener\s+port\s+protocol\s+transport\s+stage\s+peer\s+via\s+started\s+idle_ms\s+bytes_in/, 'the header names the columns');
my $col = index($lines[0], 'peer');
ok((grep { substr($_, $col) =~ /^127\.0\.0\.1:\d+ / } @lines[1, 2]) == 2, 'columns aligned: each peer under its header');

($out, $err, $rc) = ctl('-c', $d->config, '--json', 'show', 'sessions');
my $rows = eval { decode_json($out) };
is($rc, 0, '--json through -c (the configuration\'s controlSocket): exit 0');
is(ref $rows, 'ARRAY', 'an array');
is(scalar(@{ $rows // [] }), 2, 'of both sessions');
my ($row) = grep { $_->{peer} eq '127.0.0.1:' . $s1->sockport } @{ $rows // [] };
ok($row && $row->{protocol} eq 'client' && $row->{transactions_in} == 1 && !defined $row->{via}, 'numbers as numbers, - as null');

($out, $err, $rc) = ctl('-s', $sock, '-j', 'show', 'info');
my $info = eval { decode_json($out) } // {};
is($info->{pid}, $d->pid, 'show info as JSON: the pid');
is($info->{sessions}, 2, 'and the sessions');

($out, $err, $rc) = ctl('-s', $sock, 'show', 'metrics');
my %samples;
is($rc, 0, 'show metrics: exit 0');
is_deeply([prometheus_problems($out, \%samples)], [], 'the Prometheus text as the daemon sent it, not as a table');
is($samples{'npsocketd_sessions{listener="Port",protocol="client",transport="tcp"}'}, 2, 'counting both sessions');
($out, $err, $rc) = ctl('-s', $sock, '--json', 'show', 'metrics');
my $metrics = eval { decode_json($out) } // {};
is($metrics->{'npsocketd_sessions{listener="Port",protocol="client",transport="tcp"}'}, 2,
   'show metrics as JSON: each sample, name with labels, to its value');
is_deeply([sort keys %$metrics], [sort keys %samples], 'every sample, and no HELP or TYPE line');

($out, $err, $rc) = ctl('-s', $sock, 'kill', 'session', $row->{id});
is($rc, 0, 'kill session ID: exit 0');
ok(wait_eof($s1, 5), 'the killed client sees the connection close');
ok($d->wait_log(qr/conn $row->{id} end: .*reason="killed by control: /, 5), 'its end line says killed by control');
ok(echo_ok($s2, 'c'), 'the other session goes on');

($out, $err, $rc) = ctl('-s', $sock, 'kill', 'session', 424242);
is($rc, 1, 'kill of no such session: exit 1');
like($err, qr/no session 424242/, 'with the daemon\'s reason on stderr');
($out, $err, $rc) = ctl('-s', $sock, '--json', 'frobnicate');
is($rc, 1, 'an unknown command: exit 1');
is_deeply(eval { decode_json($out) }, { error => 'unknown command (try help)' }, 'as JSON: {"error": ...}');
($out, $err, $rc) = ctl('-s', $sock, '--json', 'drain');
is_deeply([$rc, eval { decode_json($out) }], [0, { ok => 'draining' }], 'drain: {"ok": "draining"}');
($out, $err, $rc) = ctl('-s', $sock, 'ready');
is($rc, 0, 'ready: exit 0');
($out, $err, $rc) = ctl('-s', "$dir/nothing.sock", 'show', 'info');
is($rc, 2, 'no daemon at the socket: exit 2');
like($err, qr/nothing\.sock: No such file or directory/, 'and says why');
($out, $err, $rc) = ctl();
is($rc, 2, 'no command: a usage error (2)');

close $s2;
is($d->stop, 0, 'the daemon stops cleanly');
done_testing();
