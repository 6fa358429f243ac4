/* SPDX-License-Identifier: ISC */
/*
 * frame_test.c - the frame codec and np_comm over a socketpair: sizes,
 * compression both ways, limits on the wire and after inflating, corrupt
 * and truncated streams, EOF at every byte, timeouts, buffer release,
 * writers from many threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "npsocket/comm.h"
#include "tap.h"

struct pair {
	struct np_socket *a, *b;
	struct np_comm ca, cb;
};

static struct np_comm_options options(size_t max, bool compression, size_t threshold)
{
	return (struct np_comm_options){ .max_transaction_size = max, .compression = compression,
					 .compression_threshold = threshold, .compression_level = 6 };
}

static void pair_open(struct pair *p, struct np_comm_options oa, struct np_comm_options ob)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	p->a = np_socket_plain_new(sv[0]);
	p->b = np_socket_plain_new(sv[1]);
	if (!p->a || !p->b)
		abort();
	np_socket_set_timeout(p->b, 5000);
	if (np_comm_init(&p->ca, p->a, &oa) || np_comm_init(&p->cb, p->b, &ob))
		abort();
}

static void pair_close(struct pair *p)
{
	np_comm_destroy(&p->ca);
	np_comm_destroy(&p->cb);
	np_socket_close(p->a);
	np_socket_close(p->b);
}

/* Writes from a thread, so a payload larger than the socket buffer
 * cannot block the reading test. */
struct job {
	struct np_comm *comm;
	struct np_socket *socket;       /* raw bytes when set */
	const unsigned char *data;
	size_t length;
	int count;
	bool compressed_raw;
	bool close_after;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->count; i++) {
		if (j->socket)
			np_socket_write_all(j->socket, j->data, j->length);
		else if (j->compressed_raw)
			np_comm_write_raw(j->comm, j->data, j->length, true);
		else
			np_comm_write_transaction(j->comm, j->data, j->length);
	}
	if (j->close_after)
		np_socket_shutdown(j->socket ? j->socket : j->comm->socket, SHUT_WR);
	return NULL;
}

static pthread_t start(struct job *j)
{
	pthread_t t;
	if (pthread_create(&t, NULL, run_job, j))
		abort();
	return t;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)("abcdefghij"[(i * seed) % 10] + (i % 7));
	return p;
}

static unsigned char *random_bytes(size_t n)
{
	unsigned char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rand();
	return p;
}

static unsigned char *deflated(const void *data, size_t n, size_t *out)
{
	uLongf len = compressBound(n);
	unsigned char *z = malloc(len);
	if (compress2(z, &len, data, n, 6) != Z_OK)
		abort();
	*out = len;
	return z;
}

static void test_header_codec(void)
{
	unsigned char h[4];
	uint32_t len;
	bool c;
	np_frame_header_encode(h, 0x12345678, true);
	ok(h[0] == 0x92 && h[1] == 0x34 && h[2] == 0x56 && h[3] == 0x78, "header: big-endian with bit 31 set");
	np_frame_header_decode(h, &len, &c);
	ok(len == 0x12345678 && c, "header: decodes length and compression bit");
	np_frame_header_encode(h, 0x7fffffff, false);
	np_frame_header_decode(h, &len, &c);
	ok(len == 0x7fffffff && !c, "header: 0x7fffffff uncompressed round trip");
	np_frame_header_encode(h, 0, false);
	ok(!h[0] && !h[1] && !h[2] && !h[3], "header: zero length is four zero bytes");
}

static void test_round_trips(void)
{
	const size_t sizes[] = { 0, 1, 1000, 100000, 5 * 1024 * 1024 };
	for (int compress = 0; compress <= 1; compress++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct pair p;
			pair_open(&p, options(8u << 20, compress, 0), options(8u << 20, false, 0));
			unsigned char *data = pattern(sizes[i], (unsigned)i + 3);
			struct job j = { .comm = &p.ca, .data = data, .length = sizes[i], .count = 1 };
			pthread_t t = start(&j);
			struct np_transaction tr;
			int rc = np_comm_read_transaction(&p.cb, &tr);
			pthread_join(t, NULL);
			ok(rc == 0 && tr.length == sizes[i] && (sizes[i] == 0 || memcmp(tr.payload, data, sizes[i]) == 0),
			   "%zu bytes %s arrive intact", sizes[i], compress ? "with compression on" : "uncompressed");
			ok(tr.was_compressed == (compress && sizes[i] >= 1000),
			   "%zu bytes: compressed on the wire exactly when compression is on and it pays", sizes[i]);
			free(data);
			pair_close(&p);
		}
	}
}

