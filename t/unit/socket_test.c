/* SPDX-License-Identifier: ISC */
/*
 * socket_test.c - what every np_socket shares (src/socket.c), over a
 * socketpair: a layer over another socket (np_socket_init_layer) sees the
 * same fd, passes its timeout, deadline and no_wait down, and closes what
 * is under it; the write lock keeps whole the writes of several threads,
 * through a layer that writes its parts one call at a time as well as on
 * a plain socket, and a comm's transactions beside raw writes.  And
 * np_turn_pread(): what the page cache holds is read on the turn held,
 * what it does not with the turn given back, and both read what pread()
 * would.  And turns whose holder is stuck: the next in line runs without
 * one after NP_TURN_STALL_MS, one far back in line looks later.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "npsocket/comm.h"
#include "npsocket/socket.h"
#include "tap.h"
#include "turn.h"

/* A layer that passes bytes through, writing each part of a vector with
 * a write of its own (as a WebSocket writes its frame header and then
 * the payload), so that only the layer's write lock keeps a vector whole. */
struct pass_layer {
	struct np_socket base;
	int *closed;               /* counts calls of close */
};

static ssize_t pass_read(struct np_socket *s, void *buf, size_t len)
{
	ssize_t n = np_socket_read(s->inner, buf, len);
	if (n < 0)
		s->rd = s->inner->rd;
	return n;
}

static int pass_writev(struct np_socket *s, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		/* A pause between the parts invites another writer in. */
		if (i > 0)
			sched_yield();
		if (np_socket_write_all(s->inner, iov[i].iov_base, iov[i].iov_len) < 0) {
			s->wr = s->inner->wr;
			return -1;
		}
	}
	return 0;
}

static void pass_shutdown(struct np_socket *s, int how)
{
	np_socket_shutdown(s->inner, how);
}

static void pass_close(struct np_socket *s)
{
	struct pass_layer *p = (struct pass_layer *)s;
	(*p->closed)++;
	free(p);
}

static const struct np_socket_ops pass_ops = {
	.read = pass_read,
	.writev_all = pass_writev,
	.shutdown = pass_shutdown,
	.close = pass_close,
};

static struct np_socket *pass_new(struct np_socket *inner, int *closed)
{
	struct pass_layer *p = calloc(1, sizeof(*p));
	if (!p || np_socket_init_layer(&p->base, &pass_ops, inner) < 0)
		exit(2);
	p->closed = closed;
	return &p->base;
}

#define RECORD 64
#define RECORDS 2000

struct writer {
	struct np_socket *s;
	struct np_comm *comm;      /* when set, half the records go as transactions */
	unsigned char tag;
	int failed;
};

/* RECORDS records of RECORD bytes, each all `tag`, in two parts. */
static void *write_records(void *arg)
{
	struct writer *w = arg;
	unsigned char rec[RECORD];
	memset(rec, w->tag, sizeof(rec));
	for (int i = 0; i < RECORDS; i++) {
		struct iovec iov[2] = { { rec, 10 }, { rec + 10, RECORD - 10 } };
		if (np_socket_writev_all(w->s, iov, 2) < 0)
			w->failed++;
	}
	return NULL;
}

/* Reads n records from fd; returns how many were not all one byte. */
static int torn_records(int fd, int n)
{
	int torn = 0;
	unsigned char rec[RECORD];
	for (int i = 0; i < n; i++) {
		size_t got = 0;
		while (got < RECORD) {
			ssize_t r = recv(fd, rec + got, RECORD - got, 0);
			if (r <= 0)
				return n;
			got += (size_t)r;
		}
		for (int j = 1; j < RECORD; j++)
			if (rec[j] != rec[0]) {
				torn++;
				break;
			}
	}
	return torn;
}

/* Reads while the writers write, so neither blocks on a full buffer. */
struct reader {
	int fd, n, torn;
};

static void *read_records(void *arg)
{
	struct reader *r = arg;
	r->torn = torn_records(r->fd, r->n);
	return NULL;
}

static void two_writers(struct np_socket *s, int peer, const char *what)
{
	struct writer a = { .s = s, .tag = 'a' }, b = { .s = s, .tag = 'b' };
	struct reader r = { .fd = peer, .n = 2 * RECORDS };
	pthread_t ta, tb, tr;
	if (pthread_create(&tr, NULL, read_records, &r) || pthread_create(&ta, NULL, write_records, &a) ||
	    pthread_create(&tb, NULL, write_records, &b))
		exit(2);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tr, NULL);
	ok(a.failed == 0 && b.failed == 0, "%s: every write of two threads went out", what);
	is_int(r.torn, 0, "%s: no record of one thread torn by the other's", what);
}

