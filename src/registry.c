/* SPDX-License-Identifier: ISC */
/*
 * registry.c - the live sessions (registry.h): admission under one lock,
 * a doubly linked list for O(1) removal, per-address counts in a hash
 * table, snapshots and kills for the control path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "tls.h"

const char *const np_refusal_text[NP_REFUSALS] = {
	[NP_REFUSED_ADDRESS] = "address not allowed",
	[NP_REFUSED_PROXY_FROM] = "PROXY header not taken from this address (proxyFrom)",
	[NP_REFUSED_SERVER_FULL] = "maxConnections of [Server] reached",
	[NP_REFUSED_PORT_FULL] = "maxConnections of the port reached",
	[NP_REFUSED_ADDRESS_FULL] = "maxConnectionsPerAddress reached",
	[NP_REFUSED_MEMORY] = "out of memory",
	[NP_REFUSED_MAX_MEMORY] = "maxMemory reached (resident memory)",
	[NP_REFUSED_ADDRESS_SPACE] = "address space near RLIMIT_AS",
	[NP_REFUSED_DESCRIPTORS] = "no descriptor left (RLIMIT_NOFILE or the system's)",
};
const char *const np_refusal_label[NP_REFUSALS] = {
	[NP_REFUSED_ADDRESS] = "address",
	[NP_REFUSED_PROXY_FROM] = "proxy_from",
	[NP_REFUSED_SERVER_FULL] = "max_connections",
	[NP_REFUSED_PORT_FULL] = "port_max_connections",
	[NP_REFUSED_ADDRESS_FULL] = "max_connections_per_address",
	[NP_REFUSED_MEMORY] = "memory",
	[NP_REFUSED_MAX_MEMORY] = "max_memory",
	[NP_REFUSED_ADDRESS_SPACE] = "address_space",
	[NP_REFUSED_DESCRIPTORS] = "descriptors",
};

enum np_refusal np_registry_refused(struct np_registry *reg, const char *why)
{
	enum np_refusal r = NP_REFUSED_MEMORY;
	for (int i = 0; i < NP_REFUSALS; i++)
		if (why == np_refusal_text[i] || strcmp(why, np_refusal_text[i]) == 0)
			r = (enum np_refusal)i;
	atomic_fetch_add(&reg->refused, 1);
	atomic_fetch_add(&reg->refused_by[r], 1);
	return r;
}

int np_registry_init(struct np_registry *reg, int max_connections)
{
	memset(reg, 0, sizeof(*reg));
	reg->memory.statm_fd = -1;
	np_turns_init(&reg->turns, 0);
	reg->max_connections = max_connections;
	reg->started_unix = (int64_t)time(NULL);
	pthread_condattr_t cattr;
	if (pthread_mutex_init(&reg->lock, NULL) || pthread_condattr_init(&cattr) ||
	    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC) || pthread_cond_init(&reg->changed, &cattr)) {
		np_log(LOG_ERR, "cannot create the registry lock");
		return -1;
	}
	pthread_condattr_destroy(&cattr);
	if (np_addr_counts_init(&reg->per_address) < 0) {
		np_log(LOG_ERR, "out of memory for the per-address connection counts");
		return -1;
	}
	return 0;
}

void np_registry_destroy(struct np_registry *reg)
{
	np_memory_guard_close(&reg->memory);
	for (size_t i = 0; i < reg->alpn_count; i++) {
		free(reg->alpn[i].cert);
		free(reg->alpn[i].key);
	}
	free(reg->http01_dir);
	free(reg->alpn01_dir);
	free(reg->ports);
	np_addr_counts_free(&reg->per_address);
	pthread_cond_destroy(&reg->changed);
	pthread_mutex_destroy(&reg->lock);
}

/* Under the lock: the session's address counted for its port's
 * maxConnectionsPerAddress; NULL, or why not. */
static const char *take_address(struct np_registry *reg, struct np_session *session,
				struct np_port_counts *counts)
{
	if (counts->max_connections_per_address <= 0)
		return NULL;
	int rc = np_addr_counts_take(&reg->per_address, counts, &session->peer_addr,
				     (unsigned)counts->max_connections_per_address, &session->addr_slot);
	return rc > 0 ? np_refusal_text[NP_REFUSED_ADDRESS_FULL] : rc < 0 ? np_refusal_text[NP_REFUSED_MEMORY] : NULL;
}

