/* SPDX-License-Identifier: ISC */
/*
 * read_ahead_test.c - the read-ahead under the plain socket and the TLS
 * transport (src/read_ahead.c), over a socketpair: what a small read
 * takes and holds (in its own buffer, no allocation), large reads
 * straight through, EOF, MSG_DONTWAIT, and np_socket's plain reads and
 * np_socket_buffered() on top of it; a read's and a write's failures
 * kept apart, also when they happen on two threads at once.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "npsocket/socket.h"
#include "read_ahead.h"
#include "tap.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + seed);
}

/* A reader blocked in np_socket_read() until its timeout. */
static void *read_until_timeout(void *arg)
{
	struct np_socket *s = arg;
	unsigned char b;
	return (void *)(intptr_t)np_socket_read(s, &b, 1);
}

static void send_all(int fd, const void *p, size_t n)
{
	if (send(fd, p, n, 0) != (ssize_t)n) {
		perror("send");
		_exit(2);
	}
}

int main(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		return 2;
	}
	struct np_read_ahead ra = { 0 };
	unsigned char out[6000], in[6000];
	fill(out, sizeof(out), 1);

	/* A 4-byte read when 100 bytes came: one recv, 96 held. */
	send_all(sv[1], out, 100);
	bool full = true;
	ssize_t n = np_read_ahead_recv(&ra, sv[0], in, 4, 0, &full);
	is_int(n, 4, "a 4-byte read gets 4 bytes");
	ok(memcmp(in, out, 4) == 0, "the first 4");
	ok(np_read_ahead_holds(&ra) && ra.len == 96, "the other 96 are held");
	ok(ra.data == ra.home, "in the read-ahead's own buffer: a small read allocates nothing");
	ok(!full, "100 bytes did not fill the 2 KiB: nothing more is known to come");
	is_int(np_read_ahead_take(&ra, in + 4, 50), 50, "take 50 of them");
	is_int(np_read_ahead_take(&ra, in + 54, 1000), 46, "then the 46 left, though 1000 were asked for");
	ok(memcmp(in, out, 100) == 0, "all 100 in order");
	ok(!np_read_ahead_holds(&ra) && ra.data == NULL, "empty: nothing held");

	/* Exactly what was asked for: nothing held. */
	send_all(sv[1], out, 10);
	n = np_read_ahead_recv(&ra, sv[0], in, 10, 0, NULL);
	ok(n == 10 && !np_read_ahead_holds(&ra) && ra.data == NULL, "a read of all that came holds nothing");

	/* More than 2 KiB waiting: the small buffer fills and says so. */
	send_all(sv[1], out, 5000);
	n = np_read_ahead_recv(&ra, sv[0], in, 1, 0, &full);
	ok(n == 1 && full && ra.len == NP_READ_AHEAD_FIRST - 1, "5000 waiting: a 1-byte read takes 2 KiB, says full");
	size_t got = 1;
	got += np_read_ahead_take(&ra, in + 1, sizeof(in));
	is_int(got, NP_READ_AHEAD_FIRST, "the held part taken in one go");
	/* A large read goes straight into the caller's buffer. */
	n = np_read_ahead_recv(&ra, sv[0], in + got, 5000 - got, 0, &full);
	is_int(n, 5000 - NP_READ_AHEAD_FIRST, "a read of 2 KiB or more goes straight to the caller");
	ok(!np_read_ahead_holds(&ra) && !full, "and holds nothing");
	ok(memcmp(in, out, 5000) == 0, "all 5000 in order");

	/* Nothing there, MSG_DONTWAIT: EAGAIN, nothing held. */
	errno = 0;
	n = np_read_ahead_recv(&ra, sv[0], in, 4, MSG_DONTWAIT, NULL);
	ok(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "MSG_DONTWAIT with nothing there: EAGAIN");

	/* The plain np_socket on top: a header and body in one recv, the
	 * held bytes visible to np_socket_buffered(). */
	struct np_socket *s = np_socket_plain_new(sv[0]);
	if (!s)
		return 2;
	np_socket_set_timeout(s, 5000);
	send_all(sv[1], out, 1028);
	unsigned char header[4], body[1024];
	ok(np_socket_read_full(s, header, 4) == 0 && memcmp(header, out, 4) == 0, "np_socket: a 4-byte header");
	is_int(np_socket_buffered(s), 1024, "np_socket_buffered: the 1024-byte body is held");
	ok(np_socket_read_full(s, body, 1024) == 0 && memcmp(body, out + 4, 1024) == 0, "the body, from what was held");
	is_int(np_socket_buffered(s), 0, "nothing held after it");
	is_int((int)np_counter_get(&s->bytes_in), 1028, "bytes_in counts held bytes when they are read");

	/* no_wait: nothing there is NP_SOCK_TIMEOUT at once, not a wait. */
	np_socket_set_no_wait(s, true);
	ok(np_socket_read(s, in, 4) == -1 && s->rd.error == NP_SOCK_TIMEOUT, "no_wait with nothing there: timed out");
	send_all(sv[1], out, 8);
	ok(np_socket_read(s, in, 4) == 4 && np_socket_buffered(s) == 4, "no_wait: what came is read and held");
	/* np_socket_wait() under no_wait only looks: a deadline long past
	 * does not turn what has come into a timeout. */
	np_socket_set_deadline(s, np_now_ms() - 1000);
	ok(np_socket_wait(s, POLLOUT) == 0, "no_wait, deadline passed: a writable fd is ready");
	ok(np_socket_wait(s, POLLIN) == -1 && s->rd.error == NP_SOCK_TIMEOUT,
	   "no_wait, deadline passed, nothing in the kernel: timed out at once");
	np_socket_set_deadline(s, 0);
	np_socket_set_no_wait(s, false);

	/* Held bytes come before EOF. */
	close(sv[1]);
	ok(np_socket_read(s, in, 100) == 4 && memcmp(in, out + 4, 4) == 0, "held bytes still come after the peer closed");
	ok(np_socket_read(s, in, 100) == -1 && s->rd.error == NP_SOCK_EOF, "then EOF");

	/* A write failing afterwards has its own reason; the read's stays. */
	ok(np_socket_write_all(s, out, 10) == -1 && s->wr.error == NP_SOCK_RESET, "a write to the closed peer: reset");
	ok(s->rd.error == NP_SOCK_EOF, "the read's failure is still EOF");
	ok(strcmp(np_socket_strerror(s), "closed by peer") == 0 &&
	   strcmp(np_socket_write_strerror(s), "connection reset by peer") == 0,
	   "each in words: %s / %s", np_socket_strerror(s), np_socket_write_strerror(s));
	np_socket_close(s);

	/* Two threads: the session's reader waits out its timeout while
	 * another thread's write fails (the peer reads no more).  Each keeps
	 * its own reason, whichever failed last. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		return 2;
	}
	s = np_socket_plain_new(sv[0]);
	np_socket_set_timeout(s, 300);
	pthread_t reader;
	if (pthread_create(&reader, NULL, read_until_timeout, s) != 0) {
		perror("pthread_create");
		return 2;
	}
	shutdown(sv[1], SHUT_RD);
	ok(np_socket_write_all(s, out, 10) == -1 && s->wr.error == NP_SOCK_RESET,
	   "a write from another thread while the reader waits: reset");
	void *read_rc;
	pthread_join(reader, &read_rc);
	ok((intptr_t)read_rc == -1 && s->rd.error == NP_SOCK_TIMEOUT, "the reader: timed out, later");
	ok(s->wr.error == NP_SOCK_RESET, "and the write's reason is still reset");
	np_socket_close(s);
	close(sv[1]);
	return done_testing();
}
