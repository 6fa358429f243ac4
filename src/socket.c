/* SPDX-License-Identifier: ISC */
/*
 * socket.c - what every np_socket shares: set-up and close, layers, the
 * write lock, waiting for the fd with a timeout and a deadline, reading
 * exactly n bytes, errors in words.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "npsocket/socket.h"
#include "stack.h"
#include "turn.h"

int64_t np_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int np_socket_init(struct np_socket *s, const struct np_socket_ops *ops, int fd)
{
	memset(s, 0, sizeof(*s));
	int err = pthread_mutex_init(&s->write_lock, NULL);
	if (err) {
		errno = err;
		return -1;
	}
	s->ops = ops;
	s->fd = fd;
	return 0;
}

int np_socket_init_layer(struct np_socket *s, const struct np_socket_ops *ops, struct np_socket *inner)
{
	if (np_socket_init(s, ops, inner->fd) < 0)
		return -1;
	s->inner = inner;
	s->secure = inner->secure;
	atomic_store(&s->timeout_ms, np_socket_timeout(inner));
	atomic_store(&s->deadline, np_socket_deadline(inner));
	atomic_store(&s->write_timeout_ms, np_socket_write_timeout(inner));
	return 0;
}

void np_socket_close(struct np_socket *s)
{
	while (s) {
		struct np_socket *inner = s->inner;
		pthread_mutex_destroy(&s->write_lock);
		s->ops->close(s);
		s = inner;
	}
}

void np_socket_set_timeout(struct np_socket *s, int timeout_ms)
{
	for (; s; s = s->inner)
		atomic_store_explicit(&s->timeout_ms, timeout_ms, memory_order_relaxed);
}

int np_socket_set_write_timeout(struct np_socket *s, int timeout_ms)
{
	const int fd = s->fd;
	for (; s; s = s->inner)
		atomic_store_explicit(&s->write_timeout_ms, timeout_ms, memory_order_relaxed);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	return fd < 0 ? 0 : setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void np_socket_set_deadline(struct np_socket *s, int64_t deadline_ms)
{
	for (; s; s = s->inner)
		atomic_store_explicit(&s->deadline, deadline_ms, memory_order_relaxed);
}

void np_socket_set_no_wait(struct np_socket *s, bool no_wait)
{
	for (; s; s = s->inner)
		atomic_store_explicit(&s->no_wait, no_wait, memory_order_relaxed);
}

/* np_turn_poll() that, when the wait is long, gives the thread's unused stack
 * back after NP_STACK_IDLE_MS of it (the rest of the wait follows, its
 * bound counted from the start).  timeout_ms < 0: no bound. */
static int poll_idle(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	if (timeout_ms >= 0 && timeout_ms <= NP_STACK_IDLE_MS)
		return np_turn_poll(pfd, n, timeout_ms);
	np_turn_give();
	int rc = poll(pfd, n, NP_STACK_IDLE_MS);
	if (rc == 0) {
		np_stack_release();
		rc = poll(pfd, n, timeout_ms < 0 ? -1 : timeout_ms - NP_STACK_IDLE_MS);
	}
	np_turn_take();
	return rc;
}

/* Polls the fd within the socket's bounds; a failure goes into f. */
static int wait_fd(struct np_socket *s, short events, bool no_wait, bool requeue, struct np_socket_fault *f)
{
	for (;;) {
		int wait_ms = -1;
		int timeout_ms = np_socket_timeout(s);
		int64_t deadline = np_socket_deadline(s);
		if (no_wait)
			wait_ms = 0; /* only whether something has come: no bound applies */
		else if (timeout_ms > 0)
			wait_ms = timeout_ms;
		if (deadline > 0 && !no_wait) {
			int64_t left = deadline - np_now_ms();
			if (left <= 0) {
				f->error = NP_SOCK_TIMEOUT;
				return -1;
			}
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = (int)left;
		}
		struct pollfd pfd = { .fd = s->fd, .events = events };
		/* Others wait for a turn: queue for the next at once; what
		 * came meanwhile needs no wake-up of its own (turn.h). */
		if (requeue && events == POLLIN && wait_ms != 0 && np_turn_requeue() && poll(&pfd, 1, 0) > 0)
			return 0;
		int n = events == POLLIN ? poll_idle(&pfd, 1, wait_ms) : np_turn_poll(&pfd, 1, wait_ms);
		if (n > 0)
			return 0; /* readable, writable, or an error the next call reports */
		if (n == 0) {
			f->error = NP_SOCK_TIMEOUT;
			return -1;
		}
		if (errno != EINTR) {
			np_socket_set_errno(f, errno);
			return -1;
		}
	}
}

