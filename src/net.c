/* SPDX-License-Identifier: ISC */
/*
 * net.c - the socket calls every part of npsocketd needs, each with an
 * error message that says what failed and why.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "turn.h"

const char *np_net_format(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(buf, size, "%s:%u", host, ntohs(in6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		}
	} else {
		snprintf(buf, size, "(address family %d)", sa->sa_family);
	}
	return buf;
}

bool np_net_ip6(const struct sockaddr *sa, struct in6_addr *out)
{
	if (sa->sa_family == AF_INET) {
		memset(out, 0, sizeof(*out));
		out->s6_addr[10] = out->s6_addr[11] = 0xff;
		memcpy(&out->s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		*out = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		return true;
	}
	return false;
}

bool np_cidr_parse(const char *text, struct np_cidr *out)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	if (len >= sizeof(addr))
		return false;
	memcpy(addr, text, len);
	addr[len] = '\0';
	long prefix = -1;
	if (slash) {
		char *end;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix < 0)
			return false;
	}
	struct in_addr v4;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, &v4) == 1) {
		if (prefix > 32)
			return false;
		out->addr.s6_addr[10] = out->addr.s6_addr[11] = 0xff;
		memcpy(&out->addr.s6_addr[12], &v4, 4);
		out->prefix = 96 + (unsigned)(prefix < 0 ? 32 : prefix);
	} else if (inet_pton(AF_INET6, addr, &out->addr) == 1) {
		if (prefix > 128)
			return false;
		out->prefix = (unsigned)(prefix < 0 ? 128 : prefix);
	} else {
		return false;
	}
	for (unsigned bit = out->prefix; bit < 128; bit++)
		out->addr.s6_addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	return true;
}

bool np_cidr_list_match(const struct np_cidr_list *list, const struct sockaddr *sa)
{
	struct in6_addr a;
	if (!np_net_ip6(sa, &a))
		return false;
	for (size_t i = 0; i < list->count; i++) {
		const struct np_cidr *r = &list->ranges[i];
		unsigned full = r->prefix / 8, rest = r->prefix % 8;
		if (memcmp(&a, &r->addr, full) != 0)
			continue;
		if (rest && ((a.s6_addr[full] ^ r->addr.s6_addr[full]) & (unsigned char)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

const char *np_cidr_format(const struct np_cidr *r, char *buf, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	bool v4 = IN6_IS_ADDR_V4MAPPED(&r->addr) && r->prefix >= 96;
	inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? (const void *)&r->addr.s6_addr[12] : &r->addr, addr, sizeof(addr));
	snprintf(buf, size, "%s/%u", addr, v4 ? r->prefix - 96 : r->prefix);
	return buf;
}

int np_net_split_host_port(const char *text, char *host, size_t host_size,
			   char *port, size_t port_size)
{
	const char *colon;
	const char *h = text;
	size_t hlen;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		h = text + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -1;
		hlen = (size_t)(colon - text);
	}
	size_t plen = strlen(colon + 1);
	if (hlen == 0 || hlen >= host_size || plen == 0 || plen >= port_size)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, plen + 1);
	return 0;
}

static int listen_on(const struct addrinfo *ai, int backlog, int reuse_port,
		     char *err, size_t err_size)
{
	char where[NP_ADDRSTRLEN];
	np_net_format(ai->ai_addr, where, sizeof(where));
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(err, err_size, "socket() for %s: %s", where, strerror(errno));
		return -1;
	}
	int on = 1, off = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)) {
		snprintf(err, err_size, "setsockopt() on %s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(err, err_size, "bind to %s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, backlog) < 0) {
		snprintf(err, err_size, "listen on %s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int np_net_listen(const char *host, int port, int backlog, int reuse_port,
		  char *err, size_t err_size)
{
	char service[8];
	snprintf(service, sizeof(service), "%d", port);
	struct addrinfo hints = {
		.ai_family = host ? AF_UNSPEC : AF_INET6,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *list;
	int rc = getaddrinfo(host, service, &hints, &list);
	if (rc != 0 && !host) {
		/* No IPv6 on this machine: all IPv4 addresses then. */
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, service, &hints, &list);
	}
	if (rc != 0) {
		snprintf(err, err_size, "cannot resolve bindAddress '%s': %s",
			 host ? host : "*", gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next)
		fd = listen_on(ai, backlog, reuse_port, err, err_size);
	if (fd < 0 && !host && list->ai_family == AF_INET6) {
		/* IPv6 socket refused (ipv6.disable=1): fall back to IPv4. */
		struct addrinfo *v4;
		hints.ai_family = AF_INET;
		if (getaddrinfo(NULL, service, &hints, &v4) == 0) {
			fd = listen_on(v4, backlog, reuse_port, err, err_size);
			freeaddrinfo(v4);
		}
	}
	freeaddrinfo(list);
	return fd;
}