const char *np_registry_admit(struct np_registry *reg, struct np_session *session, struct np_port_counts *counts,
			      bool per_address)
{
	const char *why = NULL;
	pthread_mutex_lock(&reg->lock);
	if (reg->max_connections > 0 && reg->active >= (size_t)reg->max_connections) {
		why = np_refusal_text[NP_REFUSED_SERVER_FULL];
	} else if (counts->max_connections > 0 && counts->active >= (size_t)counts->max_connections) {
		why = np_refusal_text[NP_REFUSED_PORT_FULL];
	} else if (per_address) {
		/* Last: a connection counted here is admitted. */
		why = take_address(reg, session, counts);
	}
	if (!why) {
		session->id = ++reg->next_id;
		session->counts = counts;
		session->prev = NULL;
		session->next = reg->sessions;
		if (reg->sessions)
			reg->sessions->prev = session;
		reg->sessions = session;
		reg->active++;
		counts->active++;
	}
	pthread_mutex_unlock(&reg->lock);
	return why;
}

const char *np_registry_readdress(struct np_registry *reg, struct np_session *session,
				  const struct sockaddr_storage *client, const char *client_text, const char *via)
{
	pthread_mutex_lock(&reg->lock);
	snprintf(session->via, sizeof(session->via), "%s", via);
	snprintf(session->peer, sizeof(session->peer), "%s", client_text);
	session->peer_addr = *client;
	const char *why = take_address(reg, session, session->counts);
	pthread_mutex_unlock(&reg->lock);
	return why;
}

void np_registry_remove(struct np_registry *reg, struct np_session *session)
{
	pthread_mutex_lock(&reg->lock);
	if (session->prev)
		session->prev->next = session->next;
	else
		reg->sessions = session->next;
	if (session->next)
		session->next->prev = session->prev;
	reg->active--;
	session->counts->active--;
	struct np_session_counts c;
	np_session_counts(session, &c);
	reg->ended_bytes_in += c.bytes_in;
	reg->ended_bytes_out += c.bytes_out;
	reg->ended_transactions_in += c.transactions_in;
	reg->ended_transactions_out += c.transactions_out;
	if (session->addr_slot)
		np_addr_counts_give(&reg->per_address, session->addr_slot);
	pthread_cond_broadcast(&reg->changed);
	pthread_mutex_unlock(&reg->lock);
}

size_t np_registry_foreach(struct np_registry *reg,
			   void (*fn)(const struct np_session_info *info, void *arg), void *arg)
{
	size_t n = 0;
	struct np_session_info info;
	pthread_mutex_lock(&reg->lock);
	for (const struct np_session *s = reg->sessions; s; s = s->next, n++) {
		np_session_snapshot(s, &info);
		fn(&info, arg);
	}
	pthread_mutex_unlock(&reg->lock);
	return n;
}

/* Under the lock.  shutdown(2) on the fd wakes the session's thread
 * wherever it waits (the fd stays open until that thread frees it). */
