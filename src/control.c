/* SPDX-License-Identifier: ISC */
/*
 * control.c - the control socket (control.h): one accepting thread, one
 * thread per control connection (at most NP_CONTROL_CLIENTS_MAX), a
 * command table with one function per command.  Every answer ends with
 * an empty line, so a client may send several commands on one
 * connection; an error answer starts with "error: ".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acme.h"
#include "agent.h"
#include "control.h"
#include "http_status.h"
#include "listener.h"
#include "net.h"
#include "reload.h"

#define NPSOCKETD_CONTROL_VERSION "1"
/* How long `reload` waits for the main thread's answer. */
#define NP_CONTROL_RELOAD_WAIT_MS 25000

struct np_control {
	struct np_server *server;        /* what the commands look at and steer */
	const char *path;
	int fd;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	pthread_mutex_t lock;            /* guards the client slots */
	pthread_cond_t changed;          /* a client left */
	int clients[NP_CONTROL_CLIENTS_MAX]; /* fds being served, -1 free */
	size_t count;
};

struct control_client {
	struct np_control *control;
	struct np_server *server;
	int fd;
	size_t slot;
	FILE *out;                       /* the answer, sent whole */
};

struct np_control_command {
	const char *words[3];            /* the command's own words */
	int args;                        /* how many arguments follow */
	const char *usage;               /* for help; NULL = not listed */
	int (*run)(struct control_client *c, const struct np_control_request *req, size_t args);
};

/* --- commands ------------------------------------------------------------- */

static int cmd_help(struct control_client *c, const struct np_control_request *req, size_t args);

static int cmd_show_info(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	struct np_server *server = c->server;
	struct np_registry_stats st;
	np_registry_stats(&server->registry, &st);
	fprintf(c->out,
		"pid: %ld\nstarted: %lld\nuptime: %lld\nsessions: %zu\nsessions_total: %llu\naccepted: %llu\n"
		"refused: %llu\nstate: %s\nlisteners: %zu\nmax_connections: %d\nreloads: %llu\n"
		"reloads_failed: %llu\n",
		(long)getpid(), (long long)st.started_unix, (long long)(time(NULL) - st.started_unix), st.active,
		(unsigned long long)st.sessions_total, (unsigned long long)st.accepted,
		(unsigned long long)st.refused,
		atomic_load(&server->stopping) ? "stopping"
		: atomic_load(&server->registry.draining) ? "draining" : "ready",
		np_server_listener_count(server), st.max_connections, (unsigned long long)st.reloads_ok,
		(unsigned long long)st.reloads_failed);
	return 0;
}

