/* SPDX-License-Identifier: ISC */
/*
 * npsocket/comm.h - framed transactions over a socket (the C counterpart
 * of the Java SocketClientCommunication / ClientCommunicationInterface).
 *
 * Wire format, both directions: a 4-byte big-endian header, then the
 * payload.  Bit 31 of the header set: the payload is a zlib stream
 * (RFC 1950).  Bits 0-30: the number of payload bytes on the wire.
 *
 * One thread reads (the connection's own); any thread may write: writes
 * are serialised per connection by the socket's write lock.
 */
#ifndef NPSOCKET_COMM_H
#define NPSOCKET_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "npsocket/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_FRAME_COMPRESSED 0x80000000u
#define NP_FRAME_LENGTH_MASK 0x7fffffffu
#define NP_FRAME_HEADER_SIZE 4

/* Limits and preferences of one connection's framing. */
struct np_comm_options {
	size_t max_transaction_size;   /* bounds wire and inflated length */
	bool compression;              /* compress outgoing transactions ... */
	size_t compression_threshold;  /* ... of at least this many bytes */
	int compression_level;         /* 1..9 */
	int idle_timeout_ms;           /* no complete transaction either way this
					  long ends the session, even inside a
					  transaction that has begun; 0 = none */
	int transaction_timeout_ms;    /* a transaction whose first header byte
					  came must be whole within this; 0 =
					  none (ABI 4) */
	size_t inflate_rate;           /* bytes a second this session's inflating
					  may make on average (bursts of two
					  maxTransactionSize); past it reads wait;
					  0 = none (ABI 4) */
};

/* Why np_comm_read_transaction() failed. */
enum np_comm_error {
	NP_COMM_OK = 0,
	NP_COMM_CLOSED,      /* EOF between transactions: a normal end */
	NP_COMM_TRUNCATED,   /* EOF inside a transaction */
	NP_COMM_TOO_LARGE,   /* over max_transaction_size, on the wire or inflated */
	NP_COMM_CORRUPT,     /* bad zlib stream */
	NP_COMM_IO,          /* socket error or timeout: see the socket */
	NP_COMM_NOMEM,
};

/* A received transaction; payload valid until the next read. */
struct np_transaction {
	const unsigned char *payload;
	size_t length;
	bool was_compressed;           /* it arrived compressed */
	size_t wire_length;            /* bytes on the wire, header excluded */
};

/* A growable byte buffer that gives back memory after a large
 * transaction, so an idle session holds little. */
struct np_buffer {
	unsigned char *data;
	size_t length;
	size_t capacity;
};

struct np_comm {
	struct np_socket *socket;
	struct np_comm_options options;
	enum np_comm_error error;
	char error_text[128];          /* the reason in words, for the log */
	struct np_buffer in;           /* the payload being read */
	struct np_buffer out;          /* compressed payload being written */
	z_stream *inflater;            /* created on the first compressed read */
	z_stream *deflater;            /* created on the first compressed write
					* of a payload over 4 KiB */
	z_stream *deflater_small;      /* the same for payloads up to 4 KiB:
					* an 8 KiB window, a quarter the memory */
	/* Counted by the reader and by the write lock's holder; any thread
	 * may read them (np_counter_get()). */
	NP_ATOMIC(uint64_t) transactions_in, transactions_out;
	NP_ATOMIC(int64_t) last_activity_ms; /* last whole transaction in or out */
	/* The reader's, while it reads a transaction (ABI 4). */
	int64_t outer_deadline;        /* the socket's deadline when it began */
	int64_t transaction_deadline;  /* from its first byte: transactionTimeout */
	int transaction_bound_ms;      /* what made it (readTimeout for a header) */
	bool header_started;
	double inflate_tokens;         /* the reader's inflate budget left */
	int64_t inflate_refilled_ms;
	uint64_t inflate_waits;        /* how often it had to wait */
};

/* Returns 0 (kept an int for the ABI: set-up that can fail may come). */
int np_comm_init(struct np_comm *comm, struct np_socket *socket,
		 const struct np_comm_options *options);
void np_comm_destroy(struct np_comm *comm);

/* Reads one whole transaction (inflated when it was compressed).
 * Returns 0, or -1 with comm->error and comm->error_text set. */
int np_comm_read_transaction(struct np_comm *comm, struct np_transaction *out);

/* Reads one transaction as it is on the wire, for passing it on without
 * re-encoding: out->payload is the deflated bytes when out->was_compressed.
 * The same checks as np_comm_read_transaction() apply (a compressed
 * payload is inflated to check it, into a small scratch buffer).
 * Returns 0, or -1 with comm->error and comm->error_text set. */
int np_comm_read_wire(struct np_comm *comm, struct np_transaction *out);

/* Writes one transaction, compressed when the options say so and the
 * result is smaller.  Safe from any thread.  Returns 0 or -1. */
int np_comm_write_transaction(struct np_comm *comm, const void *payload, size_t length);

/* Writes a transaction exactly as given: `wire` is already deflated when
 * `compressed` is set (a pass-through for relays).  Returns 0 or -1. */
int np_comm_write_raw(struct np_comm *comm, const void *wire, size_t length, bool compressed);

/* Frame codec, for tests and tools: header encode/decode. */
static inline void np_frame_header_encode(unsigned char out[NP_FRAME_HEADER_SIZE],
					  uint32_t length, bool compressed)
{
	uint32_t word = (length & NP_FRAME_LENGTH_MASK) | (compressed ? NP_FRAME_COMPRESSED : 0);
	out[0] = (unsigned char)(word >> 24);
	out[1] = (unsigned char)(word >> 16);
	out[2] = (unsigned char)(word >> 8);
	out[3] = (unsigned char)word;
}

static inline void np_frame_header_decode(const unsigned char in[NP_FRAME_HEADER_SIZE],
					  uint32_t *length, bool *compressed)
{
	uint32_t word = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
			(uint32_t)in[2] << 8 | (uint32_t)in[3];
	*length = word & NP_FRAME_LENGTH_MASK;
	*compressed = (word & NP_FRAME_COMPRESSED) != 0;
}

#ifdef __cplusplus
}
#endif

#endif
