/* SPDX-License-Identifier: ISC */
/*
 * addr_count_test.c - the per-address connection counts behind
 * maxConnectionsPerAddress (src/addr_count.c): the limit per (listener,
 * address), ports and other listeners apart, IPv4 and IPv6, entries freed
 * when their last connection ends, and 10,000 addresses through the
 * table's growth.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr_count.h"
#include "tap.h"

static struct sockaddr_storage v4(const char *text, unsigned short port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, text, &sin->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, text, &sin6->sin6_addr);
	return ss;
}

int main(void)
{
	struct np_addr_counts t;
	int port_a, port_b; /* stand-ins for two listeners */
	struct np_addr_count *s1, *s2, *s3, *other;
	ok(np_addr_counts_init(&t) == 0, "init");

	struct sockaddr_storage a = v4("192.0.2.7", 1000), a2 = v4("192.0.2.7", 2000);
	ok(np_addr_counts_take(&t, &port_a, &a, 2, &s1) == 0, "first connection from 192.0.2.7 counted");
	ok(np_addr_counts_take(&t, &port_a, &a2, 2, &s2) == 0, "second, from another source port, counted");
	ok(np_addr_counts_take(&t, &port_a, &a, 2, &s3) == 1, "a third: the limit of 2 is reached");
	is_int(np_addr_counts_get(&t, &port_a, &a), 2, "two counted, not three");

	struct sockaddr_storage b = v4("192.0.2.8", 1000);
	ok(np_addr_counts_take(&t, &port_a, &b, 2, &other) == 0, "another address has its own count");
	ok(np_addr_counts_take(&t, &port_b, &a, 2, &s3) == 0, "the same address on another listener too");
	np_addr_counts_give(&t, s3);
	np_addr_counts_give(&t, other);

	/* ::c000:207 carries the same bytes as 192.0.2.7 in its last four. */
	struct sockaddr_storage c = v6("::c000:207"), d = v6("2001:db8::7");
	ok(np_addr_counts_take(&t, &port_a, &c, 1, &s3) == 0, "IPv6 with 192.0.2.7's bytes is another address");
	ok(np_addr_counts_take(&t, &port_a, &c, 1, &other) == 1, "and has its own limit");
	struct sockaddr_storage mapped = v6("::ffff:192.0.2.7");
	ok(np_addr_counts_take(&t, &port_a, &mapped, 2, &other) == 1,
	   "::ffff:192.0.2.7 is 192.0.2.7: its two connections already count");
	np_addr_counts_give(&t, s3);
	ok(np_addr_counts_take(&t, &port_a, &d, 1, &s3) == 0, "2001:db8::7 counted");
	ok(np_addr_counts_take(&t, &port_a, &d, 0, &other) == 1, "a limit of 0 admits nothing");
	np_addr_counts_give(&t, s3);

	np_addr_counts_give(&t, s1);
	ok(np_addr_counts_take(&t, &port_a, &a, 2, &s3) == 0, "after one ends, 192.0.2.7 is admitted again");
	np_addr_counts_give(&t, s2);
	np_addr_counts_give(&t, s3);
	is_int(np_addr_counts_get(&t, &port_a, &a), 0, "all ended: 0");
	is_int(t.entries, 0, "and no entry is left");

	/* 10,000 addresses, two connections each: the table grows and
	 * every count stays right. */
	static struct np_addr_count *slots[10000][2];
	int taken = 0;
	for (int i = 0; i < 10000; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.%d.%d.1", i / 256, i % 256);
		struct sockaddr_storage x = v4(text, (unsigned short)i);
		taken += np_addr_counts_take(&t, &port_a, &x, 2, &slots[i][0]) == 0;
		taken += np_addr_counts_take(&t, &port_a, &x, 2, &slots[i][1]) == 0;
	}
	is_int(taken, 20000, "10,000 addresses: two connections each counted");
	is_int(t.entries, 10000, "one entry per address");
	ok(t.mask + 1 >= 10000, "the buckets grew with them (%zu)", t.mask + 1);
	struct sockaddr_storage probe = v4("10.39.15.1", 9);
	is_int(np_addr_counts_get(&t, &port_a, &probe), 2, "10.39.15.1 counts 2");
	ok(np_addr_counts_take(&t, &port_a, &probe, 2, &other) == 1, "and is at its limit");
	for (int i = 0; i < 10000; i++) {
		np_addr_counts_give(&t, slots[i][1]);
		np_addr_counts_give(&t, slots[i][0]);
	}
	is_int(t.entries, 0, "all given back: the table is empty");
	np_addr_counts_free(&t);
	return done_testing();
}
