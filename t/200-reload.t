#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Reloading the whole configuration (SIGHUP, and `reload` on the control
# socket) under live plain and TLS sessions: ports added, removed and
# kept, limits, allow/deny, timeouts, transaction size, the session
# handler, certificates, logLevel and a [Server] key that needs a
# restart, each changed while sessions started before run on untouched.
# Then broken files (syntax, bad value, a port another process holds, a
# missing key, a module that does not load): nothing changes, the reason
# is logged and returned to reload's caller.  Counters survive.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use Time::HiRes qw(sleep time);

my $dir = tempdir('npsocketd-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
system('sh', 't/lib/make-certs.sh', "$dir/pki") == 0 or BAIL_OUT('cannot make the test PKI');
my $pki = "$dir/pki";
my $ctl = "$dir/control.sock";
copy("$pki/server.pem", "$dir/cert.pem") && copy("$pki/server.key", "$dir/key.pem") or BAIL_OUT("copy: $!");

# The configuration as sections; each step rewrites the file from it.
my %server = (logLevel => 'info', controlSocket => $ctl);
my %sec = (
    'Port.a'   => { port => 0, bindAddress => '127.0.0.1' },
    'Port.gone' => { port => 0, bindAddress => '127.0.0.1' },
    'Port.tls' => { port => 0, bindAddress => '127.0.0.1', sslSection => 'SSL' },
    SSL        => { certFile => "$dir/cert.pem", keyFile => "$dir/key.pem" },
);
sub ini {
    my $text = "[Server]\n" . join('', map { "$_ = $server{$_}\n" } sort keys %server);
    for my $name (sort keys %sec) {
        $text .= "[$name]\n" . join('', map { "$_ = $sec{$name}{$_}\n" } sort keys %{ $sec{$name} });
    }
    return $text;
}

my $d = start_daemon(ini => ini());
my %port = map { $_ => $d->port($_) } qw(Port.a Port.gone Port.tls);
sub write_config {
    my ($text) = @_;
    open my $fh, '>', $d->config . '.new' or die $!;
    print $fh $text;
    close $fh;
    rename $d->config . '.new', $d->config or die $!;
}
# `npsocketctl reload`: (exit code, what it printed).
sub reload_ctl {
    my ($out, $err, $code) = run_bounded(['build/npsocketctl', '-s', $ctl, 'reload'], timeout => 40);
    return ($code, $out . $err);
}
my $reloads = 0;
# Rewrites the file, reloads by SIGHUP and waits for the outcome's line.
sub reload_hup {
    my ($what) = @_;
    write_config(ini());
    my $n = () = $d->log_text =~ /reload: \S+ (?:in force|has errors|not applied)/g;
    kill 'HUP', $d->pid;
    my $ok = wait_for(sub { my $m = () = $d->log_text =~ /reload: \S+ (?:in force|has errors|not applied)/g; $m > $n }, 20);
    $reloads++;
    ok($ok && $d->log_text =~ /reload: \S+ in force: [^\n]*\n(?![\s\S]*reload: \S+ (?:has errors|not applied))/,
       "SIGHUP reload: $what");
}
sub tcp { my ($p) = @_; my ($s, $a) = np_connect($d, port => $p, byte => 1); return defined $a && $a == 1 ? $s : undef }
sub tls_session { return np_tls_session($_[0], "$pki/ca.pem") }
sub refused_or_closed {
    my ($p) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $p, Timeout => 5) or return 1;
    syswrite($s, "\x01");
    return wait_eof($s, 5);
}

# Sessions that live through every reload below.
my $old_a = tcp($port{'Port.a'});
my $old_gone = tcp($port{'Port.gone'});
my $old_tls = tls_session($port{'Port.tls'});
ok($old_a && $old_gone && $old_tls, 'three live sessions: plain on Port.a and Port.gone, TLS on Port.tls');
ok(echo_ok($old_a, 'a') && echo_ok($old_gone, 'g') && echo_ok($old_tls, 't'), 'each exchanges a transaction');

# --- ports: one added, one removed, the rest kept ---------------------------------------------------------
delete $sec{'Port.gone'};
$sec{'Port.new'} = { port => 0, bindAddress => '127.0.0.1' };
reload_hup('a port added, a port removed');
like($d->log_text, qr/\[Port\.gone\] is gone from the configuration: no longer listening on 127\.0\.0\.1:$port{'Port.gone'}; its 1 session runs on/,
     'the removed port says it stopped listening and its session runs on');