static void kill_one(struct np_session *s, const char *why)
{
	const char *none = NULL;
	atomic_compare_exchange_strong(&s->killed, &none, why);
	if (shutdown(s->fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
		np_log(LOG_WARNING, "conn %llu: shutdown: %s", (unsigned long long)s->id, strerror(errno));
	/* A relay to an upstream may wait on that side only. */
	if (s->upstream_fd >= 0 && shutdown(s->upstream_fd, SHUT_RDWR) < 0 && errno != ENOTCONN)
		np_log(LOG_WARNING, "conn %llu: shutdown of its upstream: %s", (unsigned long long)s->id,
		       strerror(errno));
}

void np_registry_set_upstream(struct np_registry *reg, struct np_session *session, int fd)
{
	pthread_mutex_lock(&reg->lock);
	session->upstream_fd = fd;
	/* Killed before it was known: the upstream goes the same way. */
	if (fd >= 0 && atomic_load(&session->killed))
		(void)shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&reg->lock);
}

int np_registry_kill(struct np_registry *reg, uint64_t id, const char *why)
{
	int rc = -1;
	pthread_mutex_lock(&reg->lock);
	for (struct np_session *s = reg->sessions; s; s = s->next)
		if (s->id == id) {
			kill_one(s, why);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

size_t np_registry_kill_all(struct np_registry *reg, const char *why)
{
	size_t n = 0;
	pthread_mutex_lock(&reg->lock);
	for (struct np_session *s = reg->sessions; s; s = s->next, n++)
		kill_one(s, why);
	pthread_mutex_unlock(&reg->lock);
	return n;
}

size_t np_registry_kill_address(struct np_registry *reg, const struct np_cidr *range, const char *why)
{
	struct np_cidr_list one = { .ranges = (struct np_cidr *)range, .count = 1 };
	size_t n = 0;
	pthread_mutex_lock(&reg->lock);
	for (struct np_session *s = reg->sessions; s; s = s->next)
		if (np_cidr_list_match(&one, (const struct sockaddr *)&s->peer_addr)) {
			kill_one(s, why);
			n++;
		}
	pthread_mutex_unlock(&reg->lock);
	return n;
}

size_t np_registry_wait_empty(struct np_registry *reg, int timeout_ms)
{
	struct timespec until = np_time_in(CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&reg->lock);
	while (reg->active > 0)
		if (pthread_cond_timedwait(&reg->changed, &reg->lock, &until) == ETIMEDOUT)
			break;
	size_t left = reg->active;
	pthread_mutex_unlock(&reg->lock);
	return left;
}

void np_registry_stats(struct np_registry *reg, struct np_registry_stats *out)
{
	pthread_mutex_lock(&reg->lock);
	out->active = reg->active;
	out->max_connections = reg->max_connections;
	out->sessions_total = reg->next_id;
	out->ended_bytes_in = reg->ended_bytes_in;
	out->ended_bytes_out = reg->ended_bytes_out;
	out->ended_transactions_in = reg->ended_transactions_in;
	out->ended_transactions_out = reg->ended_transactions_out;
	out->started_unix = reg->started_unix;
	pthread_mutex_unlock(&reg->lock);
	out->accepted = atomic_load(&reg->accepted);
	out->refused = atomic_load(&reg->refused);
	for (int i = 0; i < NP_REFUSALS; i++)
		out->refused_by[i] = atomic_load(&reg->refused_by[i]);
	out->handshakes_ok = atomic_load(&reg->handshakes_ok);
	out->handshakes_failed = atomic_load(&reg->handshakes_failed);
	out->reloads_ok = atomic_load(&reg->reloads_ok);
	out->reloads_failed = atomic_load(&reg->reloads_failed);
	out->thread_failures = atomic_load(&reg->thread_failures);
	out->accept_errors = atomic_load(&reg->accept_errors);
	out->running_threads = atomic_load(&reg->turns.limit);
	out->turn_waits = atomic_load(&reg->turns.waits);
	out->turn_stalls = atomic_load(&reg->turns.stalls);
}

static const char *const stage_names[] = { "admitted", "handshake", "protocol", "running" };

/* Formats one session's line into the stream the log is written from
 * later: the registry's lock is held here, and a log write may block. */
static void format_session(const struct np_session_info *info, void *arg)
{
	FILE *out = arg;
	fprintf(out, "session %llu: listener=%s port=%d peer=%s protocol=%s stage=%s tls=%s/%s "
		"idle=%lld.%03llds in=%llu out=%llu transactions=%llu/%llu\n",
		(unsigned long long)info->id, info->listener, info->port, info->peer, info->protocol,
		stage_names[info->stage], info->tls && info->tls->version ? info->tls->version : "-",
		info->tls && info->tls->cipher ? info->tls->cipher : "-", (long long)(info->idle_ms / 1000),
		(long long)(info->idle_ms % 1000), (unsigned long long)info->bytes_in,
		(unsigned long long)info->bytes_out, (unsigned long long)info->transactions_in,
		(unsigned long long)info->transactions_out);
}

void np_registry_log(struct np_registry *reg, const char *why)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out) {
		np_log(LOG_ERR, "%s: cannot list the sessions: %s", why, strerror(errno));
		return;
	}
	np_registry_foreach(reg, format_session, out);
	if (fclose(out) != 0) {
		np_log(LOG_ERR, "%s: out of memory listing the sessions", why);
		free(text);
		return;
	}
	struct np_registry_stats stats;
	np_registry_stats(reg, &stats);
	np_log(LOG_NOTICE, "%s: %zu session%s open; %llu accepted, %llu refused, %llu accept errors, "
	       "%llu thread failures", why, stats.active, stats.active == 1 ? "" : "s",
	       (unsigned long long)stats.accepted, (unsigned long long)stats.refused,
	       (unsigned long long)stats.accept_errors, (unsigned long long)stats.thread_failures);
	for (char *line = text, *end; line && *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			break;
		np_log(LOG_NOTICE, "%.*s", (int)(end - line), line);
	}
	free(text);
}

static bool token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int np_registry_challenge_set(struct np_registry *reg, const char *token, const char *answer)
{
	size_t tlen = strlen(token);
	if (tlen == 0 || tlen > NP_CHALLENGE_TOKEN_MAX)
		return -1;
	for (size_t i = 0; i < tlen; i++)
		if (!token_char(token[i]))
			return -1;
	if (answer) {
		size_t alen = strlen(answer);
		if (alen == 0 || alen > NP_CHALLENGE_ANSWER_MAX)
			return -1;
		for (size_t i = 0; i < alen; i++)
			if (answer[i] < 0x21 || answer[i] > 0x7e)
				return -1;
	}
	int rc = 0;
	pthread_mutex_lock(&reg->lock);
	size_t i = 0;
	while (i < reg->challenge_count && strcmp(reg->challenges[i].token, token) != 0)
		i++;
	if (!answer) {
		if (i < reg->challenge_count)
			reg->challenges[i] = reg->challenges[--reg->challenge_count];
	} else if (i == reg->challenge_count && i == NP_CHALLENGES_MAX) {
		rc = -1;
	} else {
		if (i == reg->challenge_count)
			reg->challenge_count++;
		memcpy(reg->challenges[i].token, token, tlen + 1);
		snprintf(reg->challenges[i].answer, sizeof(reg->challenges[i].answer), "%s", answer);
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int np_registry_set_challenge_dirs(struct np_registry *reg, const char *http01, const char *alpn01)
{
	free(reg->http01_dir);
	free(reg->alpn01_dir);
	reg->http01_dir = http01 ? strdup(http01) : NULL;
	reg->alpn01_dir = alpn01 ? strdup(alpn01) : NULL;
	return (http01 && !reg->http01_dir) || (alpn01 && !reg->alpn01_dir) ? -1 : 0;
}

/* A small file (an answer another instance left), NUL-terminated, at
 * most max bytes: its length, or -1. */
static ssize_t read_small(const char *dir, const char *name, const char *suffix, char *out, size_t max)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix) >= (int)sizeof(path))
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, out + got, max + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got > max)
			break;
	}
	close(fd);
	if (got == 0 || got > max)
		return -1;
	out[got] = '\0';
	return (ssize_t)got;
}

