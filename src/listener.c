/*
 * listener.c - accepter threads and connection threads (the Java
 * SocketClientConnectionListener).
 *
 * Accepters block in accept() at raised priority and do only what must
 * happen before a thread is spent: admission.  Each admitted connection
 * gets its own thread at normal priority, which owns the connection's
 * whole life in session_main(): protocol byte, dispatch, the handler's
 * blocking loop, the log line, cleanup.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "listener.h"
#include "relay.h"
#include "tls.h"

/* How long an accepter pauses when accept() runs out of descriptors or
 * memory, so a full table does not turn into a busy loop. */
#define ACCEPT_BACKOFF_MS 100
/* After shutdownTimeout, how long to wait for threads whose connections
 * were shut down under them. */
#define SHUTDOWN_GRACE_MS 5000

/* --- the handler's view of a session (npsocket/handler.h) --------------- */

uint64_t np_session_id(const struct np_session *session)
{
	return session->id;
}

struct np_comm *np_session_comm(struct np_session *session)
{
	return &session->comm;
}

const char *np_session_peer(const struct np_session *session)
{
	return session->peer;
}

int np_session_port(const struct np_session *session)
{
	return session->listener->public_port;
}

bool np_session_is_secure(const struct np_session *session)
{
	return session->socket->secure;
}

const struct np_tls_info *np_session_tls(const struct np_session *session)
{
	return np_socket_tls_info(session->socket);
}

int np_session_accept(struct np_session *session)
{
	const unsigned char accepted = 1;
	if (session->accepted)
		return 0;
	if (np_socket_write_all(session->socket, &accepted, 1) < 0) {
		np_session_set_end_reason(session, "writing the accept byte failed: %s",
					  np_socket_write_strerror(session->socket));
		return -1;
	}
	session->accepted = true;
	return 0;
}

void np_session_set_end_reason(struct np_session *session, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(session->end_reason, sizeof(session->end_reason), fmt, ap);
	va_end(ap);
}

/* --- registry ------------------------------------------------------------ */

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The context a new session of the port starts with; under server->lock.
 * NULL on a plain port. */
static struct np_tls_context *tls_for_port(struct np_server *server, const struct np_port_conf *port)
{
	if (!port->tls)
		return NULL;
	size_t i = (size_t)(port->tls - server->config->tls);
	return np_tls_context_ref(server->tls[i]);
}

/* Counts the caller in, or says why not; under server->lock. */
static const char *registry_admit(struct np_server *server, struct np_session *session)
{
	const struct np_port_conf *port = session->port;
	int global_max = server->config->server.max_connections;

	if (global_max > 0 && server->active >= (size_t)global_max)
		return "maxConnections of [Server] reached";
	if (port->max_connections > 0 && session->listener->active >= port->max_connections)
		return "maxConnections of the port reached";
	/* Last: a connection counted here is admitted. */
	if (port->max_connections_per_address > 0) {
		int rc = np_addr_counts_take(&server->per_address, session->listener, &session->peer_addr,
					     (unsigned)port->max_connections_per_address, &session->addr_slot);
		if (rc > 0)
			return "maxConnectionsPerAddress reached";
		if (rc < 0)
			return "out of memory";
	}
	session->tls = tls_for_port(server, port);
	session->id = ++server->next_id;
	session->next = server->sessions;
	if (server->sessions)
		server->sessions->prev = session;
	server->sessions = session;
	server->active++;
	session->listener->active++;
	return NULL;
}

static void registry_remove(struct np_server *server, struct np_session *session)
{
	pthread_mutex_lock(&server->lock);
	if (session->prev)
		session->prev->next = session->next;
	else
		server->sessions = session->next;
	if (session->next)
		session->next->prev = session->prev;
	server->active--;
	session->listener->active--;
	if (session->addr_slot)
		np_addr_counts_give(&server->per_address, session->addr_slot);
	pthread_cond_broadcast(&server->changed);
	pthread_mutex_unlock(&server->lock);
}

/* --- one connection ------------------------------------------------------ */

