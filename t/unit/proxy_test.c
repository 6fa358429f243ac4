/* SPDX-License-Identifier: ISC */
/*
 * proxy_test.c - the PROXY header parser and builder (src/proxy.c): the
 * shapes HAProxy sends, every refusal of the bad-input list, and the
 * exact-read promise: MORE never asks for a byte past the header.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "proxy.h"
#include "tap.h"

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

/* Feeds buf as an exact reader would: as many bytes as MORE asks for,
 * never more.  Returns the result; *fed is how many bytes it was given. */
static enum np_proxy_result feed(const unsigned char *buf, size_t len, int versions, struct np_proxy_header *h,
				 size_t *fed, const char **why)
{
	size_t have = 0, need = 0;
	for (int round = 0; round < 200; round++) {
		enum np_proxy_result r = np_proxy_parse(buf, have, versions, h, &need, why);
		if (r != NP_PROXY_MORE) {
			*fed = have;
			return r;
		}
		if (need <= have || have == len) {
			*fed = need;
			return NP_PROXY_MORE;  /* asked for more than there is */
		}
		/* A read of (need - have) bytes may return fewer. */
		have = need < len ? need : len;
	}
	*fed = have;
	return NP_PROXY_MORE;
}

static const char *addr(const struct sockaddr_storage *ss)
{
	static char buf[2][NP_ADDRSTRLEN];
	static int i;
	i ^= 1;
	np_net_format((const struct sockaddr *)ss, buf[i], sizeof(buf[i]));
	return buf[i];
}

/* A v2 header: fixed part, then body. */
static size_t v2(unsigned char *out, unsigned char ver_cmd, unsigned char fam, const unsigned char *body, size_t n)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (unsigned char)(n >> 8);
	out[15] = (unsigned char)n;
	if (n)
		memcpy(out + 16, body, n);
	return 16 + n;
}

static void expect_bad(const unsigned char *buf, size_t len, int versions, const char *why_part, const char *what)
{
	struct np_proxy_header h;
	size_t fed;
	const char *why = NULL;
	enum np_proxy_result r = feed(buf, len, versions, &h, &fed, &why);
	char name[160];
	size_t i = 0;
	for (; what[i] && i < sizeof(name) - 1; i++)
		name[i] = what[i] >= 0x20 && what[i] < 0x7f ? what[i] : '.';
	name[i] = '\0';
	ok(r == NP_PROXY_BAD && why && strstr(why, why_part), "%s: refused (%s)", name, why ? why : "no reason");
}

