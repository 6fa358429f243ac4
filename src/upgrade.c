/* SPDX-License-Identifier: ISC */
/*
 * upgrade.c - sockets handed from one instance to the next (upgrade.h).
 *
 * The old instance answers `_getsockets` on its control socket with one
 * line, "sockets NAME:PORT ...", whose first byte carries every listening
 * socket in one SCM_RIGHTS message (the kernel keeps them open and their
 * queues whole while both processes hold them).  The new instance binds
 * nothing it was given, starts accepting, and sends `_handover`: the old
 * one stops accepting, without shutdown(2) (which would stop the socket
 * for both), and drains.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "net.h"
#include "upgrade.h"

/* How long the new instance waits for the old one's answers. */
#define UPGRADE_TIMEOUT_S 10
#define LINE_MAX_BYTES (16 + NP_UPGRADE_MAX_SOCKETS * (NP_UPGRADE_NAME_MAX + 8))

static int connect_control(const char *path)
{
	struct sockaddr_un sun;
	if (!np_net_unix_address(path, &sun)) {
		np_log(LOG_ERR, "-x %s: path longer than %zu bytes", path, NP_UNIX_PATH_MAX);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		np_log(LOG_ERR, "-x %s: socket: %s", path, strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = UPGRADE_TIMEOUT_S };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		np_log(LOG_ERR, "-x %s: cannot reach the running instance's control socket: %s", path,
		       strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int send_line(int fd, const char *path, const char *line)
{
	if (np_net_send_all(fd, line, strlen(line)) < 0) {
		np_log(LOG_ERR, "-x %s: sending '%.*s': %s", path, (int)strcspn(line, "\n"), line, strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads up to the first LF into line (NUL-terminated), taking any
 * descriptors that come with it into set.  0, or -1 after logging. */
static int read_answer(int fd, const char *path, char *line, size_t size, struct np_inherited_set *set)
{
	size_t have = 0;
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * NP_UPGRADE_MAX_SOCKETS)];
		} control;
		struct iovec iov = { .iov_base = line + have, .iov_len = size - 1 - have };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				      .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			np_log(LOG_ERR, "-x %s: no answer from the running instance: %s", path,
			       n < 0 ? strerror(errno) : "it closed the connection");
			return -1;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int got;
				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (set && set->count < NP_UPGRADE_MAX_SOCKETS)
					set->items[set->count++] = (struct np_inherited){ .fd = got };
				else
					close(got);
			}
		}
		if (msg.msg_flags & MSG_CTRUNC)
			np_log(LOG_WARNING, "-x %s: some sockets did not fit the message", path);
		have += (size_t)n;
		line[have] = '\0';
		char *lf = memchr(line, '\n', have);
		if (lf) {
			*lf = '\0';
			return 0;
		}
		if (have == size - 1) {
			np_log(LOG_ERR, "-x %s: answer longer than %zu bytes", path, size - 1);
			return -1;
		}
	}
}

int np_upgrade_fetch(const char *path, struct np_inherited_set *set)
{
	set->count = 0;
	int fd = connect_control(path);
	if (fd < 0)
		return -1;
	char *line = malloc(LINE_MAX_BYTES);
	int rc = -1;
	if (!line) {
		np_log(LOG_ERR, "-x %s: out of memory", path);
	} else if (send_line(fd, path, "_getsockets\n") == 0 && read_answer(fd, path, line, LINE_MAX_BYTES, set) == 0) {
		/* "sockets NAME:PORT NAME:PORT ...", one name per descriptor. */
		if (strncmp(line, "sockets", 7) != 0) {
			np_log(LOG_ERR, "-x %s: the running instance says: %s", path, line);
		} else {
			size_t i = 0;
			char *save = NULL;
			for (char *word = strtok_r(line + 7, " ", &save); word; word = strtok_r(NULL, " ", &save), i++) {
				char *colon = strrchr(word, ':');
				if (i >= set->count || !colon || (size_t)(colon - word) >= NP_UPGRADE_NAME_MAX)
					break;
				memcpy(set->items[i].name, word, (size_t)(colon - word));
				set->items[i].name[colon - word] = '\0';
				set->items[i].port = atoi(colon + 1);
			}
			if (i != set->count) {
				np_log(LOG_ERR, "-x %s: %zu sockets came with %zu names", path, set->count, i);
			} else {
				np_log(LOG_NOTICE, "-x %s: took %zu listening socket%s from the running instance", path,
				       set->count, set->count == 1 ? "" : "s");
				rc = 0;
			}
		}
	}
	free(line);
	close(fd);
	if (rc < 0) {
		for (size_t i = 0; i < set->count; i++)
			close(set->items[i].fd);
		set->count = 0;
	}
	return rc;
}

