/* SPDX-License-Identifier: ISC */
/*
 * listener.h - the listener (the Java SocketClientConnectionListener):
 * listening sockets, accepter threads, one thread per connection running
 * the connection's phases, start and stop.  The live state it shares
 * with every thread is the registry's (registry.h).
 */
#ifndef NP_LISTENER_H
#define NP_LISTENER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "npsocket/handler.h"
#include "registry.h"
#include "relay.h"
#include "socket_tls.h"
#include "upgrade.h"

/* The signal that wakes a thread blocked in accept(): only accepting
 * threads take it (np_accepter_thread_setup()); shutdown(2) cannot be
 * used, as a listening socket may be another instance's too. */
#define NP_WAKE_SIGNAL SIGUSR2

struct np_acme;
struct np_agent;
struct np_control;
struct np_server;
struct np_tls_context;

/*
 * One [Port] section at run time.  A reload makes a new listener for
 * every section of the new configuration (one whose socket is already
 * open takes that socket over) and retires the old ones: they stop
 * accepting at once and are freed, with their handler's shutdown(), by
 * the main thread once the last session they started has ended.
 */
struct np_listener {
	struct np_server *server;
	struct np_config *config;        /* referenced: the one it was made from */
	const struct np_port_conf *conf; /* inside config */
	int fd;                          /* listening socket */
	bool owns_fd;                    /* false once a successor took the socket over */
	int bound_port;                  /* the real port (port = 0); names acc:N, conn:N */
	int public_port;                 /* mapToPort, or the bound port */
	const struct np_handler *handler;
	void *handler_state;
	bool handler_started;            /* init() ran: shutdown() is owed */
	struct np_handler_env env;       /* the handler's; a module may keep it */
	struct np_tls_context *tls;      /* what new sessions take; under server->lock */
	pthread_t *accepters;
	int accepters_started;
	atomic_bool retired;             /* its accepters stop */
	atomic_bool priority_warned;
	atomic_size_t sessions;          /* admitted, whose thread has not yet let go */
	struct np_port_counts *counts;   /* the registry's; shared with the one it replaced */
	struct np_listener *next_retired;
};

/* Who provides a TLS section's credentials instead of its files (ACME,
 * for the sections it manages): a referenced context, or NULL. */
struct np_tls_provider {
	struct np_tls_context *(*context_for)(void *arg, const struct np_tls_conf *tls);
	void *arg;
};

struct np_server {
	/* The configuration in force, referenced.  Only the main thread
	 * reads it (a reload swaps it there); every other thread reads its
	 * listener's or its session's. */
	struct np_config *config;
	int base_nice;                   /* the process's nice value at start */
	struct np_registry registry;     /* the live sessions */
	struct np_relay relay;           /* where relay parties meet */

	pthread_mutex_t lock;            /* guards listeners, listener_count, each
					  * listener's tls, accepters_running */
	pthread_cond_t changed;          /* an accepter started or ended */
	struct np_listener **listeners;  /* the ones accepting now */
	size_t listener_count;
	int accepters_running;
	struct np_listener *retired;     /* main thread only: waiting for their sessions */

	atomic_bool stopping;
	struct np_ratelimit refuse_log[NP_REFUSALS]; /* one per reason */
	struct np_ratelimit accept_error_log, thread_error_log;

	/* Sockets from the instance this one replaces (-x PATH) or systemd. */
	struct np_inherited_set inherited;
	const char *upgrade_from;        /* -x PATH, or NULL */
	pthread_t main_thread;           /* takes the signals */
	atomic_bool handed_over;         /* another instance took the sockets */
	int pid_fd;                      /* the locked pid file, or -1 (main's) */
	int64_t last_trim_ms;            /* main thread: malloc_trim() every 10 s */

	/* Connection threads whose session ended wait here for the next one
	 * (spareThreads of them at most): no thread made per connection,
	 * and what libraries keep per thread until exit (GnuTLS: ~200 bytes
	 * of random generator state each) stops growing with connections. */
	pthread_mutex_t spare_lock;
	pthread_cond_t spare_gone;       /* a pool thread ended */
	struct np_spare *spare;          /* the parked ones, newest first */
	size_t spare_count, pool_threads; /* parked; alive (parked or working) */
	size_t spare_max;                /* [Server] spareThreads */
	bool spare_closing;

	/* Who looks in from outside (agent.c, control.c) and the reload's
	 * hand-off to the main thread (reload.c): opened and stopped by the
	 * daemon's main around the server's own life. */
	struct np_agent *agent;          /* agentPort, or NULL */
	struct np_control *control;      /* controlSocket, or NULL */
	struct np_reload *reload;
	struct np_acme *acme;            /* ports with domains, or NULL */
	struct np_tls_provider tls_provider;
	struct np_tls_alpn_hook alpn_hook; /* tls-alpn-01 answers, from the registry */
};

/* What every thread that blocks in accept() calls first: takes the wake
 * signal. */
void np_accepter_thread_setup(void);
/* Wakes the accepting thread until it sees its stop flag and joins it;
 * `what` names it if that takes long. */
void np_accepter_join(pthread_t thread, const char *what);
void np_sleep_ms(int ms);
/* A detached thread running fn(arg) on a stack of stack_size: 0, or the
 * error number. */
int np_thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size);

/* Sets up the registry, taking a reference to config; nothing is bound
 * yet.  0, or -1 after logging. */
int np_server_init(struct np_server *server, struct np_config *config);

/* Loads what the configuration names — session-handler modules, every
 * TLS section's certificates and keys — before binding, so a bad file is
 * a configuration error.  0, or -1 after logging why. */
int np_server_prepare(struct np_server *server);

/* Binds every port and starts the handlers; no thread runs yet (the
 * caller may drop privileges next).  0, or -1 after logging why. */
int np_server_open(struct np_server *server);

/* A reload (main thread, after np_server_start()): the new
 * configuration's modules and certificates loaded, its new ports bound,
 * its handlers started, and only then the swap: new listeners accept
 * (a port kept takes over its socket and its counts, so no connection
 * waiting in the queue is lost), the old ones stop accepting and their
 * sessions run on with what they started with.  On any failure nothing
 * changed: -1 with err saying why.  summary says what changed. */
int np_server_reload(struct np_server *server, struct np_config *config, char *err, size_t err_size,
		     char *summary, size_t summary_size);

/* Starts the accepter threads.  0, or -1 after logging why. */
int np_server_start(struct np_server *server);

/* Stops accepting, lets sessions end for timeout_ms, then shuts down the
 * rest (and the upstreams they opened) and waits for their threads.
 * Returns how many threads did not end: while they run, nothing they
 * can reach may be freed. */
size_t np_server_stop(struct np_server *server, int timeout_ms);

/* A new context for a TLS section (ACME issued one): every listener of
 * the section now accepting takes it for new handshakes; sessions keep
 * the one they started with.  The registry learns what it serves. */
void np_server_install_tls(struct np_server *server, const char *section, struct np_tls_context *ctx);

/* Once a second from the main thread: what the rate limits held back
 * gets its line; retired listeners without sessions are freed. */
void np_server_tick(struct np_server *server);

/* The current listeners' sockets and names for a new instance (-x):
 * copies (dup), which the caller closes, -1 where one failed; fills at
 * most max and returns how many there are. */
size_t np_server_sockets(struct np_server *server, int *fds, char (*names)[NP_UPGRADE_NAME_MAX + 8], size_t max);

/* How many listeners accept now. */
size_t np_server_listener_count(struct np_server *server);

/* Frees what np_server_open took; no thread may run. */
void np_server_close(struct np_server *server);

#endif
