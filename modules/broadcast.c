/* SPDX-License-Identifier: ISC */
/*
 * broadcast.c - a session-handler module (sessionHandler =
 * module:PATH/broadcast.so): every transaction one session sends is
 * written to every other session of the same port.
 *
 * What it shows module authors: never write to another connection while
 * holding a lock others need.  A sender only copies its transaction into
 * each receiver's queue under the list lock; each member has a writer
 * thread of its own that sends what its queue holds, outside any lock.
 * A receiver whose queue is full (QUEUE_MAX bytes) makes the sender wait
 * for room, with the lock released, so joins, other senders and other
 * receivers go on; one that makes no room for STALL_MS (it stopped
 * reading) is dropped: its connection is shut down and its session ends
 * with a reason.  Each receiver gets each sender's transactions in the
 * order that sender sent them.
 *
 * Memory per member: its writer thread and at most QUEUE_MAX bytes queued
 * (or one larger transaction).  A session is listed while its callback
 * runs; before it returns it is unlisted, its writer joined, and no
 * sender still waits on it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <npsocket/handler.h>

#define QUEUE_MAX (4u * 1024 * 1024)
#define STALL_MS 5000

struct item {
	struct item *next;
	size_t length;
	unsigned char payload[];
};

struct member {
	struct np_session *session;
	struct member *next;          /* in the list, under the list lock */
	/* The queue, under the list lock too. */
	struct item *head, **tail;
	size_t queued;                /* bytes waiting */
	bool leaving;                 /* the session's thread is done reading */
	bool dropped;                 /* it stopped taking its transactions */
	int users;                    /* senders waiting for room in its queue */
	pthread_cond_t changed;       /* queued, sent, leaving, dropped, users */
	pthread_t writer;
};

struct broadcast {
	pthread_mutex_t lock;
	struct member *members;
};

static int broadcast_init(const struct np_handler_env *env, void **state)
{
	(void)env;
	struct broadcast *b = calloc(1, sizeof(*b));
	if (!b || pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b);
		return -1;
	}
	*state = b;
	return 0;
}

