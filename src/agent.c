/* SPDX-License-Identifier: ISC */
/*
 * agent.c - HAProxy's agent-check (agent.h): one accepting thread,
 * blocking in accept(), writing one line per connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "listener.h"
#include "net.h"

size_t np_agent_line(size_t active, int max_connections, bool draining, char *out, size_t size)
{
	int n;
	if (draining) {
		n = snprintf(out, size, "drain\n");
	} else if (max_connections <= 0) {
		n = snprintf(out, size, "up ready 100%%\n");
	} else {
		size_t max = (size_t)max_connections;
		size_t spare = active >= max ? 0 : max - active;
		/* Whole percent, rounded up so that one free slot is not 0 %. */
		unsigned percent = (unsigned)((spare * 100 + max - 1) / max);
		n = snprintf(out, size, "up ready %u%% maxconn:%zu\n", percent, spare);
	}
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

struct np_agent {
	struct np_server *server;        /* its live state, read-only here */
	int fd;
	pthread_t thread;
	bool running;
	atomic_bool stop;
};

static void answer(struct np_server *server, int fd)
{
	struct np_registry_stats stats;
	np_registry_stats(&server->registry, &stats);
	bool draining = atomic_load(&server->registry.draining) || atomic_load(&server->stopping);
	char line[64];
	size_t len = np_agent_line(stats.active, stats.max_connections, draining, line, sizeof(line));
	/* A balancer that stops reading gets no more than a second. */
	struct timeval tv = { .tv_sec = 1 };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		np_log(LOG_DEBUG, "agent-check: answer not sent: %s", strerror(errno));
	/* HAProxy may have sent its agent-send string: a FIN, not a reset. */
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void *agent_main(void *arg)
{
	struct np_agent *agent = arg;
	pthread_setname_np(pthread_self(), "agent");
	np_accepter_thread_setup();
	while (!atomic_load(&agent->stop)) {
		int fd = accept4(agent->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			answer(agent->server, fd);
		} else if (errno != EINTR && errno != ECONNABORTED) {
			np_log_ratelimited(&agent->server->accept_error_log, LOG_ERR, "agent-check accept: %s",
					   strerror(errno));
			np_sleep_ms(100);
		}
	}
	return NULL;
}

int np_agent_open(struct np_server *server, struct np_agent **out)
{
	const struct np_server_conf *conf = &server->config->server;
	*out = NULL;
	if (!conf->agent)
		return 0;
	struct np_agent *agent = calloc(1, sizeof(*agent));
	if (!agent) {
		np_log(LOG_ERR, "[Server] agentPort: out of memory");
		return -1;
	}
	agent->server = server;
	char err[256] = "";
	agent->fd = np_upgrade_take(&server->inherited, "agent", conf->agent_bind_address, conf->agent_port);
	if (agent->fd < 0)
		agent->fd = np_net_listen(conf->agent_bind_address, conf->agent_port, 64, 0, err, sizeof(err));
	if (agent->fd < 0) {
		np_log(LOG_ERR, "[Server] agentPort: %s", err);
		free(agent);
		return -1;
	}
	char where[NP_ADDRSTRLEN];
	np_net_local_text(agent->fd, where, sizeof(where));
	np_log(LOG_NOTICE, "agent-check listening on %s", where);
	*out = agent;
	return 0;
}

int np_agent_start(struct np_agent *agent)
{
	if (!agent)
		return 0;
	int err = pthread_create(&agent->thread, NULL, agent_main, agent);
	if (err) {
		np_log(LOG_ERR, "cannot start the agent-check thread: %s", strerror(err));
		return -1;
	}
	agent->running = true;
	return 0;
}

void np_agent_stop(struct np_agent *agent)
{
	if (!agent)
		return;
	atomic_store(&agent->stop, true);
	if (agent->running)
		np_accepter_join(agent->thread, "agent-check");
	agent->running = false;
}

void np_agent_free(struct np_agent *agent)
{
	if (!agent)
		return;
	np_agent_stop(agent);
	close(agent->fd);
	free(agent);
}

int np_agent_fd(const struct np_agent *agent)
{
	return agent ? agent->fd : -1;
}
