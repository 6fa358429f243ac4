/* SPDX-License-Identifier: ISC */
/*
 * socket_tls.h - np_socket over a GnuTLS session (the Java SocketAdapter
 * around an SSLSocket): the daemon's server side over a port's TLS
 * context, and the client side npcat uses.
 */
#ifndef NP_SOCKET_TLS_H
#define NP_SOCKET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "npsocket/socket.h"
#include "tls.h"

/* A server-side TLS stream over fd (the socket owns fd from here on).
 * NULL with errno set when out of memory or GnuTLS refuses. */
struct np_socket *np_socket_tls_server_new(int fd, struct np_tls_context *ctx);

/* What a TLS client (npcat --tls) wants. */
struct np_tls_client_options {
	const char *ca_file;        /* NULL = system trust store */
	bool insecure;              /* do not verify the server */
	const char *server_name;    /* SNI and the name verified; NULL = none */
	const char *cert_file;      /* client certificate, optional */
	const char *key_file;
	const char *priority;       /* NULL = the library's secure default */
};

struct np_socket *np_socket_tls_client_new(int fd, const struct np_tls_client_options *options,
					   char *err, size_t err_size);

/* Runs the handshake, bounded by the socket's timeout_ms and deadline.
 * 0, or -1 with the reason in the socket (np_socket_strerror()). */
int np_socket_tls_handshake(struct np_socket *s);

/* A server's bound on what the client sends before its handshake is done
 * (maxHandshakeSize): past it the handshake fails at once, saying so.
 * Before the handshake. */
void np_socket_tls_limit_handshake(struct np_socket *s, size_t max);

/* tls-alpn-01 (RFC 8737), while ACME proves names on the port: a client
 * offering ALPN acme-tls/1 gets the challenge certificate lookup() finds
 * for its SNI name (and np_socket_tls_acme_answered() says so after the
 * handshake; the caller closes); one offering it for a name with no
 * challenge pending is refused.  Every other client's handshake is as
 * usual.  Before the handshake; 0, or -1. */
struct np_tls_alpn_hook {
	bool (*lookup)(void *arg, const char *name, char **cert, size_t *cert_len, char **key, size_t *key_len);
	void *arg;
};
int np_socket_tls_answer_acme(struct np_socket *s, const struct np_tls_alpn_hook *hook);
bool np_socket_tls_acme_answered(const struct np_socket *s);

#endif
