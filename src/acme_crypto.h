/* SPDX-License-Identifier: ISC */
/*
 * acme_crypto.h - what ACME (RFC 8555) signs and proves, with GnuTLS:
 * P-256 keys, their JWK and thumbprint (RFC 7638), JWS in the flattened
 * JSON form with ES256 (RFC 7515/7518), key authorizations, CSRs, and
 * self-signed certificates (the stand-in before the first issue, and
 * the tls-alpn-01 challenge certificate of RFC 8737).
 */
#ifndef NP_ACME_CRYPTO_H
#define NP_ACME_CRYPTO_H

#include <gnutls/abstract.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

/* base64url without padding (RFC 7515 §2), NUL-terminated, malloc'd;
 * NULL when out of memory. */
char *np_b64url(const void *data, size_t len);

/* A new P-256 key; 0, or -1 with err. */
int np_acme_key_generate(gnutls_privkey_t *out, char *err, size_t err_size);
/* A key from PEM (PKCS#8 or SEC1); 0, or -1 with err. */
int np_acme_key_import(const char *pem, size_t len, gnutls_privkey_t *out, char *err, size_t err_size);
/* The key as PEM (malloc'd, *len set); NULL with err. */
char *np_acme_key_export(gnutls_privkey_t key, size_t *len, char *err, size_t err_size);

/* The public JWK in the member order RFC 7638 hashes:
 * {"crv":"P-256","kty":"EC","x":"...","y":"..."}.  0, or -1. */
#define NP_ACME_JWK_MAX 160
int np_acme_jwk(gnutls_privkey_t key, char out[NP_ACME_JWK_MAX]);
/* base64url(SHA-256(jwk)): 43 characters. */
#define NP_ACME_THUMBPRINT_MAX 48
int np_acme_thumbprint(const char *jwk, char out[NP_ACME_THUMBPRINT_MAX]);

/* A JWS: protected header {"alg":"ES256", jwk or kid, "nonce", "url"},
 * payload (NULL or "" for POST-as-GET), signature r||s.  malloc'd JSON,
 * or NULL with err. */
char *np_acme_jws(gnutls_privkey_t key, const char *jwk, const char *kid, const char *nonce, const char *url,
		  const char *payload, char *err, size_t err_size);

/* An ECDSA signature from GnuTLS (DER SEQUENCE of two INTEGERs) as JWS
 * wants it: r and s, each left-padded to size bytes.  0, or -1 when der
 * is not such a signature or a value is too long.  Pure. */
int np_acme_ecdsa_raw(const unsigned char *der, size_t der_len, unsigned char *out, size_t size);

/* The CSR for names (the first also the subject CN), signed by key, as
 * base64url DER; malloc'd, or NULL with err. */
char *np_acme_csr(gnutls_privkey_t key, const struct np_string_list *names, char *err, size_t err_size);

/* A self-signed certificate for names valid from an hour ago for `days`,
 * as PEM (malloc'd); with key_authorization, the tls-alpn-01 one: its
 * critical id-pe-acmeIdentifier extension holds SHA-256 of it.  NULL
 * with err. */
char *np_acme_self_signed(gnutls_privkey_t key, const char *const *names, size_t count, int days,
			  const char *key_authorization, size_t *len, char *err, size_t err_size);

/* What a certificate chain (PEM) says of its first certificate: whether
 * it belongs to key, which of names it does not cover, and its validity.
 * 0 when it parses, -1 with err. */
struct np_acme_cert_facts {
	bool key_matches;
	const char *missing;            /* the first name not covered, or NULL */
	time_t not_before, not_after;
	char serial[64];                /* hex */
	size_t chain_length;
};
int np_acme_cert_facts(const char *pem, size_t len, gnutls_privkey_t key, const struct np_string_list *names,
		       struct np_acme_cert_facts *out, char *err, size_t err_size);

#endif
