/* SPDX-License-Identifier: ISC */
/*
 * npsocket/socket.h - one connection's byte stream, plain or TLS, or a
 * layer over another stream (the C counterpart of the Java ISocket /
 * SocketAdapter pair).
 *
 * Every operation blocks.  Reads wait at most the socket's timeout (0 =
 * for ever) for data, and never past its deadline (a CLOCK_MONOTONIC
 * time in ms, 0 = none), so a caller can bound a whole exchange
 * (handshake + protocol byte) as well as each wait.  With no_wait a read
 * does not wait at all, whatever the timeout and deadline: it takes what
 * has arrived, or fails with NP_SOCK_TIMEOUT (a TLS record that came in
 * part is kept until the rest comes).  The three are set with
 * np_socket_set_timeout(), np_socket_set_deadline() and
 * np_socket_set_no_wait(), which reach every layer below as well.
 *
 * One thread reads (the connection's own); any thread may write: the
 * socket owns the lock that serialises its writers, so a protocol answer,
 * a relay's answer and a framed transaction never interleave.
 */
#ifndef NPSOCKET_SOCKET_H
#define NPSOCKET_SOCKET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The counters and bounds are C11 atomics; from C++ they are the same
 * objects as std::atomic (one size and layout in GCC and Clang), so a
 * module may be written in either. */
