/* SPDX-License-Identifier: ISC */
/*
 * http_response.h - what the built-in web server writes: a status line
 * and headers, a body, an error page.
 */
#ifndef NP_HTTP_RESPONSE_H
#define NP_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "npsocket/socket.h"

struct np_http_response {
	int status;
	const char *content_type;    /* NULL: none */
	long long content_length;    /* -1: none (101, 304) */
	const char *extra;           /* more header lines, each with its CRLF, or NULL */
	bool close;                  /* Connection: close (else keep-alive) */
};

/* Text built up in a caller's fixed buffer, without printf: a response
 * head is made on every request.  The buffer always holds a C string;
 * what does not fit (with its NUL) marks it full and is dropped. */
struct np_http_text {
	char *buf;
	size_t len, cap;
	bool full;
};
#define NP_HTTP_TEXT(array) { .buf = (array), .len = 0, .cap = sizeof(array), .full = false }

void np_http_put(struct np_http_text *t, const void *bytes, size_t n);
void np_http_puts(struct np_http_text *t, const char *s);
/* v in base 10 or 16 (lower case), without leading zeros. */
void np_http_put_number(struct np_http_text *t, uint64_t v, unsigned base);
/* `when` (UTC) as an IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994
 * 08:49:37 GMT", always NP_HTTP_DATE_LEN bytes. */
#define NP_HTTP_DATE_LEN 29
void np_http_put_date(struct np_http_text *t, int64_t when);

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
