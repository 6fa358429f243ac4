/* SPDX-License-Identifier: ISC */
/*
 * http_status.c - the status page and the metrics (http_status.h).  The
 * registry's counts are copied under its lock (snapshots of the live
 * sessions, the listeners, the certificates served, the totals of the
 * sessions that ended), and the text is made after the lock is released
 * into a memory stream, then written in one response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_response.h"
#include "http_status.h"
#include "net.h"
#include "registry.h"

#define MAX_GROUPS 256
#define MAX_PORTS 256

/* Live sessions of one (listener, protocol, transport). */
struct group {
	char listener[NP_PORT_NAME_MAX]; /* copied: a reload may free the configuration */
	const char *protocol, *transport;
	size_t count;
};

struct report {
	struct np_registry_stats stats;
	struct group groups[MAX_GROUPS];
	size_t group_count;
	uint64_t live_bytes_in, live_bytes_out, live_tx_in, live_tx_out;
	struct np_port_counts ports[MAX_PORTS];
	size_t port_count;
	struct np_cert_info certs[NP_REGISTRY_CERTS_MAX];
	size_t cert_count;
	struct np_acme_info acme[NP_REGISTRY_ACME_MAX];
	size_t acme_count;
	bool acme_used;
	bool memory_known;
	int64_t resident, address_space, max_resident, max_address_space;
};

/* The protocol and transport names a snapshot points to are static (or
 * a module's, loaded for the process's life) and can be kept past the
 * lock; the listener's name lives in a configuration that a reload may
 * free once its last session ends, and is copied. */
static void count_session(const struct np_session_info *info, void *arg)
{
	struct report *r = arg;
	r->live_bytes_in += info->bytes_in;
	r->live_bytes_out += info->bytes_out;
	r->live_tx_in += info->transactions_in;
	r->live_tx_out += info->transactions_out;
	for (size_t i = 0; i < r->group_count; i++) {
		struct group *g = &r->groups[i];
		if (strcmp(g->listener, info->listener) == 0 && strcmp(g->protocol, info->protocol) == 0 &&
		    strcmp(g->transport, info->transport) == 0) {
			g->count++;
			return;
		}
	}
	if (r->group_count < MAX_GROUPS) {
		struct group *g = &r->groups[r->group_count++];
		snprintf(g->listener, sizeof(g->listener), "%s", info->listener);
		g->protocol = info->protocol;
		g->transport = info->transport;
		g->count = 1;
	}
}

static void copy_port(const struct np_port_counts *port, void *arg)
{
	struct report *r = arg;
	if (r->port_count < MAX_PORTS)
		r->ports[r->port_count++] = *port;
}

static void gather(struct np_registry *reg, struct report *r)
{
	memset(r, 0, sizeof(*r));
	np_registry_foreach(reg, count_session, r);
	np_registry_foreach_port(reg, copy_port, r);
	np_registry_stats(reg, &r->stats);
	r->cert_count = np_registry_certs(reg, r->certs, NP_REGISTRY_CERTS_MAX);
	r->acme_count = np_registry_acme(reg, r->acme, NP_REGISTRY_ACME_MAX, &r->acme_used);
	r->memory_known = np_memory_usage(&reg->memory, &r->resident, &r->address_space);
	r->max_resident = atomic_load(&reg->memory.max_resident);
	r->max_address_space = atomic_load(&reg->memory.max_address_space);
}

/* Text for HTML (&, <, >, ") or JSON ("\ and control bytes) or a label
 * value (\, ", newline). */
static void put_escaped(FILE *out, const char *s, enum np_report_format format)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (format == NP_REPORT_HTML && strchr("&<>\"", c))
			fprintf(out, "&#%u;", c);
		else if (format == NP_REPORT_JSON && (c == '"' || c == '\\'))
			fprintf(out, "\\%c", c);
		else if (format == NP_REPORT_JSON && c < 0x20)
			fprintf(out, "\\u%04x", c);
		else if (format == NP_REPORT_METRICS && (c == '"' || c == '\\'))
			fprintf(out, "\\%c", c);
		else if (format == NP_REPORT_METRICS && c == '\n')
			fputs("\\n", out);
		else
			fputc(c, out);
	}
}

