/* SPDX-License-Identifier: ISC */
/*
 * http_fuzz.c - fuzz target: bytes from the network through the HTTP
 * request-head parser and the unknown path's HTTP probe, at every
 * length a reader may have received so far, and the invariants the web
 * server relies on: a whole head lies inside the buffer, its strings
 * inside the head, a refusal carries a status and a reason.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

static void check(const uint8_t *data, size_t size, size_t max_head)
{
	struct np_http_request req;
	enum np_http_result r = np_http_parse_head(data, size, max_head, &req);
	if (r == NP_HTTP_BAD && (!req.error || req.status < 400 || req.status > 505))
		abort();
	if (r != NP_HTTP_DONE)
		return;
	const char *lo = (const char *)data, *hi = lo + req.head_length;
	if (req.head_length > size || req.head_length > max_head || req.header_count > NP_HTTP_MAX_HEADERS)
		abort();
	if (req.method < lo || req.method + req.method_len > hi || req.target < lo || req.target + req.target_len > hi)
		abort();
	for (size_t i = 0; i < req.header_count; i++) {
		const struct np_http_header *h = &req.headers[i];
		if (h->name < lo || h->name + h->name_len > hi || h->value < lo || h->value + h->value_len > hi)
			abort();
		(void)np_http_header_has_token(h, "close");
	}
	if (req.minor == 1 && !req.has_host)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	/* The whole input, a limit below it, and a cut a reader may see. */
	check(data, size, 8192);
	check(data, size, size > 2 ? size / 2 : 1);
	if (size > 1)
		check(data, size - 1, 8192);
	enum np_probe_result p = np_http_probe(data, size);
	if (p != NP_PROBE_NO && p != NP_PROBE_MATCH && p != NP_PROBE_MORE)
		abort();
	return 0;
}
