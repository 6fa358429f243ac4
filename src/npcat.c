/* SPDX-License-Identifier: ISC */
/*
 * npcat.c - a command-line client of the NetPhantom socket protocol, for
 * people and for tests: connect, send the protocol byte, send
 * transactions, print what comes back, over TCP, TLS or a WebSocket.  It
 * uses the daemon's own framing (comm.c, ws.c), so what it checks is what
 * the daemon does.
 */
#include <errno.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "net.h"
#include "npsocket/comm.h"
#include "npsocket/socket.h"
#include "socket_tls.h"
#include "ws.h"

#define NPCAT_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_PROTOCOL = 1, EXIT_USAGE = 2, EXIT_CONNECT = 3 };

struct payload {
	unsigned char *data;
	size_t length;
};

struct options {
	int byte;
	bool compress, hex, raw, verbose, lines;
	long expect;                    /* -1 = one per transaction sent */
	int timeout_ms;
	size_t max_size;
	const char *host, *port;
	struct payload *payloads;
	size_t payload_count;
	bool tls, insecure;
	const char *ca_file, *sni, *cert_file, *key_file;
	const char *ws_path;            /* --ws: a WebSocket to this path */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: npcat [options] HOST PORT [PAYLOAD...]\n"
		"  -b, --byte N          protocol byte (0-255, default 1)\n"
		"  -z, --compress        send transactions compressed\n"
		"  -f, --file FILE       one transaction with FILE's contents (- = stdin); repeatable\n"
		"  -i, --lines           one transaction per line of stdin\n"
		"  -x, --hex             print answers as hex\n"
		"  -r, --raw             write answers as they are, without separators\n"
		"  -n, --expect N        answers to wait for (default: one per transaction sent)\n"
		"  -w, --timeout SEC     give up when the server is silent this long (default 10)\n"
		"  -m, --max-size BYTES  largest answer accepted (default 64M)\n"
		"      --tls             speak TLS\n"
		"      --ca FILE         CA certificates to verify the server with\n"
		"      --insecure        do not verify the server's certificate\n"
		"      --sni NAME        server name to send and verify\n"
		"      --cert FILE, --key FILE  client certificate and key\n"
		"      --ws PATH         speak over a WebSocket to PATH (e.g. /netphantom)\n"
		"  -v, --verbose         report the answer byte, sizes, TLS on stderr\n"
		"  -V, --version, -h, --help\n");
}

static int add_payload(struct options *opt, unsigned char *data, size_t length)
{
	struct payload *grown = realloc(opt->payloads, (opt->payload_count + 1) * sizeof(*grown));
	if (!grown) {
		free(data);
		return -1;
	}
	opt->payloads = grown;
	opt->payloads[opt->payload_count++] = (struct payload){ data, length };
	return 0;
}

static int read_stream(FILE *f, unsigned char **out, size_t *length)
{
	size_t cap = 65536, len = 0;
	unsigned char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			unsigned char *grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
	}
	if (!buf || ferror(f)) {
		free(buf);
		return -1;
	}
	*out = buf;
	*length = len;
	return 0;
}

