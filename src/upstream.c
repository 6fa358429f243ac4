/* SPDX-License-Identifier: ISC */
/*
 * upstream.c - outgoing connections (upstream.h): connect with a bound,
 * a plain socket with the port's read timeout, errors in the words the
 * log line uses; the PROXY header that tells the upstream who the
 * client is (upstreamProxyProtocol); and the webUpstream relay of the
 * unknown path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "proxy.h"
#include "pump.h"
#include "registry.h"
#include "upstream.h"

/* upstreamProxyProtocol: the client (behind a balancer, the one its
 * header named) and where it connected to, ahead of everything else. */
static int send_proxy_header(struct np_session *session, struct np_socket *up, const char *what,
			     const char *target)
{
	int version = session->port->upstream_proxy_protocol;
	struct sockaddr_storage dst;
	if (session->proxy && !session->proxy->header.local) {
		dst = session->proxy->header.dst;
	} else {
		socklen_t len = sizeof(dst);
		if (getsockname(session->fd, (struct sockaddr *)&dst, &len) < 0) {
			np_session_set_end_reason(session, "%s %s: cannot tell the PROXY header's destination: %s",
						  what, target, strerror(errno));
			return -1;
		}
	}
	unsigned char header[NP_PROXY_OUT_MAX];
	size_t n = np_proxy_build(version, &session->peer_addr, &dst, header, sizeof(header));
	if (np_socket_write_all(up, header, n) < 0) {
		np_session_set_end_reason(session, "%s %s: writing the PROXY header failed: %s", what, target,
					  np_socket_write_strerror(up));
		return -1;
	}
	return 0;
}

struct np_socket *np_upstream_open(struct np_session *session, const char *what, const char *target)
{
	const struct np_port_conf *port = session->port;
	char err[256];
	int fd = np_net_connect(target, port->upstream_connect_timeout_ms, err, sizeof(err));
	if (fd < 0) {
		np_session_set_end_reason(session, "%s %s unreachable: %s", what, target, err);
		return NULL;
	}
	struct np_socket *up = np_socket_plain_new(fd);
	if (!up) {
		close(fd);
		np_session_set_end_reason(session, "out of memory for the %s connection", what);
		return NULL;
	}
	np_registry_set_upstream(session->registry, session, fd);
	np_socket_set_timeout(up, port->read_timeout_ms);
	if (np_socket_set_write_timeout(up, port->write_timeout_ms) < 0)
		np_log(LOG_WARNING, "conn %llu: %s: setsockopt SO_SNDTIMEO: %s",
		       (unsigned long long)session->id, what, strerror(errno));
	if (port->upstream_proxy_protocol && send_proxy_header(session, up, what, target) < 0) {
		np_upstream_close(session, up);
		return NULL;
	}
	return up;
}

void np_upstream_close(struct np_session *session, struct np_socket *up)
{
	/* First out of the registry's reach: the fd's number is free again
	 * once it is closed. */
	np_registry_set_upstream(session->registry, session, -1);
	np_socket_close(up);
}

void np_upstream_relay(struct np_session *session, const unsigned char *first, size_t length)
{
	const struct np_port_conf *port = session->port;
	const char *target = port->web_upstream;
	char err[256];
	struct np_socket *up = np_upstream_open(session, "webUpstream", target);
	if (!up)
		return;
	if (np_socket_write_all(up, first, length) < 0)
		np_session_set_end_reason(session, "webUpstream %s: write failed: %s", target,
					  np_socket_write_strerror(up));
	else if (np_pump(session->socket, up, port->read_timeout_ms, port->half_closed_timeout_ms, err,
			      sizeof(err)) < 0)
		np_session_set_end_reason(session, "webUpstream %s: %s", target, err);
	else
		np_session_set_end_reason(session, "webUpstream %s: both sides closed", target);
	np_upstream_close(session, up);
}
