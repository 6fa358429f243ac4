/* SPDX-License-Identifier: ISC */
/*
 * acme_http.h - HTTPS to an ACME CA through libcurl (its GnuTLS build):
 * one handle per client, so connections are reused; https only, no
 * redirect followed, every body bounded, every request bounded in time.
 */
#ifndef NP_ACME_HTTP_H
#define NP_ACME_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "acme_proto.h"

#define NP_ACME_BODY_MAX (1 << 20)   /* a certificate chain is a few KiB */
#define NP_ACME_NONCE_MAX 256

struct np_acme_http;

struct np_acme_response {
	long status;                     /* HTTP status */
	char *body;                      /* NUL-terminated, malloc'd */
	size_t len;
	char nonce[NP_ACME_NONCE_MAX];   /* Replay-Nonce, "" when none */
	char location[NP_ACME_URL_MAX];  /* Location, "" when none */
	char content_type[128];
	long retry_after;                /* seconds, -1 when none */
};

/* ca_file: the CA's own HTTPS trust (NULL: the system's); a request in
 * flight is abandoned once *cancel is true (the daemon stops).  NULL
 * with err. */
struct np_acme_http *np_acme_http_new(const char *ca_file, const atomic_bool *cancel, char *err, size_t err_size);
void np_acme_http_free(struct np_acme_http *http);

/* 0 when an answer came (any status), -1 with err when none did (a
 * connection, TLS or timeout failure, a body over NP_ACME_BODY_MAX). */
int np_acme_http_get(struct np_acme_http *http, const char *url, struct np_acme_response *out, char *err,
		     size_t err_size);
int np_acme_http_head(struct np_acme_http *http, const char *url, struct np_acme_response *out, char *err,
		      size_t err_size);
/* A JWS body as application/jose+json. */
int np_acme_http_post(struct np_acme_http *http, const char *url, const char *jws, struct np_acme_response *out,
		      char *err, size_t err_size);

void np_acme_response_clear(struct np_acme_response *response);

#endif
