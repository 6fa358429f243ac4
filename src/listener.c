/* SPDX-License-Identifier: ISC */
/*
 * listener.c - accepter threads and connection threads (the Java
 * SocketClientConnectionListener).
 *
 * Accepters block in accept() at raised priority and do only what must
 * happen before a thread is spent: admission.  Each admitted connection
 * gets its own thread at normal priority, which runs the connection's
 * whole life as one straight line of phases in connection_main(): tune
 * the socket, PROXY header, TLS handshake, protocol byte, dispatch, end
 * line, free.
 * Each phase returns 0 to go on or -1 with the session's end reason set.
 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <signal.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "handler.h"
#include "http_server.h"
#include "listener.h"
#include "net.h"
#include "proxy.h"
#include "session.h"
#include "socket_tls.h"
#include "stack.h"
#include "tls.h"
#include "turn.h"

/* How long an accepter pauses when accept() runs out of descriptors or
 * memory, so a full table does not turn into a busy loop. */
#define ACCEPT_BACKOFF_MS 100
/* After shutdownTimeout, how long to wait for threads whose connections
 * were shut down under them. */
#define SHUTDOWN_GRACE_MS 5000
#define TRIM_INTERVAL_MS 10000
/* A parked connection thread that gets no session this long ends. */
#define SPARE_IDLE_S 300

/* --- one connection's phases ------------------------------------------------ */

/* Names the thread and gives back the accepter's raised priority. */
static void thread_setup(struct np_session *session, const struct np_listener *listener)
{
	char name[16];
	snprintf(name, sizeof(name), "conn:%d", listener->bound_port);
	pthread_setname_np(pthread_self(), name);
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), listener->server->base_nice) < 0)
		np_log(LOG_WARNING, "conn %llu: cannot reset thread priority: %s",
		       (unsigned long long)session->id, strerror(errno));
}

/* Socket options of the port; a failure is logged and the connection
 * goes on without it. */
