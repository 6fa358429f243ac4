#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# The WebSocket layer case by case, in the areas of the Autobahn
# testsuite that apply to a binary-only server (framing, reserved bits
# and opcodes, ping/pong, fragmentation, UTF-8 in close reasons, close
# codes, limits), each on a session of its own after protocol byte 1:
# either its transactions come back whole (echo), or the server closes
# with the code RFC 6455 asks for.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use NpWs;
use Test::More;

# maxTransactionSize 1K: a message may carry 1024 + 4 + 1 bytes.
my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nmaxTransactionSize = 1K\ncompression = false\n");
my $port = $d->port;
sub tx { pack('N', length $_[0]) . $_[0] }

# [ name, bytes after the session began, expect ]: expect is a list of
# payloads echoed, or a close code.
my @cases = (
    # framing and fragmentation
    [ 'a transaction in 1-byte fragments', join('', map { ws_frame($_ == 0 ? 2 : 0, substr(tx('frag'), $_, 1), fin => $_ == 7) } 0 .. 7), ['frag'] ],
    [ 'empty frames between the fragments', ws_frame(2, '', fin => 0) . ws_frame(0, tx('ab'), fin => 0) . ws_frame(0, '', fin => 1), ['ab'] ],
    [ 'an empty message between two', ws_frame(2, tx('one')) . ws_frame(2, '') . ws_frame(2, tx('two')), ['one', 'two'] ],
    [ 'two transactions in one message', ws_frame(2, tx('x') . tx('y')), ['x', 'y'] ],
    [ 'a transaction across three messages', ws_frame(2, "\0\0") . ws_frame(2, "\0\3a") . ws_frame(2, 'bc'), ['abc'] ],
    [ '200 one-byte messages make the transactions', join('', map { ws_frame(2, $_) } split //, tx('m' x 96) . tx('n' x 96)), ['m' x 96, 'n' x 96] ],
    [ 'a 16-bit length', ws_frame(2, tx('s' x 500)), ['s' x 500] ],
    [ 'a message of exactly the limit (1024 + 4, then the next header byte)', ws_frame(2, tx('L' x 1024) . "\0") . ws_frame(2, "\0\0\1z"), ['L' x 1024, 'z'] ],
    [ 'a message one byte over the limit', ws_frame(2, tx('L' x 1024) . "\0\0"), 1009 ],
    [ 'a 16-bit length for 100 bytes (not its shortest form)', pack('CCn', 0x82, 0xfe, 100) . "\0\0\0\0" . ('a' x 100), 1002 ],
    [ 'a 64-bit length for 1000 bytes', pack('CCNN', 0x82, 0xff, 0, 1000) . "\0\0\0\0" . ('a' x 1000), 1002 ],
    # reserved bits and opcodes
    [ 'RSV1', ws_frame(2, tx('r'), rsv => 0x40), 1002 ],
    [ 'RSV2', ws_frame(2, tx('r'), rsv => 0x20), 1002 ],
    [ 'RSV3', ws_frame(2, tx('r'), rsv => 0x10), 1002 ],
    [ 'RSV on a ping', ws_frame(9, 'p', rsv => 0x20), 1002 ],
    [ 'opcode 4', ws_frame(4, 'x'), 1002 ],
    [ 'opcode 7', ws_frame(7, 'x'), 1002 ],
    [ 'opcode 0xB (a reserved control)', ws_frame(11, 'x'), 1002 ],
    [ 'opcode 0xF', ws_frame(15, 'x'), 1002 ],
    [ 'a new message inside a fragmented one', ws_frame(2, "\0", fin => 0) . ws_frame(2, "\0\0\1q"), 1002 ],
    [ 'a text message in fragments', ws_frame(1, 'te', fin => 0) . ws_frame(0, 'xt'), 1003 ],
    [ 'text after a binary start', ws_frame(2, "\0", fin => 0) . ws_frame(1, 'x'), 1002 ],
    # ping and pong
    [ 'a ping of 125 bytes', ws_frame(9, 'P' x 125) . ws_frame(2, tx('after')), [ [10, 'P' x 125], 'after' ] ],
    [ 'an empty ping', ws_frame(9, '') . ws_frame(2, tx('after')), [ [10, ''], 'after' ] ],
    [ 'an unsolicited pong is ignored', ws_frame(10, 'unasked') . ws_frame(2, tx('after')), ['after'] ],
    [ 'pings between 1-byte fragments', join('', map { ws_frame($_ == 0 ? 2 : 0, substr(tx('pp'), $_, 1), fin => $_ == 5) . ws_frame(9, "p$_") } 0 .. 5),
      [ (map { [10, "p$_"] } 0 .. 4), 'pp', [10, 'p5'] ] ],   # the last ping comes after the message
    # close codes and reasons
    [ 'close 1000 with a 123-byte reason', ws_frame(8, pack('n', 1000) . ('r' x 123)), 1000 ],
    [ 'close 1001', ws_frame(8, pack('n', 1001)), 1001 ],
    [ 'close with no code', ws_frame(8, ''), 1000 ],
    [ 'close 3000 (registered)', ws_frame(8, pack('n', 3000)), 3000 ],
    [ 'close 4999 (private)', ws_frame(8, pack('n', 4999)), 4999 ],
    (map { my $c = $_; [ "close $c (not to be sent)", ws_frame(8, pack('n', $c)), 1002 ] } 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535),
    [ 'close with a 1-byte payload', ws_frame(8, "\3"), 1002 ],
    [ 'close with a reason of valid UTF-8', ws_frame(8, pack('n', 1000) . "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 1000 ],
    [ 'close with a surrogate in its reason', ws_frame(8, pack('n', 1000) . "\xed\xa0\x80"), 1007 ],
    [ 'close with a cut UTF-8 sequence', ws_frame(8, pack('n', 1000) . "\xe2\x82"), 1007 ],
    [ 'close after the first fragment of a message', ws_frame(2, "\0\0", fin => 0) . ws_frame(8, pack('n', 1000)), 1000 ],
);

for my $case (@cases) {
    my ($name, $bytes, $expect) = @$case;
    my ($s) = ws_open(port => $port);
    unless ($s && ws_session($s)) { fail("$name: no session"); next }
    write_all($s, $bytes);
    if (ref $expect) {
        my @got;
        for my $want (@$expect) {
            my ($op, $p) = ws_read($s, 5);
            last unless defined $op;
            if (ref $want) { push @got, ($op == $want->[0] && $p eq $want->[1]) ? 1 : 0; next }
            push @got, ($op == 2 && $p eq tx($want)) ? 1 : 0;
        }
        is(join('', @got), '1' x @$expect, "$name: each answer as expected");
        write_all($s, ws_frame(2, tx('still')));
        my ($op, $p) = ws_read($s, 5);
        is($p, tx('still'), "$name: and the session goes on");
    } else {
        is(close_code($s), $expect, "$name: closed with $expect");
        ok(!defined((ws_read($s, 2))[0]), "$name: and nothing after the close");
    }
    close $s;
}
is($d->stop, 0, 'the daemon stops cleanly after every case');
done_testing;
