/* SPDX-License-Identifier: ISC */
/*
 * registry_test.c - the registry of live sessions (src/registry.c) with
 * real sessions over socketpairs: admission by the global, per-port and
 * per-address limits, ids, snapshots of every session (taken from
 * another thread while the session's own thread counts: ThreadSanitizer
 * runs this too), ending one session by id, stats, and removal.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "registry.h"
#include "tap.h"

static struct np_config *load_config(void)
{
	char path[] = "/tmp/registry_test-XXXXXX.ini";
	int fd = mkstemps(path, 4);
	const char text[] = "[Port]\nport = 9000\n";
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
		exit(2);
	close(fd);
	struct np_config *config = np_config_load(path, stderr);
	unlink(path);
	if (!config)
		exit(2);
	return config;
}

/* A session whose server end is fds[0]; the client end goes to *client. */
static struct np_session *new_session(struct np_config *config, const char *ip, int *client)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		exit(2);
	struct sockaddr_in6 peer = { .sin6_family = AF_INET6, .sin6_port = htons(40000) };
	if (inet_pton(AF_INET6, ip, &peer.sin6_addr) != 1)
		exit(2);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &peer, sizeof(peer));
	struct np_session *s = np_session_new(config, &config->ports[0], sv[0], &ss, ip);
	if (!s)
		exit(2);
	*client = sv[1];
	return s;
}

/* What the session's own thread does once it runs: a socket and framing. */
static void open_session(struct np_session *s)
{
	struct np_comm_options options = { .max_transaction_size = 1 << 20, .compression_level = 6 };
	s->socket = np_socket_plain_new(s->fd);
	if (!s->socket || np_comm_init(&s->comm, s->socket, &options) < 0)
		exit(2);
	np_socket_set_timeout(s->socket, 5000);
	np_session_set_stage(s, NP_STAGE_HANDSHAKE);
	np_session_set_protocol(s, "client");
	np_session_set_stage(s, NP_STAGE_RUNNING);
}

struct seen {
	int count;
	uint64_t ids[8];
	struct np_session_info last[8];
};

static void collect(const struct np_session_info *info, void *arg)
{
	struct seen *seen = arg;
	if (seen->count < 8) {
		seen->ids[seen->count] = info->id;
		seen->last[seen->count] = *info;
	}
	seen->count++;
}

#define ROUNDS 2000

/* The session's thread: a transaction in and one out, ROUNDS times. */
struct echo {
	struct np_session *s;
	int client;
	int failed;
};

static void *echo_rounds(void *arg)
{
	struct echo *e = arg;
	struct np_transaction t;
	for (int i = 0; i < ROUNDS; i++)
		if (np_comm_read_transaction(&e->s->comm, &t) < 0 ||
		    np_comm_write_transaction(&e->s->comm, t.payload, t.length) < 0)
			e->failed++;
	return NULL;
}

static void *client_rounds(void *arg)
{
	struct echo *e = arg;
	unsigned char frame[4 + 8] = { 0, 0, 0, 8, 'r', 'e', 'g', 'i', 's', 't', 'r', 'y' }, back[12];
	for (int i = 0; i < ROUNDS; i++) {
		size_t got = 0;
		if (send(e->client, frame, sizeof(frame), 0) != (ssize_t)sizeof(frame))
			e->failed++;
		while (got < sizeof(back)) {
			ssize_t n = recv(e->client, back + got, sizeof(back) - got, 0);
			if (n <= 0) {
				e->failed++;
				return NULL;
			}
			got += (size_t)n;
		}
	}
	return NULL;
}

/* The readers behind the memory bound (memory.h). */
static void test_memory_readers(void)
{
	uint64_t size = 0, rss = 0, max = 1;
	const char statm[] = "10225 3007 2220 233 0 1440 0\n";
	ok(np_memory_parse_statm(statm, strlen(statm), &size, &rss) && size == 10225 && rss == 3007,
	   "statm: size and resident pages");
	ok(!np_memory_parse_statm("10225", 5, &size, &rss), "statm: one field only is refused");
	ok(!np_memory_parse_statm("x 1", 3, &size, &rss), "statm: not a number");
	ok(!np_memory_parse_statm("99999999999999999999999 1", 25, &size, &rss), "statm: past 2^64");
	ok(np_memory_parse_cgroup_max("max\n", 4, &max) && max == 0, "memory.max: max is no limit");
	ok(np_memory_parse_cgroup_max("2147483648\n", 11, &max) && max == 2147483648ULL, "memory.max: 2 GiB");
	ok(!np_memory_parse_cgroup_max("12k", 3, &max) && !np_memory_parse_cgroup_max("", 0, &max),
	   "memory.max: anything else is refused");
	char path[64];
	const char cg[] = "1:name=systemd:/x\n0::/system.slice/npsocketd.service\n";
	ok(np_memory_parse_cgroup_path(cg, strlen(cg), path, sizeof(path)) &&
	   strcmp(path, "/system.slice/npsocketd.service") == 0, "cgroup: the v2 path");
	ok(!np_memory_parse_cgroup_path("0::/a/../../etc\n", 16, path, sizeof(path)), "cgroup: .. is refused");
	ok(!np_memory_parse_cgroup_path("1:cpu:/x\n", 9, path, sizeof(path)), "cgroup: v1 only: none");
	is_int((int)(np_memory_bound_of(1LL << 30) >> 20), 921, "bound of 1 GiB: a tenth off (921.6 MiB)");
	is_int((int)(np_memory_bound_of(256LL << 20) >> 20), 192, "bound of 256 MiB: at least 64 MiB off");
	is_int((int)(np_memory_bound_of(64LL << 20) >> 20), 32, "bound of 64 MiB: at most half off");
}

