/* SPDX-License-Identifier: ISC */
/*
 * ws.h - WebSocket (RFC 6455) for NetPhantom sessions in browsers: the
 * frame header and close payload, decoded by pure functions over a
 * buffer; the handshake's accept key; and the server's np_socket layer
 * over a plain or TLS socket, through which a WebSocket connection runs
 * the same protocol-byte dispatch as a TCP one.
 */
#ifndef NP_WS_H
#define NP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "npsocket/socket.h"

#define NP_WS_MAX_HEADER 14         /* 2 + 8 (length) + 4 (mask) */
#define NP_WS_MAX_CONTROL 125

enum np_ws_opcode {
	NP_WS_CONTINUATION = 0x0,
	NP_WS_TEXT = 0x1,
	NP_WS_BINARY = 0x2,
	NP_WS_CLOSE = 0x8,
	NP_WS_PING = 0x9,
	NP_WS_PONG = 0xa,
};

/* Close codes the server sends (RFC 6455 7.4.1). */
enum np_ws_close_code {
	NP_WS_NORMAL = 1000,
	NP_WS_GOING_AWAY = 1001,
	NP_WS_PROTOCOL_ERROR = 1002,
	NP_WS_UNSUPPORTED = 1003,       /* a text message */
	NP_WS_INVALID_DATA = 1007,
	NP_WS_TOO_BIG = 1009,
};

struct np_ws_frame {
	bool fin;
	unsigned opcode;
	bool masked;
	unsigned char mask[4];
	uint64_t length;                /* payload bytes */
	size_t header_length;           /* bytes of the header itself */
};

enum np_ws_result { NP_WS_DONE, NP_WS_PARTIAL, NP_WS_BAD };

/* Decodes a frame header at buf[0 .. len) from a client (masked; from a
 * server when from_client is false: unmasked): DONE with f filled,
 * PARTIAL while it has not all come, or BAD with the close code to send
 * and the reason: reserved bits, an unknown opcode, the wrong masking, a
 * control frame fragmented or over 125 bytes, a length not in its
 * shortest form or with the top bit set (1002), a payload over
 * max_payload (1009). */
enum np_ws_result np_ws_parse_header(const unsigned char *buf, size_t len, uint64_t max_payload, bool from_client,
				     struct np_ws_frame *f, unsigned *close_code, const char **why);

/* Checks a close frame's payload: empty, or a code a peer may send and a
 * UTF-8 reason.  true with *code (1005 when empty), else false. */
bool np_ws_parse_close(const unsigned char *payload, size_t len, unsigned *code);

/* Whether buf[0 .. len) is valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
bool np_ws_valid_utf8(const unsigned char *buf, size_t len);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64 of the SHA-1 of
 * the key and the RFC's GUID.  0, or -1 when GnuTLS fails. */
int np_ws_accept_key(const char *key, size_t key_len, char out[29]);

/* Writes the header of a frame of `length` bytes into out, masked with
 * mask (a client's) or not (mask NULL: a server's); returns its size. */
size_t np_ws_frame_header(unsigned char out[NP_WS_MAX_HEADER], unsigned opcode, uint64_t length,
			  const unsigned char *mask);

/* One end of a WebSocket over `inner` (which it owns from here on), the
 * server's or (client, as npcat --ws is) the client's: reads give the
 * payloads of the peer's binary messages as one stream, answering pings
 * and the close handshake on the way; each write goes out as one binary
 * message.  A message over max_message bytes is closed with 1009, a
 * text message with 1003, a bad frame with 1002, a bad close with 1002
 * or 1007.  NULL with errno when out of memory. */
struct np_socket *np_socket_ws_new(struct np_socket *inner, uint64_t max_message, bool client);

#endif
