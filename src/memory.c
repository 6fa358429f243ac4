/* SPDX-License-Identifier: ISC */
/*
 * memory.c - the admission bound on the daemon's own memory (memory.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"
#include "npsocket/socket.h"
#include "registry.h"

#define MIB (1024 * 1024)
#define MARGIN_MIN (64LL * MIB)
/* A new session's needs beyond its thread's stack: the TLS session,
 * the first buffers, malloc's per-thread start. */
#define SESSION_SLACK (1LL * MIB)

/* Reads an unsigned decimal at *p (skipping blanks first); false if none. */
static bool read_number(const char **p, const char *end, uint64_t *out)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p >= end || **p < '0' || **p > '9')
		return false;
	uint64_t v = 0;
	while (*p < end && **p >= '0' && **p <= '9') {
		unsigned d = (unsigned)(**p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		(*p)++;
	}
	*out = v;
	return true;
}

bool np_memory_parse_statm(const char *text, size_t len, uint64_t *size_pages, uint64_t *resident_pages)
{
	const char *p = text, *end = text + len;
	return read_number(&p, end, size_pages) && read_number(&p, end, resident_pages) &&
	       (p == end || *p == ' ' || *p == '\n');
}

bool np_memory_parse_cgroup_max(const char *text, size_t len, uint64_t *bytes)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len == 3 && memcmp(text, "max", 3) == 0) {
		*bytes = 0;
		return true;
	}
	const char *p = text, *end = text + len;
	return read_number(&p, end, bytes) && p == end;
}

bool np_memory_parse_cgroup_path(const char *text, size_t len, char *out, size_t out_size)
{
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		size_t n = (size_t)(line_end - p);
		/* cgroup v2: hierarchy 0, no controllers */
		if (n >= 4 && memcmp(p, "0::/", 4) == 0) {
			size_t path = n - 3;
			if (path >= out_size || memchr(p + 3, '\0', path))
				return false;
			memcpy(out, p + 3, path);
			out[path] = '\0';
			return strstr(out, "/../") == NULL;
		}
		p = line_end + 1;
	}
	return false;
}

int64_t np_memory_bound_of(int64_t limit)
{
	int64_t margin = limit / 10;
	if (margin < MARGIN_MIN)
		margin = MARGIN_MIN;
	if (margin > limit / 2)
		margin = limit / 2;
	return limit - margin;
}

int np_memory_guard_open(struct np_memory_guard *g)
{
	memset(g, 0, sizeof(*g));
	g->page_size = sysconf(_SC_PAGESIZE);
	if (g->page_size <= 0)
		g->page_size = 4096;
	g->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (g->statm_fd < 0) {
		np_log(LOG_WARNING, "cannot open /proc/self/statm (%s): no memory bound for new connections",
		       strerror(errno));
		return -1;
	}
	return 0;
}

void np_memory_guard_close(struct np_memory_guard *g)
{
	if (g->statm_fd >= 0)
		close(g->statm_fd);
	g->statm_fd = -1;
}

bool np_memory_usage(struct np_memory_guard *g, int64_t *resident, int64_t *address_space)
{
	char buf[128];
	if (g->statm_fd < 0)
		return false;
	ssize_t n = pread(g->statm_fd, buf, sizeof(buf) - 1, 0);
	uint64_t size = 0, rss = 0;
	if (n <= 0 || !np_memory_parse_statm(buf, (size_t)n, &size, &rss))
		return false;
	*resident = (int64_t)(rss * (uint64_t)g->page_size);
	*address_space = (int64_t)(size * (uint64_t)g->page_size);
	return true;
}

/* The cgroup v2 memory.max of this process, 0 when none or unknown. */
static int64_t cgroup_limit(void)
{
	char text[4096], path[4200], max[64];
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof(text));
	close(fd);
	char rel[4096];
	if (n <= 0 || !np_memory_parse_cgroup_path(text, (size_t)n, rel, sizeof(rel)))
		return 0;
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", strcmp(rel, "/") == 0 ? "" : rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, max, sizeof(max));
	close(fd);
	uint64_t bytes = 0;
	if (n <= 0 || !np_memory_parse_cgroup_max(max, (size_t)n, &bytes) || bytes > INT64_MAX)
		return 0;
	return (int64_t)bytes;
}

