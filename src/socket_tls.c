/* SPDX-License-Identifier: ISC */
/*
 * socket_tls.c - np_socket over a GnuTLS session (the Java SocketAdapter
 * around an SSLSocket), server side for the daemon, client side for npcat.
 *
 * The fd is non-blocking under GnuTLS while a timeout or deadline is in
 * force (the handshake, readTimeout): every wait then goes through
 * np_socket_wait() (a writer's through np_socket_wait_writable()), so
 * those bound the handshake, each read and each write exactly as on a
 * plain socket.  A session without them blocks in
 * recv() directly.
 * GnuTLS lets one thread receive while another sends on the same
 * session; writers are serialised by the socket's write lock, and each
 * side records its failures apart (s->rd, s->wr).
 * A foreign thread that wants a blocked reader gone shuts down the fd
 * only, never the GnuTLS session.
 * The transport under GnuTLS reads ahead and gathers large writes: see
 * tls_transport.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "socket_tls.h"
#include "stack.h"
#include "tls_internal.h"
#include "tls_transport.h"
#include "turn.h"

/* Above this a write is not corked (copied whole into GnuTLS) first. */
#define CORK_LIMIT (64 * 1024)
/* Up to this a write of several parts is gathered on the stack. */
#define GATHER_LIMIT 4096

struct tls_socket {
	struct np_socket base;                 /* first: the ops see this */
	gnutls_session_t session;
	struct np_tls_transport transport;
	struct np_tls_context *ctx;            /* server side */
	gnutls_certificate_credentials_t own;  /* client side */
	bool established;
	bool blocking;                         /* fd mode; changed by the reader only */
	bool idle_timer;                       /* SO_RCVTIMEO is set (see tls_mode) */
	struct np_tls_info info;
	char *subject;                         /* verified client certificate DN */
	char server_name[256];
	const struct np_tls_alpn_hook *acme;   /* tls-alpn-01 pending */
	bool acme_answered;
};

