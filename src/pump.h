/* SPDX-License-Identifier: ISC */
/*
 * pump.h - bytes copied both ways between two connections by one thread,
 * for the webUpstream relay and the Remote Assistance relay.
 */
#ifndef NP_PUMP_H
#define NP_PUMP_H

#include <stddef.h>

#include "npsocket/socket.h"

/* Copies bytes both ways between a and b until each side has closed its
 * direction (a half-close is passed on), or an error, or timeout_ms of
 * silence in both directions (0 = none), or, once one side has closed,
 * half_closed_ms of silence from the other (0 = none).  Returns 0 when
 * both directions ended cleanly, else -1 with the reason in `reason`. */
int np_pump(struct np_socket *a, struct np_socket *b, int timeout_ms, int half_closed_ms, char *reason,
	    size_t reason_size);

#endif