bool np_registry_challenge_get(struct np_registry *reg, const char *token, size_t token_len, char *out)
{
	bool found = false;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->challenge_count && !found; i++) {
		const struct np_challenge *c = &reg->challenges[i];
		if (strlen(c->token) == token_len && memcmp(c->token, token, token_len) == 0) {
			memcpy(out, c->answer, sizeof(c->answer));
			found = true;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	/* Another instance's order: its answer in the shared directory. */
	if (!found && reg->http01_dir && token_len > 0 && token_len <= NP_CHALLENGE_TOKEN_MAX) {
		char name[NP_CHALLENGE_TOKEN_MAX + 1];
		bool ok = true;
		for (size_t i = 0; i < token_len && ok; i++)
			ok = token_char(token[i]);
		if (ok) {
			memcpy(name, token, token_len);
			name[token_len] = '\0';
			ssize_t n = read_small(reg->http01_dir, name, "", out, NP_CHALLENGE_ANSWER_MAX);
			for (ssize_t i = 0; n > 0 && i < n; i++)
				if (out[i] < 0x21 || out[i] > 0x7e)
					n = -1;
			found = n > 0;
		}
	}
	return found;
}

static char *copy_bytes(const char *p, size_t n)
{
	char *c = malloc(n + 1);
	if (c) {
		memcpy(c, p, n);
		c[n] = '\0';
	}
	return c;
}

int np_registry_alpn_set(struct np_registry *reg, const char *name, const char *cert, size_t cert_len,
			 const char *key, size_t key_len)
{
	if (strlen(name) > NP_ALPN_NAME_MAX)
		return -1;
	char *c = cert ? copy_bytes(cert, cert_len) : NULL, *k = cert ? copy_bytes(key, key_len) : NULL;
	if (cert && (!c || !k)) {
		free(c);
		free(k);
		return -1;
	}
	int rc = 0;
	pthread_mutex_lock(&reg->lock);
	size_t i = 0;
	while (i < reg->alpn_count && strcasecmp(reg->alpn[i].name, name) != 0)
		i++;
	if (i < reg->alpn_count) {
		free(reg->alpn[i].cert);
		free(reg->alpn[i].key);
		if (!cert)
			reg->alpn[i] = reg->alpn[--reg->alpn_count];
	} else if (cert && i == NP_ALPN_CHALLENGES_MAX) {
		rc = -1;
	} else if (cert) {
		reg->alpn_count++;
	}
	if (cert && rc == 0) {
		snprintf(reg->alpn[i].name, sizeof(reg->alpn[i].name), "%s", name);
		reg->alpn[i].cert = c;
		reg->alpn[i].key = k;
		reg->alpn[i].cert_len = cert_len;
		reg->alpn[i].key_len = key_len;
	}
	atomic_store(&reg->alpn_pending, reg->alpn_count);
	pthread_mutex_unlock(&reg->lock);
	if (rc < 0) {
		free(c);
		free(k);
	}
	return rc;
}

bool np_registry_alpn_get(struct np_registry *reg, const char *name, char **cert, size_t *cert_len, char **key,
			  size_t *key_len)
{
	bool found = false;
	*cert = *key = NULL;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->alpn_count && !found; i++) {
		const struct np_alpn_challenge *a = &reg->alpn[i];
		if (strcasecmp(a->name, name) != 0)
			continue;
		*cert = copy_bytes(a->cert, a->cert_len);
		*key = copy_bytes(a->key, a->key_len);
		*cert_len = a->cert_len;
		*key_len = a->key_len;
		found = *cert && *key;
	}
	pthread_mutex_unlock(&reg->lock);
	/* Another instance's: NAME.crt and NAME.key in the shared directory
	 * (name as the TLS layer read it from the SNI: a DNS name). */
	bool dns = strlen(name) <= NP_ALPN_NAME_MAX && name[0] && name[0] != '.';
	for (const char *p = name; dns && *p; p++)
		dns = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.';
	if (!found && reg->alpn01_dir && dns) {
		enum { PEM_MAX = 16384 };
		char *c = malloc(PEM_MAX + 1), *k = malloc(PEM_MAX + 1);
		ssize_t cl = c && k ? read_small(reg->alpn01_dir, name, ".crt", c, PEM_MAX) : -1;
		ssize_t kl = cl > 0 ? read_small(reg->alpn01_dir, name, ".key", k, PEM_MAX) : -1;
		if (kl > 0) {
			*cert = c;
			*key = k;
			*cert_len = (size_t)cl;
			*key_len = (size_t)kl;
			return true;
		}
		free(c);
		free(k);
	}
	if (!found) {
		free(*cert);
		free(*key);
		*cert = *key = NULL;
	}
	return found;
}