/* Records a TLS-level failure in words. */
static void tls_fault(struct np_socket_fault *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tls_fault(struct np_socket_fault *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
	f->error = NP_SOCK_TLS;
}

/* Records GnuTLS's rc for one direction's failure (f: the socket's rd or wr). */
static void tls_fail(struct tls_socket *t, struct np_socket_fault *f, const char *what, int rc)
{
	/* The transport failed: the system call's errno says more than
	 * "Error in the push function", or than "non-properly terminated"
	 * for a write the peer reset (errno is this thread's, and GnuTLS
	 * returned straight after the call that set it). */
	int err = errno;
	if (((rc == GNUTLS_E_PUSH_ERROR || rc == GNUTLS_E_PULL_ERROR) && err != 0 && err != EAGAIN &&
	     err != EWOULDBLOCK) ||
	    (rc == GNUTLS_E_PREMATURE_TERMINATION && (err == ECONNRESET || err == EPIPE))) {
		np_socket_set_errno(f, err);
		return;
	}
	if (rc == GNUTLS_E_WARNING_ALERT_RECEIVED || rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		tls_fault(f, "%s: %s (alert: %s)", what, gnutls_strerror(rc),
			  gnutls_alert_get_name(gnutls_alert_get(t->session)));
	else
		tls_fault(f, "%s: %s", what, gnutls_strerror(rc));
}

/* Waits until GnuTLS can go on.  GnuTLS also says "again" after a record
 * that completes nothing (a handshake message's first fragment, a
 * post-handshake message), and the next record may be read ahead already,
 * where poll() cannot see it: then there is nothing to wait for. */
static int tls_wait_for(struct tls_socket *t, short events)
{
	if (events == POLLIN && np_tls_transport_holds(&t->transport))
		return 0;
	return np_socket_wait(&t->base, events);
}

/* The same for a reader that stood in line for its turn just now. */
static int tls_wait_queued(struct tls_socket *t)
{
	if (np_tls_transport_holds(&t->transport))
		return 0;
	return np_socket_wait_queued(&t->base);
}

/* Waits in the direction GnuTLS is blocked on. */
static int tls_wait(struct tls_socket *t)
{
	return tls_wait_for(t, gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN);
}

/* Without a timeout or deadline the fd blocks, so waiting for data is one
 * recv() rather than recv(), poll(), recv(); with one it does not, so
 * every wait goes through np_socket_wait() and its bounds.  A blocking
 * recv() gives up after NP_STACK_IDLE_MS (SO_RCVTIMEO): GnuTLS then says
 * "again" and frees its record buffer, and the session waits in poll()
 * with its stack released (tls_read), holding no more than it must. */
static void tls_mode(struct tls_socket *t, bool blocking)
{
	if (t->blocking == blocking)
		return;
	if (blocking && !t->idle_timer)
		t->idle_timer = np_stack_idle_recv(t->base.fd) == 0; /* else: see stack.h */
	int fl = fcntl(t->base.fd, F_GETFL);
	if (fl >= 0 && fcntl(t->base.fd, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) == 0)
		t->blocking = blocking;
}

static ssize_t tls_read(struct np_socket *s, void *buf, size_t len)
{
	struct tls_socket *t = (struct tls_socket *)s;
	/* What GnuTLS holds decrypted needs no wait, so no change of mode
	 * (a transaction's payload after its header, usually). */
	if (t->established && gnutls_record_check_pending(t->session) == 0)
		tls_mode(t, np_socket_timeout(s) == 0 && np_socket_deadline(s) == 0 && !np_socket_no_wait(s));
	/* Others wait for a turn: queue behind them first, then take what
	 * came meanwhile without waiting (turn.h).  Once per read: a wait
	 * below stands in line already. */
	bool may_queue = !np_socket_no_wait(s);
	/* poll() said readable, and the turn was taken after it: what came is
	 * read holding that turn, not waited for in line a second time. */
	bool waited = false;
	for (;;) {
		const bool held = np_tls_transport_holds(&t->transport) || gnutls_record_check_pending(t->session) > 0;
		bool blocks = t->blocking && !held;
		bool queued = !held && ((may_queue && np_turn_requeue()) || waited);
		waited = false;
		if (queued) {
			ssize_t got = np_tls_transport_fill(&t->transport);
			if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !t->blocking) {
				/* Bounded and nothing came in line: GnuTLS's recv()
				 * would say so too, so straight to the wait. */
				if (tls_wait_queued(t) < 0)
					return -1;
				waited = true;
				continue;
			}
			blocks = blocks && got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
		}
		may_queue = false;
		/* Blocking, with nothing held: the recv() waits, with the
		 * thread's turn given back. */
		if (blocks)
			np_turn_give();
		ssize_t n = gnutls_record_recv(t->session, buf, len);
		if (blocks)
			np_turn_take();
		if (n > 0) {
			np_counter_add(&s->bytes_in, (uint64_t)n);
			return n;
		}
		if (n == 0) {
			s->rd.error = NP_SOCK_EOF;
			return -1;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			/* Blocking: the recv() timed out, the session is idle. */
			if (t->blocking && n == GNUTLS_E_AGAIN)
				np_stack_release();
			if (tls_wait_queued(t) < 0)
				return -1;
			waited = true;
			continue;
		}
		if (n == GNUTLS_E_REHANDSHAKE)
			continue; /* TLS 1.2 renegotiation is not offered: ignore the request */
		if (n == GNUTLS_E_PREMATURE_TERMINATION) {
			s->rd.error = NP_SOCK_EOF; /* the peer closed without close_notify */
			return -1;
		}
		tls_fail(t, &s->rd, "TLS read", (int)n);
		return -1;
	}
}

/* Sends one buffer uncorked, record by record. */
/* The writer's waits count from its last progress (`since`): on a
 * blocking fd "again" means SO_SNDTIMEO passed already, on a
 * non-blocking one (the reader's mode) that the kernel's buffer is full. */
static int tls_send_all(struct tls_socket *t, const char *p, size_t len)
{
	int64_t since = np_now_ms();
	while (len > 0) {
		ssize_t n = gnutls_record_send(t->session, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			if (np_socket_wait_writable_since(&t->base, since) < 0)
				return -1;
			/* GnuTLS wants the same call again after E_AGAIN. */
			continue;
		}
		if (n < 0) {
			tls_fail(t, &t->base.wr, "TLS write", (int)n);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		if (len > 0)
			since = np_now_ms();
	}
	return 0;
}

/* Sends the rest of a batched write if it went well; drops it anyway. */
static int batch_end(struct tls_socket *t, int rc)
{
	struct np_socket *s = &t->base;
	int64_t since = np_now_ms();
	size_t left = t->transport.batch_len - t->transport.batch_sent;
	while (rc == 0 && np_tls_transport_batch_flush(&t->transport) < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			np_socket_set_errno(&s->wr, errno);
			rc = -1;
			break;
		}
		size_t now_left = t->transport.batch_len - t->transport.batch_sent;
		if (now_left < left) {
			left = now_left;
			since = np_now_ms();
		}
		if (np_socket_wait_writable_since(s, since) < 0)
			rc = -1;
	}
	np_tls_transport_batch_end(&t->transport);
	return rc;
}

/* Large payloads go out record by record from where they are, since
 * corking would first copy all of it into GnuTLS. */
static int send_records(struct tls_socket *t, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if (tls_send_all(t, iov[i].iov_base, iov[i].iov_len) < 0)
			return -1;
	return 0;
}

/* A small write with its header goes out as one record gathered here:
 * corking would do the same copy into a buffer GnuTLS then keeps for the
 * session's life (2 KiB or more per idle session). */
static int send_gathered(struct tls_socket *t, const struct iovec *iov, int iovcnt, size_t total)
{
	unsigned char one[GATHER_LIMIT];
	size_t at = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(one + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	return tls_send_all(t, (const char *)one, total);
}

/* Larger writes are corked into as few records as they fit. */
static int send_corked(struct tls_socket *t, const struct iovec *iov, int iovcnt)
{
	struct np_socket *s = &t->base;
	gnutls_record_cork(t->session);
	for (int i = 0; i < iovcnt; i++) {
		/* Corked: this only copies into GnuTLS's buffer. */
		ssize_t n = gnutls_record_send(t->session, iov[i].iov_base, iov[i].iov_len);
		if (n < 0 && n != GNUTLS_E_AGAIN) {
			tls_fail(t, &s->wr, "TLS write", (int)n);
			return -1;
		}
	}
	const int64_t since = np_now_ms();
	for (;;) {
		int rc = gnutls_record_uncork(t->session, 0);
		if (rc >= 0)
			break;
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
			tls_fail(t, &s->wr, "TLS write", rc);
			return -1;
		}
		/* A corked write is at most a few records: stalled since it began. */
		if (np_socket_wait_writable_since(s, since) < 0)
			return -1;
	}
	return 0;
}

static int tls_writev_all(struct np_socket *s, const struct iovec *iov, int iovcnt)
{
	struct tls_socket *t = (struct tls_socket *)s;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	/* More than one record: they go to the kernel together. */
	bool batched = total > NP_TLS_RECORD_PAYLOAD && np_tls_transport_batch_begin(&t->transport);
	int rc;
	if (total > CORK_LIMIT)
		rc = send_records(t, iov, iovcnt);
	else if (iovcnt == 1 && total <= NP_TLS_RECORD_PAYLOAD)
		rc = tls_send_all(t, iov[0].iov_base, total);
	else if (total <= GATHER_LIMIT)
		rc = send_gathered(t, iov, iovcnt, total);
	else
		rc = send_corked(t, iov, iovcnt);
	if (batched)
		rc = batch_end(t, rc);
	if (rc == 0)
		np_counter_add(&s->bytes_out, total);
	return rc;
}

static void tls_shutdown(struct np_socket *s, int how)
{
	struct tls_socket *t = (struct tls_socket *)s;
	if (how == SHUT_WR && t->established)
		(void)gnutls_bye(t->session, GNUTLS_SHUT_WR); /* best effort, non-blocking */
	(void)shutdown(s->fd, how);
}

static void tls_close(struct np_socket *s)
{
	struct tls_socket *t = (struct tls_socket *)s;
	if (t->established)
		(void)gnutls_bye(t->session, GNUTLS_SHUT_WR); /* close_notify if it fits, no wait */
	gnutls_deinit(t->session);
	np_tls_transport_release(&t->transport);
	if (t->ctx)
		np_tls_context_unref(t->ctx);
	if (t->own)
		gnutls_certificate_free_credentials(t->own);
	if (s->fd >= 0)
		close(s->fd);
	gnutls_free(t->subject);
	free(t);
}

static const struct np_tls_info *tls_info(const struct np_socket *s)
{
	const struct tls_socket *t = (const struct tls_socket *)s;
	return t->established ? &t->info : NULL;
}

/* Decrypted bytes, or a whole record read ahead: what a read gets
 * without waiting though poll() on the fd would not say so. */
static size_t tls_buffered(const struct np_socket *s)
{
	const struct tls_socket *t = (const struct tls_socket *)s;
	size_t pending = gnutls_record_check_pending(t->session);
	if (pending == 0 && np_tls_transport_has_record(&t->transport))
		pending = 1;
	return pending;
}

static const struct np_socket_ops tls_ops = {
	.read = tls_read,
	.writev_all = tls_writev_all,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.tls_info = tls_info,
	.buffered = tls_buffered,
};

static struct tls_socket *tls_socket_new(int fd, unsigned flags)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return NULL;
	struct tls_socket *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (np_socket_init(&t->base, &tls_ops, fd) < 0) {
		free(t);
		return NULL;
	}
	if (gnutls_init(&t->session, flags | GNUTLS_NONBLOCK) < 0) {
		pthread_mutex_destroy(&t->base.write_lock);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	np_tls_transport_attach(&t->transport, t->session, fd);
	t->base.secure = true;
	return t;
}

struct np_socket *np_socket_tls_server_new(int fd, struct np_tls_context *ctx)
{
	struct tls_socket *t = tls_socket_new(fd, GNUTLS_SERVER);
	if (!t)
		return NULL;
	t->ctx = np_tls_context_ref(ctx);
	int rc = gnutls_priority_set(t->session, ctx->priority);
	if (rc == 0)
		rc = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, ctx->cred);
	if (rc == 0 && ctx->tickets)
		rc = gnutls_session_ticket_enable_server(t->session, &ctx->ticket_key);
	if (rc == 0 && ctx->client_auth != NP_CLIENT_AUTH_NONE) {
		/* A certificate that is sent must verify against caFile: see
		 * verify_client() after the handshake. */
		gnutls_certificate_server_set_request(t->session, ctx->client_auth == NP_CLIENT_AUTH_REQUIRED
									 ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST);
	}
	if (rc < 0) {
		t->base.fd = -1; /* the caller still owns fd */
		np_socket_close(&t->base);
		errno = EINVAL;
		return NULL;
	}
	return &t->base;
}

