/* SPDX-License-Identifier: ISC */
/*
 * proxy.h - the PROXY protocol (HAProxy's proxy-protocol.txt), v1 and v2:
 * the pure parser of the header a balancer puts before a connection, the
 * exact reader that takes it off a socket without eating a byte of what
 * follows, and the builder of the one npsocketd sends its own upstreams.
 */
#ifndef NP_PROXY_H
#define NP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Which versions a port takes (proxyProtocol), as bits. */
#define NP_PROXY_V1 1
#define NP_PROXY_V2 2
#define NP_PROXY_ANY (NP_PROXY_V1 | NP_PROXY_V2)

/* v1: the whole line, "PROXY" to CRLF, is at most 107 bytes. */
#define NP_PROXY_V1_MAX 107
/* v2: 16 bytes, then at most this many of addresses and TLVs (HAProxy
 * sends a few hundred at most: addresses, SSL facts, a unique id). */
#define NP_PROXY_V2_MAX_BODY 1536
/* The longest header np_proxy_build() writes. */
#define NP_PROXY_OUT_MAX 108

#define NP_PROXY_SSL_TEXT_MAX 64
#define NP_PROXY_CN_MAX 128
#define NP_PROXY_AUTHORITY_MAX 255
#define NP_PROXY_UNIQUE_ID_MAX 128

/* What a header says.  local: a LOCAL command (v2, a balancer's health
 * check) or UNKNOWN / AF_UNSPEC: the connection's own addresses stand. */
struct np_proxy_header {
	int version;                       /* 1 or 2 */
	bool local;
	struct sockaddr_storage src, dst;  /* the client's and where it connected; unless local */
	/* v2 TLVs.  PP2_TYPE_SSL: */
	bool ssl;                          /* the TLV was there */
	bool ssl_client;                   /* PP2_CLIENT_SSL: the client spoke TLS to the balancer */
	bool ssl_cert;                     /* the client sent a certificate... */
	bool ssl_verified;                 /* ...and the balancer verified it */
	char ssl_version[NP_PROXY_SSL_TEXT_MAX + 1];
	char ssl_cipher[NP_PROXY_SSL_TEXT_MAX + 1];
	char ssl_cn[NP_PROXY_CN_MAX + 1];  /* the client certificate's common name */
	char authority[NP_PROXY_AUTHORITY_MAX + 1]; /* PP2_TYPE_AUTHORITY: the SNI host */
	unsigned char unique_id[NP_PROXY_UNIQUE_ID_MAX];
	size_t unique_id_len;              /* PP2_TYPE_UNIQUE_ID, 0 = none */
};

enum np_proxy_result {
	NP_PROXY_DONE,  /* a whole header: *used is its length */
	NP_PROXY_MORE,  /* *used: how many bytes buf must hold before the next call */
	NP_PROXY_BAD,   /* *why says what is wrong */
};

/*
 * Parses the header at the start of buf[0, len).  versions: the
 * NP_PROXY_V* bits a port takes.  A pure function.  MORE never asks for
 * more bytes than the header has, so a reader that reads exactly what
 * it asks for takes nothing of the TLS ClientHello or protocol byte
 * behind the header.  Text values are printable ASCII (others become
 * '?'), NUL-terminated.
 */
enum np_proxy_result np_proxy_parse(const unsigned char *buf, size_t len, int versions,
				    struct np_proxy_header *out, size_t *used, const char **why);

/*
 * Reads one header off fd with exact reads, until the monotonic
 * deadline_ms (np_now_ms()).  0, or -1 with *why set (a parse error, a
 * timeout, the peer's close: *eof true when it closed before a byte).
 */
int np_proxy_read(int fd, int64_t deadline_ms, int versions, struct np_proxy_header *out,
		  const char **why, bool *eof);

/*
 * Writes the header of a connection from src to dst into out (size
 * bytes, at least NP_PROXY_OUT_MAX): version 1 or 2.  Addresses of
 * different families are both given as IPv6 (mapped); anything but
 * IPv4/IPv6 is sent as UNKNOWN (v1) or AF_UNSPEC (v2).  Returns the
 * length.
 */
size_t np_proxy_build(int version, const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		      unsigned char *out, size_t size);

/* Lowercase hex of the unique id into out (2 * len + 1 bytes). */
void np_proxy_hex(const unsigned char *data, size_t len, char *out);

#endif
