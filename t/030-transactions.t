#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# Framed transactions both ways: sizes, compression in and out,
# compressionThreshold (default and set), compression = false,
# maxTransactionSize exactly at and one past the limit (wire and inflated),
# pipelining, a frame dribbled byte by byte, readTimeout and idleTimeout.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use Compress::Zlib qw(compress);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

sub text { my ($n) = @_; substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ' x ($n / 26 + 1), 0, $n) }    # compressible
sub random_bytes { my ($n) = @_; pack 'C*', map { int rand 256 } 1 .. $n }

# --- defaults: compression on, threshold 1024, maxTransactionSize 8 MiB -------------------------
{
    my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my ($s, $answer) = np_connect($d, byte => 1);
    is($answer, 1, 'default port: session accepted');
    for my $case ([0, 0], [1, 0], [1023, 0], [1024, 1], [1023, 1], [1024, 0], [100000, 1]) {
        my ($size, $compress) = @$case;
        my $payload = text($size);
        send_frame($s, $payload, compress => $compress);
        my ($back, $was) = read_frame($s, timeout => 10);
        is($back, $payload, "default: $size bytes" . ($compress ? ' sent compressed' : '') . ' come back intact');
        is($was, $size >= 1024 ? 1 : 0,
           "default: $size bytes come back " . ($size >= 1024 ? 'compressed (>= 1024)' : 'uncompressed (< 1024)'));
    }
    my $max = 8 * 1024 * 1024;
    my $big = text($max);
    send_frame($s, $big);
    my ($back, $was) = read_frame($s, timeout => 20);
    ok(defined $back && $back eq $big, 'default: a transaction of exactly 8 MiB (maxTransactionSize) is echoed');
    is($was, 1, 'and compressed on the way back');
    send_frame($s, 'still open');
    is((read_frame($s))[0], 'still open', 'the session goes on after the 8 MiB transaction');
    syswrite($s, pack('N', $max + 1));
    ok(wait_eof($s, 5), 'default: a header of 8 MiB + 1 ends the session');
    ok($d->wait_log(qr/transactions=9\/9 code=PR reason="[^"]*maxTransactionSize/),
       'and the end line counts 9/9 and names maxTransactionSize');
    $d->stop;
}

