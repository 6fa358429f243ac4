/* SPDX-License-Identifier: ISC */
/*
 * npsocketd.c - the daemon's main: command line, configuration, start-up
 * order (bind, then drop privileges, then serve), signals and shutdown.
 */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <cap-ng.h>
#include <zlib.h>

#include "agent.h"
#include "config.h"
#include "control.h"
#include "handler.h"
#include "http_server.h"
#include "acme.h"
#include "listener.h"
#include "reload.h"
#include "log.h"
#include "service.h"
#include "tls.h"
#include "turn.h"

#define NPSOCKETD_VERSION "0.1.0"
/* parse_command_line(): the option was served (-V, -h); exit 0. */
#define OPTIONS_DONE (-1)

struct options {
	const char *config_path;
	const char *pid_file;
	const char *upgrade_from;      /* -x CONTROLSOCKET */
	int log_level;                 /* -1 = from the configuration */
	bool check_only;
	bool detach;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: npsocketd -c FILE [-t] [-D] [-p PIDFILE] [-l LEVEL] [-x SOCKET] [-V] [-h]\n"
		"       npsocketd FILE\n"
		"  -c FILE        configuration (INI, or libconfig syntax for *.cfg / *.conf)\n"
		"  -t             check the configuration, print it in effect, and exit\n"
		"  -D             detach and run in the background\n"
		"  -p PIDFILE     write the process id there (overrides pidFile)\n"
		"  -l LEVEL       log level: error, warning, notice, info, debug (overrides logLevel)\n"
		"  -x SOCKET      take the listening sockets of the instance whose control\n"
		"                 socket this is, then tell it to stop accepting and drain\n"
		"  -V, --version  print the version and exit\n"
		"  -h, --help     print this help and exit\n"
		"See npsocketd(8) and npsocketd.ini(5).\n");
}