int main(void)
{
	struct np_config *config = load_config();
	struct np_registry reg;
	if (np_registry_init(&reg, 4) < 0)
		return 2;
	struct np_port_counts port = { .max_connections = 2 };
	struct np_port_counts other = { .max_connections_per_address = 1 };

	int c1, c2, c3, c4, c5, c6;
	struct np_session *s1 = new_session(config, "::ffff:192.0.2.1", &c1);
	struct np_session *s2 = new_session(config, "::ffff:192.0.2.2", &c2);
	struct np_session *s3 = new_session(config, "::ffff:192.0.2.3", &c3);
	ok(np_registry_admit(&reg, s1, &port, true) == NULL && np_registry_admit(&reg, s2, &port, true) == NULL,
	   "two sessions admitted on a port of maxConnections 2");
	ok(s1->id == 1 && s2->id == 2, "with ids 1 and 2");
	const char *why = np_registry_admit(&reg, s3, &port, true);
	is_str(why ? why : "(admitted)", "maxConnections of the port reached", "the third is refused by the port's limit");

	struct np_session *s4 = new_session(config, "::ffff:192.0.2.9", &c4);
	struct np_session *s5 = new_session(config, "::ffff:192.0.2.9", &c5);
	ok(np_registry_admit(&reg, s4, &other, true) == NULL, "another port: one from 192.0.2.9 admitted");
	why = np_registry_admit(&reg, s5, &other, true);
	is_str(why ? why : "(admitted)", "maxConnectionsPerAddress reached", "a second from the same address is not");
	ok(np_registry_admit(&reg, s3, &other, true) == NULL, "the one the first port refused, admitted on the other");
	struct np_session *s6 = new_session(config, "::ffff:192.0.2.6", &c6);
	why = np_registry_admit(&reg, s6, &other, true);
	is_str(why ? why : "(admitted)", "maxConnections of [Server] reached",
	       "a fifth session anywhere meets [Server] maxConnections 4");
	np_registry_remove(&reg, s4);
	np_session_free(s4);
	ok(np_registry_admit(&reg, s5, &other, true) == NULL, "once the first left, the same address is admitted again");

	/* Snapshots. */
	open_session(s1);
	struct seen seen = { 0 };
	is_int((int)np_registry_foreach(&reg, collect, &seen), 4, "foreach visits the 4 live sessions");
	is_int(seen.count, 4, "and hands each one to the callback");
	const struct np_session_info *i1 = NULL, *i2 = NULL;
	for (int i = 0; i < 4; i++) {
		if (seen.ids[i] == 1)
			i1 = &seen.last[i];
		if (seen.ids[i] == 2)
			i2 = &seen.last[i];
	}
	ok(i1 && i1->stage == NP_STAGE_RUNNING && strcmp(i1->protocol, "client") == 0 &&
	   strcmp(i1->peer, "::ffff:192.0.2.1") == 0 && strcmp(i1->listener, "Port") == 0,
	   "session 1: running, protocol client, its peer and listener");
	ok(i2 && i2->stage == NP_STAGE_ADMITTED && strcmp(i2->protocol, "none") == 0 && i2->bytes_in == 0,
	   "session 2, not yet running: admitted, protocol none, nothing counted");

	/* Counters read from here while the session's thread counts. */
	struct echo e = { .s = s1, .client = c1 };
	pthread_t te, tc;
	if (pthread_create(&te, NULL, echo_rounds, &e) || pthread_create(&tc, NULL, client_rounds, &e))
		return 2;
	uint64_t last_in = 0, last_tx = 0;
	int backwards = 0, snapshots = 0;
	for (int i = 0; i < 200000 && snapshots < 5000; i++) {
		seen.count = 0;
		np_registry_foreach(&reg, collect, &seen);
		for (int j = 0; j < 4 && j < seen.count; j++) {
			if (seen.ids[j] != 1)
				continue;
			if (seen.last[j].bytes_in < last_in || seen.last[j].transactions_in < last_tx)
				backwards++;
			last_in = seen.last[j].bytes_in;
			last_tx = seen.last[j].transactions_in;
			snapshots++;
		}
		if (last_tx == ROUNDS)
			break;
	}
	pthread_join(tc, NULL);
	pthread_join(te, NULL);
	is_int(e.failed, 0, "%d transactions echoed while %d snapshots were taken", ROUNDS, snapshots);
	is_int(backwards, 0, "no snapshot saw a counter go back");
	seen.count = 0;
	np_registry_foreach(&reg, collect, &seen);
	for (int j = 0; j < 4; j++)
		if (seen.ids[j] == 1)
			i1 = &seen.last[j];
	ok(i1->bytes_in == ROUNDS * 12ULL && i1->bytes_out == ROUNDS * 12ULL &&
	   i1->transactions_in == ROUNDS && i1->transactions_out == ROUNDS,
	   "the last snapshot has every byte and transaction each way (%llu/%llu, %llu/%llu)",
	   (unsigned long long)i1->bytes_in, (unsigned long long)i1->bytes_out,
	   (unsigned long long)i1->transactions_in, (unsigned long long)i1->transactions_out);

	/* Ending one session by id. */
	ok(np_registry_kill(&reg, 99, "killed by test") == -1, "no session 99 to end");
	ok(np_registry_kill(&reg, 2, "killed by test") == 0, "session 2 ended by id");
	char byte;
	ok(recv(c2, &byte, 1, 0) == 0, "its client sees the connection close");
	ok(atomic_load(&s2->killed) && strcmp(atomic_load(&s2->killed), "killed by test") == 0,
	   "the session knows why, for its log line");
	ok(send(c1, "x", 1, MSG_NOSIGNAL) == 1, "session 1 is untouched");

	struct np_registry_stats stats;
	np_registry_stats(&reg, &stats);
	ok(stats.active == 4 && stats.sessions_total == 5, "stats: 4 active, 5 ids given (%zu, %llu)", stats.active,
	   (unsigned long long)stats.sessions_total);
	ok(port.active == 2 && other.active == 2, "and the ports' own counts");

	struct np_session *all[] = { s1, s2, s3, s5 };
	for (size_t i = 0; i < 4; i++) {
		np_registry_remove(&reg, all[i]);
		np_session_free(all[i]);
	}
	is_int((int)np_registry_wait_empty(&reg, 0), 0, "every session removed: none left");

	/* Behind a balancer: admitted on the balancer's address without the
	 * per-address count, then counted on the client's from its header. */
	int c7, c8;
	struct np_session *p1 = new_session(config, "::ffff:127.0.0.1", &c7);
	struct np_session *p2 = new_session(config, "::ffff:127.0.0.1", &c8);
	ok(np_registry_admit(&reg, p1, &other, false) == NULL && np_registry_admit(&reg, p2, &other, false) == NULL,
	   "two connections of one balancer admitted on a port of maxConnectionsPerAddress 1");
	struct sockaddr_storage client;
	memcpy(&client, &p1->peer_addr, sizeof(client));
	inet_pton(AF_INET6, "::ffff:192.0.2.50", &((struct sockaddr_in6 *)&client)->sin6_addr);
	ok(np_registry_readdress(&reg, p1, &client, "192.0.2.50:40000", "127.0.0.1:40000") == NULL,
	   "the first one's header names client 192.0.2.50: counted");
	why = np_registry_readdress(&reg, p2, &client, "192.0.2.50:40000", "127.0.0.1:40000");
	is_str(why ? why : "(admitted)", "maxConnectionsPerAddress reached", "the second one's names it too: refused");
	seen.count = 0;
	np_registry_foreach(&reg, collect, &seen);
	ok(seen.count == 2 && strcmp(seen.last[0].peer, "192.0.2.50:40000") == 0 &&
	   strcmp(seen.last[0].via, "127.0.0.1:40000") == 0, "snapshots show the client as peer and the balancer as via");
	np_registry_remove(&reg, p1);
	np_registry_remove(&reg, p2);
	np_session_free(p1);
	np_session_free(p2);
	close(c7);
	close(c8);
	ok(other.active == 0, "both leave the port's count");
	is_int((int)np_registry_kill_all(&reg, "x"), 0, "nothing to end");
	ok(port.active == 0 && other.active == 0, "the ports count none");

	np_session_free(s6);
	np_registry_destroy(&reg);
	np_config_unref(config);
	int clients[] = { c1, c2, c3, c4, c5, c6 };
	for (size_t i = 0; i < 6; i++)
		close(clients[i]);
	test_memory_readers();
	return done_testing();
}
