/* SPDX-License-Identifier: ISC */
/*
 * net.h - addresses and TCP sockets: "host:port" parsing, printable peer
 * addresses, address ranges (allow/deny), listening and connecting with
 * a timeout.
 */
#ifndef NP_NET_H
#define NP_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* Enough for "[ffff:...:255.255.255.255%ifname]:65535". */
#define NP_ADDRSTRLEN 80

/* One address range of an allow/deny list, e.g. 10.0.0.0/8 or ::1/128.
 * IPv4 ranges are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n) so one
 * comparison serves both families. */
struct np_cidr {
	struct in6_addr addr; /* network address, host bits zero */
	unsigned prefix;      /* 0..128 */
};

struct np_cidr_list {
	struct np_cidr *ranges;
	size_t count;
};

/* "10.0.0.0/8", "::1", "192.0.2.7" (a host: /32 or /128) into out;
 * false when it is not an address or the prefix is too long. */
bool np_cidr_parse(const char *text, struct np_cidr *out);

/* true when `addr` (any family; IPv4-mapped accepted) falls in the list. */
bool np_cidr_list_match(const struct np_cidr_list *list, const struct sockaddr *addr);

/* "10.0.0.0/8": the range as np_cidr_parse() reads it back. */
const char *np_cidr_format(const struct np_cidr *range, char *buf, size_t size);

/* "192.0.2.7:51234" or "[2001:db8::7]:51234"; IPv4-mapped IPv6 addresses
 * are shown as IPv4. */
const char *np_net_format(const struct sockaddr *sa, char *buf, size_t size);

/* The IP address of sa as an IPv6 address, an IPv4 one mapped
 * (::ffff:a.b.c.d) so that both forms of one client compare equal; false
 * for other address families. */
bool np_net_ip6(const struct sockaddr *sa, struct in6_addr *out);

/* Splits "host:port" or "[v6]:port" into host and port; 0 or -1. */
int np_net_split_host_port(const char *text, char *host, size_t host_size,
			   char *port, size_t port_size);

/* Binds and listens on host (NULL = every address, IPv6 and IPv4) and
 * port; the first address of a host name that binds is used.  Returns the
 * fd, or -1 with a reason in err. */
int np_net_listen(const char *host, int port, int backlog, int reuse_port,
		  char *err, size_t err_size);

/* The port an fd is bound to (for port = 0). */
int np_net_local_port(int fd);

/* The address an fd is bound to, as np_net_format() writes it ("?" when
 * it cannot be told); returns buf. */
const char *np_net_local_text(int fd, char *buf, size_t size);

/* The longest path a Unix socket's address holds (sun_path less its NUL). */
#define NP_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* A Unix socket's address for path: true, or false when the path is
 * longer than NP_UNIX_PATH_MAX. */
bool np_net_unix_address(const char *path, struct sockaddr_un *out);

/* Writes all of buf to a socket (no SIGPIPE, EINTR retried): 0, or -1
 * with errno (EPIPE when the peer closed). */
int np_net_send_all(int fd, const void *buf, size_t len);

/* Whether a and b are one address and port (IPv4 and its mapped IPv6
 * form compare equal). */
bool np_net_same_endpoint(const struct sockaddr *a, const struct sockaddr *b);

/* Whether the socket fd is bound to host (NULL = every address) and
 * port: for sockets passed by systemd, matched to [Port] sections. */
bool np_net_bound_to(int fd, const char *host, int port);

/* Connects to "host:port", trying each address in turn, each attempt
 * bounded by timeout_ms (0 = the kernel's).  Returns a blocking fd, or -1
 * with a reason in err. */
int np_net_connect(const char *host_port, int timeout_ms, char *err, size_t err_size);

/* The time ms milliseconds from now on clock, for a timed wait
 * (pthread_cond_timedwait, pthread_timedjoin_np). */
struct timespec np_time_in(clockid_t clock, int64_t ms);

/* net.core.somaxconn, the kernel's cap on a listen backlog; -1 when it
 * cannot be read. */
int np_net_somaxconn(void);

/* TcpExt ListenOverflows and ListenDrops of /proc/net/netstat: the whole
 * host's (every process's) connections dropped for a full accept queue.
 * false when they cannot be read. */
bool np_net_listen_overflows(unsigned long long *overflows, unsigned long long *drops);

/* t as "2026-12-01T23:00:00Z" into buf; returns buf. */
char *np_net_format_time(time_t t, char *buf, size_t size);

#endif