int np_socket_wait(struct np_socket *s, short events)
{
	return wait_fd(s, events, np_socket_no_wait(s), true, &s->rd);
}

int np_socket_wait_queued(struct np_socket *s)
{
	return wait_fd(s, POLLIN, np_socket_no_wait(s), false, &s->rd);
}

int np_socket_wait_writable_since(struct np_socket *s, int64_t stalled_since)
{
	for (;;) {
		const int timeout_ms = np_socket_write_timeout(s);
		int wait_ms = -1;
		if (timeout_ms > 0) {
			int64_t left = stalled_since + timeout_ms - np_now_ms();
			if (left <= 0) {
				np_socket_write_timed_out(s);
				return -1;
			}
			wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
		int n = np_turn_poll(&pfd, 1, wait_ms);
		if (n > 0)
			return 0; /* writable, or an error the next call reports */
		if (n < 0 && errno != EINTR) {
			np_socket_set_errno(&s->wr, errno);
			return -1;
		}
	}
}

int np_socket_wait_writable(struct np_socket *s)
{
	return np_socket_wait_writable_since(s, np_now_ms());
}

void np_socket_write_timed_out(struct np_socket *s)
{
	s->wr.error = NP_SOCK_TIMEOUT;
	/* ENOTCONN after the peer vanished is expected. */
	(void)shutdown(s->fd, SHUT_RDWR);
}

void np_socket_set_errno(struct np_socket_fault *f, int err)
{
	if (err == ECONNRESET || err == EPIPE) {
		f->error = NP_SOCK_RESET;
	} else if (err == EAGAIN || err == EWOULDBLOCK || err == ETIMEDOUT) {
		f->error = NP_SOCK_TIMEOUT;
	} else {
		f->error = NP_SOCK_SYSTEM;
		f->sys_errno = err;
	}
}

int np_socket_wait_either(struct np_socket *a, struct np_socket *b, int timeout_ms)
{
	int ready = (a && np_socket_buffered(a) ? 1 : 0) | (b && np_socket_buffered(b) ? 2 : 0);
	if (ready)
		return ready;
	struct pollfd pfd[2] = {
		{ .fd = a ? a->fd : -1, .events = POLLIN },
		{ .fd = b ? b->fd : -1, .events = POLLIN },
	};
	int n;
	do
		n = poll_idle(pfd, 2, timeout_ms > 0 ? timeout_ms : -1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	return (pfd[0].revents ? 1 : 0) | (pfd[1].revents ? 2 : 0);
}

int np_socket_poll(const struct np_socket *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int n;
	do
		n = poll_idle(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
	while (n < 0 && errno == EINTR);
	return n;
}

int np_socket_read_full(struct np_socket *s, void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = np_socket_read(s, p, len);
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int np_socket_writev_all(struct np_socket *s, const struct iovec *iov, int iovcnt)
{
	np_socket_write_lock(s);
	int rc = np_socket_writev_locked(s, iov, iovcnt);
	np_socket_write_unlock(s);
	return rc;
}

int np_socket_write_all(struct np_socket *s, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return np_socket_writev_all(s, &iov, 1);
}

static const char *fault_str(const struct np_socket_fault *f)
{
	switch (f->error) {
	case NP_SOCK_OK: return "no error";
	case NP_SOCK_EOF: return "closed by peer";
	case NP_SOCK_TIMEOUT: return "timed out";
	case NP_SOCK_RESET: return "connection reset by peer";
	case NP_SOCK_SYSTEM: return strerror(f->sys_errno);
	case NP_SOCK_TLS: return f->text;
	}
	return "unknown error";
}

const char *np_socket_strerror(const struct np_socket *s)
{
	return fault_str(&s->rd);
}

const char *np_socket_write_strerror(const struct np_socket *s)
{
	if (s->wr.error == NP_SOCK_TIMEOUT)
		return "timed out: the peer took nothing for writeTimeout";
	return fault_str(&s->wr);
}