static void session_log_end(struct np_session *session)
{
	const struct np_tls_info *tls = np_socket_tls_info(session->socket);
	char tls_text[512] = "-";
	if (tls && tls->version) {
		int n = snprintf(tls_text, sizeof(tls_text), "%s/%s%s", tls->version,
				 tls->cipher ? tls->cipher : "?", tls->resumed ? "/resumed" : "");
		if (tls->server_name && n > 0 && (size_t)n < sizeof(tls_text))
			n += snprintf(tls_text + n, sizeof(tls_text) - (size_t)n, " sni=%s", tls->server_name);
		if (tls->peer_subject && n > 0 && (size_t)n < sizeof(tls_text))
			snprintf(tls_text + n, sizeof(tls_text) - (size_t)n, " subject=\"%s\"", tls->peer_subject);
	}
	else if (session->port->external_ssl)
		snprintf(tls_text, sizeof(tls_text), "external");
	int64_t ms = np_now_ms() - session->started_ms;
	np_log(session->quiet_end ? LOG_DEBUG : LOG_INFO,
	       "conn %llu end: peer=%s port=%d protocol=%s tls=%s duration=%lld.%03llds "
	       "in=%llu out=%llu transactions=%llu/%llu reason=\"%s%s\"",
	       (unsigned long long)session->id, session->peer, session->listener->public_port,
	       session->protocol, tls_text, (long long)(ms / 1000), (long long)(ms % 1000),
	       (unsigned long long)session->socket->bytes_in,
	       (unsigned long long)session->socket->bytes_out,
	       (unsigned long long)session->comm.transactions_in,
	       (unsigned long long)session->comm.transactions_out,
	       atomic_load(&session->closed_by_shutdown) ? "closed by shutdown: " : "",
	       session->end_reason);
}

static void session_free(struct np_session *session)
{
	if (session->comm_ready)
		np_comm_destroy(&session->comm);
	if (session->socket)
		np_socket_close(session->socket);
	else if (session->fd >= 0)
		close(session->fd);
	if (session->tls)
		np_tls_context_unref(session->tls);
	free(session);
}

static void tune_socket(struct np_session *session)
{
	const struct np_port_conf *port = session->port;
	int fd = session->fd;
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
		    setsockopt(fd, opts[i].level, opts[i].name, &opts[i].value, sizeof(int)) < 0)
			np_log(LOG_WARNING, "conn %llu: setsockopt %s: %s",
			       (unsigned long long)session->id, opts[i].what, strerror(errno));
	if (port->read_timeout_ms > 0) {
		/* A peer that stops reading must not hold a writer for ever. */
		struct timeval tv = { .tv_sec = port->read_timeout_ms / 1000,
				      .tv_usec = (port->read_timeout_ms % 1000) * 1000 };
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			np_log(LOG_WARNING, "conn %llu: setsockopt SO_SNDTIMEO: %s",
			       (unsigned long long)session->id, strerror(errno));
	}
}

/* Answers byte 1 (unless the handler does) and runs its session loop. */
static void run_session(struct np_session *session,
			int (*callback)(void *, struct np_session *))
{
	struct np_listener *listener = session->listener;

	if (!(listener->handler->flags & NP_HANDLER_ANSWERS_ITSELF) && np_session_accept(session) < 0)
		return;
	session->socket->deadline = 0;
	session->socket->timeout_ms = session->port->read_timeout_ms;
	int rc = callback(listener->handler_state, session);
	if (session->end_reason[0])
		return;
	if (rc == 0 || session->comm.error == NP_COMM_CLOSED)
		np_session_set_end_reason(session, "%s", session->comm.error == NP_COMM_OK ?
					  "ended by handler" : session->comm.error_text);
	else if (session->comm.error != NP_COMM_OK)
		np_session_set_end_reason(session, "%s", session->comm.error_text);
	else
		np_session_set_end_reason(session, "handler %s failed", listener->handler->name);
}

static void start_client(struct np_session *session, unsigned char byte)
{
	(void)byte;
	run_session(session, session->listener->handler->on_client_connect);
}

static void start_remote_application(struct np_session *session, unsigned char byte)
{
	(void)byte;
	run_session(session, session->listener->handler->on_remote_application_connect);
}

static void start_relay(struct np_session *session, unsigned char byte)
{
	(void)byte;
	np_relay_session(session);
}