struct np_socket *np_socket_tls_client_new(int fd, const struct np_tls_client_options *options,
					   char *err, size_t err_size)
{
	struct tls_socket *t = tls_socket_new(fd, GNUTLS_CLIENT);
	const char *err_pos = NULL;
	if (!t) {
		snprintf(err, err_size, "cannot start TLS: %s", strerror(errno));
		return NULL;
	}
	int rc = gnutls_certificate_allocate_credentials(&t->own);
	if (rc == 0)
		rc = options->ca_file ? gnutls_certificate_set_x509_trust_file(t->own, options->ca_file,
									     GNUTLS_X509_FMT_PEM)
				      : gnutls_certificate_set_x509_system_trust(t->own);
	if (rc >= 0 && options->cert_file)
		rc = gnutls_certificate_set_x509_key_file(t->own, options->cert_file, options->key_file,
							  GNUTLS_X509_FMT_PEM);
	if (rc >= 0)
		rc = options->priority ? gnutls_priority_set_direct(t->session, options->priority, &err_pos)
				       : gnutls_set_default_priority(t->session);
	if (rc >= 0)
		rc = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->own);
	if (rc >= 0 && options->server_name)
		rc = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, options->server_name,
					    strlen(options->server_name));
	if (rc < 0) {
		snprintf(err, err_size, "TLS set-up: %s", gnutls_strerror(rc));
		t->base.fd = -1;
		np_socket_close(&t->base);
		return NULL;
	}
	if (!options->insecure)
		gnutls_session_set_verify_cert(t->session, options->server_name, 0);
	return &t->base;
}

