/* SPDX-License-Identifier: ISC */
/*
 * reload.h - reloading the whole configuration (SIGHUP, or `reload` on
 * the control socket) on the main thread, and the hand-off that lets
 * another thread ask for one and hear how it went.
 */
#ifndef NP_RELOAD_H
#define NP_RELOAD_H

#include <stdbool.h>

struct np_reload;
struct np_server;

/* log_level_fixed: -d was given, and the file's logLevel does not
 * override it.  NULL when out of memory. */
struct np_reload *np_reload_new(bool log_level_fixed);
void np_reload_free(struct np_reload *reload);

/* Main thread, on SIGHUP: the file the server was started with read
 * again and checked; on any error nothing changes and the log says why;
 * else np_server_reload() applies it.  Every request made before it
 * began is answered with its outcome. */
void np_reload_run(struct np_reload *reload, struct np_server *server);

/* Any thread but the main one: asks the main thread for a reload and
 * waits (up to timeout_ms) for its outcome.  *answer (malloc'd, or NULL
 * when out of memory) is what the reload said, a line each: errors,
 * warnings, then what changed.  0 when it reloaded, -1 when not. */
int np_reload_ask(struct np_reload *reload, struct np_server *server, char **answer, int timeout_ms);

#endif