static void start_unknown(struct np_session *session, unsigned char byte)
{
	struct np_listener *listener = session->listener;
	session->socket->deadline = 0;
	session->socket->timeout_ms = session->port->read_timeout_ms;
	if (listener->handler->on_unknown_connect) {
		if (listener->handler->on_unknown_connect(listener->handler_state, session, &byte, 1) < 0 &&
		    !session->end_reason[0])
			np_session_set_end_reason(session, "handler %s failed on protocol byte 0x%02x",
						  listener->handler->name, byte);
		return;
	}
	if (session->port->web_upstream) {
		session->protocol = "web";
		np_web_upstream(session, &byte, 1);
		return;
	}
	np_session_set_end_reason(session, "unknown protocol byte 0x%02x and no webUpstream", byte);
}

/* Protocol-byte dispatch (SPEC §3): one row per protocol; every other
 * byte goes to start_unknown(). */
static const struct protocol {
	unsigned char byte;
	const char *name;
	void (*start)(struct np_session *session, unsigned char byte);
} protocols[] = {
	{ 1, "client", start_client },
	{ 2, "relay", start_relay },
	{ 3, "rapp", start_remote_application },
};

static void dispatch(struct np_session *session)
{
	unsigned char byte;
	struct np_socket *socket = session->socket;

	if (np_socket_read(socket, &byte, 1) < 0) {
		if (socket->rd.error == NP_SOCK_EOF) {
			session->quiet_end = true;
			np_session_set_end_reason(session, "closed before the protocol byte");
		} else {
			np_session_set_end_reason(session, "no protocol byte: %s", np_socket_strerror(socket));
		}
		return;
	}
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (protocols[i].byte == byte) {
			session->protocol = protocols[i].name;
			protocols[i].start(session, byte);
			return;
		}
	}
	session->protocol = "unknown";
	start_unknown(session, byte);
}

static void *session_main(void *arg)
{
	struct np_session *session = arg;
	struct np_listener *listener = session->listener;
	struct np_server *server = listener->server;
	char name[16];

	snprintf(name, sizeof(name), "conn:%d", listener->bound_port);
	pthread_setname_np(pthread_self(), name);
	/* Threads inherit the accepter's raised priority: back to normal. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), server->base_nice) < 0)
		np_log(LOG_WARNING, "conn %llu: cannot reset thread priority: %s",
		       (unsigned long long)session->id, strerror(errno));

	tune_socket(session);
	if (session->tls) {
		session->socket = np_socket_tls_server_new(session->fd, session->tls);
	} else {
		session->socket = np_socket_plain_new(session->fd);
		if (session->socket)
			session->socket->secure = session->port->external_ssl;
	}
	if (!session->socket) {
		np_session_set_end_reason(session, "cannot set up the connection: %s", strerror(errno));
	} else {
		/* One deadline covers the TLS handshake and the protocol byte. */
		session->socket->deadline = np_now_ms() + session->port->handshake_timeout_ms;
		struct np_comm_options options = {
			.max_transaction_size = session->port->max_transaction_size,
			.compression = session->port->compression,
			.compression_threshold = session->port->compression_threshold,
			.compression_level = session->port->compression_level,
			.idle_timeout_ms = session->port->idle_timeout_ms,
		};
		if (np_comm_init(&session->comm, session->socket, &options) < 0)
			np_session_set_end_reason(session, "cannot set up the session: %s", strerror(errno));
		else {
			session->comm_ready = true;
			if (session->tls && np_socket_tls_handshake(session->socket) < 0) {
				session->protocol = "none";
				np_session_set_end_reason(session, "%s", np_socket_strerror(session->socket));
			} else {
				dispatch(session);
			}
		}
		session_log_end(session);
	}

	registry_remove(server, session);
	session_free(session);
	return NULL;
}

/* --- accepters ----------------------------------------------------------- */

static bool address_allowed(const struct np_port_conf *port, const struct sockaddr *peer)
{
	if (port->deny.count && np_cidr_list_match(&port->deny, peer))
		return false;
	if (port->allow.count && !np_cidr_list_match(&port->allow, peer))
		return false;
	return true;
}

