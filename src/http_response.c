/* SPDX-License-Identifier: ISC */
/*
 * http_response.c - responses of the built-in web server (http_response.h):
 * one write for the head, a Date in IMF-fixdate, an error page that says
 * the status and nothing of the server's insides.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http_response.h"

void np_http_put(struct np_http_text *t, const void *bytes, size_t n)
{
	if (t->full || t->cap == 0 || n >= t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->buf + t->len, bytes, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

void np_http_puts(struct np_http_text *t, const char *s)
{
	np_http_put(t, s, strlen(s));
}

void np_http_put_number(struct np_http_text *t, uint64_t v, unsigned base)
{
	char digits[24];
	size_t i = sizeof(digits);
	do {
		digits[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v > 0);
	np_http_put(t, digits + i, sizeof(digits) - i);
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

void np_http_put_date(struct np_http_text *t, int64_t when)
{
	static const char wday[7][4] = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" };
	static const char month[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t days = when / 86400, secs = when % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	/* Civil date from days since 1970-01-01, in 400-year eras of
	 * 146,097 days, years starting on 1 March (Hinnant's algorithm). */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	int64_t y = yoe + era * 400 + (m <= 2);
	if (y < 0 || y > 9999) {
		t->full = true; /* no four-digit year: not a date HTTP has */
		return;
	}
	char out[NP_HTTP_DATE_LEN];
	memcpy(out, wday[((days % 7) + 7) % 7], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, month[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, (unsigned)(secs / 3600));
	out[19] = ':';
	put2(out + 20, (unsigned)(secs / 60 % 60));
	out[22] = ':';
	put2(out + 23, (unsigned)(secs % 60));
	memcpy(out + 25, " GMT", 4);
	np_http_put(t, out, sizeof(out));
}

const char *np_http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int np_http_send(struct np_socket *s, const struct np_http_response *r, const void *body, size_t len)
{
	char head[2048];
	struct np_http_text t = NP_HTTP_TEXT(head);
	np_http_puts(&t, "HTTP/1.1 ");
	np_http_put_number(&t, (uint64_t)r->status, 10);
	np_http_puts(&t, " ");
	np_http_puts(&t, np_http_reason(r->status));
	np_http_puts(&t, "\r\nServer: npsocketd\r\nDate: ");
	np_http_put_date(&t, (int64_t)time(NULL));
	np_http_puts(&t, "\r\n");
	if (r->content_type) {
		np_http_puts(&t, "Content-Type: ");
		np_http_puts(&t, r->content_type);
		np_http_puts(&t, "\r\n");
	}
	if (r->content_length >= 0) {
		np_http_puts(&t, "Content-Length: ");
		np_http_put_number(&t, (uint64_t)r->content_length, 10);
		np_http_puts(&t, "\r\n");
	}
	if (r->extra)
		np_http_puts(&t, r->extra);
	if (r->status != 101)
		np_http_puts(&t, r->close ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
	np_http_puts(&t, "\r\n");
	if (t.full)
		return -1; /* only an oversized extra can do this: a bug of ours */
	/* One write: head and body in one TCP segment (or TLS record) where
	 * they fit, not two. */
	struct iovec iov[2] = { { head, t.len }, { (void *)body, len } };
	return np_socket_writev_all(s, iov, body && len ? 2 : 1);
}

int np_http_send_error(struct np_socket *s, int status, bool keep_alive, bool head_only, const char *extra)
{
	char body[256];
	int n = snprintf(body, sizeof(body),
			 "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
			 "<body><h1>%d %s</h1></body></html>\n",
			 status, np_http_reason(status), status, np_http_reason(status));
	struct np_http_response r = {
		.status = status,
		.content_type = "text/html; charset=utf-8",
		.content_length = n,
		.extra = extra,
		.close = !keep_alive,
	};
	return np_http_send(s, &r, head_only ? NULL : body, head_only ? 0 : (size_t)n);
}
