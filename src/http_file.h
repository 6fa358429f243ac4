/* SPDX-License-Identifier: ISC */
/*
 * http_file.h - webRoot: static files for GET and HEAD, index.html,
 * Content-Type by extension, ETag and Last-Modified with 304, one byte
 * range, and nothing served from outside the root.
 */
#ifndef NP_HTTP_FILE_H
#define NP_HTTP_FILE_H

#include <stdbool.h>

#include "http.h"
#include "npsocket/socket.h"

enum np_http_file_result {
	NP_FILE_ANSWERED,   /* a response went out (the file, 304, 301, 4xx) */
	NP_FILE_NONE,       /* no such file under the root: the next route's */
	NP_FILE_FAILED,     /* the response could not be written */
};

/* Answers req from the directory open at root_fd; *status is the
 * status sent. */
enum np_http_file_result np_http_file(struct np_socket *s, int root_fd, const struct np_http_request *req,
				      bool keep_alive, int *status);

#endif