static void say(int64_t bytes, char *buf, size_t size)
{
	if (bytes >= 10LL * 1024 * MIB)
		snprintf(buf, size, "%.1f GiB", (double)bytes / (1024.0 * MIB));
	else
		snprintf(buf, size, "%" PRId64 " MiB", bytes / MIB);
}

void np_memory_guard_set(struct np_memory_guard *g, int64_t max_memory, size_t thread_stack, bool log)
{
	int64_t resident = 0, address_space = 0;
	const char *resident_from = "maxMemory";
	if (max_memory > 0) {
		resident = max_memory;
	} else {
		int64_t limit = cgroup_limit();
		if (limit > 0) {
			resident = np_memory_bound_of(limit);
			resident_from = "the cgroup's memory.max less a margin";
		}
	}
	struct rlimit rl;
	int arenas = 0;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <= INT64_MAX) {
		address_space = np_memory_bound_of((int64_t)rl.rlim_cur);
		/* Each malloc() arena reserves 64 MiB of address space (glibc
		 * makes one per thread up to 8 per core): under RLIMIT_AS that
		 * is what runs out first, long before memory.  A quarter of the
		 * limit goes to arenas. */
		arenas = (int)(address_space / 4 / (64LL * MIB));
		if (arenas < 1)
			arenas = 1;
		if (arenas > 64)
			arenas = 64;
		if (log && mallopt(M_ARENA_MAX, arenas) != 1)
			arenas = 0;
	}
	bool changed = atomic_exchange(&g->max_resident, resident) != resident;
	changed |= atomic_exchange(&g->max_address_space, address_space) != address_space;
	atomic_store(&g->reserve, (int64_t)thread_stack + SESSION_SLACK);
	if (g->statm_fd < 0 || !(log || changed))
		return;
	char a[32], b[32];
	if (resident)
		say(resident, a, sizeof(a));
	if (address_space)
		say(address_space, b, sizeof(b));
	if (resident && address_space)
		np_log(LOG_NOTICE, "memory bound: new connections are refused above %s resident (%s) or %s of "
		       "address space (RLIMIT_AS less a margin)", a, resident_from, b);
	else if (resident)
		np_log(LOG_NOTICE, "memory bound: new connections are refused above %s resident (%s)", a,
		       resident_from);
	else if (address_space)
		np_log(LOG_NOTICE, "memory bound: new connections are refused above %s of address space "
		       "(RLIMIT_AS less a margin)", b);
	if (address_space && log && arenas)
		np_log(LOG_NOTICE, "memory bound: malloc() keeps to %d arena%s under RLIMIT_AS", arenas,
		       arenas == 1 ? "" : "s");
	else
		np_log(LOG_NOTICE, "memory bound: none (no maxMemory, cgroup limit or RLIMIT_AS)");
}

const char *np_memory_guard_admit(struct np_memory_guard *g)
{
	const int64_t max_resident = atomic_load_explicit(&g->max_resident, memory_order_relaxed);
	const int64_t max_as = atomic_load_explicit(&g->max_address_space, memory_order_relaxed);
	if (!max_resident && !max_as)
		return NULL;
	int64_t resident, address_space;
	if (!np_memory_usage(g, &resident, &address_space))
		return NULL; /* unreadable: no verdict, as without a bound */
	if (max_resident && resident >= max_resident) {
		/* Freed memory malloc() still holds counts as resident: give
		 * it back (at most once a second) before saying no. */
		int64_t now = np_now_ms(), last = atomic_load(&g->last_trim_ms);
		if (now - last < 1000 || !atomic_compare_exchange_strong(&g->last_trim_ms, &last, now))
			return np_refusal_text[NP_REFUSED_MAX_MEMORY];
		malloc_trim(0);
		if (!np_memory_usage(g, &resident, &address_space) || resident >= max_resident)
			return np_refusal_text[NP_REFUSED_MAX_MEMORY];
	}
	if (max_as && address_space + atomic_load_explicit(&g->reserve, memory_order_relaxed) > max_as)
		return np_refusal_text[NP_REFUSED_ADDRESS_SPACE];
	return NULL;
}
