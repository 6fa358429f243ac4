/* SPDX-License-Identifier: ISC */
/*
 * http.c - the request head (http.h): request line, header fields and
 * what they mean for the server, checked to RFC 9110/9112 and stricter
 * where a lenient reading lets a request be smuggled past a proxy in
 * front (a bare LF, obs-fold, white space before the colon, two lengths,
 * a length beside a transfer coding).
 */
#include <string.h>
#include <strings.h>

#include "http.h"

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII, and obs-text (>= 0x80) which a value may carry. */
static bool is_field_char(unsigned char c)
{
	return (c >= 0x21 && c != 0x7f) || c == ' ' || c == '\t';
}

static enum np_http_result bad(struct np_http_request *req, int status, const char *error)
{
	req->status = status;
	req->error = error;
	return NP_HTTP_BAD;
}

/* The end of the line starting at p (the CR of its CRLF), or NULL when
 * it has not come yet; a bare LF is reported through *bare_lf. */
static const unsigned char *line_end(const unsigned char *p, const unsigned char *end, bool *bare_lf)
{
	*bare_lf = false;
	for (const unsigned char *q = p; q < end; q++) {
		if (*q == '\n') {
			*bare_lf = true;
			return q;
		}
		if (*q == '\r') {
			if (q + 1 == end)
				return NULL;
			if (q[1] != '\n') {
				*bare_lf = true; /* a CR alone: as bad */
				return q;
			}
			return q;
		}
	}
	return NULL;
}

static enum np_http_result parse_request_line(const unsigned char *p, const unsigned char *eol,
					      struct np_http_request *req)
{
	const unsigned char *q = p;
	while (q < eol && is_tchar(*q))
		q++;
	if (q == p || q == eol || *q != ' ')
		return bad(req, 400, "malformed request line (method)");
	if ((size_t)(q - p) > NP_HTTP_MAX_METHOD)
		return bad(req, 501, "method name too long");
	req->method = (const char *)p;
	req->method_len = (size_t)(q - p);
	const unsigned char *t = ++q;
	while (q < eol && *q > 0x20 && *q != 0x7f)
		q++;
	if (q == t || q == eol || *q != ' ')
		return bad(req, 400, "malformed request line (target)");
	req->target = (const char *)t;
	req->target_len = (size_t)(q - t);
	q++;
	if (eol - q != 8 || memcmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' || q[6] != '.' ||
	    q[7] < '0' || q[7] > '9')
		return bad(req, 400, "malformed request line (version)");
	if (q[5] != '1')
		return bad(req, 505, "HTTP version not supported");
	req->minor = q[7] == '0' ? 0 : 1;
	return NP_HTTP_DONE;
}

static bool name_is(const struct np_http_header *h, const char *name)
{
	return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

bool np_http_method_is(const struct np_http_request *req, const char *method)
{
	return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0;
}

const struct np_http_header *np_http_header(const struct np_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->header_count; i++)
		if (name_is(&req->headers[i], name))
			return &req->headers[i];
	return NULL;
}

bool np_http_header_has_token(const struct np_http_header *h, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = h->value, *end = h->value + h->value_len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
			return true;
	}
	return false;
}

static enum np_http_result parse_header(const unsigned char *p, const unsigned char *eol,
					struct np_http_request *req)
{
	if (*p == ' ' || *p == '\t')
		return bad(req, 400, "obsolete line folding");
	const unsigned char *q = p;
	while (q < eol && is_tchar(*q))
		q++;
	if (q == eol || *q != ':')
		return bad(req, 400, q < eol && (*q == ' ' || *q == '\t') ? "white space before a header's colon"
								    : "malformed header name");
	if (q == p)
		return bad(req, 400, "empty header name");
	if (req->header_count == NP_HTTP_MAX_HEADERS)
		return bad(req, 431, "more than 100 headers");
	struct np_http_header *h = &req->headers[req->header_count++];
	h->name = (const char *)p;
	h->name_len = (size_t)(q - p);
	q++;
	for (const unsigned char *c = q; c < eol; c++)
		if (!is_field_char(*c))
			return bad(req, 400, "control byte in a header value");
	while (q < eol && (*q == ' ' || *q == '\t'))
		q++;
	const unsigned char *e = eol;
	while (e > q && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	h->value = (const char *)q;
	h->value_len = (size_t)(e - q);
	return NP_HTTP_DONE;
}

/* Content-Length: digits only, fits in a long long. */
static bool parse_length(const struct np_http_header *h, long long *out)
{
	if (h->value_len == 0 || h->value_len > 18)
		return false;
	long long n = 0;
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] < '0' || h->value[i] > '9')
			return false;
		n = n * 10 + (h->value[i] - '0');
	}
	*out = n;
	return true;
}

