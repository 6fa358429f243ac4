/* SPDX-License-Identifier: ISC */
/*
 * handler.h - the session handlers a port can name (sessionHandler):
 * the built-in echo and forward, and modules loaded from a shared object.
 */
#ifndef NP_HANDLER_H
#define NP_HANDLER_H

#include <stddef.h>

#include "config.h"
#include "npsocket/handler.h"

/* sessionHandler = echo (handler_echo.c) and forward (handler_forward.c). */
extern const struct np_handler np_handler_echo;
extern const struct np_handler np_handler_forward;

/* The handler a port's sessionHandler names, loading a module:PATH and
 * checking its descriptor; NULL with the reason in err. */
const struct np_handler *np_handler_for(const struct np_handler_spec *spec, char *err, size_t err_size);

#endif
