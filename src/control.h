/* SPDX-License-Identifier: ISC */
/*
 * control.h - the control socket ([Server] controlSocket): a Unix socket,
 * mode 0600, one text command per line, HAProxy style; the command table
 * and its pure parser.
 */
#ifndef NP_CONTROL_H
#define NP_CONTROL_H

#include <stddef.h>
#include <stdio.h>

struct np_server;
struct np_control;

#define NP_CONTROL_LINE_MAX 4096
#define NP_CONTROL_WORDS_MAX 8
/* Control connections served at once; more are answered with an error. */
#define NP_CONTROL_CLIENTS_MAX 16
/* A control client silent this long is closed. */
#define NP_CONTROL_IDLE_S 10

/* One command line split into words (pointers into the line). */
struct np_control_request {
	const char *words[NP_CONTROL_WORDS_MAX];
	size_t lengths[NP_CONTROL_WORDS_MAX];
	size_t count;
};

struct np_control_command;

/* Splits line[0, len) (without its LF; a CR before it is allowed) into
 * words and finds its command.  A pure function.  Returns the command,
 * with *args the index of its first argument, or NULL with *why: empty,
 * binary, too many words, unknown, wrong number of arguments. */
const struct np_control_command *np_control_parse(const char *line, size_t len, struct np_control_request *req,
						  size_t *args, const char **why);

/* The command's name as written in help ("show sessions"). */
const char *np_control_command_name(const struct np_control_command *command);

/* Binds the socket (or takes the one inherited from the instance this
 * one replaces) for the server.  0 with *out the control socket, or NULL
 * without controlSocket; -1 after logging why. */
int np_control_open(struct np_server *server, struct np_control **out);
/* Starts accepting.  0, or -1 after logging why; NULL is allowed. */
int np_control_start(struct np_control *control);
/* Stops accepting and ends every control connection; again, or with
 * NULL, nothing. */
void np_control_stop(struct np_control *control);
/* Stops, closes the socket and removes its path, unless another
 * instance took it over; NULL is allowed. */
void np_control_free(struct np_control *control);

#endif