/* Returns 0 to go on, OPTIONS_DONE, or the exit status of a usage error. */
static int parse_command_line(int argc, char **argv, struct options *opt)
{
	int c;
	opterr = 0;
	static const struct option long_options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, ":c:tDp:l:x:Vh", long_options, NULL)) != -1) {
		switch (c) {
		case 'c': opt->config_path = optarg; break;
		case 't': opt->check_only = true; break;
		case 'D': opt->detach = true; break;
		case 'p': opt->pid_file = optarg; break;
		case 'x': opt->upgrade_from = optarg; break;
		case 'l':
			opt->log_level = np_log_level_parse(optarg);
			if (opt->log_level < 0) {
				fprintf(stderr, "npsocketd: -l: unknown log level '%s' (" NP_LOG_LEVEL_WORDS ")\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'V':
			printf("npsocketd %s (GnuTLS %s, zlib %s)\n", NPSOCKETD_VERSION,
			       gnutls_check_version(NULL), zlibVersion());
			return OPTIONS_DONE;
		case 'h':
			usage(stdout);
			return OPTIONS_DONE;
		case ':':
			fprintf(stderr, "npsocketd: option -%c needs a value\n", optopt);
			usage(stderr);
			return EX_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "npsocketd: unknown option -%c\n", optopt);
			else
				fprintf(stderr, "npsocketd: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc && !opt->config_path)
		opt->config_path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "npsocketd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	if (!opt->config_path) {
		fprintf(stderr, "npsocketd: no configuration file given (-c FILE)\n");
		usage(stderr);
		return EX_USAGE;
	}
	return 0;
}

/* More descriptors than the default 1024 are needed for as many
 * connections; take what the hard limit allows and say what that means.
 * Returns how many connections the process can hold (0: not known). */
static unsigned long long raise_file_limit(const struct np_config *config)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		np_log(LOG_WARNING, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return 0;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			np_log(LOG_WARNING, "cannot raise the descriptor limit from %llu to %llu: %s",
			       (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = old;
		}
	}
	/* Each session holds one descriptor (two when relayed, up to three on
	 * webRoot: the directory and the file it was sent last); keep a few
	 * for listeners, logs and files. */
	unsigned long long capacity = rl.rlim_cur > 32 ? (unsigned long long)rl.rlim_cur - 32 : 0;
	np_log(LOG_NOTICE, "descriptor limit %llu: room for about %llu connections (maxConnections %d)",
	       (unsigned long long)rl.rlim_cur, capacity, config->server.max_connections);
	if (config->server.max_connections == 0 ||
	    (unsigned long long)config->server.max_connections > capacity)
		np_log(LOG_WARNING, "maxConnections is above what the descriptor limit allows; "
		       "connections past it are refused by accept()");
	else
		capacity = (unsigned long long)config->server.max_connections;
	return capacity;
}

/* user/group of [Server]: switch to them once the ports are bound. */
/* Whether an accepter is to run above the process's priority, which
 * after the switch of user takes CAP_SYS_NICE. */
static bool raises_priority(const struct np_config *config)
{
	errno = 0;
	int nice_now = getpriority(PRIO_PROCESS, 0);
	if (nice_now == -1 && errno)
		nice_now = 0;
	for (size_t i = 0; i < config->port_count; i++)
		if (config->ports[i].accepter_priority < nice_now)
			return true;
	return false;
}

/* Whether the configuration binds a port below 1024: a reload, which
 * runs as the user, may then bind such a port again (a section moved to
 * another address) or a new one, and keeps CAP_NET_BIND_SERVICE. */
static bool binds_privileged_port(const struct np_config *config)
{
	for (size_t i = 0; i < config->port_count; i++)
		if (config->ports[i].port > 0 && config->ports[i].port < 1024)
			return true;
	return false;
}

/*
 * user = / group =: switch to them, keeping of the capabilities only
 * those still needed (libcap-ng): CAP_SYS_NICE when an accepter runs at
 * raised priority, CAP_NET_BIND_SERVICE when a port is below 1024, none
 * else.  The ports are bound and the pid file
 * written before; no other thread runs yet (capabilities are per thread,
 * and the threads started later inherit these).
 */
static int drop_privileges(const struct np_config *config)
{
	const struct np_server_conf *conf = &config->server;
	if (!conf->user && !conf->group)
		return 0;
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (conf->user) {
		struct passwd *pw = getpwnam(conf->user);
		if (!pw) {
			np_log(LOG_ERR, "user '%s' not found", conf->user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (conf->group) {
		struct group *gr = getgrnam(conf->group);
		if (!gr) {
			np_log(LOG_ERR, "group '%s' not found", conf->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	bool nice = geteuid() == 0 && raises_priority(config);
	bool bind = geteuid() == 0 && binds_privileged_port(config);
	char kept[64];
	snprintf(kept, sizeof(kept), "%s%s%s", nice ? "CAP_SYS_NICE" : "", nice && bind ? "," : "",
		 bind ? "CAP_NET_BIND_SERVICE" : "");
	if (geteuid() == 0) {
		capng_clear(CAPNG_SELECT_BOTH);
		if (nice && capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_NICE) < 0) {
			np_log(LOG_ERR, "cannot keep CAP_SYS_NICE for the accepters");
			return -1;
		}
		if (bind && capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_BIND_SERVICE) < 0) {
			np_log(LOG_ERR, "cannot keep CAP_NET_BIND_SERVICE for reloads");
			return -1;
		}
		/* With a user, its groups (initgroups); with a group alone, only it. */
		if (!conf->user && setgroups(1, &gid) < 0) {
			np_log(LOG_ERR, "cannot set supplementary groups: %s", strerror(errno));
			return -1;
		}
		int rc = capng_change_id((int)uid, (int)gid,
					 (conf->user ? CAPNG_INIT_SUPP_GRP : CAPNG_NO_FLAG) | CAPNG_CLEAR_BOUNDING);
		if (rc < 0) {
			np_log(LOG_ERR, "cannot switch to uid %u gid %u keeping %s (capng_change_id %d): %s",
			       (unsigned)uid, (unsigned)gid, kept[0] ? kept : "no capability", rc,
			       strerror(errno));
			return -1;
		}
	} else if (setgid(gid) < 0 || setuid(uid) < 0) {
		np_log(LOG_ERR, "cannot switch to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
		       strerror(errno));
		return -1;
	}
	if (conf->user && uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		np_log(LOG_ERR, "privileges could be regained after switching to '%s'; refusing to serve",
		       conf->user);
		return -1;
	}
	np_log(LOG_NOTICE, "running as uid %u gid %u, capabilities: %s", (unsigned)getuid(), (unsigned)getgid(),
	       capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE ? "none" : kept);
	return 0;
}

/*
 * The pid file, locked (flock) for the daemon's life, so a second
 * instance with the same file refuses to start and says which pid runs.
 * Replacing an instance (-x), its descriptor comes with the sockets: the
 * lock goes on without a gap, and this process's pid is written into
 * it.  Returns the locked fd, or -1 after logging why.
 */
static int open_pid_file(const char *path, int inherited)
{
	int fd = inherited;
	if (fd < 0) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			np_log(LOG_ERR, "pid file %s: %s", path, strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			char held[32] = "";
			ssize_t n = errno == EWOULDBLOCK ? pread(fd, held, sizeof(held) - 1, 0) : -1;
			held[n > 0 ? strcspn(held, "\n") : 0] = '\0';
			if (errno == EWOULDBLOCK || n >= 0)
				np_log(LOG_ERR, "pid file %s is locked by pid %s: another npsocketd runs with it "
				       "(npsocketd -x CONTROLSOCKET replaces it)", path, held[0] ? held : "?");
			else
				np_log(LOG_ERR, "pid file %s: flock: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
	}
	char text[32];
	int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
		np_log(LOG_ERR, "pid file %s: write failed: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* One file the daemon's user must be able to read. */
static int readable_as_user(const struct np_config *config, const char *section, const char *key, const char *path)
{
	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	fprintf(stderr, "%s: warning: [%s] %s %s cannot be read by user %s (%s): a SIGHUP, which reads it as "
		"that user, cannot reload it\n", config->path, section, key, path, config->server.user, strerror(errno));
	return 1;
}

/* -t as root with user =: whether that user can read every certificate,
 * key and CA file (a SIGHUP reads them again after the switch).  In a
 * child that switches to the user; returns how many it cannot read. */
static int check_user_access(const struct np_config *config)
{
	if (geteuid() != 0 || !config->server.user)
		return 0;
	struct passwd *pw = getpwnam(config->server.user);
	if (!pw) {
		fprintf(stderr, "%s: user '%s' not found\n", config->path, config->server.user);
		return 1;
	}
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: cannot check the files as %s: fork: %s\n", config->path, config->server.user,
			strerror(errno));
		return 0;
	}
	if (pid == 0) {
		gid_t gid = pw->pw_gid;
		if (config->server.group) {
			struct group *gr = getgrnam(config->server.group);
			if (gr)
				gid = gr->gr_gid;
		}
		if (initgroups(config->server.user, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(255);
		int n = 0;
		for (size_t i = 0; i < config->tls_count; i++) {
			const struct np_tls_conf *t = &config->tls[i];
			for (size_t j = 0; j < t->cert_files.count; j++)
				n += readable_as_user(config, t->name, "certFile", t->cert_files.items[j]);
			for (size_t j = 0; j < t->key_files.count; j++)
				n += readable_as_user(config, t->name, "keyFile", t->key_files.items[j]);
			n += readable_as_user(config, t->name, "keyStore", t->key_store);
			n += readable_as_user(config, t->name, "caFile", t->ca_file);
			n += readable_as_user(config, t->name, "crlFile", t->crl_file);
		}
		/* ACME writes its state as the user: the directory (when it is
		 * there already; start-up makes it the user's otherwise). */
		const char *state = config->acme_used ? config->acme.state_directory : NULL;
		if (state && access(state, F_OK) == 0 && access(state, R_OK | W_OK | X_OK) < 0) {
			fprintf(stderr, "%s: warning: [ACME] stateDirectory %s cannot be written by user %s (%s): "
				"renewals would fail\n", config->path, state, config->server.user, strerror(errno));
			n++;
		}
		fflush(stderr);
		_exit(n > 250 ? 250 : n);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 255) {
		fprintf(stderr, "%s: cannot check the files as user %s: the switch failed\n", config->path,
			config->server.user);
		return 0;
	}
	return WEXITSTATUS(status);
}

/* -D: the caller waits for the daemon's start-up result on a pipe, so a
 * failed bind still gives the right exit status.  Returns the write end
 * in the daemon; the starting process exits inside. */
static int detach(void)
{
	int status_pipe[2];
	if (pipe2(status_pipe, O_CLOEXEC) < 0) {
		fprintf(stderr, "npsocketd: pipe: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "npsocketd: fork: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		unsigned char status = EX_OSERR;
		close(status_pipe[1]);
		ssize_t n;
		do
			n = read(status_pipe[0], &status, 1);
		while (n < 0 && errno == EINTR);
		_exit(n == 1 ? status : EX_OSERR);
	}
	close(status_pipe[0]);
	if (setsid() < 0)
		exit(EX_OSERR);
	pid = fork();
	if (pid < 0)
		exit(EX_OSERR);
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		exit(EX_OSERR);
	/* Start-up errors still reach the terminal, until ready. */
	int terminal = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (terminal >= 0)
		np_log_echo_errors(terminal);
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(null, STDERR_FILENO) < 0)
		exit(EX_OSERR);
	if (null > STDERR_FILENO)
		close(null);
	return status_pipe[1];
}

static void report_start(int status_fd, unsigned char status)
{
	if (status_fd < 0)
		return;
	/* From here on only the log hears of errors. */
	int terminal = np_log_echo_errors(-1);
	if (terminal >= 0)
		close(terminal);
	if (write(status_fd, &status, 1) != 1)
		np_log(LOG_WARNING, "cannot report start-up to the starting process: %s", strerror(errno));
	close(status_fd);
}

static struct np_tls_context *acme_context_for(void *acme, const struct np_tls_conf *tls)
{
	return np_acme_context_for(acme, tls);
}

static int serve(struct np_config *config, const char *pid_file, const char *upgrade_from, int status_fd,
		 const sigset_t *signals, bool log_level_fixed)
{
	struct np_server server;
	int rc = EXIT_SUCCESS;
	bool pid_written = false;

	np_turns_size_futex_hash(raise_file_limit(config));
	if (np_server_init(&server, config) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	/* ACME decides what its sections serve before they are loaded. */
	if (np_acme_open(&server, config, &server.acme) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	server.tls_provider = (struct np_tls_provider){ acme_context_for, server.acme };
	server.reload = np_reload_new(log_level_fixed);
	if (!server.reload) {
		np_log(LOG_ERR, "out of memory for the reload's state");
		rc = EX_OSERR;
		goto out;
	}
	if (np_server_prepare(&server) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	/* Sockets that outlive a process: the running instance's (-x), or
	 * systemd's. */
	server.upgrade_from = upgrade_from;
	if (upgrade_from ? np_upgrade_fetch(upgrade_from, &server.inherited) < 0
			 : np_upgrade_from_systemd(&server.inherited) < 0) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	/* Before binding (a second instance says so, not "address in use")
	 * and before dropping privileges (/run is root's). */
	if (pid_file) {
		server.pid_fd = open_pid_file(pid_file, np_upgrade_take(&server.inherited, "pidfile", NULL, 0));
		if (server.pid_fd < 0) {
			rc = EX_UNAVAILABLE;
			goto out;
		}
		pid_written = true;
	}
	if (np_server_open(&server) < 0 || np_agent_open(&server, &server.agent) < 0 ||
	    np_control_open(&server, &server.control) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	np_upgrade_close_rest(&server.inherited);
	if (drop_privileges(config) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	/* Replacing an instance, the control socket is the same socket as
	 * the old one's: this one answers on it only once that one has been
	 * told to stop, and the telling must reach the old one. */
	if (np_server_start(&server) < 0 || np_agent_start(server.agent) < 0 ||
	    (!upgrade_from && np_control_start(server.control) < 0)) {
		np_server_stop(&server, 0);
		rc = EX_OSERR;
		goto out;
	}
	if (upgrade_from) {
		if (np_upgrade_handover(upgrade_from) < 0)
			np_log(LOG_WARNING, "-x %s: the old instance was not told to stop; both accept", upgrade_from);
		if (np_control_start(server.control) < 0) {
			np_server_stop(&server, 0);
			rc = EX_OSERR;
			goto out;
		}
	}
	if (np_acme_start(server.acme) < 0) {
		np_server_stop(&server, 0);
		rc = EX_OSERR;
		goto out;
	}
	report_start(status_fd, 0);
	status_fd = -1;
	np_service_ready(&server.registry);

	/* Signals, and between them the watchdog's keep-alive and the
	 * status line for systemd. */
	int tick_ms = np_service_tick_ms();
	struct timespec tick = { .tv_sec = tick_ms / 1000, .tv_nsec = (long)(tick_ms % 1000) * 1000000L };
	struct np_service told = { "" };
	for (;;) {
		int sig = sigtimedwait(signals, NULL, &tick);
		if (sig < 0) {
			if (errno != EAGAIN && errno != EINTR)
				np_log(LOG_ERR, "sigtimedwait: %s", strerror(errno));
			np_server_tick(&server);
			np_service_tick(&server.registry, &told);
			continue;
		}
		if (sig == SIGHUP) {
			np_reload_run(server.reload, &server);
			continue;
		}
		if (sig == SIGUSR1) {
			np_registry_log(&server.registry, "SIGUSR1");
			continue;
		}
		const char *why = atomic_load(&server.handed_over) ? "handed over to a new instance"
				  : sig == SIGTERM ? "SIGTERM" : "SIGINT";
		np_log(LOG_NOTICE, "%s: stopping", why);
		np_service_stopping(why);
		break;
	}
	if (atomic_load(&server.handed_over)) {
		/* The agent's and the control socket are the new instance's
		 * to answer from now on. */
		np_agent_stop(server.agent);
		np_control_stop(server.control);
	}
	np_acme_stop(server.acme);
	/* Otherwise the agent says drain, and the control socket answers,
	 * until the sessions have ended. */
	size_t stuck = np_server_stop(&server, server.config->server.shutdown_timeout_ms);
	struct np_registry_stats stats;
	np_registry_stats(&server.registry, &stats);
	np_log(LOG_NOTICE, "stopped: %llu connections accepted, %llu refused",
	       (unsigned long long)stats.accepted, (unsigned long long)stats.refused);
	if (stuck > 0) {
		/* Threads still run over the registry, the listeners and the
		 * configuration: exit without freeing what they use. */
		if (pid_written && !atomic_load(&server.handed_over) && unlink(pid_file) < 0)
			np_log(LOG_WARNING, "cannot remove pid file %s: %s", pid_file, strerror(errno));
		np_log(LOG_ERR, "exiting with %zu session thread%s still running", stuck, stuck == 1 ? "" : "s");
		_exit(EXIT_FAILURE);
	}
out:
	report_start(status_fd, (unsigned char)rc);
	np_agent_free(server.agent);
	np_control_free(server.control);
	np_acme_free(server.acme);
	np_server_close(&server);
	np_reload_free(server.reload);
	/* After a hand-over the file names the new instance, which holds
	 * its lock too. */
	if (pid_written && !atomic_load(&server.handed_over) && unlink(pid_file) < 0)
		np_log(LOG_WARNING, "cannot remove pid file %s: %s", pid_file, strerror(errno));
	if (server.pid_fd >= 0)
		close(server.pid_fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct options opt = { .log_level = -1 };
	/* Fixed thresholds: a buffer of 1 MiB or more (a large transaction,
	 * an inflated bomb cut at maxTransactionSize) is mapped and given
	 * back when freed, and an arena's top is trimmed past 4 MiB.  glibc's
	 * own would rise to the largest buffer freed, after which such
	 * buffers stay with their thread's arena: measured, 8 x 8 deflate
	 * bombs left 66 MiB of RSS that no session used, for good.
	 * A sanitizer's allocator takes no mallopt(): then there is nothing
	 * to tune, and nothing to say. */
	(void)mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	int rc = parse_command_line(argc, argv, &opt);
	if (rc)
		return rc == OPTIONS_DONE ? EXIT_SUCCESS : rc;

	struct np_config *config = np_config_load(opt.config_path, stderr);
	if (!config)
		return EX_CONFIG;
	char err[256];
	if (np_tls_global_init(err, sizeof(err)) < 0) {
		fprintf(stderr, "npsocketd: %s\n", err);
		np_config_unref(config);
		return EX_OSERR;
	}
	/* Before any thread: libcurl's own set-up is not thread-safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "npsocketd: cannot set up libcurl\n");
		np_config_unref(config);
		np_tls_global_deinit();
		return EX_OSERR;
	}
	if (opt.check_only) {
		int errors = 0;
		for (size_t i = 0; i < config->port_count; i++) {
			if (!np_handler_for(&config->ports[i].handler, err, sizeof(err)) ||
			    np_http_check_root(&config->ports[i], err, sizeof(err)) < 0) {
				fprintf(stderr, "%s: [%s]: %s\n", config->path, config->ports[i].name, err);
				errors++;
			}
		}
		for (size_t i = 0; i < config->tls_count; i++)
			errors += np_tls_check(&config->tls[i], stderr);
		np_acme_check(config, stderr);
		if (config->acme_used && access(config->acme.state_directory, F_OK) < 0) {
			/* Start-up makes it, as the user that starts the daemon. */
			char parent[4096];
			snprintf(parent, sizeof(parent), "%s", config->acme.state_directory);
			char *slash = strrchr(parent, '/');
			if (slash)
				*(slash == parent ? slash + 1 : slash) = '\0';
			if (access(parent, W_OK | X_OK) < 0) {
				fprintf(stderr, "%s: [ACME] stateDirectory %s cannot be created: %s: %s\n", config->path,
					config->acme.state_directory, parent, strerror(errno));
				errors++;
			}
		}
		if (errors == 0)
			check_user_access(config);  /* warnings: the daemon reads them as root at start */
		if (errors == 0)
			np_config_print(config, stdout);
		np_config_unref(config);
		curl_global_cleanup();
		np_tls_global_deinit();
		return errors ? EX_CONFIG : EXIT_SUCCESS;
	}

	enum np_log_target target = config->server.log;
	if (opt.detach && target == NP_LOG_TO_STDERR)
		target = NP_LOG_TO_SYSLOG; /* stderr is /dev/null once detached */
	np_log_setup(target, opt.log_level >= 0 ? opt.log_level : config->server.log_level, "npsocketd",
		     config->server.log_facility);

	/* Signals are taken by sigwait() in the main thread only: block them
	 * before any thread exists so every thread inherits the mask. */
	sigset_t signals;
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGUSR1);
	int sig_err = pthread_sigmask(SIG_BLOCK, &signals, NULL);
	if (sig_err || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		np_log(LOG_ERR, "cannot set up signals: %s", strerror(sig_err ? sig_err : errno));
		np_config_unref(config);
		return EX_OSERR;
	}

	/* -p is taken from the directory npsocketd starts in, like the paths
	 * of the configuration, before -D changes to /. */
	char *pid_file = NULL, *upgrade_from = NULL;
	if ((opt.pid_file && !(pid_file = np_absolute_path(opt.pid_file))) ||
	    (opt.upgrade_from && !(upgrade_from = np_absolute_path(opt.upgrade_from)))) {
		np_log(LOG_ERR, "-%c %s: cannot make it an absolute path: %s", pid_file || !opt.pid_file ? 'x' : 'p',
		       pid_file || !opt.pid_file ? opt.upgrade_from : opt.pid_file, strerror(errno));
		free(pid_file);
		np_config_unref(config);
		return EX_OSERR;
	}
	int status_fd = opt.detach ? detach() : -1;
	np_log(LOG_NOTICE, "npsocketd %s starting with %s", NPSOCKETD_VERSION, config->path);
	rc = serve(config, pid_file ? pid_file : config->server.pid_file, upgrade_from, status_fd, &signals,
		   opt.log_level >= 0);
	free(pid_file);
	free(upgrade_from);
	np_config_unref(config);
	curl_global_cleanup();
	np_tls_global_deinit();
	return rc;
}