static int phase_tune(struct np_session *session)
{
	const struct np_port_conf *port = session->port;
	struct {
		int level, name, value;
		bool wanted;
		const char *what;
	} opts[] = {
		{ IPPROTO_TCP, TCP_NODELAY, 1, port->tcp_no_delay, "TCP_NODELAY" },
		{ SOL_SOCKET, SO_KEEPALIVE, 1, port->keep_alive, "SO_KEEPALIVE" },
		{ IPPROTO_TCP, TCP_KEEPIDLE, port->keep_alive_idle,
		  port->keep_alive && port->keep_alive_idle > 0, "TCP_KEEPIDLE" },
		{ IPPROTO_TCP, TCP_KEEPINTVL, port->keep_alive_interval,
		  port->keep_alive && port->keep_alive_interval > 0, "TCP_KEEPINTVL" },
		{ IPPROTO_TCP, TCP_KEEPCNT, port->keep_alive_count,
		  port->keep_alive && port->keep_alive_count > 0, "TCP_KEEPCNT" },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (opts[i].wanted &&
		    setsockopt(session->fd, opts[i].level, opts[i].name, &opts[i].value, sizeof(int)) < 0)
			np_log(LOG_WARNING, "conn %llu: setsockopt %s: %s",
			       (unsigned long long)session->id, opts[i].what, strerror(errno));
	return 0;
}

static bool address_allowed(const struct np_port_conf *port, const struct sockaddr *peer)
{
	if (port->deny.count && np_cidr_list_match(&port->deny, peer))
		return false;
	if (port->allow.count && !np_cidr_list_match(&port->allow, peer))
		return false;
	return true;
}

/* One bound from accept() on covers the PROXY header, the TLS handshake
 * and the protocol byte. */
static int64_t handshake_deadline(const struct np_session *session)
{
	return session->started_ms + session->port->handshake_timeout_ms;
}

/* proxyProtocol: the balancer's header, read before anything else; from
 * here on the session's peer is the client it names, and admission
 * (allow, deny, maxConnectionsPerAddress) runs on that address. */
static int phase_proxy(struct np_session *session)
{
	const struct np_port_conf *port = session->port;
	if (!port->proxy_protocol)
		return 0;
	struct np_session_proxy *proxy = calloc(1, sizeof(*proxy));
	if (!proxy) {
		np_session_set_end_reason(session, "out of memory for the PROXY header");
		return -1;
	}
	struct np_proxy_header *h = &proxy->header;
	const char *why;
	bool eof;
	if (np_proxy_read(session->fd, handshake_deadline(session), port->proxy_protocol, h, &why, &eof) < 0) {
		free(proxy);
		/* A balancer's bare TCP check: connect, close. */
		session->quiet_end = eof && !atomic_load(&session->killed);
		session->end_cause = strstr(why, "handshakeTimeout") ? 'T'
				     : strncmp(why, "closed", 6) == 0 || strncmp(why, "read failed", 11) == 0 ? 'C' : 'P';
		np_session_set_end_reason(session, "%s", why);
		return -1;
	}
	char via[NP_ADDRSTRLEN], client[NP_ADDRSTRLEN];
	snprintf(via, sizeof(via), "%s", session->peer);
	/* The balancer's own connection (a health check): LOCAL in v2; in
	 * v1, a header naming the connection's own source as its client.
	 * Its address stands, and its end says nothing above debug. */
	if (!h->local && np_net_same_endpoint((const struct sockaddr *)&h->src, (const struct sockaddr *)&session->peer_addr))
		h->local = true;
	if (h->local) {
		h->src = session->peer_addr;
		session->quiet_end = true;
	}
	np_net_format((const struct sockaddr *)&h->src, client, sizeof(client));
	const char *refused = np_registry_readdress(session->registry, session, &h->src, client, via);
	np_session_set_proxy(session, proxy);
	if (!refused && !h->local && !address_allowed(port, (const struct sockaddr *)&h->src))
		refused = np_refusal_text[NP_REFUSED_ADDRESS];
	if (refused) {
		np_registry_refused(session->registry, refused);
		session->quiet_end = false;
		np_session_set_end_reason(session, "refused: %s", refused);
		return -1;
	}
	return 0;
}

/* The stream (plain or TLS) and its framing; the handshake deadline
 * covers the TLS handshake and the protocol byte. */
static int phase_open(struct np_session *session)
{
	const struct np_port_conf *port = session->port;
	struct np_socket *socket = session->tls ? np_socket_tls_server_new(session->fd, session->tls)
						: np_socket_plain_new(session->fd);
	if (!socket) {
		session->end_cause = 'S';
		np_session_set_end_reason(session, "cannot set up the connection: %s", strerror(errno));
		return -1;
	}
	if (!session->tls) {
		/* Behind a balancer that says whether its client spoke TLS,
		 * its word counts. */
		const struct np_proxy_header *h = session->proxy ? &session->proxy->header : NULL;
		socket->secure = h && h->ssl ? h->ssl_client : port->external_ssl;
	}
	session->socket = socket;
	/* On a port ACME serves (or while it proves names by tls-alpn-01),
	 * a client asking for acme-tls/1 is the CA's validator, answered
	 * with the challenge certificate or refused. */
	if (session->tls && (port->domains.count || atomic_load(&session->registry->alpn_pending)) &&
	    np_socket_tls_answer_acme(socket, &session->listener->server->alpn_hook) < 0)
		np_log(LOG_WARNING, "conn %llu: cannot offer acme-tls/1", (unsigned long long)session->id);
	np_socket_set_deadline(socket, handshake_deadline(session));
	/* A peer that stops reading must not hold a writer for ever. */
	if (np_socket_set_write_timeout(socket, port->write_timeout_ms) < 0)
		np_log(LOG_WARNING, "conn %llu: setsockopt SO_SNDTIMEO: %s", (unsigned long long)session->id,
		       strerror(errno));
	if (session->tls)
		np_socket_tls_limit_handshake(socket, port->max_handshake_size);
	struct np_comm_options options = {
		.max_transaction_size = port->max_transaction_size,
		.compression = port->compression,
		.compression_threshold = port->compression_threshold,
		.compression_level = port->compression_level,
		.idle_timeout_ms = port->idle_timeout_ms,
		.transaction_timeout_ms = port->transaction_timeout_ms,
		.inflate_rate = port->inflate_rate,
	};
	if (np_comm_init(&session->comm, socket, &options) < 0) {
		session->end_cause = 'S';
		np_session_set_end_reason(session, "cannot set up the session: %s", strerror(errno));
		return -1;
	}
	np_session_set_stage(session, NP_STAGE_HANDSHAKE);
	return 0;
}

static int phase_tls(struct np_session *session)
{
	if (session->tls) {
		if (np_socket_tls_handshake(session->socket) < 0) {
			atomic_fetch_add(&session->registry->handshakes_failed, 1);
			np_session_set_end_reason(session, "%s", np_socket_strerror(session->socket));
			return -1;
		}
		atomic_fetch_add(&session->registry->handshakes_ok, 1);
		if (np_socket_tls_acme_answered(session->socket)) {
			np_session_set_end_reason(session, "tls-alpn-01 challenge answered");
			return -1;
		}
	}
	np_session_set_stage(session, NP_STAGE_PROTOCOL);
	return 0;
}

/* [Server] runningThreads: -1 none, 0 what suits the machine. */
static int running_threads(const struct np_config *config)
{
	int n = config->server.running_threads;
	return n < 0 ? 0 : n == 0 ? np_turns_auto() : n;
}

/* One session, from its first socket option to its end line. */
static void run_session(struct np_session *session)
{
	struct np_listener *listener = session->listener;
	struct np_first_bytes first;

	thread_setup(session, listener);
	np_turn_take();
	if (phase_tune(session) == 0 && phase_proxy(session) == 0 && phase_open(session) == 0 &&
	    phase_tls(session) == 0 &&
	    np_dispatch_read_byte(session, &first) == 0)
		np_dispatch(session, &first);
	np_session_log_end(session);
	np_registry_remove(session->registry, session);
	np_session_free(session);
	np_turn_give();
	/* The last touch of the listener: a retired one may be freed now. */
	atomic_fetch_sub(&listener->sessions, 1);
}

/* A connection thread waiting for its next session. */
struct np_spare {
	struct np_spare *next;
	pthread_cond_t wake;
	struct np_session *session;      /* handed over by the accepter */
	size_t stack_size;
};

struct pool_start {
	struct np_server *server;
	struct np_session *session;
	size_t stack_size;
};

/* Parks the thread until an accepter hands it a session; NULL when it is
 * to end instead (the pool is full or closing, or it idled SPARE_IDLE_S). */
static struct np_session *park(struct np_server *server, struct np_spare *self)
{
	struct np_session *next = NULL;
	pthread_mutex_lock(&server->spare_lock);
	if (!server->spare_closing && server->spare_count < server->spare_max) {
		self->session = NULL;
		/* Parked, it is nobody's conn:PORT thread (thread_setup names
		 * it again). */
		pthread_setname_np(pthread_self(), "spare");
		self->next = server->spare;
		server->spare = self;
		server->spare_count++;
		struct timespec until = np_time_in(CLOCK_REALTIME, SPARE_IDLE_S * 1000);
		/* A while parked, its stack is given back (stack.h). */
		struct timespec release = np_time_in(CLOCK_REALTIME, NP_STACK_IDLE_MS);
		int rc = 0;
		while (!self->session && !server->spare_closing && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&self->wake, &server->spare_lock, &release);
		if (rc == ETIMEDOUT && !self->session && !server->spare_closing) {
			pthread_mutex_unlock(&server->spare_lock);
			np_stack_release();
			pthread_mutex_lock(&server->spare_lock);
			rc = 0;
		}
		while (!self->session && !server->spare_closing && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&self->wake, &server->spare_lock, &until);
		next = self->session;
		if (!next) {
			/* Still listed: leave the list. */
			for (struct np_spare **p = &server->spare; *p; p = &(*p)->next)
				if (*p == self) {
					*p = self->next;
					server->spare_count--;
					break;
				}
		}
	}
	if (!next) {
		server->pool_threads--;
		pthread_cond_broadcast(&server->spare_gone);
	}
	pthread_mutex_unlock(&server->spare_lock);
	return next;
}

/* Connection threads run SCHED_BATCH: the turns decide who runs next,
 * and a thread woken (its turn came, or its data) does not preempt the
 * one running, which finishes its transaction and gives the turn.  Under
 * SCHED_OTHER, with one turn per CPU, the wake-up of the next in line
 * preempted the giver about every other transaction (0.45-0.64
 * involuntary context switches per transaction, none as SCHED_BATCH):
 * a switch to the woken thread and one back only to let the giver sleep.
 * Accepters stay SCHED_OTHER, so a new connection still preempts. */
static void batch_policy(void)
{
	static _Atomic bool warned;
	struct sched_param param = { .sched_priority = 0 };
	int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
	if (err && !atomic_exchange(&warned, true))
		np_log(LOG_WARNING, "connection threads stay SCHED_OTHER: pthread_setschedparam(SCHED_BATCH): %s",
		       strerror(err));
}

static void *connection_main(void *arg)
{
	struct pool_start start = *(struct pool_start *)arg;
	free(arg);
	struct np_spare self = { .stack_size = start.stack_size };
	pthread_cond_init(&self.wake, NULL);
	batch_policy();
	np_turn_join(&start.server->registry.turns);
	if (np_stack_register() < 0)
		np_log(LOG_WARNING, "connection thread: cannot find its stack's bounds: "
				    "an idle session keeps its whole stack resident");
	for (struct np_session *session = start.session; session; session = park(start.server, &self))
		run_session(session);
	pthread_cond_destroy(&self.wake);
	np_turn_join(NULL);
	return NULL;
}

/* Hands the session to a parked thread with the stack size asked for;
 * false when there is none. */
static bool hand_to_spare(struct np_server *server, struct np_session *session, size_t stack_size)
{
	bool done = false;
	pthread_mutex_lock(&server->spare_lock);
	for (struct np_spare **p = &server->spare; *p; p = &(*p)->next)
		if ((*p)->stack_size == stack_size) {
			struct np_spare *s = *p;
			*p = s->next;
			server->spare_count--;
			s->session = session;
			pthread_cond_signal(&s->wake);
			done = true;
			break;
		}
	pthread_mutex_unlock(&server->spare_lock);
	return done;
}

/* Wakes the parked threads to end, and waits (up to 2 s) for every pool
 * thread to be gone: after the stop only parked ones are left.  Returns
 * how many are still there. */
static size_t close_spares(struct np_server *server)
{
	pthread_mutex_lock(&server->spare_lock);
	server->spare_closing = true;
	for (struct np_spare *s = server->spare; s; s = s->next)
		pthread_cond_signal(&s->wake);
	struct timespec until = np_time_in(CLOCK_REALTIME, 2000);
	while (server->pool_threads > 0 &&
	       pthread_cond_timedwait(&server->spare_gone, &server->spare_lock, &until) != ETIMEDOUT)
		;
	size_t left = server->pool_threads;
	pthread_mutex_unlock(&server->spare_lock);
	return left;
}

/* --- accepters ----------------------------------------------------------- */

static void refuse(struct np_listener *listener, int fd, const char *peer, const char *why)
{
	struct np_server *server = listener->server;
	close(fd);
	enum np_refusal r = np_registry_refused(&server->registry, why);
	np_log_ratelimited(&server->refuse_log[r], LOG_WARNING, "refused %s on port %d: %s", peer,
			   listener->public_port, why);
}

void np_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_wake_signal(int sig)
{
	(void)sig;  /* its work is the EINTR of accept() */
}

void np_accepter_thread_setup(void)
{
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, NP_WAKE_SIGNAL);
	int err = pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	if (err)
		np_log(LOG_ERR, "cannot take the wake signal: %s", strerror(err));
}

