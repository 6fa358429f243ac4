/* SPDX-License-Identifier: ISC */
/*
 * http.h - the HTTP/1.x request head, parsed strictly by a pure function
 * over the bytes received (no I/O, no allocation), for the built-in web
 * server of the unknown-protocol path (SPEC §7), and the probe that tells
 * an HTTP request from the other protocols by its first bytes.
 */
#ifndef NP_HTTP_H
#define NP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

#define NP_HTTP_MAX_HEADERS 100
#define NP_HTTP_MAX_METHOD 16

struct np_http_header {
	const char *name, *value;    /* inside the parsed buffer, not NUL-ended */
	size_t name_len, value_len;  /* the value without surrounding white space */
};

enum np_http_result {
	NP_HTTP_DONE,       /* a whole, valid head: req is filled */
	NP_HTTP_PARTIAL,    /* valid so far; the head has not ended yet */
	NP_HTTP_BAD,        /* refused: req->status and req->error say why */
};

struct np_http_request {
	const char *method, *target; /* inside the buffer */
	size_t method_len, target_len;
	int minor;                   /* HTTP/1.<minor>: 0 or 1 */
	struct np_http_header headers[NP_HTTP_MAX_HEADERS];
	size_t header_count;
	size_t head_length;          /* bytes up to and with the empty line */
	/* What the headers mean. */
	long long content_length;    /* -1: none given */
	bool keep_alive;             /* after this request */
	bool has_host;
	/* With NP_HTTP_BAD: the status to answer (400, 411, 414, 431, 501,
	 * 505) and the reason in words, for the log line. */
	int status;
	const char *error;
};

/* Parses the head at the start of buf[0 .. len).  A head (request line,
 * headers, empty line) longer than max_head bytes is refused: 414 while
 * the request line has not ended, 431 after.  CRLF only (a bare LF is
 * refused), no obs-fold, no white space before a header's colon, no
 * control byte in a name or value, at most NP_HTTP_MAX_HEADERS headers,
 * one Content-Length of digits, no Transfer-Encoding beside it (411 for
 * chunked alone, 501 for any other coding), one Host, required in
 * HTTP/1.1. */
enum np_http_result np_http_parse_head(const unsigned char *buf, size_t len, size_t max_head,
				       struct np_http_request *req);

/* Whether the request's method is exactly `method` ("GET"). */
bool np_http_method_is(const struct np_http_request *req, const char *method);

/* The first header named `name` (any case), or NULL. */
const struct np_http_header *np_http_header(const struct np_http_request *req, const char *name);

/* true when the comma list in h (any case) holds `token`. */
bool np_http_header_has_token(const struct np_http_header *h, const char *token);

/* The unknown path's probe: MATCH when the bytes start with a method of
 * HTTP/1.1 and a space, MORE while they are a prefix of one, NO else. */
enum np_probe_result np_http_probe(const unsigned char *data, size_t length);

#endif