static void broadcast_shutdown(void *state)
{
	struct broadcast *b = state;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Under the list lock: the receiver is too far behind; its connection is
 * shut down, which ends its reader, and its queue goes. */
static void drop(struct member *m)
{
	m->dropped = true;
	np_socket_shutdown(np_session_comm(m->session)->socket, SHUT_RDWR);
	pthread_cond_broadcast(&m->changed);
}

/* Under the list lock: a copy of t at the end of m's queue. */
static void enqueue(struct member *m, const struct np_transaction *t)
{
	struct item *it = malloc(sizeof(*it) + t->length);
	if (!it) {
		drop(m);
		return;
	}
	it->next = NULL;
	it->length = t->length;
	memcpy(it->payload, t->payload, t->length);
	*m->tail = it;
	m->tail = &it->next;
	m->queued += t->length;
	pthread_cond_broadcast(&m->changed);
}

static bool full(const struct member *m, size_t length)
{
	return m->queued > 0 && m->queued + length > QUEUE_MAX;
}

static void send_to_others(struct broadcast *b, struct member *self, const struct np_transaction *t)
{
	pthread_mutex_lock(&b->lock);
	size_t count = 0, waiting = 0;
	for (struct member *m = b->members; m; m = m->next)
		count++;
	struct member **later = malloc(count * sizeof(*later));
	for (struct member *m = b->members; m; m = m->next) {
		if (m == self || m->dropped)
			continue;
		if (!full(m, t->length))
			enqueue(m, t);
		else if (!later)
			drop(m); /* no memory to wait for it */
		else
			later[waiting++] = m, m->users++;
	}
	/* The full ones: wait for room (the lock is released meanwhile), at
	 * most STALL_MS each. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += STALL_MS / 1000;
	if (waiting)
		np_turn_give(); /* others run while this one waits */
	for (size_t i = 0; i < waiting; i++) {
		struct member *m = later[i];
		while (!m->dropped && !m->leaving && full(m, t->length))
			if (pthread_cond_timedwait(&m->changed, &b->lock, &until) == ETIMEDOUT) {
				if (full(m, t->length) && !m->dropped)
					drop(m);
				break;
			}
		if (!m->dropped && !m->leaving)
			enqueue(m, t);
		if (--m->users == 0)
			pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&b->lock);
	if (waiting)
		np_turn_take();
	free(later);
}

struct writer_arg {
	struct broadcast *b;
	struct member *m;
};

/* Sends the member's queue, one transaction at a time, outside the lock. */
static void *writer_main(void *arg)
{
	struct broadcast *b = ((struct writer_arg *)arg)->b;
	struct member *m = ((struct writer_arg *)arg)->m;
	free(arg);
	struct np_comm *comm = np_session_comm(m->session);
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (!m->head && !m->leaving && !m->dropped)
			pthread_cond_wait(&m->changed, &b->lock);
		if (m->dropped || !m->head)
			break;
		struct item *it = m->head;
		m->head = it->next;
		if (!m->head)
			m->tail = &m->head;
		pthread_mutex_unlock(&b->lock);
		/* The daemon's writeTimeout bounds this; a failure shuts the
		 * connection down, and the reader ends the session. */
		int rc = np_comm_write_transaction(comm, it->payload, it->length);
		pthread_mutex_lock(&b->lock);
		m->queued -= it->length;
		pthread_cond_broadcast(&m->changed); /* room for a waiting sender */
		free(it);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void free_queue(struct member *m)
{
	while (m->head) {
		struct item *it = m->head;
		m->head = it->next;
		free(it);
	}
}

static int broadcast_session(void *state, struct np_session *session)
{
	struct broadcast *b = state;
	struct member self = { .session = session };
	self.tail = &self.head;
	struct np_comm *comm = np_session_comm(session);
	struct np_transaction t;

	struct writer_arg *arg = malloc(sizeof(*arg));
	if (!arg || pthread_cond_init(&self.changed, NULL) != 0) {
		free(arg);
		np_session_set_end_reason(session, "broadcast: out of memory");
		return -1;
	}
	*arg = (struct writer_arg){ b, &self };
	if (pthread_create(&self.writer, NULL, writer_main, arg) != 0) {
		free(arg);
		pthread_cond_destroy(&self.changed);
		np_session_set_end_reason(session, "broadcast: cannot start the member's writer thread");
		return -1;
	}

	/* Listed and answered 1 under the list lock: a client that has its
	 * answer receives every transaction sent after it, and nothing can
	 * reach it before the answer. */
	pthread_mutex_lock(&b->lock);
	self.next = b->members;
	b->members = &self;
	int accepted = np_session_accept(session);
	pthread_mutex_unlock(&b->lock);

	while (accepted == 0 && np_comm_read_transaction(comm, &t) == 0)
		send_to_others(b, &self, &t);

	pthread_mutex_lock(&b->lock);
	for (struct member **m = &b->members; *m; m = &(*m)->next)
		if (*m == &self) {
			*m = self.next;
			break;
		}
	self.leaving = true;
	pthread_cond_broadcast(&self.changed);
	/* No sender may still wait on this member once it is gone. */
	np_turn_give();
	while (self.users > 0)
		pthread_cond_wait(&self.changed, &b->lock);
	bool dropped = self.dropped;
	pthread_mutex_unlock(&b->lock);
	pthread_join(self.writer, NULL);
	np_turn_take();
	free_queue(&self);
	pthread_cond_destroy(&self.changed);
	if (dropped) {
		np_session_set_end_reason(session, "broadcast: dropped, more than %u bytes behind the others",
					  QUEUE_MAX);
		return -1;
	}
	return comm->error == NP_COMM_CLOSED ? 0 : -1;
}

const struct np_handler np_handler_descriptor = {
	.abi_version = NP_HANDLER_ABI_VERSION,
	.flags = NP_HANDLER_ANSWERS_ITSELF,
	.name = "broadcast",
	.init = broadcast_init,
	.shutdown = broadcast_shutdown,
	.on_client_connect = broadcast_session,
	.on_remote_application_connect = broadcast_session,
};