void np_accepter_join(pthread_t thread, const char *what)
{
	/* The signal may come just before the thread enters accept(): send
	 * it again until the thread is gone. */
	for (int round = 1;; round++) {
		int err = pthread_kill(thread, NP_WAKE_SIGNAL);
		if (err) {
			np_log(LOG_ERR, "%s thread: cannot wake it: %s", what, strerror(err));
			pthread_join(thread, NULL);
			return;
		}
		struct timespec until = np_time_in(CLOCK_REALTIME, 20);
		if (pthread_timedjoin_np(thread, NULL, &until) == 0)
			return;
		if (round == 250)
			np_log(LOG_WARNING, "%s thread: still not stopped after 5 s", what);
	}
}

static void accept_failed(struct np_server *server, struct np_listener *listener, int err)
{
	atomic_fetch_add(&server->registry.accept_errors, 1);
	np_log_ratelimited(&server->accept_error_log, LOG_ERR, "accept on port %d: %s%s",
			   listener->bound_port, strerror(err),
			   err == EMFILE || err == ENFILE ? " (descriptor limit; pausing briefly)" : "");
	np_sleep_ms(ACCEPT_BACKOFF_MS);
}

int np_thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size)
{
	pthread_attr_t attr;
	pthread_t thread;
	int err = pthread_attr_init(&attr);
	if (!err)
		err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!err)
		err = pthread_attr_setstacksize(&attr, stack_size);
	if (!err)
		err = pthread_create(&thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

static void start_connection_thread(struct np_listener *listener, struct np_session *session)
{
	struct np_server *server = listener->server;
	const size_t stack_size = listener->config->server.thread_stack_size;
	if (hand_to_spare(server, session, stack_size))
		return;
	int err = ENOMEM;
	struct pool_start *start = malloc(sizeof(*start));
	if (start) {
		*start = (struct pool_start){ server, session, stack_size };
		pthread_mutex_lock(&server->spare_lock);
		server->pool_threads++;
		pthread_mutex_unlock(&server->spare_lock);
		err = np_thread_start_detached(connection_main, start, stack_size);
		if (err) {
			free(start);
			pthread_mutex_lock(&server->spare_lock);
			server->pool_threads--;
			pthread_mutex_unlock(&server->spare_lock);
		}
	}
	if (err) {
		atomic_fetch_add(&server->registry.thread_failures, 1);
		np_log_ratelimited(&server->thread_error_log, LOG_ERR,
				   "conn %llu from %s: cannot start a thread: %s; connection closed",
				   (unsigned long long)session->id, session->peer, strerror(err));
		np_registry_remove(&server->registry, session);
		np_session_free(session);
		atomic_fetch_sub(&listener->sessions, 1);
	}
}

/* The context a new session of the port starts with, referenced; NULL on
 * a plain port. */
static struct np_tls_context *tls_for_port(struct np_listener *listener)
{
	if (!listener->tls)
		return NULL;
	struct np_server *server = listener->server;
	pthread_mutex_lock(&server->lock);
	struct np_tls_context *ctx = np_tls_context_ref(listener->tls);
	pthread_mutex_unlock(&server->lock);
	return ctx;
}

static bool accepting(const struct np_listener *listener)
{
	return !atomic_load(&listener->server->stopping) && !atomic_load(&listener->retired);
}

/* Out of descriptors, the connection at the head of the queue would wait
 * there until one is free, its client left hanging.  So the accepter
 * keeps a reserve descriptor: it lets it go for the moment it takes to
 * accept that connection, and opens it again; if it cannot, the process
 * is still out of descriptors and the connection is closed at once with a
 * reset (refused, logged, counted).  Returns the connection to serve, or
 * -1: refused (errno 0), or not possible (errno: `err`, accept()'s first
 * failure) or accept() failed again (its errno). */
static int accept_with_reserve(struct np_listener *listener, int *reserve, int err, struct sockaddr_storage *peer,
			       socklen_t *peer_len)
{
	/* accept() takes the descriptor before it waits: with none queued
	 * it would block here, and refuse whoever comes next. */
	struct pollfd queued = { .fd = listener->fd, .events = POLLIN };
	if (*reserve < 0 || poll(&queued, 1, 0) != 1) {
		errno = err;
		return -1;
	}
	close(*reserve);
	int fd = accept4(listener->fd, (struct sockaddr *)peer, peer_len, SOCK_CLOEXEC);
	int again = errno;
	*reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errno = again;
		return -1;
	}
	if (*reserve >= 0)
		return fd; /* descriptors were freed meanwhile: served as any */
	const struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)); /* else a FIN: as good */
	atomic_fetch_add(&listener->server->registry.accepted, 1);
	char peer_text[NP_ADDRSTRLEN];
	np_net_format((struct sockaddr *)peer, peer_text, sizeof(peer_text));
	refuse(listener, fd, peer_text, np_refusal_text[NP_REFUSED_DESCRIPTORS]);
	errno = 0;
	return -1;
}

