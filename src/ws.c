/* SPDX-License-Identifier: ISC */
/*
 * ws.c - WebSocket framing (ws.h): the codec as pure functions, and the
 * np_socket layer a browser's session runs over.  The framing is our own
 * rather than libwslay's: the layer must read within np_socket's bounds
 * (timeout, deadline, no_wait for the pump) in the session's thread while
 * any thread writes a whole message under the socket's write lock, and a
 * frame decoder that is a pure function over a buffer is what the fuzzer
 * needs; wslay's contexts keep both directions' state in one object that
 * a blocked reader would hold.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* --- the codec ---------------------------------------------------------------- */

enum np_ws_result np_ws_parse_header(const unsigned char *buf, size_t len, uint64_t max_payload, bool from_client,
				     struct np_ws_frame *f, unsigned *close_code, const char **why)
{
	*close_code = NP_WS_PROTOCOL_ERROR;
	if (len < 2)
		return NP_WS_PARTIAL;
	memset(f, 0, sizeof(*f));
	f->fin = buf[0] & 0x80;
	f->opcode = buf[0] & 0x0f;
	f->masked = buf[1] & 0x80;
	if (buf[0] & 0x70) {
		*why = "reserved bits set";
		return NP_WS_BAD;
	}
	bool control = f->opcode & 0x8;
	if (f->opcode > NP_WS_BINARY && !(f->opcode >= NP_WS_CLOSE && f->opcode <= NP_WS_PONG)) {
		*why = "unknown opcode";
		return NP_WS_BAD;
	}
	if (f->masked != from_client) {
		*why = from_client ? "unmasked frame from the client" : "masked frame from the server";
		return NP_WS_BAD;
	}
	unsigned short7 = buf[1] & 0x7f;
	size_t need = 2 + (short7 == 126 ? 2 : short7 == 127 ? 8 : 0) + (f->masked ? 4 : 0);
	if (control && (!f->fin || short7 > NP_WS_MAX_CONTROL)) {
		*why = f->fin ? "control frame over 125 bytes" : "fragmented control frame";
		return NP_WS_BAD;
	}
	if (len < need)
		return NP_WS_PARTIAL;
	uint64_t length = short7;
	if (short7 == 126) {
		length = (uint64_t)buf[2] << 8 | buf[3];
		if (length < 126) {
			*why = "length not in its shortest form";
			return NP_WS_BAD;
		}
	} else if (short7 == 127) {
		length = 0;
		for (int i = 0; i < 8; i++)
			length = length << 8 | buf[2 + i];
		if (length >> 63) {
			*why = "64-bit length with the top bit set";
			return NP_WS_BAD;
		}
		if (length <= 0xffff) {
			*why = "length not in its shortest form";
			return NP_WS_BAD;
		}
	}
	if (length > max_payload) {
		*close_code = NP_WS_TOO_BIG;
		*why = "message too big";
		return NP_WS_BAD;
	}
	if (f->masked)
		memcpy(f->mask, buf + need - 4, 4);
	f->length = length;
	f->header_length = need;
	return NP_WS_DONE;
}

bool np_ws_valid_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool np_ws_parse_close(const unsigned char *payload, size_t len, unsigned *code)
{
	if (len == 0) {
		*code = 1005;
		return true;
	}
	if (len == 1)
		return false;
	unsigned c = (unsigned)payload[0] << 8 | payload[1];
	bool allowed = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
	if (!allowed || !np_ws_valid_utf8(payload + 2, len - 2))
		return false;
	*code = c;
	return true;
}

int np_ws_accept_key(const char *key, size_t key_len, char out[29])
{
	unsigned char digest[20];
	char joined[128];
	if (key_len + sizeof(WS_GUID) > sizeof(joined))
		return -1;
	memcpy(joined, key, key_len);
	memcpy(joined + key_len, WS_GUID, sizeof(WS_GUID) - 1);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA1, joined, key_len + sizeof(WS_GUID) - 1, digest) < 0)
		return -1;
	gnutls_datum_t raw = { digest, sizeof(digest) }, b64 = { NULL, 0 };
	if (gnutls_base64_encode2(&raw, &b64) < 0 || b64.size != 28) {
		gnutls_free(b64.data);
		return -1;
	}
	memcpy(out, b64.data, 28);
	out[28] = '\0';
	gnutls_free(b64.data);
	return 0;
}

