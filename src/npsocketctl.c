/* SPDX-License-Identifier: ISC */
/*
 * npsocketctl.c - the control socket's client: sends one command to a
 * running npsocketd and prints its answer, as aligned columns for people
 * or as JSON for scripts.  Exit status: 0 answered, 1 the daemon
 * answered with an error, 2 usage or the daemon not reachable.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "net.h"

#ifndef NPSOCKETCTL_DEFAULT_SOCKET
#define NPSOCKETCTL_DEFAULT_SOCKET "/run/npsocketd/control.sock"
#endif
#define EXIT_ANSWERED 0
#define EXIT_REFUSED 1
#define EXIT_TROUBLE 2
/* An answer is at most this long (show sessions of maxConnections). */
#define ANSWER_MAX (64u << 20)
#define TIMEOUT_S 30  /* a reload answers when it is done */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: npsocketctl [-s SOCKET | -c FILE] [--json] COMMAND...\n"
		"  -s SOCKET   the control socket (default: controlSocket of -c FILE, else\n"
		"              " NPSOCKETCTL_DEFAULT_SOCKET ")\n"
		"  -c FILE     the daemon's configuration, for its controlSocket\n"
		"  -j, --json  the answer as JSON\n"
		"  -h, --help  this help\n"
		"commands: help, show info, show sessions, kill session ID, drain, ready\n"
		"exit status: 0 answered, 1 the daemon refused the command, 2 usage or no daemon\n"
		"See npsocketctl(8).\n");
}

/* Sends the line and reads the answer up to its empty line; malloc'd,
 * or NULL after saying why. */