static void refuse(struct np_listener *listener, int fd, const char *peer, const char *why)
{
	struct np_server *server = listener->server;
	close(fd);
	atomic_fetch_add(&server->refused, 1);
	np_log_ratelimited(&server->refuse_log, LOG_WARNING, "refused %s on port %d: %s", peer,
			   listener->public_port, why);
}

static void accept_failed(struct np_server *server, struct np_listener *listener, int err)
{
	atomic_fetch_add(&server->accept_errors, 1);
	np_log_ratelimited(&server->accept_error_log, LOG_ERR, "accept on port %d: %s%s",
			   listener->bound_port, strerror(err),
			   err == EMFILE || err == ENFILE ? " (descriptor limit; pausing briefly)" : "");
	sleep_ms(ACCEPT_BACKOFF_MS);
}

static void start_connection_thread(struct np_listener *listener, struct np_session *session)
{
	struct np_server *server = listener->server;
	pthread_attr_t attr;
	pthread_t thread;
	int err = pthread_attr_init(&attr);
	if (!err)
		err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!err)
		err = pthread_attr_setstacksize(&attr, server->config->server.thread_stack_size);
	if (!err)
		err = pthread_create(&thread, &attr, session_main, session);
	pthread_attr_destroy(&attr);
	if (err) {
		atomic_fetch_add(&server->thread_failures, 1);
		np_log_ratelimited(&server->thread_error_log, LOG_ERR,
				   "conn %llu from %s: cannot start a thread: %s; connection closed",
				   (unsigned long long)session->id, session->peer, strerror(err));
		registry_remove(server, session);
		session_free(session);
	}
}

static void accept_one(struct np_listener *listener)
{
	struct np_server *server = listener->server;
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);

	int fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (atomic_load(&server->stopping))
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
	atomic_fetch_add(&server->accepted, 1);

	char peer_text[NP_ADDRSTRLEN];
	np_net_format((struct sockaddr *)&peer, peer_text, sizeof(peer_text));
	if (atomic_load(&server->stopping)) {
		close(fd);
		return;
	}
	if (!address_allowed(listener->conf, (struct sockaddr *)&peer)) {
		refuse(listener, fd, peer_text, "address not allowed");
		return;
	}

	struct np_session *session = calloc(1, sizeof(*session));
	if (!session) {
		refuse(listener, fd, peer_text, "out of memory");
		return;
	}
	session->listener = listener;
	session->port = listener->conf;
	session->fd = fd;
	session->peer_addr = peer;
	memcpy(session->peer, peer_text, sizeof(session->peer));
	session->started_ms = np_now_ms();
	session->protocol = "none";

	pthread_mutex_lock(&server->lock);
	const char *why = registry_admit(server, session);
	pthread_mutex_unlock(&server->lock);
	if (why) {
		free(session);
		refuse(listener, fd, peer_text, why);
		return;
	}
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
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), listener->conf->accepter_priority) < 0 &&
	    !atomic_exchange(&listener->priority_warned, true))
		np_log(LOG_WARNING, "[%s]: cannot raise accepter priority to nice %d (%s); "
		       "accepting at normal priority", listener->conf->name,
		       listener->conf->accepter_priority, strerror(errno));

	pthread_mutex_lock(&server->lock);
	server->accepters_running++;
	pthread_cond_broadcast(&server->changed);
	pthread_mutex_unlock(&server->lock);

	while (!atomic_load(&server->stopping))
		accept_one(listener);
	return NULL;
}

/* --- start and stop ------------------------------------------------------ */

static int open_listener(struct np_listener *listener)
{
	const struct np_port_conf *conf = listener->conf;
	char err[256];
	listener->fd = np_net_listen(conf->bind_address, conf->port, conf->queue_length,
				     conf->load_balance, err, sizeof(err));
	if (listener->fd < 0) {
		np_log(LOG_ERR, "[%s]: %s", conf->name, err);
		return -1;
	}
	listener->bound_port = np_net_local_port(listener->fd);
	/* port = 0 (tests): the port actually bound is the one to report. */
	listener->public_port = conf->map_to_port ? conf->map_to_port : listener->bound_port;

	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	char where[NP_ADDRSTRLEN] = "?";
	if (getsockname(listener->fd, (struct sockaddr *)&local, &len) == 0)
		np_net_format((struct sockaddr *)&local, where, sizeof(where));
	np_log(LOG_NOTICE, "listening on %s for [%s] (%s)", where, conf->name,
	       conf->tls ? "tls" : conf->external_ssl ? "plain, TLS ended in front" : "plain");
	return 0;
}

