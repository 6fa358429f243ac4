/* SPDX-License-Identifier: ISC */
/*
 * read_ahead.h - bytes read from a stream socket before the reader asked
 * for them, for the plain socket and the TLS transport alike: a small
 * read with nothing held takes what has come (up to 2 KiB, into a buffer
 * that is part of the socket), so a transaction's header and body, or a
 * record's header and rest, cost one recv() instead of two, and what the
 * reader did not take waits there.  No read allocates: with a thread per
 * connection, a malloc() per transaction meant one of glibc's few arena
 * locks per transaction, shared by hundreds of threads, and a thread
 * preempted while holding one stalled every thread behind it.
 */
#ifndef NP_READ_AHEAD_H
#define NP_READ_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most a read with nothing held takes at once. */
#define NP_READ_AHEAD_FIRST 2048

struct np_read_ahead {
	unsigned char *data;         /* while bytes are held: home, or a larger
				      * buffer the owner malloc'd; else NULL */
	size_t pos, len;             /* the held bytes: data[pos .. pos + len) */
	unsigned char home[NP_READ_AHEAD_FIRST]; /* a small read's bytes */
};

static inline bool np_read_ahead_holds(const struct np_read_ahead *ra)
{
	return ra->len > 0;
}

/* Moves up to len held bytes into buf and returns how many; a malloc'd
 * buffer is freed once it is empty. */
size_t np_read_ahead_take(struct np_read_ahead *ra, void *buf, size_t len);

/* With nothing held: one recv(fd, ..., flags).  A request of
 * NP_READ_AHEAD_FIRST bytes or more goes straight into buf; a smaller one
 * reads up to NP_READ_AHEAD_FIRST bytes into ra->home, gives buf its
 * share and holds the rest there.  Returns as recv() does; *full (when
 * not NULL) says whether those 2 KiB came back full, a sign more is
 * coming. */
ssize_t np_read_ahead_recv(struct np_read_ahead *ra, int fd, void *buf, size_t len, int flags,
			   bool *full);

/* With nothing held: one recv(fd, home, NP_READ_AHEAD_FIRST, flags),
 * all of it held.  Returns as recv() does. */
ssize_t np_read_ahead_fill(struct np_read_ahead *ra, int fd, int flags);

/* Forgets what is held. */
void np_read_ahead_drop(struct np_read_ahead *ra);

#endif
