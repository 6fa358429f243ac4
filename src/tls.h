/* SPDX-License-Identifier: ISC */
/*
 * tls.h - TLS per port with GnuTLS (the Java NetPhantomJSSEServerSocket):
 * credentials from PEM files or a PKCS#12 keystore, SNI, client
 * certificates, session tickets, priorities, reload.  The np_socket that
 * runs over a GnuTLS session is in socket_tls.h.
 */
#ifndef NP_TLS_H
#define NP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "config.h"

/* Everything one TLS section loads: certificates and keys, CA and CRL,
 * the priority cache, the session ticket key.  Immutable once built and
 * shared by every session of the ports that name the section; reference
 * counted so a reload can swap in a new one while sessions finish on the
 * old. */
struct np_tls_context;

/* Loads and checks every file of the section.  NULL with a message that
 * names the file and the cause in err. */
struct np_tls_context *np_tls_context_new(const struct np_tls_conf *conf, char *err, size_t err_size);

/* A certificate chain and its key in PEM, from memory (ACME's). */
struct np_tls_pem {
	const char *cert, *key;
	size_t cert_len, key_len;
	const char *what;               /* for messages: "ACME certificate for a.example" */
};

/* The same with the section's certificates and keys replaced by pem;
 * everything else (protocols, clientAuth, CA, tickets) as the section
 * says. */
struct np_tls_context *np_tls_context_new_with(const struct np_tls_conf *conf, const struct np_tls_pem *pem,
					       char *err, size_t err_size);

struct np_tls_context *np_tls_context_ref(struct np_tls_context *ctx);
void np_tls_context_unref(struct np_tls_context *ctx);

/* Calls fn with each certificate the context serves (not the chain's
 * CAs): its subject DN and its expiry. */
void np_tls_context_foreach_cert(struct np_tls_context *ctx, void (*fn)(const char *subject, time_t not_after, void *arg),
				 void *arg);

/* For npsocketd -t: loads the section like np_tls_context_new() and also
 * checks each key against its certificate and the validity dates (an
 * expired certificate is an error, one that expires within 30 days a
 * warning).  Messages go to out as "[SECTION]: ...".  Returns the number
 * of errors. */
int np_tls_check(const struct np_tls_conf *conf, FILE *out);

/* true, with a warning in msg, when a private key file of the section
 * can be read by every user. */
bool np_tls_key_exposed(const struct np_tls_conf *conf, char *msg, size_t msg_size);

/* Global GnuTLS set-up and tear-down, once per process, from main. */
int np_tls_global_init(char *err, size_t err_size);
void np_tls_global_deinit(void);

#endif