/* clientAuth optional or required: a client certificate that was sent
 * must chain to caFile, be in its validity period and not be revoked. */
static int verify_client(struct tls_socket *t)
{
	struct np_socket *s = &t->base;
	unsigned count = 0, status = 0;
	if (!gnutls_certificate_get_peers(t->session, &count) || count == 0)
		return 0; /* none sent: GnuTLS already refused it where required */
	int rc = gnutls_certificate_verify_peers3(t->session, NULL, &status);
	if (rc == 0 && status == 0)
		return 0;
	gnutls_datum_t why = { NULL, 0 };
	if (rc == 0)
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
	tls_fault(&s->rd, "TLS client certificate rejected: %s",
		  rc < 0 ? gnutls_strerror(rc) : why.data ? (const char *)why.data : "not trusted");
	gnutls_free(why.data);
	return -1;
}

/* What the handshake agreed, kept for the log line and the handler. */
static void record_info(struct tls_socket *t)
{
	gnutls_session_t s = t->session;
	t->info.version = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	t->info.cipher = gnutls_cipher_get_name(gnutls_cipher_get(s));
	t->info.resumed = gnutls_session_is_resumed(s) != 0;
	size_t len = sizeof(t->server_name) - 1;
	unsigned type;
	if (gnutls_server_name_get(s, t->server_name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS)
		t->info.server_name = t->server_name;
	unsigned count = 0;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &count);
	gnutls_x509_crt_t crt;
	if (peers && count && gnutls_x509_crt_init(&crt) == 0) {
		gnutls_datum_t dn = { NULL, 0 };
		if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0 &&
		    gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0)
			t->subject = (char *)dn.data;
		gnutls_x509_crt_deinit(crt);
	}
	t->info.peer_subject = t->subject;
}

