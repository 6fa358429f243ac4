# SPDX-License-Identifier: ISC
package NpWs;
# A raw WebSocket client (RFC 6455) for the tests: the handshake, frames
# built by hand (masked or not, any opcode, reserved bits, lengths), and
# the server's frames read back, so every malformed case can be sent.
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::IP;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1_base64);
use Compress::Zlib qw(uncompress);
use NpTest qw(read_exact write_all);

our @EXPORT = qw(ws_open ws_frame ws_read ws_session ws_echo close_code);

# ws_open(port => P, path => '/netphantom', version => 13, headers => {..}):
# ($socket, $head) after a checked 101, or (undef, $head).
sub ws_open {
    my (%opt) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $opt{port}, Timeout => 5)
        or die "connect: $!";
    binmode $s;
    my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my $extra = join '', map { "$_: $opt{headers}{$_}\r\n" } sort keys %{ $opt{headers} || {} };
    write_all($s, "GET " . ($opt{path} // '/netphantom') . " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\nSec-WebSocket-Version: "
                  . ($opt{version} // 13) . "\r\n$extra\r\n");
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $b = read_exact($s, 1, 5);
        return (undef, $head) unless defined $b;
        $head .= $b;
    }
    my $accept = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
    return (undef, $head) unless $head =~ m{^HTTP/1\.1 101 } && $head =~ /\r\nSec-WebSocket-Accept: \Q$accept\E\r\n/;
    return ($s, $head);
}

# A frame from the client: masked unless mask => 0.
sub ws_frame {
    my ($opcode, $payload, %opt) = @_;
    my $b0 = (($opt{fin} // 1) ? 0x80 : 0) | ($opt{rsv} // 0) | $opcode;
    my $len = $opt{length} // length $payload;
    my $mask = ($opt{mask} // 1) ? 0x80 : 0;
    my $h = $len < 126 ? pack('CC', $b0, $mask | $len)
          : $len <= 0xffff ? pack('CCn', $b0, $mask | 126, $len)
          : pack('CCNN', $b0, $mask | 127, int($len / 2**32), $len % 2**32);
    return $h . $payload unless $mask;
    my @k = map { int rand 256 } 1 .. 4;
    my $i = 0;
    (my $masked = $payload) =~ s/(.)/chr(ord($1) ^ $k[$i++ % 4])/ges;
    return $h . pack('C4', @k) . $masked;
}

# A frame from the server: (opcode, payload), or () at EOF or timeout.
sub ws_read {
    my ($s, $timeout) = @_;
    my $h = read_exact($s, 2, $timeout // 5) // return;
    my ($b0, $b1) = unpack 'CC', $h;
    die 'a masked frame from the server' if $b1 & 0x80;
    my $len = $b1 & 0x7f;
    $len = unpack 'n', read_exact($s, 2, 5) if $len == 126;
    if ($len == 127) { my ($hi, $lo) = unpack 'NN', read_exact($s, 8, 5); $len = $hi * 2**32 + $lo }
    my $payload = $len ? read_exact($s, $len, $timeout // 5) : '';
    return defined $payload ? ($b0 & 0x0f, $payload) : ();
}

sub ws_session {
    my ($s) = @_;
    write_all($s, ws_frame(2, "\x01"));
    my ($op, $p) = ws_read($s);
    return defined $op && $op == 2 && $p eq "\x01";
}

# One transaction and its echo, which may come compressed.
sub ws_echo {
    my ($s, $payload) = @_;
    write_all($s, ws_frame(2, pack('N', length $payload) . $payload));
    my ($op, $p) = ws_read($s);
    return 0 unless defined $p && length $p >= 4;
    my $word = unpack 'N', $p;
    my $body = substr($p, 4);
    return 0 unless length $body == ($word & 0x7fffffff);
    $body = uncompress($body) if $word & 0x80000000;
    return defined $body && $body eq $payload;
}

# The close the server sends: its code, or undef.
sub close_code {
    my ($s) = @_;
    for (1 .. 10) {
        my ($op, $p) = ws_read($s, 5);
        return undef unless defined $op;
        return length $p >= 2 ? unpack('n', $p) : 1005 if $op == 8;
    }
    return undef;
}

1;
