/* SPDX-License-Identifier: ISC */
/*
 * http_file.h - webRoot: static files for GET and HEAD, index.html,
 * Content-Type by extension, ETag and Last-Modified with 304, one byte
 * range, and nothing served from outside the root.
 */
#ifndef NP_HTTP_FILE_H
#define NP_HTTP_FILE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "http.h"
#include "npsocket/socket.h"

enum np_http_file_result {
	NP_FILE_ANSWERED,   /* a response went out (the file, 304, 301, 4xx) */
	NP_FILE_NONE,       /* no such file under the root: the next route's */
	NP_FILE_FAILED,     /* the response could not be written */
};

/* The file a connection was sent last, kept open for its next request:
 * a keep-alive client that asks for the same path again costs one
 * fstatat(2) (still the same inode, its size, mode and times unchanged?)
 * instead of openat2(2), fstat(2) and close(2).  What the client reads is
 * what it would read were the file opened again: a file replaced under
 * the path or changed in any way is opened again; pread(2) reads its
 * current bytes.  One descriptor at most, per connection. */
#define NP_HTTP_FILE_CACHE_PATH 256
struct np_http_file_cache {
	int fd;                      /* -1: none */
	struct stat st;              /* as served */
	char path[NP_HTTP_FILE_CACHE_PATH];
};
#define NP_HTTP_FILE_CACHE_INIT { .fd = -1 }
/* Closes what the cache holds. */
void np_http_file_cache_drop(struct np_http_file_cache *cache);

/* Answers req from the directory open at root_fd; *status is the
 * status sent.  cache: the connection's (NULL: none). */
enum np_http_file_result np_http_file(struct np_socket *s, int root_fd, struct np_http_file_cache *cache,
				      const struct np_http_request *req, bool keep_alive, int *status);

#endif
