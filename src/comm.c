/* SPDX-License-Identifier: ISC */
/*
 * comm.c - framed transactions over an np_socket (the Java
 * SocketClientCommunication): the 4-byte header, zlib in both directions,
 * and maxTransactionSize on the wire and after inflating.
 *
 * Memory follows what is in flight: the receive buffer grows as bytes
 * arrive (never to an announced length up front) and is given back after
 * a large transaction, so a client cannot reserve megabytes with four
 * bytes, and an idle session holds almost nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npsocket/comm.h"
#include "turn.h"

/* Buffers above this are freed once their transaction is done. */
#define KEEP_BUFFER_BYTES (64 * 1024)
/* Growth step while receiving an uncompressed payload. */
#define RECEIVE_CHUNK (64 * 1024)
/* Wire bytes read per inflate step. */
#define INFLATE_CHUNK (8 * 1024)

static int fail(struct np_comm *comm, enum np_comm_error error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct np_comm *comm, enum np_comm_error error, const char *fmt, ...)
{
	va_list ap;
	comm->error = error;
	va_start(ap, fmt);
	vsnprintf(comm->error_text, sizeof(comm->error_text), fmt, ap);
	va_end(ap);
	return -1;
}

/* Makes room for `want` bytes in total; 0 or -1 when out of memory. */
static int buffer_reserve(struct np_buffer *b, size_t want)
{
	if (want <= b->capacity)
		return 0;
	size_t capacity = b->capacity ? b->capacity : 4096;
	while (capacity < want)
		capacity = capacity > SIZE_MAX / 2 ? want : capacity * 2;
	unsigned char *data = realloc(b->data, capacity);
	if (!data)
		return -1;
	b->data = data;
	b->capacity = capacity;
	return 0;
}

static void buffer_trim(struct np_buffer *b)
{
	b->length = 0;
	if (b->capacity > KEEP_BUFFER_BYTES) {
		free(b->data);
		b->data = NULL;
		b->capacity = 0;
	}
}

int np_comm_init(struct np_comm *comm, struct np_socket *socket,
		 const struct np_comm_options *options)
{
	memset(comm, 0, sizeof(*comm));
	comm->socket = socket;
	comm->options = *options;
	comm->last_activity_ms = np_now_ms();
	return 0;
}

void np_comm_destroy(struct np_comm *comm)
{
	if (comm->inflater) {
		inflateEnd(comm->inflater);
		free(comm->inflater);
	}
	z_stream *deflaters[] = { comm->deflater, comm->deflater_small };
	for (size_t i = 0; i < sizeof(deflaters) / sizeof(deflaters[0]); i++) {
		if (deflaters[i]) {
			deflateEnd(deflaters[i]);
			free(deflaters[i]);
		}
	}
	free(comm->in.data);
	free(comm->out.data);
	memset(comm, 0, sizeof(*comm));
}

/* The nearest of the bounds in force (0 = none). */
static int64_t nearest(int64_t a, int64_t b)
{
	return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* One read of the transaction being received, under the transaction's
 * bounds: the caller's own deadline (e.g. the handshake's, for a relay
 * header), transactionTimeout from its first byte, and idleTimeout from
 * the last complete transaction either way (a write by another thread
 * moves it on).  The socket's timeout (readTimeout) bounds each wait on
 * top.  On a timeout comm->error_text says which bound it was. */
