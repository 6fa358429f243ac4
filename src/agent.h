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

/* The line for `active` sessions against maxConnections (0 = none):
 * "up ready N% maxconn:M\n" (no maxconn without a limit), or "drain\n".
 * A pure function; returns the length (out holds at least 64 bytes). */
size_t np_agent_line(size_t active, int max_connections, bool draining, char *out, size_t size);

/* Binds agentBindAddress:agentPort (or takes the inherited socket).  0,
 * or -1 after logging why; nothing when agentPort is not set. */
int np_agent_open(struct np_server *server);
/* Starts its thread.  0, or -1 after logging why. */
int np_agent_start(struct np_server *server);
/* Stops its thread (without shutdown(2): the socket may be another
 * instance's too). */
void np_agent_stop(struct np_server *server);
/* Closes the socket. */
void np_agent_close(struct np_server *server);

#endif
