#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# sessionHandler = forward: every client (1) or RAPP (3) session relayed to
# an upstream that speaks the protocol — a second npsocketd and the Java
# reference listener — transactions intact both ways; an upstream that is
# down or dies ends the client's session with a log line.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use IO::Socket::IP;
use IO::Select;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

sub connect_byte {
    my ($port, $byte) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Timeout => 5)
        or die "connect: $!";
    binmode $s;
    syswrite($s, chr($byte));
    my $sel = IO::Select->new($s);
    my $answer;
    if ($sel->can_read(10) && sysread($s, my $b, 1)) { $answer = ord $b }
    return ($s, $answer);
}

sub forwarder_for {
    my ($upstream) = @_;
    return start_daemon(ini => <<"INI");
[Port]
port = 0
bindAddress = 127.0.0.1
sessionHandler = forward
upstream = $upstream
upstreamConnectTimeout = 2
compressionThreshold = 100
INI
}

# Sends a mix of sizes, some compressed, and checks each answer.
sub exchange_mixed {
    my ($s, $label) = @_;
    my $ok = 1;
    for my $i (0 .. 39) {
        my $size = (0, 1, 100, 1000, 20000, 300000)[$i % 6];
        my $payload = join '', map { chr(($_ * 7 + $i) % 251) } 1 .. $size;
        # Not an empty compressed payload: the Java reference listener's
        # inflate loop cannot take one (it closes the connection);
        # npsocketd accepts it (t/030-transactions.t).
        my $compress = $i % 3 == 0 && $size > 0;
        send_frame($s, $payload, compress => $compress);
        my ($back) = read_frame($s, timeout => 10);
        if (!defined $back || $back ne $payload) {
            $ok = 0;
            diag("$label: transaction $i ($size bytes) came back "
                 . (defined $back ? length($back) . ' bytes' : 'not at all'));
            last;
        }
    }
    return $ok;
}

# --- to a second npsocketd running echo ---------------------------------------
my $echo = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
my $fwd = forwarder_for('127.0.0.1:' . $echo->port);
for my $byte (1, 3) {
    my ($s, $answer) = connect_byte($fwd->port, $byte);
    is($answer, 1, "protocol byte $byte is accepted once the upstream accepted it");
    ok(exchange_mixed($s, "npsocketd byte $byte"),
       "byte $byte: mixed sizes and compression intact through the forwarder to npsocketd");
    close $s;
}
ok($fwd->wait_log(qr/protocol=client .*reason="client closed the session"/, 5),
   'the forwarded session leaves its log line');

# --- an upstream killed mid-session ----------------------------------------------
{
    my ($s, $answer) = connect_byte($fwd->port, 1);
    is($answer, 1, 'a session through the forwarder before the upstream dies');
    $echo->stop;
    my $sel = IO::Select->new($s);
    my $closed = 0;
    if ($sel->can_read(15)) { $closed = !sysread($s, my $b, 1) }
    ok($closed, 'the client is closed when the upstream dies');
    ok($fwd->wait_log(qr/reason="upstream closed the session"|reason="upstream: /, 5),
       'and the log says the upstream ended it');
}

# --- an upstream that is down ------------------------------------------------------
{
    my ($s, $answer) = connect_byte($fwd->port, 1);
    ok(!defined $answer, 'with the upstream down the client gets no accept byte, only a close');
    ok($fwd->wait_log(qr/reason="upstream 127\.0\.0\.1:\d+ unreachable: connect to/, 5),
       'the log names the unreachable upstream');
}
$fwd->stop;

# --- upstreams that misbehave: a fake one scripted per connection ---------------------
# Each accepted connection reads the protocol byte and then plays one act.
sub fake_upstream {
    my ($act) = @_;
    my $server = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5,
                                     ReuseAddr => 1) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        alarm 30;
        while (my $c = $server->accept) {
            sysread($c, my $byte, 1);
            $act->($c);
            close $c;
        }
        POSIX::_exit(0);
    }
    my $port = $server->sockport;
    close $server;
    return ($pid, $port);
}

my @acts = (
    [ 'answers 0 instead of 1', sub { syswrite($_[0], chr(0)) },
      qr/reason="upstream 127\.0\.0\.1:\d+ refused protocol byte 1 \(answered 0\)"/, 0 ],
    [ 'sends a frame over maxTransactionSize', sub {
          syswrite($_[0], chr(1) . pack('N', 0x7fffffff)); sleep 2 },
      qr/reason="upstream: transaction of 2147483647 bytes exceeds maxTransactionSize/, 1 ],
    [ 'sends a corrupt compressed frame', sub {
          syswrite($_[0], chr(1) . pack('N', 0x80000000 | 6) . "garbage"); sleep 2 },
      qr/reason="upstream: corrupt zlib stream/, 1 ],
    [ 'stalls inside a frame', sub {
          syswrite($_[0], chr(1) . pack('N', 100) . "only part"); sleep 10 },
      qr/reason="upstream: read timeout: no data for 1.000s in the transaction payload"/, 1 ],
);
for my $act (@acts) {
    my ($name, $script, $log, $accepted) = @$act;
    my ($pid, $port) = fake_upstream($script);
    my $f = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nsessionHandler = forward\n"
                              . "upstream = 127.0.0.1:$port\nreadTimeout = 1\nupstreamConnectTimeout = 2\n");
    my ($s, $answer) = connect_byte($f->port, 1);
    is($answer, $accepted ? 1 : undef, "an upstream that $name: the client " . ($accepted ? 'is accepted first' : 'gets no accept byte'));
    my $sel = IO::Select->new($s);
    my $closed = $sel->can_read(10) && !sysread($s, my $b, 1);
    ok($closed, "an upstream that $name: the client is closed");
    ok($f->wait_log($log, 5), "an upstream that $name: the log says so") or diag($f->log_text);
    $f->stop;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# --- an upstream that refuses the protocol byte (byte 2 on the Java listener) -------
SKIP: {
    my $java = `sh -c 'command -v java'`;
    skip 'java is not installed', 6 unless $java;
    my $src = '../shared/peers/java-listener/JavaListener.java';
    skip "$src is not beside this checkout", 6 unless -f $src;
    my $dir = tempdir(CLEANUP => 1);
    pipe(my $r, my $w) or die;
    my $pid = fork // die;
    if ($pid == 0) {
        close $r;
        open STDOUT, '>&', $w or die;
        exec 'java', $src, '--port', '0' or POSIX::_exit(127);
    }
    close $w;
    my $sel = IO::Select->new($r);
    my $line = '';
    my $until = time + 60;
    while ($line !~ /\n/ && time < $until && $sel->can_read($until - time)) {
        sysread($r, $line, 100, length $line) or last;
    }
    my ($jport) = $line =~ /listening (\d+)/;
    ok($jport, 'the Java reference listener started');
    my $jfwd = forwarder_for("127.0.0.1:" . ($jport // 1));
    my ($s, $answer) = connect_byte($jfwd->port, 1);
    is($answer, 1, 'a client is accepted through the forwarder to the Java listener');
    ok(exchange_mixed($s, 'java'), 'mixed sizes and compression intact through the Java listener');
    close $s;
    ($s, $answer) = connect_byte($jfwd->port, 3);
    is($answer, 1, 'a RAPP session is accepted through the Java listener');
    ok(exchange_mixed($s, 'java rapp'), 'RAPP transactions intact through the Java listener');
    close $s;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    ($s, $answer) = connect_byte($jfwd->port, 1);
    ok(!defined $answer, 'the Java listener gone: the client is closed without an answer');
    $jfwd->stop;
}

done_testing;
