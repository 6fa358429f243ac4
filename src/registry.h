/* SPDX-License-Identifier: ISC */
/*
 * registry.h - the daemon's live state, its only mutable shared state:
 * admission (global, per-port and per-address limits), the list of live
 * sessions, the counters, and what the control path needs of them: a
 * snapshot of every session, ending one by id, a stats snapshot.
 */
#ifndef NP_REGISTRY_H
#define NP_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr_count.h"
#include "memory.h"
#include "session.h"
#include "turn.h"

/* What the registry counts for one listening socket, and what reports
 * say of it: every field under the registry's lock.  The listeners that
 * serve the socket hold references (a reload's new listener shares the
 * one it replaces, so its sessions still count against the limits); it
 * is listed for reports until the last one lets go. */
#define NP_PORT_NAME_MAX 128
struct np_port_counts {
	size_t active;                   /* sessions open on it */
	int max_connections;             /* 0 = none */
	int max_connections_per_address; /* 0 = none */
	char name[NP_PORT_NAME_MAX];     /* "Port.NAME", a copy */
	int port;                        /* as known from outside */
	bool tls;
	int refs;
	int fd;                          /* the listening socket, -1 once closed */
	/* Filled in a report's copy only (TCP_INFO of the socket). */
	unsigned queued, queue_max;      /* connections waiting for accept(), and the backlog */
};

/* What a port's counts say of it. */
struct np_port_facts {
	const char *name;
	int port;
	bool tls;
	int max_connections, max_connections_per_address;
	int fd;
};

/* A certificate a TLS section serves, for reports. */
#define NP_REGISTRY_CERTS_MAX 64
struct np_cert_info {
	char section[64];
	char subject[192];
	int64_t not_after;               /* Unix seconds */
};

/* What ACME says of each certificate it manages, for reports. */
#define NP_REGISTRY_ACME_MAX 32
struct np_acme_info {
	char name[128];                  /* the first name */
	char names[512];                 /* all of them, comma-separated */
	char source[16];                 /* issued, stored, configured, self-signed */
	int64_t not_after, renew_at, next_try; /* Unix seconds, 0 = none */
	int failures;                    /* in a row */
	char last_error[256];
};

/* ACME http-01 answers pending (SPEC §8): a few at a time. */
#define NP_CHALLENGES_MAX 64
#define NP_CHALLENGE_TOKEN_MAX 128
#define NP_CHALLENGE_ANSWER_MAX 256

struct np_challenge {
	char token[NP_CHALLENGE_TOKEN_MAX + 1];
	char answer[NP_CHALLENGE_ANSWER_MAX + 1];  /* the key authorization */
};

/* ACME tls-alpn-01 (RFC 8737) pending: the challenge certificate and key
 * (PEM) a handshake with ALPN acme-tls/1 for the name gets. */
#define NP_ALPN_CHALLENGES_MAX 16
#define NP_ALPN_NAME_MAX 253
struct np_alpn_challenge {
	char name[NP_ALPN_NAME_MAX + 1];
	char *cert, *key;
	size_t cert_len, key_len;
};

/* Why a connection is refused: counted by reason, each with a label for
 * the metrics; the texts are what admission returns and the log says. */
enum np_refusal {
	NP_REFUSED_ADDRESS,              /* allow / deny */
	NP_REFUSED_PROXY_FROM,           /* a balancer outside proxyFrom */
	NP_REFUSED_SERVER_FULL,          /* [Server] maxConnections */
	NP_REFUSED_PORT_FULL,            /* the port's maxConnections */
	NP_REFUSED_ADDRESS_FULL,         /* maxConnectionsPerAddress */
	NP_REFUSED_MEMORY,               /* malloc() failed */
	NP_REFUSED_MAX_MEMORY,           /* resident memory at maxMemory */
	NP_REFUSED_ADDRESS_SPACE,        /* address space near RLIMIT_AS */
	NP_REFUSED_DESCRIPTORS,          /* accept() hit the descriptor limit */
	NP_REFUSALS
};
extern const char *const np_refusal_text[NP_REFUSALS];
extern const char *const np_refusal_label[NP_REFUSALS];