static void accept_one(struct np_listener *listener, int *reserve)
{
	struct np_server *server = listener->server;
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);

	if (*reserve < 0)
		*reserve = open("/dev/null", O_RDONLY | O_CLOEXEC); /* lost under pressure: again */
	int fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && accepting(listener)) {
		peer_len = sizeof(peer);
		fd = accept_with_reserve(listener, reserve, errno, &peer, &peer_len);
		if (fd < 0 && errno == 0)
			return; /* refused */
	}
	if (fd < 0) {
		int err = errno;
		if (!accepting(listener))
			return;
		switch (err) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:       /* firewall */
		case ENETDOWN:
		case ENOPROTOOPT:
		case EHOSTDOWN:
		case ENONET:
		case EHOSTUNREACH:
		case EOPNOTSUPP:
		case ENETUNREACH:
			return; /* that connection is gone; the next one may be fine */
		default:
			accept_failed(server, listener, err);
			return;
		}
	}
	atomic_fetch_add(&server->registry.accepted, 1);

	char peer_text[NP_ADDRSTRLEN];
	np_net_format((struct sockaddr *)&peer, peer_text, sizeof(peer_text));
	/* One accepted while the stop began is served like the others (the
	 * stop waits for it): after a hand-over the new instance no longer
	 * sees it in the queue, so closing it would refuse a client. */
	/* Behind a balancer the client's address comes with its header
	 * (phase_proxy); here only the balancer is known. */
	bool proxied = listener->conf->proxy_protocol != 0;
	if (proxied && !np_cidr_list_match(&listener->conf->proxy_from, (struct sockaddr *)&peer)) {
		refuse(listener, fd, peer_text, np_refusal_text[NP_REFUSED_PROXY_FROM]);
		return;
	}
	if (!proxied && !address_allowed(listener->conf, (struct sockaddr *)&peer)) {
		refuse(listener, fd, peer_text, np_refusal_text[NP_REFUSED_ADDRESS]);
		return;
	}

	/* Before anything is allocated for it: near the bound a TLS
	 * handshake is what would meet a failing malloc(). */
	const char *memory_full = np_memory_guard_admit(&server->registry.memory);
	if (memory_full) {
		refuse(listener, fd, peer_text, memory_full);
		return;
	}
	struct np_session *session = np_session_new(listener->config, listener->conf, fd, &peer, peer_text);
	if (!session) {
		refuse(listener, fd, peer_text, np_refusal_text[NP_REFUSED_MEMORY]);
		return;
	}
	session->listener = listener;
	session->public_port = listener->public_port;
	session->handler = listener->handler;
	session->handler_state = listener->handler_state;
	session->relay = &server->relay;
	session->registry = &server->registry;
	const char *why = np_registry_admit(&server->registry, session, listener->counts, !proxied);
	if (why) {
		session->fd = -1;
		np_session_free(session);
		refuse(listener, fd, peer_text, why);
		return;
	}
	atomic_fetch_add(&listener->sessions, 1);
	session->tls = tls_for_port(listener);
	np_log(LOG_DEBUG, "conn %llu accepted from %s on port %d", (unsigned long long)session->id,
	       peer_text, listener->public_port);
	start_connection_thread(listener, session);
}

static void *accepter_main(void *arg)
{
	struct np_listener *listener = arg;
	struct np_server *server = listener->server;
	char name[16];

	snprintf(name, sizeof(name), "acc:%d", listener->bound_port);
	pthread_setname_np(pthread_self(), name);
	np_accepter_thread_setup();
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), listener->conf->accepter_priority) < 0 &&
	    !atomic_exchange(&listener->priority_warned, true))
		np_log(LOG_WARNING, "[%s]: cannot raise accepter priority to nice %d (%s); "
		       "accepting at normal priority", listener->conf->name,
		       listener->conf->accepter_priority, strerror(errno));

	pthread_mutex_lock(&server->lock);
	server->accepters_running++;
	pthread_cond_broadcast(&server->changed);
	pthread_mutex_unlock(&server->lock);

	/* Held for refusing a connection when no descriptor is left. */
	int reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (reserve < 0)
		np_log(LOG_WARNING, "acc:%d: no reserve descriptor (%s): out of descriptors, connections wait "
		       "in the queue instead of being refused", listener->bound_port, strerror(errno));
	while (accepting(listener))
		accept_one(listener, &reserve);
	if (reserve >= 0)
		close(reserve);

	pthread_mutex_lock(&server->lock);
	server->accepters_running--;
	pthread_cond_broadcast(&server->changed);
	pthread_mutex_unlock(&server->lock);
	return NULL;
}

/* --- listeners: made, opened, retired, freed ------------------------------ */