static ssize_t bounded_read(struct np_comm *comm, void *buf, size_t len, const char *where)
{
	struct np_socket *s = comm->socket;
	const int idle = comm->options.idle_timeout_ms;
	for (;;) {
		int64_t since = atomic_load(&comm->last_activity_ms);
		int64_t idle_end = idle > 0 ? since + idle : 0;
		int64_t deadline = nearest(nearest(comm->outer_deadline, comm->transaction_deadline), idle_end);
		if (deadline != np_socket_deadline(s))
			np_socket_set_deadline(s, deadline);
		ssize_t n = np_socket_read(s, buf, len);
		if (n > 0)
			return n;
		if (s->rd.error == NP_SOCK_EOF) {
			if (!comm->header_started)
				return fail(comm, NP_COMM_CLOSED, "closed by peer");
			return fail(comm, NP_COMM_TRUNCATED, "connection closed inside a transaction (%s)", where);
		}
		if (s->rd.error != NP_SOCK_TIMEOUT)
			return fail(comm, NP_COMM_IO, "read failed in %s: %s", where, np_socket_strerror(s));
		const int64_t now = np_now_ms();
		if (comm->outer_deadline && now >= comm->outer_deadline)
			return fail(comm, NP_COMM_IO, "timed out waiting for a transaction");
		if (comm->transaction_deadline && now >= comm->transaction_deadline) {
			/* transactionTimeout, or readTimeout for the rest of a header */
			int t = comm->transaction_bound_ms;
			return fail(comm, NP_COMM_IO, "%s timeout: %s not complete after %d.%03ds",
				    t == comm->options.transaction_timeout_ms ? "transaction" : "read", where,
				    t / 1000, t % 1000);
		}
		if (idle_end && now >= idle_end) {
			if (atomic_load(&comm->last_activity_ms) != since)
				continue; /* a write went out meanwhile: not idle */
			return fail(comm, NP_COMM_IO, "idle timeout: no complete transaction for %d.%03ds%s",
				    idle / 1000, idle % 1000,
				    comm->header_started ? " (one had begun)" : "");
		}
		int timeout_ms = np_socket_timeout(s);
		return fail(comm, NP_COMM_IO, "read timeout: no data for %d.%03ds in %s",
			    timeout_ms / 1000, timeout_ms % 1000, where);
	}
}

/* Reads the header; EOF before its first byte is the normal end. */
static int read_header(struct np_comm *comm, uint32_t *length, bool *compressed)
{
	unsigned char header[NP_FRAME_HEADER_SIZE];
	/* Up to the whole header in one read: usually one system call. */
	ssize_t got = bounded_read(comm, header, NP_FRAME_HEADER_SIZE, "the transaction header");
	if (got < 0)
		return -1;
	comm->header_started = true;
	const int64_t now = np_now_ms();
	const int transaction_ms = comm->options.transaction_timeout_ms;
	const int64_t saved = transaction_ms > 0 ? now + transaction_ms : 0;
	comm->transaction_deadline = saved;
	comm->transaction_bound_ms = transaction_ms;
	/* A header dribbled a byte at a time must not hold the thread: once
	 * it started, all of it comes within one wait (readTimeout) too. */
	const int timeout_ms = np_socket_timeout(comm->socket);
	if (got < NP_FRAME_HEADER_SIZE && timeout_ms > 0 && (saved == 0 || now + timeout_ms < saved)) {
		comm->transaction_deadline = now + timeout_ms;
		comm->transaction_bound_ms = timeout_ms;
	}
	while (got < NP_FRAME_HEADER_SIZE) {
		ssize_t n = bounded_read(comm, header + got, NP_FRAME_HEADER_SIZE - (size_t)got,
					 "the transaction header");
		if (n < 0)
			return -1;
		got += n;
	}
	comm->transaction_deadline = saved;
	comm->transaction_bound_ms = transaction_ms;
	np_frame_header_decode(header, length, compressed);
	return 0;
}

static int read_plain_payload(struct np_comm *comm, size_t length)
{
	struct np_buffer *in = &comm->in;
	while (in->length < length) {
		size_t step = length - in->length;
		if (step > RECEIVE_CHUNK)
			step = RECEIVE_CHUNK;
		if (buffer_reserve(in, in->length + step) < 0)
			return fail(comm, NP_COMM_NOMEM, "out of memory for a %zu-byte transaction", length);
		size_t room = in->capacity - in->length, need = length - in->length;
		ssize_t n = bounded_read(comm, in->data + in->length, room < need ? room : need,
					 "the transaction payload");
		if (n < 0)
			return -1;
		in->length += (size_t)n;
	}
	return 0;
}

static int inflater_start(struct np_comm *comm)
{
	if (comm->inflater)
		return inflateReset(comm->inflater) == Z_OK ? 0 : -1;
	z_stream *z = calloc(1, sizeof(*z));
	if (!z)
		return -1;
	if (inflateInit(z) != Z_OK) {
		free(z);
		return -1;
	}
	comm->inflater = z;
	return 0;
}

/* Charges `made` inflated bytes to the session's budget (inflateRate):
 * a compressed transaction costs CPU by what it inflates to, some 1,000
 * times its wire size for zeros, so a client may not make the daemon
 * inflate faster than the rate on average; past it the reader waits
 * (within the transaction's bounds).  A token bucket of two
 * maxTransactionSize. */
