/* SPDX-License-Identifier: ISC */
/*
 * turn.c - see turn.h.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "npsocket/socket.h"
#include "turn.h"

/* Linux 6.16's process-private futex hash (linux/prctl.h of older
 * headers lacks it). */
#ifndef PR_FUTEX_HASH
#define PR_FUTEX_HASH 78
#define PR_FUTEX_HASH_SET_SLOTS 1
#endif

static _Thread_local struct np_turns *joined;
static _Thread_local bool held;

static void futex_wait(_Atomic uint32_t *word, uint32_t value, int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	/* EAGAIN (changed already), EINTR, ETIMEDOUT: the caller looks again. */
	(void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, &ts, NULL, 0);
}

/* All on the slot: numbers NP_TURN_SLOTS apart share it, and each looks
 * whether it was its own. */
static void futex_wake(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void np_turns_init(struct np_turns *t, int limit)
{
	atomic_init(&t->next, 0);
	atomic_init(&t->granted, (uint64_t)(limit > 0 ? limit : 0));
	atomic_init(&t->limit, limit > 0 ? limit : 0);
	atomic_init(&t->last_give_ms, np_now_ms());
	atomic_init(&t->waits, 0);
	atomic_init(&t->stalls, 0);
	for (size_t i = 0; i < NP_TURN_SLOTS; i++)
		atomic_init(&t->slot[i], 0);
}

/* Number n may run now: its slot changes and its waiter wakes. */
static void wake_number(struct np_turns *t, uint64_t n)
{
	_Atomic uint32_t *w = &t->slot[n % NP_TURN_SLOTS];
	atomic_fetch_add_explicit(w, 1, memory_order_release);
	int err = errno; /* np_turn_give() keeps it */
	futex_wake(w);
	errno = err;
}

void np_turns_set_limit(struct np_turns *t, int limit)
{
	if (limit < 0)
		limit = 0;
	int old = atomic_exchange(&t->limit, limit);
	if (limit == 0) {
		/* Everyone in line runs now. */
		uint64_t next = atomic_load(&t->next);
		for (uint64_t n = atomic_exchange(&t->granted, next); n < next; n++)
			wake_number(t, n);
		return;
	}
	if (old == 0) {
		/* From no gate: those running now are not counted. */
		atomic_store(&t->granted, atomic_load(&t->next) + (uint64_t)limit);
		return;
	}
	if (limit > old) {
		uint64_t from = atomic_fetch_add(&t->granted, (uint64_t)(limit - old));
		uint64_t next = atomic_load(&t->next);
		for (uint64_t n = from; n < from + (uint64_t)(limit - old) && n < next; n++)
			wake_number(t, n);
	} else if (limit < old) {
		atomic_fetch_sub(&t->granted, (uint64_t)(old - limit));
	}
}

void np_turns_size_futex_hash(unsigned long long connections)
{
	unsigned long slots = NP_FUTEX_SLOTS_MIN;
	while (slots < NP_FUTEX_SLOTS_MAX && slots * 4 < connections)
		slots *= 2;
	if (prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, slots, 0, 0) == 0)
		np_log(LOG_DEBUG, "futex hash: %lu buckets for %llu connections", slots, connections);
	else if (errno == EINVAL)
		np_log(LOG_DEBUG, "futex hash: the kernel keeps one for all processes (prctl: %s)", strerror(errno));
	else
		np_log(LOG_WARNING, "futex hash of %lu buckets not set: prctl(PR_FUTEX_HASH): %s", slots,
		       strerror(errno));
}

int np_turns_auto(void)
{
	cpu_set_t set;
	int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
	if (cpus <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n > 0 ? (int)n : 1;
	}
	return cpus;
}

void np_turn_join(struct np_turns *t)
{
	np_turn_give();
	joined = t;
}

/* Whether number n may run (granted is past it; both only grow, but for
 * a lowered limit). */
static bool may_run(struct np_turns *t, uint64_t n)
{
	return atomic_load_explicit(&t->granted, memory_order_acquire) > n;
}

/* How long number n sleeps before it looks whether turns stalled: the
 * further back in line, the longer (turn.h). */
