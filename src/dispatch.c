/* SPDX-License-Identifier: ISC */
/*
 * dispatch.c - the protocol byte (SPEC §3), one row per protocol, and the
 * unknown path (SPEC §7): an ordered table of probes, each a look at the
 * bytes already read that answers no, match, or more; the first match in
 * table order takes the connection with every byte read, and a row that
 * wants more is asked again, before any row after it, once more came.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "http.h"
#include "http_server.h"
#include "registry.h"
#include "relay.h"
#include "upstream.h"

/* --- the protocol byte ------------------------------------------------------ */

/* Answers byte 1 (unless the handler does) and runs its session loop. */
static void run_session(struct np_session *session, int (*callback)(void *, struct np_session *))
{
	const struct np_handler *handler = session->handler;

	if (!(handler->flags & NP_HANDLER_ANSWERS_ITSELF) && np_session_accept(session) < 0)
		return;
	np_socket_set_deadline(session->socket, 0);
	np_socket_set_timeout(session->socket, session->port->read_timeout_ms);
	int rc = callback(session->handler_state, session);
	if (session->end_reason[0])
		return;
	if (rc == 0 || session->comm.error == NP_COMM_CLOSED)
		np_session_set_end_reason(session, "%s", session->comm.error == NP_COMM_OK ?
					  "ended by handler" : session->comm.error_text);
	else if (session->comm.error != NP_COMM_OK)
		np_session_set_end_reason(session, "%s", session->comm.error_text);
	else
		np_session_set_end_reason(session, "handler %s failed", handler->name);
}

static void start_client(struct np_session *session)
{
	run_session(session, session->handler->on_client_connect);
}

static void start_remote_application(struct np_session *session)
{
	run_session(session, session->handler->on_remote_application_connect);
}

static const struct protocol {
	unsigned char byte;
	const char *name;
	void (*start)(struct np_session *session);
} protocols[] = {
	{ 1, "client", start_client },
	{ 2, "relay", np_relay_session },
	{ 3, "rapp", start_remote_application },
};

/* --- the unknown path -------------------------------------------------------- */

static enum np_probe_result probe_module(const struct np_session *session, const unsigned char *data,
					 size_t length)
{
	(void)data;
	(void)length;
	return session->handler->on_unknown_connect ? NP_PROBE_MATCH : NP_PROBE_NO;
}

/* What a row's run() returns. */
enum { RUN_DONE, RUN_UPGRADED };

static int run_module(struct np_session *session, const unsigned char *data, size_t length)
{
	const struct np_handler *handler = session->handler;
	if (handler->on_unknown_connect(session->handler_state, session, data, length) < 0 &&
	    !session->end_reason[0])
		np_session_set_end_reason(session, "handler %s failed on protocol byte 0x%02x", handler->name,
					  data[0]);
	return RUN_DONE;
}

static enum np_probe_result probe_web_upstream(const struct np_session *session, const unsigned char *data,
					       size_t length)
{
	(void)data;
	(void)length;
	return session->port->web_upstream ? NP_PROBE_MATCH : NP_PROBE_NO;
}

/* An HTTP request on a port that serves HTTP itself, or on any port
 * while an ACME http-01 answer is pending; never inside a WebSocket (a
 * browser's session speaks NetPhantom there). */
static enum np_probe_result probe_http(const struct np_session *session, const unsigned char *data, size_t length)
{
	if (strcmp(atomic_load(&session->transport), "ws") == 0)
		return NP_PROBE_NO;
	enum np_probe_result r = np_http_probe(data, length);
	if (r == NP_PROBE_NO || np_http_enabled(session->port) || np_registry_challenges_pending(session->registry))
		return r;
	return NP_PROBE_NO;
}

static int run_http(struct np_session *session, const unsigned char *data, size_t length)
{
	return np_http_serve(session, data, length) ? RUN_UPGRADED : RUN_DONE;
}

static int run_web_upstream(struct np_session *session, const unsigned char *data, size_t length)
{
	np_upstream_relay(session, data, length);
	return RUN_DONE;
}

