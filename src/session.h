/* SPDX-License-Identifier: ISC */
/*
 * session.h - one accepted connection, from accept() to its log line:
 * struct np_session, the np_session_* API handlers use
 * (npsocket/handler.h), the snapshot another thread may take of it, the
 * end-of-connection log line, and freeing.
 */
#ifndef NP_SESSION_H
#define NP_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr_count.h"
#include "config.h"
#include "net.h"
#include "npsocket/comm.h"
#include "npsocket/handler.h"
#include "npsocket/socket.h"
#include "proxy.h"

struct np_listener;
struct np_port_counts;
struct np_registry;
struct np_relay;
struct np_tls_context;

/* How far a connection got; each stage makes more of the session
 * readable from another thread (np_session_snapshot()). */
enum np_session_stage {
	NP_STAGE_ADMITTED,  /* counted and listed: id, peer, port, start */
	NP_STAGE_HANDSHAKE, /* + socket and comm: bytes and transactions */
	NP_STAGE_PROTOCOL,  /* + what TLS negotiated; waiting for the protocol byte */
	NP_STAGE_RUNNING,   /* dispatched: a handler, the relay or the web path has it */
};

/* A balancer's PROXY header and what is made of it, for the log line
 * and handlers (allocated only on a port with proxyProtocol). */
struct np_session_proxy {
	struct np_proxy_header header;
	char unique_id[2 * NP_PROXY_UNIQUE_ID_MAX + 1];
	char subject[NP_PROXY_CN_MAX + 4];  /* "CN=..." of a verified client */
	struct np_tls_info tls;             /* from the SSL TLV */
	struct np_proxy_info info;
};

struct np_session {
	uint64_t id;                     /* given by the registry */
	struct np_listener *listener;    /* the listener's own: it accepted it */
	struct np_config *config;        /* referenced: the one it started with */
	const struct np_port_conf *port; /* inside config */
	int public_port;                 /* mapToPort, or the port bound */
	const struct np_handler *handler;
	void *handler_state;
	struct np_relay *relay;          /* where relay parties meet */
	struct np_registry *registry;    /* the daemon's live state (ACME answers) */
	struct np_tls_context *tls;      /* referenced: the port's credentials when it began */
	int fd;                          /* the accepted connection; the socket owns it once made */
	/* Atomic: a WebSocket upgrade replaces it while snapshots read it
	 * (the one replaced lives on under the new one). */
	_Atomic(struct np_socket *) socket;
	struct np_comm comm;             /* ready from NP_STAGE_HANDSHAKE on */
	/* The client; behind a balancer, from its PROXY header (rewritten
	 * under the registry's lock: snapshots read them). */
	struct sockaddr_storage peer_addr;
	char peer[NP_ADDRSTRLEN];
	char via[NP_ADDRSTRLEN];         /* the balancer's address, or "" */
	struct np_session_proxy *proxy;  /* NULL unless a header was read */
	int64_t started_ms;              /* monotonic */
	int64_t started_unix_ms;         /* wall clock, for people */
	_Atomic(const char *) protocol;  /* "client", "rapp", "relay", "web", "unknown", "none" */
	_Atomic(const char *) transport; /* "tcp", or "ws" after a WebSocket upgrade */
	atomic_int stage;                /* enum np_session_stage */
	char end_reason[192];
	char end_cause;                  /* the end code's first letter when a phase knows it, else 0 */
	bool accepted;                   /* byte 1 went out */
	bool quiet_end;                  /* EOF before the protocol byte: debug only */
	_Atomic(const char *) killed;    /* why another thread shut it down, or NULL */
	/* The registry's, under its lock. */
	struct np_session *prev, *next;
	struct np_port_counts *counts;   /* the listener's */
	struct np_addr_count *addr_slot; /* counted for maxConnectionsPerAddress */
	int upstream_fd;                 /* the connection it opened (forward,
					    webUpstream), shut down with it; -1 */
};

/* A copy of what is known of a live session, taken by another thread.
 * The strings stay valid while the registry's lock is held. */
struct np_session_info {
	uint64_t id;
	const char *listener;            /* "Port" or "Port.NAME" */
	int port;
	const char *protocol;
	const char *transport;
	enum np_session_stage stage;
	const char *peer;
	const char *via;                 /* "" when direct */
	int64_t started_unix_ms;
	int64_t idle_ms;                 /* since the last whole transaction either way */
	uint64_t bytes_in, bytes_out;
	uint64_t transactions_in, transactions_out;
	const struct np_tls_info *tls;   /* NULL before the handshake or on a plain port */
};

/* A new session for an accepted fd (the session owns fd from here on),
 * holding a reference to config; NULL when out of memory (fd untouched). */
struct np_session *np_session_new(struct np_config *config, const struct np_port_conf *port, int fd,
				  const struct sockaddr_storage *peer, const char *peer_text);

/* Takes in the balancer's header (the session's own thread, after the
 * registry rewrote the addresses): the TLS facts and the handler's
 * view are made of it.  The session owns proxy from here on. */
void np_session_set_proxy(struct np_session *session, struct np_session_proxy *proxy);

/* Stages and the protocol, published for np_session_snapshot(). */
void np_session_set_stage(struct np_session *session, enum np_session_stage stage);
void np_session_set_protocol(struct np_session *session, const char *protocol);
const char *np_session_protocol(const struct np_session *session);

/* The session's stream is now a WebSocket over the one it had (the
 * comm follows): 0, or -1 with the end reason set. */
int np_session_upgrade_ws(struct np_session *session);

/* What the session moved so far (all 0 before NP_STAGE_HANDSHAKE); safe
 * from any thread while the session lives. */
struct np_session_counts {
	uint64_t bytes_in, bytes_out, transactions_in, transactions_out;
};
void np_session_counts(const struct np_session *session, struct np_session_counts *out);

/* Under the registry's lock (the session cannot be freed meanwhile). */
void np_session_snapshot(const struct np_session *session, struct np_session_info *out);

/* The one line every connection leaves when it ends. */
void np_session_log_end(const struct np_session *session);

/* Closes the connection and frees everything the session holds. */
void np_session_free(struct np_session *session);

#endif
