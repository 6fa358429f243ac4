/* SPDX-License-Identifier: ISC */
/*
 * acme.h - certificates by ACME for the TLS sections of ports with
 * `domains` (SPEC §8): one worker thread orders, stores, installs and
 * renews them; the main thread sets it up before binding and stops it
 * before the server.
 */
#ifndef NP_ACME_H
#define NP_ACME_H

#include <stdio.h>

struct np_acme;
struct np_config;
struct np_server;
struct np_tls_conf;
struct np_tls_context;

/* Before np_server_prepare(), as root: the state directory made (and
 * given to `user`), the account key and each stored certificate read;
 * what each managed section serves until its first issue is chosen (the
 * stored certificate when it still covers the names, else the section's
 * own certFile, else a self-signed one).  *out NULL when no port has
 * domains.  0, or -1 after logging why. */
int np_acme_open(struct np_server *server, struct np_config *config, struct np_acme **out);

/* The context a managed TLS section serves now (referenced), or NULL
 * when the section is not managed: what np_server_prepare() and a reload
 * use for it instead of its files. */
struct np_tls_context *np_acme_context_for(struct np_acme *acme, const struct np_tls_conf *tls);

/* After the privileges are dropped: the worker starts.  0, or -1. */
int np_acme_start(struct np_acme *acme);
/* The worker stops (an order in flight is abandoned). */
void np_acme_stop(struct np_acme *acme);
void np_acme_free(struct np_acme *acme);

/* For npsocketd -t: each managed certificate's state as stored (names,
 * serial, expiry, when its renewal is due), to out. */
void np_acme_check(const struct np_config *config, FILE *out);

/* For the control socket's `acme status`: a header line, then one line
 * per certificate. */
void np_acme_status(struct np_acme *acme, FILE *out);
/* `acme renew [NAME]`: orders now the certificate whose names include
 * NAME (every one when NULL); how many were asked to renew. */
int np_acme_renew(struct np_acme *acme, const char *name);

#endif