static void show_session(const struct np_session_info *s, void *arg)
{
	FILE *out = arg;
	static const char *const stages[] = { "admitted", "handshake", "protocol", "running" };
	/* Columns are split at spaces: a subject's become '_'. */
	char subject[256] = "-";
	if (s->tls && s->tls->peer_subject) {
		snprintf(subject, sizeof(subject), "%s", s->tls->peer_subject);
		for (char *p = subject; *p; p++)
			if (*p == ' ' || *p == '\t')
				*p = '_';
	}
	fprintf(out, "%llu %s %d %s %s %s %s %s %lld %lld %llu %llu %llu %llu %s %s %s %s\n", (unsigned long long)s->id,
		s->listener, s->port, s->protocol, s->transport, stages[s->stage], s->peer,
		s->via && s->via[0] ? s->via : "-", (long long)(s->started_unix_ms / 1000), (long long)s->idle_ms,
		(unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
		(unsigned long long)s->transactions_in, (unsigned long long)s->transactions_out,
		s->tls && s->tls->version ? s->tls->version : "-",
		s->tls && s->tls->cipher ? s->tls->cipher : "-",
		s->tls && s->tls->server_name ? s->tls->server_name : "-", subject);
}

static int cmd_show_sessions(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	fprintf(c->out, "# id listener port protocol transport stage peer via started idle_ms "
			"bytes_in bytes_out transactions_in transactions_out tls cipher sni subject\n");
	np_registry_foreach(&c->server->registry, show_session, c->out);
	return 0;
}

static int cmd_kill_session(struct control_client *c, const struct np_control_request *req, size_t args)
{
	char text[24];
	size_t len = req->lengths[args];
	char *end;
	if (len >= sizeof(text)) {
		fprintf(c->out, "error: no session %.20s...\n", req->words[args]);
		return -1;
	}
	memcpy(text, req->words[args], len);
	text[len] = '\0';
	errno = 0;
	unsigned long long id = strtoull(text, &end, 10);
	if (errno || *end || text[0] == '-' || np_registry_kill(&c->server->registry, id, "killed by control") < 0) {
		fprintf(c->out, "error: no session %s\n", text);
		return -1;
	}
	fprintf(c->out, "ok: session %llu closed\n", id);
	return 0;
}

static int cmd_kill_address(struct control_client *c, const struct np_control_request *req, size_t args)
{
	char text[64];
	size_t len = req->lengths[args];
	struct np_cidr range;
	if (len >= sizeof(text)) {
		fprintf(c->out, "error: not an address or CIDR range\n");
		return -1;
	}
	memcpy(text, req->words[args], len);
	text[len] = '\0';
	if (!np_cidr_parse(text, &range)) {
		fprintf(c->out, "error: not an address or CIDR range: %s\n", text);
		return -1;
	}
	size_t n = np_registry_kill_address(&c->server->registry, &range, "killed by control");
	np_log(LOG_NOTICE, "control: kill address %s: %zu session%s", text, n, n == 1 ? "" : "s");
	fprintf(c->out, "ok: %zu session%s closed\n", n, n == 1 ? "" : "s");
	return 0;
}

static int cmd_show_metrics(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	if (np_report_write(c->out, &c->server->registry, NP_REPORT_METRICS) < 0) {
		fprintf(c->out, "error: out of memory\n");
		return -1;
	}
	return 0;
}

static int cmd_show_tls(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	struct np_cert_info certs[NP_REGISTRY_CERTS_MAX];
	size_t n = np_registry_certs(&c->server->registry, certs, NP_REGISTRY_CERTS_MAX);
	int64_t now = (int64_t)time(NULL);
	fprintf(c->out, "# section subject not_after days_left\n");
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)certs[i].not_after;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		/* The table is split at spaces: a subject's become '_'. */
		char subject[sizeof(certs[i].subject)];
		snprintf(subject, sizeof(subject), "%s", certs[i].subject[0] ? certs[i].subject : "-");
		for (char *p = subject; *p; p++)
			if (*p == ' ')
				*p = '_';
		fprintf(c->out, "%s %s %s %lld\n", certs[i].section, subject, when,
			(long long)((certs[i].not_after - now) / 86400));
	}
	return 0;
}

static int cmd_drain(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	atomic_store(&c->server->registry.draining, true);
	np_log(LOG_NOTICE, "control: drain: the agent-check says drain; sessions go on");
	fprintf(c->out, "ok: draining\n");
	return 0;
}

static int cmd_acme_status(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	if (!c->server->acme) {
		fprintf(c->out, "error: no certificate is managed by ACME (no port has domains)\n");
		return -1;
	}
	np_acme_status(c->server->acme, c->out);
	return 0;
}

static int cmd_acme_renew(struct control_client *c, const struct np_control_request *req, size_t args)
{
	char name[256] = "";
	if (req->count > args)
		snprintf(name, sizeof(name), "%.*s", (int)req->lengths[args], req->words[args]);
	if (!c->server->acme) {
		fprintf(c->out, "error: no certificate is managed by ACME (no port has domains)\n");
		return -1;
	}
	int n = np_acme_renew(c->server->acme, name[0] ? name : NULL);
	if (n == 0) {
		fprintf(c->out, "error: no managed certificate names %s\n", name);
		return -1;
	}
	np_log(LOG_NOTICE, "control: acme renew%s%s: %d certificate%s to order now", name[0] ? " " : "", name, n,
	       n == 1 ? "" : "s");
	fprintf(c->out, "ok: %d certificate%s to order now (acme status shows how it goes)\n", n, n == 1 ? "" : "s");
	return 0;
}

