/* SPDX-License-Identifier: ISC */
/*
 * agent.h - HAProxy's agent-check ([Server] agentPort): on each
 * connection one line of how much more this instance can take, then
 * close; `drain` while draining or stopping.
 */
#ifndef NP_AGENT_H
#define NP_AGENT_H

#include <stdbool.h>
#include <stddef.h>

struct np_server;
struct np_agent;

/* The line for `active` sessions against maxConnections (0 = none):
 * "up ready N% maxconn:M\n" (no maxconn without a limit), or "drain\n".
 * A pure function; returns the length (out holds at least 64 bytes). */
size_t np_agent_line(size_t active, int max_connections, bool draining, char *out, size_t size);

/* Binds agentBindAddress:agentPort (or takes the socket inherited from
 * the instance this one replaces) for the server's live state.  0 with
 * *out the agent, or NULL when agentPort is not set; -1 after logging
 * why. */
int np_agent_open(struct np_server *server, struct np_agent **out);
/* Starts its thread.  0, or -1 after logging why. */
int np_agent_start(struct np_agent *agent);
/* Stops its thread (without shutdown(2): the socket may be another
 * instance's too); again, or with NULL, nothing. */
void np_agent_stop(struct np_agent *agent);
/* Closes the socket and frees it (stopped first); NULL is allowed. */
void np_agent_free(struct np_agent *agent);
/* Its listening socket, for a hand-over; -1 for NULL. */
int np_agent_fd(const struct np_agent *agent);

#endif
