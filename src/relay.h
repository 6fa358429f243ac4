/* SPDX-License-Identifier: ISC */
/*
 * relay.h - the Remote Assistance relay (protocol byte 2; the Java
 * RemoteAssistanceServer.startRelay()): a waiting party and a joining
 * party meet by relay key, then bytes flow untouched both ways.  Parties
 * meet in a struct np_relay, under a lock of its own.
 */
#ifndef NP_RELAY_H
#define NP_RELAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define NP_RELAY_KEY_MAX 64

/* The relay's answers (one byte each). */
enum np_relay_answer {
	NP_RELAY_REFUSED = 0,
	NP_RELAY_PAIRED = 1,
	NP_RELAY_WAITING = 2,
};

/* The roles in the header's first byte. */
enum np_relay_role {
	NP_RELAY_ROLE_WAIT = 1,
	NP_RELAY_ROLE_JOIN = 2,
};

struct np_session;

/* Where parties meet: the waiting ones in a tsearch(3) tree by key. */
struct np_relay {
	pthread_mutex_t lock;
	void *waiters;
};

/* 0, or -1 with errno set. */
int np_relay_init(struct np_relay *relay);
/* No party may be left. */
void np_relay_destroy(struct np_relay *relay);

/* Checks a relay header (role byte + key); returns the role, or 0 with
 * the reason in why. */
int np_relay_parse_header(const unsigned char *payload, size_t length,
			  char key[NP_RELAY_KEY_MAX + 1], const char **why);

/* Runs the relay sub-protocol for a session whose protocol byte was 2,
 * in session->relay. */
void np_relay_session(struct np_session *session);

#endif
