/* SPDX-License-Identifier: ISC */
/*
 * http_server.h - the built-in web server of the unknown-protocol path
 * (SPEC §7): HTTP/1.1 with keep-alive (and 1.0) on a session whose first
 * bytes are a request, its routes in order (webSocketPath, webRoot,
 * webUpstream, else 404), and the WebSocket upgrade after which the
 * connection goes through the protocol-byte dispatch again.
 */
#ifndef NP_HTTP_SERVER_H
#define NP_HTTP_SERVER_H

#include <stddef.h>

#include "config.h"
#include "session.h"

/* Serves the connection from its first bytes on, request after request,
 * until it is closed or relayed to webUpstream (0, the end reason set),
 * or upgraded to a WebSocket at webSocketPath (1: the caller wraps the
 * socket and dispatches again). */
int np_http_serve(struct np_session *session, const unsigned char *first, size_t length);

/* Whether a port serves HTTP itself (a webSocketPath or a webRoot). */
bool np_http_enabled(const struct np_port_conf *port);

/* The port's webRoot is a directory the daemon can read: 0, or -1 with
 * the reason in err. */
int np_http_check_root(const struct np_port_conf *port, char *err, size_t err_size);

#endif
