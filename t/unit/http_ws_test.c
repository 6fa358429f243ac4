/* SPDX-License-Identifier: ISC */
/*
 * http_ws_test.c - the web path's parsers (src/http.c, src/ws.c) as pure
 * functions: request heads good and bad with the status each gets, the
 * probe, WebSocket frame headers, close payloads, UTF-8, and the
 * handshake's accept key from RFC 6455's own example.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "http_response.h"
#include "tap.h"
#include "ws.h"

static enum np_http_result parse(const char *text, struct np_http_request *req)
{
	return np_http_parse_head((const unsigned char *)text, strlen(text), 8192, req);
}

static void refused(const char *what, const char *text, int status)
{
	struct np_http_request req;
	enum np_http_result r = parse(text, &req);
	ok(r == NP_HTTP_BAD && req.status == status, "%s: %d (%s)", what, status, r == NP_HTTP_BAD ? req.error : "accepted");
}

/* np_http_put_date() against strftime() over the proleptic calendar's
 * edges: the epoch, leap days of 400-year and 100-year rules, the last
 * second of 9999, and a walk of odd steps between. */
static void dates(void)
{
	static const int64_t edges[] = { 0, 86399, 86400, 951782400 /* 2000-02-29 */, 4107542400 /* 2100-03-01 */,
					 68256000 /* 1972-02-29 */, 253402300799 /* 9999-12-31 23:59:59 */,
					 -1, -86401, -30610224000 /* 1000-01-01 */ };
	int bad = 0, tried = 0;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 20000; i++) {
		int64_t when = i < sizeof(edges) / sizeof(edges[0]) ? edges[i]
			: (int64_t)(i - sizeof(edges) / sizeof(edges[0])) * 12653437; /* ~146 days, odd seconds */
		if (when > 253402300799)
			break;
		char want[64], got[NP_HTTP_DATE_LEN + 1];
		time_t t = (time_t)when;
		struct tm tm;
		if (!gmtime_r(&t, &tm))
			continue;
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		struct np_http_text d = NP_HTTP_TEXT(got);
		np_http_put_date(&d, when);
		tried++;
		if (d.full || d.len != NP_HTTP_DATE_LEN || strcmp(got, want) != 0) {
			if (bad++ < 3)
				diag("%lld: %s, want %s", (long long)when, d.full ? "(full)" : got, want);
		}
	}
	ok(bad == 0 && tried > 20000, "IMF-fixdate of %d times from 1970 to 9999 as strftime() makes it", tried);
	char past[64];
	struct np_http_text p = NP_HTTP_TEXT(past);
	np_http_put_date(&p, 253402300800);
	ok(p.full && p.len == 0, "the year 10000 is no date: the text is marked full");

	char small[12];
	struct np_http_text t = NP_HTTP_TEXT(small);
	np_http_puts(&t, "a:");
	np_http_put_number(&t, 0, 10);
	np_http_put_number(&t, 0xbeef, 16);
	ok(!t.full && strcmp(small, "a:0beef") == 0, "numbers in base 10 and 16, a C string after each put");
	np_http_puts(&t, "12345");
	ok(t.full && strcmp(small, "a:0beef") == 0, "what does not fit with its NUL is dropped, the text marked full");
	np_http_puts(&t, "");
	ok(t.full && t.len == 7, "and nothing goes in after");
}

