/*
 * listener.h - the listener and its registry (the Java
 * SocketClientConnectionListener): listening sockets, accepter threads,
 * one thread per connection, and the one place that knows every live
 * session.
 */
#ifndef NP_LISTENER_H
#define NP_LISTENER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr_count.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "npsocket/comm.h"
#include "npsocket/handler.h"
#include "npsocket/socket.h"

struct np_server;
struct np_relay_waiter;
struct np_tls_context;

/* One [Port] section at run time. */
struct np_listener {
	struct np_server *server;
	const struct np_port_conf *conf;
	int fd;                          /* listening socket */
	int bound_port;                  /* the real port (port = 0); names acc:N, conn:N */
	int public_port;                 /* mapToPort, or the bound port */
	const struct np_handler *handler;
	void *handler_state;
	bool handler_started;            /* init() ran: shutdown() is owed */
	pthread_t *accepters;
	int accepters_started;
	atomic_bool priority_warned;
	_Atomic int active;              /* sessions of this port */
};

/* One accepted connection, from accept() to its log line. */
struct np_session {
	uint64_t id;
	struct np_listener *listener;
	const struct np_port_conf *port;
	int fd;
	struct np_socket *socket;
	struct np_tls_context *tls;      /* the port's credentials when it began */
	struct np_comm comm;
	bool comm_ready;
	struct sockaddr_storage peer_addr;
	char peer[NP_ADDRSTRLEN];
	int64_t started_ms;
	const char *protocol;            /* "client", "rapp", "relay", "web", "unknown", "none" */
	char end_reason[192];
	bool accepted;                   /* byte 1 went out */
	bool quiet_end;                  /* EOF before the protocol byte: debug only */
	atomic_bool closed_by_shutdown;  /* set by np_server_stop() */
	struct np_session *prev, *next;  /* registry list, under server->lock */
	struct np_addr_count *addr_slot; /* counted for maxConnectionsPerAddress */
};

/* The registry: the daemon's only mutable shared state. */
struct np_server {
	const struct np_config *config;
	struct np_listener *listeners;
	size_t listener_count;
	int base_nice;                   /* the process's nice value at start */
	struct np_tls_context **tls;     /* one per config->tls[i], under lock */

	pthread_mutex_t lock;            /* guards the fields below */
	pthread_cond_t changed;          /* signalled when a session ends */
	struct np_session *sessions;
	size_t active;
	struct np_addr_counts per_address; /* open connections per (port, address) */
	uint64_t next_id;
	int accepters_running;           /* accepters that reached accept() */
	void *relay_waiters;             /* relay.c: tsearch(3) tree of parties waiting for a joiner */

	atomic_bool stopping;
	_Atomic uint64_t accepted, refused, thread_failures, accept_errors;
	struct np_ratelimit refuse_log, accept_error_log, thread_error_log;
};

/* Sets up the registry; nothing is bound yet.  0, or -1 after logging. */
int np_server_init(struct np_server *server, const struct np_config *config);

/* Binds every port and prepares the handlers; no thread runs yet (the
 * caller may drop privileges next).  0, or -1 after logging why. */
int np_server_open(struct np_server *server);

/* Loads what the configuration names — session-handler modules, every
 * TLS section's certificates and keys — before binding, so a bad file is
 * a configuration error.  0, or -1 after logging why. */
int np_server_prepare(struct np_server *server);

/* SIGHUP: loads every TLS section anew; a section whose files fail keeps
 * its old credentials.  Sessions keep the context they started with. */
void np_server_reload_tls(struct np_server *server);

/* Starts the accepter threads.  0, or -1 after logging why. */
int np_server_start(struct np_server *server);

/* Stops accepting, lets sessions end for timeout_ms, then shuts down the
 * rest and waits for their threads. */
void np_server_stop(struct np_server *server, int timeout_ms);

/* Frees what np_server_open took; no thread may run. */
void np_server_close(struct np_server *server);

#endif
