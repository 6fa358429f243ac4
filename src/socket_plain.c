/* SPDX-License-Identifier: ISC */
/*
 * socket_plain.c - np_socket over a plain TCP fd (the Java SocketAdapter
 * around a java.net.Socket).
 *
 * A small read with nothing held takes what has come, up to 2 KiB, so a
 * transaction's header and a small body cost one recv(); the rest waits
 * in the socket's read-ahead buffer for the next read (read_ahead.h).
 * A read without a bound blocks in recv() for NP_STACK_IDLE_MS at most
 * (SO_RCVTIMEO), then waits on in poll() with the thread's stack
 * released (stack.h): an idle session keeps only its stack's top pages.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "npsocket/socket.h"
#include "read_ahead.h"
#include "stack.h"
#include "turn.h"

struct plain_socket {
	struct np_socket base;
	struct np_read_ahead ahead;  /* reader only */
	bool idle_timer;             /* SO_RCVTIMEO is set; reader only */
};

static ssize_t plain_read(struct np_socket *s, void *buf, size_t len)
{
	struct plain_socket *p = (struct plain_socket *)s;
	if (np_read_ahead_holds(&p->ahead)) {
		size_t n = np_read_ahead_take(&p->ahead, buf, len);
		np_counter_add(&s->bytes_in, n);
		return (ssize_t)n;
	}
	const bool no_wait = np_socket_no_wait(s);
	/* With a bound the fd does not block: a recv() takes what has come
	 * and poll() is only for waiting, within the bound. */
	const bool bounded = !no_wait && (np_socket_timeout(s) > 0 || np_socket_deadline(s) > 0);
	if (!bounded && !no_wait && !p->idle_timer) {
		(void)np_stack_idle_recv(s->fd); /* advice: see stack.h */
		p->idle_timer = true;
	}
	/* Others wait for a turn: queue behind them first; by the time the
	 * number comes up the data has usually come, and a recv() without
	 * waiting takes it (turn.h).  Once per read: a wait below stands in
	 * line already. */
	bool may_queue = !no_wait;
	/* poll() said readable, and the turn was taken after it: the data is
	 * read holding that turn, not waited for in line a second time. */
	bool waited = false;
	for (;;) {
		/* A blocking recv() waits with the thread's turn given back. */
		const bool blocks = !no_wait && !bounded;
		ssize_t n = -1;
		bool queued = (may_queue && np_turn_requeue()) || waited;
		bool came = false; /* while this thread waited in line */
		may_queue = false;
		waited = false;
		if (queued) {
			n = np_read_ahead_recv(&p->ahead, s->fd, buf, len, MSG_DONTWAIT, NULL);
			came = n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
		}
		/* Bounded and nothing came in line: the same recv() again would
		 * say so too, so straight to the wait. */
		if (!came && !(queued && bounded)) {
			if (blocks)
				np_turn_give();
			n = np_read_ahead_recv(&p->ahead, s->fd, buf, len, blocks ? 0 : MSG_DONTWAIT, NULL);
			if (blocks)
				np_turn_take();
		}
		if (n < 0 && !no_wait && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Unbounded: the recv() timed out, the session is idle. */
			if (!bounded)
				np_stack_release();
			if (np_socket_wait_queued(s) < 0)
				return -1;
			waited = true;
			continue;
		}
		if (n > 0) {
			np_counter_add(&s->bytes_in, (uint64_t)n);
			return n;
		}
		if (n == 0) {
			s->rd.error = NP_SOCK_EOF;
			return -1;
		}
		if (errno == EINTR)
			continue;
		np_socket_set_errno(&s->rd, errno);
		return -1;
	}
}

static int plain_writev_all(struct np_socket *s, const struct iovec *iov_in, int iovcnt)
{
	struct iovec iov[8];
	if (iovcnt < 1 || iovcnt > 8) {
		np_socket_set_errno(&s->wr, EINVAL);
		return -1;
	}
	for (int i = 0; i < iovcnt; i++)
		iov[i] = iov_in[i];

	struct iovec *v = iov;
	int left = iovcnt;
	while (left > 0) {
		struct msghdr msg = { .msg_iov = v, .msg_iovlen = (size_t)left };
		ssize_t n = np_turn_sendmsg(s->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* The fd blocks: SO_SNDTIMEO (the write timeout)
				 * passed without a byte going out. */
				np_socket_write_timed_out(s);
				return -1;
			}
			np_socket_set_errno(&s->wr, errno);
			return -1;
		}
		np_counter_add(&s->bytes_out, (uint64_t)n);
		size_t done = (size_t)n;
		while (left > 0 && done >= v->iov_len) {
			done -= v->iov_len;
			v++;
			left--;
		}
		if (left > 0) {
			v->iov_base = (char *)v->iov_base + done;
			v->iov_len -= done;
		}
	}
	return 0;
}

static void plain_shutdown(struct np_socket *s, int how)
{
	/* ENOTCONN after the peer vanished is expected; nothing to report. */
	(void)shutdown(s->fd, how);
}

static void plain_close(struct np_socket *s)
{
	struct plain_socket *p = (struct plain_socket *)s;
	np_read_ahead_drop(&p->ahead);
	if (s->fd >= 0)
		close(s->fd);
	free(p);
}

static size_t plain_buffered(const struct np_socket *s)
{
	return ((const struct plain_socket *)s)->ahead.len;
}

static const struct np_socket_ops plain_ops = {
	.read = plain_read,
	.writev_all = plain_writev_all,
	.shutdown = plain_shutdown,
	.close = plain_close,
	.tls_info = NULL,
	.buffered = plain_buffered,
};

struct np_socket *np_socket_plain_new(int fd)
{
	struct plain_socket *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (np_socket_init(&p->base, &plain_ops, fd) < 0) {
		free(p);
		return NULL;
	}
	return &p->base;
}
