/* SPDX-License-Identifier: ISC */
/*
 * upstream.h - every connection npsocketd opens itself: to a forward
 * port's upstream NetPhantom server and to the unknown path's
 * webUpstream.
 */
#ifndef NP_UPSTREAM_H
#define NP_UPSTREAM_H

#include <stddef.h>

#include "npsocket/socket.h"
#include "session.h"

/* Connects to target (host:port), within the port's
 * upstreamConnectTimeout, as a plain np_socket whose reads wait
 * readTimeout.  `what` names it in the reason ("upstream",
 * "webUpstream").  NULL with the session's end reason set. */
struct np_socket *np_upstream_open(struct np_session *session, const char *what, const char *target);

/* Closes what np_upstream_open() opened. */
void np_upstream_close(struct np_session *session, struct np_socket *up);

/* The unknown path's last resort: connects to the port's webUpstream,
 * sends the bytes already read, then relays both ways until both sides
 * are done.  Sets the session's end reason. */
void np_upstream_relay(struct np_session *session, const unsigned char *first, size_t length);

#endif
