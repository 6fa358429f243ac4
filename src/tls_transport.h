/* SPDX-License-Identifier: ISC */
/*
 * tls_transport.h - GnuTLS's transport over a TCP fd, for the daemon,
 * npcat and npbench alike: reads ahead a record at a time and gathers the
 * records of a large write into few system calls (see tls_transport.c).
 */
#ifndef NP_TLS_TRANSPORT_H
#define NP_TLS_TRANSPORT_H

#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "read_ahead.h"

/* The largest payload of one TLS record (RFC 8446 5.1). */
#define NP_TLS_RECORD_PAYLOAD 16384

struct np_tls_transport {
	int fd;
	struct np_read_ahead ahead;  /* read, not yet taken; reader only */
	size_t ahead_size;           /* next read's size; 0: NP_READ_AHEAD_FIRST */
	unsigned char *batch;        /* records made, not yet sent; writer only */
	size_t batch_len, batch_sent;
	pthread_t batch_owner;
	atomic_bool batching;        /* set and cleared by the writer */
	/* Before the handshake is done, at most this many bytes are given
	 * to GnuTLS (which reassembles a handshake message whole before it
	 * checks its size); 0 = no bound.  Reader only. */
	size_t pre_handshake_max, pre_handshake_taken;
	bool pre_handshake_over;     /* the bound was hit */
};

/* Makes tr (zeroed, at a fixed address for the session's life) the
 * session's transport over fd. */
void np_tls_transport_attach(struct np_tls_transport *tr, gnutls_session_t session, int fd);
/* Bounds what the peer may send before the handshake completes (0: no
 * bound, as once it is done). */
static inline void np_tls_transport_limit_handshake(struct np_tls_transport *tr, size_t max)
{
	tr->pre_handshake_max = max;
	tr->pre_handshake_taken = 0;
}

/* Frees what tr holds; the fd stays open. */
void np_tls_transport_release(struct np_tls_transport *tr);

/* Bytes read ahead: poll() on the fd cannot see them. */
static inline bool np_tls_transport_holds(const struct np_tls_transport *tr)
{
	return np_read_ahead_holds(&tr->ahead);
}
/* With nothing read ahead: takes what has come without waiting (up to
 * NP_READ_AHEAD_FIRST bytes).  Returns as recv() does. */
ssize_t np_tls_transport_fill(struct np_tls_transport *tr);
/* Whether a whole record is read ahead (decrypting it needs no wait). */
bool np_tls_transport_has_record(const struct np_tls_transport *tr);

/* From here the calling thread's records gather in a 64 KiB buffer;
 * false (records go out one by one) when there is no memory for it. */
bool np_tls_transport_batch_begin(struct np_tls_transport *tr);
/* Sends what is gathered: 0, or -1 with errno (EAGAIN on a full
 * non-blocking fd: call again when it is writable). */
int np_tls_transport_batch_flush(struct np_tls_transport *tr);
/* Stops gathering and drops what was not flushed. */
void np_tls_transport_batch_end(struct np_tls_transport *tr);

#endif
