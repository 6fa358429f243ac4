/* SPDX-License-Identifier: ISC */
/*
 * ws_fuzz.c - fuzz target: bytes from a browser through the WebSocket
 * layer as a session's thread meets them: the frame-header decoder and
 * the close payload check on the input itself, then the whole input into
 * one end of a socketpair read through np_socket_ws_new() (masking,
 * fragments, control frames, the close handshake, limits) until an error
 * or EOF, with the server's own frames (pongs, closes, echoes) written
 * back.  The first byte picks the message limit and whether to echo.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	struct np_ws_frame f;
	unsigned code;
	const char *why = NULL;
	enum np_ws_result r = np_ws_parse_header(data + 1, size - 1, 1000, true, &f, &code, &why);
	if (r == NP_WS_BAD && (!why || (code != NP_WS_PROTOCOL_ERROR && code != NP_WS_TOO_BIG)))
		abort();
	if (r == NP_WS_DONE && (f.header_length > size - 1 || f.length > 1000 || (f.opcode & 8 && f.length > 125)))
		abort();
	(void)np_ws_parse_close(data + 1, size - 1 < 125 ? size - 1 : 125, &code);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int buf = 256 * 1024;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	for (size_t off = 1; off < size;) {
		ssize_t n = send(sv[1], data + off, size - off, 0);
		if (n <= 0)
			abort(); /* the whole input fits in the socket's buffer */
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);

	struct np_socket *plain = np_socket_plain_new(sv[0]);
	struct np_socket *ws = plain ? np_socket_ws_new(plain, (data[0] & 1) ? 300 : 64 * 1024, false) : NULL;
	if (!ws)
		abort();
	np_socket_set_timeout(ws, 1000);
	unsigned char chunk[512];
	for (int i = 0; i < 256; i++) {
		ssize_t n = np_socket_read(ws, chunk, sizeof(chunk));
		if (n < 0)
			break;
		if ((data[0] & 2) && np_socket_write_all(ws, chunk, (size_t)n) < 0)
			break;
	}
	np_socket_close(ws);
	close(sv[1]);
	return 0;
}
