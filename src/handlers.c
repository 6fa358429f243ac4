/*
 * handlers.c - the built-in session handlers: echo (sessionHandler = echo),
 * forward (sessionHandler = forward: each session relayed to an upstream
 * server transaction by transaction), and the webUpstream relay of the
 * unknown-protocol path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handlers.h"
#include "listener.h"
#include "log.h"
#include "net.h"

/* Answers every transaction with the same payload until the client
 * closes; outgoing compression follows the port's settings. */
static int echo_session(void *state, struct np_session *session)
{
	struct np_comm *comm = np_session_comm(session);
	struct np_transaction t;
	(void)state;

	while (np_comm_read_transaction(comm, &t) == 0) {
		if (np_comm_write_transaction(comm, t.payload, t.length) < 0) {
			np_session_set_end_reason(session, "write failed: %s",
						  np_socket_write_strerror(comm->socket));
			return -1;
		}
	}
	return comm->error == NP_COMM_CLOSED ? 0 : -1;
}

static const struct np_handler echo_handler = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.name = "echo",
	.on_client_connect = echo_session,
	.on_remote_application_connect = echo_session,
};

/* --- forward: each session relayed to an upstream NetPhantom server ----- */

/* Opens the upstream connection and asks it for the same protocol; NULL
 * with the session's end reason set when it is down or says no. */
static struct np_socket *upstream_open(struct np_session *session, unsigned char byte)
{
	const struct np_port_conf *port = session->port;
	char err[256];
	int fd = np_net_connect(port->upstream, port->upstream_connect_timeout_ms, err, sizeof(err));
	if (fd < 0) {
		np_session_set_end_reason(session, "upstream %s unreachable: %s", port->upstream, err);
		return NULL;
	}
	struct np_socket *up = np_socket_plain_new(fd);
	if (!up) {
		close(fd);
		np_session_set_end_reason(session, "out of memory for the upstream connection");
		return NULL;
	}
	unsigned char answer = 0;
	up->deadline = np_now_ms() + port->upstream_connect_timeout_ms;
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
		up->deadline = 0;
		up->timeout_ms = port->read_timeout_ms;
		return up;
	}
	np_socket_close(up);
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
	struct np_socket *up = upstream_open(session, byte);
	if (!up)
		return -1;
	if (np_session_accept(session) < 0) {
		np_socket_close(up);
		return -1;
	}

	struct np_comm upstream;
	if (np_comm_init(&upstream, up, &client->options) < 0) {
		np_session_set_end_reason(session, "cannot set up the upstream session: %s", strerror(errno));
		np_socket_close(up);
		return -1;
	}
	/* idleTimeout is the client's business; the upstream waits as long. */
	upstream.options.idle_timeout_ms = 0;
	int rc = 0;
	while (rc == 0) {
		int ready = np_socket_wait_either(client->socket, up, 0);
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
	np_socket_close(up);
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

static const struct np_handler forward_handler = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.flags = NP_HANDLER_ANSWERS_ITSELF,
	.name = "forward",
	.on_client_connect = forward_client,
	.on_remote_application_connect = forward_remote_application,
};

const struct np_handler *np_handler_for(const struct np_port_conf *conf, char *err, size_t err_size)
{
	switch (conf->handler) {
	case NP_HANDLER_ECHO:
		return &echo_handler;
	case NP_HANDLER_FORWARD:
		return &forward_handler;
	case NP_HANDLER_MODULE:
		return np_module_load(conf->module_path, err, err_size);
	}
	snprintf(err, err_size, "unknown sessionHandler");
	return NULL;
}

static const char *port_setting(const struct np_handler_env *env, const char *key)
{
	const struct np_listener *listener = env->opaque;
	return np_config_port_setting(listener->server->config, listener->conf, key);
}

int np_handler_init(struct np_listener *listener)
{
	const struct np_handler *handler = listener->handler;
	if (!handler->init) {
		listener->handler_started = true;
		return 0;
	}
	struct np_handler_env env = {
		.port_name = listener->conf->name,
		.port = listener->public_port,
		.setting = port_setting,
		.opaque = listener,
	};
	if (handler->init(&env, &listener->handler_state) < 0) {
		np_log(LOG_ERR, "[%s]: handler %s failed to start", listener->conf->name, handler->name);
		return -1;
	}
	listener->handler_started = true;
	return 0;
}

void np_handler_shutdown(struct np_listener *listener)
{
	if (listener->handler_started && listener->handler->shutdown)
		listener->handler->shutdown(listener->handler_state);
	listener->handler_started = false;
	listener->handler_state = NULL;
}

void np_web_upstream(struct np_session *session, const unsigned char *first, size_t length)
{
	const struct np_port_conf *port = session->port;
	char err[256];
	int fd = np_net_connect(port->web_upstream, port->upstream_connect_timeout_ms, err, sizeof(err));
	if (fd < 0) {
		np_session_set_end_reason(session, "webUpstream %s unreachable: %s", port->web_upstream, err);
		return;
	}
	struct np_socket *upstream = np_socket_plain_new(fd);
	if (!upstream) {
		close(fd);
		np_session_set_end_reason(session, "out of memory for the webUpstream connection");
		return;
	}
	upstream->timeout_ms = port->read_timeout_ms;
	if (np_socket_write_all(upstream, first, length) < 0) {
		np_session_set_end_reason(session, "webUpstream %s: write failed: %s", port->web_upstream,
					  np_socket_write_strerror(upstream));
	} else if (np_pump(session->socket, upstream, port->read_timeout_ms, err, sizeof(err)) < 0) {
		np_session_set_end_reason(session, "webUpstream %s: %s", port->web_upstream, err);
	} else {
		np_session_set_end_reason(session, "webUpstream %s: both sides closed", port->web_upstream);
	}
	np_socket_close(upstream);
}
