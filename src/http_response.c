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
	char head[2048], date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nServer: npsocketd\r\nDate: %s\r\n", r->status,
			 np_http_reason(r->status), date);
	if (r->content_type && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n", r->content_type);
	if (r->content_length >= 0 && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", r->content_length);
	if (r->extra && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "%s", r->extra);
	if (r->status != 101 && n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: %s\r\n",
			      r->close ? "close" : "keep-alive");
	if (n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (n <= 0 || (size_t)n >= sizeof(head))
		return -1; /* only an oversized extra can do this: a bug of ours */
	/* One write: head and body in one TCP segment (or TLS record) where
	 * they fit, not two. */
	struct iovec iov[2] = { { head, (size_t)n }, { (void *)body, len } };
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
