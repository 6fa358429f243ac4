/* SPDX-License-Identifier: ISC */
/*
 * http_response.h - what the built-in web server writes: a status line
 * and headers, a body, an error page.
 */
#ifndef NP_HTTP_RESPONSE_H
#define NP_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "npsocket/socket.h"

struct np_http_response {
	int status;
	const char *content_type;    /* NULL: none */
	long long content_length;    /* -1: none (101, 304) */
	const char *extra;           /* more header lines, each with its CRLF, or NULL */
	bool close;                  /* Connection: close (else keep-alive) */
};

/* "Not Found" */
const char *np_http_reason(int status);

/* The status line and headers, and `len` bytes of body after them in
 * the same write (none: body NULL); 0, or -1 with the socket's write
 * fault. */
int np_http_send(struct np_socket *s, const struct np_http_response *r, const void *body, size_t len);

static inline int np_http_send_head(struct np_socket *s, const struct np_http_response *r)
{
	return np_http_send(s, r, NULL, 0);
}

/* A small page for an error status, with Connection: close unless
 * keep_alive; without its body when head_only (HEAD). */
int np_http_send_error(struct np_socket *s, int status, bool keep_alive, bool head_only, const char *extra);

#endif
