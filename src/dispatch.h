/* SPDX-License-Identifier: ISC */
/*
 * dispatch.h - where a connection goes after TLS: the protocol byte
 * (SPEC §3) as a table from byte to handler, and the unknown path as an
 * ordered table of probes over the bytes already read (SPEC §7).
 */
#ifndef NP_DISPATCH_H
#define NP_DISPATCH_H

#include <stddef.h>

#include "session.h"

/* The bytes read before a protocol is chosen, kept for the row that takes
 * the connection (a module sees them, webUpstream gets them replayed). */
#define NP_DISPATCH_MAX_PEEK 256

struct np_first_bytes {
	unsigned char data[NP_DISPATCH_MAX_PEEK];
	size_t length;
};

/* A probe's answer over the bytes read so far. */
enum np_probe_result {
	NP_PROBE_NO,        /* not this row's protocol */
	NP_PROBE_MATCH,     /* this row takes the connection */
	NP_PROBE_MORE,      /* cannot tell yet: read more and ask again */
};

/* Reads the protocol byte within the handshake deadline into first.
 * 0, or -1 with the session's end reason set (EOF first: a quiet end). */
int np_dispatch_read_byte(struct np_session *session, struct np_first_bytes *first);

/* Hands the session to whatever its first bytes name, and returns when
 * that is over, with the end reason set. */
void np_dispatch(struct np_session *session, struct np_first_bytes *first);

#endif
