/* SPDX-License-Identifier: ISC */
/*
 * acme_proto.c - reading a CA's answers (acme_proto.h).  jansson parses
 * the JSON (bounded by the caller's body limit; JSON_REJECT_DUPLICATES,
 * no NUL in strings); every string kept is checked for its length and,
 * for URLs, its scheme.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme_proto.h"

static json_t *parse_object(const char *body, size_t len, char *err, size_t err_size)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, err_size, "not JSON: %s (line %d)", jerr.text, jerr.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_size, "not a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/* A string member into out; required or optional. */
static int get_string(json_t *obj, const char *key, bool required, char *out, size_t size, char *err, size_t err_size)
{
	out[0] = '\0';
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required)
			snprintf(err, err_size, "no \"%s\"", key);
		return required ? -1 : 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, err_size, "\"%s\" is not a string", key);
		return -1;
	}
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n >= size || strlen(s) != n) {
		snprintf(err, err_size, "\"%s\" is longer than %zu bytes or holds a NUL", key, size - 1);
		return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* A URL member: https only (the CA's own and the ones it points to). */
static int get_url(json_t *obj, const char *key, bool required, char *out, char *err, size_t err_size)
{
	if (get_string(obj, key, required, out, NP_ACME_URL_MAX, err, err_size) < 0)
		return -1;
	if ((required && !out[0]) || (out[0] && strncmp(out, "https://", 8) != 0)) {
		snprintf(err, err_size, "\"%s\" is not an https URL", key);
		out[0] = '\0';
		return -1;
	}
	for (const char *c = out; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '"' || *c == '\\') {
			snprintf(err, err_size, "\"%s\" holds a character a URL may not", key);
			out[0] = '\0';
			return -1;
		}
	return 0;
}

static void read_problem(json_t *obj, struct np_acme_problem *out)
{
	char type[256], err[64];
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj) || get_string(obj, "type", true, type, sizeof(type), err, sizeof(err)) < 0)
		return;
	const char *last = strrchr(type, ':');
	snprintf(out->type, sizeof(out->type), "%.*s", (int)sizeof(out->type) - 1, last ? last + 1 : type);
	json_t *detail = json_object_get(obj, "detail");
	if (json_is_string(detail))
		snprintf(out->detail, sizeof(out->detail), "%s", json_string_value(detail));
	/* It goes to the log: printable bytes only. */
	for (char *c = out->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	for (char *c = out->type; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
			*c = '?';
}

int np_acme_parse_problem(const char *body, size_t len, struct np_acme_problem *out)
{
	char err[64];
	json_t *root = parse_object(body, len, err, sizeof(err));
	if (!root)
		return -1;
	read_problem(root, out);
	json_decref(root);
	return out->type[0] ? 0 : -1;
}

int np_acme_parse_directory(const char *body, size_t len, struct np_acme_directory *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	json_t *root = parse_object(body, len, err, err_size);
	if (!root)
		return -1;
	int rc = get_url(root, "newNonce", true, out->new_nonce, err, err_size) < 0 ||
			 get_url(root, "newAccount", true, out->new_account, err, err_size) < 0 ||
			 get_url(root, "newOrder", true, out->new_order, err, err_size) < 0
		 ? -1 : 0;
	json_t *meta = json_object_get(root, "meta");
	if (rc == 0 && json_is_object(meta)) {
		char ignored[128];
		/* termsOfService may be any URL; keep an https one only. */
		if (get_url(meta, "termsOfService", false, out->terms_of_service, ignored, sizeof(ignored)) < 0)
			out->terms_of_service[0] = '\0';
	}
	json_decref(root);
	return rc;
}

void np_acme_order_free(struct np_acme_order *order)
{
	free(order->authorizations);
	order->authorizations = NULL;
	order->authz_count = 0;
}

int np_acme_parse_order(const char *body, size_t len, struct np_acme_order *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	json_t *root = parse_object(body, len, err, err_size);
	if (!root)
		return -1;
	int rc = -1;
	if (get_string(root, "status", true, out->status, sizeof(out->status), err, err_size) < 0 ||
	    get_url(root, "finalize", true, out->finalize, err, err_size) < 0 ||
	    get_url(root, "certificate", false, out->certificate, err, err_size) < 0)
		goto out;
	json_t *list = json_object_get(root, "authorizations");
	if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > NP_ACME_AUTHZ_MAX) {
		snprintf(err, err_size, "\"authorizations\" is not a list of 1 to %d URLs", NP_ACME_AUTHZ_MAX);
		goto out;
	}
	out->authorizations = calloc(json_array_size(list), sizeof(*out->authorizations));
	if (!out->authorizations) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *item = json_array_get(list, i);
		json_t *wrap = json_pack("{sO}", "u", item);
		int bad = !wrap || get_url(wrap, "u", true, out->authorizations[i], err, err_size) < 0;
		json_decref(wrap);
		if (bad) {
			snprintf(err, err_size, "authorization %zu is not an https URL", i + 1);
			goto out;
		}
		out->authz_count++;
	}
	read_problem(json_object_get(root, "error"), &out->error);
	rc = 0;
out:
	if (rc < 0)
		np_acme_order_free(out);
	json_decref(root);
	return rc;
}

