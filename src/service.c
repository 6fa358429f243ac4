/* SPDX-License-Identifier: ISC */
/*
 * service.c - sd_notify(3) for systemd (service.h), through libsystemd.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "registry.h"
#include "service.h"

#define TICK_MS 1000

static void notify(const char *text)
{
	int rc = sd_notify(0, text);
	if (rc < 0)
		np_log(LOG_WARNING, "sd_notify '%.*s': %s", (int)strcspn(text, "\n"), text, strerror(-rc));
}

/* "STATUS=..." from the registry's counters. */
static void status_line(struct np_registry *reg, const char *before, char *out, size_t size)
{
	struct np_registry_stats st;
	np_registry_stats(reg, &st);
	snprintf(out, size, "%sSTATUS=%zu session%s open; %llu accepted, %llu refused%s", before, st.active,
		 st.active == 1 ? "" : "s", (unsigned long long)st.accepted, (unsigned long long)st.refused,
		 atomic_load(&reg->draining) ? "; draining" : "");
}

int np_service_tick_ms(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uint64_t half = usec / 2000;
		return half < 1 ? 1 : half < TICK_MS ? (int)half : TICK_MS;
	}
	return TICK_MS;
}

void np_service_ready(struct np_registry *reg)
{
	char text[256];
	status_line(reg, "READY=1\n", text, sizeof(text));
	notify(text);
}

void np_service_reloading(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	char text[96];
	snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000);
	notify(text);
}

void np_service_reloaded(struct np_registry *reg)
{
	np_service_ready(reg);
}

void np_service_stopping(const char *why)
{
	char text[160];
	snprintf(text, sizeof(text), "STOPPING=1\nSTATUS=stopping: %s", why);
	notify(text);
}

void np_service_tick(struct np_registry *reg, struct np_service *told)
{
	char text[256];
	bool watchdog = sd_watchdog_enabled(0, NULL) > 0;
	status_line(reg, "", text, sizeof(text));
	if (strcmp(text, told->status) != 0) {
		snprintf(told->status, sizeof(told->status), "%s", text);
		status_line(reg, watchdog ? "WATCHDOG=1\n" : "", text, sizeof(text));
		notify(text);
	} else if (watchdog) {
		notify("WATCHDOG=1");
	}
}
