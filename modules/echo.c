/* SPDX-License-Identifier: ISC */
/*
 * echo.c - the smallest session-handler module (sessionHandler =
 * module:PATH/echo.so): answers each transaction with the same payload.
 * It shows the whole interface a module needs: one exported descriptor,
 * the comm API for transactions.
 */
#include <npsocket/handler.h>

static int echo_session(void *state, struct np_session *session)
{
	struct np_comm *comm = np_session_comm(session);
	struct np_transaction t;
	(void)state;

	while (np_comm_read_transaction(comm, &t) == 0)
		if (np_comm_write_transaction(comm, t.payload, t.length) < 0) {
			np_session_set_end_reason(session, "echo module: write failed");
			return -1;
		}
	return comm->error == NP_COMM_CLOSED ? 0 : -1;
}

const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.name = "echo-module",
	.on_client_connect = echo_session,
	.on_remote_application_connect = echo_session,
};