/* A server's first look: a TLS client starts with a handshake record
 * (0x16); anything else is a plain client on a TLS port, told at once
 * rather than after handshakeTimeout. */
static int expect_client_hello(struct tls_socket *t)
{
	struct np_socket *s = &t->base;
	unsigned char first;
	for (;;) {
		ssize_t n = recv(s->fd, &first, 1, MSG_PEEK);
		if (n == 1)
			break;
		if (n == 0) {
			tls_fault(&s->rd, "closed before the TLS handshake");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			tls_fault(&s->rd, "TLS handshake: %s", strerror(errno));
			return -1;
		}
		if (np_socket_wait(s, POLLIN) < 0) {
			tls_fault(&s->rd, "TLS handshake timed out");
			return -1;
		}
	}
	if (first != 0x16) {
		tls_fault(&s->rd, "not a TLS ClientHello (first byte 0x%02x): a plain client on a TLS port?",
			  first);
		return -1;
	}
	return 0;
}

#define ACME_ALPN "acme-tls/1"

/* After the ClientHello, before the certificate is chosen: a client that
 * asked for acme-tls/1 gets the challenge certificate for its name. */
static int acme_hello(gnutls_session_t session)
{
	struct tls_socket *t = gnutls_session_get_ptr(session);
	gnutls_datum_t proto = { NULL, 0 };
	if (!t || !t->acme || gnutls_alpn_get_selected_protocol(session, &proto) < 0 ||
	    proto.size != sizeof(ACME_ALPN) - 1 || memcmp(proto.data, ACME_ALPN, proto.size) != 0)
		return 0;
	char name[256];
	size_t len = sizeof(name) - 1;
	unsigned type;
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	if (gnutls_server_name_get(session, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS) {
		tls_fault(&t->base.rd, "tls-alpn-01 handshake without a server name: refused");
		return GNUTLS_E_NO_APPLICATION_PROTOCOL;
	}
	name[len] = '\0';
	/* Called again for a second ClientHello (after a HelloRetryRequest):
	 * the credentials made for the first serve. */
	if (t->own)
		return gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, t->own);
	if (!t->acme->lookup(t->acme->arg, name, &cert, &cert_len, &key, &key_len)) {
		tls_fault(&t->base.rd, "tls-alpn-01 handshake for %s, which has no challenge pending: refused", name);
		return GNUTLS_E_NO_APPLICATION_PROTOCOL;
	}
	gnutls_datum_t c = { (unsigned char *)cert, (unsigned)cert_len }, k = { (unsigned char *)key, (unsigned)key_len };
	int rc = gnutls_certificate_allocate_credentials(&t->own);
	if (rc == 0)
		rc = gnutls_certificate_set_x509_key_mem2(t->own, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc == 0)
		rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, t->own);
	free(cert);
	free(key);
	if (rc < 0) {
		tls_fault(&t->base.rd, "tls-alpn-01 for %s: %s", name, gnutls_strerror(rc));
		return rc;
	}
	t->acme_answered = true;
	return 0;
}

