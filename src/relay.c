/* SPDX-License-Identifier: ISC */
/*
 * relay.c - the Remote Assistance relay (SPEC §3).  The waiter's thread
 * puts it in the relay's tree of waiters and watches its own socket;
 * the joiner's thread takes it out, answers both, and runs the byte pump
 * for the two; the waiter's thread then only waits for the pump to end
 * and writes its own log line.  The tree (tsearch(3), by key) keeps a
 * wait, a join or a leave at O(log n) under the relay's own lock with
 * thousands of parties waiting.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <search.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "pump.h"
#include "relay.h"
#include "session.h"
#include "turn.h"

/* A waiting party, in the tree until a joiner takes it or it gives up. */
struct waiter {
	char key[NP_RELAY_KEY_MAX + 1];
	struct np_session *session;
	enum { RELAY_WAITING, RELAY_PAIRED, RELAY_DONE } state;
	char result[192];                /* how the pump ended, for the waiter's log */
	bool announced;                  /* its client has been answered 2 (waiting) */
	pthread_cond_t changed;          /* announced, or state RELAY_DONE */
};

int np_relay_init(struct np_relay *relay)
{
	relay->waiters = NULL;
	int err = pthread_mutex_init(&relay->lock, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

void np_relay_destroy(struct np_relay *relay)
{
	pthread_mutex_destroy(&relay->lock);
}

int np_relay_parse_header(const unsigned char *payload, size_t length,
			  char key[NP_RELAY_KEY_MAX + 1], const char **why)
{
	if (length < 2) {
		*why = length ? "relay header has no key" : "relay header is empty";
		return 0;
	}
	if (length - 1 > NP_RELAY_KEY_MAX) {
		*why = "relay key longer than 64 bytes";
		return 0;
	}
	if (payload[0] != NP_RELAY_ROLE_WAIT && payload[0] != NP_RELAY_ROLE_JOIN) {
		*why = "relay role is neither 1 (wait) nor 2 (join)";
		return 0;
	}
	for (size_t i = 1; i < length; i++) {
		if (payload[i] < 0x21 || payload[i] > 0x7e) {
			*why = "relay key is not printable ASCII";
			return 0;
		}
	}
	memcpy(key, payload + 1, length - 1);
	key[length - 1] = '\0';
	return payload[0];
}

static void answer(struct np_session *session, unsigned char byte)
{
	if (np_socket_write_all(session->socket, &byte, 1) < 0)
		np_log(LOG_DEBUG, "conn %llu: relay answer %u not delivered: %s",
		       (unsigned long long)session->id, byte, np_socket_write_strerror(session->socket));
}

static int waiter_cmp(const void *a, const void *b)
{
	return strcmp(((const struct waiter *)a)->key, ((const struct waiter *)b)->key);
}

/* Under relay->lock: the waiter for key, or NULL. */
static struct waiter *find_waiter(struct np_relay *relay, const char *key)
{
	struct waiter probe;
	memcpy(probe.key, key, sizeof(probe.key));
	struct waiter **node = tfind(&probe, &relay->waiters, waiter_cmp);
	return node ? *node : NULL;
}

static const char EARLY_DATA[] = "relay refused: waiting party sent data before it was paired";

/* What a readable socket means for a waiter nobody has joined yet; under
 * relay->lock while nobody has taken it, so no joiner reads meanwhile.
 * A byte that came is read: it ends the wait anyway. */
static const char *waiter_early_input(struct np_session *session)
{
	char byte;
	np_socket_set_no_wait(session->socket, true);
	ssize_t n = np_socket_read(session->socket, &byte, 1);
	np_socket_set_no_wait(session->socket, false);
	if (n > 0)
		return EARLY_DATA;
	if (session->socket->rd.error == NP_SOCK_TIMEOUT)
		return NULL; /* spurious wake-up, or a TLS record that came in part */
	return "waiting party left before a joiner came";
}

static void run_waiter(struct np_session *session, const char *key)
{
	struct np_relay *relay = session->relay;
	struct waiter waiter = { .session = session, .state = RELAY_WAITING };
	memcpy(waiter.key, key, sizeof(waiter.key));
	int rc = pthread_cond_init(&waiter.changed, NULL);
	if (rc) {
		answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "relay refused: cannot wait: %s", strerror(rc));
		return;
	}

	pthread_mutex_lock(&relay->lock);
	struct waiter **node = tsearch(&waiter, &relay->waiters, waiter_cmp);
	if (!node || *node != &waiter) {
		pthread_mutex_unlock(&relay->lock);
		pthread_cond_destroy(&waiter.changed);
		answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "%s", node ? "relay refused: key in use by another waiting party"
							       : "relay refused: out of memory for the waiter");
		return;
	}
	pthread_mutex_unlock(&relay->lock);
	answer(session, NP_RELAY_WAITING);

	const int64_t give_up = np_now_ms() + session->port->relay_timeout_ms;
	const char *why = NULL;
	pthread_mutex_lock(&relay->lock);
	/* A joiner that came meanwhile writes its 1 only after our 2. */
	waiter.announced = true;
	pthread_cond_broadcast(&waiter.changed);
	while (waiter.state == RELAY_WAITING && !why) {
		int64_t left = give_up - np_now_ms();
		if (left <= 0) {
			why = "relay refused: no joiner within relayTimeout";
			break;
		}
		if (np_socket_buffered(session->socket) > 0) {
			/* Read ahead with the relay header: poll() cannot see it. */
			why = EARLY_DATA;
			break;
		}
		pthread_mutex_unlock(&relay->lock);
		/* Asleep until the client sends or goes, or relayTimeout.
		 * Once paired, the joiner shuts this socket down when its
		 * pump ends, however it ended (as the daemon's shutdown
		 * does too): that wakes us.  Only the fd is watched: a
		 * joiner may be reading the socket by then. */
		int n = np_socket_poll(session->socket, left > INT_MAX ? INT_MAX : (int)left);
		pthread_mutex_lock(&relay->lock);
		if (waiter.state != RELAY_WAITING)
			break;
		if (n < 0 && errno != EINTR)
			why = "relay: poll failed";
		else if (n > 0)
			why = waiter_early_input(session);
	}
	if (waiter.state == RELAY_WAITING) {
		/* Nobody took it: leave the tree, refuse. */
		tdelete(&waiter, &relay->waiters, waiter_cmp);
		pthread_mutex_unlock(&relay->lock);
		pthread_cond_destroy(&waiter.changed);
		answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "%s", why);
		return;
	}
	np_turn_give(); /* the joiner's thread does the work */
	while (waiter.state != RELAY_DONE)
		pthread_cond_wait(&waiter.changed, &relay->lock);
	pthread_mutex_unlock(&relay->lock);
	np_turn_take();
	pthread_cond_destroy(&waiter.changed);
	np_session_set_end_reason(session, "relay %s", waiter.result);
}