static const char *when(int64_t unix_seconds, char *buf, size_t size)
{
	time_t t = (time_t)unix_seconds;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_metrics(FILE *out, const struct report *r)
{
	family(out, "npsocketd_sessions", "gauge", "Sessions open, by listener, protocol and transport.");
	for (size_t i = 0; i < r->group_count; i++) {
		const struct group *g = &r->groups[i];
		fputs("npsocketd_sessions{listener=\"", out);
		put_escaped(out, g->listener, NP_REPORT_METRICS);
		fprintf(out, "\",protocol=\"%s\",transport=\"%s\"} %zu\n", g->protocol, g->transport, g->count);
	}
	family(out, "npsocketd_listener_sessions", "gauge", "Sessions open on each listener.");
	for (size_t i = 0; i < r->port_count; i++) {
		fputs("npsocketd_listener_sessions{listener=\"", out);
		put_escaped(out, r->ports[i].name, NP_REPORT_METRICS);
		fprintf(out, "\",port=\"%d\",tls=\"%s\"} %zu\n", r->ports[i].port, r->ports[i].tls ? "true" : "false",
			r->ports[i].active);
	}
	family(out, "npsocketd_listen_queue", "gauge", "Connections waiting in each listener's accept queue.");
	for (size_t i = 0; i < r->port_count; i++) {
		fputs("npsocketd_listen_queue{listener=\"", out);
		put_escaped(out, r->ports[i].name, NP_REPORT_METRICS);
		fprintf(out, "\",port=\"%d\"} %u\n", r->ports[i].port, r->ports[i].queued);
	}
	family(out, "npsocketd_listen_queue_max", "gauge", "Each listener's accept queue length (queueLength, cut to somaxconn).");
	for (size_t i = 0; i < r->port_count; i++) {
		fputs("npsocketd_listen_queue_max{listener=\"", out);
		put_escaped(out, r->ports[i].name, NP_REPORT_METRICS);
		fprintf(out, "\",port=\"%d\"} %u\n", r->ports[i].port, r->ports[i].queue_max);
	}
	if (r->memory_known) {
		family(out, "npsocketd_memory_bytes", "gauge", "The process's resident memory and address space.");
		fprintf(out, "npsocketd_memory_bytes{kind=\"resident\"} %lld\n", (long long)r->resident);
		fprintf(out, "npsocketd_memory_bytes{kind=\"address_space\"} %lld\n", (long long)r->address_space);
	}
	family(out, "npsocketd_memory_bound_bytes", "gauge",
	       "Above these new connections are refused (maxMemory, the cgroup's or RLIMIT_AS less a margin; 0 = none).");
	fprintf(out, "npsocketd_memory_bound_bytes{kind=\"resident\"} %lld\n", (long long)r->max_resident);
	fprintf(out, "npsocketd_memory_bound_bytes{kind=\"address_space\"} %lld\n", (long long)r->max_address_space);
	unsigned long long overflows = 0, drops = 0;
	if (np_net_listen_overflows(&overflows, &drops)) {
		family(out, "npsocketd_host_listen_overflows_total", "counter",
		       "The host's connections lost to a full accept queue (TcpExt ListenOverflows, every process's).");
		fprintf(out, "npsocketd_host_listen_overflows_total %llu\n", overflows);
		family(out, "npsocketd_host_listen_drops_total", "counter",
		       "The host's connections dropped before accept (TcpExt ListenDrops, every process's).");
		fprintf(out, "npsocketd_host_listen_drops_total %llu\n", drops);
	}
	const struct { const char *name, *help; uint64_t value; } counters[] = {
		{ "npsocketd_connections_accepted_total", "Connections accepted.", r->stats.accepted },
		{ "npsocketd_accept_errors_total", "accept() failures.", r->stats.accept_errors },
		{ "npsocketd_thread_failures_total", "Connections closed for want of a thread.", r->stats.thread_failures },
		{ "npsocketd_sessions_started_total", "Sessions admitted.", r->stats.sessions_total },
		{ "npsocketd_received_bytes_total", "Bytes read from clients (after TLS).",
		  r->stats.ended_bytes_in + r->live_bytes_in },
		{ "npsocketd_sent_bytes_total", "Bytes written to clients (before TLS).",
		  r->stats.ended_bytes_out + r->live_bytes_out },
		{ "npsocketd_received_transactions_total", "Transactions read.", r->stats.ended_transactions_in + r->live_tx_in },
		{ "npsocketd_sent_transactions_total", "Transactions written.",
		  r->stats.ended_transactions_out + r->live_tx_out },
	};
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		family(out, counters[i].name, "counter", counters[i].help);
		fprintf(out, "%s %llu\n", counters[i].name, (unsigned long long)counters[i].value);
	}
	family(out, "npsocketd_running_threads_bound", "gauge",
	       "How many connection threads may run at once (runningThreads; 0 = no bound).");
	fprintf(out, "npsocketd_running_threads_bound %d\n", r->stats.running_threads);
	family(out, "npsocketd_turn_waits_total", "counter", "Times a connection thread waited in line for its turn.");
	fprintf(out, "npsocketd_turn_waits_total %llu\n", (unsigned long long)r->stats.turn_waits);
	family(out, "npsocketd_turn_stalls_total", "counter",
	       "Times a thread ran without a turn, none having been given back for 50 ms.");
	fprintf(out, "npsocketd_turn_stalls_total %llu\n", (unsigned long long)r->stats.turn_stalls);
	family(out, "npsocketd_tls_handshakes_total", "counter", "TLS handshakes, by result.");
	fprintf(out, "npsocketd_tls_handshakes_total{result=\"ok\"} %llu\n", (unsigned long long)r->stats.handshakes_ok);
	fprintf(out, "npsocketd_tls_handshakes_total{result=\"failed\"} %llu\n",
		(unsigned long long)r->stats.handshakes_failed);
	family(out, "npsocketd_reloads_total", "counter", "Reloads of the configuration (SIGHUP, reload), by result.");
	fprintf(out, "npsocketd_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)r->stats.reloads_ok);
	fprintf(out, "npsocketd_reloads_total{result=\"failed\"} %llu\n", (unsigned long long)r->stats.reloads_failed);
	family(out, "npsocketd_connections_refused_total", "counter", "Connections refused by admission, by reason.");
	for (int i = 0; i < NP_REFUSALS; i++)
		fprintf(out, "npsocketd_connections_refused_total{reason=\"%s\"} %llu\n", np_refusal_label[i],
			(unsigned long long)r->stats.refused_by[i]);
	family(out, "npsocketd_certificate_expiry_timestamp_seconds", "gauge",
	       "When each certificate served stops being valid.");
	for (size_t i = 0; i < r->cert_count; i++) {
		fputs("npsocketd_certificate_expiry_timestamp_seconds{section=\"", out);
		put_escaped(out, r->certs[i].section, NP_REPORT_METRICS);
		fputs("\",subject=\"", out);
		put_escaped(out, r->certs[i].subject, NP_REPORT_METRICS);
		fprintf(out, "\"} %lld\n", (long long)r->certs[i].not_after);
	}
	family(out, "npsocketd_acme_renewal_timestamp_seconds", "gauge",
	       "When each ACME certificate is due for renewal (0 before its first issue).");
	for (size_t i = 0; i < r->acme_count; i++) {
		fputs("npsocketd_acme_renewal_timestamp_seconds{name=\"", out);
		put_escaped(out, r->acme[i].name, NP_REPORT_METRICS);
		fprintf(out, "\",source=\"%s\"} %lld\n", r->acme[i].source, (long long)r->acme[i].renew_at);
	}
	family(out, "npsocketd_acme_failures", "gauge", "Orders of each ACME certificate that failed in a row.");
	for (size_t i = 0; i < r->acme_count; i++) {
		fputs("npsocketd_acme_failures{name=\"", out);
		put_escaped(out, r->acme[i].name, NP_REPORT_METRICS);
		fprintf(out, "\"} %d\n", r->acme[i].failures);
	}
	family(out, "npsocketd_start_time_seconds", "gauge", "When the daemon started.");
	fprintf(out, "npsocketd_start_time_seconds %lld\n", (long long)r->stats.started_unix);
}

static void write_json(FILE *out, const struct report *r)
{
	char t[32];
	fprintf(out, "{\"started\":\"%s\",\"sessions\":{\"open\":%zu,\"started\":%llu,\"groups\":[", when(r->stats.started_unix, t, sizeof(t)),
		r->stats.active, (unsigned long long)r->stats.sessions_total);
	for (size_t i = 0; i < r->group_count; i++) {
		fprintf(out, "%s{\"listener\":\"", i ? "," : "");
		put_escaped(out, r->groups[i].listener, NP_REPORT_JSON);
		fprintf(out, "\",\"protocol\":\"%s\",\"transport\":\"%s\",\"open\":%zu}", r->groups[i].protocol,
			r->groups[i].transport, r->groups[i].count);
	}
	fprintf(out, "]},\"connections\":{\"accepted\":%llu,\"refused\":%llu,\"accept_errors\":%llu,"
		"\"thread_failures\":%llu},\"bytes\":{\"in\":%llu,\"out\":%llu},"
		"\"transactions\":{\"in\":%llu,\"out\":%llu},\"listeners\":[",
		(unsigned long long)r->stats.accepted, (unsigned long long)r->stats.refused,
		(unsigned long long)r->stats.accept_errors, (unsigned long long)r->stats.thread_failures,
		(unsigned long long)(r->stats.ended_bytes_in + r->live_bytes_in),
		(unsigned long long)(r->stats.ended_bytes_out + r->live_bytes_out),
		(unsigned long long)(r->stats.ended_transactions_in + r->live_tx_in),
		(unsigned long long)(r->stats.ended_transactions_out + r->live_tx_out));
	for (size_t i = 0; i < r->port_count; i++) {
		fprintf(out, "%s{\"name\":\"", i ? "," : "");
		put_escaped(out, r->ports[i].name, NP_REPORT_JSON);
		fprintf(out, "\",\"port\":%d,\"tls\":%s,\"open\":%zu}", r->ports[i].port, r->ports[i].tls ? "true" : "false",
			r->ports[i].active);
	}
	fputs("],\"certificates\":[", out);
	for (size_t i = 0; i < r->cert_count; i++) {
		fprintf(out, "%s{\"section\":\"", i ? "," : "");
		put_escaped(out, r->certs[i].section, NP_REPORT_JSON);
		fputs("\",\"subject\":\"", out);
		put_escaped(out, r->certs[i].subject, NP_REPORT_JSON);
		fprintf(out, "\",\"expires\":\"%s\",\"expires_unix\":%lld}", when(r->certs[i].not_after, t, sizeof(t)),
			(long long)r->certs[i].not_after);
	}
	fprintf(out, "],\"acme\":{\"used\":%s,\"certificates\":[", r->acme_used ? "true" : "false");
	for (size_t i = 0; i < r->acme_count; i++) {
		const struct np_acme_info *a = &r->acme[i];
		char t2[32], t3[32];
		fprintf(out, "%s{\"name\":\"", i ? "," : "");
		put_escaped(out, a->name, NP_REPORT_JSON);
		fputs("\",\"names\":\"", out);
		put_escaped(out, a->names, NP_REPORT_JSON);
		fprintf(out, "\",\"source\":\"%s\",\"expires\":\"%s\",\"renew_at\":\"%s\",\"next_try\":\"%s\",\"failures\":%d,"
			"\"last_error\":\"", a->source, a->not_after ? when(a->not_after, t, sizeof(t)) : "",
			a->renew_at ? when(a->renew_at, t2, sizeof(t2)) : "", a->next_try ? when(a->next_try, t3, sizeof(t3)) : "",
			a->failures);
		put_escaped(out, a->last_error, NP_REPORT_JSON);
		fputs("\"}", out);
	}
	fputs("]}}\n", out);
}

static void write_html(FILE *out, const struct report *r)
{
	char t[32];
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>npsocketd status</title>"
		"<style>body{font:15px system-ui,sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}"
		"table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style></head><body>\n"
		"<h1>npsocketd</h1>\n<p>Running since %s: %zu session%s open, %llu started; %llu connections accepted, "
		"%llu refused.</p>\n",
		when(r->stats.started_unix, t, sizeof(t)), r->stats.active, r->stats.active == 1 ? "" : "s",
		(unsigned long long)r->stats.sessions_total, (unsigned long long)r->stats.accepted,
		(unsigned long long)r->stats.refused);
	fputs("<h2>Listeners</h2>\n<table><tr><th>listener</th><th>port</th><th>TLS</th><th>open</th></tr>\n", out);
	for (size_t i = 0; i < r->port_count; i++) {
		fputs("<tr><td>", out);
		put_escaped(out, r->ports[i].name, NP_REPORT_HTML);
		fprintf(out, "</td><td>%d</td><td>%s</td><td>%zu</td></tr>\n", r->ports[i].port, r->ports[i].tls ? "yes" : "no",
			r->ports[i].active);
	}
	fputs("</table>\n<h2>Sessions</h2>\n<table><tr><th>listener</th><th>protocol</th><th>transport</th><th>open</th></tr>\n",
	      out);
	for (size_t i = 0; i < r->group_count; i++) {
		fputs("<tr><td>", out);
		put_escaped(out, r->groups[i].listener, NP_REPORT_HTML);
		fprintf(out, "</td><td>%s</td><td>%s</td><td>%zu</td></tr>\n", r->groups[i].protocol, r->groups[i].transport,
			r->groups[i].count);
	}
	fprintf(out, "</table>\n<p>Moved so far: %llu bytes in, %llu out; %llu transactions in, %llu out.</p>\n",
		(unsigned long long)(r->stats.ended_bytes_in + r->live_bytes_in),
		(unsigned long long)(r->stats.ended_bytes_out + r->live_bytes_out),
		(unsigned long long)(r->stats.ended_transactions_in + r->live_tx_in),
		(unsigned long long)(r->stats.ended_transactions_out + r->live_tx_out));
	fputs("<h2>Certificates</h2>\n<table><tr><th>section</th><th>subject</th><th>expires</th></tr>\n", out);
	for (size_t i = 0; i < r->cert_count; i++) {
		fputs("<tr><td>", out);
		put_escaped(out, r->certs[i].section, NP_REPORT_HTML);
		fputs("</td><td>", out);
		put_escaped(out, r->certs[i].subject, NP_REPORT_HTML);
		fprintf(out, "</td><td>%s</td></tr>\n", when(r->certs[i].not_after, t, sizeof(t)));
	}
	fputs("</table>\n<h2>ACME</h2>\n", out);
	if (!r->acme_used) {
		fputs("<p>No certificate is ordered by ACME.</p>\n", out);
	} else {
		fputs("<table><tr><th>names</th><th>source</th><th>expires</th><th>renewal due</th><th>failures</th>"
		      "<th>next try</th><th>last error</th></tr>\n", out);
		for (size_t i = 0; i < r->acme_count; i++) {
			const struct np_acme_info *a = &r->acme[i];
			char t2[32], t3[32];
			fputs("<tr><td>", out);
			put_escaped(out, a->names, NP_REPORT_HTML);
			fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>", a->source,
				a->not_after ? when(a->not_after, t, sizeof(t)) : "-", a->renew_at ? when(a->renew_at, t2, sizeof(t2)) : "-",
				a->failures, a->next_try ? when(a->next_try, t3, sizeof(t3)) : "-");
			put_escaped(out, a->last_error[0] ? a->last_error : "-", NP_REPORT_HTML);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("<p><a href=\"/\">The WebSocket session page</a> (where webRoot serves it).</p>\n</body></html>\n", out);
}

int np_report_write(FILE *out, struct np_registry *reg, enum np_report_format format)
{
	struct report *r = malloc(sizeof(*r));
	if (!r)
		return -1;
	gather(reg, r);
	if (format == NP_REPORT_METRICS)
		write_metrics(out, r);
	else if (format == NP_REPORT_JSON)
		write_json(out, r);
	else
		write_html(out, r);
	free(r);
	return ferror(out) ? -1 : 0;
}

int np_http_send_report(struct np_socket *s, const struct np_session *session, enum np_report_format format,
			bool keep_alive, bool head_only)
{
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	if (!out)
		return np_http_send_error(s, 500, keep_alive, head_only, NULL);
	int written = np_report_write(out, session->registry, format);
	if (fclose(out) != 0 || written < 0) {
		free(body);
		return np_http_send_error(s, 500, keep_alive, head_only, NULL);
	}
	static const char *const types[] = { "text/html; charset=utf-8", "application/json",
					     "text/plain; version=0.0.4; charset=utf-8" };
	struct np_http_response resp = { .status = 200, .content_type = types[format], .content_length = (long long)len,
					 .extra = "Cache-Control: no-store\r\n", .close = !keep_alive };
	int rc = np_http_send(s, &resp, head_only ? NULL : body, head_only ? 0 : len);
	free(body);
	return rc;
}