struct np_registry {
	pthread_mutex_t lock;            /* guards the fields up to the counters */
	pthread_cond_t changed;          /* broadcast when a session leaves */
	struct np_session *sessions;
	size_t active;
	struct np_addr_counts per_address; /* open connections per (port, address) */
	uint64_t next_id;
	int max_connections;             /* [Server] maxConnections, 0 = none */
	struct np_challenge challenges[NP_CHALLENGES_MAX];
	size_t challenge_count;
	struct np_alpn_challenge alpn[NP_ALPN_CHALLENGES_MAX];
	size_t alpn_count;
	atomic_size_t alpn_pending;      /* alpn_count, read without the lock */
	/* Where instances sharing ACME's state directory leave the answers
	 * they wait on, for whichever instance the CA reaches; set before
	 * any thread, NULL = none. */
	char *http01_dir, *alpn01_dir;
	struct np_port_counts **ports;   /* every listener's, for reports */
	size_t port_count;
	struct np_cert_info certs[NP_REGISTRY_CERTS_MAX];
	size_t cert_count;
	struct np_acme_info acme[NP_REGISTRY_ACME_MAX];
	size_t acme_count;
	bool acme_used;
	/* Of the sessions that ended: what they moved. */
	uint64_t ended_bytes_in, ended_bytes_out, ended_transactions_in, ended_transactions_out;
	int64_t started_unix;            /* when the registry was made */
	/* Counted without the lock. */
	_Atomic uint64_t accepted, refused, thread_failures, accept_errors;
	_Atomic uint64_t refused_by[NP_REFUSALS];
	_Atomic uint64_t handshakes_ok, handshakes_failed; /* TLS */
	_Atomic uint64_t reloads_ok, reloads_failed;
	/* The control socket's `drain`: the agent-check says drain. */
	atomic_bool draining;
	struct np_memory_guard memory;   /* maxMemory: admission by memory (memory.h) */
	struct np_turns turns;           /* runningThreads (turn.h) */
};

struct np_registry_stats {
	size_t active;
	int max_connections;             /* [Server] maxConnections now */
	uint64_t sessions_total;         /* ids given out */
	uint64_t accepted, refused, thread_failures, accept_errors;
	uint64_t refused_by[NP_REFUSALS];
	uint64_t handshakes_ok, handshakes_failed;
	uint64_t reloads_ok, reloads_failed;
	uint64_t ended_bytes_in, ended_bytes_out, ended_transactions_in, ended_transactions_out;
	int64_t started_unix;
	int running_threads;             /* [Server] runningThreads now, 0 = no bound */
	uint64_t turn_waits, turn_stalls;
};

/* 0, or -1 after logging why. */
int np_registry_init(struct np_registry *reg, int max_connections);
/* No session may be left. */
void np_registry_destroy(struct np_registry *reg);

/* Counts the session in (an id, the list, the limits of its port and,
 * with per_address, of its address) and returns NULL, or returns why it
 * is refused. */
const char *np_registry_admit(struct np_registry *reg, struct np_session *session, struct np_port_counts *counts,
			      bool per_address);

/* Behind a balancer (proxyProtocol): the session's client is `client`
 * (text as np_net_format() writes it), and it came through `via`.  The
 * addresses are rewritten under the lock and the client's address is
 * counted for maxConnectionsPerAddress.  NULL, or why it is refused (the
 * addresses are rewritten all the same, for the log line). */
const char *np_registry_readdress(struct np_registry *reg, struct np_session *session,
				  const struct sockaddr_storage *client, const char *client_text, const char *via);

/* One connection refused, for why (one of np_refusal_text); returns its
 * reason. */
enum np_refusal np_registry_refused(struct np_registry *reg, const char *why);

/* The session ended: out of the list and the counts. */
void np_registry_remove(struct np_registry *reg, struct np_session *session);

/* Calls fn with a snapshot of each live session, under the lock: fn
 * copies what it needs and never blocks.  Returns how many. */
size_t np_registry_foreach(struct np_registry *reg,
			   void (*fn)(const struct np_session_info *info, void *arg), void *arg);

/* Shuts the connection of session `id` down under its thread, which then
 * ends it with `why` before its reason in the log line.  0, or -1 when
 * there is no such session. */
int np_registry_kill(struct np_registry *reg, uint64_t id, const char *why);

/* The connection a session opened (fd, or -1 before the session closes
 * it): killing the session shuts it down too, so a thread that waits on
 * it alone (a relay to a silent upstream) ends. */
void np_registry_set_upstream(struct np_registry *reg, struct np_session *session, int fd);