size_t np_ws_frame_header(unsigned char out[NP_WS_MAX_HEADER], unsigned opcode, uint64_t length,
			  const unsigned char *mask)
{
	size_t n;
	out[0] = (unsigned char)(0x80 | opcode);
	if (length < 126) {
		out[1] = (unsigned char)length;
		n = 2;
	} else if (length <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(length >> 8);
		out[3] = (unsigned char)length;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(length >> (56 - 8 * i));
		n = 10;
	}
	if (!mask)
		return n;
	out[1] |= 0x80;
	memcpy(out + n, mask, 4);
	return n + 4;
}

/* --- the server's layer ------------------------------------------------------------ */

struct ws_socket {
	struct np_socket base;           /* first: the ops see this */
	uint64_t max_message;
	bool client;                     /* our frames masked, the peer's not */
	/* The reader's. */
	unsigned char header[NP_WS_MAX_HEADER];
	size_t header_len;               /* of a header still coming */
	struct np_ws_frame frame;
	bool in_frame;                   /* frame's payload being read */
	uint64_t left;                   /* of its payload */
	size_t mask_pos;
	bool in_message;                 /* a binary message has more frames to come */
	uint64_t message_len;
	unsigned char control[NP_WS_MAX_CONTROL];
	size_t control_len;
	bool failed;                     /* a protocol error ended the reads */
	/* Under the write lock. */
	bool close_sent;
};

/* A frame of ours (a message's header, a pong, a close) and the parts
 * after it, in one write to the socket below; under the write lock. */
static int send_frame(struct ws_socket *w, unsigned opcode, const struct iovec *parts, int count)
{
	struct np_socket *s = &w->base;
	struct iovec iov[8];
	unsigned char header[NP_WS_MAX_HEADER];
	uint64_t total = 0;
	if (count > 7) {
		np_socket_set_errno(&s->wr, EINVAL);
		return -1;
	}
	if (w->close_sent) {
		snprintf(s->wr.text, sizeof(s->wr.text), "WebSocket closed");
		s->wr.error = NP_SOCK_TLS;
		return -1;
	}
	for (int i = 0; i < count; i++) {
		iov[i + 1] = parts[i];
		total += parts[i].iov_len;
	}
	unsigned char mask[4], *masked = NULL;
	if (w->client) {
		/* A client masks every frame: the payload is copied to be. */
		if (gnutls_rnd(GNUTLS_RND_NONCE, mask, sizeof(mask)) < 0 || !(masked = malloc(total ? total : 1))) {
			np_socket_set_errno(&s->wr, ENOMEM);
			return -1;
		}
		size_t at = 0;
		for (int i = 0; i < count; i++)
			for (size_t k = 0; k < parts[i].iov_len; k++, at++)
				masked[at] = ((const unsigned char *)parts[i].iov_base)[k] ^ mask[at & 3];
		iov[1] = (struct iovec){ masked, total };
		count = total ? 1 : 0;
	}
	iov[0] = (struct iovec){ header, np_ws_frame_header(header, opcode, total, w->client ? mask : NULL) };
	if (opcode == NP_WS_CLOSE)
		w->close_sent = true;
	int rc = np_socket_writev_all(s->inner, iov, count + 1);
	free(masked);
	if (rc < 0) {
		s->wr = s->inner->wr;
		return -1;
	}
	return 0;
}

static void send_control(struct ws_socket *w, unsigned opcode, const void *payload, size_t len)
{
	struct iovec part = { (void *)payload, len };
	np_socket_write_lock(&w->base);
	(void)send_frame(w, opcode, &part, len ? 1 : 0); /* a peer that is gone: the read says so */
	np_socket_write_unlock(&w->base);
}

static void send_close(struct ws_socket *w, unsigned code, const char *reason)
{
	unsigned char payload[2 + 123];
	size_t rlen = reason ? strlen(reason) : 0;
	if (rlen > sizeof(payload) - 2)
		rlen = sizeof(payload) - 2;
	payload[0] = (unsigned char)(code >> 8);
	payload[1] = (unsigned char)code;
	if (rlen)
		memcpy(payload + 2, reason, rlen);
	send_control(w, NP_WS_CLOSE, payload, 2 + rlen);
}

