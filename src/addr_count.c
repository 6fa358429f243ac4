/* SPDX-License-Identifier: ISC */
/*
 * addr_count.c - connections open per (listener, client address): a
 * chained hash table with a random seed, doubled when it holds more
 * entries than buckets.  An entry lives while a connection from its
 * address is open, so the table holds at most one entry per connection.
 * The caller serialises every call (the registry's lock).
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "addr_count.h"
#include "net.h"

#define FIRST_BUCKETS 64

struct key {
	const void *owner;
	struct in6_addr addr;       /* IPv4 mapped (np_net_ip6) */
};

struct np_addr_count {
	struct np_addr_count *next;
	uint64_t hash;
	struct key key;
	unsigned count;
};

/* Not an IP address (never on a TCP listener): all such count as one. */
static void key_of(const void *owner, const struct sockaddr_storage *ss, struct key *k)
{
	memset(k, 0, sizeof(*k));
	k->owner = owner;
	np_net_ip6((const struct sockaddr *)ss, &k->addr);
}

static bool key_equal(const struct key *a, const struct key *b)
{
	return a->owner == b->owner && IN6_ARE_ADDR_EQUAL(&a->addr, &b->addr);
}

/* The 64-bit finaliser of MurmurHash3. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_key(uint64_t seed, const struct key *k)
{
	uint64_t w0, w1;
	memcpy(&w0, k->addr.s6_addr, 8);
	memcpy(&w1, k->addr.s6_addr + 8, 8);
	uint64_t h = mix(seed ^ (uint64_t)(uintptr_t)k->owner);
	h = mix(h ^ w0);
	return mix(h ^ w1);
}

int np_addr_counts_init(struct np_addr_counts *t)
{
	memset(t, 0, sizeof(*t));
	t->buckets = calloc(FIRST_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets)
		return -1;
	t->mask = FIRST_BUCKETS - 1;
	/* Without entropy yet (early boot), the clock and pid still keep
	 * the seed from being known in advance. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->seed = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid());
	}
	return 0;
}

void np_addr_counts_free(struct np_addr_counts *t)
{
	for (size_t i = 0; t->buckets && i <= t->mask; i++)
		for (struct np_addr_count *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static struct np_addr_count *find(const struct np_addr_counts *t, const struct key *k, uint64_t hash)
{
	for (struct np_addr_count *e = t->buckets[hash & t->mask]; e; e = e->next)
		if (e->hash == hash && key_equal(&e->key, k))
			return e;
	return NULL;
}

/* Doubles the buckets; on no memory the chains just grow longer. */
static void grow(struct np_addr_counts *t)
{
	size_t count = (t->mask + 1) * 2;
	struct np_addr_count **buckets = calloc(count, sizeof(*buckets));
	if (!buckets)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		for (struct np_addr_count *e = t->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = buckets[e->hash & (count - 1)];
			buckets[e->hash & (count - 1)] = e;
		}
	free(t->buckets);
	t->buckets = buckets;
	t->mask = count - 1;
}

int np_addr_counts_take(struct np_addr_counts *t, const void *owner,
			const struct sockaddr_storage *addr, unsigned limit,
			struct np_addr_count **slot)
{
	struct key k;
	key_of(owner, addr, &k);
	uint64_t hash = hash_key(t->seed, &k);
	struct np_addr_count *e = find(t, &k, hash);
	if (e ? e->count >= limit : limit == 0)
		return 1;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -1;
		e->hash = hash;
		e->key = k;
		e->next = t->buckets[hash & t->mask];
		t->buckets[hash & t->mask] = e;
		if (++t->entries > t->mask + 1)
			grow(t);
	}
	e->count++;
	*slot = e;
	return 0;
}

void np_addr_counts_give(struct np_addr_counts *t, struct np_addr_count *slot)
{
	if (--slot->count > 0)
		return;
	struct np_addr_count **link = &t->buckets[slot->hash & t->mask];
	while (*link != slot)
		link = &(*link)->next;
	*link = slot->next;
	t->entries--;
	free(slot);
}

unsigned np_addr_counts_get(const struct np_addr_counts *t, const void *owner,
			    const struct sockaddr_storage *addr)
{
	struct key k;
	key_of(owner, addr, &k);
	const struct np_addr_count *e = find(t, &k, hash_key(t->seed, &k));
	return e ? e->count : 0;
}
