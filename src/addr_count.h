/* SPDX-License-Identifier: ISC */
/*
 * addr_count.h - connections open per (listener, client address), for
 * maxConnectionsPerAddress: a hash table the registry keeps under its
 * lock, so admitting a connection costs the same with ten sessions open
 * or a hundred thousand (a walk over every session did not).
 */
#ifndef NP_ADDR_COUNT_H
#define NP_ADDR_COUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One (owner, address) pair with connections open; opaque. */
struct np_addr_count;

struct np_addr_counts {
	struct np_addr_count **buckets;
	size_t mask;                 /* bucket count - 1 (a power of two) */
	size_t entries;
	uint64_t seed;               /* random: clients cannot aim at one chain */
};

/* 0, or -1 when out of memory. */
int np_addr_counts_init(struct np_addr_counts *t);
void np_addr_counts_free(struct np_addr_counts *t);

/* Counts one more connection of `owner` (a listener) from addr's IP
 * address (the port is not part of it) unless `limit` are open already.
 * Returns 0 with *slot set (hand it back to np_addr_counts_give() when
 * the connection ends), 1 when the limit is reached, -1 when out of
 * memory. */
int np_addr_counts_take(struct np_addr_counts *t, const void *owner,
			const struct sockaddr_storage *addr, unsigned limit,
			struct np_addr_count **slot);

/* One connection counted by np_addr_counts_take() ended. */
void np_addr_counts_give(struct np_addr_counts *t, struct np_addr_count *slot);

/* Connections open for (owner, addr): for tests. */
unsigned np_addr_counts_get(const struct np_addr_counts *t, const void *owner,
			    const struct sockaddr_storage *addr);

#endif