/* Turns drawn so far: each give-and-take draws one. */
static uint64_t drawn(struct np_turns *t)
{
	return atomic_load(&t->next);
}

static void turn_pread(void)
{
	/* On the disk the build is on (tmpfs would keep it in memory). */
	char path[] = "build/t/turn-pread-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		ok(0, "mkstemp %s: %s", path, strerror(errno));
		return;
	}
	unlink(path);
	static unsigned char data[256 * 1024], back[sizeof(data)];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) || fsync(fd) < 0) {
		ok(0, "write %s: %s", path, strerror(errno));
		close(fd);
		return;
	}
	static struct np_turns turns;
	np_turns_init(&turns, 1);
	np_turn_join(&turns);
	np_turn_take();
	uint64_t before = drawn(&turns);
	ok(np_turn_pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back) && memcmp(back, data, sizeof(back)) == 0,
	   "pread through turns: the file's bytes");
	is_int((int)(drawn(&turns) - before), 0, "from the page cache, on the turn held");
	memset(back, 0, sizeof(back));
	ok(np_turn_pread(fd, back, 1000, sizeof(data) - 600) == 600 && memcmp(back, data + sizeof(data) - 600, 600) == 0,
	   "a read across the end of the file is short, as pread()'s");
	ok(np_turn_pread(fd, back, 10, sizeof(data)) == 0, "at the end: 0");
	int p[2];
	ok(pipe(p) == 0 && np_turn_pread(p[0], back, 10, 0) == -1 && errno == ESPIPE,
	   "a descriptor pread() refuses: -1 and pread()'s errno (ESPIPE)");
	close(p[0]);
	close(p[1]);
	/* Out of the page cache: the read gives the turn back (draws a new
	 * one) and still reads the same bytes. */
	unsigned char probe;
	struct iovec iov = { .iov_base = &probe, .iov_len = 1 };
	bool from_disk = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0 &&
			 preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EAGAIN &&
			 posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
	before = drawn(&turns);
	memset(back, 0, sizeof(back));
	ok(np_turn_pread(fd, back, sizeof(back), 0) == (ssize_t)sizeof(back) && memcmp(back, data, sizeof(back)) == 0,
	   "read again after the page cache dropped it: the same bytes");
	if (from_disk)
		is_int((int)(drawn(&turns) - before), 1, "read from the disk with the turn given back, once");
	else
		diag("the file system keeps the file in memory or knows no RWF_NOWAIT: the disk case not seen");
	np_turn_give();
	np_turn_join(NULL);
	close(fd);
}

/* A waiter of turns_stall(): how long it waited for its turn. */
struct stall_waiter {
	struct np_turns *turns;
	int64_t waited_ms;
};

static void *stall_waiter_main(void *arg)
{
	struct stall_waiter *w = arg;
	np_turn_join(w->turns);
	int64_t t0 = np_now_ms();
	np_turn_take();
	w->waited_ms = np_now_ms() - t0;
	np_turn_give();
	np_turn_join(NULL);
	return NULL;
}

/* Every holder stuck: the next in line runs without a turn after
 * NP_TURN_STALL_MS; one far back in line first looks later (one more
 * NP_TURN_STALL_MS per NP_TURN_STALL_SPREAD numbers ahead), so thousands
 * woken at once do not spend the CPU looking. */
static void turns_stall(void)
{
	static struct np_turns turns;
	np_turns_init(&turns, 1);
	np_turn_join(&turns);
	np_turn_take(); /* held, and never given while the waiters wait */
	struct stall_waiter near = { .turns = &turns }, far = { .turns = &turns };
	pthread_t a, b;
	if (pthread_create(&a, NULL, stall_waiter_main, &near) != 0) {
		ok(0, "pthread_create failed");
		goto out;
	}
	while (atomic_load(&turns.next) < 2)
		usleep(1000);
	/* As if 4 x NP_TURN_STALL_SPREAD more were in line ahead of it. */
	atomic_fetch_add(&turns.next, 4 * NP_TURN_STALL_SPREAD);
	bool started = pthread_create(&b, NULL, stall_waiter_main, &far) == 0;
	pthread_join(a, NULL);
	if (!started) {
		ok(0, "pthread_create failed");
		goto out;
	}
	pthread_join(b, NULL);
	ok(near.waited_ms >= NP_TURN_STALL_MS - 5 && near.waited_ms < 10 * 1000,
	   "the next in line runs without a turn once none was given back for %d ms (waited %lld ms)",
	   NP_TURN_STALL_MS, (long long)near.waited_ms);
	ok(far.waited_ms >= 4 * NP_TURN_STALL_MS && far.waited_ms < 10 * 1000,
	   "one 4 x %d numbers further back looks after 5 x %d ms, not %d (waited %lld ms)",
	   NP_TURN_STALL_SPREAD, NP_TURN_STALL_MS, NP_TURN_STALL_MS, (long long)far.waited_ms);
	is_int((int)atomic_load(&turns.stalls), 2, "both counted as stalls");
out:
	np_turn_give();
	np_turn_join(NULL);
}

