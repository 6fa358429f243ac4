/* SPDX-License-Identifier: ISC */
/*
 * tls_transport.c - GnuTLS's transport over a TCP fd.
 *
 * Reading: GnuTLS asks for each record's 5-byte header and then for the
 * rest, two recv() calls per record.  The pull function reads ahead
 * instead, so a small record and whatever follows it cost one system
 * call: 2 KiB into the read-ahead's own buffer while nothing is known to
 * be coming (no allocation per record), a record's worth at a time on the
 * heap once that filled up, four while data streams in.  Bytes GnuTLS
 * has not taken yet wait there until it takes them; a request as large
 * as the buffer, with nothing held, goes straight into GnuTLS's buffer.
 *
 * Writing: GnuTLS pushes every record it makes on its own.  While the
 * writer batches, records are gathered behind each other and go out
 * together when WRITE_BATCH is full or the writer flushes; a push from
 * another thread (GnuTLS answering a post-handshake message on the
 * reader's side) goes out directly.
 *
 * errno is left as the system call set it: GnuTLS reads it from there,
 * and it is per thread while the session is not.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tls_transport.h"
#include "turn.h"

/* One record at its largest (RFC 8446 5.2: payload + 256 + header), and
 * what a read takes once a record filled the buffer.  A read with
 * nothing known to be coming uses NP_READ_AHEAD_FIRST bytes of stack. */
#define READ_AHEAD (NP_TLS_RECORD_PAYLOAD + 256 + 5)
#define READ_AHEAD_STREAM (4 * READ_AHEAD)
#define WRITE_BATCH (64 * 1024)

static ssize_t pull(struct np_tls_transport *tr, void *data, size_t len);

/* What GnuTLS reads, counted against the pre-handshake bound: past it
 * the read fails (EMSGSIZE), and the handshake with it. */
static ssize_t transport_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct np_tls_transport *tr = ptr;
	if (tr->pre_handshake_max) {
		size_t left = tr->pre_handshake_max - tr->pre_handshake_taken;
		if (left == 0) {
			tr->pre_handshake_over = true;
			errno = EMSGSIZE;
			return -1;
		}
		if (len > left)
			len = left;
	}
	ssize_t n = pull(tr, data, len);
	if (n > 0 && tr->pre_handshake_max)
		tr->pre_handshake_taken += (size_t)n;
	return n;
}

static ssize_t pull(struct np_tls_transport *tr, void *data, size_t len)
{
	struct np_read_ahead *ra = &tr->ahead;
	if (!np_read_ahead_holds(ra)) {
		if (!tr->ahead_size) {
			/* Nothing is known to be coming: wait with the small
			 * buffer. */
			bool full;
			ssize_t n = np_read_ahead_recv(ra, tr->fd, data, len, 0, &full);
			if (full)
				tr->ahead_size = READ_AHEAD; /* more is likely on its way */
			return n;
		}
		/* Data is streaming in: a record, or four, at once; a large
		 * request (or no memory) goes straight into GnuTLS's buffer. */
		if (len >= tr->ahead_size || !(ra->data = malloc(tr->ahead_size)))
			return recv(tr->fd, data, len, 0);
		ssize_t n = recv(tr->fd, ra->data, tr->ahead_size, 0);
		if (n <= 0) {
			int saved = errno;
			np_read_ahead_drop(ra);
			errno = saved;
			return n;
		}
		/* A full buffer: take more next time; less than a record: the
		 * stream has paused, wait with the small buffer again. */
		if ((size_t)n == tr->ahead_size)
			tr->ahead_size = READ_AHEAD_STREAM;
		else if ((size_t)n < READ_AHEAD)
			tr->ahead_size = 0;
		ra->pos = 0;
		ra->len = (size_t)n;
	}
	return (ssize_t)np_read_ahead_take(ra, data, len);
}

ssize_t np_tls_transport_fill(struct np_tls_transport *tr)
{
	ssize_t n = np_read_ahead_fill(&tr->ahead, tr->fd, MSG_DONTWAIT);
	if (n > 0 && (size_t)n == NP_READ_AHEAD_FIRST)
		tr->ahead_size = READ_AHEAD; /* more is likely on its way */
	return n;
}

static int transport_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	struct np_tls_transport *tr = ptr;
	if (np_read_ahead_holds(&tr->ahead))
		return 1;
	struct pollfd pfd = { .fd = tr->fd, .events = POLLIN };
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT || ms > INT_MAX ? -1 : (int)ms);
}

static ssize_t transport_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct np_tls_transport *tr = ptr;
	if (atomic_load_explicit(&tr->batching, memory_order_acquire) &&
	    pthread_equal(tr->batch_owner, pthread_self())) {
		size_t total = 0;
		for (int i = 0; i < iovcnt; i++)
			total += iov[i].iov_len;
		if (tr->batch_len + total > WRITE_BATCH && np_tls_transport_batch_flush(tr) < 0)
			return -1;
		if (total <= WRITE_BATCH) {
			for (int i = 0; i < iovcnt; i++) {
				memcpy(tr->batch + tr->batch_len, iov[i].iov_base, iov[i].iov_len);
				tr->batch_len += iov[i].iov_len;
			}
			return (ssize_t)total;
		}
	}
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	return np_turn_sendmsg(tr->fd, &msg, MSG_NOSIGNAL);
}

void np_tls_transport_attach(struct np_tls_transport *tr, gnutls_session_t session, int fd)
{
	tr->fd = fd;
	gnutls_transport_set_ptr(session, tr);
	gnutls_transport_set_pull_function(session, transport_pull);
	gnutls_transport_set_pull_timeout_function(session, transport_pull_timeout);
	gnutls_transport_set_vec_push_function(session, transport_push);
}

void np_tls_transport_release(struct np_tls_transport *tr)
{
	np_read_ahead_drop(&tr->ahead);
	np_tls_transport_batch_end(tr);
}

bool np_tls_transport_has_record(const struct np_tls_transport *tr)
{
	const struct np_read_ahead *ra = &tr->ahead;
	if (ra->len < 5)
		return false;
	const unsigned char *h = ra->data + ra->pos;
	return ra->len >= 5 + ((size_t)h[3] << 8 | h[4]);
}

bool np_tls_transport_batch_begin(struct np_tls_transport *tr)
{
	if (!tr->batch && !(tr->batch = malloc(WRITE_BATCH)))
		return false;
	tr->batch_owner = pthread_self();
	atomic_store_explicit(&tr->batching, true, memory_order_release);
	return true;
}

int np_tls_transport_batch_flush(struct np_tls_transport *tr)
{
	while (tr->batch_sent < tr->batch_len) {
		struct iovec v = { tr->batch + tr->batch_sent, tr->batch_len - tr->batch_sent };
		struct msghdr msg = { .msg_iov = &v, .msg_iovlen = 1 };
		ssize_t n = np_turn_sendmsg(tr->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		tr->batch_sent += (size_t)n;
	}
	tr->batch_len = tr->batch_sent = 0;
	return 0;
}

void np_tls_transport_batch_end(struct np_tls_transport *tr)
{
	atomic_store_explicit(&tr->batching, false, memory_order_release);
	free(tr->batch);
	tr->batch = NULL;
	tr->batch_len = tr->batch_sent = 0;
}
