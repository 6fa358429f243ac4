/* SPDX-License-Identifier: ISC */
/*
 * turn.h - at most runningThreads connection threads running at once,
 * the others waiting their turn in arrival order.
 *
 * With a thread per connection and many more busy connections than
 * cores, the kernel's scheduler decides who runs next, and on Linux's
 * EEVDF a thread that was charged a long run (softirq work done in its
 * context: on loopback the peer's receive) must wait until the average
 * of a thousand runnable threads catches up: answers that take over a
 * second.  A connection thread holds a turn while it works and gives it
 * back before it waits for its socket (or a relay partner, or the
 * inflate rate); taking it again, it queues behind those that asked
 * first.  So only a few threads are runnable at a time, served first
 * come, first served.
 *
 * Turns are tickets: taking one draws the next number, and number n may
 * run once `granted` is past it; giving one back moves `granted` on by
 * one and wakes the holder of the number that now may run.  Without a
 * line, a take and a give are one atomic operation each and no system
 * call.  A waiter sleeps on a futex word of its number's slot.
 *
 * A thread that waits for a turn while none has been given back for
 * NP_TURN_STALL_MS (every holder stuck in something that does not give
 * its turn: a module's blocking call, a lock) runs without one; its
 * number, when it comes up, lets the next one run instead, so the count
 * heals.  Only threads that joined take turns; any other (accepters,
 * npcat, a module's own thread) runs as it is.
 */
#ifndef NP_TURN_H
#define NP_TURN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "npsocket/socket.h"

#define NP_TURN_STALL_MS 50
/* A waiter looks whether turns stalled after NP_TURN_STALL_MS when it is
 * next in line, and after one more NP_TURN_STALL_MS for every
 * NP_TURN_STALL_SPREAD numbers ahead of it, up to NP_TURN_FAR_WAIT_MS:
 * 15,000 sessions woken at once (a mass disconnect) are then some 15,000
 * timed wake-ups a second, not 300,000 that left no CPU for the turns
 * themselves (draining 15,000 TLS sessions took 40 s). */
#define NP_TURN_STALL_SPREAD 64
#define NP_TURN_FAR_WAIT_MS 1000
/* Numbers NP_TURN_SLOTS apart share a futex word, and a wake wakes all
 * its waiters: as many slots as sessions a process holds here. */
#define NP_TURN_SLOTS 16384

struct np_turns {
	_Atomic uint64_t next;            /* the next number drawn */
	_Atomic uint64_t granted;         /* numbers below it may run */
	_Atomic int limit;                /* 0: no gate, nobody waits */
	_Atomic int64_t last_give_ms;
	_Atomic uint64_t waits;           /* takes that had to wait */
	_Atomic uint64_t stalls;          /* waiters that ran without a turn */
	_Atomic uint32_t slot[NP_TURN_SLOTS]; /* futex words, by number */
};

void np_turns_init(struct np_turns *t, int limit);
/* A new limit (a reload); 0 lets everyone run. */
void np_turns_set_limit(struct np_turns *t, int limit);
/* Linux (6.16 on) gives a process with threads a futex hash of its own,
 * sized by its CPUs: 16 buckets on 2.  A thousand connection threads in
 * line for their turns are then some 60 waiters a bucket, and every wake
 * and wait walks and locks the bucket's chain (futex_wake alone was 8 % of
 * the daemon's samples with 1,000 busy TLS sessions on 2 CPUs; 1.6 % with
 * the hash below).  This sizes it at one bucket per 4 connections the
 * process can hold (64 bytes each, from NP_FUTEX_SLOTS_MIN to
 * NP_FUTEX_SLOTS_MAX buckets).  A kernel without the call keeps its one
 * hash for all processes, which is large. */
#define NP_FUTEX_SLOTS_MIN 256
#define NP_FUTEX_SLOTS_MAX 16384
void np_turns_size_futex_hash(unsigned long long connections);
/* What a limit of 0 in the configuration means: one per CPU the process
 * may run on.  More let threads that were woken by their data (not by a
 * turn: sessions that were idle) starve: with 1,000 idle TLS sessions
 * answering at once on one core, 4 turns kept the slowest first answer
 * at 150 ms to 1.6 s in 6 of 12 runs, 1 turn at 32-56 ms in 11 of 12, at
 * the same transactions a second and p99 (npsocketd.ini(5)). */
int np_turns_auto(void);

/* The calling thread takes turns from t from now on (NULL: no more). */
void np_turn_join(struct np_turns *t);
/* np_turn_take() (npsocket/socket.h) takes a turn, waiting in line for
 * one, at once when held already; np_turn_give() gives it back, if held,
 * and wakes the next in line. */
/* A reader about to wait for its socket while others wait in line: it
 * gives its turn and queues at once for the next, and returns true; by
 * the time its number comes up its data has usually come, so it reads
 * without waiting (and without being woken for the data first).  False,
 * and nothing done, when nobody waits or no turn is held: then give,
 * wait, take. */
bool np_turn_requeue(void);
/* np_socket_wait(s, POLLIN) for a reader that has just stood in line for
 * its turn (np_turn_requeue(), or a recv() that gave it back): it polls
 * without queueing again (socket.c). */
int np_socket_wait_queued(struct np_socket *s);

/* poll() with the turn given back while it waits (not for timeout 0). */
int np_turn_poll(struct pollfd *pfd, nfds_t n, int timeout_ms);

/* pread() that gives the turn back while the disk is read: tried first
 * with RWF_NOWAIT, which takes only what the page cache holds; the rest
 * (or all, where the file system does not know RWF_NOWAIT) is read with
 * the turn given back.  Short only at the end of the file, as pread(). */
ssize_t np_turn_pread(int fd, void *buf, size_t len, off_t offset);

/* sendmsg() that, when the kernel's buffer is full and it would block,
 * gives the turn back while it waits (tried first with MSG_DONTWAIT; a
 * non-blocking fd gets its EAGAIN as ever). */
ssize_t np_turn_sendmsg(int fd, const struct msghdr *msg, int flags);

#endif
