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
#include "upgrade.h"

/* The signal that wakes a thread blocked in accept(): only accepting
 * threads take it (np_accepter_thread_setup()); shutdown(2) cannot be
 * used, as a listening socket may be another instance's too. */
#define NP_WAKE_SIGNAL SIGUSR2

struct np_agent;
struct np_control;
struct np_server;
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
	struct np_handler_env env;       /* the handler's; a module may keep it */
	pthread_t *accepters;
	int accepters_started;
	atomic_bool priority_warned;
	struct np_port_counts counts;    /* the registry's count of its sessions */
};

struct np_server {
	struct np_config *config;
	struct np_listener *listeners;
	size_t listener_count;
	int base_nice;                   /* the process's nice value at start */
	struct np_registry registry;     /* the live sessions */
	struct np_relay relay;           /* where relay parties meet */

	pthread_mutex_t lock;            /* guards tls[] and accepters_running */
	pthread_cond_t changed;          /* an accepter reached accept() */
	struct np_tls_context **tls;     /* one per config->tls[i] */
	int accepters_running;

	atomic_bool stopping;
	struct np_ratelimit refuse_log[NP_REFUSALS]; /* one per reason */
	struct np_ratelimit accept_error_log, thread_error_log;

	/* Sockets from the instance this one replaces (-x PATH) or systemd. */
	struct np_inherited_set inherited;
	const char *upgrade_from;        /* -x PATH, or NULL */
	pthread_t main_thread;           /* takes the signals */
	atomic_bool handed_over;         /* another instance took the sockets */
	int pid_fd;                      /* the locked pid file, or -1 (main's) */

	/* Who looks in from outside (agent.c, control.c): opened and
	 * stopped by the daemon's main around the server's own life. */
	struct np_agent *agent;          /* agentPort, or NULL */
	struct np_control *control;      /* controlSocket, or NULL */
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

/* Sets up the registry; nothing is bound yet.  0, or -1 after logging. */
int np_server_init(struct np_server *server, struct np_config *config);

/* Loads what the configuration names — session-handler modules, every
 * TLS section's certificates and keys — before binding, so a bad file is
 * a configuration error.  0, or -1 after logging why. */
int np_server_prepare(struct np_server *server);

/* Binds every port and starts the handlers; no thread runs yet (the
 * caller may drop privileges next).  0, or -1 after logging why. */
int np_server_open(struct np_server *server);

/* SIGHUP: loads every TLS section anew; a section whose files fail keeps
 * its old credentials.  Sessions keep the context they started with. */
void np_server_reload_tls(struct np_server *server);

/* Starts the accepter threads.  0, or -1 after logging why. */
int np_server_start(struct np_server *server);

/* Stops accepting, lets sessions end for timeout_ms, then shuts down the
 * rest and waits for their threads. */
void np_server_stop(struct np_server *server, int timeout_ms);

/* Once a second from the main thread: what the rate limits held back
 * gets its line. */
void np_server_tick(struct np_server *server);

/* Frees what np_server_open took; no thread may run. */
void np_server_close(struct np_server *server);

#endif