/* What the headers mean together. */
static enum np_http_result interpret(struct np_http_request *req)
{
	const struct np_http_header *te = NULL, *cl = NULL, *connection = NULL;
	int hosts = 0;
	for (size_t i = 0; i < req->header_count; i++) {
		const struct np_http_header *h = &req->headers[i];
		if (name_is(h, "content-length")) {
			if (cl)
				return bad(req, 400, "more than one Content-Length");
			cl = h;
		} else if (name_is(h, "transfer-encoding")) {
			if (te)
				return bad(req, 400, "more than one Transfer-Encoding");
			te = h;
		} else if (name_is(h, "host")) {
			hosts++;
		} else if (name_is(h, "connection")) {
			connection = h;
		}
	}
	if (hosts > 1)
		return bad(req, 400, "more than one Host");
	req->has_host = hosts == 1;
	if (req->minor == 1 && !req->has_host)
		return bad(req, 400, "HTTP/1.1 request without Host");
	if (te && cl)
		return bad(req, 400, "Content-Length and Transfer-Encoding together");
	if (te) {
		if (te->value_len == 7 && strncasecmp(te->value, "chunked", 7) == 0)
			return bad(req, 411, "chunked request body (give a Content-Length)");
		return bad(req, 501, "unsupported Transfer-Encoding");
	}
	req->content_length = -1;
	if (cl && !parse_length(cl, &req->content_length))
		return bad(req, 400, "invalid Content-Length");
	if (req->minor == 0)
		req->keep_alive = connection && np_http_header_has_token(connection, "keep-alive");
	else
		req->keep_alive = !(connection && np_http_header_has_token(connection, "close"));
	return NP_HTTP_DONE;
}

enum np_http_result np_http_parse_head(const unsigned char *buf, size_t len, size_t max_head,
				       struct np_http_request *req)
{
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	const unsigned char *p = buf, *end = buf + (len < max_head ? len : max_head);
	bool bare;
	const unsigned char *eol = line_end(p, end, &bare);
	if (!eol)
		return len >= max_head ? bad(req, 414, "request line longer than httpMaxHeaderSize")
				       : NP_HTTP_PARTIAL;
	if (bare)
		return bad(req, 400, "line not ended by CRLF");
	if (parse_request_line(p, eol, req) == NP_HTTP_BAD)
		return NP_HTTP_BAD;
	for (p = eol + 2;; p = eol + 2) {
		eol = line_end(p, end, &bare);
		if (!eol)
			return len >= max_head ? bad(req, 431, "request head longer than httpMaxHeaderSize")
					       : NP_HTTP_PARTIAL;
		if (bare)
			return bad(req, 400, "line not ended by CRLF");
		if (eol == p)
			break;
		if (parse_header(p, eol, req) == NP_HTTP_BAD)
			return NP_HTTP_BAD;
	}
	req->head_length = (size_t)(eol + 2 - buf);
	return interpret(req);
}

enum np_probe_result np_http_probe(const unsigned char *data, size_t length)
{
	static const char *const methods[] = { "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ",
					       "TRACE ", "CONNECT ", "PATCH " };
	bool prefix = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t m = strlen(methods[i]);
		size_t n = length < m ? length : m;
		if (memcmp(data, methods[i], n) == 0) {
			if (length >= m)
				return NP_PROBE_MATCH;
			prefix = true;
		}
	}
	return prefix ? NP_PROBE_MORE : NP_PROBE_NO;
}