int np_server_init(struct np_server *server, const struct np_config *config)
{
	memset(server, 0, sizeof(*server));
	server->config = config;
	server->refuse_log = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);
	server->accept_error_log = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);
	server->thread_error_log = (struct np_ratelimit)NP_RATELIMIT_INIT(1000);

	errno = 0;
	server->base_nice = getpriority(PRIO_PROCESS, 0);
	if (server->base_nice == -1 && errno)
		server->base_nice = 0;

	pthread_condattr_t cattr;
	if (pthread_mutex_init(&server->lock, NULL) || pthread_condattr_init(&cattr) ||
	    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&server->changed, &cattr)) {
		np_log(LOG_ERR, "cannot create the registry lock");
		return -1;
	}
	pthread_condattr_destroy(&cattr);
	if (np_addr_counts_init(&server->per_address) < 0) {
		np_log(LOG_ERR, "out of memory for the per-address connection counts");
		return -1;
	}

	server->listeners = calloc(config->port_count, sizeof(*server->listeners));
	if (!server->listeners) {
		np_log(LOG_ERR, "out of memory for %zu listeners", config->port_count);
		return -1;
	}
	server->listener_count = config->port_count;
	for (size_t i = 0; i < config->port_count; i++) {
		server->listeners[i].server = server;
		server->listeners[i].conf = &config->ports[i];
		server->listeners[i].fd = -1;
	}
	return 0;
}

int np_server_prepare(struct np_server *server)
{
	const struct np_config *config = server->config;
	char err[512];

	for (size_t i = 0; i < server->listener_count; i++) {
		struct np_listener *listener = &server->listeners[i];
		listener->handler = np_handler_for(listener->conf, err, sizeof(err));
		if (!listener->handler) {
			np_log(LOG_ERR, "[%s]: %s", listener->conf->name, err);
			return -1;
		}
	}
	if (config->tls_count == 0)
		return 0;
	server->tls = calloc(config->tls_count, sizeof(*server->tls));
	if (!server->tls) {
		np_log(LOG_ERR, "out of memory for TLS contexts");
		return -1;
	}
	for (size_t i = 0; i < config->tls_count; i++) {
		if (np_tls_key_exposed(&config->tls[i], err, sizeof(err)))
			np_log(LOG_WARNING, "[%s]: %s", config->tls[i].name, err);
		server->tls[i] = np_tls_context_new(&config->tls[i], err, sizeof(err));
		if (!server->tls[i]) {
			np_log(LOG_ERR, "[%s]: %s", config->tls[i].name, err);
			return -1;
		}
	}
	return 0;
}

void np_server_reload_tls(struct np_server *server)
{
	const struct np_config *config = server->config;
	char err[512];

	if (config->tls_count == 0) {
		np_log(LOG_NOTICE, "SIGHUP: no TLS section to reload");
		return;
	}
	for (size_t i = 0; i < config->tls_count; i++) {
		struct np_tls_context *fresh = np_tls_context_new(&config->tls[i], err, sizeof(err));
		if (!fresh) {
			np_log(LOG_ERR, "SIGHUP: [%s] keeps its current credentials: %s",
			       config->tls[i].name, err);
			continue;
		}
		pthread_mutex_lock(&server->lock);
		struct np_tls_context *old = server->tls[i];
		server->tls[i] = fresh;
		pthread_mutex_unlock(&server->lock);
		np_tls_context_unref(old);
		np_log(LOG_NOTICE, "SIGHUP: [%s] reloaded; new handshakes use the new credentials",
		       config->tls[i].name);
	}
}