#ifdef __cplusplus
#include <atomic>
#define NP_ATOMIC(type) std::atomic<type>
#define NP_LOAD_RELAXED(p) ((p)->load(std::memory_order_relaxed))
#define NP_STORE_RELAXED(p, v) ((p)->store((v), std::memory_order_relaxed))
extern "C" {
#else
#include <stdatomic.h>
#include <stdbool.h>
#define NP_ATOMIC(type) _Atomic type
#define NP_LOAD_RELAXED(p) atomic_load_explicit((p), memory_order_relaxed)
#define NP_STORE_RELAXED(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#endif

struct np_socket;

/* What a TLS session negotiated; all NULL on a plain socket. */
struct np_tls_info {
	const char *version;        /* "TLS1.3" */
	const char *cipher;         /* "AES-128-GCM" */
	const char *server_name;    /* SNI the client sent, or NULL */
	const char *peer_subject;   /* verified client certificate DN, or NULL */
	bool resumed;
};

/* Why a read or a write failed. */
enum np_socket_error {
	NP_SOCK_OK = 0,
	NP_SOCK_EOF,        /* orderly close by the peer */
	NP_SOCK_TIMEOUT,    /* the timeout or the deadline passed */
	NP_SOCK_RESET,      /* connection reset or broken pipe */
	NP_SOCK_SYSTEM,     /* any other errno: see np_socket_strerror() */
	NP_SOCK_TLS,        /* TLS layer error: see np_socket_strerror() */
};

/* What an implementation provides.  writev_all is called with the
 * socket's write lock held. */
struct np_socket_ops {
	/* Reads up to len bytes; returns > 0, or -1 with the error recorded
	 * (EOF is -1 with NP_SOCK_EOF). */
	ssize_t (*read)(struct np_socket *s, void *buf, size_t len);
	/* Writes every byte of the vector (at most 8 parts) or fails;
	 * returns 0 or -1. */
	int (*writev_all)(struct np_socket *s, const struct iovec *iov, int iovcnt);
	/* Half-close (SHUT_WR) or both directions; safe from another thread
	 * to wake a blocked reader. */
	void (*shutdown)(struct np_socket *s, int how);
	/* Frees what the implementation holds, and s itself; the layer
	 * below, if any, is closed after it by np_socket_close(). */
	void (*close)(struct np_socket *s);
	const struct np_tls_info *(*tls_info)(const struct np_socket *s);
	/* Bytes received (and decoded) but not yet read: poll() cannot see
	 * them.  NULL = none ever. */
	size_t (*buffered)(const struct np_socket *s);
};

/* The last failure of one direction. */
struct np_socket_fault {
	enum np_socket_error error;
	int sys_errno;              /* with NP_SOCK_SYSTEM */
	char text[160];             /* with NP_SOCK_TLS */
};

/* For implementations; users go through the functions below. */
struct np_socket {
	const struct np_socket_ops *ops;
	struct np_socket *inner;    /* the stream this layer runs over, or NULL */
	int fd;                     /* the connection's fd (a layer's: its inner's) */
	bool secure;                /* TLS here or below, or terminated in front (externalSSL) */
	NP_ATOMIC(int) timeout_ms;  /* longest wait for data, 0 = none */
	NP_ATOMIC(int64_t) deadline; /* monotonic ms, 0 = none */
	NP_ATOMIC(bool) no_wait;    /* reads never wait (see above) */
	pthread_mutex_t write_lock; /* one writer at a time */
	/* Reads and writes keep their failures apart, since another thread
	 * may write while the session's own thread reads. */
	struct np_socket_fault rd;  /* reads and the handshake: the reader's */
	struct np_socket_fault wr;  /* writes: under the write lock */
	/* Each has one writer at a time (the reader; the write lock's
	 * holder), and any thread may read them. */
	NP_ATOMIC(uint64_t) bytes_in, bytes_out;
	NP_ATOMIC(int) write_timeout_ms; /* a write that makes no progress this
					    long fails, 0 = none (ABI 4) */
};

/* A plain TCP stream over fd; the socket takes ownership of fd.  Returns
 * NULL (errno set) when out of memory. */
struct np_socket *np_socket_plain_new(int fd);

/* For implementations: sets up the part every socket shares, over fd
 * (np_socket_init) or as a layer over `inner` (np_socket_init_layer: the
 * same fd, secure when inner is; closing the layer closes inner).
 * s is zeroed first.  0, or -1 with errno set. */
int np_socket_init(struct np_socket *s, const struct np_socket_ops *ops, int fd);
int np_socket_init_layer(struct np_socket *s, const struct np_socket_ops *ops, struct np_socket *inner);

/* Closes the socket, then the layer below it, and frees them. */
void np_socket_close(struct np_socket *s);

static inline ssize_t np_socket_read(struct np_socket *s, void *buf, size_t len)
{
	return s->ops->read(s, buf, len);
}

/* Reads exactly len bytes; returns 0, or -1 (EOF before len is -1 with
 * NP_SOCK_EOF, whether or not some bytes arrived). */
int np_socket_read_full(struct np_socket *s, void *buf, size_t len);

/* Writes all of the vector (at most 8 parts) under the write lock;
 * 0 or -1 with the failure in s->wr. */
int np_socket_writev_all(struct np_socket *s, const struct iovec *iov, int iovcnt);
int np_socket_write_all(struct np_socket *s, const void *buf, size_t len);

/* For a writer that must hold the lock across more than one write (or
 * across preparing what it writes): lock, np_socket_writev_locked(), ...,
 * unlock. */
static inline void np_socket_write_lock(struct np_socket *s)
{
	pthread_mutex_lock(&s->write_lock);
}

static inline void np_socket_write_unlock(struct np_socket *s)
{
	pthread_mutex_unlock(&s->write_lock);
}

static inline int np_socket_writev_locked(struct np_socket *s, const struct iovec *iov, int iovcnt)
{
	return s->ops->writev_all(s, iov, iovcnt);
}

static inline void np_socket_shutdown(struct np_socket *s, int how)
{
	s->ops->shutdown(s, how);
}

static inline const struct np_tls_info *np_socket_tls_info(const struct np_socket *s)
{
	return s->ops->tls_info ? s->ops->tls_info(s) : NULL;
}

static inline size_t np_socket_buffered(const struct np_socket *s)
{
	return s->ops->buffered ? s->ops->buffered(s) : 0;
}

/* The bounds of the reader's waits, for s and every layer below it. */
void np_socket_set_timeout(struct np_socket *s, int timeout_ms);
/* The writers' bound, for s and every layer below it: a write that can
 * move no byte for timeout_ms (0 = for ever) fails with NP_SOCK_TIMEOUT
 * and shuts the connection down both ways (what was sent of the write
 * leaves the stream unusable).  Sets SO_SNDTIMEO on the fd, so a write
 * blocked in the kernel returns too.  0, or -1 with errno. */
int np_socket_set_write_timeout(struct np_socket *s, int timeout_ms);
void np_socket_set_deadline(struct np_socket *s, int64_t deadline_ms);
void np_socket_set_no_wait(struct np_socket *s, bool no_wait);

static inline int np_socket_timeout(const struct np_socket *s)
{
	return NP_LOAD_RELAXED(&s->timeout_ms);
}

static inline int64_t np_socket_deadline(const struct np_socket *s)
{
	return NP_LOAD_RELAXED(&s->deadline);
}

static inline int np_socket_write_timeout(const struct np_socket *s)
{
	return NP_LOAD_RELAXED(&s->write_timeout_ms);
}

static inline bool np_socket_no_wait(const struct np_socket *s)
{
	return NP_LOAD_RELAXED(&s->no_wait);
}

/* Adds n to a counter of one writer at a time (bytes_in, bytes_out,
 * np_comm's transactions): no locked instruction, and a reader in
 * another thread sees a whole value. */
static inline void np_counter_add(NP_ATOMIC(uint64_t) *counter, uint64_t n)
{
	NP_STORE_RELAXED(counter, NP_LOAD_RELAXED(counter) + n);
}

static inline uint64_t np_counter_get(const NP_ATOMIC(uint64_t) *counter)
{
	return NP_LOAD_RELAXED(counter);
}

/* [Server] runningThreads (npsocketd.ini(5)): a connection thread holds
 * a turn while it works, and every wait of the socket API gives it back
 * meanwhile.  A handler about to block on anything else (a database, a
 * condition variable, a lock held long) gives its turn first and takes it
 * again after; a turn held while blocked stalls other sessions up to
 * 50 ms.  Both do nothing in a thread that is not a connection's, and
 * neither changes errno. */
void np_turn_give(void);
void np_turn_take(void);

/* Waits until a or b (either may be NULL) has something to read (bytes,
 * EOF or an error), up to timeout_ms (0 = for ever).  Returns a bit set:
 * 1 = a, 2 = b; 0 on timeout; -1 with errno on a poll() failure. */
int np_socket_wait_either(struct np_socket *a, struct np_socket *b, int timeout_ms);

/* Waits up to timeout_ms (0 = for ever) until the connection's fd is
 * readable, at EOF or in error: the kernel's view only (what the socket
 * holds itself is np_socket_buffered()'s).  It touches none of the
 * socket's state, so it may wait while another thread reads.  Returns
 * 1, 0 on timeout, or -1 with errno. */
int np_socket_poll(const struct np_socket *s, int timeout_ms);

/* The last failed read (or handshake) in words: "timed out",
 * "connection reset by peer", ... */
const char *np_socket_strerror(const struct np_socket *s);
/* The same for the last failed write. */
const char *np_socket_write_strerror(const struct np_socket *s);

/* For the reader: waits until fd is readable (POLLIN) or writable,
 * honouring the socket's timeout, deadline and no_wait; 0 when ready,
 * -1 with the failure in s->rd.  For socket implementations. */
int np_socket_wait(struct np_socket *s, short events);

/* For a writer: waits until fd is writable, at most until the write
 * timeout has passed since `stalled_since` (np_now_ms() of the writer's
 * last progress); the reader's timeout, deadline and no_wait do not
 * apply.  0, or -1 with the failure in s->wr (a timeout through
 * np_socket_write_timed_out()).  For socket implementations. */
int np_socket_wait_writable_since(struct np_socket *s, int64_t stalled_since);
/* The same from now. */
int np_socket_wait_writable(struct np_socket *s);
/* For socket implementations: a write made no progress within the write
 * timeout; records it in s->wr and shuts the connection down, so its
 * reader ends as well. */
void np_socket_write_timed_out(struct np_socket *s);

/* Records a failed system call's errno in f: reset, timed out, or the
 * errno itself.  For socket implementations. */
void np_socket_set_errno(struct np_socket_fault *f, int err);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t np_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
