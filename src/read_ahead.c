/* SPDX-License-Identifier: ISC */
/*
 * read_ahead.c - bytes read before the reader asked for them (see
 * read_ahead.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "read_ahead.h"

void np_read_ahead_drop(struct np_read_ahead *ra)
{
	if (ra->data != ra->home)
		free(ra->data);
	ra->data = NULL;
	ra->pos = ra->len = 0;
}

size_t np_read_ahead_take(struct np_read_ahead *ra, void *buf, size_t len)
{
	size_t take = len < ra->len ? len : ra->len;
	memcpy(buf, ra->data + ra->pos, take);
	ra->pos += take;
	ra->len -= take;
	if (ra->len == 0)
		np_read_ahead_drop(ra);
	return take;
}

ssize_t np_read_ahead_recv(struct np_read_ahead *ra, int fd, void *buf, size_t len, int flags,
			   bool *full)
{
	if (full)
		*full = false;
	if (len >= sizeof(ra->home))
		return recv(fd, buf, len, flags);
	ssize_t n = recv(fd, ra->home, sizeof(ra->home), flags);
	if (full)
		*full = n > 0 && (size_t)n == sizeof(ra->home);
	if (n <= 0)
		return n;
	size_t take = (size_t)n < len ? (size_t)n : len;
	memcpy(buf, ra->home, take);
	if ((size_t)n > take) {
		ra->data = ra->home;
		ra->pos = take;
		ra->len = (size_t)n - take;
	}
	return (ssize_t)take;
}

ssize_t np_read_ahead_fill(struct np_read_ahead *ra, int fd, int flags)
{
	ssize_t n = recv(fd, ra->home, sizeof(ra->home), flags);
	if (n > 0) {
		ra->data = ra->home;
		ra->pos = 0;
		ra->len = (size_t)n;
	}
	return n;
}