int main(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		return 2;
	}
	struct np_socket *plain = np_socket_plain_new(sv[0]);
	if (!plain)
		return 2;
	plain->secure = true;
	int closed = 0;
	struct np_socket *layer = pass_new(plain, &closed);

	ok(layer->inner == plain && layer->fd == sv[0], "a layer runs over its inner socket's fd");
	ok(layer->secure, "and is secure when what it runs over is");

	np_socket_set_timeout(layer, 250);
	np_socket_set_deadline(layer, 12345);
	np_socket_set_no_wait(layer, true);
	ok(np_socket_timeout(plain) == 250 && np_socket_deadline(plain) == 12345 && np_socket_no_wait(plain),
	   "timeout, deadline and no_wait set on the layer reach the socket under it");
	np_socket_set_deadline(layer, 0);
	np_socket_set_no_wait(layer, false);
	ok(np_socket_deadline(plain) == 0 && !np_socket_no_wait(plain), "and so does clearing them");

	unsigned char b;
	int64_t t0 = np_now_ms();
	ssize_t n = np_socket_read(layer, &b, 1);
	ok(n == -1 && layer->rd.error == NP_SOCK_TIMEOUT,
	   "a read through the layer with nothing there times out (%s)", np_socket_strerror(layer));
	int64_t waited = np_now_ms() - t0;
	ok(waited >= 200 && waited < 5000, "after about the timeout the layer set (%lld ms)", (long long)waited);

	if (send(sv[1], "hello", 5, 0) != 5)
		return 2;
	char hello[5];
	ok(np_socket_read_full(layer, hello, 5) == 0 && memcmp(hello, "hello", 5) == 0,
	   "bytes come up through the layer");
	ok(np_counter_get(&layer->bytes_in) == 0 && np_counter_get(&plain->bytes_in) == 5,
	   "each socket counts its own bytes");

	np_socket_set_timeout(layer, 5000);
	two_writers(layer, sv[1], "a layer that writes a vector's parts one by one");
	two_writers(plain, sv[1], "a plain socket");

	/* A comm's transactions and raw writes on one socket, from two
	 * threads: each transaction (header + payload) stays whole. */
	struct np_comm comm;
	struct np_comm_options options = { .max_transaction_size = 1 << 20, .compression_level = 6 };
	if (np_comm_init(&comm, plain, &options) < 0)
		return 2;
	struct writer raw = { .s = plain, .tag = 'r' };
	pthread_t traw;
	if (pthread_create(&traw, NULL, write_records, &raw))
		return 2;
	unsigned char payload[RECORD - 4];
	memset(payload, 't', sizeof(payload));
	int failed = 0;
	struct reader r = { .fd = sv[1], .n = 2 * RECORDS };
	pthread_t tr;
	if (pthread_create(&tr, NULL, read_records, &r))
		return 2;
	for (int i = 0; i < RECORDS; i++)
		failed += np_comm_write_transaction(&comm, payload, sizeof(payload)) < 0;
	pthread_join(traw, NULL);
	pthread_join(tr, NULL);
	ok(failed == 0 && raw.failed == 0, "transactions and raw writes of two threads all went out");
	/* A transaction's record is its header (0, 0, 0, 60) and 60 't':
	 * torn_records() counts it torn, so the count is exactly those. */
	is_int(r.torn, RECORDS, "and only the transactions' own headers differ within a record: none torn");
	is_int((int)np_counter_get(&comm.transactions_out), RECORDS, "the comm counted every transaction");
	np_comm_destroy(&comm);

	np_socket_close(layer);
	is_int(closed, 1, "closing the layer runs its close once");
	char rest;
	ok(recv(sv[1], &rest, 1, 0) == 0, "and closes the socket under it: the peer sees EOF");
	close(sv[1]);

	turn_pread();
	turns_stall();
	return done_testing();
}