static int stall_check_ms(struct np_turns *t, uint64_t n)
{
	uint64_t granted = atomic_load_explicit(&t->granted, memory_order_relaxed);
	uint64_t behind = n > granted ? n - granted : 0;
	uint64_t ms = NP_TURN_STALL_MS * (1 + behind / NP_TURN_STALL_SPREAD);
	return ms < NP_TURN_FAR_WAIT_MS ? (int)ms : NP_TURN_FAR_WAIT_MS;
}

/* Waits until number n may run (or nobody gives turns back); errno may
 * change. */
static void wait_for(struct np_turns *t, uint64_t n)
{
	atomic_fetch_add_explicit(&t->waits, 1, memory_order_relaxed);
	_Atomic uint32_t *w = &t->slot[n % NP_TURN_SLOTS];
	for (;;) {
		uint32_t seen = atomic_load_explicit(w, memory_order_acquire);
		if (may_run(t, n))
			return;
		futex_wait(w, seen, stall_check_ms(t, n));
		if (may_run(t, n))
			return;
		if (np_now_ms() - atomic_load_explicit(&t->last_give_ms, memory_order_relaxed) >= NP_TURN_STALL_MS) {
			/* Nobody gave a turn back for a while: run, and give
			 * back as if held (number n, when it comes up, is
			 * given on at once by nobody: the count heals). */
			atomic_fetch_add_explicit(&t->stalls, 1, memory_order_relaxed);
			return;
		}
	}
}

void np_turn_take(void)
{
	struct np_turns *t = joined;
	if (!t || held || atomic_load_explicit(&t->limit, memory_order_relaxed) == 0)
		return;
	held = true;
	/* seq_cst: against give()'s add to granted and look at next. */
	uint64_t n = atomic_fetch_add(&t->next, 1);
	if (atomic_load(&t->granted) > n)
		return;
	/* Callers take their turn after a system call whose errno they
	 * read next. */
	int err = errno;
	wait_for(t, n);
	errno = err;
}

void np_turn_give(void)
{
	struct np_turns *t = joined;
	if (!t || !held)
		return;
	held = false;
	if (atomic_load_explicit(&t->limit, memory_order_relaxed) == 0)
		return;
	atomic_store_explicit(&t->last_give_ms, np_now_ms(), memory_order_relaxed);
	/* seq_cst: against take()'s draw and look at granted. */
	uint64_t n = atomic_fetch_add(&t->granted, 1);
	/* Number n may run now: wake it if it was drawn. */
	if (n < atomic_load(&t->next))
		wake_number(t, n);
}

bool np_turn_requeue(void)
{
	struct np_turns *t = joined;
	if (!t || !held || atomic_load(&t->next) <= atomic_load(&t->granted))
		return false;
	np_turn_give();
	np_turn_take();
	return true;
}

int np_turn_poll(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	if (timeout_ms == 0)
		return poll(pfd, n, 0);
	np_turn_give();
	int rc = poll(pfd, n, timeout_ms);
	np_turn_take();
	return rc;
}

ssize_t np_turn_pread(int fd, void *buf, size_t len, off_t offset)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	ssize_t n = preadv2(fd, &iov, 1, offset, RWF_NOWAIT);
	if (n == (ssize_t)len || n == 0 ||
	    (n < 0 && errno != EAGAIN && errno != EOPNOTSUPP && errno != EINVAL))
		return n; /* all of it, the end of the file, or a failure of its own */
	size_t got = n > 0 ? (size_t)n : 0;
	np_turn_give();
	ssize_t more = pread(fd, (char *)buf + got, len - got, offset + (off_t)got);
	np_turn_take();
	if (more < 0)
		return got ? (ssize_t)got : -1;
	return (ssize_t)(got + (size_t)more);
}

ssize_t np_turn_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = sendmsg(fd, msg, flags | MSG_DONTWAIT);
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) || (flags & MSG_DONTWAIT))
		return n;
	np_turn_give();
	n = sendmsg(fd, msg, flags);
	np_turn_take();
	return n;
}
