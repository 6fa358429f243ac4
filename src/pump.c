/* SPDX-License-Identifier: ISC */
/*
 * pump.c - copies bytes both ways between two connections in one thread
 * (the webUpstream path and the relay): poll() on both, one bounded
 * buffer, half-closes passed on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pump.h"

#define PUMP_BUFFER (16 * 1024)

struct direction {
	struct np_socket *from, *to;
	const char *from_name, *to_name; /* "client" / "upstream", for the reason */
	bool open;                   /* still reading `from` */
};

/* Moves what `from` has to `to`; -1 with the reason on an error. */
static int pump_once(struct direction *d, unsigned char *buf, char *reason, size_t reason_size)
{
	/* One read of what has arrived, without waiting: the socket's own
	 * buffer (TLS) may hold more, the loop comes back for it, and a TLS
	 * record that came in part waits for its rest in the poll() on both
	 * sides, so it cannot hold up the other direction. */
	np_socket_set_no_wait(d->from, true);
	ssize_t n = np_socket_read(d->from, buf, PUMP_BUFFER);
	np_socket_set_no_wait(d->from, false);
	if (n < 0) {
		if (d->from->rd.error == NP_SOCK_TIMEOUT)
			return 0; /* nothing whole yet */
		if (d->from->rd.error == NP_SOCK_EOF) {
			d->open = false;
			np_socket_shutdown(d->to, SHUT_WR);
			return 0;
		}
		snprintf(reason, reason_size, "%s read failed: %s", d->from_name,
			 np_socket_strerror(d->from));
		return -1;
	}
	if (np_socket_write_all(d->to, buf, (size_t)n) < 0) {
		snprintf(reason, reason_size, "write to %s failed: %s", d->to_name,
			 np_socket_write_strerror(d->to));
		return -1;
	}
	return 0;
}

int np_pump(struct np_socket *a, struct np_socket *b, int timeout_ms, int half_closed_ms, char *reason,
	    size_t reason_size)
{
	struct direction dirs[2] = {
		{ .from = a, .to = b, .from_name = "client", .to_name = "upstream", .open = true },
		{ .from = b, .to = a, .from_name = "upstream", .to_name = "client", .open = true },
	};
	unsigned char *buf = malloc(PUMP_BUFFER);
	if (!buf) {
		snprintf(reason, reason_size, "out of memory for the relay buffer");
		return -1;
	}
	int rc = 0;
	while (rc == 0 && (dirs[0].open || dirs[1].open)) {
		/* Once one side has closed, the other has half_closed_ms to
		 * say something or close too. */
		const bool half = !dirs[0].open || !dirs[1].open;
		int wait_ms = timeout_ms;
		if (half && half_closed_ms > 0 && (wait_ms == 0 || half_closed_ms < wait_ms))
			wait_ms = half_closed_ms;
		int ready = np_socket_wait_either(dirs[0].open ? a : NULL, dirs[1].open ? b : NULL, wait_ms);
		if (ready < 0) {
			snprintf(reason, reason_size, "poll: %s", strerror(errno));
			rc = -1;
		} else if (ready == 0 && half && wait_ms == half_closed_ms) {
			const struct direction *closed = dirs[0].open ? &dirs[1] : &dirs[0];
			snprintf(reason, reason_size, "%s closed, %s silent for %d.%03ds after it", closed->from_name,
				 closed->to_name, wait_ms / 1000, wait_ms % 1000);
			rc = -1;
		} else if (ready == 0) {
			snprintf(reason, reason_size, "no data either way for %d.%03ds", timeout_ms / 1000,
				 timeout_ms % 1000);
			rc = -1;
		}
		for (int i = 0; rc == 0 && i < 2; i++)
			if (ready & (1 << i))
				rc = pump_once(&dirs[i], buf, reason, reason_size);
	}
	free(buf);
	return rc;
}
