/* SPDX-License-Identifier: ISC */
/*
 * npbench.c - load generator for npsocketd and anything else that speaks
 * the NetPhantom socket protocol (protocol byte, then framed
 * transactions), plain or TLS.
 *
 *   npbench [options] MODE HOST PORT
 *   modes: handshake | echo | ws | bulk | idle
 *
 * ws is echo over a WebSocket (RFC 6455) to /netphantom, as a browser's
 * session runs: the upgrade before the protocol byte, each transaction
 * one masked binary message (one mask for the run: it is the bytes the
 * server unmasks that cost, not which), each answer one message back.
 *
 * Each client thread owns its connections.  In echo every session keeps
 * one transaction in flight, as that many interactive clients would, and
 * the thread waits for the answers in epoll_wait(); the other modes block
 * on one connection at a time.  In echo, bulk and idle the clock (and the
 * server's CPU time) starts once every session is open, so handshakes are
 * not counted as load.  Latencies go into a per-thread log-linear
 * histogram so millions of samples cost a few kilobytes.  Errors are
 * counted and printed, never dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "npsocket/comm.h"
#include "tls_transport.h"

#define HIST_SUB 64                 /* buckets per power of two */
#define HIST_POW 40                 /* up to 2^40 ns ~ 18 minutes */
#define NPBENCH_MAX_DEPTH 16        /* --depth: transactions in flight per bulk session */

struct histogram {
	uint64_t count[HIST_POW * HIST_SUB];
	uint64_t total, max_ns;
};

enum mode { MODE_HANDSHAKE, MODE_ECHO, MODE_WS, MODE_BULK, MODE_IDLE, MODE_AEAD };
static const char *const mode_names[] = { "handshake", "echo", "ws", "bulk", "idle", "aead" };

struct options {
	enum mode mode;
	const char *host, *port;
	int threads, connections;
	double duration;
	size_t size;
	bool compress, tls, resume, json;
	bool handshake_only;          /* no protocol byte, no transaction */
	const char *priority;
	long server_pid;
	int protocol_byte;
	int depth;                    /* bulk: transactions in flight per session */
};

struct stats {
	uint64_t ops, errors, bytes;
	struct histogram latency;
	char first_error[160];
};

struct worker {
	pthread_t thread;
	int index;
	const struct options *opt;
	struct stats stats;
	int held;                    /* idle mode: sessions open */
	bool arrived;                /* passed the start gate */
};

static struct addrinfo *target;
static gnutls_certificate_credentials_t client_cred;
static gnutls_priority_t client_priority;
static atomic_bool stop_now;

/* Sessions first, load second: in echo, bulk and idle each worker opens
 * its sessions and then waits at this gate (in handshake, where opening
 * sessions is the load, it waits first), and the run's clock and the
 * server's CPU time start when the last one has come.  Otherwise the
 * handshakes would count as part of the load: a thousand full TLS 1.3
 * handshakes take the Java listener about 2 s of CPU. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int arrived;
	bool open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

static void gate_wait(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.open)
		pthread_cond_wait(&gate.changed, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

/* A worker's sessions are open (or failed, counted as errors). */
static void gate_arrive(struct worker *w)
{
	if (w->arrived)
		return;
	w->arrived = true;
	pthread_mutex_lock(&gate.lock);
	gate.arrived++;
	pthread_cond_broadcast(&gate.changed);
	pthread_mutex_unlock(&gate.lock);
	gate_wait();
}

/* main: waits for all `workers`; the caller then takes its baselines and
 * calls gate_open(). */
static void gate_await(int workers)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.arrived < workers)
		pthread_cond_wait(&gate.changed, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.changed);
	pthread_mutex_unlock(&gate.lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- histogram ------------------------------------------------------------ */

static void hist_add(struct histogram *h, uint64_t ns)
{
	/* ns in [2^k, 2^(k+1)), k >= 6: 64 buckets of width 2^(k-6). */
	unsigned pow = ns < HIST_SUB ? 0 : (unsigned)(63 - __builtin_clzll(ns)) - 6;
	unsigned sub = ns < HIST_SUB ? (unsigned)ns : (unsigned)(ns >> pow) - HIST_SUB;
	unsigned index = ns < HIST_SUB ? sub : (pow + 1) * HIST_SUB + sub % HIST_SUB;
	if (index >= HIST_POW * HIST_SUB)
		index = HIST_POW * HIST_SUB - 1;
	h->count[index]++;
	h->total++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

static uint64_t hist_value(unsigned index)
{
	if (index < HIST_SUB)
		return index;
	unsigned pow = index / HIST_SUB - 1, sub = index % HIST_SUB;
	return (uint64_t)(HIST_SUB + sub) << pow;
}

static double hist_percentile(const struct histogram *h, double p)
{
	if (!h->total)
		return 0;
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->total), seen = 0;
	for (unsigned i = 0; i < HIST_POW * HIST_SUB; i++) {
		seen += h->count[i];
		if (seen >= want)
			return (double)hist_value(i);
	}
	return (double)h->max_ns;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HIST_POW * HIST_SUB; i++)
		into->count[i] += from->count[i];
	into->total += from->total;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
}

/* --- one connection --------------------------------------------------------- */

struct conn {
	int fd;
	gnutls_session_t tls;
	struct np_tls_transport *transport; /* the daemon's: fixed address, so on the heap */
	bool ws;                            /* a WebSocket over the fd or TLS */
};

/* A client's binary message around data: a header with the run's mask,
 * and the data masked; malloc'd, its length in *out_len. */