static int charge_inflate(struct np_comm *comm, size_t made)
{
	const size_t rate = comm->options.inflate_rate;
	if (rate == 0)
		return 0;
	const double burst = 2.0 * (double)comm->options.max_transaction_size;
	int64_t now = np_now_ms();
	if (comm->inflate_refilled_ms == 0) {
		comm->inflate_tokens = burst;
		comm->inflate_refilled_ms = now;
	}
	comm->inflate_tokens += (double)(now - comm->inflate_refilled_ms) * (double)rate / 1000.0;
	if (comm->inflate_tokens > burst)
		comm->inflate_tokens = burst;
	comm->inflate_refilled_ms = now;
	comm->inflate_tokens -= (double)made;
	if (comm->inflate_tokens >= 0)
		return 0;
	int64_t wait_ms = (int64_t)(-comm->inflate_tokens * 1000.0 / (double)rate) + 1;
	int64_t until = nearest(comm->outer_deadline, comm->transaction_deadline);
	if (until && now + wait_ms >= until)
		return fail(comm, NP_COMM_IO, "inflateRate: the transaction inflates faster than %zu bytes/s on average",
			    rate);
	comm->inflate_waits++;
	struct timespec ts = { .tv_sec = wait_ms / 1000, .tv_nsec = (long)(wait_ms % 1000) * 1000000L };
	np_turn_give();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	np_turn_take();
	return 0;
}

/* Inflates `wire_length` bytes from the socket as they arrive, so only the
 * inflated payload is ever held. */
static int read_compressed_payload(struct np_comm *comm, size_t wire_length)
{
	struct np_buffer *in = &comm->in;
	const size_t max = comm->options.max_transaction_size;
	unsigned char chunk[INFLATE_CHUNK];
	size_t wire_left = wire_length;
	int zr = Z_OK;

	if (inflater_start(comm) < 0)
		return fail(comm, NP_COMM_NOMEM, "cannot start zlib inflater");
	z_stream *z = comm->inflater;

	while (zr != Z_STREAM_END) {
		if (z->avail_in == 0) {
			if (wire_left == 0)
				return fail(comm, NP_COMM_CORRUPT, "zlib stream ends before its end marker");
			size_t want = wire_left < sizeof(chunk) ? wire_left : sizeof(chunk);
			ssize_t n = bounded_read(comm, chunk, want, "a compressed payload");
			if (n < 0)
				return -1;
			wire_left -= (size_t)n;
			z->next_in = chunk;
			z->avail_in = (uInt)n;
		}
		if (in->length == in->capacity && in->capacity < max) {
			size_t want = in->capacity ? in->capacity * 2 : 4096;
			if (want > max)
				want = max;
			if (buffer_reserve(in, want) < 0)
				return fail(comm, NP_COMM_NOMEM, "out of memory inflating a transaction");
		}
		size_t room = in->capacity - in->length;
		if (room > max - in->length)
			room = max - in->length;
		if (room == 0) {
			/* Full at the limit: one more byte of output means over it. */
			unsigned char probe;
			z->next_out = &probe;
			z->avail_out = 1;
			zr = inflate(z, Z_NO_FLUSH);
			if (z->avail_out == 0)
				return fail(comm, NP_COMM_TOO_LARGE,
					    "transaction inflates past maxTransactionSize (%zu bytes)", max);
		} else {
			z->next_out = in->data + in->length;
			z->avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
			zr = inflate(z, Z_NO_FLUSH);
			in->length += room - z->avail_out;
			if (charge_inflate(comm, room - z->avail_out) < 0)
				return -1;
		}
		if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR)
			return fail(comm, NP_COMM_CORRUPT, "corrupt zlib stream: %s",
				    z->msg ? z->msg : "bad data");
		if (zr == Z_MEM_ERROR)
			return fail(comm, NP_COMM_NOMEM, "out of memory in zlib");
		/* Z_BUF_ERROR only means no progress this round; the loop feeds
		 * more input or more room. */
	}
	if (z->avail_in != 0 || wire_left != 0)
		return fail(comm, NP_COMM_CORRUPT, "%zu bytes after the end of the zlib stream",
			    (size_t)z->avail_in + wire_left);
	return 0;
}

/* Inflates the wire payload held in comm->in only to check it: a valid
 * zlib stream, ending exactly at the end, within maxTransactionSize. */