static struct np_listener *listener_new(struct np_server *server, struct np_config *config,
					const struct np_port_conf *conf)
{
	struct np_listener *listener = calloc(1, sizeof(*listener));
	if (!listener)
		return NULL;
	listener->server = server;
	listener->config = np_config_ref(config);
	listener->conf = conf;
	listener->fd = -1;
	return listener;
}

static void stop_handler(struct np_listener *listener);

/* No thread uses it any more: its handler's shutdown(), its socket
 * unless a successor took it, its counts, its TLS context. */
static void listener_free(struct np_listener *listener)
{
	if (!listener)
		return;
	stop_handler(listener);
	if (listener->owns_fd && listener->fd >= 0)
		close(listener->fd);
	np_registry_port_unref(&listener->server->registry, listener->counts);
	np_tls_context_unref(listener->tls);
	free(listener->accepters);
	np_config_unref(listener->config);
	free(listener);
}

/* One listener per [Port] section of config; NULL (all freed) when out
 * of memory. */
static struct np_listener **set_new(struct np_server *server, struct np_config *config, char *err, size_t err_size)
{
	struct np_listener **set = calloc(config->port_count + 1, sizeof(*set));
	for (size_t i = 0; set && i < config->port_count; i++) {
		set[i] = listener_new(server, config, &config->ports[i]);
		if (!set[i]) {
			while (i > 0)
				listener_free(set[--i]);
			free(set);
			set = NULL;
		}
	}
	if (!set)
		snprintf(err, err_size, "out of memory for %zu listeners", config->port_count);
	return set;
}

/* What the configuration names, loaded before anything is bound, so a
 * bad file is a configuration error: each port's session handler (a
 * module), its web root, and every TLS section's certificates and keys,
 * one context per section shared by its ports (the provider's, for a
 * section ACME manages).  0, or -1 with err. */
static int set_prepare(struct np_server *server, struct np_listener **set, const struct np_config *config,
		       char *err, size_t err_size)
{
	char why[512];
	for (size_t i = 0; i < config->port_count; i++) {
		struct np_listener *listener = set[i];
		listener->handler = np_handler_for(&listener->conf->handler, why, sizeof(why));
		if (!listener->handler || np_http_check_root(listener->conf, why, sizeof(why)) < 0) {
			snprintf(err, err_size, "[%s]: %s", listener->conf->name, why);
			return -1;
		}
	}
	for (size_t t = 0; t < config->tls_count; t++) {
		const struct np_tls_conf *tls = &config->tls[t];
		const struct np_tls_provider *p = &server->tls_provider;
		struct np_tls_context *ctx = p->context_for ? p->context_for(p->arg, tls) : NULL;
		if (!ctx && np_tls_key_exposed(tls, why, sizeof(why)))
			np_log(LOG_WARNING, "[%s]: %s", tls->name, why);
		if (!ctx && !tls->cert_files.count && !tls->key_store) {
			/* Managed by ACME (domains), but not by the ACME set up at
			 * start: a reload that adds domains. */
			snprintf(err, err_size, "[%s]: its certificate is to come from ACME, which takes new domains at "
				 "the next start; give certFile and keyFile meanwhile", tls->name);
			return -1;
		}
		if (!ctx)
			ctx = np_tls_context_new(tls, why, sizeof(why));
		if (!ctx) {
			snprintf(err, err_size, "[%s]: %s", tls->name, why);
			return -1;
		}
		for (size_t i = 0; i < config->port_count; i++)
			if (set[i]->conf->tls == tls)
				set[i]->tls = np_tls_context_ref(ctx);
		np_tls_context_unref(ctx);
	}
	return 0;
}

/* Tells the registry what each TLS section serves now. */
static void set_publish_certs(struct np_server *server, struct np_listener **set, const struct np_config *config)
{
	for (size_t t = 0; t < config->tls_count; t++)
		for (size_t i = 0; i < config->port_count; i++)
			if (set[i]->conf->tls == &config->tls[t]) {
				np_registry_publish_certs(&server->registry, config->tls[t].name, set[i]->tls);
				break;
			}
}

/* The running listener whose socket a new section takes over: the same
 * bindAddress and port (and, with port = 0, the same section), each
 * socket taken once; NULL when the section needs a socket of its own. */
static struct np_listener *socket_to_keep(struct np_listener **old, size_t old_count, bool *taken,
					  const struct np_port_conf *conf)
{
	for (size_t i = 0; i < old_count; i++) {
		const struct np_port_conf *was = old[i]->conf;
		if (taken[i] || !np_same_text(was->bind_address, conf->bind_address) || was->port != conf->port ||
		    (conf->port == 0 && strcmp(was->name, conf->name) != 0))
			continue;
		taken[i] = true;
		return old[i];
	}
	return NULL;
}

static struct np_port_facts port_facts(const struct np_listener *listener)
{
	return (struct np_port_facts){
		.name = listener->conf->name,
		.port = listener->public_port,
		.tls = listener->conf->tls != NULL,
		.max_connections = listener->conf->max_connections,
		.max_connections_per_address = listener->conf->max_connections_per_address,
		.fd = listener->fd,
	};
}

/* The listener's socket: the one of `keep` (a reload), the running
 * instance's (-x) or systemd's, else a new one.  0, or -1 with err. */
static int open_listener(struct np_listener *listener, struct np_listener *keep, char *err, size_t err_size)
{
	const struct np_port_conf *conf = listener->conf;
	struct np_server *server = listener->server;
	char why[256] = "";
	bool inherited = false;
	if (keep) {
		listener->fd = keep->fd;   /* owned from the swap on */
	} else {
		listener->fd = np_upgrade_take(&server->inherited, conf->name, conf->bind_address, conf->port);
		inherited = listener->fd >= 0;
		if (!inherited)
			listener->fd = np_net_listen(conf->bind_address, conf->port, conf->queue_length,
						     conf->load_balance, why, sizeof(why));
		if (listener->fd < 0) {
			snprintf(err, err_size, "[%s]: %s", conf->name, why);
			return -1;
		}
		listener->owns_fd = true;
	}
	listener->bound_port = np_net_local_port(listener->fd);
	/* port = 0 (tests): the port actually bound is the one to report. */
	listener->public_port = conf->map_to_port ? conf->map_to_port : listener->bound_port;
	if (keep) {
		/* Its sessions still count against the limits. */
		listener->counts = keep->counts;
		np_registry_port_ref(&server->registry, listener->counts);
		return 0;
	}
	struct np_port_facts facts = port_facts(listener);
	listener->counts = np_registry_port_new(&server->registry, &facts);
	if (!listener->counts) {
		snprintf(err, err_size, "[%s]: out of memory listing the port", conf->name);
		return -1;
	}
	char where[NP_ADDRSTRLEN];
	np_net_local_text(listener->fd, where, sizeof(where));
	int somaxconn = np_net_somaxconn();
	if (!inherited && somaxconn > 0 && conf->queue_length > somaxconn)
		np_log(LOG_NOTICE, "[%s]: queueLength %d is cut to %d by the kernel (net.core.somaxconn)", conf->name,
		       conf->queue_length, somaxconn);
	np_log(LOG_NOTICE, "listening on %s for [%s] (%s%s%s)", where, conf->name,
	       conf->tls ? "tls" : conf->external_ssl ? "plain, TLS ended in front" : "plain",
	       conf->proxy_protocol ? ", PROXY header" : "", inherited ? ", inherited" : "");
	return 0;
}