static const unsigned char ws_mask[4] = { 0x6e, 0x70, 0x62, 0x6e };
static unsigned char *ws_message(const unsigned char *data, size_t len, size_t *out_len)
{
	unsigned char *m = malloc(len + 14);
	if (!m)
		return NULL;
	size_t h = 2;
	m[0] = 0x82;
	if (len < 126) {
		m[1] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		m[1] = 0x80 | 126;
		m[2] = (unsigned char)(len >> 8);
		m[3] = (unsigned char)len;
		h = 4;
	} else {
		m[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			m[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		h = 10;
	}
	memcpy(m + h, ws_mask, 4);
	for (size_t i = 0; i < len; i++)
		m[h + 4 + i] = data[i] ^ ws_mask[i & 3];
	*out_len = h + 4 + len;
	return m;
}

/* The length of a server frame whose first bytes are hdr[0 .. got):
 * its header's size in *hlen, the payload's as the return, or -1 while
 * more of the header is needed. */
static long long ws_frame_length(const unsigned char *hdr, size_t got, size_t *hlen)
{
	if (got < 2)
		return -1;
	unsigned len7 = hdr[1] & 0x7f;
	*hlen = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
	if (got < *hlen)
		return -1;
	if (len7 < 126)
		return len7;
	if (len7 == 126)
		return (long long)hdr[2] << 8 | hdr[3];
	long long n = 0;
	for (int i = 0; i < 8; i++)
		n = n << 8 | hdr[2 + i];
	return n;
}

/* A thread with npbench's stack size; 0 or the error number. */
static int start_thread(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);
	if (rc)
		return rc;
	rc = pthread_attr_setstacksize(&attr, 256 * 1024);
	if (rc == 0)
		rc = pthread_create(thread, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

static void note_error(struct stats *st, const char *fmt, const char *detail)
{
	st->errors++;
	if (!st->first_error[0])
		snprintf(st->first_error, sizeof(st->first_error), fmt, detail);
}

/* The fd said "again": waits until it can go on (TLS: in the direction
 * GnuTLS was blocked in), at most 10 s.  GnuTLS also says "again" after a
 * record that gave the caller nothing (a session ticket), with the next
 * one perhaps read ahead already: then there is nothing to wait for. */
static int conn_wait(struct conn *c, bool writing)
{
	if (c->tls) {
		writing = gnutls_record_get_direction(c->tls) == 1;
		if (!writing && np_tls_transport_holds(c->transport))
			return 0;
	}
	struct pollfd pfd = { .fd = c->fd, .events = writing ? POLLOUT : POLLIN };
	int n;
	do
		n = poll(&pfd, 1, 10000);
	while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

/* Moves exactly len bytes one way; -1 on EOF or an error.  Works on
 * blocking and non-blocking fds. */
static int conn_io(struct conn *c, void *buf, size_t len, bool writing)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n;
		if (c->tls)
			n = writing ? gnutls_record_send(c->tls, p, len) : gnutls_record_recv(c->tls, p, len);
		else
			n = writing ? send(c->fd, p, len, MSG_NOSIGNAL) : recv(c->fd, p, len, 0);
		if (n == 0 && !writing)
			return -1;
		if (n < 0) {
			bool again = c->tls ? n == GNUTLS_E_AGAIN : errno == EAGAIN || errno == EWOULDBLOCK;
			if (again && conn_wait(c, writing) < 0)
				return -1;
			if (again || (c->tls ? n == GNUTLS_E_INTERRUPTED : errno == EINTR))
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* More than a record over TLS: the records go to the kernel 64 KiB at a
 * time, as the daemon sends them. */
static int conn_write(struct conn *c, const void *buf, size_t len)
{
	bool batched = c->tls && len > NP_TLS_RECORD_PAYLOAD && np_tls_transport_batch_begin(c->transport);
	int rc = conn_io(c, (void *)buf, len, true);
	if (batched) {
		if (rc == 0)
			rc = np_tls_transport_batch_flush(c->transport);
		np_tls_transport_batch_end(c->transport);
	}
	return rc;
}

static int conn_read(struct conn *c, void *buf, size_t len)
{
	return conn_io(c, buf, len, false);
}

static void conn_close(struct conn *c)
{
	if (c->tls) {
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->transport) {
		np_tls_transport_release(c->transport);
		free(c->transport);
		c->transport = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The WebSocket upgrade (a fixed key: a benchmark), its 101 read a byte
 * at a time so nothing after it is taken. */
static int ws_upgrade(struct conn *c, const struct options *opt, struct stats *st)
{
	char request[512], head[2048];
	int n = snprintf(request, sizeof(request),
			 "GET /netphantom HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 opt->host, opt->port);
	size_t len = 0;
	if (conn_write(c, request, (size_t)n) < 0) {
		note_error(st, "WebSocket upgrade: %s", "connection closed");
		conn_close(c);
		return -1;
	}
	while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		if (len == sizeof(head) - 1 || conn_read(c, head + len, 1) < 0) {
			note_error(st, "WebSocket upgrade: %s", "no answer");
			conn_close(c);
			return -1;
		}
		len++;
	}
	head[len] = '\0';
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		note_error(st, "WebSocket upgrade refused: %.40s", head);
		conn_close(c);
		return -1;
	}
	c->ws = true;
	return 0;
}

/* Connects, runs the TLS handshake (resuming with *resume_data when it
 * holds a session), sends the protocol byte and expects answer 1. */
static int conn_open(struct conn *c, const struct options *opt, gnutls_datum_t *resume_data,
		     struct stats *st)
{
	c->tls = NULL;
	c->transport = NULL;
	c->ws = false;
	c->fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		note_error(st, "socket: %s", strerror(errno));
		return -1;
	}
	int on = 1;
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ||
	    connect(c->fd, target->ai_addr, target->ai_addrlen) < 0) {
		note_error(st, "connect: %s", strerror(errno));
		conn_close(c);
		return -1;
	}
	if (opt->tls) {
		c->transport = calloc(1, sizeof(*c->transport));
		int rc = c->transport ? gnutls_init(&c->tls, GNUTLS_CLIENT) : GNUTLS_E_MEMORY_ERROR;
		if (rc == 0)
			rc = gnutls_priority_set(c->tls, client_priority);
		if (rc == 0)
			rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, client_cred);
		if (rc == 0 && resume_data && resume_data->size)
			rc = gnutls_session_set_data(c->tls, resume_data->data, resume_data->size);
		if (rc == 0) {
			np_tls_transport_attach(c->transport, c->tls, c->fd);
			do
				rc = gnutls_handshake(c->tls);
			while (rc < 0 && !gnutls_error_is_fatal(rc));
		}
		if (rc < 0) {
			note_error(st, "TLS handshake: %s", gnutls_strerror(rc));
			conn_close(c);
			return -1;
		}
	}
	if (opt->handshake_only)
		return 0;
	unsigned char byte = (unsigned char)opt->protocol_byte, answer = 0;
	if (opt->mode == MODE_WS && ws_upgrade(c, opt, st) < 0)
		return -1;
	if (c->ws) {
		/* The byte in a message of its own; the answer comes in one. */
		unsigned char out[7], in[3];
		size_t out_len = 7;
		out[0] = 0x82;
		out[1] = 0x81;
		memcpy(out + 2, ws_mask, 4);
		out[6] = byte ^ ws_mask[0];
		if (conn_write(c, out, out_len) < 0 || conn_read(c, in, 3) < 0 || in[0] != 0x82 || in[1] != 1 ||
		    in[2] != 1) {
			note_error(st, "protocol byte not accepted over the WebSocket%s", "");
			conn_close(c);
			return -1;
		}
	} else if (conn_write(c, &byte, 1) < 0 || conn_read(c, &answer, 1) < 0 || answer != 1) {
		note_error(st, "protocol byte not accepted%s", "");
		conn_close(c);
		return -1;
	}
	/* TLS 1.3 tickets arrive after the handshake: take the data now. */
	if (opt->tls && resume_data && opt->resume) {
		gnutls_free(resume_data->data);
		resume_data->data = NULL;
		resume_data->size = 0;
		if (gnutls_session_get_data2(c->tls, resume_data) < 0)
			resume_data->size = 0;
	}
	return 0;
}

/* Reads one answer into *buf (grown as needed); its length, or -1 with
 * *why saying what failed. */
static ssize_t read_answer(struct conn *c, unsigned char **buf, size_t *cap, const char **why)
{
	unsigned char header[4];
	if (conn_read(c, header, 4) < 0) {
		*why = "connection closed";
		return -1;
	}
	uint32_t length;
	bool compressed;
	np_frame_header_decode(header, &length, &compressed);
	size_t len = length;
	if (len > *cap) {
		unsigned char *grown = realloc(*buf, len);
		if (!grown) {
			*why = "out of memory";
			return -1;
		}
		*buf = grown;
		*cap = len;
	}
	if (conn_read(c, *buf, len) < 0) {
		*why = "answer truncated";
		return -1;
	}
	return (ssize_t)len;
}

/* One transaction out, one back. */
static int round_trip(struct conn *c, const unsigned char *frame, size_t frame_len,
		      unsigned char **buf, size_t *cap, struct stats *st)
{
	if (conn_write(c, frame, frame_len) < 0) {
		note_error(st, "transaction failed: %s", "connection closed");
		return -1;
	}
	const char *why = NULL;
	ssize_t len = read_answer(c, buf, cap, &why);
	if (len < 0) {
		note_error(st, "transaction failed: %s", why);
		return -1;
	}
	st->bytes += frame_len + 4 + (size_t)len;
	return 0;
}

/* The request every mode sends: S bytes of compressible text, deflated
 * when --compress. */
static unsigned char *make_frame(const struct options *opt, size_t *frame_len)
{
	size_t size = opt->size;
	unsigned char *payload = malloc(size ? size : 1);
	if (!payload)
		return NULL;
	for (size_t i = 0; i < size; i++)
		payload[i] = (unsigned char)("NetPhantom transaction payload "[i % 31] ^ (i / 31 % 7));
	uLongf packed_len = compressBound(size);
	unsigned char *frame = malloc(4 + packed_len + size);
	if (!frame) {
		free(payload);
		return NULL;
	}
	size_t body = size;
	bool packed = false;
	if (opt->compress && compress2(frame + 4, &packed_len, payload, size, 6) == Z_OK) {
		body = packed_len;
		packed = true;
	} else {
		memcpy(frame + 4, payload, size);
	}
	np_frame_header_encode(frame, (uint32_t)body, packed);
	free(payload);
	*frame_len = 4 + body;
	return frame;
}

/* --- modes ----------------------------------------------------------------- */

static void run_handshake(struct worker *w, const unsigned char *frame, size_t frame_len)
{
	gnutls_datum_t resume = { NULL, 0 };
	unsigned char *buf = NULL;
	size_t cap = 0;
	gate_arrive(w); /* its sessions are its load */
	while (!atomic_load(&stop_now)) {
		struct conn c;
		uint64_t t0 = now_ns();
		if (conn_open(&c, w->opt, w->opt->resume ? &resume : NULL, &w->stats) < 0)
			continue;
		if (w->opt->handshake_only || round_trip(&c, frame, frame_len, &buf, &cap, &w->stats) == 0) {
			w->stats.ops++;
			hist_add(&w->stats.latency, now_ns() - t0);
		}
		conn_close(&c);
	}
	gnutls_free(resume.data);
	free(buf);
}

/* bulk: the thread's sessions take turns, one transaction at a time. */
static void run_bulk(struct worker *w, const unsigned char *frame, size_t frame_len)
{
	int mine = w->opt->connections / w->opt->threads +
		   (w->index < w->opt->connections % w->opt->threads);
	struct conn *conns = calloc((size_t)(mine ? mine : 1), sizeof(*conns));
	if (!conns) {
		note_error(&w->stats, "bulk set-up: %s", strerror(errno));
		return;
	}
	unsigned char *buf = NULL;
	size_t cap = 0;
	int open = 0;
	for (int i = 0; i < mine; i++)
		if (conn_open(&conns[open], w->opt, NULL, &w->stats) == 0)
			open++;
	gate_arrive(w);
	while (!atomic_load(&stop_now) && open > 0) {
		for (int i = 0; i < open && !atomic_load(&stop_now); i++) {
			uint64_t t0 = now_ns();
			if (round_trip(&conns[i], frame, frame_len, &buf, &cap, &w->stats) < 0) {
				conn_close(&conns[i]);
				conns[i] = conns[--open];
				break;
			}
			w->stats.ops++;
			hist_add(&w->stats.latency, now_ns() - t0);
		}
	}
	for (int i = 0; i < open; i++)
		conn_close(&conns[i]);
	free(conns);
	free(buf);
}

/* bulk with --depth N > 1: a sender thread per session keeps N
 * transactions on the way while the worker reads the answers (GnuTLS lets
 * one thread send while another receives), so the server finds the next
 * transaction waiting when it has answered one and the figure is its
 * own, not the client's round trip. */
struct pipeline {
	struct conn c;
	const unsigned char *frame;
	size_t frame_len;
	int depth;
	pthread_t sender;
	bool started, finished;      /* worker only */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int in_flight;               /* sent or being sent, not yet answered */
	unsigned oldest;             /* sent_at index of the oldest of them */
	uint64_t sent_at[NPBENCH_MAX_DEPTH];
	bool sending;                /* the sender has not stopped */
	bool failed;                 /* the session broke: nothing more to count */
	struct stats *errors;        /* the sender's own, merged at the end */
};

/* Ends the session's traffic from either side: the other one, blocked in
 * a read or a write, gets an error it then does not count. */
static void pipeline_fail(struct pipeline *p)
{
	p->failed = true;
	pthread_cond_broadcast(&p->changed);
	shutdown(p->c.fd, SHUT_RDWR);
}

static void *pipeline_sender(void *arg)
{
	struct pipeline *p = arg;
	gate_wait();
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->in_flight >= p->depth && !p->failed && !atomic_load(&stop_now))
			pthread_cond_wait(&p->changed, &p->lock);
		if (p->failed || atomic_load(&stop_now))
			break;
		p->sent_at[(p->oldest + (unsigned)p->in_flight) % NPBENCH_MAX_DEPTH] = now_ns();
		p->in_flight++;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->lock);
		int rc = conn_write(&p->c, p->frame, p->frame_len);
		pthread_mutex_lock(&p->lock);
		if (rc < 0) {
			if (!p->failed && !atomic_load(&stop_now))
				note_error(p->errors, "transaction failed: %s", "connection closed");
			pipeline_fail(p);
			break;
		}
	}
	p->sending = false;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Reads the session's next answer: 1, or 0 when the session is done
 * (its sender stopped with nothing left to answer, or it broke). */
static int pipeline_take(struct worker *w, struct pipeline *p, unsigned char **buf, size_t *cap)
{
	pthread_mutex_lock(&p->lock);
	while (p->in_flight == 0 && p->sending)
		pthread_cond_wait(&p->changed, &p->lock);
	bool expect = p->in_flight > 0 && !p->failed;
	pthread_mutex_unlock(&p->lock);
	if (!expect)
		return 0;
	const char *why = NULL;
	ssize_t len = read_answer(&p->c, buf, cap, &why);
	pthread_mutex_lock(&p->lock);
	if (len < 0) {
		/* After the run, a close is the server's answer to the end. */
		if (!p->failed && !atomic_load(&stop_now))
			note_error(&w->stats, "transaction failed: %s", why);
		pipeline_fail(p);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	uint64_t sent_at = p->sent_at[p->oldest];
	p->oldest = (p->oldest + 1) % NPBENCH_MAX_DEPTH;
	p->in_flight--;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	w->stats.ops++;
	w->stats.bytes += p->frame_len + 4 + (size_t)len;
	hist_add(&w->stats.latency, now_ns() - sent_at);
	return 1;
}

static void run_bulk_pipelined(struct worker *w, const unsigned char *frame, size_t frame_len)
{
	int mine = w->opt->connections / w->opt->threads +
		   (w->index < w->opt->connections % w->opt->threads);
	struct pipeline *ps = calloc((size_t)(mine ? mine : 1), sizeof(*ps));
	struct stats *sender_errors = calloc(1, sizeof(*sender_errors));
	if (!ps || !sender_errors) {
		note_error(&w->stats, "bulk set-up: %s", strerror(errno));
		free(ps);
		free(sender_errors);
		return;
	}
	int running = 0;
	for (int i = 0; i < mine; i++) {
		struct pipeline *p = &ps[i];
		if (conn_open(&p->c, w->opt, NULL, &w->stats) < 0)
			continue;
		p->frame = frame;
		p->frame_len = frame_len;
		p->depth = w->opt->depth;
		p->sending = true;
		p->errors = sender_errors;
		int rc = pthread_mutex_init(&p->lock, NULL);
		if (rc == 0 && (rc = pthread_cond_init(&p->changed, NULL)) != 0)
			pthread_mutex_destroy(&p->lock);
		if (rc == 0 && (rc = start_thread(&p->sender, pipeline_sender, p)) != 0) {
			pthread_cond_destroy(&p->changed);
			pthread_mutex_destroy(&p->lock);
		}
		if (rc) {
			note_error(&w->stats, "bulk sender thread: %s", strerror(rc));
			conn_close(&p->c);
			continue;
		}
		p->started = true;
		running++;
	}
	gate_arrive(w);
	unsigned char *buf = NULL;
	size_t cap = 0;
	/* The sessions' answers in turn: a session whose answer waits holds
	 * only its own sender, which stops at depth. */
	while (running > 0)
		for (int i = 0; i < mine; i++)
			if (ps[i].started && !ps[i].finished && pipeline_take(w, &ps[i], &buf, &cap) == 0) {
				ps[i].finished = true;
				running--;
			}
	for (int i = 0; i < mine; i++) {
		struct pipeline *p = &ps[i];
		if (!p->started)
			continue;
		pthread_join(p->sender, NULL);
		pthread_cond_destroy(&p->changed);
		pthread_mutex_destroy(&p->lock);
		conn_close(&p->c);
	}
	w->stats.errors += sender_errors->errors;
	if (!w->stats.first_error[0])
		memcpy(w->stats.first_error, sender_errors->first_error, sizeof(w->stats.first_error));
	free(sender_errors);
	free(ps);
	free(buf);
}

/* echo: every session keeps one transaction in flight, as that many
 * clients would; the thread sleeps in epoll_wait() until answers come. */
struct flight {
	struct conn c;
	uint64_t sent_at;
	unsigned char header[10];    /* a transaction's 4, or a WebSocket frame's 2-10 */
	size_t header_len;           /* of header, once known */
	size_t got, want;            /* answer bytes so far, and in all */
};

static int flight_send(struct flight *f, const unsigned char *frame, size_t frame_len)
{
	f->got = 0;
	f->header_len = f->c.ws ? 2 : 4;
	f->want = f->header_len;
	f->sent_at = now_ns();
	return conn_write(&f->c, frame, frame_len);
}

/* Reads what has come of f's answer without waiting: 1 when it is
 * complete, 0 when more is to come, -1 on EOF or an error. */
static int flight_read(struct flight *f, unsigned char *scratch, size_t scratch_size)
{
	for (;;) {
		bool in_header = f->got < f->header_len;
		unsigned char *into = in_header ? f->header + f->got : scratch;
		size_t len = in_header ? f->header_len - f->got : f->want - f->got;
		if (len > scratch_size && !in_header)
			len = scratch_size;
		ssize_t n = f->c.tls ? gnutls_record_recv(f->c.tls, into, len) : recv(f->c.fd, into, len, 0);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (f->c.tls ? n == GNUTLS_E_AGAIN : errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (f->c.tls ? n == GNUTLS_E_INTERRUPTED : errno == EINTR)
				continue;
			return -1;
		}
		f->got += (size_t)n;
		if (in_header && f->got == f->header_len) {
			if (f->c.ws) {
				size_t hlen = 2;
				long long payload = ws_frame_length(f->header, f->got, &hlen);
				if (payload < 0) {
					f->header_len = hlen; /* a longer length field: read it too */
					f->want = hlen;
					continue;
				}
				f->want = hlen + (size_t)payload;
			} else {
				uint32_t length;
				bool compressed;
				np_frame_header_decode(f->header, &length, &compressed);
				f->want = 4 + (size_t)length;
			}
		}
		if (f->got >= f->header_len && f->got == f->want)
			return 1;
	}
}

static void run_echo(struct worker *w, const unsigned char *frame, size_t frame_len)
{
	int mine = w->opt->connections / w->opt->threads +
		   (w->index < w->opt->connections % w->opt->threads);
	struct flight *flights = calloc((size_t)(mine ? mine : 1), sizeof(*flights));
	unsigned char scratch[16384];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!flights || ep < 0) {
		note_error(&w->stats, "echo set-up: %s", strerror(errno));
		free(flights);
		if (ep >= 0)
			close(ep);
		return;
	}
	int open = 0;
	for (int i = 0; i < mine; i++) {
		struct flight *f = &flights[i];
		f->c.fd = -1;
		if (conn_open(&f->c, w->opt, NULL, &w->stats) < 0)
			continue;
		int flags = fcntl(f->c.fd, F_GETFL);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = f };
		if (flags < 0 || fcntl(f->c.fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, f->c.fd, &ev) < 0) {
			note_error(&w->stats, "echo set-up: %s", strerror(errno));
			conn_close(&f->c);
			continue;
		}
		open++;
	}
	gate_arrive(w);
	for (int i = 0; i < mine; i++)
		if (flights[i].c.fd >= 0 && flight_send(&flights[i], frame, frame_len) < 0) {
			note_error(&w->stats, "transaction failed: %s", "connection closed");
			conn_close(&flights[i].c);
			open--;
		}
	struct epoll_event events[64];
	while (!atomic_load(&stop_now) && open > 0) {
		int n = epoll_wait(ep, events, 64, 100);
		if (n < 0 && errno != EINTR) {
			note_error(&w->stats, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct flight *f = events[i].data.ptr;
			int rc;
			/* Answers GnuTLS or the read-ahead hold are not seen by epoll. */
			while ((rc = flight_read(f, scratch, sizeof(scratch))) == 1) {
				w->stats.ops++;
				w->stats.bytes += frame_len + f->want;
				hist_add(&w->stats.latency, now_ns() - f->sent_at);
				if (atomic_load(&stop_now))
					break;
				if (flight_send(f, frame, frame_len) < 0) {
					rc = -1;
					break;
				}
				if (!f->c.tls || (!gnutls_record_check_pending(f->c.tls) &&
						  !np_tls_transport_holds(f->c.transport)))
					break;
			}
			if (rc < 0) {
				/* Once the run is over, a close is the peer's answer
				 * to another thread closing its sessions. */
				if (!atomic_load(&stop_now))
					note_error(&w->stats, "transaction failed: %s", "connection closed");
				conn_close(&f->c);
				open--;
			}
		}
	}
	for (int i = 0; i < mine; i++)
		if (flights[i].c.fd >= 0)
			conn_close(&flights[i].c);
	close(ep);
	free(flights);
}

static void run_idle(struct worker *w)
{
	int mine = w->opt->connections / w->opt->threads +
		   (w->index < w->opt->connections % w->opt->threads);
	struct conn *conns = calloc((size_t)(mine ? mine : 1), sizeof(*conns));
	if (!conns) {
		note_error(&w->stats, "idle set-up: %s", strerror(errno));
		return;
	}
	gnutls_datum_t resume = { NULL, 0 };
	for (int i = 0; i < mine; i++)
		if (conn_open(&conns[w->held], w->opt, w->opt->resume ? &resume : NULL, &w->stats) == 0)
			w->held++;
	gate_arrive(w);
	while (!atomic_load(&stop_now))
		usleep(50000);
	for (int i = 0; i < w->held; i++)
		conn_close(&conns[i]);
	gnutls_free(resume.data);
	free(conns);
}

static unsigned char *shared_frame;
static size_t shared_frame_len;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	switch (w->opt->mode) {
	case MODE_HANDSHAKE:
		run_handshake(w, shared_frame, shared_frame_len);
		break;
	case MODE_IDLE:
		run_idle(w);
		break;
	case MODE_ECHO:
	case MODE_WS:
		run_echo(w, shared_frame, shared_frame_len);
		break;
	case MODE_BULK:
		if (w->opt->depth > 1)
			run_bulk_pipelined(w, shared_frame, shared_frame_len);
		else
			run_bulk(w, shared_frame, shared_frame_len);
		break;
	case MODE_AEAD:
		break; /* no workers: main() runs it */
	}
	/* A worker that gave up before its load (no memory) must not hold
	 * the others at the gate. */
	gate_arrive(w);
	return NULL;
}

