/* SPDX-License-Identifier: ISC */
/*
 * proxy.c - the PROXY protocol (proxy.h): the header's parser, a pure
 * function over a buffer; its exact reader; the builder of the header
 * npsocketd sends upstream.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "npsocket/socket.h"
#include "proxy.h"
#include "turn.h"

static const unsigned char v2_signature[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
						0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_prefix[] = "PROXY ";

/* The shortest header of each kind: "PROXY UNKNOWN\r\n" and v2's fixed
 * part.  Reading this much first never reads past a header. */
#define V1_MIN 15
#define V2_FIXED 16

/* v2 TLV types (proxy-protocol.txt 2.2.x). */
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_UNIQUE_ID 0x05
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

static enum np_proxy_result bad(const char **why, const char *text)
{
	*why = text;
	return NP_PROXY_BAD;
}

static enum np_proxy_result more(size_t *used, size_t need)
{
	*used = need;
	return NP_PROXY_MORE;
}

/* A TLV's text: printable ASCII kept, the rest '?', cut to max. */
static void copy_text(char *dst, size_t max, const unsigned char *src, size_t len)
{
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[len] = '\0';
}

/* --- v1 ------------------------------------------------------------------ */

/* A decimal port: 1 to 5 digits, no leading zero, at most 65535. */
static bool v1_port(const char *text, size_t len, uint16_t *out)
{
	if (len == 0 || len > 5 || (len > 1 && text[0] == '0'))
		return false;
	unsigned value = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (unsigned)(text[i] - '0');
	}
	if (value > 65535)
		return false;
	*out = (uint16_t)value;
	return true;
}

static bool v1_address(int family, const char *text, size_t len, uint16_t port, struct sockaddr_storage *out)
{
	char buf[INET6_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return inet_pton(AF_INET, buf, &sin->sin_addr) == 1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return strchr(buf, ':') && inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1;
}

/* "PROXY TCP4 SRC DST SPORT DPORT": line is the header without CRLF. */
static enum np_proxy_result v1_line(const char *line, size_t len, struct np_proxy_header *out, const char **why)
{
	const char *p = line + sizeof(v1_prefix) - 1, *end = line + len;
	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0 && (end - p == 7 || p[7] == ' ')) {
		out->local = true;  /* the receiver ignores the rest of the line */
		return NP_PROXY_DONE;
	}
	int family;
	if ((size_t)(end - p) >= 5 && memcmp(p, "TCP4 ", 5) == 0)
		family = AF_INET;
	else if ((size_t)(end - p) >= 5 && memcmp(p, "TCP6 ", 5) == 0)
		family = AF_INET6;
	else
		return bad(why, "v1 header: protocol is not TCP4, TCP6 or UNKNOWN");
	p += 5;
	/* Four fields, single spaces between them. */
	const char *field[4];
	size_t flen[4];
	for (int i = 0; i < 4; i++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *stop = i == 3 ? end : sp;
		if (!stop || (i == 3 && sp))
			return bad(why, "v1 header: not four fields after the protocol");
		field[i] = p;
		flen[i] = (size_t)(stop - p);
		if (flen[i] == 0)
			return bad(why, "v1 header: an empty field");
		p = stop + 1;
	}
	uint16_t sport, dport;
	if (!v1_port(field[2], flen[2], &sport) || !v1_port(field[3], flen[3], &dport))
		return bad(why, "v1 header: a port is not a number from 0 to 65535");
	if (!v1_address(family, field[0], flen[0], sport, &out->src) ||
	    !v1_address(family, field[1], flen[1], dport, &out->dst))
		return bad(why, family == AF_INET ? "v1 header: an address is not IPv4"
						  : "v1 header: an address is not IPv6");
	return NP_PROXY_DONE;
}

static enum np_proxy_result parse_v1(const unsigned char *buf, size_t len, struct np_proxy_header *out,
				     size_t *used, const char **why)
{
	/* The line may hold printable ASCII only; it ends at the first CRLF. */
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			if (i + 2 > NP_PROXY_V1_MAX)
				return bad(why, "v1 header: no CRLF within 107 bytes");
			if (i + 1 == len)
				return more(used, len + 1);
			if (buf[i + 1] != '\n')
				return bad(why, "v1 header: CR not followed by LF");
			*used = i + 2;
			out->version = 1;
			return v1_line((const char *)buf, i, out, why);
		}
		if (buf[i] < 0x20 || buf[i] >= 0x7f)
			return bad(why, buf[i] == '\n' ? "v1 header: LF without CR" : "v1 header: a control byte in the line");
	}
	if (len >= NP_PROXY_V1_MAX)
		return bad(why, "v1 header: no CRLF within 107 bytes");
	/* Where the line ends is not known before its CRLF: a byte more. */
	return more(used, len + 1);
}

