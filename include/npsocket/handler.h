/* SPDX-License-Identifier: ISC */
/*
 * npsocket/handler.h - where a session goes after the protocol byte (the C
 * counterpart of the Java ClientConnectionInterface callbacks).
 *
 * A handler runs in the connection's own thread: the callback owns the
 * session until it returns, reading transactions with
 * np_comm_read_transaction() and writing with np_comm_write_transaction()
 * (writes are also safe from other threads while the callback runs).
 * When the callback returns, the daemon closes the connection.
 *
 * Built-in handlers (echo, forward) and loadable modules
 * (sessionHandler = module:PATH, exporting NP_HANDLER_SYMBOL) share this
 * one interface.
 */
#ifndef NPSOCKET_HANDLER_H
#define NPSOCKET_HANDLER_H

#include <stdbool.h>
#include <stdint.h>

#include "npsocket/comm.h"
#include "npsocket/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: struct np_socket keeps a read's and a write's failure apart (rd, wr).
 * 3: struct np_socket owns the write lock (np_comm's is gone), can be a
 *    layer over another, and its counters are atomic;
 *    np_handler_env.set_challenge.
 * 4: struct np_socket has a write timeout; np_comm_options a transaction
 *    timeout, and struct np_comm the reader's bounds. */
#define NP_HANDLER_ABI_VERSION 4
#define NP_HANDLER_SYMBOL "np_handler_descriptor"

/* One accepted connection as a handler sees it. */
struct np_session;

uint64_t np_session_id(const struct np_session *session);
struct np_comm *np_session_comm(struct np_session *session);
/* "192.0.2.7:51234" or "[2001:db8::7]:51234" */
const char *np_session_peer(const struct np_session *session);
/* The port as known from outside (mapToPort). */
int np_session_port(const struct np_session *session);
/* TLS on this connection, or terminated in front of it (externalSSL). */
bool np_session_is_secure(const struct np_session *session);
/* What TLS negotiated, or NULL on a plain connection.  Behind a balancer
 * that ended TLS (externalSSL with proxyProtocol), what its PROXY v2 SSL
 * TLV said of the client's TLS. */
const struct np_tls_info *np_session_tls(const struct np_session *session);

/* What a balancer's PROXY header said (proxyProtocol); np_session_peer()
 * is then the client's address from the header. */
struct np_proxy_info {
	const char *via;                /* the balancer's address, as np_session_peer() writes one */
	bool local;                     /* LOCAL: the balancer's own connection (a health check) */
	const char *authority;          /* v2 AUTHORITY TLV (the SNI it saw), or NULL */
	const char *unique_id;          /* v2 UNIQUE_ID TLV in lowercase hex, or NULL */
};
/* NULL when the connection came straight from its client. */
const struct np_proxy_info *np_session_proxy(const struct np_session *session);
/* Answers the protocol byte with 1 (accepted).  The daemon does it before
 * on_client_connect / on_remote_application_connect unless the handler
 * has NP_HANDLER_ANSWERS_ITSELF (e.g. to ask an upstream first); a second
 * call does nothing.  0, or -1 when the client is gone. */
int np_session_accept(struct np_session *session);
/* The reason the log line gives when the session ends ("handler: ..."). */
void np_session_set_end_reason(struct np_session *session, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What init() learns of the port it serves; it stays valid (and may be
 * kept) until after shutdown(). */
struct np_handler_env {
	const char *port_name;          /* "Port" or "Port.NAME" */
	int port;                       /* mapToPort */
	/* The raw value of a key in the port's section, or NULL. */
	const char *(*setting)(const struct np_handler_env *env, const char *key);
	const void *opaque;             /* the daemon's, for setting() */
	/* ACME http-01 (RFC 8555 8.3): from now on every port answers
	 * GET /.well-known/acme-challenge/TOKEN with `answer` (the key
	 * authorization), until it is set again or removed (answer NULL).
	 * Callable from any thread, during init() and after.  0, or -1 when
	 * refused (a token not base64url or over 128 bytes, an answer not
	 * printable or over 256, 64 pending). */
	int (*set_challenge)(const struct np_handler_env *env, const char *token, const char *answer);
};

/*
 * Callbacks return 0 when the session ended normally and -1 on an error
 * (after np_session_set_end_reason(), or with the comm error as reason).
 */
/* np_handler.flags */
#define NP_HANDLER_ANSWERS_ITSELF 0x1u  /* the handler calls np_session_accept() */

struct np_handler {
	uint32_t abi_version;           /* NP_HANDLER_ABI_VERSION */
	uint32_t flags;
	const char *name;
	/* Optional; *state is handed to every other callback. */
	int (*init)(const struct np_handler_env *env, void **state);
	/* Optional; after the last session ended. */
	void (*shutdown)(void *state);
	int (*on_client_connect)(void *state, struct np_session *session);
	int (*on_remote_application_connect)(void *state, struct np_session *session);
	/* Optional: any protocol byte other than 1, 2 and 3; `first` holds
	 * the bytes already read (at least the protocol byte). */
	int (*on_unknown_connect)(void *state, struct np_session *session,
				  const unsigned char *first, size_t length);
};

#ifdef __cplusplus
}
#endif

#endif