/* Ends the reads with a close of `code`; -1 with the reason recorded. */
static ssize_t fail(struct ws_socket *w, unsigned code, const char *why)
{
	struct np_socket *s = &w->base;
	w->failed = true;
	send_close(w, code, why);
	snprintf(s->rd.text, sizeof(s->rd.text), "WebSocket: %s (closed with %u)", why, code);
	s->rd.error = NP_SOCK_TLS;
	return -1;
}

/* The socket below failed (or, under no_wait, has nothing yet): the
 * same failure for the reader of this layer. */
static ssize_t fail_below(struct ws_socket *w)
{
	w->base.rd = w->base.inner->rd;
	return -1;
}

static void unmask(struct ws_socket *w, unsigned char *p, size_t n)
{
	if (!w->frame.masked)
		return;
	/* Eight bytes at a time: the mask, from where it stands, twice. */
	unsigned char m8[8];
	for (int k = 0; k < 8; k++)
		m8[k] = w->frame.mask[(w->mask_pos + (size_t)k) & 3];
	uint64_t m;
	memcpy(&m, m8, sizeof(m));
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, sizeof(v));
		v ^= m;
		memcpy(p + i, &v, sizeof(v));
	}
	for (; i < n; i++)
		p[i] ^= w->frame.mask[(w->mask_pos + i) & 3];
	w->mask_pos += n;
}

/* A control frame read whole: 0 to go on, 1 at the close, -1 on an error. */
static int handle_control(struct ws_socket *w)
{
	struct np_socket *s = &w->base;
	unsigned code;
	switch (w->frame.opcode) {
	case NP_WS_PING:
		send_control(w, NP_WS_PONG, w->control, w->control_len);
		return 0;
	case NP_WS_PONG:
		return 0;
	default: /* close */
		if (!np_ws_parse_close(w->control, w->control_len, &code)) {
			bool bad_code = w->control_len == 1 ||
					!np_ws_valid_utf8(w->control + 2, w->control_len > 2 ? w->control_len - 2 : 0);
			fail(w, bad_code && w->control_len > 1 ? NP_WS_INVALID_DATA : NP_WS_PROTOCOL_ERROR,
			     bad_code && w->control_len > 1 ? "close reason not UTF-8" : "invalid close code");
			return -1;
		}
		/* The close handshake: the same code back (1000 for none). */
		send_close(w, code == 1005 ? NP_WS_NORMAL : code, NULL);
		s->rd.error = NP_SOCK_EOF;
		w->failed = true;
		return 1;
	}
}

/* A new frame's header, decoded: what it starts. */
static ssize_t start_frame(struct ws_socket *w)
{
	struct np_ws_frame *f = &w->frame;
	w->header_len = 0;
	w->mask_pos = 0;
	if (f->opcode & 0x8) {
		w->in_frame = true;
		w->control_len = 0;
		w->left = f->length;
		return 0;
	}
	if (f->opcode == NP_WS_CONTINUATION && !w->in_message)
		return fail(w, NP_WS_PROTOCOL_ERROR, "continuation without a message");
	if (f->opcode != NP_WS_CONTINUATION && w->in_message)
		return fail(w, NP_WS_PROTOCOL_ERROR, "new message inside a fragmented one");
	if (f->opcode == NP_WS_TEXT)
		return fail(w, NP_WS_UNSUPPORTED, "text message (NetPhantom speaks binary)");
	if (f->opcode == NP_WS_BINARY)
		w->message_len = 0;
	w->message_len += f->length;
	if (w->message_len > w->max_message)
		return fail(w, NP_WS_TOO_BIG, "message too big");
	w->in_message = !f->fin;
	w->in_frame = true;
	w->left = f->length;
	return 0;
}

/* How many header bytes can still belong to the header being read. */
static size_t header_wanted(const struct ws_socket *w)
{
	if (w->header_len < 2)
		return 2 - w->header_len;
	unsigned len7 = w->header[1] & 0x7f;
	size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (w->header[1] & 0x80 ? 4 : 0);
	return need > w->header_len ? need - w->header_len : 0;
}