/* The same for every live session; returns how many. */
size_t np_registry_kill_all(struct np_registry *reg, const char *why);

/* The same for every session whose client (peer) is in range; returns
 * how many. */
struct np_cidr;
size_t np_registry_kill_address(struct np_registry *reg, const struct np_cidr *range, const char *why);

/* Waits until no session is left or timeout_ms passed; returns how many
 * are left. */
size_t np_registry_wait_empty(struct np_registry *reg, int timeout_ms);

void np_registry_stats(struct np_registry *reg, struct np_registry_stats *out);

/* ACME http-01: the answer (key authorization) for a token, served at
 * /.well-known/acme-challenge/TOKEN on every port while it is set.  A
 * token is base64url (RFC 8555 8.3), at most NP_CHALLENGE_TOKEN_MAX; an
 * answer of printable ASCII.  answer NULL removes the token.  0, or -1
 * when refused (malformed, or NP_CHALLENGES_MAX pending). */
int np_registry_challenge_set(struct np_registry *reg, const char *token, const char *answer);

/* [Server] maxConnections, changed by a reload: new admissions only. */
void np_registry_set_max_connections(struct np_registry *reg, int max_connections);

/* A listening socket's counts, listed for reports, holding one reference;
 * NULL when out of memory. */
struct np_port_counts *np_registry_port_new(struct np_registry *reg, const struct np_port_facts *facts);
/* One more holder (a reload's listener taking over the socket). */
void np_registry_port_ref(struct np_registry *reg, struct np_port_counts *counts);
/* What a reload changed of it: new admissions see it. */
void np_registry_port_update(struct np_registry *reg, struct np_port_counts *counts,
			     const struct np_port_facts *facts);
/* Its socket is closed (a reload removed the port): reports stop asking it. */
void np_registry_port_closed(struct np_registry *reg, struct np_port_counts *counts);
/* One holder less; the last takes it off the list and frees it. */
void np_registry_port_unref(struct np_registry *reg, struct np_port_counts *counts);

/* Calls fn for each listed port under the lock (fn copies, never blocks). */
void np_registry_foreach_port(struct np_registry *reg, void (*fn)(const struct np_port_counts *port, void *arg),
			      void *arg);

/* The certificates a TLS section serves now, replacing what was said of
 * it before (at start, on reload, when ACME installs one). */
void np_registry_set_certs(struct np_registry *reg, const char *section, const struct np_cert_info *certs,
			   size_t count);

/* The same, from what a TLS context serves (at most 16). */
struct np_tls_context;
void np_registry_publish_certs(struct np_registry *reg, const char *section, struct np_tls_context *ctx);

/* ACME's certificates now (all of them, replacing what was said). */
void np_registry_set_acme(struct np_registry *reg, const struct np_acme_info *info, size_t count);
/* Copies up to max into out; returns how many; *used whether ACME runs. */
size_t np_registry_acme(struct np_registry *reg, struct np_acme_info *out, size_t max, bool *used);

/* Copies up to max certificates into out; returns how many. */
size_t np_registry_certs(struct np_registry *reg, struct np_cert_info *out, size_t max);

/* The shared answer directories (copied): http01/TOKEN holds a key
 * authorization, alpn01/NAME.crt and NAME.key a challenge pair.  Before
 * any thread.  0, or -1 when out of memory. */
int np_registry_set_challenge_dirs(struct np_registry *reg, const char *http01, const char *alpn01);

/* tls-alpn-01: the certificate and key (PEM, copied) for name; cert NULL
 * removes it.  0, or -1 when full or out of memory. */
int np_registry_alpn_set(struct np_registry *reg, const char *name, const char *cert, size_t cert_len,
			 const char *key, size_t key_len);
/* Copies (malloc'd) of the pair for name (case-insensitive): true when
 * there is one. */
bool np_registry_alpn_get(struct np_registry *reg, const char *name, char **cert, size_t *cert_len, char **key,
			  size_t *key_len);

/* Whether any answer is set. */
bool np_registry_challenges_pending(struct np_registry *reg);

/* Copies the answer for token into out (NP_CHALLENGE_ANSWER_MAX + 1
 * bytes); true when there is one. */
bool np_registry_challenge_get(struct np_registry *reg, const char *token, size_t token_len, char *out);

/* Logs the counters and one line per live session, each line starting
 * with `why` ("SIGUSR1"). */
void np_registry_log(struct np_registry *reg, const char *why);

#endif
