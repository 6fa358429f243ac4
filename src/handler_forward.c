/* SPDX-License-Identifier: ISC */
/*
 * handler_forward.c - sessionHandler = forward: each session relayed to
 * the port's upstream NetPhantom server transaction by transaction, as
 * they are on the wire (compressed ones stay compressed), after the
 * upstream accepted the same protocol byte.
 */
#include <errno.h>
#include <string.h>

#include "handler.h"
#include "session.h"
#include "upstream.h"

/* Opens the upstream connection and asks it for the same protocol; NULL
 * with the session's end reason set when it is down or says no. */
static struct np_socket *ask_upstream(struct np_session *session, unsigned char byte)
{
	const struct np_port_conf *port = session->port;
	struct np_socket *up = np_upstream_open(session, "upstream", port->upstream);
	if (!up)
		return NULL;
	unsigned char answer = 0;
	/* The answer comes within upstreamConnectTimeout, readTimeout after. */
	np_socket_set_timeout(up, 0);
	np_socket_set_deadline(up, np_now_ms() + port->upstream_connect_timeout_ms);
	if (np_socket_write_all(up, &byte, 1) < 0) {
		np_session_set_end_reason(session, "upstream %s: sending the protocol byte failed: %s",
					  port->upstream, np_socket_write_strerror(up));
	} else if (np_socket_read(up, &answer, 1) < 0) {
		np_session_set_end_reason(session, "upstream %s did not answer the protocol byte: %s",
					  port->upstream, np_socket_strerror(up));
	} else if (answer != 1) {
		np_session_set_end_reason(session, "upstream %s refused protocol byte %u (answered %u)",
					  port->upstream, byte, answer);
	} else {
		np_socket_set_deadline(up, 0);
		np_socket_set_timeout(up, port->read_timeout_ms);
		return up;
	}
	np_upstream_close(session, up);
	return NULL;
}

/* Moves one transaction from `from` to `to` as it is on the wire; -1 with
 * the session's end reason set when the session is over. */
static int forward_one(struct np_session *session, struct np_comm *from, struct np_comm *to,
		       const char *from_name, const char *to_name)
{
	struct np_transaction t;
	if (np_comm_read_wire(from, &t) < 0) {
		if (from->error == NP_COMM_CLOSED)
			np_session_set_end_reason(session, "%s closed the session", from_name);
		else
			np_session_set_end_reason(session, "%s: %s", from_name, from->error_text);
		return -1;
	}
	if (np_comm_write_raw(to, t.payload, t.length, t.was_compressed) < 0) {
		np_session_set_end_reason(session, "write to %s failed: %s", to_name,
					  np_socket_write_strerror(to->socket));
		return -1;
	}
	return 0;
}

static int forward_session(struct np_session *session, unsigned char byte)
{
	struct np_comm *client = np_session_comm(session);
	struct np_socket *up = ask_upstream(session, byte);
	if (!up)
		return -1;
	if (np_session_accept(session) < 0) {
		np_upstream_close(session, up);
		return -1;
	}

	struct np_comm upstream;
	if (np_comm_init(&upstream, up, &client->options) < 0) {
		np_session_set_end_reason(session, "cannot set up the upstream session: %s", strerror(errno));
		np_upstream_close(session, up);
		return -1;
	}
	/* idleTimeout is the client's business; the upstream waits as long. */
	upstream.options.idle_timeout_ms = 0;
	int rc = 0;
	const int idle = client->options.idle_timeout_ms;
	while (rc == 0) {
		/* idleTimeout holds while both sides are quiet, too. */
		int64_t since = atomic_load(&client->last_activity_ms), wait_ms = 0;
		if (idle > 0 && (wait_ms = since + idle - np_now_ms()) <= 0) {
			np_session_set_end_reason(session, "idle timeout: no complete transaction for %d.%03ds",
						  idle / 1000, idle % 1000);
			rc = -1;
			break;
		}
		int ready = np_socket_wait_either(client->socket, up, wait_ms > INT32_MAX ? INT32_MAX : (int)wait_ms);
		if (ready < 0) {
			np_session_set_end_reason(session, "poll: %s", strerror(errno));
			rc = -1;
		}
		if (rc == 0 && (ready & 1))
			rc = forward_one(session, client, &upstream, "client", "upstream");
		if (rc == 0 && (ready & 2))
			rc = forward_one(session, &upstream, client, "upstream", "client");
	}
	np_comm_destroy(&upstream);
	np_upstream_close(session, up);
	return client->error == NP_COMM_CLOSED ? 0 : -1;
}

static int forward_client(void *state, struct np_session *session)
{
	(void)state;
	return forward_session(session, 1);
}

static int forward_remote_application(void *state, struct np_session *session)
{
	(void)state;
	return forward_session(session, 3);
}

const struct np_handler np_handler_forward = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.flags = NP_HANDLER_ANSWERS_ITSELF,
	.name = "forward",
	.on_client_connect = forward_client,
	.on_remote_application_connect = forward_remote_application,
};