static const struct probe {
	const char *protocol;       /* for the log line */
	enum np_probe_result (*probe)(const struct np_session *session, const unsigned char *data,
				      size_t length);
	int (*run)(struct np_session *session, const unsigned char *data, size_t length);
} unknown_path[] = {
	{ "unknown", probe_module, run_module },
	{ "web", probe_http, run_http },
	{ "web", probe_web_upstream, run_web_upstream },
};

/* The first row that matches, in table order; NULL with *more set when a
 * row before any match cannot tell yet. */
static const struct probe *choose(const struct np_session *session, const struct np_first_bytes *first,
				  bool *more)
{
	*more = false;
	for (size_t i = 0; i < sizeof(unknown_path) / sizeof(unknown_path[0]); i++) {
		enum np_probe_result r = unknown_path[i].probe(session, first->data, first->length);
		if (r == NP_PROBE_MATCH)
			return &unknown_path[i];
		if (r == NP_PROBE_MORE && first->length < sizeof(first->data)) {
			*more = true;
			return NULL;
		}
	}
	return NULL;
}

/* After the upgrade: the protocol byte, within handshakeTimeout, and its
 * protocol, all over the WebSocket. */
static void dispatch_websocket(struct np_session *session, struct np_first_bytes *first)
{
	if (np_session_upgrade_ws(session) < 0)
		return;
	np_session_set_protocol(session, "none");
	np_socket_set_deadline(session->socket, np_now_ms() + session->port->handshake_timeout_ms);
	if (np_dispatch_read_byte(session, first) == 0)
		np_dispatch(session, first);
}

static void dispatch_unknown(struct np_session *session, struct np_first_bytes *first)
{
	struct np_socket *socket = session->socket;
	np_session_set_protocol(session, "unknown");
	for (;;) {
		bool more;
		const struct probe *row = choose(session, first, &more);
		if (row) {
			np_session_set_protocol(session, row->protocol);
			np_session_set_stage(session, NP_STAGE_RUNNING);
			np_socket_set_deadline(socket, 0);
			np_socket_set_timeout(socket, session->port->read_timeout_ms);
			if (row->run(session, first->data, first->length) == RUN_UPGRADED)
				dispatch_websocket(session, first);
			return;
		}
		if (!more)
			break;
		/* Still within the handshake's deadline. */
		ssize_t n = np_socket_read(socket, first->data + first->length,
					   sizeof(first->data) - first->length);
		if (n < 0) {
			np_session_set_end_reason(session, "unknown protocol byte 0x%02x: %s after %zu byte%s",
						  first->data[0], np_socket_strerror(socket), first->length,
						  first->length == 1 ? "" : "s");
			return;
		}
		first->length += (size_t)n;
	}
	session->end_cause = 'P';
	np_session_set_end_reason(session, "unknown protocol byte 0x%02x and no webUpstream", first->data[0]);
}

/* --- the entry points ------------------------------------------------------- */

int np_dispatch_read_byte(struct np_session *session, struct np_first_bytes *first)
{
	struct np_socket *socket = session->socket;
	first->length = 0;
	if (np_socket_read(socket, first->data, 1) < 0) {
		if (socket->rd.error == NP_SOCK_EOF) {
			session->quiet_end = true;
			np_session_set_end_reason(session, "closed before the protocol byte");
		} else {
			/* Behind a balancer, a reset right after the header is
			 * its health check's way to close. */
			if (socket->rd.error == NP_SOCK_RESET && session->proxy)
				session->quiet_end = true;
			np_session_set_end_reason(session, "no protocol byte: %s", np_socket_strerror(socket));
		}
		return -1;
	}
	first->length = 1;
	return 0;
}

void np_dispatch(struct np_session *session, struct np_first_bytes *first)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (protocols[i].byte == first->data[0]) {
			np_session_set_protocol(session, protocols[i].name);
			np_session_set_stage(session, NP_STAGE_RUNNING);
			protocols[i].start(session);
			return;
		}
	}
	dispatch_unknown(session, first);
}
