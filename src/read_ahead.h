/*
 * read_ahead.h - bytes read from a stream socket before the reader asked
 * for them, for the plain socket and the TLS transport alike: a small
 * read with nothing held takes what has come (up to 2 KiB, into the
 * stack), so a transaction's header and body, or a record's header and
 * rest, cost one recv() instead of two, and only what the reader did not
 * take is kept, on the heap.  A session waiting for data holds nothing.
 */
#ifndef NP_READ_AHEAD_H
#define NP_READ_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most a read with nothing held takes at once. */
#define NP_READ_AHEAD_FIRST 2048

struct np_read_ahead {
	unsigned char *data;         /* malloc'd while bytes are held, else NULL */
	size_t pos, len;             /* the held bytes: data[pos .. pos + len) */
};

static inline bool np_read_ahead_holds(const struct np_read_ahead *ra)
{
	return ra->len > 0;
}

/* Moves up to len held bytes into buf and returns how many; the heap
 * buffer goes once it is empty. */
size_t np_read_ahead_take(struct np_read_ahead *ra, void *buf, size_t len);

/* With nothing held: one recv(fd, ..., flags).  A request of
 * NP_READ_AHEAD_FIRST bytes or more goes straight into buf; a smaller one
 * reads up to NP_READ_AHEAD_FIRST bytes into the stack, gives buf its
 * share and holds the rest.  Returns as recv() does; *full (when not
 * NULL) says whether those 2 KiB came back full, a sign more is coming.
 * -1 with errno ENOMEM when the rest cannot be held: those bytes are
 * gone, and the stream with them. */
ssize_t np_read_ahead_recv(struct np_read_ahead *ra, int fd, void *buf, size_t len, int flags,
			   bool *full);

/* Forgets what is held. */
void np_read_ahead_drop(struct np_read_ahead *ra);

#endif