my ($new_port) = $d->log_text =~ /listening on 127\.0\.0\.1:(\d+) for \[Port\.new\]/;
ok($new_port, 'the added port listens');
my $s = $new_port && tcp($new_port);
ok($s && echo_ok($s, 'new port'), 'and serves a session');
close $s if $s;
ok(refused_or_closed($port{'Port.gone'}), 'the removed port accepts no more');
ok(echo_ok($old_gone, 'gone but alive'), 'the session on the removed port goes on');
$s = tcp($port{'Port.a'});
ok($s && echo_ok($s, 'same port'), 'a kept port keeps its socket (port = 0 stays the port bound)');
close $s if $s;
ok(echo_ok($old_a, 'a2') && echo_ok($old_tls, 't2'), 'the sessions on kept ports go on');
like(control($ctl, 'show info'), qr/^listeners: 3\n/m, 'show info counts the listeners in force');

# --- limits: the kept port's live session still counts -------------------------------------------------------
$sec{'Port.a'}{maxConnections} = 1;
reload_hup('maxConnections of a port 1');
ok(refused_or_closed($port{'Port.a'}), 'the session open before counts against the new limit: the next is refused');
ok($d->wait_log(qr/refused 127\.0\.0\.1:\d+ on port $port{'Port.a'}: maxConnections of the port reached/),
   'refused for the port\'s maxConnections');
ok(echo_ok($old_a, 'a3'), 'the session within the limit goes on');
delete $sec{'Port.a'}{maxConnections};
$server{maxConnections} = 3;
reload_hup('[Server] maxConnections 3 with 3 sessions open');
ok(refused_or_closed($new_port), 'a fourth connection is refused');
like(control($ctl, 'show info'), qr/^max_connections: 3\n/m, 'show info says the new limit');
delete $server{maxConnections};

# --- allow/deny ------------------------------------------------------------------------------------------------
$sec{'Port.a'}{deny} = '127.0.0.1';
reload_hup('deny = 127.0.0.1 on Port.a');
ok(refused_or_closed($port{'Port.a'}), 'a new connection from a denied address is refused');
ok(echo_ok($old_a, 'denied but open'), 'a session admitted before goes on');
delete $sec{'Port.a'}{deny};

# --- timeouts and the transaction size apply to new sessions ---------------------------------------------------
$sec{'Port.a'}{idleTimeout} = 1;
$sec{'Port.a'}{maxTransactionSize} = 64;
reload_hup('idleTimeout 1 s and maxTransactionSize 64 on Port.a');
$s = tcp($port{'Port.a'});
ok($s && echo_ok($s, 'x' x 64), 'a new session: 64 bytes pass');
ok($s && !echo_ok($s, 'x' x 65), 'and 65 bytes end it (the new maxTransactionSize)');
my $idle = tcp($port{'Port.a'});
ok($idle && wait_eof($idle, 10), 'a new session idle past the new idleTimeout is closed');
ok(echo_ok($old_a, 'y' x 1000), 'the old session keeps its own limit (1000 bytes)');
sleep 1.5;
ok(echo_ok($old_a, 'idle for 1.5 s'), 'and has no idle timeout');
delete $sec{'Port.a'}{$_} for qw(idleTimeout maxTransactionSize);

# --- the session handler ---------------------------------------------------------------------------------------
$sec{'Port.a'}{sessionHandler} = 'module:' . abs_path('build/t/whoami.so');
reload_hup('sessionHandler echo -> module');
$s = tcp($port{'Port.a'});
my ($first) = $s ? read_frame($s, timeout => 5) : ();
like($first // '', qr/^peer=127\.0\.0\.1:\d+ /, 'a new session is served by the new handler');
ok(echo_ok($old_a, 'still echo'), 'the old session by the handler it started with');
close $s if $s;
delete $sec{'Port.a'}{sessionHandler};

# --- certificates ----------------------------------------------------------------------------------------------
copy("$pki/other.pem", "$dir/cert.pem") && copy("$pki/other.key", "$dir/key.pem") or die $!;
reload_hup('new certificate files under the same names');
my ($out) = run_bounded(['build/npcat', '-w', 5, '--tls', '--ca', "$pki/ca.pem", '--sni', 'other.test', '127.0.0.1',
                         $port{'Port.tls'}, 'other'], timeout => 30);
is($out, "other\n", 'a new handshake gets the new certificate');
ok(echo_ok($old_tls, 't3'), 'the TLS session open before goes on');

# --- logLevel and a key that waits for a restart ---------------------------------------------------------------
$server{logLevel} = 'debug';
$server{pidFile} = "$dir/other.pid";
reload_hup('logLevel debug, pidFile changed');
like($d->log_text, qr/warning: reload: \[Server\] pidFile changed: it takes effect at the next start/,
     'a [Server] key used only at start: the reload says it waits for a restart');
$s = tcp($port{'Port.a'});
ok($d->wait_log(qr/debug: conn \d+ accepted from 127\.0\.0\.1/), 'debug lines from now on');
close $s if $s;
$server{logLevel} = 'info';
delete $server{pidFile};

# --- by the control socket -------------------------------------------------------------------------------------
write_config(ini());
my ($code, $said) = reload_ctl();
$reloads++;
is($code, 0, 'npsocketctl reload: exit 0');
like($said, qr/^ok: reloaded: 3 ports \(3 kept, 0 added, 0 removed\), 1 TLS section/m, 'and says what changed');

# --- broken files: nothing changes, the caller hears why -------------------------------------------------------
my $holder = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1)
    or die "listen: $!";
