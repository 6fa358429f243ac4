/* SPDX-License-Identifier: ISC */
/*
 * handler_echo.c - sessionHandler = echo: every transaction is answered
 * with the same payload until the client closes; outgoing compression
 * follows the port's settings.
 */
#include "handler.h"

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

const struct np_handler np_handler_echo = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.name = "echo",
	.on_client_connect = echo_session,
	.on_remote_application_connect = echo_session,
};
