/* SPDX-License-Identifier: ISC */
/*
 * frame_fuzz.c - fuzz target: bytes from the network through np_comm's
 * frame reader and the relay header parser, as a session's thread meets
 * them.  The first byte picks the limits and the reader; the rest goes
 * into one end of a socketpair, which is then closed, and transactions
 * are read from the other end until an error or EOF.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "npsocket/comm.h"
#include "relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int sndbuf = 256 * 1024;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	size_t off = 1;
	while (off < size) {
		ssize_t n = send(sv[1], data + off, size - off, 0);
		if (n <= 0)
			abort(); /* the whole input fits in the socket's buffer */
		off += (size_t)n;
	}
	close(sv[1]);

	const uint8_t mode = data[0];
	struct np_comm_options options = {
		.max_transaction_size = (mode & 1) ? 300 : 64 * 1024,
		.compression = (mode & 2) != 0,
		.compression_threshold = 16,
		.compression_level = 6,
	};
	struct np_socket *s = np_socket_plain_new(sv[0]);
	struct np_comm comm;
	if (!s || np_comm_init(&comm, s, &options) < 0)
		abort();
	np_socket_set_timeout(s, 1000);
	for (int i = 0; i < 64; i++) {
		struct np_transaction tr;
		int rc = (mode & 4) ? np_comm_read_wire(&comm, &tr) : np_comm_read_transaction(&comm, &tr);
		if (rc < 0)
			break;
		if (tr.length > options.max_transaction_size)
			abort();
		char key[NP_RELAY_KEY_MAX + 1];
		const char *why = NULL;
		int role = np_relay_parse_header(tr.payload, tr.length, key, &why);
		if (role == 0 && !why)
			abort();
		if ((mode & 8) && tr.length && np_comm_write_transaction(&comm, tr.payload, tr.length) < 0)
			break; /* the peer end is closed: EPIPE ends the session */
	}
	np_comm_destroy(&comm);
	np_socket_close(s);
	return 0;
}