/* The main thread reloads; this client waits for what it says. */
static int cmd_reload(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	char *answer = NULL;
	np_log(LOG_NOTICE, "control: reload asked for");
	int rc = np_reload_ask(c->server->reload, c->server, &answer, NP_CONTROL_RELOAD_WAIT_MS);
	if (rc < 0)
		fputs("error: reload failed; nothing changed\n", c->out);
	fputs(answer ? answer : "error: out of memory for the answer\n", c->out);
	free(answer);
	return rc;
}

static int cmd_ready(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	atomic_store(&c->server->registry.draining, false);
	np_log(LOG_NOTICE, "control: ready: the agent-check reports capacity again");
	fprintf(c->out, "ok: ready\n");
	return 0;
}

/* An instance replacing this one (npsocketd -x) asks for the sockets. */
/* Every listening socket, the agent's and this one, as "NAME:PORT". */
static int send_sockets(struct control_client *c)
{
	struct np_server *server = c->server;
	int fds[NP_UPGRADE_MAX_SOCKETS];
	char (*names)[NP_UPGRADE_NAME_MAX + 8] = calloc(NP_UPGRADE_MAX_SOCKETS, sizeof(*names));
	if (!names)
		return -1;
	size_t n = np_server_sockets(server, fds, names, NP_UPGRADE_MAX_SOCKETS);
	size_t want = n + (server->agent != NULL) + 1;
	if (n > NP_UPGRADE_MAX_SOCKETS)
		n = NP_UPGRADE_MAX_SOCKETS;
	size_t listeners = n;
	int agent_fd = np_agent_fd(server->agent);
	if (agent_fd >= 0 && n < NP_UPGRADE_MAX_SOCKETS) {
		snprintf(names[n], sizeof(names[n]), "agent:%d", np_net_local_port(agent_fd));
		fds[n++] = agent_fd;
	}
	if (n < NP_UPGRADE_MAX_SOCKETS) {
		snprintf(names[n], sizeof(names[n]), "control:0");
		fds[n++] = c->control->fd;
	}
	/* The pid file's descriptor carries its lock over. */
	if (server->pid_fd >= 0 && n < NP_UPGRADE_MAX_SOCKETS) {
		snprintf(names[n], sizeof(names[n]), "pidfile:0");
		fds[n++] = server->pid_fd;
		want++;
	}
	int rc = -1;
	bool copied = true;
	for (size_t i = 0; i < listeners; i++)
		copied = copied && fds[i] >= 0;
	if (!copied)
		errno = EMFILE;
	else if (n < want)
		errno = E2BIG;
	else
		rc = np_upgrade_send(c->fd, fds, names, n);
	int saved = errno;
	for (size_t i = 0; i < listeners; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(names);
	errno = saved;
	return rc;
}

static int cmd_getsockets(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	fflush(c->out);
	if (send_sockets(c) < 0) {
		fprintf(c->out, "error: cannot send the sockets: %s\n", strerror(errno));
		return -1;
	}
	np_log(LOG_NOTICE, "control: listening sockets sent to a new instance");
	return 0;
}

/* ...and, once it accepts, tells this one to stop accepting and drain. */
static int cmd_handover(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	struct np_server *server = c->server;
	if (atomic_exchange(&server->handed_over, true)) {
		fprintf(c->out, "error: already handed over\n");
		return -1;
	}
	np_log(LOG_NOTICE, "control: a new instance accepts on these sockets: stopping accepting, draining");
	fprintf(c->out, "ok: draining\n");
	int err = pthread_kill(server->main_thread, SIGTERM);
	if (err)
		np_log(LOG_ERR, "control: cannot signal the main thread: %s", strerror(err));
	return 0;
}

static const struct np_control_command commands[] = {
	{ { "help" }, 0, "help                 this list", cmd_help },
	{ { "show", "info" }, 0, "show info            process, counters, state", cmd_show_info },
	{ { "show", "sessions" }, 0, "show sessions        one line per live session", cmd_show_sessions },
	{ { "show", "tls" }, 0, "show tls             the certificates each TLS section serves", cmd_show_tls },
	{ { "show", "metrics" }, 0, "show metrics         the Prometheus text of metricsPath", cmd_show_metrics },
	{ { "kill", "session" }, 1, "kill session ID      close one session", cmd_kill_session },
	{ { "kill", "address" }, 1, "kill address ADDR    close every session of a client address or CIDR range",
	  cmd_kill_address },
	{ { "drain" }, 0, "drain                the agent-check says drain; sessions go on", cmd_drain },
	{ { "ready" }, 0, "ready                the agent-check reports capacity again", cmd_ready },
	{ { "acme", "status" }, 0, "acme status          each ACME certificate: names, source, expiry, renewal, errors",
	  cmd_acme_status },
	{ { "acme", "renew" }, -1, "acme renew [NAME]    order now the certificate of NAME (every one without)",
	  cmd_acme_renew },
	{ { "reload" }, 0, "reload               read the configuration again (as SIGHUP) and say how it went",
	  cmd_reload },
	{ { "_getsockets" }, 0, NULL, cmd_getsockets },
	{ { "_handover" }, 0, NULL, cmd_handover },
};

static int cmd_help(struct control_client *c, const struct np_control_request *req, size_t args)
{
	(void)req, (void)args;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].usage)
			fprintf(c->out, "%s\n", commands[i].usage);
	return 0;
}