static int check_compressed(struct np_comm *comm)
{
	unsigned char scratch[INFLATE_CHUNK];
	size_t total = 0;
	int zr = Z_OK;

	if (inflater_start(comm) < 0)
		return fail(comm, NP_COMM_NOMEM, "cannot start zlib inflater");
	z_stream *z = comm->inflater;
	z->next_in = comm->in.data;
	z->avail_in = (uInt)comm->in.length;
	while (zr != Z_STREAM_END) {
		z->next_out = scratch;
		z->avail_out = sizeof(scratch);
		zr = inflate(z, Z_NO_FLUSH);
		if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR)
			return fail(comm, NP_COMM_CORRUPT, "corrupt zlib stream: %s",
				    z->msg ? z->msg : "bad data");
		if (zr == Z_MEM_ERROR)
			return fail(comm, NP_COMM_NOMEM, "out of memory in zlib");
		total += sizeof(scratch) - z->avail_out;
		if (charge_inflate(comm, sizeof(scratch) - z->avail_out) < 0)
			return -1;
		if (total > comm->options.max_transaction_size)
			return fail(comm, NP_COMM_TOO_LARGE,
				    "transaction inflates past maxTransactionSize (%zu bytes)",
				    comm->options.max_transaction_size);
		if (zr == Z_BUF_ERROR && z->avail_in == 0)
			return fail(comm, NP_COMM_CORRUPT, "zlib stream ends before its end marker");
	}
	if (z->avail_in != 0)
		return fail(comm, NP_COMM_CORRUPT, "%u bytes after the end of the zlib stream",
			    z->avail_in);
	return 0;
}

/* The header and the payload, under the transaction's bounds. */
static int read_frame_bounded(struct np_comm *comm, bool keep_wire, uint32_t *length, bool *compressed)
{
	if (read_header(comm, length, compressed) < 0)
		return -1;
	if (*length > comm->options.max_transaction_size)
		return fail(comm, NP_COMM_TOO_LARGE,
			    "transaction of %u bytes exceeds maxTransactionSize (%zu bytes)",
			    *length, comm->options.max_transaction_size);
	if (*compressed && !keep_wire)
		return read_compressed_payload(comm, *length);
	if (read_plain_payload(comm, *length) < 0)
		return -1;
	return *compressed ? check_compressed(comm) : 0;
}

/* One frame: the payload inflated, or kept as it came (keep_wire) after
 * checking that it would inflate cleanly within the limit. */
static int read_frame(struct np_comm *comm, bool keep_wire, struct np_transaction *out)
{
	uint32_t length = 0;
	bool compressed = false;

	buffer_trim(&comm->in);
	comm->error = NP_COMM_OK;
	comm->error_text[0] = '\0';
	struct np_socket *s = comm->socket;
	comm->outer_deadline = np_socket_deadline(s);
	comm->transaction_deadline = 0;
	comm->header_started = false;
	int rc = read_frame_bounded(comm, keep_wire, &length, &compressed);
	/* The caller's deadline again, whichever bound the reads had. */
	if (np_socket_deadline(s) != comm->outer_deadline)
		np_socket_set_deadline(s, comm->outer_deadline);
	if (rc < 0)
		return -1;

	np_counter_add(&comm->transactions_in, 1);
	atomic_store(&comm->last_activity_ms, np_now_ms());
	out->payload = comm->in.data;
	out->length = comm->in.length;
	out->was_compressed = compressed;
	out->wire_length = length;
	return 0;
}

int np_comm_read_transaction(struct np_comm *comm, struct np_transaction *out)
{
	return read_frame(comm, false, out);
}

int np_comm_read_wire(struct np_comm *comm, struct np_transaction *out)
{
	return read_frame(comm, true, out);
}

/* Payloads up to SMALL_PAYLOAD bytes go through a stream with a 2^13 =
 * 8 KiB window.  zlib looks back at most the window less 262 bytes, which
 * still spans the whole payload, so they compress as with the default
 * 32 KiB window; the stream takes about 70 KiB instead of 270 (window,
 * chains, a 2^(6+7)-entry hash table, symbol buffer), and deflateReset()
 * clears 16 KiB of hash table per transaction instead of 64.  Measured
 * with 1,000 sessions echoing deflated 1 KiB transactions: 48 KiB less
 * RSS per session, 4-16 % less CPU per transaction. */
#define SMALL_PAYLOAD 4096
#define SMALL_WINDOW_BITS 13
#define SMALL_MEM_LEVEL 6
#define DEFAULT_MEM_LEVEL 8     /* what deflateInit() uses */