static void test_compression_rules(void)
{
	struct pair p;
	struct np_transaction tr;
	pair_open(&p, options(1u << 20, true, 500), options(1u << 20, false, 0));
	unsigned char *text = pattern(499, 5);
	np_comm_write_transaction(&p.ca, text, 499);
	np_comm_read_transaction(&p.cb, &tr);
	ok(!tr.was_compressed, "below compressionThreshold: sent as it is");
	free(text);
	text = pattern(500, 5);
	np_comm_write_transaction(&p.ca, text, 500);
	np_comm_read_transaction(&p.cb, &tr);
	ok(tr.was_compressed && tr.wire_length < 500, "at compressionThreshold: compressed (%zu wire bytes)", tr.wire_length);
	free(text);
	unsigned char *noise = random_bytes(20000);
	struct job j = { .comm = &p.ca, .data = noise, .length = 20000, .count = 1 };
	pthread_t t = start(&j);
	np_comm_read_transaction(&p.cb, &tr);
	pthread_join(t, NULL);
	ok(!tr.was_compressed && tr.length == 20000 && memcmp(tr.payload, noise, 20000) == 0,
	   "incompressible data goes out uncompressed, intact");
	free(noise);
	pair_close(&p);
}

/* Noise whose last 96 bytes repeat its first: the one match there is
 * lies n - 96 bytes back (4,000 for 4 KiB, past what a 4 KiB window
 * reaches). */
static unsigned char *far_repeat(size_t n)
{
	unsigned char *p = random_bytes(n);
	memcpy(p + n - 96, p, 96);
	return p;
}

/* The zlib header's first byte names the window: 0x58 is 2^13 bytes,
 * 0x78 2^15.  Payloads up to 4 KiB go through the small stream and lose
 * nothing against zlib's default; larger ones through the full one; each
 * stream is reused. */
static void test_window_by_size(void)
{
	struct pair p;
	struct np_transaction tr;
	pair_open(&p, options(1u << 20, true, 0), options(1u << 20, false, 0));
	const size_t sizes[] = { 1024, 4096, 4097, 70000, 100, 4096, 5000 };
	for (size_t i = 0; i < 2 * sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i / 2];
		bool far = i % 2;
		if (far && (n < 192 || n > 30000)) /* no repeat to find, or out of any window */
			continue;
		unsigned char *text = far ? far_repeat(n) : pattern(n, (unsigned)i + 3);
		struct job j = { .comm = &p.ca, .data = text, .length = n, .count = 1 };
		pthread_t t = start(&j);
		int rc = np_comm_read_wire(&p.cb, &tr);
		pthread_join(t, NULL);
		size_t default_len;
		unsigned char *reference = deflated(text, n, &default_len);
		unsigned char *back = malloc(n);
		uLongf back_len = n;
		bool intact = rc == 0 && tr.was_compressed &&
			      uncompress(back, &back_len, tr.payload, tr.length) == Z_OK && back_len == n &&
			      memcmp(back, text, n) == 0;
		ok(intact, "%zu bytes%s: deflated on the wire and inflate to the payload", n, far ? " (far repeat)" : "");
		unsigned char want = n <= 4096 ? 0x58 : 0x78;
		ok(rc == 0 && tr.length > 0 && tr.payload[0] == want, "%zu bytes: window 2^%d (header byte 0x%02x)", n,
		   n <= 4096 ? 13 : 15, rc == 0 && tr.length ? tr.payload[0] : 0);
		ok(rc == 0 && tr.length <= default_len + 1, "%zu bytes%s: %zu wire bytes, zlib's default gives %zu", n,
		   far ? " (far repeat)" : "", rc == 0 ? tr.length : 0, default_len);
		free(back);
		free(reference);
		free(text);
	}
	ok(p.ca.deflater_small && p.ca.deflater, "one small and one full stream, kept for reuse");
	pair_close(&p);
}

/* Reads one transaction after `bytes` were sent (then EOF when close). */
static int read_after(const void *bytes, size_t n, bool close_after, size_t max, struct np_comm *result_comm,
		      int timeout_ms)
{
	struct pair p;
	pair_open(&p, options(max, false, 0), options(max, false, 0));
	np_socket_set_timeout(p.b, timeout_ms);
	struct job j = { .socket = p.a, .data = bytes, .length = n, .count = 1, .close_after = close_after };
	pthread_t t = start(&j);
	struct np_transaction tr;
	int rc = np_comm_read_transaction(&p.cb, &tr);
	result_comm->error = p.cb.error;
	memcpy(result_comm->error_text, p.cb.error_text, sizeof(result_comm->error_text));
	pthread_join(t, NULL);
	pair_close(&p);
	return rc;
}