/* --- the parser ----------------------------------------------------------- */

const struct np_control_command *np_control_parse(const char *line, size_t len, struct np_control_request *req,
						  size_t *args, const char **why)
{
	req->count = 0;
	*args = 0;
	if (len > NP_CONTROL_LINE_MAX) {
		*why = "command longer than 4096 bytes";
		return NULL;
	}
	if (len && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)line[i];
		if (ch == ' ' || ch == '\t') {
			i++;
			continue;
		}
		if (ch < 0x20 || ch >= 0x7f) {
			*why = "not a text command";
			return NULL;
		}
		if (req->count == NP_CONTROL_WORDS_MAX) {
			*why = "too many words";
			return NULL;
		}
		size_t start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' && (unsigned char)line[i] >= 0x20 &&
		       (unsigned char)line[i] < 0x7f)
			i++;
		req->words[req->count] = line + start;
		req->lengths[req->count++] = i - start;
	}
	if (req->count == 0) {
		*why = "empty command";
		return NULL;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct np_control_command *c = &commands[i];
		size_t n = 0;
		while (n < 3 && c->words[n])
			n++;
		if (req->count < n)
			continue;
		bool match = true;
		for (size_t w = 0; w < n && match; w++)
			match = req->lengths[w] == strlen(c->words[w]) && memcmp(req->words[w], c->words[w], req->lengths[w]) == 0;
		if (!match)
			continue;
		/* args < 0: up to -args of them. */
		if (c->args >= 0 ? req->count != n + (size_t)c->args : req->count > n + (size_t)-c->args) {
			*why = c->args ? "missing or extra arguments (see help)" : "this command takes no arguments";
			return NULL;
		}
		*args = n;
		return c;
	}
	*why = "unknown command (try help)";
	return NULL;
}

const char *np_control_command_name(const struct np_control_command *command)
{
	return command->words[0];
}

/* --- connections ---------------------------------------------------------- */

static void send_answer(struct control_client *c, const char *text, size_t len)
{
	/* A client that left mid-answer: nothing else to do. */
	if (np_net_send_all(c->fd, text, len) < 0)
		np_log(LOG_DEBUG, "control: answer not sent whole: %s", strerror(errno));
}