/* --- v2 ------------------------------------------------------------------ */

static void ssl_tlv(const unsigned char *v, size_t len, struct np_proxy_header *out)
{
	/* client (1), verify (4), then sub-TLVs: checked by the caller to be
	 * at least 5 bytes and well formed. */
	out->ssl = true;
	out->ssl_client = v[0] & PP2_CLIENT_SSL;
	out->ssl_cert = v[0] & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS);
	uint32_t verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
	out->ssl_verified = out->ssl_cert && verify == 0;
	for (size_t i = 5; i + 3 <= len;) {
		size_t n = (size_t)v[i + 1] << 8 | v[i + 2];
		const unsigned char *value = v + i + 3;
		switch (v[i]) {
		case PP2_SUBTYPE_SSL_VERSION: copy_text(out->ssl_version, NP_PROXY_SSL_TEXT_MAX, value, n); break;
		case PP2_SUBTYPE_SSL_CIPHER: copy_text(out->ssl_cipher, NP_PROXY_SSL_TEXT_MAX, value, n); break;
		case PP2_SUBTYPE_SSL_CN: copy_text(out->ssl_cn, NP_PROXY_CN_MAX, value, n); break;
		default: break;
		}
		i += 3 + n;
	}
}

/* Checks that the TLVs in p[0, len) tile it exactly. */
static bool tlvs_fit(const unsigned char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (len - i < 3)
			return false;
		size_t n = (size_t)p[i + 1] << 8 | p[i + 2];
		if (n > len - i - 3)
			return false;
		i += 3 + n;
	}
	return true;
}

static enum np_proxy_result v2_tlvs(const unsigned char *p, size_t len, struct np_proxy_header *out,
				    const char **why)
{
	if (!tlvs_fit(p, len))
		return bad(why, "v2 header: a TLV runs past the header");
	for (size_t i = 0; i < len;) {
		size_t n = (size_t)p[i + 1] << 8 | p[i + 2];
		const unsigned char *value = p + i + 3;
		switch (p[i]) {
		case PP2_TYPE_AUTHORITY:
			if (n > NP_PROXY_AUTHORITY_MAX)
				return bad(why, "v2 header: AUTHORITY longer than 255 bytes");
			copy_text(out->authority, NP_PROXY_AUTHORITY_MAX, value, n);
			break;
		case PP2_TYPE_UNIQUE_ID:
			if (n > NP_PROXY_UNIQUE_ID_MAX)
				return bad(why, "v2 header: UNIQUE_ID longer than 128 bytes");
			memcpy(out->unique_id, value, n);
			out->unique_id_len = n;
			break;
		case PP2_TYPE_SSL:
			if (n < 5 || !tlvs_fit(value + 5, n - 5))
				return bad(why, "v2 header: a malformed SSL TLV");
			ssl_tlv(value, n, out);
			break;
		default:
			break;  /* ALPN, CRC32C, NOOP, NETNS, custom: not ours */
		}
		i += 3 + n;
	}
	return NP_PROXY_DONE;
}