bool np_registry_challenges_pending(struct np_registry *reg)
{
	pthread_mutex_lock(&reg->lock);
	bool pending = reg->challenge_count > 0;
	pthread_mutex_unlock(&reg->lock);
	return pending;
}

void np_registry_set_max_connections(struct np_registry *reg, int max_connections)
{
	pthread_mutex_lock(&reg->lock);
	reg->max_connections = max_connections;
	pthread_mutex_unlock(&reg->lock);
}

/* Under the lock. */
static void port_set(struct np_port_counts *counts, const struct np_port_facts *facts)
{
	snprintf(counts->name, sizeof(counts->name), "%s", facts->name);
	counts->port = facts->port;
	counts->tls = facts->tls;
	counts->max_connections = facts->max_connections;
	counts->max_connections_per_address = facts->max_connections_per_address;
	counts->fd = facts->fd;
}

void np_registry_port_closed(struct np_registry *reg, struct np_port_counts *counts)
{
	pthread_mutex_lock(&reg->lock);
	counts->fd = -1;
	pthread_mutex_unlock(&reg->lock);
}

struct np_port_counts *np_registry_port_new(struct np_registry *reg, const struct np_port_facts *facts)
{
	struct np_port_counts *counts = calloc(1, sizeof(*counts));
	if (!counts)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	struct np_port_counts **grown = realloc(reg->ports, (reg->port_count + 1) * sizeof(*grown));
	if (grown) {
		port_set(counts, facts);
		counts->refs = 1;
		grown[reg->port_count++] = counts;
		reg->ports = grown;
	}
	pthread_mutex_unlock(&reg->lock);
	if (!grown) {
		free(counts);
		return NULL;
	}
	return counts;
}