/* One command; false when the connection is to be closed. */
static bool run_line(struct control_client *c, const char *line, size_t len)
{
	char *text = NULL;
	size_t text_len = 0;
	c->out = open_memstream(&text, &text_len);
	if (!c->out) {
		static const char oom[] = "error: out of memory\n\n";
		send_answer(c, oom, sizeof(oom) - 1);
		return false;
	}
	struct np_control_request req;
	size_t args;
	const char *why;
	const struct np_control_command *command = np_control_parse(line, len, &req, &args, &why);
	if (command)
		command->run(c, &req, args);
	else
		fprintf(c->out, "error: %s\n", why);
	fputc('\n', c->out);
	bool ok = fclose(c->out) == 0;
	c->out = NULL;
	if (ok)
		send_answer(c, text, text_len);
	free(text);
	return ok;
}

static void serve_client(struct control_client *c)
{
	static const char too_long[] = "error: command longer than 4096 bytes\n\n";
	char *buf = malloc(NP_CONTROL_LINE_MAX + 1);
	size_t have = 0;
	if (!buf)
		return;
	for (;;) {
		char *lf = memchr(buf, '\n', have);
		if (lf) {
			size_t len = (size_t)(lf - buf);
			if (!run_line(c, buf, len))
				break;
			memmove(buf, lf + 1, have - len - 1);
			have -= len + 1;
			continue;
		}
		if (have == NP_CONTROL_LINE_MAX + 1) {
			send_answer(c, too_long, sizeof(too_long) - 1);
			break;
		}
		ssize_t n = recv(c->fd, buf + have, NP_CONTROL_LINE_MAX + 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;  /* closed, idle past NP_CONTROL_IDLE_S, or shut down by the stop */
		have += (size_t)n;
	}
	free(buf);
}

static void *client_main(void *arg)
{
	struct control_client *c = arg;
	struct np_control *control = c->control;
	pthread_setname_np(pthread_self(), "control");
	serve_client(c);
	pthread_mutex_lock(&control->lock);
	control->clients[c->slot] = -1;
	control->count--;
	pthread_cond_broadcast(&control->changed);
	pthread_mutex_unlock(&control->lock);
	close(c->fd);
	free(c);
	return NULL;
}

static void start_client(struct np_control *control, int fd)
{
	static const char busy[] = "error: too many control clients\n\n";
	struct timeval tv = { .tv_sec = NP_CONTROL_IDLE_S };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		np_log(LOG_WARNING, "control: setsockopt: %s", strerror(errno));
	struct control_client *c = calloc(1, sizeof(*c));
	pthread_mutex_lock(&control->lock);
	size_t slot = 0;
	while (slot < NP_CONTROL_CLIENTS_MAX && control->clients[slot] >= 0)
		slot++;
	if (!c || slot == NP_CONTROL_CLIENTS_MAX || atomic_load(&control->stop)) {
		pthread_mutex_unlock(&control->lock);
		if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			np_log(LOG_DEBUG, "control: %s", strerror(errno));
		close(fd);
		free(c);
		return;
	}
	control->clients[slot] = fd;
	control->count++;
	pthread_mutex_unlock(&control->lock);
	*c = (struct control_client){ .control = control, .server = control->server, .fd = fd, .slot = slot };
	int err = np_thread_start_detached(client_main, c, 256 * 1024);
	if (err) {
		np_log(LOG_ERR, "control: cannot start a thread: %s", strerror(err));
		pthread_mutex_lock(&control->lock);
		control->clients[slot] = -1;
		control->count--;
		pthread_mutex_unlock(&control->lock);
		close(fd);
		free(c);
	}
}

static void *control_main(void *arg)
{
	struct np_control *control = arg;
	pthread_setname_np(pthread_self(), "control-acc");
	np_accepter_thread_setup();
	while (!atomic_load(&control->stop)) {
		int fd = accept4(control->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			start_client(control, fd);
		} else if (errno != EINTR && errno != ECONNABORTED) {
			np_log_ratelimited(&control->server->accept_error_log, LOG_ERR, "control accept: %s",
					   strerror(errno));
			np_sleep_ms(100);
		}
	}
	return NULL;
}

/* --- life ----------------------------------------------------------------- */

static int bind_control(const char *path)
{
	struct sockaddr_un sun;
	if (!np_net_unix_address(path, &sun)) {
		np_log(LOG_ERR, "[Server] controlSocket %s: longer than %zu bytes", path, NP_UNIX_PATH_MAX);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		np_log(LOG_ERR, "[Server] controlSocket: socket: %s", strerror(errno));
		return -1;
	}
	/* A socket left by an instance that died is removed; one that
	 * answers belongs to a running instance (take it over with -x). */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			np_log(LOG_ERR, "[Server] controlSocket %s: a running instance listens there "
			       "(npsocketd -x %s takes its sockets over)", path, path);
			close(fd);
			return -1;
		}
		unlink(path);
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			np_log(LOG_ERR, "[Server] controlSocket: socket: %s", strerror(errno));
			return -1;
		}
	}
	/* 0600 from the start: no moment where others may connect.  No
	 * thread runs yet, so the umask is ours to change. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		np_log(LOG_ERR, "[Server] controlSocket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int np_control_open(struct np_server *server, struct np_control **out)
{
	const char *path = server->config->server.control_socket;
	*out = NULL;
	if (!path)
		return 0;
	struct np_control *control = calloc(1, sizeof(*control));
	if (!control || pthread_mutex_init(&control->lock, NULL)) {
		np_log(LOG_ERR, "[Server] controlSocket: out of memory");
		free(control);
		return -1;
	}
	if (pthread_cond_init(&control->changed, NULL)) {
		np_log(LOG_ERR, "[Server] controlSocket: cannot create its condition");
		pthread_mutex_destroy(&control->lock);
		free(control);
		return -1;
	}
	control->server = server;
	control->path = path;
	for (size_t i = 0; i < NP_CONTROL_CLIENTS_MAX; i++)
		control->clients[i] = -1;
	/* The socket of the instance this one replaces, at the same path. */
	control->fd = server->upgrade_from && strcmp(server->upgrade_from, path) == 0
			      ? np_upgrade_take(&server->inherited, "control", NULL, 0) : -1;
	if (control->fd < 0)
		control->fd = bind_control(path);
	if (control->fd < 0) {
		pthread_cond_destroy(&control->changed);
		pthread_mutex_destroy(&control->lock);
		free(control);
		return -1;
	}
	np_log(LOG_NOTICE, "control socket %s", path);
	*out = control;
	return 0;
}

