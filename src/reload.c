/* SPDX-License-Identifier: ISC */
/*
 * reload.c - the whole configuration read again (reload.h).
 *
 * One thread does reloads: the main one, which takes the signals.  A
 * control client's `reload` counts itself in as a request, sends the
 * main thread a SIGHUP and waits for the answer to a request at least as
 * new as its own; a reload answers every request made before it began,
 * so a burst of them costs one reload each way.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "listener.h"
#include "log.h"
#include "npsocket/socket.h"
#include "net.h"
#include "reload.h"
#include "service.h"

struct np_reload {
	pthread_mutex_t lock;            /* guards the rest */
	pthread_cond_t done;             /* a reload answered */
	uint64_t asked;                  /* requests made */
	uint64_t answered;               /* requests up to this one are answered */
	bool ok;                         /* the last reload's outcome */
	char *answer;                    /* and what it said */
	bool log_level_fixed;            /* -d */
};

struct np_reload *np_reload_new(bool log_level_fixed)
{
	struct np_reload *reload = calloc(1, sizeof(*reload));
	if (!reload)
		return NULL;
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
	    pthread_mutex_init(&reload->lock, NULL) || pthread_cond_init(&reload->done, &attr)) {
		free(reload);
		return NULL;
	}
	pthread_condattr_destroy(&attr);
	reload->log_level_fixed = log_level_fixed;
	return reload;
}

void np_reload_free(struct np_reload *reload)
{
	if (!reload)
		return;
	free(reload->answer);
	pthread_cond_destroy(&reload->done);
	pthread_mutex_destroy(&reload->lock);
	free(reload);
}

/* [Server] keys used once, at start: a new value waits for the next
 * start, and the reload says so. */
static void restart_keys(const struct np_server_conf *now, const struct np_server_conf *next, FILE *out)
{
	const struct { const char *key; bool changed; } keys[] = {
		{ "user", !np_same_text(now->user, next->user) },
		{ "group", !np_same_text(now->group, next->group) },
		{ "pidFile", !np_same_text(now->pid_file, next->pid_file) },
		{ "log", now->log != next->log },
		{ "logFacility", now->log_facility != next->log_facility },
		{ "controlSocket", !np_same_text(now->control_socket, next->control_socket) },
		{ "agentPort", now->agent != next->agent || now->agent_port != next->agent_port },
		{ "agentBindAddress", !np_same_text(now->agent_bind_address, next->agent_bind_address) },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!keys[i].changed)
			continue;
		np_log(LOG_WARNING, "reload: [Server] %s changed: it takes effect at the next start "
		       "(or npsocketd -x); the running value stays", keys[i].key);
		fprintf(out, "warning: [Server] %s changed: it takes effect at the next start\n", keys[i].key);
	}
}

/* What the file's check said, a line each, to the log and the answer. */
static void report_check(const char *text, FILE *out)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		int len = (int)(end ? (size_t)(end - line) : strlen(line));
		np_log(strstr(line, ": warning: ") && strstr(line, ": warning: ") < line + len ? LOG_WARNING : LOG_ERR,
		       "reload: %.*s", len, line);
		fprintf(out, "%.*s\n", len, line);
		line = end ? end + 1 : line + len;
	}
}

static bool reload(struct np_reload *r, struct np_server *server, FILE *out)
{
	/* The configuration in force is freed by the swap, with its path. */
	char path[4096];
	snprintf(path, sizeof(path), "%s", server->config->path);
	np_log(LOG_NOTICE, "reload: reading %s", path);

	char *check = NULL;
	size_t check_len = 0;
	FILE *errors = open_memstream(&check, &check_len);
	if (!errors) {
		np_log(LOG_ERR, "reload: %s not read, nothing changed: %s", path, strerror(errno));
		fprintf(out, "error: out of memory\n");
		return false;
	}
	struct np_config *config = np_config_load_in(path, server->config->base_dir, errors);
	fclose(errors);
	report_check(check, out);
	free(check);
	if (!config) {
		np_log(LOG_ERR, "reload: %s has errors, nothing changed", path);
		fprintf(out, "error: %s has errors, nothing changed\n", path);
		return false;
	}
	restart_keys(&server->config->server, &config->server, out);

	char err[1024], summary[256];
	if (np_server_reload(server, config, err, sizeof(err), summary, sizeof(summary)) < 0) {
		np_log(LOG_ERR, "reload: %s not applied, nothing changed: %s", path, err);
		fprintf(out, "error: %s\nerror: not applied, nothing changed\n", err);
		np_config_unref(config);
		return false;
	}
	if (!r->log_level_fixed && np_log_level() != config->server.log_level) {
		np_log(LOG_NOTICE, "reload: logLevel %s from now on", np_log_level_name(config->server.log_level));
		np_log_set_level(config->server.log_level);
	}
	struct np_registry_stats stats;
	np_registry_stats(&server->registry, &stats);
	np_log(LOG_NOTICE, "reload: %s in force: %s; %zu open session%s keep the configuration they started with",
	       path, summary, stats.active, stats.active == 1 ? "" : "s");
	fprintf(out, "ok: reloaded: %s\n", summary);
	np_config_unref(config);
	return true;
}

void np_reload_run(struct np_reload *r, struct np_server *server)
{
	pthread_mutex_lock(&r->lock);
	uint64_t covers = r->asked;
	pthread_mutex_unlock(&r->lock);

	np_service_reloading();
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	bool ok = false;
	if (!out)
		np_log(LOG_ERR, "reload: not started: %s", strerror(errno));
	else {
		ok = reload(r, server, out);
		if (fclose(out) != 0) {
			free(text);
			text = NULL;
		}
	}
	atomic_fetch_add(ok ? &server->registry.reloads_ok : &server->registry.reloads_failed, 1);
	np_service_reloaded(&server->registry);

	pthread_mutex_lock(&r->lock);
	free(r->answer);
	r->answer = text;
	r->ok = ok;
	r->answered = covers;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
}

int np_reload_ask(struct np_reload *r, struct np_server *server, char **answer, int timeout_ms)
{
	*answer = NULL;
	pthread_mutex_lock(&r->lock);
	uint64_t mine = ++r->asked;
	pthread_mutex_unlock(&r->lock);
	int err = pthread_kill(server->main_thread, SIGHUP);
	if (err) {
		if (asprintf(answer, "error: cannot signal the main thread: %s\n", strerror(err)) < 0)
			*answer = NULL;
		return -1;
	}
	int64_t until = np_now_ms() + timeout_ms;
	pthread_mutex_lock(&r->lock);
	/* The stop takes the main thread away from its signals: stop
	 * waiting then (it is looked at every second). */
	while (r->answered < mine && !atomic_load(&server->stopping)) {
		int64_t left = until - np_now_ms();
		if (left <= 0)
			break;
		struct timespec slice = np_time_in(CLOCK_MONOTONIC, left < 1000 ? left : 1000);
		pthread_cond_timedwait(&r->done, &r->lock, &slice);
	}
	bool answered = r->answered >= mine, ok = answered && r->ok;
	if (answered && r->answer)
		*answer = strdup(r->answer);
	pthread_mutex_unlock(&r->lock);
	if (!answered && asprintf(answer, "error: %s\n", atomic_load(&server->stopping)
				  ? "the daemon is stopping" : "no answer from the reload in time") < 0)
		*answer = NULL;
	return ok ? 0 : -1;
}