bool np_acme_token_ok(const char *token)
{
	size_t n = strlen(token);
	if (n == 0 || n > NP_ACME_TOKEN_MAX)
		return false;
	for (const char *c = token; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return false;
	return true;
}

int np_acme_parse_authz(const char *body, size_t len, struct np_acme_authz *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	json_t *root = parse_object(body, len, err, err_size);
	if (!root)
		return -1;
	int rc = -1;
	char type[16];
	json_t *id = json_object_get(root, "identifier");
	if (get_string(root, "status", true, out->status, sizeof(out->status), err, err_size) < 0)
		goto out;
	if (!json_is_object(id) || get_string(id, "type", true, type, sizeof(type), err, err_size) < 0 ||
	    get_string(id, "value", true, out->identifier, sizeof(out->identifier), err, err_size) < 0 ||
	    strcmp(type, "dns") != 0) {
		snprintf(err, err_size, "no dns \"identifier\"");
		goto out;
	}
	out->wildcard = json_is_true(json_object_get(root, "wildcard"));
	json_t *list = json_object_get(root, "challenges");
	if (!json_is_array(list)) {
		snprintf(err, err_size, "\"challenges\" is not a list");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(list) && out->challenge_count < NP_ACME_CHALLENGE_OFFERS_MAX; i++) {
		json_t *c = json_array_get(list, i);
		struct np_acme_challenge_offer *o = &out->challenges[out->challenge_count];
		char why[128];
		/* One this client does not know, or malformed: not offered. */
		if (!json_is_object(c) || get_string(c, "type", true, o->type, sizeof(o->type), why, sizeof(why)) < 0 ||
		    get_url(c, "url", true, o->url, why, sizeof(why)) < 0 ||
		    get_string(c, "status", true, o->status, sizeof(o->status), why, sizeof(why)) < 0 ||
		    get_string(c, "token", false, o->token, sizeof(o->token), why, sizeof(why)) < 0 ||
		    (o->token[0] && !np_acme_token_ok(o->token))) {
			memset(o, 0, sizeof(*o));
			continue;
		}
		read_problem(json_object_get(c, "error"), &o->error);
		out->challenge_count++;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

bool np_acme_header(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t vlen = (size_t)(end - v);
	if (vlen >= size)
		return false;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return true;
}

long np_acme_retry_after(const char *value, time_t now)
{
	const long day = 86400;
	const char *p = value;
	if (*p >= '0' && *p <= '9') {
		long n = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			if ((n = n * 10 + (*p - '0')) > day)
				n = day;
		return *p ? -1 : n;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	time_t at = timegm(&tm);
	if (at == (time_t)-1)
		return -1;
	long left = at <= now ? 0 : (long)(at - now);
	return left > day ? day : left;
}
