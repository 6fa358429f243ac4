/* SPDX-License-Identifier: ISC */
/*
 * acme_fuzz.c - fuzz target: bytes as a CA's answer through every ACME
 * reader (directory, order, authorization, problem, header lines,
 * Retry-After), with the invariants the client relies on: a refusal says
 * why, every URL kept is https and terminated within its bound, every
 * token kept is base64url, counts stay within their arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "acme_proto.h"
#include "fuzz.h"

static void url_ok(const char *u, bool may_be_empty)
{
	size_t n = strnlen(u, NP_ACME_URL_MAX);
	if (n == NP_ACME_URL_MAX || (n == 0 && !may_be_empty) || (n && strncmp(u, "https://", 8) != 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			abort();
}

static void problem_ok(const struct np_acme_problem *p)
{
	if (strnlen(p->type, sizeof(p->type)) == sizeof(p->type) ||
	    strnlen(p->detail, sizeof(p->detail)) == sizeof(p->detail))
		abort();
	for (const char *c = p->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const char *body = (const char *)data;
	char err[256];

	struct np_acme_directory dir;
	err[0] = '\0';
	if (np_acme_parse_directory(body, size, &dir, err, sizeof(err)) == 0) {
		url_ok(dir.new_nonce, false);
		url_ok(dir.new_account, false);
		url_ok(dir.new_order, false);
		url_ok(dir.terms_of_service, true);
	} else if (!err[0]) {
		abort();
	}

	struct np_acme_order order;
	err[0] = '\0';
	if (np_acme_parse_order(body, size, &order, err, sizeof(err)) == 0) {
		if (order.authz_count == 0 || order.authz_count > NP_ACME_AUTHZ_MAX)
			abort();
		url_ok(order.finalize, false);
		url_ok(order.certificate, true);
		for (size_t i = 0; i < order.authz_count; i++)
			url_ok(order.authorizations[i], false);
		problem_ok(&order.error);
		np_acme_order_free(&order);
	} else if (!err[0] || order.authorizations) {
		abort();
	}

	struct np_acme_authz authz;
	err[0] = '\0';
	if (np_acme_parse_authz(body, size, &authz, err, sizeof(err)) == 0) {
		if (authz.challenge_count > NP_ACME_CHALLENGE_OFFERS_MAX)
			abort();
		for (size_t i = 0; i < authz.challenge_count; i++) {
			url_ok(authz.challenges[i].url, false);
			if (authz.challenges[i].token[0] && !np_acme_token_ok(authz.challenges[i].token))
				abort();
			problem_ok(&authz.challenges[i].error);
		}
	} else if (!err[0]) {
		abort();
	}

	struct np_acme_problem problem;
	if (np_acme_parse_problem(body, size, &problem) == 0)
		problem_ok(&problem);

	char value[64];
	if (np_acme_header(body, size, "Replay-Nonce", value, sizeof(value)) && strlen(value) >= sizeof(value))
		abort();
	char text[128];
	size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	long after = np_acme_retry_after(text, 1700000000);
	if (after < -1 || after > 86400)
		abort();
	return 0;
}