static void test_limits(void)
{
	struct np_comm r;
	unsigned char huge[4] = { 0x7f, 0xff, 0xff, 0xff };
	int rc = read_after(huge, 4, false, 1u << 20, &r, 2000);
	ok(rc < 0 && r.error == NP_COMM_TOO_LARGE, "header 0x7fffffff: NP_COMM_TOO_LARGE before any payload");
	ok(strstr(r.error_text, "2147483647 bytes exceeds maxTransactionSize (1048576 bytes)") != NULL,
	   "the reason names both sizes: %s", r.error_text);

	size_t zlen;
	unsigned char *zeros = calloc(10u << 20, 1);
	unsigned char *bomb = deflated(zeros, 10u << 20, &zlen);
	unsigned char *frame = malloc(zlen + 4);
	np_frame_header_encode(frame, (uint32_t)zlen, true);
	memcpy(frame + 4, bomb, zlen);
	rc = read_after(frame, zlen + 4, false, 1u << 20, &r, 2000);
	ok(rc < 0 && r.error == NP_COMM_TOO_LARGE, "a %zu-byte stream inflating to 10 MiB with a 1 MiB limit: TOO_LARGE", zlen);
	ok(strstr(r.error_text, "inflates past maxTransactionSize") != NULL, "the reason says it inflates past the limit");
	free(frame);
	free(bomb);

	bomb = deflated(zeros, 1u << 20, &zlen);
	frame = malloc(zlen + 4);
	np_frame_header_encode(frame, (uint32_t)zlen, true);
	memcpy(frame + 4, bomb, zlen);
	rc = read_after(frame, zlen + 4, false, 1u << 20, &r, 2000);
	ok(rc == 0, "a stream inflating to exactly maxTransactionSize is accepted");
	free(frame);
	free(bomb);

	unsigned char exact[4 + 100];
	np_frame_header_encode(exact, 100, false);
	memset(exact + 4, 'x', 100);
	ok(read_after(exact, sizeof(exact), false, 100, &r, 2000) == 0, "a wire length of exactly the limit is accepted");
	ok(read_after(exact, sizeof(exact), false, 99, &r, 2000) < 0 && r.error == NP_COMM_TOO_LARGE,
	   "one byte over the limit is refused");
	free(zeros);
}

static void test_corrupt(void)
{
	struct np_comm r;
	unsigned char bad[4 + 10];
	np_frame_header_encode(bad, 10, true);
	memcpy(bad + 4, "not zlib!!", 10);
	int rc = read_after(bad, sizeof(bad), false, 1u << 20, &r, 2000);
	ok(rc < 0 && r.error == NP_COMM_CORRUPT, "garbage as zlib: NP_COMM_CORRUPT (%s)", r.error_text);

	size_t zlen;
	unsigned char *text = pattern(5000, 3);
	unsigned char *z = deflated(text, 5000, &zlen);
	unsigned char *frame = malloc(zlen + 8);
	np_frame_header_encode(frame, (uint32_t)zlen + 3, true);
	memcpy(frame + 4, z, zlen);
	memcpy(frame + 4 + zlen, "xyz", 3);
	rc = read_after(frame, zlen + 7, false, 1u << 20, &r, 2000);
	ok(rc < 0 && r.error == NP_COMM_CORRUPT && strstr(r.error_text, "3 bytes after the end"),
	   "bytes after the zlib end: CORRUPT (%s)", r.error_text);

	np_frame_header_encode(frame, (uint32_t)zlen - 5, true);
	memcpy(frame + 4, z, zlen - 5);
	rc = read_after(frame, zlen - 1, false, 1u << 20, &r, 2000);
	ok(rc < 0 && r.error == NP_COMM_CORRUPT && strstr(r.error_text, "ends before its end marker"),
	   "a zlib stream cut short inside its frame: CORRUPT (%s)", r.error_text);

	/* EOF at every byte of a plain and of a compressed frame. */
	np_frame_header_encode(frame, (uint32_t)zlen, true);
	memcpy(frame + 4, z, zlen);
	int right = 0;
	for (size_t cut = 0; cut < zlen + 4; cut++) {
		rc = read_after(frame, cut, true, 1u << 20, &r, 2000);
		right += rc < 0 && r.error == (cut == 0 ? NP_COMM_CLOSED : NP_COMM_TRUNCATED);
	}
	is_int(right, zlen + 4, "EOF at each of %zu positions of a compressed frame: CLOSED at 0, TRUNCATED after", zlen + 4);
	unsigned char plain[4 + 6];
	np_frame_header_encode(plain, 6, false);
	memcpy(plain + 4, "abcdef", 6);
	right = 0;
	for (size_t cut = 0; cut < sizeof(plain); cut++) {
		rc = read_after(plain, cut, true, 1u << 20, &r, 2000);
		right += rc < 0 && r.error == (cut == 0 ? NP_COMM_CLOSED : NP_COMM_TRUNCATED);
	}
	is_int(right, sizeof(plain), "EOF at each of the 10 positions of a plain frame");
	free(frame);
	free(z);
	free(text);
}