static void run_joiner(struct np_session *session, const char *key)
{
	struct np_relay *relay = session->relay;

	pthread_mutex_lock(&relay->lock);
	struct waiter *waiter = find_waiter(relay, key);
	if (waiter) {
		tdelete(waiter, &relay->waiters, waiter_cmp);
		waiter->state = RELAY_PAIRED;
		/* Its client gets 2 before 1, and one thread at a time
		 * writes to it. */
		while (!waiter->announced)
			pthread_cond_wait(&waiter->changed, &relay->lock);
	}
	pthread_mutex_unlock(&relay->lock);
	if (!waiter) {
		answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "relay refused: no waiting party for the key");
		return;
	}

	struct np_socket *other = waiter->session->socket;
	char result[128];
	const unsigned char paired = NP_RELAY_PAIRED;
	int rc;
	if (np_socket_write_all(other, &paired, 1) < 0) {
		snprintf(result, sizeof(result), "ended: the waiting party is gone (%s)",
			 np_socket_write_strerror(other));
		answer(session, NP_RELAY_REFUSED);
		rc = -1;
	} else if (np_socket_write_all(session->socket, &paired, 1) < 0) {
		snprintf(result, sizeof(result), "ended: the joining party is gone (%s)",
			 np_socket_write_strerror(session->socket));
		np_socket_shutdown(other, SHUT_RDWR);
		rc = -1;
	} else {
		char why[112];
		np_socket_set_timeout(other, session->port->read_timeout_ms);
		rc = np_pump(session->socket, other, session->port->read_timeout_ms,
			     session->port->half_closed_timeout_ms, why, sizeof(why));
		if (rc < 0) {
			snprintf(result, sizeof(result), "ended: %s", why);
			np_socket_shutdown(other, SHUT_RDWR);
			np_socket_shutdown(session->socket, SHUT_RDWR);
		} else {
			snprintf(result, sizeof(result), "ended: both parties closed");
			/* The waiter's thread sleeps on its fd: a close that
			 * was data (a WebSocket's close frame, TLS's
			 * close_notify) leaves nothing there to wake it. */
			np_socket_shutdown(other, SHUT_RDWR);
		}
	}
	np_session_set_end_reason(session, "relay with conn %llu %s",
				  (unsigned long long)waiter->session->id, result);

	pthread_mutex_lock(&relay->lock);
	snprintf(waiter->result, sizeof(waiter->result), "with conn %llu %s",
		 (unsigned long long)session->id, result);
	waiter->state = RELAY_DONE;
	pthread_cond_signal(&waiter->changed);
	pthread_mutex_unlock(&relay->lock);
}

void np_relay_session(struct np_session *session)
{
	struct np_comm *comm = &session->comm;
	struct np_transaction header;
	char key[NP_RELAY_KEY_MAX + 1];
	const char *why = NULL;

	/* The header comes under the same deadline as the protocol byte, and
	 * is never larger than a role byte and a key. */
	size_t saved_max = comm->options.max_transaction_size;
	comm->options.max_transaction_size = 1 + NP_RELAY_KEY_MAX;
	int rc = np_comm_read_transaction(comm, &header);
	comm->options.max_transaction_size = saved_max;
	if (rc < 0) {
		if (comm->error != NP_COMM_IO && comm->error != NP_COMM_CLOSED &&
		    comm->error != NP_COMM_TRUNCATED)
			answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "relay header: %s", comm->error_text);
		return;
	}
	int role = np_relay_parse_header(header.payload, header.length, key, &why);
	if (!role) {
		answer(session, NP_RELAY_REFUSED);
		np_session_set_end_reason(session, "relay refused: %s", why);
		return;
	}
	np_socket_set_deadline(session->socket, 0);
	if (role == NP_RELAY_ROLE_WAIT)
		run_waiter(session, key);
	else
		run_joiner(session, key);
}