static void v1_cases(void)
{
	struct np_proxy_header h;
	size_t fed;
	const char *why;
	const char *line = "PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n\x16\x03\x01";
	size_t header = strlen(line) - 3;
	ok(feed((const unsigned char *)line, strlen(line), NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE,
	   "v1 TCP4 parsed");
	is_int((int)fed, (int)header, "exactly the line was read, not the ClientHello behind it");
	is_str(addr(&h.src), "192.0.2.7:51234", "v1 source");
	is_str(addr(&h.dst), "198.51.100.1:7000", "v1 destination");
	ok(h.version == 1 && !h.local, "version 1, not local");

	line = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n\x01";
	ok(feed((const unsigned char *)line, strlen(line), NP_PROXY_V1, &h, &fed, &why) == NP_PROXY_DONE &&
	   fed == strlen(line) - 1, "v1 TCP6 parsed, the protocol byte behind it untouched");
	is_str(addr(&h.src), "[2001:db8::7]:65535", "v1 TCP6 source");

	line = "PROXY UNKNOWN\r\n";
	ok(feed((const unsigned char *)line, strlen(line), NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && h.local &&
	   fed == 15, "PROXY UNKNOWN: local, 15 bytes");
	line = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
	ok(feed((const unsigned char *)line, strlen(line), NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && h.local,
	   "PROXY UNKNOWN with addresses: local, the rest ignored");

	/* 107 bytes is the limit, CRLF included. */
	char longest[NP_PROXY_V1_MAX + 2];
	memset(longest, 'x', sizeof(longest));
	memcpy(longest, "PROXY UNKNOWN ", 14);
	memcpy(longest + NP_PROXY_V1_MAX - 2, "\r\n", 2);
	ok(feed((unsigned char *)longest, NP_PROXY_V1_MAX, NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE &&
	   fed == NP_PROXY_V1_MAX, "a v1 line of exactly 107 bytes is taken");
	memcpy(longest + NP_PROXY_V1_MAX - 2, "x\r\n", 3);
	expect_bad((unsigned char *)longest, NP_PROXY_V1_MAX + 1, NP_PROXY_ANY, "107", "a v1 line of 108 bytes");
	memset(longest + 14, 'x', sizeof(longest) - 14);
	expect_bad((unsigned char *)longest, sizeof(longest), NP_PROXY_ANY, "no CRLF", "a v1 line without CRLF");

	struct {
		const char *text, *why;
	} bad[] = {
		{ "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n", "not IPv4" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.1 65536 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.1 -1 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.1 01 2\r\n", "port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.1 1\r\n", "four fields" },
		{ "PROXY TCP4 192.0.2.1  198.51.100.1 1 2\r\n", "empty field" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n", "four fields" },
		{ "PROXY TCP4 ::1 ::1 1 2\r\n", "not IPv4" },
		{ "PROXY TCP6 192.0.2.1 192.0.2.2 1 2\r\n", "not IPv6" },
		{ "PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n", "TCP4, TCP6 or UNKNOWN" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", "LF without CR" },
		{ "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX", "CR not followed" },
		{ "PROXY TCP4 192.0.2.1\t192.0.2.2 1 2\r\n", "control byte" },
		{ "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "no PROXY header" },
		{ "GET / HTTP/1.1\r\n\r\n", "no PROXY header" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad((const unsigned char *)bad[i].text, strlen(bad[i].text), NP_PROXY_ANY, bad[i].why, bad[i].text);
	line = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n";
	expect_bad((const unsigned char *)line, strlen(line), NP_PROXY_V2, "v2 only", "a v1 header on a v2 port");
}

static void v2_cases(void)
{
	struct np_proxy_header h;
	size_t fed;
	const char *why;
	unsigned char buf[2048], body[1600];

	/* IPv4 with TLVs: AUTHORITY, UNIQUE_ID, SSL (version, cipher, CN). */
	unsigned char *p = body;
	memcpy(p, (unsigned char[]){ 192, 0, 2, 7, 198, 51, 100, 1, 0xc8, 0x22, 0x1b, 0x58 }, 12);
	p += 12;
	const char host[] = "np.example";
	*p++ = 0x02, *p++ = 0, *p++ = (unsigned char)strlen(host);
	memcpy(p, host, strlen(host)), p += strlen(host);
	*p++ = 0x05, *p++ = 0, *p++ = 4;
	memcpy(p, "\xde\xad\xbe\xef", 4), p += 4;
	unsigned char ssl[64], *q = ssl;
	*q++ = 0x07;                      /* client: SSL, CERT_CONN, CERT_SESS */
	memset(q, 0, 4), q += 4;          /* verify = 0: verified */
	*q++ = 0x21, *q++ = 0, *q++ = 7;
	memcpy(q, "TLSv1.3", 7), q += 7;
	*q++ = 0x23, *q++ = 0, *q++ = 6;
	memcpy(q, "AES128", 6), q += 6;
	*q++ = 0x22, *q++ = 0, *q++ = 5;
	memcpy(q, "alice", 5), q += 5;
	*p++ = 0x20, *p++ = 0, *p++ = (unsigned char)(q - ssl);
	memcpy(p, ssl, (size_t)(q - ssl)), p += q - ssl;
	size_t n = v2(buf, 0x21, 0x11, body, (size_t)(p - body));
	buf[n] = 0x16; /* a ClientHello right behind it */
	ok(feed(buf, n + 1, NP_PROXY_V2, &h, &fed, &why) == NP_PROXY_DONE, "v2 TCP4 with TLVs parsed");
	is_int((int)fed, (int)n, "exactly the header was read");
	is_str(addr(&h.src), "192.0.2.7:51234", "v2 source");
	is_str(addr(&h.dst), "198.51.100.1:7000", "v2 destination");
	is_str(h.authority, "np.example", "AUTHORITY TLV");
	ok(h.unique_id_len == 4 && memcmp(h.unique_id, "\xde\xad\xbe\xef", 4) == 0, "UNIQUE_ID TLV");
	ok(h.ssl && h.ssl_client && h.ssl_cert && h.ssl_verified, "SSL TLV: client TLS, certificate verified");
	is_str(h.ssl_version, "TLSv1.3", "SSL version");
	is_str(h.ssl_cipher, "AES128", "SSL cipher");
	is_str(h.ssl_cn, "alice", "SSL client CN");

	/* IPv6. */
	unsigned char b6[36] = { 0x20, 0x01, 0x0d, 0xb8 };
	b6[15] = 7;
	b6[16] = 0x20, b6[17] = 0x01, b6[18] = 0x0d, b6[19] = 0xb8, b6[31] = 1;
	b6[32] = 0x04, b6[33] = 0xd2, b6[34] = 0x1b, b6[35] = 0x58;
	n = v2(buf, 0x21, 0x21, b6, 36);
	ok(feed(buf, n, NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && fed == n, "v2 TCP6 parsed");
	is_str(addr(&h.src), "[2001:db8::7]:1234", "v2 TCP6 source");

	/* LOCAL: HAProxy's health checks. */
	n = v2(buf, 0x20, 0x00, NULL, 0);
	ok(feed(buf, n, NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && h.local && fed == 16, "v2 LOCAL: local, 16 bytes");
	n = v2(buf, 0x20, 0x11, body, 12);
	ok(feed(buf, n, NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && h.local && fed == 28,
	   "v2 LOCAL with addresses: local, addresses skipped");
	n = v2(buf, 0x21, 0x00, NULL, 0);
	ok(feed(buf, n, NP_PROXY_ANY, &h, &fed, &why) == NP_PROXY_DONE && h.local, "v2 PROXY AF_UNSPEC: local");

	/* Refusals. */
	n = v2(buf, 0x21, 0x11, body, 12);
	buf[3] = 0x0b;
	expect_bad(buf, n, NP_PROXY_ANY, "no PROXY header", "v2 with a wrong signature");
	n = v2(buf, 0x11, 0x11, body, 12);
	expect_bad(buf, n, NP_PROXY_ANY, "version is not 2", "version 1 in the v2 nibble");
	n = v2(buf, 0x23, 0x11, body, 12);
	expect_bad(buf, n, NP_PROXY_ANY, "neither LOCAL nor PROXY", "command 3");
	n = v2(buf, 0x21, 0x41, body, 12);
	expect_bad(buf, n, NP_PROXY_ANY, "unknown address family", "family 4");
	n = v2(buf, 0x21, 0x12, body, 12);
	expect_bad(buf, n, NP_PROXY_ANY, "not a stream", "UDP over IPv4");
	n = v2(buf, 0x21, 0x11, body, 12);
	buf[14] = 0xff, buf[15] = 0xff;
	expect_bad(buf, n, NP_PROXY_ANY, "over 1536", "a declared length of 65535");
	n = v2(buf, 0x21, 0x11, body, 8);
	expect_bad(buf, n, NP_PROXY_ANY, "shorter than its addresses", "a length shorter than the addresses");
	n = v2(buf, 0x21, 0x21, b6, 20);
	expect_bad(buf, n, NP_PROXY_ANY, "shorter than its addresses", "IPv6 with 20 bytes of addresses");
	memcpy(body + 12, (unsigned char[]){ 0x02, 0x00, 0x10, 'a', 'b' }, 5);
	n = v2(buf, 0x21, 0x11, body, 17);
	expect_bad(buf, n, NP_PROXY_ANY, "runs past", "a TLV overrunning the header");
	memcpy(body + 12, (unsigned char[]){ 0x02, 0x00 }, 2);
	n = v2(buf, 0x21, 0x11, body, 14);
	expect_bad(buf, n, NP_PROXY_ANY, "runs past", "a TLV cut in its type and length");
	memcpy(body + 12, (unsigned char[]){ 0x20, 0x00, 0x03, 1, 0, 0 }, 6);
	n = v2(buf, 0x21, 0x11, body, 18);
	expect_bad(buf, n, NP_PROXY_ANY, "malformed SSL", "an SSL TLV shorter than its fixed part");
	memcpy(body + 12, (unsigned char[]){ 0x20, 0x00, 0x08, 1, 0, 0, 0, 0, 0x21, 0x00, 0x09 }, 11);
	n = v2(buf, 0x21, 0x11, body, 23);
	expect_bad(buf, n, NP_PROXY_ANY, "malformed SSL", "an SSL sub-TLV overrunning its TLV");
	n = v2(buf, 0x21, 0x11, body, 12);
	expect_bad(buf, n, NP_PROXY_V1, "v1 only", "a v2 header on a v1 port");
	expect_bad((const unsigned char *)"\x16\x03\x01\x02\x00\x01", 6, NP_PROXY_ANY, "no PROXY header",
		   "a ClientHello where the header should be");
	expect_bad((const unsigned char *)"\x01", 1, NP_PROXY_ANY, "no PROXY header", "the protocol byte alone");
}

static void build_cases(void)
{
	struct sockaddr_storage src, dst, src6;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&src, *d4 = (struct sockaddr_in *)&dst;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	s4->sin_family = d4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr);
	inet_pton(AF_INET, "198.51.100.1", &d4->sin_addr);
	s4->sin_port = htons(51234);
	d4->sin_port = htons(7000);
	unsigned char out[NP_PROXY_OUT_MAX];
	size_t n = np_proxy_build(1, &src, &dst, out, sizeof(out));
	ok(n == strlen("PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n") &&
	   memcmp(out, "PROXY TCP4 192.0.2.7 198.51.100.1 51234 7000\r\n", n) == 0, "v1 built");
	struct np_proxy_header h;
	size_t used;
	const char *why;
	n = np_proxy_build(2, &src, &dst, out, sizeof(out));
	ok(n == 28 && np_proxy_parse(out, n, NP_PROXY_V2, &h, &used, &why) == NP_PROXY_DONE && used == n &&
	   strcmp(addr(&h.src), "192.0.2.7:51234") == 0 && strcmp(addr(&h.dst), "198.51.100.1:7000") == 0,
	   "v2 built, and parsed back");
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src6;
	memset(&src6, 0, sizeof(src6));
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::7", &s6->sin6_addr);
	s6->sin6_port = htons(1);
	n = np_proxy_build(1, &src6, &dst, out, sizeof(out));
	out[n] = '\0';
	is_str((char *)out, "PROXY TCP6 2001:db8::7 ::ffff:198.51.100.1 1 7000\r\n", "mixed families: both as IPv6");
	n = np_proxy_build(2, &src6, &dst, out, sizeof(out));
	ok(n == 52 && np_proxy_parse(out, n, NP_PROXY_V2, &h, &used, &why) == NP_PROXY_DONE &&
	   strcmp(addr(&h.src), "[2001:db8::7]:1") == 0, "v2 with IPv6, parsed back");
	struct sockaddr_storage unix_addr = { .ss_family = AF_UNIX };
	n = np_proxy_build(1, &unix_addr, &dst, out, sizeof(out));
	ok(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0, "no IP address: UNKNOWN");
	n = np_proxy_build(2, &unix_addr, &dst, out, sizeof(out));
	ok(n == 16 && np_proxy_parse(out, n, NP_PROXY_V2, &h, &used, &why) == NP_PROXY_DONE && h.local,
	   "no IP address, v2: AF_UNSPEC");
}

int main(void)
{
	v1_cases();
	v2_cases();
	build_cases();
	return done_testing();
}
