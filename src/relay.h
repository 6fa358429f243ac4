/*
 * relay.h - the Remote Assistance relay (protocol byte 2; the Java
 * RemoteAssistanceServer.startRelay()): a waiting party and a joining
 * party meet by relay key, then bytes flow untouched both ways.
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

/* A waiting party, in the registry's tree of waiters (tsearch(3), by
 * key) until a joiner takes it or it gives up. */
struct np_relay_waiter {
	char key[NP_RELAY_KEY_MAX + 1];
	struct np_session *session;
	enum { RELAY_WAITING, RELAY_PAIRED, RELAY_DONE } state;
	char result[192];                /* how the pump ended, for the waiter's log */
	bool announced;                  /* its client has been answered 2 (waiting) */
	pthread_cond_t changed;          /* announced, or state RELAY_DONE */
};

/* Checks a relay header (role byte + key); returns the role, or 0 with
 * the reason in why. */
int np_relay_parse_header(const unsigned char *payload, size_t length,
			  char key[NP_RELAY_KEY_MAX + 1], const char **why);

/* Runs the relay sub-protocol for a session whose protocol byte was 2. */
void np_relay_session(struct np_session *session);

#endif
