#!/usr/bin/perl
# SPDX-License-Identifier: ISC
# npcat against the real daemon: text, hex, compressed, files, lines,
# raw binary, RAPP, and its exit codes.
use strict;
use warnings;
use lib 't/lib';
use NpTest;
use Test::More;
use File::Temp qw(tempdir);

my $d = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\ncompressionThreshold = 10\n");
my $dir = tempdir(CLEANUP => 1);

my ($out, $err, $rc) = npcat($d, [], 'hello', 'world');
is($rc, 0, 'two payloads: exit 0');
is($out, "hello\nworld\n", 'each answer printed on its own line');

($out, $err, $rc) = npcat($d, ['-x'], 'AB');
is($out, "4142\n", '-x prints hex');

($out, $err, $rc) = npcat($d, ['-z', '-v'], 'compress me please, compress me please');
is($out, "compress me please, compress me please\n", '-z: a compressed transaction comes back intact');
like($err, qr/server answered 1 \(accepted\)/, '-v reports the answer byte');
like($err, qr/answer 1: 38 bytes, came compressed/, '-v reports size and compression of each answer');

open my $fh, '>', "$dir/f.txt" or die;
print $fh "from a file";
close $fh;
($out, $err, $rc) = npcat($d, ['-f', "$dir/f.txt"]);
is($out, "from a file\n", '-f sends a file as one transaction');

my @random = map { chr(int rand 256) } 1 .. 200 * 1024;
open $fh, '>', "$dir/r.bin" or die;
binmode $fh;
print $fh join '', @random;
close $fh;
($out, $err, $rc) = npcat($d, ['-r', '-f', "$dir/r.bin"]);
ok($rc == 0 && $out eq join('', @random), '-r: 200 KiB of random bytes come back byte for byte');

my $lines = `printf 'one\\ntwo\\nthree\\n' | build/npcat -w 5 -i 127.0.0.1 @{[ $d->port ]}`;
is($lines, "one\ntwo\nthree\n", '-i: one transaction per line of stdin');
my $dash = `printf 'stdin whole' | build/npcat -w 5 -f - 127.0.0.1 @{[ $d->port ]}`;
is($dash, "stdin whole\n", '-f - reads stdin as one transaction');

($out, $err, $rc) = npcat($d, ['-b', 3], 'rapp');
is($out, "rapp\n", '-b 3 opens a Remote Application session');
($out, $err, $rc) = npcat($d, ['-n', 0]);
is($rc, 0, 'no payload: just the answer, exit 0');

($out, $err, $rc) = npcat($d, ['-b', 90], 'not a protocol');
is($rc, 0, 'an unknown protocol byte is sent raw and the close read');
ok($d->wait_log(qr/unknown protocol byte 0x5a/), 'the daemon saw the byte');

my $closed = `build/npcat -w 2 127.0.0.1 1 x 2>&1`;
is($? >> 8, 3, 'a closed port: exit 3');
like($closed, qr/npcat: connect to 127\.0\.0\.1:1: Connection refused/, 'and says why');
`build/npcat 2>/dev/null`;
is($? >> 8, 2, 'no host: exit 2');
`build/npcat -b 300 127.0.0.1 1 2>/dev/null`;
is($? >> 8, 2, 'a protocol byte over 255: exit 2');

# -m reads sizes as the configuration does: 1K and 1KB are both 1024.
for my $size ('1K', '1KB', '1024') {
    ($out, $err, $rc) = npcat($d, ['-m', $size], 'x' x 1024);
    is($rc, 0, "-m $size takes a 1024-byte answer");
    ($out, $err, $rc) = npcat($d, ['-m', $size], 'x' x 1025);
    ok($rc == 1 && $err =~ /past maxTransactionSize \(1024 bytes\)|exceeds maxTransactionSize \(1024 bytes\)/, "-m $size refuses a 1025-byte one")
        or diag($err);
}
`build/npcat -m 1X 127.0.0.1 1 2>/dev/null`;
is($? >> 8, 2, '-m 1X is not a size: exit 2');

my $small = start_daemon(ini => "[Port]\nport = 0\nbindAddress = 127.0.0.1\nmaxTransactionSize = 10\n");
($out, $err, $rc) = npcat($small, [], 'this is longer than ten bytes');
is($rc, 1, 'a session the server ends: exit 1');
like($err, qr/server closed the connection after 0 of 1 answers/, 'and says how far it got');
done_testing;