# --- the deflate window follows the payload's size -----------------------------------------------
# Up to 4 KiB a stream with an 8 KiB window (zlib header byte 0x58), larger
# ones zlib's default 32 KiB (0x78); both inflate with any zlib, as Java's
# Inflater does, and a small payload loses nothing to the smaller window.
{
    my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\n");
    my ($s) = np_connect($d, byte => 1);
    my @small;
    # Noise whose last 96 bytes repeat its first, 4000 bytes back.
    my $noise = join '', map { chr int rand 256 } 1 .. 4000;
    my $far = $noise . substr($noise, 0, 96);
    for my $case (['1 KiB of text', text(1024), 0x58], ['4 KiB, a repeat 4000 bytes back', $far, 0x58],
                  ['4 KiB + 1 of text', text(4097), 0x78], ['64 KiB of text', text(65536), 0x78],
                  ['1 KiB of text again', text(1024), 0x58]) {
        my ($name, $payload, $cmf) = @$case;
        send_frame($s, $payload);
        my $h = read_exact($s, 4, 10);
        my $w = defined $h ? unpack('N', $h) : 0;
        my $wire = $w ? read_exact($s, $w & 0x7fffffff, 10) : undef;
        ok(($w & 0x80000000) && defined $wire, "$name: answered deflated");
        is(ord($wire // "\0"), $cmf, sprintf("$name: zlib header byte 0x%02x", $cmf));
        is(Compress::Zlib::uncompress($wire // ''), $payload, "$name: inflates to the payload");
        cmp_ok(length($wire // ''), '<=', length(compress($payload, 6)) + 1,
               "$name: no larger than zlib's default makes it");
        push @small, [$name, $payload, $wire // ''] if $cmf == 0x58;
    }
    $d->stop;

    # What NetPhantom's Java clients inflate with: java.util.zip.Inflater.
    SKIP: {
        skip 'java is not installed', 2 * @small unless `sh -c 'command -v java'`;
        my $dir = tempdir(CLEANUP => 1);
        open my $src, '>', "$dir/Inflate.java" or die;
        print $src <<'JAVA';
import java.nio.file.*;
import java.util.zip.Inflater;
public class Inflate {
    public static void main(String[] a) throws Exception {
        Inflater inf = new Inflater();
        inf.setInput(Files.readAllBytes(Path.of(a[0])));
        byte[] out = new byte[Integer.parseInt(a[2]) + 1];
        int n = inf.inflate(out);
        if (!inf.finished()) throw new IllegalStateException("stream not finished");
        Files.write(Path.of(a[1]), java.util.Arrays.copyOf(out, n));
    }
}
JAVA
        close $src;
        for my $i (0 .. $#small) {
            my ($name, $payload, $wire) = @{ $small[$i] };
            open my $w, '>:raw', "$dir/wire$i" or die;
            print $w $wire;
            close $w;
            my (undef, $err, $rc) = run_bounded(['java', "$dir/Inflate.java", "$dir/wire$i", "$dir/out$i",
                                                 length $payload], timeout => 60);
            is($rc, 0, "$name: java.util.zip.Inflater takes the 8 KiB-window stream") or diag $err;
            open my $o, '<:raw', "$dir/out$i";
            local $/;
            my $got = $o ? <$o> : undef;
            ok(defined $got && $got eq $payload, "$name: and gets the payload back");
        }
    }
}

# --- compressionThreshold = 100, maxTransactionSize = 1M -----------------------------------------
my $d = start_daemon(ini => <<'INI');
[Port]
port = 0
bindAddress = 127.0.0.1
maxTransactionSize = 1M
compressionThreshold = 100
INI
my ($s, $answer) = np_connect($d, byte => 3);
is($answer, 1, 'RAPP session accepted');
for my $case ([0, 0], [0, 1], [1, 0], [99, 0], [100, 0], [5000, 1], [1048576, 0], [1048576, 1]) {
    my ($size, $compress) = @$case;
    my $payload = text($size);
    send_frame($s, $payload, compress => $compress);
    my ($back, $was) = read_frame($s, timeout => 10);
    is($back, $payload, "$size bytes" . ($compress ? ' sent compressed' : '') . ' come back intact');
    is($was, $size >= 100 ? 1 : 0, "$size bytes: compressed back exactly when >= compressionThreshold = 100");
}
{
    my $random = random_bytes(4000);
    send_frame($s, $random);
    my ($back, $was) = read_frame($s);
    is($back, $random, 'incompressible data comes back intact');
    is($was, 0, 'and uncompressed, since compressing would not make it smaller');
}
{
    # Pipelined: 50 transactions written before any answer is read.
    my @p = map { "pipelined $_ " . text($_ * 37 % 300) } 1 .. 50;
    send_frame($s, $p[$_], compress => $_ % 2) for 0 .. $#p;
    my @back = map { (read_frame($s))[0] // '<none>' } 0 .. $#p;
    is_deeply(\@back, \@p, '50 pipelined transactions are answered in order');
}
{
    # One frame dribbled a byte at a time.
    my $frame = pack('N', 20) . 'twenty bytes, slowly';
    my $ok = 1;
    for my $i (0 .. length($frame) - 1) { syswrite($s, substr($frame, $i, 1)) or $ok = 0; sleep 0.02 }
    is((read_frame($s))[0], 'twenty bytes, slowly', 'a frame written one byte at a time is read whole');
}
{
    # Three transactions, then a half-close: all three are still answered.
    send_frame($s, "last $_") for 1 .. 3;
    shutdown($s, 1);
    my @back = map { (read_frame($s))[0] // '<none>' } 1 .. 3;
    is_deeply(\@back, ['last 1', 'last 2', 'last 3'], 'transactions sent before a half-close are all answered');
    is(wait_eof($s, 5), 'eof', 'then the daemon closes its side too');
}
close $s;
ok($d->wait_log(qr/protocol=rapp .*transactions=63\/63 code=\S+ reason="closed by peer"/),
   'the session counted 63 transactions each way');

# At and past maxTransactionSize = 1M, on the wire and inflated.
{
    my ($t) = np_connect($d, byte => 1);
    my $exact = compress("\0" x 1048576);
    send_frame($t, "\0" x 1048576, compress => 1);
    my ($back) = read_frame($t, timeout => 10);
    is(length($back // ''), 1048576, 'a compressed transaction inflating to exactly 1M is accepted');
    send_frame($t, "\0" x 1048577, compress => 1);
    ok(wait_eof($t, 5), 'one inflating to 1M + 1 ends the session');
    ok($d->wait_log(qr/transactions=1\/1 code=\S+ reason="[^"]*maxTransactionSize/), 'and names maxTransactionSize');
}
{
    my ($t) = np_connect($d, byte => 1);
    send_frame($t, text(1048577));
    ok(wait_eof($t, 5), 'an uncompressed transaction of 1M + 1 ends the session');
    ok($d->wait_log(qr/transactions=0\/0 code=\S+ reason="[^"]*1048577[^"]*maxTransactionSize/),
       'and the reason gives the size and names maxTransactionSize');
}
$d->stop;

# --- compression = false ------------------------------------------------------------------------
{
    my $plain = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\ncompression = false\n");
    my ($t) = np_connect($plain, byte => 1);
    my $compressed_back = 0;
    for my $size (0, 1024, 5000, 100000) {
        send_frame($t, 'z' x $size, compress => 1);
        my ($back, $was) = read_frame($t);
        is($back, 'z' x $size, "compression = false: a compressed transaction of $size bytes is still read");
        $compressed_back++ if $was;
        send_frame($t, 'z' x $size);
        ($back, $was) = read_frame($t);
        $compressed_back++ if $was;
    }
    is($compressed_back, 0, 'compression = false: no answer comes back compressed');
    close $t;
    $plain->stop;
}

# --- readTimeout and idleTimeout ------------------------------------------------------------------
{
    my $timed = start_daemon(ini => "[Port.read]\nport = 0\nbindAddress = 127.0.0.1\nreadTimeout = 1\n"
                                   . "[Port.idle]\nport = 0\nbindAddress = 127.0.0.1\nidleTimeout = 1.5\n");
    my ($t) = np_connect($timed, byte => 1, port => $timed->port('Port.read'));
    send_frame($t, 'one');
    is((read_frame($t))[0], 'one', 'readTimeout = 1: a session that talks is served');
    my $t0 = time;
    my $eof = wait_eof($t, 10);
    my $took = time - $t0;
    ok($eof && $took < 5, sprintf('readTimeout = 1: a silent session is closed (after %.1fs)', $took));
    cmp_ok($took, '>=', 0.8, 'but not before the timeout');
    ok($timed->wait_log(qr/transactions=1\/1 code=TR reason="[^"]*time(d out|out)/), 'with a timeout reason in the log');

    ($t) = np_connect($timed, byte => 1, port => $timed->port('Port.read'));
    syswrite($t, pack('N', 100) . 'half');
    $t0 = time;
    $eof = wait_eof($t, 10);
    ok($eof && time - $t0 < 5, 'readTimeout = 1: a session stalled inside a transaction is closed too');

    ($t) = np_connect($timed, byte => 1, port => $timed->port('Port.idle'));
    send_frame($t, 'keep');
    read_frame($t);
    $t0 = time;
    $eof = wait_eof($t, 10);
    ok($eof && time - $t0 < 5, 'idleTimeout = 1.5 closes a session without transactions');
    ok($timed->wait_log(qr/reason="[^"]*idle timeout/), 'with the reason in the log');
}

done_testing;
