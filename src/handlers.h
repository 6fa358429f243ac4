/*
 * handlers.h - the session handlers built into the daemon and how a port
 * finds its own (sessionHandler).
 */
#ifndef NP_HANDLERS_H
#define NP_HANDLERS_H

#include <stddef.h>

#include "config.h"
#include "npsocket/handler.h"

struct np_listener;
struct np_session;

/* The handler a port's sessionHandler names, or NULL with the reason in
 * err. */
const struct np_handler *np_handler_for(const struct np_port_conf *conf, char *err, size_t err_size);

/* Loads sessionHandler = module:PATH and checks its descriptor (ABI
 * version, required callbacks); NULL with the reason in err. */
const struct np_handler *np_module_load(const char *path, char *err, size_t err_size);

/* Runs the handler's init() for the listener's port; 0, or -1 after
 * logging why. */
int np_handler_init(struct np_listener *listener);

/* Runs the handler's shutdown(), once every session ended. */
void np_handler_shutdown(struct np_listener *listener);

/* The unknown-protocol path: connects to the port's webUpstream, sends
 * the bytes already read, then relays both ways until both sides are
 * done.  Sets the session's end reason. */
void np_web_upstream(struct np_session *session, const unsigned char *first, size_t length);

/* Copies bytes both ways between a and b until each side has closed its
 * direction (a half-close is passed on), or an error or timeout_ms of
 * silence in both directions (0 = none).  Returns 0 when both directions
 * ended cleanly, else -1 with the reason in `reason`. */
int np_pump(struct np_socket *a, struct np_socket *b, int timeout_ms, char *reason, size_t reason_size);

#endif
