/* SPDX-License-Identifier: ISC */
/*
 * memory.h - the admission bound on the daemon's own memory: new
 * connections are refused before the process gets near the point where
 * malloc() fails, since GnuTLS, libtasn1 and GMP do not survive that (a
 * handshake then aborts or crashes the whole process).
 *
 * Two measures, each against its own bound:
 *  - resident memory against maxMemory, or by default the cgroup's
 *    memory.max less a margin;
 *  - address space against RLIMIT_AS less a margin, whenever that limit
 *    is set (thread stacks and malloc's arenas are address space long
 *    before they are resident).
 * The bounds are set by the main thread (start, reload); the accepters
 * read them with one pread() of /proc/self/statm per connection, and
 * only while a bound is set.
 */
#ifndef NP_MEMORY_H
#define NP_MEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct np_memory_guard {
	int statm_fd;                        /* /proc/self/statm, or -1 */
	long page_size;
	_Atomic int64_t max_resident;        /* bytes, 0 = none */
	_Atomic int64_t max_address_space;   /* bytes, 0 = none */
	_Atomic int64_t reserve;             /* address space a new session needs */
	_Atomic int64_t last_trim_ms;        /* malloc_trim() at the bound, once a second */
};

/* Pure readers, for the unit tests as much as for the guard.
 * /proc/self/statm: "size resident shared text lib data dt", in pages. */
bool np_memory_parse_statm(const char *text, size_t len, uint64_t *size_pages, uint64_t *resident_pages);
/* A cgroup v2 memory.max: "max" (no limit: *bytes = 0) or a number. */
bool np_memory_parse_cgroup_max(const char *text, size_t len, uint64_t *bytes);
/* The cgroup v2 path in /proc/self/cgroup ("0::/system.slice/x.service"),
 * copied into out; false when there is none. */
bool np_memory_parse_cgroup_path(const char *text, size_t len, char *out, size_t out_size);
/* What the daemon may use of a limit: the limit less a margin of a
 * tenth, at least 64 MiB, at most half of it. */
int64_t np_memory_bound_of(int64_t limit);

/* Opens /proc/self/statm; 0, or -1 after logging why (then no bound
 * can be applied, and none is). */
int np_memory_guard_open(struct np_memory_guard *g);
void np_memory_guard_close(struct np_memory_guard *g);

/* Sets the bounds from maxMemory (0 = from the cgroup), RLIMIT_AS and
 * threadStackSize, and logs them once at start (log = true) or when a
 * reload changes them. */
void np_memory_guard_set(struct np_memory_guard *g, int64_t max_memory, size_t thread_stack, bool log);

/* Whether one more connection fits: NULL, or the reason in words. */
const char *np_memory_guard_admit(struct np_memory_guard *g);

/* The process's resident memory and address space now, in bytes; false
 * when they cannot be read. */
bool np_memory_usage(struct np_memory_guard *g, int64_t *resident, int64_t *address_space);

#endif
