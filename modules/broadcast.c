/* SPDX-License-Identifier: ISC */
/*
 * broadcast.c - a session-handler module (sessionHandler =
 * module:PATH/broadcast.so): every transaction one session sends is
 * written to every other session of the same port.  The writes happen in
 * the sender's thread onto the other sessions' connections: the comm API
 * serialises them per connection.
 *
 * A session is listed while its callback runs and unlisted before it
 * returns, so a listed session's connection is always open.  The list
 * lock is held while a transaction goes out to all, which keeps every
 * receiver's transactions in one order; a receiver that stops reading
 * slows the senders down to its pace (readTimeout bounds that wait).
 */
#include <pthread.h>
#include <stdlib.h>

#include <npsocket/handler.h>

struct member {
	struct np_session *session;
	struct member *next;
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

static void send_to_others(struct broadcast *b, struct member *self, const struct np_transaction *t)
{
	pthread_mutex_lock(&b->lock);
	for (struct member *m = b->members; m; m = m->next)
		if (m != self)
			/* A failed receiver ends in its own thread; the others go on. */
			(void)np_comm_write_transaction(np_session_comm(m->session), t->payload, t->length);
	pthread_mutex_unlock(&b->lock);
}

static int broadcast_session(void *state, struct np_session *session)
{
	struct broadcast *b = state;
	struct member self = { .session = session };
	struct np_comm *comm = np_session_comm(session);
	struct np_transaction t;

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
	pthread_mutex_unlock(&b->lock);
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
