/* SPDX-License-Identifier: ISC */
/*
 * session.c - one connection's state (session.h): the handler's view of
 * it (npsocket/handler.h), the snapshot the registry hands to other
 * threads, the end-of-connection log line, and freeing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session.h"
#include "tls.h"
#include "ws.h"

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
	return session->public_port;
}

bool np_session_is_secure(const struct np_session *session)
{
	return session->socket->secure;
}

const struct np_tls_info *np_session_tls(const struct np_session *session)
{
	const struct np_tls_info *tls = np_socket_tls_info(session->socket);
	if (!tls && session->proxy && session->proxy->header.ssl_client)
		return &session->proxy->tls;
	return tls;
}

const struct np_proxy_info *np_session_proxy(const struct np_session *session)
{
	return session->proxy ? &session->proxy->info : NULL;
}

void np_session_set_proxy(struct np_session *session, struct np_session_proxy *proxy)
{
	const struct np_proxy_header *h = &proxy->header;
	session->proxy = proxy;
	proxy->info = (struct np_proxy_info){
		.via = session->via,
		.local = h->local,
		.authority = h->authority[0] ? h->authority : NULL,
	};
	if (h->unique_id_len) {
		np_proxy_hex(h->unique_id, h->unique_id_len, proxy->unique_id);
		proxy->info.unique_id = proxy->unique_id;
	}
	if (h->ssl_client) {
		if (h->ssl_cn[0] && h->ssl_verified)
			snprintf(proxy->subject, sizeof(proxy->subject), "CN=%s", h->ssl_cn);
		proxy->tls = (struct np_tls_info){
			.version = h->ssl_version[0] ? h->ssl_version : "?",
			.cipher = h->ssl_cipher[0] ? h->ssl_cipher : NULL,
			.server_name = h->authority[0] ? h->authority : NULL,
			.peer_subject = proxy->subject[0] ? proxy->subject : NULL,
		};
	}
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

/* --- life ------------------------------------------------------------------ */

struct np_session *np_session_new(struct np_config *config, const struct np_port_conf *port, int fd,
				  const struct sockaddr_storage *peer, const char *peer_text)
{
	struct np_session *session = calloc(1, sizeof(*session));
	if (!session)
		return NULL;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	session->config = np_config_ref(config);
	session->port = port;
	session->fd = fd;
	session->peer_addr = *peer;
	snprintf(session->peer, sizeof(session->peer), "%s", peer_text);
	session->started_ms = np_now_ms();
	session->started_unix_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	atomic_init(&session->protocol, "none");
	atomic_init(&session->transport, "tcp");
	atomic_init(&session->stage, NP_STAGE_ADMITTED);
	atomic_init(&session->killed, NULL);
	session->upstream_fd = -1;
	return session;
}

void np_session_set_stage(struct np_session *session, enum np_session_stage stage)
{
	atomic_store_explicit(&session->stage, (int)stage, memory_order_release);
}

void np_session_set_protocol(struct np_session *session, const char *protocol)
{
	atomic_store_explicit(&session->protocol, protocol, memory_order_relaxed);
}

const char *np_session_protocol(const struct np_session *session)
{
	return atomic_load_explicit(&session->protocol, memory_order_relaxed);
}

static enum np_session_stage stage_of(const struct np_session *session)
{
	return (enum np_session_stage)atomic_load_explicit(&session->stage, memory_order_acquire);
}

void np_session_counts(const struct np_session *session, struct np_session_counts *out)
{
	*out = (struct np_session_counts){ 0 };
	if (stage_of(session) < NP_STAGE_HANDSHAKE)
		return;
	/* The socket and comm were made before this stage was published. */
	const struct np_socket *socket = session->socket;
	out->bytes_in = np_counter_get(&socket->bytes_in);
	out->bytes_out = np_counter_get(&socket->bytes_out);
	out->transactions_in = np_counter_get(&session->comm.transactions_in);
	out->transactions_out = np_counter_get(&session->comm.transactions_out);
}

void np_session_snapshot(const struct np_session *session, struct np_session_info *out)
{
	enum np_session_stage stage = stage_of(session);
	*out = (struct np_session_info){
		.id = session->id,
		.listener = session->port->name,
		.port = session->public_port,
		.protocol = np_session_protocol(session),
		.transport = atomic_load_explicit(&session->transport, memory_order_relaxed),
		.stage = stage,
		.peer = session->peer,
		.via = session->via,
		.started_unix_ms = session->started_unix_ms,
		.idle_ms = np_now_ms() - session->started_ms,
	};
	if (stage < NP_STAGE_HANDSHAKE)
		return;
	struct np_session_counts c;
	np_session_counts(session, &c);
	out->bytes_in = c.bytes_in;
	out->bytes_out = c.bytes_out;
	out->transactions_in = c.transactions_in;
	out->transactions_out = c.transactions_out;
	out->idle_ms = np_now_ms() - atomic_load(&session->comm.last_activity_ms);
	if (stage >= NP_STAGE_PROTOCOL)
		out->tls = np_socket_tls_info(session->socket);
}

