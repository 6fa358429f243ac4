/* SPDX-License-Identifier: ISC */
/*
 * http_status.h - what the daemon tells of itself on the web path: the
 * status page (HTML for a person, JSON for a machine) at statusPath and
 * Prometheus text at metricsPath, both from the registry's counts.
 */
#ifndef NP_HTTP_STATUS_H
#define NP_HTTP_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "npsocket/socket.h"
#include "session.h"

enum np_report_format { NP_REPORT_HTML, NP_REPORT_JSON, NP_REPORT_METRICS };

struct np_registry;

/* The report in that format into out (the control socket's show
 * metrics uses it too); 0, or -1 when out of memory. */
int np_report_write(FILE *out, struct np_registry *reg, enum np_report_format format);

/* The whole response (head, and the body unless head_only); 0, or -1
 * with the socket's write fault. */
int np_http_send_report(struct np_socket *s, const struct np_session *session, enum np_report_format format,
			bool keep_alive, bool head_only);

#endif