static const char *port_setting(const struct np_handler_env *env, const char *key)
{
	const struct np_listener *listener = env->opaque;
	return np_config_port_setting(listener->config, listener->conf, key);
}

static int set_challenge(const struct np_handler_env *env, const char *token, const char *answer)
{
	const struct np_listener *listener = env->opaque;
	return np_registry_challenge_set(&listener->server->registry, token, answer);
}

/* The handler's init() for the listener's port; 0, or -1 with err. */
static int start_handler(struct np_listener *listener, char *err, size_t err_size)
{
	const struct np_handler *handler = listener->handler;
	listener->env = (struct np_handler_env){
		.port_name = listener->conf->name,
		.port = listener->public_port,
		.setting = port_setting,
		.opaque = listener,
		.set_challenge = set_challenge,
	};
	if (handler->init && handler->init(&listener->env, &listener->handler_state) < 0) {
		snprintf(err, err_size, "[%s]: handler %s failed to start", listener->conf->name, handler->name);
		return -1;
	}
	listener->handler_started = true;
	return 0;
}

/* The handler's shutdown(), once every session ended. */
static void stop_handler(struct np_listener *listener)
{
	if (listener->handler_started && listener->handler->shutdown)
		listener->handler->shutdown(listener->handler_state);
	listener->handler_started = false;
	listener->handler_state = NULL;
}

/* Every listener's sockets and handlers; 0, or -1 with err.  keep[i]
 * (a reload) is whose socket set[i] takes over, or NULL. */
static int set_open(struct np_listener **set, struct np_listener **keep, size_t count, char *err, size_t err_size)
{
	for (size_t i = 0; i < count; i++)
		if (open_listener(set[i], keep ? keep[i] : NULL, err, err_size) < 0)
			return -1;
	for (size_t i = 0; i < count; i++)
		if (start_handler(set[i], err, err_size) < 0)
			return -1;
	return 0;
}

/* Starts every listener's accepters and waits until each accepts;
 * returns how many, or -1 with err (the ones started still run). */
static int set_start(struct np_server *server, struct np_listener **set, size_t count, char *err, size_t err_size)
{
	pthread_mutex_lock(&server->lock);
	int target = server->accepters_running;
	pthread_mutex_unlock(&server->lock);
	int threads = 0, rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct np_listener *listener = set[i];
		int want = listener->conf->accepter_threads;
		listener->accepters = calloc((size_t)want, sizeof(pthread_t));
		if (!listener->accepters) {
			snprintf(err, err_size, "[%s]: out of memory for accepter threads", listener->conf->name);
			rc = -1;
		}
		for (int t = 0; t < want && rc == 0; t++) {
			int e = pthread_create(&listener->accepters[t], NULL, accepter_main, listener);
			if (e) {
				snprintf(err, err_size, "[%s]: cannot start accepter thread: %s", listener->conf->name,
					 strerror(e));
				rc = -1;
				break;
			}
			listener->accepters_started++;
			threads++;
		}
	}
	/* Accepting means every accepter is named, prioritised and in accept(). */
	target += threads;
	pthread_mutex_lock(&server->lock);
	while (server->accepters_running < target)
		pthread_cond_wait(&server->changed, &server->lock);
	pthread_mutex_unlock(&server->lock);
	return rc < 0 ? -1 : threads;
}

/* Its accepters stopped and joined: it accepts no more. */
static void listener_stop_accepting(struct np_listener *listener)
{
	atomic_store(&listener->retired, true);
	for (int t = 0; t < listener->accepters_started; t++)
		np_accepter_join(listener->accepters[t], listener->conf->name);
	listener->accepters_started = 0;
}

/* Main thread: the retired listeners whose last session ended are freed. */
static void reap_retired(struct np_server *server)
{
	for (struct np_listener **at = &server->retired; *at;) {
		struct np_listener *listener = *at;
		if (atomic_load(&listener->sessions) > 0) {
			at = &listener->next_retired;
			continue;
		}
		*at = listener->next_retired;
		np_log(LOG_DEBUG, "[%s] of an earlier configuration: its last session ended", listener->conf->name);
		listener_free(listener);
	}
}

/* --- start and stop ------------------------------------------------------ */

static bool alpn_lookup(void *arg, const char *name, char **cert, size_t *cert_len, char **key, size_t *key_len)
{
	return np_registry_alpn_get(arg, name, cert, cert_len, key, key_len);
}