/* The stream for a payload of `length` bytes, reset; NULL when it cannot
 * be had (out of memory). */
static z_stream *deflater_for(struct np_comm *comm, size_t length)
{
	bool small = length <= SMALL_PAYLOAD;
	z_stream **slot = small ? &comm->deflater_small : &comm->deflater;
	if (*slot)
		return deflateReset(*slot) == Z_OK ? *slot : NULL;
	z_stream *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	if (deflateInit2(z, comm->options.compression_level, Z_DEFLATED, small ? SMALL_WINDOW_BITS : MAX_WBITS,
			 small ? SMALL_MEM_LEVEL : DEFAULT_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(z);
		return NULL;
	}
	*slot = z;
	return z;
}

/* First output room, and the ratio past which a payload is taken as
 * incompressible once that much has gone in. */
#define DEFLATE_FIRST_ROOM (64 * 1024)
#define GIVE_UP_PERCENT 90

/* Deflates into comm->out; returns the compressed size, or 0 when it does
 * not pay (or cannot be done: the payload then goes out as it is).  The
 * output buffer grows as the output does, so an incompressible payload
 * costs 64 KiB of buffer and is given up once its first part shows it,
 * not a buffer of its own size. */
static size_t compress_payload(struct np_comm *comm, const void *payload, size_t length)
{
	z_stream *z = length > UINT32_MAX ? NULL : deflater_for(comm, length);
	if (!z)
		return 0;
	/* Only a result smaller than the payload is worth sending. */
	const size_t limit = length - 1;
	size_t room = limit < DEFLATE_FIRST_ROOM ? limit : DEFLATE_FIRST_ROOM;
	if (buffer_reserve(&comm->out, room) < 0)
		return 0;
	z->next_in = (Bytef *)payload;
	z->avail_in = (uInt)length;
	z->next_out = comm->out.data;
	z->avail_out = (uInt)room;
	for (;;) {
		int zr = deflate(z, Z_FINISH);
		if (zr == Z_STREAM_END)
			return z->total_out;
		if ((zr != Z_OK && zr != Z_BUF_ERROR) || z->avail_out != 0 || room >= limit)
			return 0;
		/* Out of room: go on only while it compresses. */
		if (z->total_out * 100 > z->total_in * GIVE_UP_PERCENT)
			return 0;
		size_t grown = room * 2 < limit ? room * 2 : limit;
		if (buffer_reserve(&comm->out, grown) < 0)
			return 0;
		z->next_out = comm->out.data + z->total_out;
		z->avail_out = (uInt)(comm->out.capacity < limit ? comm->out.capacity : limit) - (uInt)z->total_out;
		room = z->total_out + z->avail_out;
	}
}

static int write_frame(struct np_comm *comm, const void *wire, size_t length, bool compressed)
{
	unsigned char header[NP_FRAME_HEADER_SIZE];
	np_frame_header_encode(header, (uint32_t)length, compressed);
	struct iovec iov[2] = {
		{ .iov_base = header, .iov_len = sizeof(header) },
		{ .iov_base = (void *)wire, .iov_len = length },
	};
	if (np_socket_writev_locked(comm->socket, iov, length ? 2 : 1) < 0)
		return -1;
	np_counter_add(&comm->transactions_out, 1);
	atomic_store(&comm->last_activity_ms, np_now_ms());
	return 0;
}

int np_comm_write_transaction(struct np_comm *comm, const void *payload, size_t length)
{
	if (length > NP_FRAME_LENGTH_MASK) {
		errno = EMSGSIZE;
		return -1;
	}
	np_socket_write_lock(comm->socket);
	int rc;
	size_t packed = 0;
	if (comm->options.compression && length > 0 && length >= comm->options.compression_threshold)
		packed = compress_payload(comm, payload, length);
	if (packed > 0)
		rc = write_frame(comm, comm->out.data, packed, true);
	else
		rc = write_frame(comm, payload, length, false);
	buffer_trim(&comm->out);
	np_socket_write_unlock(comm->socket);
	return rc;
}

int np_comm_write_raw(struct np_comm *comm, const void *wire, size_t length, bool compressed)
{
	if (length > NP_FRAME_LENGTH_MASK) {
		errno = EMSGSIZE;
		return -1;
	}
	np_socket_write_lock(comm->socket);
	int rc = write_frame(comm, wire, length, compressed);
	np_socket_write_unlock(comm->socket);
	return rc;
}