int np_upgrade_from_systemd(struct np_inherited_set *set)
{
	int n = sd_listen_fds(1);
	if (n < 0) {
		np_log(LOG_ERR, "socket activation: %s", strerror(-n));
		return -1;
	}
	for (int i = 0; i < n && set->count < NP_UPGRADE_MAX_SOCKETS; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			np_log(LOG_WARNING, "socket activation: descriptor %d is not a listening stream socket; closed", fd);
			close(fd);
			continue;
		}
		set->items[set->count++] = (struct np_inherited){ .fd = fd, .port = np_net_local_port(fd) };
	}
	if (n > 0)
		np_log(LOG_NOTICE, "socket activation: %d socket%s from systemd", n, n == 1 ? "" : "s");
	return n;
}

int np_upgrade_take(struct np_inherited_set *set, const char *name, const char *bind_address, int port)
{
	for (size_t i = 0; i < set->count; i++) {
		struct np_inherited *s = &set->items[i];
		if (s->fd < 0)
			continue;
		bool match = s->name[0] ? strcmp(s->name, name) == 0 && (port == 0 || port == s->port)
					: port != 0 && np_net_bound_to(s->fd, bind_address, port);
		if (match) {
			int fd = s->fd;
			s->fd = -1;
			return fd;
		}
	}
	return -1;
}

void np_upgrade_close_rest(struct np_inherited_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->items[i].fd >= 0) {
			np_log(LOG_NOTICE, "inherited socket %s (port %d) is not in this configuration; closed",
			       set->items[i].name[0] ? set->items[i].name : "from systemd", set->items[i].port);
			close(set->items[i].fd);
			set->items[i].fd = -1;
		}
}

int np_upgrade_handover(const char *path)
{
	int fd = connect_control(path);
	if (fd < 0)
		return -1;
	char line[256];
	int rc = -1;
	if (send_line(fd, path, "_handover\n") == 0 && read_answer(fd, path, line, sizeof(line), NULL) == 0) {
		if (strncmp(line, "ok", 2) == 0) {
			np_log(LOG_NOTICE, "-x %s: the old instance stopped accepting and drains its sessions", path);
			rc = 0;
		} else {
			np_log(LOG_ERR, "-x %s: the old instance says: %s", path, line);
		}
	}
	close(fd);
	return rc;
}

int np_upgrade_send(int fd, const int *fds, char names[][NP_UPGRADE_NAME_MAX + 8], size_t count)
{
	if (count > NP_UPGRADE_MAX_SOCKETS) {
		errno = E2BIG;
		return -1;
	}
	char *line = malloc(LINE_MAX_BYTES);
	if (!line)
		return -1;
	size_t used = (size_t)snprintf(line, LINE_MAX_BYTES, "sockets");
	for (size_t i = 0; i < count; i++)
		used += (size_t)snprintf(line + used, LINE_MAX_BYTES - used, " %s", names[i]);
	used += (size_t)snprintf(line + used, LINE_MAX_BYTES - used, "\n");
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * NP_UPGRADE_MAX_SOCKETS)];
	} control;
	memset(&control, 0, sizeof(control));
	/* The descriptors travel with the first byte; the rest follows. */
	struct iovec iov = { .iov_base = line, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (count) {
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * count);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
	}
	ssize_t n;
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	size_t done = n == 1 ? 1 : 0;
	while (n >= 0 && done < used) {
		n = send(fd, line + done, used - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n > 0)
			done += (size_t)n;
	}
	int saved = errno;
	free(line);
	errno = saved;
	return n < 0 ? -1 : 0;
}
