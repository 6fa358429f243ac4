/* SPDX-License-Identifier: ISC */
/*
 * tls_internal.h - what tls.c and socket_tls.c share of a TLS context.
 */
#ifndef NP_TLS_INTERNAL_H
#define NP_TLS_INTERNAL_H

#include <gnutls/gnutls.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"

struct np_tls_context {
	atomic_int refs;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t priority;
	gnutls_datum_t ticket_key;
	bool tickets;
	enum np_client_auth client_auth;
};

#endif
