/* SPDX-License-Identifier: ISC */
/*
 * http_server.c - the web path of one connection (http_server.h): read a
 * request head within httpHeaderTimeout (the next within
 * httpKeepAliveTimeout), answer it from the first route that takes it,
 * discard its body, and go on with the bytes behind it (pipelined
 * requests are answered in order).  Memory: one head buffer of
 * httpMaxHeaderSize while the connection is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "http_file.h"
#include "http_response.h"
#include "http_server.h"
#include "http_status.h"
#include "log.h"
#include "pump.h"
#include "registry.h"
#include "upstream.h"
#include "ws.h"

struct conn {
	struct np_session *session;
	struct np_socket *socket;
	const struct np_port_conf *port;
	unsigned char *buf;          /* the head (and what came behind it) */
	size_t len, cap;
	int root_fd;                 /* webRoot, or -1 for none */
	struct np_http_file_cache file; /* the last file sent */
	unsigned requests;
};

bool np_http_enabled(const struct np_port_conf *port)
{
	return port->web_socket_path || port->web_root || port->status_path || port->metrics_path;
}

int np_http_check_root(const struct np_port_conf *port, char *err, size_t err_size)
{
	if (!port->web_root)
		return 0;
	int fd = open(port->web_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_size, "webRoot %s: %s", port->web_root, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* The path of the target (before any query) is exactly `path`. */
static bool path_is(const struct np_http_request *req, const char *path)
{
	const char *q = memchr(req->target, '?', req->target_len);
	size_t n = q ? (size_t)(q - req->target) : req->target_len;
	return n == strlen(path) && memcmp(req->target, path, n) == 0;
}

/* --- reading a head -------------------------------------------------------------- */

enum head_result { HEAD_OK, HEAD_BAD, HEAD_GONE };

/* Reads until a whole head is in the buffer.  The first byte of a later
 * request must come within httpKeepAliveTimeout, every head within
 * httpHeaderTimeout of its first byte. */
static enum head_result read_head(struct conn *c, struct np_http_request *req)
{
	struct np_socket *s = c->socket;
	const struct np_port_conf *port = c->port;
	if (c->len == 0) {
		np_socket_set_deadline(s, np_now_ms() + port->http_keep_alive_timeout_ms);
		ssize_t n = np_socket_read(s, c->buf, c->cap);
		if (n < 0) {
			np_session_set_end_reason(c->session, "%s after %u request%s",
						  s->rd.error == NP_SOCK_TIMEOUT ? "httpKeepAliveTimeout"
						  : s->rd.error == NP_SOCK_EOF ? "closed by peer" : np_socket_strerror(s),
						  c->requests, c->requests == 1 ? "" : "s");
			return HEAD_GONE;
		}
		c->len = (size_t)n;
	}
	np_socket_set_deadline(s, np_now_ms() + port->http_header_timeout_ms);
	for (;;) {
		enum np_http_result r = np_http_parse_head(c->buf, c->len, port->http_max_header_size, req);
		if (r != NP_HTTP_PARTIAL)
			return r == NP_HTTP_DONE ? HEAD_OK : HEAD_BAD;
		ssize_t n = np_socket_read(s, c->buf + c->len, c->cap - c->len);
		if (n < 0) {
			if (s->rd.error == NP_SOCK_TIMEOUT) {
				req->status = 408;
				req->error = "request head not complete within httpHeaderTimeout";
				return HEAD_BAD;
			}
			np_session_set_end_reason(c->session, "%s inside a request head",
						  s->rd.error == NP_SOCK_EOF ? "closed" : np_socket_strerror(s));
			return HEAD_GONE;
		}
		c->len += (size_t)n;
	}
}

/* Drops the request's body (within maxTransactionSize) and its head from
 * the buffer, keeping what came behind it.  0, or -1 with the reason set
 * (413 answered when it is too large). */
static int drop_request(struct conn *c, const struct np_http_request *req)
{
	unsigned long long body = req->content_length > 0 ? (unsigned long long)req->content_length : 0;
	if (body > c->port->max_transaction_size) {
		np_http_send_error(c->socket, 413, false, false, NULL);
		np_session_set_end_reason(c->session, "HTTP 413: a body of %llu bytes is over maxTransactionSize", body);
		return -1;
	}
	size_t used = req->head_length;
	size_t here = c->len - used < body ? c->len - used : (size_t)body;
	used += here;
	body -= here;
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	while (body > 0) {
		ssize_t n = np_socket_read(c->socket, c->buf, body < c->cap ? (size_t)body : c->cap);
		if (n < 0) {
			np_session_set_end_reason(c->session, "request body: %s", np_socket_strerror(c->socket));
			return -1;
		}
		body -= (uint64_t)n;
	}
	return 0;
}

/* --- routes ---------------------------------------------------------------------- */

enum route_result { ROUTE_NEXT, ROUTE_DONE, ROUTE_END, ROUTE_UPGRADED };

static bool origin_allowed(const struct np_port_conf *port, const struct np_http_request *req)
{
	if (port->web_socket_origins.count == 0)
		return true;
	const struct np_http_header *origin = np_http_header(req, "origin");
	if (!origin)
		return false;
	for (size_t i = 0; i < port->web_socket_origins.count; i++) {
		const char *o = port->web_socket_origins.items[i];
		if (strlen(o) == origin->value_len && strncasecmp(o, origin->value, origin->value_len) == 0)
			return true;
	}
	return false;
}

/* /.well-known/acme-challenge/TOKEN, on every port, while an ACME order
 * (or a module) has an answer for the token; else the next route's. */
static enum route_result route_challenge(struct conn *c, const struct np_http_request *req)
{
	static const char prefix[] = "/.well-known/acme-challenge/";
	const size_t plen = sizeof(prefix) - 1;
	char answer[NP_CHALLENGE_ANSWER_MAX + 1];
	if (req->target_len <= plen || memcmp(req->target, prefix, plen) != 0 ||
	    !np_registry_challenge_get(c->session->registry, req->target + plen, req->target_len - plen, answer))
		return ROUTE_NEXT;
	bool head = np_http_method_is(req, "HEAD");
	if (!head && !np_http_method_is(req, "GET")) {
		np_http_send_error(c->socket, 405, req->keep_alive, false, "Allow: GET, HEAD\r\n");
		return ROUTE_DONE;
	}
	struct np_http_response r = { .status = 200, .content_type = "application/octet-stream",
				      .content_length = (long long)strlen(answer), .close = !req->keep_alive };
	if (np_http_send(c->socket, &r, head ? NULL : answer, head ? 0 : strlen(answer)) < 0) {
		np_session_set_end_reason(c->session, "ACME challenge answer not delivered: %s",
					  np_socket_write_strerror(c->socket));
		return ROUTE_END;
	}
	np_log(LOG_INFO, "conn %llu: answered the ACME http-01 challenge %.*s", (unsigned long long)c->session->id,
	       (int)(req->target_len - plen), req->target + plen);
	return ROUTE_DONE;
}

/* webSocketPath: the RFC 6455 handshake, then the connection is a
 * WebSocket for the protocol-byte dispatch. */
static enum route_result route_websocket(struct conn *c, const struct np_http_request *req)
{
	const struct np_port_conf *port = c->port;
	if (!port->web_socket_path || !path_is(req, port->web_socket_path))
		return ROUTE_NEXT;
	const struct np_http_header *upgrade = np_http_header(req, "upgrade");
	const struct np_http_header *connection = np_http_header(req, "connection");
	const struct np_http_header *key = np_http_header(req, "sec-websocket-key");
	const struct np_http_header *version = np_http_header(req, "sec-websocket-version");
	const struct np_http_header *protocols = np_http_header(req, "sec-websocket-protocol");
	if (!upgrade || !np_http_header_has_token(upgrade, "websocket"))
		return ROUTE_NEXT; /* a plain request for the same path: the next route's */
	const char *why = NULL;
	int status = 400;
	char extra[256] = "";
	if (!np_http_method_is(req, "GET") || req->minor != 1)
		why = "WebSocket upgrade not by an HTTP/1.1 GET";
	else if (!connection || !np_http_header_has_token(connection, "upgrade"))
		why = "WebSocket upgrade without Connection: Upgrade";
	else if (!key || key->value_len != 24)
		why = "WebSocket upgrade without a valid Sec-WebSocket-Key";
	else if (!version || version->value_len != 2 || memcmp(version->value, "13", 2) != 0) {
		why = "WebSocket version is not 13";
		status = 426;
		snprintf(extra, sizeof(extra), "Sec-WebSocket-Version: 13\r\n");
	} else if (!origin_allowed(port, req)) {
		why = "WebSocket Origin not in webSocketOrigins";
		status = 403;
	}
	if (why) {
		np_http_send_error(c->socket, status, false, false, extra[0] ? extra : NULL);
		np_session_set_end_reason(c->session, "HTTP %d: %s", status, why);
		return ROUTE_END;
	}
	char accept[29];
	if (np_ws_accept_key(key->value, key->value_len, accept) < 0) {
		np_http_send_error(c->socket, 500, false, false, NULL);
		np_session_set_end_reason(c->session, "HTTP 500: cannot compute Sec-WebSocket-Accept");
		return ROUTE_END;
	}
	int n = snprintf(extra, sizeof(extra), "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
			 accept);
	if (protocols && np_http_header_has_token(protocols, "netphantom"))
		snprintf(extra + n, sizeof(extra) - (size_t)n, "Sec-WebSocket-Protocol: netphantom\r\n");
	struct np_http_response r = { .status = 101, .content_length = -1, .extra = extra };
	if (np_http_send_head(c->socket, &r) < 0) {
		np_session_set_end_reason(c->session, "WebSocket handshake not delivered: %s",
					  np_socket_write_strerror(c->socket));
		return ROUTE_END;
	}
	return ROUTE_UPGRADED;
}

/* statusPath and metricsPath, for statusAllow's addresses only. */
static enum route_result route_report(struct conn *c, const struct np_http_request *req)
{
	const struct np_port_conf *port = c->port;
	bool status = port->status_path && path_is(req, port->status_path);
	bool metrics = port->metrics_path && path_is(req, port->metrics_path);
	if (!status && !metrics)
		return ROUTE_NEXT;
	bool head = np_http_method_is(req, "HEAD");
	int rc;
	if (!head && !np_http_method_is(req, "GET")) {
		rc = np_http_send_error(c->socket, 405, req->keep_alive, false, "Allow: GET, HEAD\r\n");
	} else if (!np_cidr_list_match(&port->status_allow, (const struct sockaddr *)&c->session->peer_addr)) {
		rc = np_http_send_error(c->socket, 403, req->keep_alive, head, NULL);
	} else {
		const struct np_http_header *accept = np_http_header(req, "accept");
		enum np_report_format format = metrics ? NP_REPORT_METRICS
					       : accept && memmem(accept->value, accept->value_len, "application/json", 16)
							 ? NP_REPORT_JSON
					       : NP_REPORT_HTML;
		rc = np_http_send_report(c->socket, c->session, format, req->keep_alive, head);
	}
	if (rc < 0) {
		np_session_set_end_reason(c->session, "HTTP report not delivered: %s", np_socket_write_strerror(c->socket));
		return ROUTE_END;
	}
	return ROUTE_DONE;
}

static enum route_result route_file(struct conn *c, const struct np_http_request *req)
{
	if (c->root_fd < 0)
		return ROUTE_NEXT;
	int status = 0;
	switch (np_http_file(c->socket, c->root_fd, &c->file, req, req->keep_alive, &status)) {
	case NP_FILE_NONE:
		return ROUTE_NEXT;
	case NP_FILE_FAILED:
		np_session_set_end_reason(c->session, "HTTP %d not delivered: %s", status,
					  np_socket_write_strerror(c->socket));
		return ROUTE_END;
	default:
		return ROUTE_DONE;
	}
}

/* webUpstream: this request's bytes and the rest of the connection go
 * there, as sslh would relay them. */
static enum route_result route_upstream(struct conn *c)
{
	if (!c->port->web_upstream)
		return ROUTE_NEXT;
	np_socket_set_deadline(c->socket, 0);
	np_upstream_relay(c->session, c->buf, c->len);
	return ROUTE_END;
}

/* --- the connection ---------------------------------------------------------------- */

/* Answers an error status and ends the connection. */
static void refuse(struct conn *c, const struct np_http_request *req)
{
	np_http_send_error(c->socket, req->status, false, false, NULL);
	np_session_set_end_reason(c->session, "HTTP %d: %s", req->status, req->error);
}

static int serve(struct conn *c)
{
	struct np_http_request req;
	for (;;) {
		enum head_result h = read_head(c, &req);
		if (h == HEAD_GONE)
			return 0;
		if (h == HEAD_BAD) {
			refuse(c, &req);
			return 0;
		}
		c->requests++;
		if (c->port->http_keep_alive_timeout_ms == 0)
			req.keep_alive = false;
		enum route_result r = route_challenge(c, &req);
		if (r == ROUTE_NEXT)
			r = route_websocket(c, &req);
		if (r == ROUTE_NEXT)
			r = route_report(c, &req);
		if (r == ROUTE_NEXT)
			r = route_file(c, &req);
		if (r == ROUTE_NEXT)
			r = route_upstream(c);
		if (r == ROUTE_NEXT) {
			bool head = np_http_method_is(&req, "HEAD");
			r = np_http_send_error(c->socket, 404, req.keep_alive, head, NULL) < 0 ? ROUTE_END : ROUTE_DONE;
			if (r == ROUTE_END)
				np_session_set_end_reason(c->session, "HTTP 404 not delivered: %s",
							  np_socket_write_strerror(c->socket));
		}
		if (r == ROUTE_UPGRADED) {
			c->len -= req.head_length; /* what came after the head is the WebSocket's */
			memmove(c->buf, c->buf + req.head_length, c->len);
			return 1;
		}
		if (r == ROUTE_END || drop_request(c, &req) < 0)
			return 0;
		if (!req.keep_alive) {
			np_session_set_end_reason(c->session, "HTTP: %u request%s, then closed (no keep-alive)",
						  c->requests, c->requests == 1 ? "" : "s");
			return 0;
		}
	}
}

int np_http_serve(struct np_session *session, const unsigned char *first, size_t length)
{
	const struct np_port_conf *port = session->port;
	struct conn c = { .session = session, .socket = session->socket, .port = port,
			  .cap = port->http_max_header_size, .root_fd = -1, .file = NP_HTTP_FILE_CACHE_INIT };
	c.buf = malloc(c.cap);
	if (!c.buf) {
		np_session_set_end_reason(session, "out of memory for an HTTP request head");
		return 0;
	}
	memcpy(c.buf, first, length);
	c.len = length;
	/* Gone since start-up: no files, the next routes. */
	if (port->web_root)
		c.root_fd = open(port->web_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int upgraded = serve(&c);
	np_http_file_cache_drop(&c.file);
	if (upgraded && c.len > 0) {
		/* Bytes of the first frames came with the head: a WebSocket
		 * whose client did not wait for 101.  Not supported. */
		np_session_set_end_reason(session, "WebSocket frames before the handshake's answer");
		upgraded = 0;
	}
	free(c.buf);
	if (c.root_fd >= 0)
		close(c.root_fd);
	return upgraded;
}
