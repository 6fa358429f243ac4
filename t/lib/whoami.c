/* SPDX-License-Identifier: ISC */
/*
 * whoami.c - a session-handler module for the tests: its first answer
 * says what the handler API tells of the connection (peer, and behind a
 * balancer what the PROXY header said), then it echoes.  Built by make
 * as build/t/whoami.so.
 */
#include <stdio.h>

#include <npsocket/handler.h>

static int whoami(void *state, struct np_session *session)
{
	struct np_comm *comm = np_session_comm(session);
	const struct np_proxy_info *p = np_session_proxy(session);
	const struct np_tls_info *tls = np_session_tls(session);
	char text[1024];
	int n = snprintf(text, sizeof(text), "peer=%s via=%s local=%d authority=%s unique_id=%s secure=%d tls=%s cipher=%s sni=%s subject=%s",
			 np_session_peer(session), p ? p->via : "-", p ? p->local : -1,
			 p && p->authority ? p->authority : "-", p && p->unique_id ? p->unique_id : "-",
			 np_session_is_secure(session), tls && tls->version ? tls->version : "-",
			 tls && tls->cipher ? tls->cipher : "-", tls && tls->server_name ? tls->server_name : "-",
			 tls && tls->peer_subject ? tls->peer_subject : "-");
	struct np_transaction t;
	(void)state;
	if (n < 0 || np_comm_write_transaction(comm, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1) < 0)
		return -1;
	while (np_comm_read_transaction(comm, &t) == 0)
		if (np_comm_write_transaction(comm, t.payload, t.length) < 0)
			return -1;
	return comm->error == NP_COMM_CLOSED ? 0 : -1;
}

const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.name = "whoami",
	.on_client_connect = whoami,
	.on_remote_application_connect = whoami,
};