int np_server_open(struct np_server *server)
{
	for (size_t i = 0; i < server->listener_count; i++)
		if (open_listener(&server->listeners[i]) < 0)
			return -1;
	for (size_t i = 0; i < server->listener_count; i++)
		if (np_handler_init(&server->listeners[i]) < 0)
			return -1;
	return 0;
}

int np_server_start(struct np_server *server)
{
	int threads = 0;
	for (size_t i = 0; i < server->listener_count; i++) {
		struct np_listener *listener = &server->listeners[i];
		int count = listener->conf->accepter_threads;
		listener->accepters = calloc((size_t)count, sizeof(pthread_t));
		if (!listener->accepters) {
			np_log(LOG_ERR, "[%s]: out of memory for accepter threads", listener->conf->name);
			return -1;
		}
		for (int t = 0; t < count; t++) {
			int err = pthread_create(&listener->accepters[t], NULL, accepter_main, listener);
			if (err) {
				np_log(LOG_ERR, "[%s]: cannot start accepter thread: %s",
				       listener->conf->name, strerror(err));
				return -1;
			}
			listener->accepters_started++;
			threads++;
		}
	}
	/* "ready" means every accepter is named, prioritised and accepting. */
	pthread_mutex_lock(&server->lock);
	while (server->accepters_running < threads)
		pthread_cond_wait(&server->changed, &server->lock);
	pthread_mutex_unlock(&server->lock);
	np_log(LOG_NOTICE, "ready: %zu port%s, %d accepter thread%s", server->listener_count,
	       server->listener_count == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
	return 0;
}

/* Waits under server->lock until no session is left or the time is up. */
static void wait_for_sessions(struct np_server *server, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (server->active > 0)
		if (pthread_cond_timedwait(&server->changed, &server->lock, &until) == ETIMEDOUT)
			break;
}

void np_server_stop(struct np_server *server, int timeout_ms)
{
	atomic_store(&server->stopping, true);
	for (size_t i = 0; i < server->listener_count; i++) {
		struct np_listener *listener = &server->listeners[i];
		/* Wakes every thread blocked in accept() on it (Linux). */
		if (listener->fd >= 0 && shutdown(listener->fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
			np_log(LOG_WARNING, "[%s]: shutdown of the listening socket: %s",
			       listener->conf->name, strerror(errno));
		for (int t = 0; t < listener->accepters_started; t++)
			pthread_join(listener->accepters[t], NULL);
		listener->accepters_started = 0;
	}

	pthread_mutex_lock(&server->lock);
	if (server->active > 0) {
		np_log(LOG_NOTICE, "stopping: %zu session%s open, waiting up to %d.%03ds", server->active,
		       server->active == 1 ? "" : "s", timeout_ms / 1000, timeout_ms % 1000);
		wait_for_sessions(server, timeout_ms);
	}
	if (server->active > 0) {
		np_log(LOG_NOTICE, "stopping: closing %zu session%s still open after shutdownTimeout",
		       server->active, server->active == 1 ? "" : "s");
		for (struct np_session *s = server->sessions; s; s = s->next) {
			atomic_store(&s->closed_by_shutdown, true);
			shutdown(s->fd, SHUT_RDWR);
		}
		wait_for_sessions(server, SHUTDOWN_GRACE_MS);
	}
	if (server->active > 0)
		np_log(LOG_ERR, "stopping: %zu session thread%s did not end", server->active,
		       server->active == 1 ? "" : "s");
	pthread_mutex_unlock(&server->lock);
}

void np_server_close(struct np_server *server)
{
	for (size_t i = 0; i < server->listener_count; i++) {
		struct np_listener *listener = &server->listeners[i];
		if (server->active == 0)
			np_handler_shutdown(listener);
		if (listener->fd >= 0)
			close(listener->fd);
		free(listener->accepters);
	}
	free(server->listeners);
	server->listeners = NULL;
	server->listener_count = 0;
	for (size_t i = 0; server->tls && i < server->config->tls_count; i++)
		if (server->tls[i])
			np_tls_context_unref(server->tls[i]);
	free(server->tls);
	server->tls = NULL;
	if (server->active == 0) {
		np_addr_counts_free(&server->per_address);
		pthread_cond_destroy(&server->changed);
		pthread_mutex_destroy(&server->lock);
	}
}