static void test_timeout_and_buffers(void)
{
	struct np_comm r;
	int rc = read_after("", 0, false, 1u << 20, &r, 100);
	ok(rc < 0 && r.error == NP_COMM_IO && strstr(r.error_text, "read timeout"),
	   "nothing within timeout_ms: NP_COMM_IO (%s)", r.error_text);
	unsigned char part[2] = { 0, 0 };
	rc = read_after(part, 2, false, 1u << 20, &r, 100);
	ok(rc < 0 && r.error == NP_COMM_IO && strstr(r.error_text, "read timeout: the transaction header not complete"),
	   "half a header then silence: cut by the header deadline (%s)", r.error_text);

	struct pair p;
	struct np_transaction tr;
	pair_open(&p, options(8u << 20, false, 0), options(8u << 20, false, 0));
	unsigned char *big = pattern(3u << 20, 7);
	struct job j = { .comm = &p.ca, .data = big, .length = 3u << 20, .count = 1 };
	pthread_t t = start(&j);
	np_comm_read_transaction(&p.cb, &tr);
	pthread_join(t, NULL);
	ok(p.cb.in.capacity >= (3u << 20), "a 3 MiB transaction is held while it is read");
	np_comm_write_transaction(&p.ca, "small", 5);
	np_comm_read_transaction(&p.cb, &tr);
	ok(p.cb.in.capacity <= 64 * 1024, "the next read gives the memory back (capacity %zu)", p.cb.in.capacity);
	free(big);
	pair_close(&p);
}

static void test_concurrent_writers(void)
{
	struct pair p;
	pair_open(&p, options(1u << 20, true, 100), options(1u << 20, false, 0));
	enum { WRITERS = 8, EACH = 200 };
	struct job jobs[WRITERS];
	unsigned char *data[WRITERS];
	pthread_t threads[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		size_t len = 50 + (size_t)w * 700;
		data[w] = malloc(len);
		memset(data[w], 'A' + w, len);
		jobs[w] = (struct job){ .comm = &p.ca, .data = data[w], .length = len, .count = EACH };
		threads[w] = start(&jobs[w]);
	}
	int whole = 0, counts[WRITERS] = { 0 };
	for (int i = 0; i < WRITERS * EACH; i++) {
		struct np_transaction tr;
		if (np_comm_read_transaction(&p.cb, &tr) < 0)
			break;
		int w = tr.length ? tr.payload[0] - 'A' : -1;
		bool same = w >= 0 && w < WRITERS && tr.length == jobs[w].length;
		for (size_t k = 0; same && k < tr.length; k++)
			same = tr.payload[k] == 'A' + w;
		if (same) {
			whole++;
			counts[w]++;
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		pthread_join(threads[w], NULL);
		free(data[w]);
	}
	is_int(whole, WRITERS * EACH, "8 threads writing to one connection: every frame whole and unmixed");
	ok(counts[0] == EACH && counts[WRITERS - 1] == EACH, "each writer's frames all arrived");
	pair_close(&p);
}

static void test_wire_pass_through(void)
{
	struct pair p;
	struct np_transaction tr;
	pair_open(&p, options(1u << 20, false, 0), options(1u << 20, false, 0));
	size_t zlen;
	unsigned char *text = pattern(10000, 9);
	unsigned char *z = deflated(text, 10000, &zlen);
	struct job j = { .comm = &p.ca, .data = z, .length = zlen, .count = 1, .compressed_raw = true };
	pthread_t t = start(&j);
	int rc = np_comm_read_wire(&p.cb, &tr);
	pthread_join(t, NULL);
	ok(rc == 0 && tr.was_compressed && tr.length == zlen && memcmp(tr.payload, z, zlen) == 0,
	   "np_comm_read_wire hands on the deflated bytes untouched");
	free(z);
	free(text);
	pair_close(&p);
}

int main(void)
{
	srand(42);
	test_header_codec();
	test_round_trips();
	test_compression_rules();
	test_window_by_size();
	test_limits();
	test_corrupt();
	test_timeout_and_buffers();
	test_concurrent_writers();
	test_wire_pass_through();
	return done_testing();
}