int np_net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* A non-blocking connect bounded by timeout_ms; 0 or -1 with errno. */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -1;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n;
		do
			n = np_turn_poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -1;
		if (soerr) {
			errno = soerr;
			return -1;
		}
	}
	return fcntl(fd, F_SETFL, flags);
}

int np_net_connect(const char *host_port, int timeout_ms, char *err, size_t err_size)
{
	char host[256], port[16];
	if (np_net_split_host_port(host_port, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, err_size, "'%s' is not host:port", host_port);
		return -1;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *list;
	int rc = getaddrinfo(host, port, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_size, "cannot resolve %s: %s", host_port, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		char where[NP_ADDRSTRLEN];
		np_net_format(ai->ai_addr, where, sizeof(where));
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			snprintf(err, err_size, "socket() for %s: %s", where, strerror(errno));
			continue;
		}
		if (connect_bounded(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0)
			break;
		snprintf(err, err_size, "connect to %s: %s", where, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(list);
	if (fd >= 0) {
		int on = 1;
		/* Small transactions must not wait for Nagle. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	return fd;
}

bool np_net_bound_to(int fd, const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || np_net_local_port(fd) != port)
		return false;
	struct in6_addr bound;
	if (!np_net_ip6((struct sockaddr *)&ss, &bound))
		return false;
	if (!host) {
		/* Every address: :: (or 0.0.0.0, mapped). */
		static const struct in6_addr v4_any = { .s6_addr = { [10] = 0xff, [11] = 0xff } };
		return IN6_IS_ADDR_UNSPECIFIED(&bound) || IN6_ARE_ADDR_EQUAL(&bound, &v4_any);
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *list;
	if (getaddrinfo(host, NULL, &hints, &list) != 0)
		return false;
	bool match = false;
	for (struct addrinfo *ai = list; ai && !match; ai = ai->ai_next) {
		struct in6_addr want;
		match = np_net_ip6(ai->ai_addr, &want) && IN6_ARE_ADDR_EQUAL(&want, &bound);
	}
	freeaddrinfo(list);
	return match;
}

bool np_net_same_endpoint(const struct sockaddr *a, const struct sockaddr *b)
{
	struct in6_addr x, y;
	if (!np_net_ip6(a, &x) || !np_net_ip6(b, &y) || !IN6_ARE_ADDR_EQUAL(&x, &y))
		return false;
	in_port_t pa = a->sa_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
						: ((const struct sockaddr_in6 *)a)->sin6_port;
	in_port_t pb = b->sa_family == AF_INET ? ((const struct sockaddr_in *)b)->sin_port
						: ((const struct sockaddr_in6 *)b)->sin6_port;
	return pa == pb;
}

const char *np_net_local_text(int fd, char *buf, size_t size)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	snprintf(buf, size, "?");
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0)
		np_net_format((struct sockaddr *)&local, buf, size);
	return buf;
}

int np_net_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

bool np_net_unix_address(const char *path, struct sockaddr_un *out)
{
	size_t len = strlen(path);
	memset(out, 0, sizeof(*out));
	out->sun_family = AF_UNIX;
	if (len > NP_UNIX_PATH_MAX)
		return false;
	memcpy(out->sun_path, path, len + 1);
	return true;
}

struct timespec np_time_in(clockid_t clock, int64_t ms)
{
	struct timespec t;
	clock_gettime(clock, &t);
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

char *np_net_format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

int np_net_somaxconn(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

bool np_net_listen_overflows(unsigned long long *overflows, unsigned long long *drops)
{
	FILE *f = fopen("/proc/net/netstat", "re");
	if (!f)
		return false;
	char names[4096], values[4096];
	bool found = false;
	/* Pairs of lines: "TcpExt: Name ..." then "TcpExt: value ...". */
	while (!found && fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		if (strncmp(names, "TcpExt:", 7) != 0 || strncmp(values, "TcpExt:", 7) != 0)
			continue;
		char *ns = NULL, *vs = NULL;
		char *n = strtok_r(names + 7, " \n", &ns), *v = strtok_r(values + 7, " \n", &vs);
		int got = 0;
		for (; n && v; n = strtok_r(NULL, " \n", &ns), v = strtok_r(NULL, " \n", &vs)) {
			if (strcmp(n, "ListenOverflows") == 0 && ++got)
				*overflows = strtoull(v, NULL, 10);
			else if (strcmp(n, "ListenDrops") == 0 && ++got)
				*drops = strtoull(v, NULL, 10);
		}
		found = got == 2;
	}
	fclose(f);
	return found;
}
