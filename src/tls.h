/*
 * tls.h - TLS per port with GnuTLS (the Java NetPhantomJSSEServerSocket):
 * credentials from PEM files or a PKCS#12 keystore, SNI, client
 * certificates, session tickets, priorities, reload; and the np_socket
 * that runs over a GnuTLS session (src/socket_tls.c).
 */
#ifndef NP_TLS_H
#define NP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "npsocket/socket.h"

/* Everything one TLS section loads: certificates and keys, CA and CRL,
 * the priority cache, the session ticket key.  Immutable once built and
 * shared by every session of the ports that name the section; reference
 * counted so a reload can swap in a new one while sessions finish on the
 * old. */
struct np_tls_context;

/* Loads and checks every file of the section.  NULL with a message that
 * names the file and the cause in err. */
struct np_tls_context *np_tls_context_new(const struct np_tls_conf *conf, char *err, size_t err_size);

struct np_tls_context *np_tls_context_ref(struct np_tls_context *ctx);
void np_tls_context_unref(struct np_tls_context *ctx);

/* For npsocketd -t: loads the section like np_tls_context_new() and also
 * checks each key against its certificate and the validity dates (an
 * expired certificate is an error, one that expires within 30 days a
 * warning).  Messages go to out as "[SECTION]: ...".  Returns the number
 * of errors. */
int np_tls_check(const struct np_tls_conf *conf, FILE *out);

/* true, with a warning in msg, when a private key file of the section
 * can be read by every user. */
bool np_tls_key_exposed(const struct np_tls_conf *conf, char *msg, size_t msg_size);

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

/* Global GnuTLS set-up and tear-down, once per process, from main. */
int np_tls_global_init(char *err, size_t err_size);
void np_tls_global_deinit(void);

#endif