int np_socket_tls_answer_acme(struct np_socket *s, const struct np_tls_alpn_hook *hook)
{
	struct tls_socket *t = (struct tls_socket *)s;
	gnutls_datum_t proto = { (unsigned char *)ACME_ALPN, sizeof(ACME_ALPN) - 1 };
	if (!t->ctx || gnutls_alpn_set_protocols(t->session, &proto, 1, 0) < 0)
		return -1;
	t->acme = hook;
	gnutls_session_set_ptr(t->session, t);
	gnutls_handshake_set_post_client_hello_function(t->session, acme_hello);
	return 0;
}

void np_socket_tls_limit_handshake(struct np_socket *s, size_t max)
{
	np_tls_transport_limit_handshake(&((struct tls_socket *)s)->transport, max);
}

bool np_socket_tls_acme_answered(const struct np_socket *s)
{
	return ((const struct tls_socket *)s)->acme_answered;
}

int np_socket_tls_handshake(struct np_socket *s)
{
	struct tls_socket *t = (struct tls_socket *)s;
	if (t->ctx && expect_client_hello(t) < 0)
		return -1;
	for (;;) {
		int rc = gnutls_handshake(t->session);
		if (rc == 0)
			break;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (tls_wait(t) < 0) {
				/* A wait fails with a timeout or an errno, never as TLS,
				 * so the words are not in rd.text itself. */
				if (s->rd.error == NP_SOCK_TIMEOUT)
					tls_fault(&s->rd, "TLS handshake timed out");
				else
					tls_fault(&s->rd, "TLS handshake: %s", np_socket_strerror(s));
				return -1;
			}
			continue;
		}
		if (t->transport.pre_handshake_over) {
			tls_fault(&s->rd, "TLS handshake failed: the client sent more than maxHandshakeSize (%zu bytes) "
				  "before its handshake was done", t->transport.pre_handshake_max);
			return -1;
		}
		if (!gnutls_error_is_fatal(rc))
			continue;
		if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			gnutls_datum_t why = { NULL, 0 };
			unsigned status = gnutls_session_get_verify_cert_status(t->session);
			gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
			tls_fault(&s->rd, "TLS handshake failed: certificate rejected: %s",
				  why.data ? (const char *)why.data : "not trusted");
			gnutls_free(why.data);
			return -1;
		}
		if (rc == GNUTLS_E_NO_APPLICATION_PROTOCOL && t->acme && s->rd.text[0])
			return -1;       /* acme_hello() said why */
		if (rc == GNUTLS_E_PREMATURE_TERMINATION || rc == GNUTLS_E_PULL_ERROR) {
			tls_fault(&s->rd, "TLS handshake failed: the peer closed the connection");
			return -1;
		}
		tls_fail(t, &s->rd, "TLS handshake failed", rc);
		return -1;
	}
	t->established = true;
	np_tls_transport_limit_handshake(&t->transport, 0);
	if (t->ctx && t->ctx->client_auth != NP_CLIENT_AUTH_NONE && verify_client(t) < 0)
		return -1;
	record_info(t);
	return 0;
}