/* --- /proc of the server ------------------------------------------------------ */

static int proc_status(long pid, long *rss_kib, long *threads)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	*rss_kib = *threads = -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", rss_kib);
		sscanf(line, "Threads: %ld", threads);
	}
	fclose(f);
	/* npsocketd's session threads are named conn:PORT (a parked spare
	 * is "spare"): when there are such names, they are what counts. */
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	long sessions = 0;
	bool named = false;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char comm[64], name[32] = "";
		snprintf(comm, sizeof(comm), "/proc/%ld/task/%.20s/comm", pid, e->d_name);
		FILE *c = fopen(comm, "r");
		if (!c)
			continue;
		if (fgets(name, sizeof(name), c)) {
			if (strncmp(name, "conn:", 5) == 0)
				sessions++;
			if (strncmp(name, "conn:", 5) == 0 || strncmp(name, "spare", 5) == 0 || strncmp(name, "acc:", 4) == 0)
				named = true;
		}
		fclose(c);
	}
	if (d)
		closedir(d);
	if (named)
		*threads = sessions;
	return 0;
}

/* The server's CPU time so far, in seconds (utime + stime). */
static double proc_cpu(long pid)
{
	char path[64], text[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *p = strrchr(text, ')');
	unsigned long utime, stime;
	/* fields after the command: state ppid pgrp session tty tpgid flags
	 * minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU time so far, in seconds: whether npbench itself was
 * the limit. */
static double self_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* --- main ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: npbench [options] handshake|echo|ws|bulk|idle HOST PORT\n"
		"       npbench [-d SEC] [--json] aead   (this core's AES-128-GCM bound: GnuTLS\n"
		"                        sealing and opening 16 KiB records as TLS 1.3 does)\n"
		"  -t, --threads N       client threads (default: one per session; handshake 1)\n"
		"  -c, --connections N   sessions (echo, bulk, idle; default 1); echo keeps a\n"
		"                        transaction in flight on every session at once\n"
		"  -d, --duration SEC    how long the load runs (default 10); echo, bulk and idle\n"
		"                        start the clock once every session is open\n"
		"  -s, --size BYTES      transaction payload size (default 64; bulk 1048576)\n"
		"  -z, --compress        send transactions deflated\n"
		"      --depth N         bulk: keep N transactions in flight per session, sent by\n"
		"                        a thread of its own (default 1: one round trip at a time)\n"
		"      --tls             TLS (server certificate not verified: a benchmark)\n"
		"      --no-resume       full handshakes every time (default: resume with tickets)\n"
		"      --priority STR    GnuTLS priority string for the client\n"
		"  -b, --byte N          protocol byte (default 1)\n"
		"      --handshake-only  handshake mode: connect and handshake only (any TLS server)\n"
		"  -p, --pid PID         also report that server's CPU time per operation\n"
		"      --json            one JSON object instead of the table\n");
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longs[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "compress", no_argument, NULL, 'z' },
		{ "tls", no_argument, NULL, 'T' },
		{ "no-resume", no_argument, NULL, 'R' },
		{ "priority", required_argument, NULL, 'P' },
		{ "pid", required_argument, NULL, 'p' },
		{ "byte", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'J' },
		{ "handshake-only", no_argument, NULL, 'H' },
		{ "depth", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	bool size_given = false;
	while ((c = getopt_long(argc, argv, "t:c:d:s:zp:b:h", longs, NULL)) != -1) {
		switch (c) {
		case 't': opt->threads = atoi(optarg); break;
		case 'c': opt->connections = atoi(optarg); break;
		case 'd': opt->duration = atof(optarg); break;
		case 's': opt->size = strtoul(optarg, NULL, 10); size_given = true; break;
		case 'z': opt->compress = true; break;
		case 'T': opt->tls = true; break;
		case 'R': opt->resume = false; break;
		case 'P': opt->priority = optarg; break;
		case 'p': opt->server_pid = atol(optarg); break;
		case 'b': opt->protocol_byte = atoi(optarg); break;
		case 'J': opt->json = true; break;
		case 'H': opt->handshake_only = true; break;
		case 'D': opt->depth = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (argc - optind == 1 && strcmp(argv[optind], "aead") == 0) {
		opt->mode = MODE_AEAD;
		if (opt->duration > 0)
			return 0;
		fprintf(stderr, "npbench: duration must be positive\n");
		return -1;
	}
	if (argc - optind != 3) {
		usage(stderr);
		return -1;
	}
	size_t m = 0;
	while (m < sizeof(mode_names) / sizeof(mode_names[0]) && strcmp(argv[optind], mode_names[m]) != 0)
		m++;
	if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
		fprintf(stderr, "npbench: unknown mode '%s'\n", argv[optind]);
		return -1;
	}
	opt->mode = (enum mode)m;
	opt->host = argv[optind + 1];
	opt->port = argv[optind + 2];
	if (opt->depth < 1 || opt->depth > NPBENCH_MAX_DEPTH) {
		fprintf(stderr, "npbench: --depth must be 1 to %d\n", NPBENCH_MAX_DEPTH);
		return -1;
	}
	if (opt->depth > 1 && opt->mode != MODE_BULK) {
		fprintf(stderr, "npbench: --depth applies to bulk only\n");
		return -1;
	}
	if (opt->mode == MODE_BULK && !size_given)
		opt->size = 1024 * 1024;
	if (opt->threads <= 0)
		opt->threads = opt->mode == MODE_HANDSHAKE ? 1 : opt->connections;
	if (opt->threads > opt->connections && opt->mode != MODE_HANDSHAKE)
		opt->threads = opt->connections;
	if (opt->threads < 1 || opt->connections < 1 || opt->duration <= 0) {
		fprintf(stderr, "npbench: threads, connections and duration must be positive\n");
		return -1;
	}
	return 0;
}

static int setup_tls(const struct options *opt)
{
	const char *err_pos = NULL;
	int rc = gnutls_certificate_allocate_credentials(&client_cred);
	if (rc == 0)
		rc = gnutls_priority_init2(&client_priority, opt->priority ? opt->priority : "NORMAL",
					   &err_pos, 0);
	if (rc < 0) {
		fprintf(stderr, "npbench: TLS set-up: %s%s%s\n", gnutls_strerror(rc),
			err_pos ? " at " : "", err_pos ? err_pos : "");
		return -1;
	}
	return 0;
}

/* aead: how many bytes one core seals and opens again with GnuTLS's
 * AES-128-GCM in 16 KiB records (TLS 1.3's 12-byte nonce, 5 bytes of
 * additional data, 16-byte tag): a bulk echo's server opens every byte
 * that comes and seals it going back, so this is its bound here. */
static int run_aead(const struct options *opt)
{
	enum { RECORD = 16384 };
	unsigned char key_bytes[16], nonce[12] = { 0 }, aad[5] = { 0x17, 0x03, 0x03, 0x40, 0x11 };
	static unsigned char in[RECORD], out[RECORD + 16], back[RECORD];
	gnutls_datum_t key = { key_bytes, sizeof(key_bytes) };
	gnutls_aead_cipher_hd_t h;
	int rc = gnutls_rnd(GNUTLS_RND_NONCE, key_bytes, sizeof(key_bytes));
	if (rc == 0)
		rc = gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_128_GCM, &key);
	if (rc < 0) {
		fprintf(stderr, "npbench: AES-128-GCM: %s\n", gnutls_strerror(rc));
		return 2;
	}
	memset(in, 0x5a, sizeof(in));
	const uint64_t t0 = now_ns(), until = t0 + (uint64_t)(opt->duration * 1e9);
	uint64_t records = 0, t = t0;
	while (t < until) {
		for (int i = 0; i < 64; i++, records++) {
			memcpy(nonce + 4, &records, sizeof(records)); /* a new nonce per record */
			size_t len = sizeof(out);
			rc = gnutls_aead_cipher_encrypt(h, nonce, sizeof(nonce), aad, sizeof(aad), 16, in, RECORD, out, &len);
			size_t back_len = sizeof(back);
			if (rc == 0)
				rc = gnutls_aead_cipher_decrypt(h, nonce, sizeof(nonce), aad, sizeof(aad), 16, out, len, back,
								&back_len);
			if (rc < 0) {
				fprintf(stderr, "npbench: AES-128-GCM: %s\n", gnutls_strerror(rc));
				gnutls_aead_cipher_deinit(h);
				return 2;
			}
		}
		t = now_ns();
	}
	gnutls_aead_cipher_deinit(h);
	const double seconds = (double)(t - t0) / 1e9, mb = (double)records * RECORD / 1e6 / seconds;
	if (opt->json)
		printf("{\"mode\":\"aead\",\"cipher\":\"AES-128-GCM\",\"record\":%d,\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
		       RECORD, seconds, mb);
	else
		printf("AES-128-GCM, 16 KiB records sealed and opened, one core: %.0f MB/s (%.1f s)\n", mb, seconds);
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt = { .threads = 0, .connections = 1, .duration = 10, .size = 64,
			       .resume = true, .protocol_byte = 1, .depth = 1 };
	if (parse_options(argc, argv, &opt) < 0)
		return 2;
	if (opt.mode == MODE_AEAD)
		return run_aead(&opt);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("npbench: signal");
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(opt.host, opt.port, &hints, &target);
	if (rc) {
		fprintf(stderr, "npbench: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
		return 2;
	}
	if (opt.tls && setup_tls(&opt) < 0)
		return 2;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("npbench: setrlimit");
	}
	shared_frame = make_frame(&opt, &shared_frame_len);
	if (shared_frame && opt.mode == MODE_WS) {
		unsigned char *message = ws_message(shared_frame, shared_frame_len, &shared_frame_len);
		free(shared_frame);
		shared_frame = message;
	}
	if (!shared_frame) {
		fprintf(stderr, "npbench: out of memory\n");
		return 2;
	}

	long rss_before = -1, threads_before = -1, rss_after = -1, threads_after = -1;
	if (opt.server_pid > 0 && proc_status(opt.server_pid, &rss_before, &threads_before) < 0)
		fprintf(stderr, "npbench: cannot read /proc/%ld/status\n", opt.server_pid);

	struct worker *workers = calloc((size_t)opt.threads, sizeof(*workers));
	if (!workers) {
		fprintf(stderr, "npbench: no memory for %d threads\n", opt.threads);
		return 2;
	}
	for (int i = 0; i < opt.threads; i++) {
		workers[i].index = i;
		workers[i].opt = &opt;
		rc = start_thread(&workers[i].thread, worker_main, &workers[i]);
		if (rc) {
			fprintf(stderr, "npbench: starting thread %d of %d: %s\n", i + 1, opt.threads, strerror(rc));
			return 2;
		}
	}
	gate_await(opt.threads);
	double cpu_before = opt.server_pid > 0 ? proc_cpu(opt.server_pid) : -1;
	double self_before = self_cpu();
	uint64_t t0 = now_ns();
	gate_open();
	usleep((useconds_t)(opt.duration * 1e6));
	if (opt.mode == MODE_IDLE && opt.server_pid > 0)
		proc_status(opt.server_pid, &rss_after, &threads_after);
	double cpu_after = opt.server_pid > 0 ? proc_cpu(opt.server_pid) : -1;
	double self_after = self_cpu();
	double seconds = (double)(now_ns() - t0) / 1e9;
	atomic_store(&stop_now, true);
	for (int i = 0; i < opt.threads; i++)
		pthread_join(workers[i].thread, NULL);

	struct stats total;
	memset(&total, 0, sizeof(total));
	long held = 0;
	for (int i = 0; i < opt.threads; i++) {
		total.ops += workers[i].stats.ops;
		total.errors += workers[i].stats.errors;
		total.bytes += workers[i].stats.bytes;
		held += workers[i].held;
		hist_merge(&total.latency, &workers[i].stats.latency);
		if (!total.first_error[0] && workers[i].stats.first_error[0])
			memcpy(total.first_error, workers[i].stats.first_error, sizeof(total.first_error));
	}
	double rate = opt.mode == MODE_IDLE ? 0 : (double)total.ops / seconds;
	double mbps = (double)total.bytes / seconds / 1e6 / 2; /* wire bytes, one way */
	double p50 = hist_percentile(&total.latency, 50) / 1e3, p90 = hist_percentile(&total.latency, 90) / 1e3;
	double p99 = hist_percentile(&total.latency, 99) / 1e3, mx = (double)total.latency.max_ns / 1e3;
	double rss_per = held > 0 && rss_after >= 0 ? (double)(rss_after - rss_before) / (double)held : -1;
	double thr_per = held > 0 && threads_after >= 0 ? (double)(threads_after - threads_before) / (double)held : -1;
	double cpu_us = cpu_before >= 0 && cpu_after >= 0 && total.ops ? (cpu_after - cpu_before) * 1e6 / (double)total.ops : -1;
	double cpu_share = cpu_before >= 0 && cpu_after >= 0 ? (cpu_after - cpu_before) / seconds : -1;
	double self_share = self_before >= 0 && self_after >= 0 ? (self_after - self_before) / seconds : -1;

	if (opt.json) {
		printf("{\"mode\":\"%s\",\"tls\":%s,\"resume\":%s,\"threads\":%d,\"connections\":%d,"
		       "\"size\":%zu,\"depth\":%d,\"compress\":%s,\"seconds\":%.3f,\"ops\":%llu,\"errors\":%llu,"
		       "\"rate\":%.1f,\"mb_per_s\":%.2f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
		       "\"max_us\":%.1f,\"sessions_held\":%ld,\"rss_kib_before\":%ld,\"rss_kib_after\":%ld,"
		       "\"rss_kib_per_session\":%.2f,\"threads_per_session\":%.3f,\"server_cpu_us_per_op\":%.1f,"
		       "\"server_cpu_share\":%.2f,\"client_cpu_share\":%.2f,\"first_error\":\"%s\"}\n",
		       mode_names[opt.mode], opt.tls ? "true" : "false", opt.resume ? "true" : "false", opt.threads,
		       opt.connections, opt.size, opt.depth, opt.compress ? "true" : "false", seconds,
		       (unsigned long long)total.ops, (unsigned long long)total.errors, rate, mbps, p50,
		       p90, p99, mx, held, rss_before, rss_after, rss_per, thr_per, cpu_us, cpu_share,
		       self_share, total.first_error);
	} else {
		char depth_note[32] = "";
		if (opt.depth > 1)
			snprintf(depth_note, sizeof(depth_note), "  depth %d", opt.depth);
		printf("npbench %s %s:%s  %s%s  threads %d  connections %d  size %zu%s%s  %.1fs\n", mode_names[opt.mode],
		       opt.host, opt.port, opt.tls ? "TLS" : "plain",
		       opt.tls ? (opt.resume ? " (resumption)" : " (full handshakes)") : "", opt.threads,
		       opt.connections, opt.size, opt.compress ? " deflated" : "", depth_note, seconds);
		if (opt.mode == MODE_IDLE) {
			printf("  sessions held      %ld\n", held);
			if (rss_per >= 0)
				printf("  server RSS         %ld KiB -> %ld KiB: %.1f KiB per session\n"
				       "  server threads     %ld -> %ld: %.2f per session\n",
				       rss_before, rss_after, rss_per, threads_before, threads_after, thr_per);
		} else {
			printf("  %-18s %.1f /s\n", opt.mode == MODE_HANDSHAKE ? "connections" : "transactions",
			       rate);
			printf("  on the wire        %.2f MB/s each way\n", mbps);
			printf("  latency            p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n", p50,
			       p90, p99, mx);
			if (cpu_us >= 0)
				printf("  server CPU         %.1f us per operation, %.0f%% of one core\n", cpu_us,
				       cpu_share * 100);
			if (self_share >= 0)
				printf("  npbench CPU        %.0f%% of one core\n", self_share * 100);
		}
		printf("  errors             %llu%s%s\n", (unsigned long long)total.errors,
		       total.first_error[0] ? "  first: " : "", total.first_error);
	}
	free(workers);
	free(shared_frame);
	freeaddrinfo(target);
	if (opt.tls) {
		gnutls_priority_deinit(client_priority);
		gnutls_certificate_free_credentials(client_cred);
	}
	return total.errors && !total.ops && !held ? 1 : 0;
}