my $held = $holder->sockport;
my @broken = (
    [ 'a syntax error', ini() . "[Port.x\nport = 1\n", qr/\S+ has errors, nothing changed/, qr/:\d+: syntax error/ ],
    [ 'a bad value', ini() . "[Port.x]\nport = 0\nbindAddress = 127.0.0.1\nidleTimeout = soon\n",
      qr/idleTimeout/, qr/expected/ ],
    [ 'a port another process holds', ini() . "[Port.x]\nport = $held\nbindAddress = 127.0.0.1\n",
      qr/\[Port\.x\]: .*$held.*Address already in use/, qr/not applied, nothing changed/ ],
    [ 'a missing key', ini() =~ s/keyFile = \S+/keyFile = $dir\/missing.key/r, qr/\[SSL\]: .*missing\.key/,
      qr/not applied, nothing changed/ ],
    [ 'a module that does not load', ini() . "[Port.x]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = module:$dir/none.so\n",
      qr/\[Port\.x\]: cannot load module/, qr/not applied, nothing changed/ ],
);
my %before;
prometheus_problems(control($ctl, 'show metrics'), \%before);
for my $case (@broken) {
    my ($what, $text, $why, $also) = @$case;
    write_config($text);
    my $log_before = length $d->log_text;
    my ($c, $answer) = reload_ctl();
    is($c, 1, "$what: npsocketctl reload exits 1");
    like($answer, qr/reload failed; nothing changed/, "$what: the answer says nothing changed");
    like($answer, $why, "$what: and why");
    like($answer, $also, "$what: in the checker's words");
    like(substr($d->log_text, $log_before), $why, "$what: the log says why too");
    unlike(substr($d->log_text, $log_before), qr/listening on \S+ for \[Port\.x\]/, "$what: no port opened");
    $s = tcp($port{'Port.a'});
    ok($s && echo_ok($s, 'unchanged'), "$what: the ports in force still serve");
    close $s if $s;
}
close $holder;
$s = tcp($port{'Port.a'});
($first) = $s ? read_frame($s, timeout => 1) : ();
ok(!defined $first, 'the handler in force is still echo (no greeting)');
close $s if $s;
ok(echo_ok($old_a, 'a4') && echo_ok($old_gone, 'g4') && echo_ok($old_tls, 't4'),
   'the three sessions from the start still exchange transactions');

# --- a burst of SIGHUPs ---------------------------------------------------------------------------------------
write_config(ini());
my $n0 = () = $d->log_text =~ /reload: \S+ in force/g;
kill 'HUP', $d->pid for 1 .. 20;
ok(wait_for(sub { my $n = () = $d->log_text =~ /reload: \S+ in force/g; $n > $n0 }, 20), '20 SIGHUPs at once: reloaded');
ok(echo_ok($old_a, 'a5') && echo_ok($old_tls, 't5'), 'and the sessions go on');

# --- counters survive ------------------------------------------------------------------------------------------
my %m;
my @problems = prometheus_problems(control($ctl, 'show metrics'), \%m);
is_deeply(\@problems, [], 'show metrics is valid Prometheus text');
ok(($m{'npsocketd_reloads_total{result="ok"}'} // 0) >= $reloads, 'npsocketd_reloads_total{result="ok"} counts the reloads');
is($m{'npsocketd_reloads_total{result="failed"}'}, scalar(@broken), 'and {result="failed"} the broken ones');
ok(($m{npsocketd_connections_accepted_total} // 0) >= ($before{npsocketd_connections_accepted_total} // 1e9) + @broken + 1,
   'npsocketd_connections_accepted_total goes on counting across reloads');

close $_ for $old_a, $old_gone;
$old_tls->close(SSL_no_shutdown => 1);
ok($d->wait_log(qr/\[Port\.gone\] of an earlier configuration: its last session ended|conn \d+ end: [^\n]*listener=Port\.gone/),
   'the removed port\'s last session ends normally');
is($d->stop, 0, 'npsocketd stops cleanly');
done_testing();