int np_session_upgrade_ws(struct np_session *session)
{
	/* A message carries at most one transaction and its header, or the
	 * protocol byte with one. */
	uint64_t max_message = (uint64_t)session->port->max_transaction_size + NP_FRAME_HEADER_SIZE + 1;
	struct np_socket *ws = np_socket_ws_new(session->socket, max_message, false);
	if (!ws) {
		np_session_set_end_reason(session, "out of memory for the WebSocket");
		return -1;
	}
	/* No other thread writes yet (nothing was dispatched).  Its
	 * counters start at zero: the log counts the WebSocket's payload. */
	session->socket = ws;
	session->comm.socket = ws;
	atomic_store_explicit(&session->transport, "ws", memory_order_relaxed);
	return 0;
}

/*
 * The end code: what ended the session, then how far it got (documented
 * in npsocketd(8), LOGGING).  Cause: K killed (control, or the stop's
 * shutdownTimeout), R refused by admission, C the client closed or
 * reset, T a timeout, P the client broke the protocol (a bad PROXY
 * header, frame, zlib stream, TLS record or protocol byte), S a fault of
 * the server's (memory, a system call), D done by the daemon's side (a
 * handler, the relay or an upstream ended it).  Stage: A admitted, H TLS
 * handshake, P protocol byte, R running.
 */
static void end_code(const struct np_session *session, char code[3])
{
	static const char stages[] = { 'A', 'H', 'P', 'R' };
	char cause = 'D';
	const struct np_socket *socket = session->socket;
	enum np_session_stage stage = stage_of(session);
	if (atomic_load(&session->killed))
		cause = 'K';
	else if (session->end_cause)
		cause = session->end_cause;
	else if (strncmp(session->end_reason, "refused", 7) == 0)
		cause = 'R';
	else if (stage >= NP_STAGE_HANDSHAKE && (session->comm.error == NP_COMM_TOO_LARGE ||
						   session->comm.error == NP_COMM_CORRUPT))
		cause = 'P';
	else if (stage >= NP_STAGE_HANDSHAKE && session->comm.error == NP_COMM_NOMEM)
		cause = 'S';
	else if (socket && (socket->rd.error == NP_SOCK_EOF || socket->rd.error == NP_SOCK_RESET))
		cause = 'C';
	else if (socket && socket->rd.error == NP_SOCK_TIMEOUT)
		cause = 'T';
	else if (socket && socket->rd.error == NP_SOCK_TLS)
		cause = 'P';
	else if (socket && socket->rd.error == NP_SOCK_SYSTEM)
		cause = 'S';
	code[0] = cause;
	code[1] = stages[stage];
	code[2] = '\0';
}

void np_session_log_end(const struct np_session *session)
{
	const struct np_tls_info *tls = session->socket ? np_session_tls(session) : NULL;
	bool external = session->proxy && tls == &session->proxy->tls;
	char tls_text[160] = "-", subject[256] = "-";
	const char *sni = "-";
	if (tls && tls->version) {
		snprintf(tls_text, sizeof(tls_text), "%s%s%s%s%s", external ? "external:" : "", tls->version,
			 tls->cipher ? "/" : "", tls->cipher ? tls->cipher : "", tls->resumed ? "/resumed" : "");
		if (tls->server_name)
			sni = tls->server_name;
		if (tls->peer_subject)
			snprintf(subject, sizeof(subject), "\"%s\"", tls->peer_subject);
	} else if (session->port->external_ssl) {
		snprintf(tls_text, sizeof(tls_text), "external");
	}
	char code[3];
	end_code(session, code);
	struct np_session_counts c;
	np_session_counts(session, &c);
	const char *killed = atomic_load(&session->killed);
	int64_t ms = np_now_ms() - session->started_ms;
	char id_text[sizeof(session->proxy->unique_id) + 8] = "";
	if (session->proxy && session->proxy->info.unique_id)
		snprintf(id_text, sizeof(id_text), " proxy_id=%s", session->proxy->info.unique_id);
	np_log(session->quiet_end ? LOG_DEBUG : LOG_INFO,
	       "conn %llu end: peer=%s via=%s port=%d listener=%s protocol=%s transport=%s tls=%s sni=%s "
	       "subject=%s duration=%lld.%03llds in=%llu out=%llu transactions=%llu/%llu%s code=%s "
	       "reason=\"%s%s%s\"",
	       (unsigned long long)session->id, session->peer, session->via[0] ? session->via : "-",
	       session->public_port, session->port->name,
	       np_session_protocol(session), atomic_load_explicit(&session->transport, memory_order_relaxed),
	       tls_text, sni, subject, (long long)(ms / 1000), (long long)(ms % 1000),
	       (unsigned long long)c.bytes_in, (unsigned long long)c.bytes_out,
	       (unsigned long long)c.transactions_in, (unsigned long long)c.transactions_out, id_text, code,
	       killed ? killed : "", killed ? ": " : "", session->end_reason);
}

void np_session_free(struct np_session *session)
{
	if (stage_of(session) >= NP_STAGE_HANDSHAKE)
		np_comm_destroy(&session->comm);
	if (session->socket)
		np_socket_close(session->socket);
	else if (session->fd >= 0)
		close(session->fd);
	if (session->tls)
		np_tls_context_unref(session->tls);
	np_config_unref(session->config);
	free(session->proxy);
	free(session);
}