void np_registry_port_ref(struct np_registry *reg, struct np_port_counts *counts)
{
	pthread_mutex_lock(&reg->lock);
	counts->refs++;
	pthread_mutex_unlock(&reg->lock);
}

void np_registry_port_update(struct np_registry *reg, struct np_port_counts *counts,
			     const struct np_port_facts *facts)
{
	pthread_mutex_lock(&reg->lock);
	port_set(counts, facts);
	pthread_mutex_unlock(&reg->lock);
}

void np_registry_port_unref(struct np_registry *reg, struct np_port_counts *counts)
{
	if (!counts)
		return;
	pthread_mutex_lock(&reg->lock);
	bool last = --counts->refs == 0;
	if (last) {
		size_t kept = 0;
		for (size_t i = 0; i < reg->port_count; i++)
			if (reg->ports[i] != counts)
				reg->ports[kept++] = reg->ports[i];
		reg->port_count = kept;
	}
	pthread_mutex_unlock(&reg->lock);
	if (last)
		free(counts);
}

void np_registry_foreach_port(struct np_registry *reg, void (*fn)(const struct np_port_counts *port, void *arg),
			      void *arg)
{
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->port_count; i++) {
		/* The accept queue, as the kernel tells it of a listening
		 * socket: tcpi_unacked waiting, tcpi_sacked the backlog. */
		struct np_port_counts copy = *reg->ports[i];
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		if (copy.fd >= 0 && getsockopt(copy.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
			copy.queued = ti.tcpi_unacked;
			copy.queue_max = ti.tcpi_sacked;
		}
		fn(&copy, arg);
	}
	pthread_mutex_unlock(&reg->lock);
}

void np_registry_set_certs(struct np_registry *reg, const char *section, const struct np_cert_info *certs,
			   size_t count)
{
	pthread_mutex_lock(&reg->lock);
	size_t kept = 0;
	for (size_t i = 0; i < reg->cert_count; i++)
		if (strcmp(reg->certs[i].section, section) != 0)
			reg->certs[kept++] = reg->certs[i];
	for (size_t i = 0; i < count && kept < NP_REGISTRY_CERTS_MAX; i++)
		reg->certs[kept++] = certs[i];
	reg->cert_count = kept;
	pthread_mutex_unlock(&reg->lock);
}

void np_registry_set_acme(struct np_registry *reg, const struct np_acme_info *info, size_t count)
{
	pthread_mutex_lock(&reg->lock);
	reg->acme_count = count < NP_REGISTRY_ACME_MAX ? count : NP_REGISTRY_ACME_MAX;
	memcpy(reg->acme, info, reg->acme_count * sizeof(*info));
	reg->acme_used = true;
	pthread_mutex_unlock(&reg->lock);
}

size_t np_registry_acme(struct np_registry *reg, struct np_acme_info *out, size_t max, bool *used)
{
	pthread_mutex_lock(&reg->lock);
	size_t n = reg->acme_count < max ? reg->acme_count : max;
	memcpy(out, reg->acme, n * sizeof(*out));
	*used = reg->acme_used;
	pthread_mutex_unlock(&reg->lock);
	return n;
}

size_t np_registry_certs(struct np_registry *reg, struct np_cert_info *out, size_t max)
{
	pthread_mutex_lock(&reg->lock);
	size_t n = reg->cert_count < max ? reg->cert_count : max;
	memcpy(out, reg->certs, n * sizeof(*out));
	pthread_mutex_unlock(&reg->lock);
	return n;
}

struct cert_list {
	struct np_cert_info certs[16];
	size_t count;
	const char *section;
};

static void add_cert(const char *subject, time_t not_after, void *arg)
{
	struct cert_list *list = arg;
	if (list->count == sizeof(list->certs) / sizeof(list->certs[0]))
		return;
	struct np_cert_info *c = &list->certs[list->count++];
	snprintf(c->section, sizeof(c->section), "%s", list->section);
	snprintf(c->subject, sizeof(c->subject), "%s", subject);
	c->not_after = (int64_t)not_after;
}

void np_registry_publish_certs(struct np_registry *reg, const char *section, struct np_tls_context *ctx)
{
	struct cert_list list = { .section = section };
	np_tls_context_foreach_cert(ctx, add_cert, &list);
	np_registry_set_certs(reg, section, list.certs, list.count);
}