int np_server_init(struct np_server *server, struct np_config *config)
{
	memset(server, 0, sizeof(*server));
	server->alpn_hook = (struct np_tls_alpn_hook){ alpn_lookup, &server->registry };
	server->main_thread = pthread_self();
	server->pid_fd = -1;
	for (int i = 0; i < NP_REFUSALS; i++)
		server->refuse_log[i] = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);
	server->accept_error_log = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);
	server->thread_error_log = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);

	errno = 0;
	server->base_nice = getpriority(PRIO_PROCESS, 0);
	if (server->base_nice == -1 && errno)
		server->base_nice = 0;

	server->spare_max = (size_t)config->server.spare_threads;
	if (pthread_mutex_init(&server->spare_lock, NULL) || pthread_cond_init(&server->spare_gone, NULL) ||
	    pthread_mutex_init(&server->lock, NULL) || pthread_cond_init(&server->changed, NULL)) {
		np_log(LOG_ERR, "cannot create the listener's lock");
		return -1;
	}
	/* Only accepting threads take the wake signal; every thread started
	 * from here on begins with it blocked. */
	struct sigaction sa = { .sa_handler = on_wake_signal };
	sigemptyset(&sa.sa_mask);
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, NP_WAKE_SIGNAL);
	int sig_err = pthread_sigmask(SIG_BLOCK, &wake, NULL);
	if (sig_err || sigaction(NP_WAKE_SIGNAL, &sa, NULL) < 0) {
		np_log(LOG_ERR, "cannot set up the wake signal: %s", strerror(sig_err ? sig_err : errno));
		return -1;
	}
	if (np_relay_init(&server->relay) < 0) {
		np_log(LOG_ERR, "cannot create the relay's lock: %s", strerror(errno));
		return -1;
	}
	if (np_registry_init(&server->registry, config->server.max_connections) < 0)
		return -1;
	(void)np_memory_guard_open(&server->registry.memory); /* without it, no bound (logged) */
	np_memory_guard_set(&server->registry.memory, (int64_t)config->server.max_memory,
			    config->server.thread_stack_size, true);
	np_turns_set_limit(&server->registry.turns, running_threads(config));
	server->config = np_config_ref(config);
	char err[128];
	server->listeners = set_new(server, config, err, sizeof(err));
	if (!server->listeners) {
		np_log(LOG_ERR, "%s", err);
		return -1;
	}
	server->listener_count = config->port_count;
	return 0;
}

int np_server_prepare(struct np_server *server)
{
	char err[640];
	if (set_prepare(server, server->listeners, server->config, err, sizeof(err)) < 0) {
		np_log(LOG_ERR, "%s", err);
		return -1;
	}
	set_publish_certs(server, server->listeners, server->config);
	return 0;
}

int np_server_open(struct np_server *server)
{
	char err[640];
	if (set_open(server->listeners, NULL, server->listener_count, err, sizeof(err)) < 0) {
		np_log(LOG_ERR, "%s", err);
		return -1;
	}
	return 0;
}