static enum np_proxy_result parse_v2(const unsigned char *buf, size_t len, struct np_proxy_header *out,
				     size_t *used, const char **why)
{
	if (len < V2_FIXED)
		return more(used, V2_FIXED);
	int version = buf[12] >> 4, command = buf[12] & 0x0f;
	int family = buf[13] >> 4, transport = buf[13] & 0x0f;
	size_t body = (size_t)buf[14] << 8 | buf[15];
	if (version != 2)
		return bad(why, "v2 header: version is not 2");
	if (command > 1)
		return bad(why, "v2 header: command is neither LOCAL nor PROXY");
	if (body > NP_PROXY_V2_MAX_BODY)
		return bad(why, "v2 header: declared length over 1536 bytes");
	if (len < V2_FIXED + body)
		return more(used, V2_FIXED + body);
	*used = V2_FIXED + body;
	out->version = 2;

	const unsigned char *p = buf + V2_FIXED;
	size_t addresses;
	switch (family) {
	case 0: addresses = 0; break;     /* AF_UNSPEC */
	case 1: addresses = 12; break;    /* AF_INET */
	case 2: addresses = 36; break;    /* AF_INET6 */
	case 3: addresses = 216; break;   /* AF_UNIX */
	default: return bad(why, "v2 header: unknown address family");
	}
	if (transport > 2)
		return bad(why, "v2 header: unknown transport");
	if (body < addresses)
		return bad(why, "v2 header: length shorter than its addresses");
	if (command == 0 || family == 0 || family == 3) {
		/* LOCAL, or no address we could use: the connection's own. */
		out->local = true;
	} else if (transport != 1) {
		return bad(why, "v2 header: not a stream (TCP) connection");
	} else if (family == 1) {
		struct sockaddr_in *src = (struct sockaddr_in *)&out->src, *dst = (struct sockaddr_in *)&out->dst;
		src->sin_family = dst->sin_family = AF_INET;
		memcpy(&src->sin_addr, p, 4);
		memcpy(&dst->sin_addr, p + 4, 4);
		memcpy(&src->sin_port, p + 8, 2);
		memcpy(&dst->sin_port, p + 10, 2);
	} else {
		struct sockaddr_in6 *src = (struct sockaddr_in6 *)&out->src, *dst = (struct sockaddr_in6 *)&out->dst;
		src->sin6_family = dst->sin6_family = AF_INET6;
		memcpy(&src->sin6_addr, p, 16);
		memcpy(&dst->sin6_addr, p + 16, 16);
		memcpy(&src->sin6_port, p + 32, 2);
		memcpy(&dst->sin6_port, p + 34, 2);
	}
	return v2_tlvs(p + addresses, body - addresses, out, why);
}

/* --- the parser ---------------------------------------------------------- */

enum np_proxy_result np_proxy_parse(const unsigned char *buf, size_t len, int versions,
				    struct np_proxy_header *out, size_t *used, const char **why)
{
	memset(out, 0, sizeof(*out));
	*used = 0;
	*why = NULL;
	if (len == 0)
		return more(used, V1_MIN);
	/* Which signature the bytes so far can still be. */
	size_t n2 = len < sizeof(v2_signature) ? len : sizeof(v2_signature);
	size_t n1 = len < sizeof(v1_prefix) - 1 ? len : sizeof(v1_prefix) - 1;
	bool v2 = memcmp(buf, v2_signature, n2) == 0;
	bool v1 = memcmp(buf, v1_prefix, n1) == 0;
	if (v2 && !(versions & NP_PROXY_V2))
		return bad(why, "a v2 header on a port that takes v1 only");
	if (v1 && !(versions & NP_PROXY_V1))
		return bad(why, "a v1 header on a port that takes v2 only");
	if (!v1 && !v2)
		return bad(why, "no PROXY header");
	if (len < V1_MIN)
		return more(used, V1_MIN);
	return v2 ? parse_v2(buf, len, out, used, why) : parse_v1(buf, len, out, used, why);
}

/* --- the reader ---------------------------------------------------------- */

int np_proxy_read(int fd, int64_t deadline_ms, int versions, struct np_proxy_header *out,
		  const char **why, bool *eof)
{
	unsigned char buf[V2_FIXED + NP_PROXY_V2_MAX_BODY];
	size_t have = 0, need = 0;
	*eof = false;
	for (;;) {
		enum np_proxy_result r = np_proxy_parse(buf, have, versions, out, &need, why);
		if (r == NP_PROXY_DONE)
			return 0;
		if (r == NP_PROXY_BAD)
			return -1;
		if (need == have + 1 && buf[0] == 'P') {
			/* A v1 line: where it ends, if it is all here, so as not
			 * to read it byte by byte. */
			unsigned char peek[NP_PROXY_V1_MAX];
			ssize_t n = recv(fd, peek, NP_PROXY_V1_MAX - have, MSG_PEEK | MSG_DONTWAIT);
			for (ssize_t i = 1; i < n; i++)
				if (peek[i - 1] == '\r' && peek[i] == '\n') {
					need = have + (size_t)i + 1;
					break;
				}
		}
		/* One read, then the parser again: what came may already be
		 * refused. */
		for (;;) {
			int64_t left = deadline_ms - np_now_ms();
			if (left <= 0) {
				*why = have ? "PROXY header not complete within handshakeTimeout"
					    : "no PROXY header within handshakeTimeout";
				return -1;
			}
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int rc = np_turn_poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc < 0) {
				*why = "poll failed while reading the PROXY header";
				return -1;
			}
			if (rc == 0)
				continue;
			ssize_t got = recv(fd, buf + have, need - have, 0);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				*eof = have == 0;
				*why = got == 0 ? (have ? "closed inside the PROXY header" : "closed before the PROXY header")
						: "read failed inside the PROXY header";
				return -1;
			}
			have += (size_t)got;
			break;
		}
	}
}