int np_control_start(struct np_control *control)
{
	if (!control || control->running)
		return 0;
	int err = pthread_create(&control->thread, NULL, control_main, control);
	if (err) {
		np_log(LOG_ERR, "cannot start the control thread: %s", strerror(err));
		return -1;
	}
	control->running = true;
	return 0;
}

void np_control_stop(struct np_control *control)
{
	if (!control)
		return;
	atomic_store(&control->stop, true);
	if (control->running)
		np_accepter_join(control->thread, "control");
	control->running = false;
	pthread_mutex_lock(&control->lock);
	for (size_t i = 0; i < NP_CONTROL_CLIENTS_MAX; i++)
		if (control->clients[i] >= 0)
			shutdown(control->clients[i], SHUT_RDWR);
	while (control->count > 0)
		pthread_cond_wait(&control->changed, &control->lock);
	pthread_mutex_unlock(&control->lock);
}

void np_control_free(struct np_control *control)
{
	if (!control)
		return;
	np_control_stop(control);
	close(control->fd);
	if (!atomic_load(&control->server->handed_over) && unlink(control->path) < 0 && errno != ENOENT)
		np_log(LOG_WARNING, "cannot remove control socket %s: %s", control->path, strerror(errno));
	pthread_cond_destroy(&control->changed);
	pthread_mutex_destroy(&control->lock);
	free(control);
}