int main(void)
{
	dates();
	struct np_http_request req;
	const char *get = "GET /a/b?c=d HTTP/1.1\r\nHost: example\r\nConnection: keep-alive, Upgrade\r\n"
			  "X-Empty:\r\n\r\nGET /next";
	ok(parse(get, &req) == NP_HTTP_DONE, "a GET with headers is whole");
	ok(req.method_len == 3 && memcmp(req.method, "GET", 3) == 0 && req.target_len == 8 &&
	   memcmp(req.target, "/a/b?c=d", 8) == 0 && req.minor == 1, "method, target, version");
	is_int(req.header_count, 3, "three headers");
	is_int(req.head_length, strlen(get) - strlen("GET /next"), "the head ends at the empty line; the next request stays");
	const struct np_http_header *c = np_http_header(&req, "CONNECTION");
	ok(c && np_http_header_has_token(c, "upgrade") && !np_http_header_has_token(c, "close"),
	   "headers found in any case; tokens of a list");
	ok(req.keep_alive && req.content_length == -1 && req.has_host, "keep-alive by default in 1.1, no body");
	ok(parse("GET / HTTP/1.0\r\n\r\n", &req) == NP_HTTP_DONE && !req.keep_alive, "HTTP/1.0: no Host needed, closes");
	ok(parse("GET / HTTP/1.1\r\nHost: x", &req) == NP_HTTP_PARTIAL, "a head not yet ended is partial");
	ok(parse("GET / HTTP/1.1\r", &req) == NP_HTTP_PARTIAL, "a CR waiting for its LF is partial");
	ok(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", &req) == NP_HTTP_DONE &&
	   req.content_length == 12, "Content-Length read");

	refused("bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400);
	refused("CR alone", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
	refused("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400);
	refused("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	refused("NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\001b\r\n\r\n", 400);
	refused("control byte in a name", "GET / HTTP/1.1\r\nHost: x\r\nX\002Y: a\r\n\r\n", 400);
	refused("two Content-Lengths", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400);
	refused("CL and TE", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	refused("chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411);
	refused("gzip coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
	refused("negative length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
	refused("2^64 length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);
	refused("length with a sign", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400);
	refused("no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400);
	refused("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	refused("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505);
	refused("no version", "GET /\r\n\r\n", 400);
	refused("two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);

	static char big[12000];
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', 10000);
	ok(np_http_parse_head((unsigned char *)big, 10005, 8192, &req) == NP_HTTP_BAD && req.status == 414,
	   "a request line of 10 KiB: 414");
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\n");
	while (n < 9000)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "X-Long: %s\r\n", "0123456789012345678901234567890123456789");
	ok(np_http_parse_head((unsigned char *)big, (size_t)n, 8192, &req) == NP_HTTP_BAD && req.status == 431,
	   "a head over httpMaxHeaderSize: 431");
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 100; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "X-%d: y\r\n", i);
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
	ok(np_http_parse_head((unsigned char *)big, (size_t)n, 8192, &req) == NP_HTTP_BAD && req.status == 431,
	   "101 headers: 431");

	is_int(np_http_probe((const unsigned char *)"GET /", 5), NP_PROBE_MATCH, "probe: GET and a space");
	is_int(np_http_probe((const unsigned char *)"OPTI", 4), NP_PROBE_MORE, "probe: a method's prefix wants more");
	is_int(np_http_probe((const unsigned char *)"\001", 1), NP_PROBE_NO, "probe: a protocol byte is not HTTP");
	is_int(np_http_probe((const unsigned char *)"GETX", 4), NP_PROBE_NO, "probe: GETX is not a method");

	/* WebSocket. */
	char accept[29];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
	ok(np_ws_accept_key(key, strlen(key), accept) == 0 && strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
	   "Sec-WebSocket-Accept of RFC 6455's example");
	struct np_ws_frame f;
	unsigned code;
	const char *why = NULL;
	const unsigned char masked[] = { 0x82, 0x85, 1, 2, 3, 4 };
	ok(np_ws_parse_header(masked, sizeof(masked), 100, true, &f, &code, &why) == NP_WS_DONE && f.fin &&
	   f.opcode == 2 && f.length == 5 && f.header_length == 6, "a masked binary frame of 5");
	ok(np_ws_parse_header(masked, 3, 100, true, &f, &code, &why) == NP_WS_PARTIAL, "its header in part: partial");
	const unsigned char unmasked[] = { 0x82, 0x05 };
	ok(np_ws_parse_header(unmasked, 2, 100, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "unmasked: 1002");
	const unsigned char rsv[] = { 0xc2, 0x80, 0, 0, 0, 0 };
	ok(np_ws_parse_header(rsv, 6, 100, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "RSV1: 1002");
	const unsigned char op3[] = { 0x83, 0x80, 0, 0, 0, 0 };
	ok(np_ws_parse_header(op3, 6, 100, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "opcode 3: 1002");
	const unsigned char bigping[] = { 0x89, 0xfe, 0, 126, 0, 0, 0, 0 };
	ok(np_ws_parse_header(bigping, 8, 1000, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "a 126-byte ping: 1002");
	const unsigned char fragping[] = { 0x09, 0x80, 0, 0, 0, 0 };
	ok(np_ws_parse_header(fragping, 6, 1000, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "a fragmented ping: 1002");
	const unsigned char top[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	ok(np_ws_parse_header(top, 14, ~0ULL, true, &f, &code, &why) == NP_WS_BAD && code == 1002, "length 2^63: 1002");
	const unsigned char big16[] = { 0x82, 0xfe, 0x10, 0x00, 0, 0, 0, 0 };
	ok(np_ws_parse_header(big16, 8, 1000, true, &f, &code, &why) == NP_WS_BAD && code == 1009, "4096 over a 1000 limit: 1009");
	const unsigned char loose[] = { 0x82, 0xfe, 0x00, 0x05, 0, 0, 0, 0 };
	ok(np_ws_parse_header(loose, 8, 1000, true, &f, &code, &why) == NP_WS_BAD, "5 in a 16-bit length: not its shortest form");

	ok(np_ws_parse_close((const unsigned char *)"", 0, &code) && code == 1005, "an empty close: 1005");
	ok(np_ws_parse_close((const unsigned char *)"\x03\xe8ok", 4, &code) && code == 1000, "1000 with a reason");
	ok(!np_ws_parse_close((const unsigned char *)"\x03", 1, &code), "a one-byte close is invalid");
	ok(!np_ws_parse_close((const unsigned char *)"\x03\xed", 2, &code), "1005 on the wire is invalid");
	ok(!np_ws_parse_close((const unsigned char *)"\x03\xe8\xc0\xaf", 4, &code), "an overlong UTF-8 reason is invalid");
	ok(np_ws_valid_utf8((const unsigned char *)"\xe2\x82\xac\xf0\x9f\x98\x80", 7), "UTF-8: euro sign and an emoji");
	ok(!np_ws_valid_utf8((const unsigned char *)"\xed\xa0\x80", 3), "UTF-8: a surrogate is not");
	ok(!np_ws_valid_utf8((const unsigned char *)"\xf4\x90\x80\x80", 4), "UTF-8: past U+10FFFF is not");
	ok(!np_ws_valid_utf8((const unsigned char *)"\xe2\x82", 2), "UTF-8: a cut sequence is not");
	unsigned char h[NP_WS_MAX_HEADER];
	ok(np_ws_frame_header(h, 2, 125, NULL) == 2 && np_ws_frame_header(h, 2, 126, NULL) == 4 && np_ws_frame_header(h, 2, 70000, NULL) == 10 &&
	   h[0] == 0x82 && h[1] == 127, "server frame headers in their shortest form, unmasked");
	return done_testing();
}
