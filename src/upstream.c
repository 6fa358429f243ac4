/*
 * upstream.c - outgoing connections (upstream.h): connect with a bound,
 * a plain socket with the port's read timeout, errors in the words the
 * log line uses; and the webUpstream relay of the unknown path.
 */
#include <stdio.h>
#include <unistd.h>

#include "net.h"
#include "pump.h"
#include "upstream.h"

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
	np_socket_set_timeout(up, port->read_timeout_ms);
	return up;
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
	else if (np_pump(session->socket, up, port->read_timeout_ms, err, sizeof(err)) < 0)
		np_session_set_end_reason(session, "webUpstream %s: %s", target, err);
	else
		np_session_set_end_reason(session, "webUpstream %s: both sides closed", target);
	np_socket_close(up);
}
