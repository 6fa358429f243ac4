/* SPDX-License-Identifier: ISC */
/*
 * upgrade.h - listening sockets that outlive a process: taken from the
 * running instance over its control socket (npsocketd -x, SCM_RIGHTS) or
 * from systemd (socket activation), and given to the next instance, so
 * an upgrade or restart never refuses a connection.
 */
#ifndef NP_UPGRADE_H
#define NP_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* At most this many sockets go over in one hand-over. */
#define NP_UPGRADE_MAX_SOCKETS 250
#define NP_UPGRADE_NAME_MAX 64

/* One inherited listening socket.  From another instance it is named
 * ("Port.NAME", "agent", "control") with the port it is bound to; from
 * systemd it is matched by its address. */
struct np_inherited {
	int fd;                          /* -1 once taken */
	char name[NP_UPGRADE_NAME_MAX];  /* "" from systemd */
	int port;
};

struct np_inherited_set {
	struct np_inherited items[NP_UPGRADE_MAX_SOCKETS];
	size_t count;
};

/* npsocketd -x PATH: asks the instance whose control socket is at path
 * for its listening sockets.  0, or -1 after logging why. */
int np_upgrade_fetch(const char *path, struct np_inherited_set *set);

/* Sockets systemd passed (LISTEN_FDS); how many, or -1 after logging. */
int np_upgrade_from_systemd(struct np_inherited_set *set);

/* The inherited socket for a port or the agent or control socket: by
 * name (and the port it must be bound to, 0 = any), else (systemd) by
 * address.  Returns the fd, now the caller's, or -1. */
int np_upgrade_take(struct np_inherited_set *set, const char *name, const char *bind_address, int port);

/* Closes every socket no one took, saying which. */
void np_upgrade_close_rest(struct np_inherited_set *set);

/* npsocketd -x PATH, once this instance accepts: tells the old one to
 * stop accepting and drain.  0, or -1 after logging why. */
int np_upgrade_handover(const char *path);

/* The old instance's side of _getsockets: sends fds[] named names[] on
 * the control connection fd as one message.  0, or -1 with errno. */
int np_upgrade_send(int fd, const int *fds, char names[][NP_UPGRADE_NAME_MAX + 8], size_t count);

#endif