static ssize_t ws_read(struct np_socket *s, void *buf, size_t len)
{
	struct ws_socket *w = (struct ws_socket *)s;
	for (;;) {
		if (w->failed) {
			if (s->rd.error == NP_SOCK_OK)
				s->rd.error = NP_SOCK_EOF;
			return -1;
		}
		if (w->in_frame && !(w->frame.opcode & 0x8)) {
			if (w->left == 0) {
				w->in_frame = false;
				continue;
			}
			size_t want = len < w->left ? len : (size_t)w->left;
			ssize_t n = np_socket_read(s->inner, buf, want);
			if (n < 0)
				return fail_below(w);
			unmask(w, buf, (size_t)n);
			w->left -= (uint64_t)n;
			np_counter_add(&s->bytes_in, (uint64_t)n);
			return n;
		}
		if (w->in_frame) {
			/* A control frame's payload, read whole before it acts. */
			if (w->left > 0) {
				ssize_t n = np_socket_read(s->inner, w->control + w->control_len, (size_t)w->left);
				if (n < 0)
					return fail_below(w);
				w->control_len += (size_t)n;
				w->left -= (uint64_t)n;
				continue;
			}
			unmask(w, w->control, w->control_len);
			w->in_frame = false;
			if (handle_control(w) != 0)
				return -1;
			continue;
		}
		unsigned code;
		const char *why = NULL;
		enum np_ws_result r = np_ws_parse_header(w->header, w->header_len, w->max_message, !w->client,
							 &w->frame, &code, &why);
		if (r == NP_WS_BAD)
			return fail(w, code, why);
		if (r == NP_WS_PARTIAL) {
			ssize_t n = np_socket_read(s->inner, w->header + w->header_len, header_wanted(w));
			if (n < 0)
				return fail_below(w);
			w->header_len += (size_t)n;
			continue;
		}
		if (start_frame(w) < 0)
			return -1;
	}
}

static int ws_writev(struct np_socket *s, const struct iovec *iov, int iovcnt)
{
	struct ws_socket *w = (struct ws_socket *)s;
	if (send_frame(w, NP_WS_BINARY, iov, iovcnt) < 0)
		return -1;
	for (int i = 0; i < iovcnt; i++)
		np_counter_add(&s->bytes_out, iov[i].iov_len);
	return 0;
}

static void ws_shutdown(struct np_socket *s, int how)
{
	/* Our side is done: the close handshake starts (the client's close
	 * comes back to the reader); both ways: the stream below goes. */
	if (how == SHUT_WR)
		send_close((struct ws_socket *)s, NP_WS_NORMAL, NULL);
	np_socket_shutdown(s->inner, how);
}

static void ws_close(struct np_socket *s)
{
	struct ws_socket *w = (struct ws_socket *)s;
	/* Best effort, bounded: the session is over, and no other thread
	 * writes any more (the write lock is already gone). */
	unsigned char payload[2] = { NP_WS_GOING_AWAY >> 8, NP_WS_GOING_AWAY & 0xff };
	struct iovec part = { payload, sizeof(payload) };
	np_socket_set_deadline(s->inner, np_now_ms() + 1000);
	(void)send_frame(w, NP_WS_CLOSE, &part, 1);
	free(w);
}

static const struct np_tls_info *ws_tls_info(const struct np_socket *s)
{
	return np_socket_tls_info(s->inner);
}

static size_t ws_buffered(const struct np_socket *s)
{
	return np_socket_buffered(s->inner);
}

static const struct np_socket_ops ws_ops = {
	.read = ws_read,
	.writev_all = ws_writev,
	.shutdown = ws_shutdown,
	.close = ws_close,
	.tls_info = ws_tls_info,
	.buffered = ws_buffered,
};

struct np_socket *np_socket_ws_new(struct np_socket *inner, uint64_t max_message, bool client)
{
	struct ws_socket *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	if (np_socket_init_layer(&w->base, &ws_ops, inner) < 0) {
		free(w);
		return NULL;
	}
	w->max_message = max_message;
	w->client = client;
	return &w->base;
}
