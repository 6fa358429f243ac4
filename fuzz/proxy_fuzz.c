/* SPDX-License-Identifier: ISC */
/*
 * proxy_fuzz.c - fuzz target: bytes from a balancer (or anyone) through
 * the PROXY header parser, fed as the exact reader feeds it, with the
 * invariants the connection's spine relies on: a header never claims a
 * byte it was not given, MORE always asks for more than it has and never
 * past a v1 line's 107 bytes or a v2 header's declared length, a refusal
 * says why, and text TLVs stay printable and terminated.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy.h"

static void printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

static void run(const uint8_t *data, size_t size, int versions)
{
	struct np_proxy_header h;
	size_t have = 0, need = 0;
	const char *why;
	for (int round = 0; round < 256; round++) {
		enum np_proxy_result r = np_proxy_parse(data, have, versions, &h, &need, &why);
		if (r == NP_PROXY_BAD) {
			if (!why)
				abort();
			return;
		}
		if (r == NP_PROXY_DONE) {
			if (need > have || need == 0)
				abort();
			printable(h.ssl_version, NP_PROXY_SSL_TEXT_MAX);
			printable(h.ssl_cipher, NP_PROXY_SSL_TEXT_MAX);
			printable(h.ssl_cn, NP_PROXY_CN_MAX);
			printable(h.authority, NP_PROXY_AUTHORITY_MAX);
			if (h.unique_id_len > NP_PROXY_UNIQUE_ID_MAX || (h.version != 1 && h.version != 2))
				abort();
			if (h.version == 1 && need > NP_PROXY_V1_MAX)
				abort();
			return;
		}
		if (need <= have || need > 16 + NP_PROXY_V2_MAX_BODY)
			abort();
		if (have == size)
			return;
		have = need < size ? need : size;
	}
	abort(); /* the header must be decided within a bounded number of reads */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	run(data, size, NP_PROXY_ANY);
	run(data, size, NP_PROXY_V1);
	run(data, size, NP_PROXY_V2);
	/* The builder's output is always a header the parser takes whole. */
	if (size >= 2 * sizeof(struct sockaddr_storage)) {
		struct sockaddr_storage a, b;
		memcpy(&a, data, sizeof(a));
		memcpy(&b, data + sizeof(a), sizeof(b));
		for (int v = 1; v <= 2; v++) {
			unsigned char out[NP_PROXY_OUT_MAX];
			struct np_proxy_header h;
			size_t used;
			const char *why;
			size_t n = np_proxy_build(v, &a, &b, out, sizeof(out));
			if (n == 0 || n > sizeof(out) ||
			    np_proxy_parse(out, n, NP_PROXY_ANY, &h, &used, &why) != NP_PROXY_DONE || used != n)
				abort();
		}
	}
	return 0;
}