int np_server_start(struct np_server *server)
{
	char err[256];
	int threads = set_start(server, server->listeners, server->listener_count, err, sizeof(err));
	if (threads < 0) {
		np_log(LOG_ERR, "%s", err);
		return -1;
	}
	np_log(LOG_NOTICE, "ready: %zu port%s, %d accepter thread%s", server->listener_count,
	       server->listener_count == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
	return 0;
}

int np_server_reload(struct np_server *server, struct np_config *config, char *err, size_t err_size,
		     char *summary, size_t summary_size)
{
	struct np_listener **old = server->listeners;
	size_t old_count = server->listener_count, count = config->port_count;
	struct np_listener **set = set_new(server, config, err, err_size);
	struct np_listener **keep = calloc(count + 1, sizeof(*keep));
	bool *taken = calloc(old_count + 1, sizeof(*taken));
	int rc = -1;
	if (!set || !keep || !taken) {
		if (set)
			snprintf(err, err_size, "out of memory for the reload");
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		keep[i] = socket_to_keep(old, old_count, taken, set[i]->conf);
	if (set_prepare(server, set, config, err, err_size) < 0 || set_open(set, keep, count, err, err_size) < 0)
		goto out;
	if (set_start(server, set, count, err, err_size) < 0) {
		for (size_t i = 0; i < count; i++)
			listener_stop_accepting(set[i]);
		goto out;
	}

	/* The swap.  A socket kept changes hands; what its section now says
	 * of it applies to the connections admitted from here on. */
	size_t kept = 0, added = 0;
	for (size_t i = 0; i < count; i++) {
		struct np_listener *listener = set[i];
		if (!keep[i]) {
			added++;
			continue;
		}
		kept++;
		keep[i]->owns_fd = false;
		listener->owns_fd = true;
		struct np_port_facts facts = port_facts(listener);
		np_registry_port_update(&server->registry, listener->counts, &facts);
		if (listener->conf->queue_length != keep[i]->conf->queue_length &&
		    listen(listener->fd, listener->conf->queue_length) < 0)
			np_log(LOG_WARNING, "[%s]: queueLength %d not applied: listen: %s", listener->conf->name,
			       listener->conf->queue_length, strerror(errno));
		if (listener->conf->load_balance != keep[i]->conf->load_balance)
			np_log(LOG_WARNING, "[%s]: loadBalance changed: the socket is kept as it was bound; "
			       "a restart (or npsocketd -x) binds it anew", listener->conf->name);
	}
	np_registry_set_max_connections(&server->registry, config->server.max_connections);
	pthread_mutex_lock(&server->lock);
	server->listeners = set;
	server->listener_count = count;
	pthread_mutex_unlock(&server->lock);
	set = NULL;

	for (size_t i = 0; i < old_count; i++) {
		struct np_listener *listener = old[i];
		listener_stop_accepting(listener);
		if (listener->owns_fd) {
			char where[NP_ADDRSTRLEN];
			np_net_local_text(listener->fd, where, sizeof(where));
			size_t left = atomic_load(&listener->sessions);
			np_log(LOG_NOTICE, "[%s] is gone from the configuration: no longer listening on %s; "
			       "its %zu session%s run%s on", listener->conf->name, where, left, left == 1 ? "" : "s",
			       left == 1 ? "s" : "");
			np_registry_port_closed(&server->registry, listener->counts);
			close(listener->fd);
			listener->owns_fd = false;
		}
		listener->next_retired = server->retired;
		server->retired = listener;
	}
	free(old);

	/* Sections gone say nothing more; the rest say what they serve now. */
	for (size_t t = 0; t < server->config->tls_count; t++) {
		bool still = false;
		for (size_t u = 0; u < config->tls_count && !still; u++)
			still = strcmp(server->config->tls[t].name, config->tls[u].name) == 0;
		if (!still)
			np_registry_set_certs(&server->registry, server->config->tls[t].name, NULL, 0);
	}
	set_publish_certs(server, server->listeners, config);
	np_memory_guard_set(&server->registry.memory, (int64_t)config->server.max_memory,
			    config->server.thread_stack_size, false);
	pthread_mutex_lock(&server->spare_lock);
	server->spare_max = (size_t)config->server.spare_threads;
	pthread_mutex_unlock(&server->spare_lock);
	np_turns_set_limit(&server->registry.turns, running_threads(config));
	np_config_unref(server->config);
	server->config = np_config_ref(config);
	snprintf(summary, summary_size, "%zu port%s (%zu kept, %zu added, %zu removed), %zu TLS section%s", count,
		 count == 1 ? "" : "s", kept, added, old_count - kept, config->tls_count,
		 config->tls_count == 1 ? "" : "s");
	reap_retired(server);
	rc = 0;
out:
	/* A failed reload's listeners; one that accepted before it failed
	 * waits for its sessions like a retired one. */
	for (size_t i = 0; set && i < count; i++) {
		struct np_listener *listener = set[i];
		if (atomic_load(&listener->sessions) == 0) {
			listener_free(listener);
			continue;
		}
		if (listener->owns_fd) {
			np_registry_port_closed(&server->registry, listener->counts);
			close(listener->fd);
		}
		listener->owns_fd = false;
		listener->next_retired = server->retired;
		server->retired = listener;
	}
	free(set);
	free(keep);
	free(taken);
	return rc;
}

size_t np_server_stop(struct np_server *server, int timeout_ms)
{
	atomic_store(&server->stopping, true);
	for (size_t i = 0; i < server->listener_count; i++)
		listener_stop_accepting(server->listeners[i]);

	struct np_registry_stats stats;
	np_registry_stats(&server->registry, &stats);
	size_t left = stats.active;
	if (left > 0) {
		np_log(LOG_NOTICE, "stopping: %zu session%s open, waiting up to %d.%03ds", left,
		       left == 1 ? "" : "s", timeout_ms / 1000, timeout_ms % 1000);
		left = np_registry_wait_empty(&server->registry, timeout_ms);
	}
	if (left > 0) {
		np_log(LOG_NOTICE, "stopping: closing %zu session%s still open after shutdownTimeout",
		       left, left == 1 ? "" : "s");
		np_registry_kill_all(&server->registry, "closed by shutdown");
		left = np_registry_wait_empty(&server->registry, SHUTDOWN_GRACE_MS);
	}
	if (left > 0)
		np_log(LOG_ERR, "stopping: %zu session thread%s did not end", left, left == 1 ? "" : "s");
	return left;
}

void np_server_install_tls(struct np_server *server, const char *section, struct np_tls_context *ctx)
{
	struct np_tls_context *old[64];
	size_t n = 0;
	pthread_mutex_lock(&server->lock);
	for (size_t i = 0; i < server->listener_count; i++) {
		struct np_listener *l = server->listeners[i];
		if (!l->conf->tls || strcmp(l->conf->tls->name, section) != 0)
			continue;
		if (n == sizeof(old) / sizeof(old[0])) {
			pthread_mutex_unlock(&server->lock);
			for (size_t j = 0; j < n; j++)
				np_tls_context_unref(old[j]);
			n = 0;
			pthread_mutex_lock(&server->lock);
		}
		old[n++] = l->tls;
		l->tls = np_tls_context_ref(ctx);
	}
	pthread_mutex_unlock(&server->lock);
	for (size_t j = 0; j < n; j++)
		np_tls_context_unref(old[j]);
	np_registry_publish_certs(&server->registry, section, ctx);
}

void np_server_tick(struct np_server *server)
{
	char what[96];
	for (int i = 0; i < NP_REFUSALS; i++) {
		snprintf(what, sizeof(what), "refused connections (%s)", np_refusal_text[i]);
		np_log_ratelimit_flush(&server->refuse_log[i], LOG_WARNING, what);
	}
	np_log_ratelimit_flush(&server->accept_error_log, LOG_ERR, "accept errors");
	np_log_ratelimit_flush(&server->thread_error_log, LOG_ERR, "connections without a thread");
	reap_retired(server);
	/* A large transaction's buffer, freed, stays with the arena of the
	 * thread that had it (glibc raises its mmap threshold to the largest
	 * freed): after deflate bombs some 100 MiB of RSS that no session
	 * uses.  Giving it back every 10 s keeps RSS what the sessions use. */
	int64_t now = np_now_ms();
	if (now - server->last_trim_ms >= TRIM_INTERVAL_MS) {
		server->last_trim_ms = now;
		malloc_trim(0);
	}
}

size_t np_server_sockets(struct np_server *server, int *fds, char (*names)[NP_UPGRADE_NAME_MAX + 8], size_t max)
{
	pthread_mutex_lock(&server->lock);
	size_t count = server->listener_count;
	for (size_t i = 0; i < count && i < max; i++) {
		const struct np_listener *l = server->listeners[i];
		snprintf(names[i], sizeof(names[i]), "%.*s:%d", NP_UPGRADE_NAME_MAX - 1, l->conf->name, l->bound_port);
		/* A copy: a reload may close the listener's own meanwhile. */
		fds[i] = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);
	}
	pthread_mutex_unlock(&server->lock);
	return count;
}

size_t np_server_listener_count(struct np_server *server)
{
	pthread_mutex_lock(&server->lock);
	size_t count = server->listener_count;
	pthread_mutex_unlock(&server->lock);
	return count;
}

/* A listener no session thread holds any more is freed; one still held
 * (a thread that did not end) keeps what it uses, and only its socket
 * is closed. */
static void close_listener(struct np_listener *listener, bool quiet)
{
	/* With the registry empty, a thread still holding it is a moment
	 * from letting go. */
	for (int i = 0; quiet && i < 1000 && atomic_load(&listener->sessions) > 0; i++)
		np_sleep_ms(1);
	if (atomic_load(&listener->sessions) == 0) {
		listener_free(listener);
	} else if (listener->owns_fd) {
		close(listener->fd);
		listener->owns_fd = false;
	}
}

void np_server_close(struct np_server *server)
{
	struct np_registry_stats stats;
	np_registry_stats(&server->registry, &stats);
	/* Threads still running may still use what the sessions reach. */
	bool quiet = stats.active == 0;
	if (close_spares(server) > 0)
		quiet = false;
	for (size_t i = 0; server->listeners && i < server->listener_count; i++)
		if (server->listeners[i])
			close_listener(server->listeners[i], quiet);
	free(server->listeners);
	server->listeners = NULL;
	server->listener_count = 0;
	while (server->retired) {
		struct np_listener *listener = server->retired;
		server->retired = listener->next_retired;
		close_listener(listener, quiet);
	}
	if (quiet) {
		np_config_unref(server->config);
		server->config = NULL;
		np_registry_destroy(&server->registry);
		np_relay_destroy(&server->relay);
		pthread_cond_destroy(&server->changed);
		pthread_mutex_destroy(&server->lock);
		pthread_cond_destroy(&server->spare_gone);
		pthread_mutex_destroy(&server->spare_lock);
	}
}