/* --- the builder --------------------------------------------------------- */

/* src and dst as one family: IPv4 both, or IPv6 both (v4 mapped). */
static int same_family(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		       struct sockaddr_storage *s, struct sockaddr_storage *d)
{
	*s = *src;
	*d = *dst;
	int fs = s->ss_family, fd = d->ss_family;
	if ((fs != AF_INET && fs != AF_INET6) || (fd != AF_INET && fd != AF_INET6))
		return AF_UNSPEC;
	if (fs == fd)
		return fs;
	struct sockaddr_storage *v4 = fs == AF_INET ? s : d;
	struct sockaddr_in in = *(struct sockaddr_in *)v4;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)v4;
	memset(v4, 0, sizeof(*v4));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = in.sin_port;
	in6->sin6_addr.s6_addr[10] = in6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&in6->sin6_addr.s6_addr[12], &in.sin_addr, 4);
	return AF_INET6;
}

size_t np_proxy_build(int version, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		      unsigned char *out, size_t size)
{
	struct sockaddr_storage s, d;
	int family = same_family(src, dst, &s, &d);
	if (size < NP_PROXY_OUT_MAX)
		return 0;
	if (version == 1) {
		if (family == AF_UNSPEC)
			return (size_t)snprintf((char *)out, size, "PROXY UNKNOWN\r\n");
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		unsigned sp, dp;
		if (family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&s)->sin_addr, a, sizeof(a));
			inet_ntop(AF_INET, &((struct sockaddr_in *)&d)->sin_addr, b, sizeof(b));
			sp = ntohs(((struct sockaddr_in *)&s)->sin_port);
			dp = ntohs(((struct sockaddr_in *)&d)->sin_port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s)->sin6_addr, a, sizeof(a));
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&d)->sin6_addr, b, sizeof(b));
			sp = ntohs(((struct sockaddr_in6 *)&s)->sin6_port);
			dp = ntohs(((struct sockaddr_in6 *)&d)->sin6_port);
		}
		return (size_t)snprintf((char *)out, size, "PROXY TCP%c %s %s %u %u\r\n",
					family == AF_INET ? '4' : '6', a, b, sp, dp);
	}
	memcpy(out, v2_signature, sizeof(v2_signature));
	out[12] = 0x21;  /* version 2, PROXY */
	size_t body = 0;
	unsigned char *p = out + V2_FIXED;
	if (family == AF_INET) {
		out[13] = 0x11;
		memcpy(p, &((struct sockaddr_in *)&s)->sin_addr, 4);
		memcpy(p + 4, &((struct sockaddr_in *)&d)->sin_addr, 4);
		memcpy(p + 8, &((struct sockaddr_in *)&s)->sin_port, 2);
		memcpy(p + 10, &((struct sockaddr_in *)&d)->sin_port, 2);
		body = 12;
	} else if (family == AF_INET6) {
		out[13] = 0x21;
		memcpy(p, &((struct sockaddr_in6 *)&s)->sin6_addr, 16);
		memcpy(p + 16, &((struct sockaddr_in6 *)&d)->sin6_addr, 16);
		memcpy(p + 32, &((struct sockaddr_in6 *)&s)->sin6_port, 2);
		memcpy(p + 34, &((struct sockaddr_in6 *)&d)->sin6_port, 2);
		body = 36;
	} else {
		out[13] = 0x00;
	}
	out[14] = (unsigned char)(body >> 8);
	out[15] = (unsigned char)body;
	return V2_FIXED + body;
}

void np_proxy_hex(const unsigned char *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}