static char *ask(const char *path, const char *line)
{
	struct sockaddr_un sun;
	if (!np_net_unix_address(path, &sun)) {
		fprintf(stderr, "npsocketctl: %s: path too long for a Unix socket\n", path);
		return NULL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "npsocketctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (np_net_send_all(fd, line, strlen(line)) < 0) {
		fprintf(stderr, "npsocketctl: %s: sending: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	size_t cap = 65536, have = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (have >= 2 && buf[have - 1] == '\n' && buf[have - 2] == '\n')
			break;
		if (have == cap) {
			char *more = cap < ANSWER_MAX ? realloc(buf, cap * 2 + 1) : NULL;
			if (!more) {
				fprintf(stderr, "npsocketctl: answer longer than %zu bytes\n", cap);
				free(buf);
				buf = NULL;
				break;
			}
			buf = more;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + have, cap - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "npsocketctl: %s: %s\n", path,
				n < 0 ? strerror(errno) : "closed before the end of the answer");
			free(buf);
			buf = NULL;
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[have >= 1 ? have - 1 : 0] = '\0';  /* without the empty line */
	return buf;
}

static void json_string(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* A value as JSON: a whole number as a number, else a string, "-" null. */
static void json_value(FILE *out, const char *s, size_t len)
{
	bool number = len > 0 && len < 19;
	for (size_t i = 0; i < len && number; i++)
		number = s[i] >= '0' && s[i] <= '9';
	if (len == 1 && s[0] == '-')
		fputs("null", out);
	else if (number && !(len > 1 && s[0] == '0'))
		fwrite(s, 1, len, out);
	else
		json_string(out, s, len);
}

#define MAX_COLUMNS 32

/* Splits a line at spaces into at most MAX_COLUMNS words. */
static size_t split(char *line, char **word)
{
	size_t n = 0;
	for (char *save = NULL, *w = strtok_r(line, " ", &save); w && n < MAX_COLUMNS; w = strtok_r(NULL, " ", &save))
		word[n++] = w;
	return n;
}

/* A table: a "# a b c" header and rows of words. */
static void print_table(char *answer, bool json)
{
	size_t count = 1;
	for (const char *p = answer; *p; p++)
		count += *p == '\n';
	char **lines = calloc(count, sizeof(*lines));
	if (!lines) {
		fprintf(stderr, "npsocketctl: out of memory\n");
		return;
	}
	count = 0;
	for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[count++] = l;
	if (count == 0 || lines[0][0] != '#') {
		free(lines);
		return;
	}
	char *head[MAX_COLUMNS];
	size_t columns = split(lines[0] + 1, head);
	char *(*rows)[MAX_COLUMNS] = calloc(count, sizeof(*rows));
	size_t width[MAX_COLUMNS] = { 0 }, nrows = 0;
	if (!rows) {
		fprintf(stderr, "npsocketctl: out of memory\n");
		free(lines);
		return;
	}
	for (size_t c = 0; c < columns; c++)
		width[c] = strlen(head[c]);
	for (size_t i = 1; i < count; i++, nrows++) {
		size_t n = split(lines[i], rows[nrows]);
		for (size_t c = 0; c < n && c < columns; c++)
			if (strlen(rows[nrows][c]) > width[c])
				width[c] = strlen(rows[nrows][c]);
	}
	if (json) {
		fputs("[", stdout);
		for (size_t r = 0; r < nrows; r++) {
			fputs(r ? ",\n {" : "\n {", stdout);
			for (size_t c = 0; c < columns; c++) {
				printf("%s\"%s\": ", c ? ", " : "", head[c]);
				const char *v = rows[r][c] ? rows[r][c] : "-";
				json_value(stdout, v, strlen(v));
			}
			fputs("}", stdout);
		}
		fputs(nrows ? "\n]\n" : "]\n", stdout);
	} else {
		for (size_t r = 0; r <= nrows; r++)
			for (size_t c = 0; c < columns; c++) {
				const char *v = r == 0 ? head[c] : rows[r - 1][c] ? rows[r - 1][c] : "-";
				if (c + 1 < columns)
					printf("%-*s  ", (int)width[c], v);
				else
					printf("%s\n", v);
			}
	}
	free(rows);
	free(lines);
}

/* "name: value" lines (show info), or Prometheus text (show metrics):
 * as they are for people; for --json one object of each name, or each
 * sample's name with its labels, to its value. */
static void print_object(char *answer, bool json, bool samples)
{
	if (!json) {
		fputs(answer, stdout);
		return;
	}
	fputs("{", stdout);
	bool first = true;
	for (char *save = NULL, *l = strtok_r(answer, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *end = samples ? strrchr(l, ' ') : strstr(l, ": ");
		if (!end || (samples && l[0] == '#'))
			continue;
		const char *value = end + (samples ? 1 : 2);
		fputs(first ? "\n " : ",\n ", stdout);
		json_string(stdout, l, (size_t)(end - l));
		fputs(": ", stdout);
		json_value(stdout, value, strlen(value));
		first = false;
	}
	fputs(first ? "}\n" : "\n}\n", stdout);
}

int main(int argc, char **argv)
{
	const char *path = NULL, *config_path = NULL;
	bool json = false;
	static const struct option long_options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "+s:c:jh", long_options, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'c': config_path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EXIT_ANSWERED;
		default: usage(stderr); return EXIT_TROUBLE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_TROUBLE;
	}
	struct np_config *config = NULL;
	if (!path && config_path) {
		config = np_config_load(config_path, stderr);
		if (!config)
			return EXIT_TROUBLE;
		if (!config->server.control_socket) {
			fprintf(stderr, "npsocketctl: %s sets no controlSocket\n", config_path);
			np_config_unref(config);
			return EXIT_TROUBLE;
		}
		path = config->server.control_socket;
	}
	if (!path)
		path = NPSOCKETCTL_DEFAULT_SOCKET;

	char line[NP_CONTROL_LINE_MAX + 2];
	size_t used = 0;
	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (used + n + 2 > sizeof(line)) {
			fprintf(stderr, "npsocketctl: command longer than %d bytes\n", NP_CONTROL_LINE_MAX);
			np_config_unref(config);
			return EXIT_TROUBLE;
		}
		if (used)
			line[used++] = ' ';
		memcpy(line + used, argv[i], n);
		used += n;
	}
	line[used++] = '\n';
	line[used] = '\0';
	char *answer = ask(path, line);
	np_config_unref(config);
	if (!answer)
		return EXIT_TROUBLE;

	int rc = EXIT_ANSWERED;
	if (strncmp(answer, "error: ", 7) == 0) {
		rc = EXIT_REFUSED;
		if (json) {
			fputs("{\"error\": ", stdout);
			json_string(stdout, answer + 7, strcspn(answer + 7, "\n"));
			fputs("}\n", stdout);
		} else {
			fprintf(stderr, "npsocketctl: %s", answer + 7);
		}
	} else if (strncmp(answer, "# HELP ", 7) == 0 || strncmp(answer, "# TYPE ", 7) == 0) {
		print_object(answer, json, true);
	} else if (answer[0] == '#') {
		print_table(answer, json);
	} else if (json && strstr(answer, ": ") && strncmp(answer, "ok: ", 4) != 0) {
		print_object(answer, json, false);
	} else if (json) {
		const char *text = strncmp(answer, "ok: ", 4) == 0 ? answer + 4 : answer;
		size_t len = strlen(text);
		while (len && text[len - 1] == '\n')
			len--;
		fputs("{\"ok\": ", stdout);
		json_string(stdout, text, len);
		fputs("}\n", stdout);
	} else {
		fputs(answer, stdout);
	}
	free(answer);
	return rc;
}
