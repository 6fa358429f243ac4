/* SPDX-License-Identifier: ISC */
/*
 * acme_proto.h - what an ACME CA (RFC 8555) answers, read: pure
 * functions over a buffer (JSON through jansson, header lines by hand),
 * each with a bound on what it keeps, each fuzzed (fuzz/acme_fuzz.c).
 */
#ifndef NP_ACME_PROTO_H
#define NP_ACME_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define NP_ACME_URL_MAX 1024
#define NP_ACME_TOKEN_MAX 128
#define NP_ACME_NAME_MAX 254
#define NP_ACME_AUTHZ_MAX 100           /* one per name of an order */
#define NP_ACME_CHALLENGE_OFFERS_MAX 8
#define NP_ACME_PROBLEM_MAX 512

/* The directory (§7.1.1). */
struct np_acme_directory {
	char new_nonce[NP_ACME_URL_MAX], new_account[NP_ACME_URL_MAX], new_order[NP_ACME_URL_MAX];
	char terms_of_service[NP_ACME_URL_MAX]; /* "" when the CA has none */
};

/* A problem document (RFC 7807, §6.7): the type's last part
 * ("badNonce") and the detail. */
struct np_acme_problem {
	char type[128];
	char detail[NP_ACME_PROBLEM_MAX];
};

/* An order (§7.1.3). */
struct np_acme_order {
	char status[16];                 /* pending, ready, processing, valid, invalid */
	char finalize[NP_ACME_URL_MAX];
	char certificate[NP_ACME_URL_MAX]; /* "" until valid */
	size_t authz_count;
	char (*authorizations)[NP_ACME_URL_MAX]; /* authz_count of them, malloc'd */
	struct np_acme_problem error;    /* type "" when none */
};

/* One challenge offered (§7.1.5). */
struct np_acme_challenge_offer {
	char type[16];                   /* "http-01", "tls-alpn-01", ... */
	char url[NP_ACME_URL_MAX];
	char token[NP_ACME_TOKEN_MAX + 1];
	char status[16];
	struct np_acme_problem error;
};

/* An authorization (§7.1.4). */
struct np_acme_authz {
	char status[16];                 /* pending, valid, invalid, ... */
	char identifier[NP_ACME_NAME_MAX + 1]; /* the DNS name */
	bool wildcard;
	size_t challenge_count;
	struct np_acme_challenge_offer challenges[NP_ACME_CHALLENGE_OFFERS_MAX];
};

/* Each returns 0, or -1 with why in err (not JSON, not an object, a
 * member missing or of the wrong type, a URL that is not https, a value
 * too long). */
int np_acme_parse_directory(const char *body, size_t len, struct np_acme_directory *out, char *err, size_t err_size);
int np_acme_parse_order(const char *body, size_t len, struct np_acme_order *out, char *err, size_t err_size);
void np_acme_order_free(struct np_acme_order *order);
int np_acme_parse_authz(const char *body, size_t len, struct np_acme_authz *out, char *err, size_t err_size);
/* A problem document; -1 when body is not one. */
int np_acme_parse_problem(const char *body, size_t len, struct np_acme_problem *out);

/* The value of header `name` (case-insensitive) when line is that header
 * ("Name: value\r\n"), trimmed, into out (NUL-terminated, at most size-1
 * bytes); false when it is another header or the value does not fit. */
bool np_acme_header(const char *line, size_t len, const char *name, char *out, size_t size);

/* Retry-After (RFC 9110 §10.2.3): seconds, or an HTTP-date, from now;
 * -1 when it is neither.  Capped at a day. */
long np_acme_retry_after(const char *value, time_t now);

/* Whether a token is what RFC 8555 §8.1 allows (base64url, 1..128). */
bool np_acme_token_ok(const char *token);

#endif