static int add_file(struct options *opt, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	unsigned char *data;
	size_t length;
	if (!f) {
		fprintf(stderr, "npcat: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = read_stream(f, &data, &length);
	if (rc < 0)
		fprintf(stderr, "npcat: %s: %s\n", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	return rc < 0 ? -1 : add_payload(opt, data, length);
}

/* A size as the configuration writes one ("64M", "1KB"). */
static bool parse_size(const char *text, size_t *out)
{
	long long v;
	if (!np_parse_bytes(text, &v) || (unsigned long long)v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	enum { O_TLS = 256, O_CA, O_INSECURE, O_SNI, O_CERT, O_KEY, O_WS };
	static const struct option longs[] = {
		{ "byte", required_argument, NULL, 'b' }, { "compress", no_argument, NULL, 'z' },
		{ "file", required_argument, NULL, 'f' }, { "lines", no_argument, NULL, 'i' },
		{ "hex", no_argument, NULL, 'x' }, { "raw", no_argument, NULL, 'r' },
		{ "expect", required_argument, NULL, 'n' }, { "timeout", required_argument, NULL, 'w' },
		{ "max-size", required_argument, NULL, 'm' }, { "verbose", no_argument, NULL, 'v' },
		{ "tls", no_argument, NULL, O_TLS }, { "ca", required_argument, NULL, O_CA },
		{ "insecure", no_argument, NULL, O_INSECURE }, { "sni", required_argument, NULL, O_SNI },
		{ "cert", required_argument, NULL, O_CERT }, { "key", required_argument, NULL, O_KEY },
		{ "ws", required_argument, NULL, O_WS },
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *files[64];
	int file_count = 0, c;
	char *end;
	while ((c = getopt_long(argc, argv, "b:zf:ixrn:w:m:vVh", longs, NULL)) != -1) {
		switch (c) {
		case 'b':
			opt->byte = (int)strtol(optarg, &end, 0);
			if (*end || opt->byte < 0 || opt->byte > 255) {
				fprintf(stderr, "npcat: -b: expected 0-255, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'z': opt->compress = true; break;
		case 'f':
			if (file_count == 64) {
				fprintf(stderr, "npcat: at most 64 -f files\n");
				return EXIT_USAGE;
			}
			files[file_count++] = optarg;
			break;
		case 'i': opt->lines = true; break;
		case 'x': opt->hex = true; break;
		case 'r': opt->raw = true; break;
		case 'n':
			opt->expect = strtol(optarg, &end, 10);
			if (*end || opt->expect < 0) {
				fprintf(stderr, "npcat: -n: expected a count, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'w': {
			double s = strtod(optarg, &end);
			if (*end || !(s > 0) || s > 86400) {
				fprintf(stderr, "npcat: -w: expected seconds, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			opt->timeout_ms = (int)lround(s * 1000);
			break;
		}
		case 'm':
			if (!parse_size(optarg, &opt->max_size) || opt->max_size == 0) {
				fprintf(stderr, "npcat: -m: expected bytes, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'v': opt->verbose = true; break;
		case O_TLS: opt->tls = true; break;
		case O_CA: opt->ca_file = optarg; opt->tls = true; break;
		case O_INSECURE: opt->insecure = true; opt->tls = true; break;
		case O_SNI: opt->sni = optarg; opt->tls = true; break;
		case O_CERT: opt->cert_file = optarg; opt->tls = true; break;
		case O_KEY: opt->key_file = optarg; opt->tls = true; break;
		case O_WS:
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n")) {
				fprintf(stderr, "npcat: --ws: expected a path starting with /, got '%s'\n", optarg);
				return EXIT_USAGE;
			}
			opt->ws_path = optarg;
			break;
		case 'V': printf("npcat %s\n", NPCAT_VERSION); exit(EXIT_OK);
		case 'h': usage(stdout); exit(EXIT_OK);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opt->hex && opt->raw) {
		fprintf(stderr, "npcat: -x and -r exclude each other\n");
		return EXIT_USAGE;
	}
	if (!!opt->cert_file != !!opt->key_file) {
		fprintf(stderr, "npcat: --cert and --key go together\n");
		return EXIT_USAGE;
	}
	opt->host = argv[optind];
	opt->port = argv[optind + 1];
	for (int i = optind + 2; i < argc; i++) {
		size_t len = strlen(argv[i]);
		unsigned char *copy = malloc(len + 1);
		if (!copy || (memcpy(copy, argv[i], len + 1), add_payload(opt, copy, len)) < 0)
			return EXIT_PROTOCOL;
	}
	for (int i = 0; i < file_count; i++)
		if (add_file(opt, files[i]) < 0)
			return EXIT_USAGE;
	if (opt->expect < 0 && !opt->lines)
		opt->expect = (long)opt->payload_count;
	return EXIT_OK;
}

/* Sends every transaction from its own thread, so a long pipeline cannot
 * deadlock against answers the main thread has not read yet; with -i it
 * sends each line of stdin as it comes.  The main thread reads as many
 * answers as went out. */
struct sender {
	struct np_comm *comm;
	const struct options *opt;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	long sent;                     /* under lock */
	bool done;                     /* under lock */
	int failed;
};

static int send_one(struct sender *s, const unsigned char *data, size_t length)
{
	int rc;
	if (s->opt->compress) {
		/* -z: deflated whatever the size, as a client may. */
		uLongf packed_len = compressBound(length);
		unsigned char *packed = malloc(packed_len);
		if (!packed || compress2(packed, &packed_len, data, length, 6) != Z_OK) {
			free(packed);
			fprintf(stderr, "npcat: cannot compress a transaction\n");
			return -1;
		}
		rc = np_comm_write_raw(s->comm, packed, packed_len, true);
		free(packed);
	} else {
		rc = np_comm_write_transaction(s->comm, data, length);
	}
	if (rc < 0) {
		fprintf(stderr, "npcat: sending transaction %ld failed: %s\n", s->sent + 1,
			np_socket_write_strerror(s->comm->socket));
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->sent++;
	pthread_cond_signal(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void *send_all(void *arg)
{
	struct sender *s = arg;
	for (size_t i = 0; i < s->opt->payload_count && !s->failed; i++)
		if (send_one(s, s->opt->payloads[i].data, s->opt->payloads[i].length) < 0)
			s->failed = 1;
	if (s->opt->lines && !s->failed) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (!s->failed && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			if (send_one(s, (unsigned char *)line, (size_t)n) < 0)
				s->failed = 1;
		}
		free(line);
	}
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_signal(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Whether another answer is owed: -n, or one per transaction sent. */
static bool answer_owed(struct sender *s, long got)
{
	if (s->opt->expect >= 0)
		return got < s->opt->expect;
	pthread_mutex_lock(&s->lock);
	while (!s->done && s->sent <= got)
		pthread_cond_wait(&s->changed, &s->lock);
	bool owed = s->sent > got;
	pthread_mutex_unlock(&s->lock);
	return owed;
}

static void print_answer(const struct options *opt, const struct np_transaction *t)
{
	if (opt->raw) {
		fwrite(t->payload, 1, t->length, stdout);
	} else if (opt->hex) {
		for (size_t i = 0; i < t->length; i++)
			printf("%02x", t->payload[i]);
		putchar('\n');
	} else {
		fwrite(t->payload, 1, t->length, stdout);
		putchar('\n');
	}
}

/* Protocol bytes other than 1 and 3 get no answer byte: copy raw. */
static int run_raw(struct np_socket *s, const struct options *opt)
{
	for (size_t i = 0; i < opt->payload_count; i++)
		if (np_socket_write_all(s, opt->payloads[i].data, opt->payloads[i].length) < 0) {
			fprintf(stderr, "npcat: write failed: %s\n", np_socket_write_strerror(s));
			return EXIT_PROTOCOL;
		}
	np_socket_shutdown(s, SHUT_WR);
	unsigned char buf[16384];
	ssize_t n;
	while ((n = np_socket_read(s, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	/* The server closing on us, even with a reset, is how this ends. */
	if (s->rd.error != NP_SOCK_EOF && s->rd.error != NP_SOCK_TIMEOUT && s->rd.error != NP_SOCK_RESET) {
		fprintf(stderr, "npcat: %s\n", np_socket_strerror(s));
		return EXIT_PROTOCOL;
	}
	return EXIT_OK;
}

static int run(struct np_socket *s, const struct options *opt)
{
	unsigned char byte = (unsigned char)opt->byte, answer;
	np_socket_set_timeout(s, opt->timeout_ms);
	if (np_socket_write_all(s, &byte, 1) < 0) {
		fprintf(stderr, "npcat: sending the protocol byte failed: %s\n", np_socket_write_strerror(s));
		return EXIT_PROTOCOL;
	}
	if (opt->byte != 1 && opt->byte != 3)
		return run_raw(s, opt);
	if (np_socket_read(s, &answer, 1) < 0) {
		fprintf(stderr, "npcat: no answer to protocol byte %d: %s\n", opt->byte, np_socket_strerror(s));
		return EXIT_PROTOCOL;
	}
	if (opt->verbose)
		fprintf(stderr, "npcat: server answered %u%s\n", answer, answer == 1 ? " (accepted)" : "");
	if (answer != 1) {
		fprintf(stderr, "npcat: server answered %u, not 1 (accepted)\n", answer);
		return EXIT_PROTOCOL;
	}

	struct np_comm comm;
	struct np_comm_options copt = {
		.max_transaction_size = opt->max_size,
		.compression = false,
		.compression_level = 6,
	};
	if (np_comm_init(&comm, s, &copt) < 0) {
		fprintf(stderr, "npcat: %s\n", strerror(errno));
		return EXIT_PROTOCOL;
	}
	struct sender sender = { .comm = &comm, .opt = opt };
	pthread_t thread;
	int err = pthread_mutex_init(&sender.lock, NULL);
	if (!err)
		err = pthread_cond_init(&sender.changed, NULL);
	if (!err)
		err = pthread_create(&thread, NULL, send_all, &sender);
	if (err) {
		fprintf(stderr, "npcat: cannot start the sender: %s\n", strerror(err));
		np_comm_destroy(&comm);
		return EXIT_PROTOCOL;
	}
	int rc = EXIT_OK;
	size_t bytes = 0;
	long got;
	for (got = 0; answer_owed(&sender, got); got++) {
		struct np_transaction t;
		if (np_comm_read_transaction(&comm, &t) < 0) {
			if (comm.error == NP_COMM_CLOSED || s->rd.error == NP_SOCK_RESET)
				fprintf(stderr, "npcat: server closed the connection after %ld of %ld answers%s\n", got,
					opt->expect >= 0 ? opt->expect : sender.sent,
					s->rd.error == NP_SOCK_RESET ? " (reset)" : "");
			else
				fprintf(stderr, "npcat: answer %ld: %s\n", got + 1, comm.error_text);
			rc = EXIT_PROTOCOL;
			break;
		}
		if (opt->verbose)
			fprintf(stderr, "npcat: answer %ld: %zu bytes%s\n", got + 1, t.length,
				t.was_compressed ? ", came compressed" : "");
		bytes += t.length;
		print_answer(opt, &t);
	}
	fflush(stdout);
	if (rc != EXIT_OK) {
		/* The sender may be blocked in a write or on stdin (-i): the
		 * session is over, and so is the process.  Detached, the
		 * sender is not a thread left unjoined (ThreadSanitizer). */
		np_socket_shutdown(s, SHUT_RDWR);
		if ((err = pthread_detach(thread)) != 0)
			fprintf(stderr, "npcat: pthread_detach: %s\n", strerror(err));
		exit(rc);
	}
	pthread_join(thread, NULL);
	pthread_cond_destroy(&sender.changed);
	pthread_mutex_destroy(&sender.lock);
	if (sender.failed && rc == EXIT_OK)
		rc = EXIT_PROTOCOL;
	if (opt->verbose)
		fprintf(stderr, "npcat: %ld sent, %ld answers, %zu bytes received\n", sender.sent, got, bytes);
	np_comm_destroy(&comm);
	return rc;
}

/* The WebSocket handshake (RFC 6455 4.1) on s; the socket over it, or
 * NULL after saying why (s is closed then). */
static struct np_socket *ws_handshake(struct np_socket *s, const struct options *opt)
{
	unsigned char nonce[16];
	gnutls_datum_t raw = { nonce, sizeof(nonce) }, key = { NULL, 0 };
	char request[1024], response[8192], expected[29];
	size_t len = 0;
	const char *why = NULL;
	if (gnutls_rnd(GNUTLS_RND_NONCE, nonce, sizeof(nonce)) < 0 || gnutls_base64_encode2(&raw, &key) < 0 ||
	    np_ws_accept_key((const char *)key.data, key.size, expected) < 0) {
		why = "cannot make a Sec-WebSocket-Key";
	} else {
		int n = snprintf(request, sizeof(request),
				 "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				 "Sec-WebSocket-Key: %.*s\r\nSec-WebSocket-Version: 13\r\n"
				 "Sec-WebSocket-Protocol: netphantom\r\n\r\n",
				 opt->ws_path, strchr(opt->host, ':') ? "[" : "", opt->host,
				 strchr(opt->host, ':') ? "]" : "", opt->port, (int)key.size, key.data);
		if (n < 0 || (size_t)n >= sizeof(request))
			why = "the WebSocket path is too long";
		else if (np_socket_write_all(s, request, (size_t)n) < 0)
			why = np_socket_write_strerror(s);
	}
	gnutls_free(key.data);
	/* The answer's head, a byte at a time: nothing of the first frames
	 * may be taken with it. */
	while (!why && (len < 4 || memcmp(response + len - 4, "\r\n\r\n", 4) != 0)) {
		if (len == sizeof(response) - 1)
			why = "the handshake's answer is too long";
		else if (np_socket_read(s, response + len, 1) < 0)
			why = np_socket_strerror(s);
		else
			len++;
	}
	response[len] = '\0';
	char accept_line[64];
	snprintf(accept_line, sizeof(accept_line), "\r\nSec-WebSocket-Accept: %s\r\n", expected);
	if (!why && strncmp(response, "HTTP/1.1 101 ", 13) != 0)
		why = "the server did not switch protocols";
	else if (!why && !strcasestr(response, accept_line))
		why = "wrong Sec-WebSocket-Accept";
	struct np_socket *ws = why ? NULL : np_socket_ws_new(s, opt->max_size + NP_FRAME_HEADER_SIZE + 1, true);
	if (!ws) {
		char *eol = strstr(response, "\r\n");
		if (eol)
			*eol = '\0';
		fprintf(stderr, "npcat: WebSocket handshake failed: %s%s%s\n", why ? why : "out of memory",
			response[0] ? ": " : "", response);
		np_socket_close(s);
		return NULL;
	}
	if (opt->verbose)
		fprintf(stderr, "npcat: WebSocket to %s\n", opt->ws_path);
	return ws;
}

/* Connects (and runs the TLS handshake); NULL after saying why. */
static struct np_socket *open_connection(const struct options *opt)
{
	char target[300], err[512];
	snprintf(target, sizeof(target), strchr(opt->host, ':') ? "[%s]:%s" : "%s:%s", opt->host, opt->port);
	int fd = np_net_connect(target, opt->timeout_ms, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "npcat: %s\n", err);
		return NULL;
	}
	if (!opt->tls) {
		struct np_socket *s = np_socket_plain_new(fd);
		if (!s) {
			fprintf(stderr, "npcat: out of memory\n");
			close(fd);
			return NULL;
		}
		np_socket_set_timeout(s, opt->timeout_ms);
		return opt->ws_path ? ws_handshake(s, opt) : s;
	}
	struct np_tls_client_options topt = {
		.ca_file = opt->ca_file, .insecure = opt->insecure, .server_name = opt->sni,
		.cert_file = opt->cert_file, .key_file = opt->key_file,
	};
	struct np_socket *s = np_socket_tls_client_new(fd, &topt, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "npcat: %s\n", err);
		close(fd);
		return NULL;
	}
	np_socket_set_deadline(s, np_now_ms() + opt->timeout_ms);
	if (np_socket_tls_handshake(s) < 0) {
		fprintf(stderr, "npcat: %s\n", np_socket_strerror(s));
		np_socket_close(s);
		return NULL;
	}
	np_socket_set_deadline(s, 0);
	const struct np_tls_info *info = np_socket_tls_info(s);
	if (opt->verbose && info)
		fprintf(stderr, "npcat: TLS %s, cipher %s%s\n", info->version, info->cipher,
			info->resumed ? ", resumed" : "");
	np_socket_set_timeout(s, opt->timeout_ms);
	return opt->ws_path ? ws_handshake(s, opt) : s;
}

int main(int argc, char **argv)
{
	struct options opt = { .byte = 1, .expect = -1, .timeout_ms = 10000, .max_size = 64u << 20 };
	char err[256];
	int rc = parse_options(argc, argv, &opt);
	if (rc == EXIT_OK && signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		/* A server that closes on us is an error to report, not a signal. */
		fprintf(stderr, "npcat: cannot ignore SIGPIPE: %s\n", strerror(errno));
		rc = EXIT_PROTOCOL;
	}
	if (rc == EXIT_OK && opt.tls && np_tls_global_init(err, sizeof(err)) < 0) {
		fprintf(stderr, "npcat: %s\n", err);
		rc = EXIT_CONNECT;
	}
	if (rc == EXIT_OK) {
		struct np_socket *s = open_connection(&opt);
		rc = s ? run(s, &opt) : EXIT_CONNECT;
		if (s)
			np_socket_close(s);
		if (opt.tls)
			np_tls_global_deinit();
	}
	for (size_t i = 0; i < opt.payload_count; i++)
		free(opt.payloads[i].data);
	free(opt.payloads);
	return rc;
}
