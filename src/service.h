/* SPDX-License-Identifier: ISC */
/*
 * service.h - what the service manager (systemd) is told through
 * sd_notify(3): ready, reloading, stopping, a status line, and the
 * watchdog's keep-alive.  Every call does nothing outside systemd
 * (NOTIFY_SOCKET unset).
 */
#ifndef NP_SERVICE_H
#define NP_SERVICE_H

#include <stdint.h>

struct np_registry;

/* What was told last (the main thread's, between ticks). */
struct np_service {
	char status[256];
};

/* How often the main thread should call np_service_tick(), in ms: a
 * second, or half the watchdog's period when that is shorter. */
int np_service_tick_ms(void);

/* READY=1 with the first status line: after binding and dropping
 * privileges, when every accepter accepts. */
void np_service_ready(struct np_registry *reg);
/* RELOADING=1 (with the monotonic time systemd wants), and READY=1 once
 * the reload is done. */
void np_service_reloading(void);
void np_service_reloaded(struct np_registry *reg);
/* STOPPING=1 with why. */
void np_service_stopping(const char *why);
/* WATCHDOG=1 when the watchdog is on, and the status line when it
 * changed. */
void np_service_tick(struct np_registry *reg, struct np_service *told);

#endif
