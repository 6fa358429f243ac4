/* SPDX-License-Identifier: ISC */
/*
 * log.c - one line per call, written whole with a single write(2) so lines
 * from many threads never interleave; or handed to syslog.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "npsocket/socket.h"

/* Set once by np_log_setup() before any other thread exists; read-only
 * afterwards, but for the level, which a reload may change. */
static enum np_log_target log_target = NP_LOG_TO_STDERR;
static atomic_int log_level = LOG_INFO;
static bool journal_prefix;     /* stderr is journald's stream: "<N>" first */
static atomic_int echo_fd = -1; /* -D's terminal while starting */

/* systemd connects stderr to journald and says so in JOURNAL_STREAM
 * ("DEV:INODE" of that stream); a "<N>" at the start of a line is then
 * its priority. */
static bool stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void np_log_setup(enum np_log_target target, int level, const char *ident, int facility)
{
	if (log_target == NP_LOG_TO_SYSLOG && target != NP_LOG_TO_SYSLOG)
		closelog();
	log_target = target;
	log_level = level;
	journal_prefix = target == NP_LOG_TO_STDERR && stderr_is_journal();
	if (target == NP_LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

int np_log_echo_errors(int fd)
{
	return atomic_exchange(&echo_fd, fd);
}

/* "npsocketd: TEXT\n" on the terminal -D was started from. */
static void echo_error(const char *fmt, va_list ap)
{
	int fd = atomic_load(&echo_fd);
	if (fd < 0)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line), "npsocketd: ");
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t used = (size_t)n + (m < 0 ? 0 : (size_t)m >= sizeof(line) - (size_t)n - 1 ? sizeof(line) - (size_t)n - 2 : (size_t)m);
	for (size_t i = 0; i < used; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[used++] = '\n';
	if (write(fd, line, used) < 0)
		atomic_store(&echo_fd, -1);  /* the terminal is gone */
}

void np_log_set_level(int level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int np_log_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

bool np_log_enabled(int level)
{
	return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

const char *np_log_level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

int np_log_level_parse(const char *name)
{
	static const int levels[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(name, np_log_level_name(levels[i])) == 0)
			return levels[i];
	return -1;
}

static void log_line(int level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t used = 0;

	if (log_target == NP_LOG_TO_SYSLOG) {
		vsyslog(level, fmt, ap);
		return;
	}

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	if (journal_prefix)
		used = (size_t)snprintf(line, sizeof(line), "<%d>", level & 7);
	used += strftime(line + used, sizeof(line) - used, "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(line + used, sizeof(line) - used, ".%03ldZ %s: ",
			 now.tv_nsec / 1000000, np_log_level_name(level));
	if (n > 0)
		used += (size_t)n;
	n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (n > 0)
		used += (size_t)n;
	if (used > sizeof(line) - 2)
		used = sizeof(line) - 2; /* truncated: keep the newline */
	/* Bytes from the network can reach a log line (a protocol byte, a
	 * relay key): never let them forge lines or terminal escapes. */
	for (size_t i = 0; i < used; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[used++] = '\n';

	const char *p = line;
	while (used > 0) {
		ssize_t w = write(STDERR_FILENO, p, used);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report it */
		}
		p += w;
		used -= (size_t)w;
	}
}

void np_log(int level, const char *fmt, ...)
{
	va_list ap;
	if (!np_log_enabled(level))
		return;
	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
	if (level <= LOG_ERR && atomic_load(&echo_fd) >= 0) {
		va_start(ap, fmt);
		echo_error(fmt, ap);
		va_end(ap);
	}
}

void np_log_ratelimited(struct np_ratelimit *rl, int level, const char *fmt, ...)
{
	if (!np_log_enabled(level))
		return;
	int64_t now = np_now_ms();
	int64_t next = atomic_load(&rl->next_ms);
	if (now < next || !atomic_compare_exchange_strong(&rl->next_ms, &next, now + rl->interval_ms)) {
		atomic_fetch_add(&rl->suppressed, 1);
		return;
	}
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	uint64_t skipped = atomic_exchange(&rl->suppressed, 0);
	if (skipped)
		np_log(level, "%s (%llu more like this not logged)", text, (unsigned long long)skipped);
	else
		np_log(level, "%s", text);
}

void np_log_ratelimit_flush(struct np_ratelimit *rl, int level, const char *what)
{
	if (atomic_load(&rl->suppressed) == 0)
		return;
	int64_t now = np_now_ms();
	int64_t next = atomic_load(&rl->next_ms);
	if (now < next || !atomic_compare_exchange_strong(&rl->next_ms, &next, now + rl->interval_ms))
		return;
	uint64_t skipped = atomic_exchange(&rl->suppressed, 0);
	if (skipped)
		np_log(level, "%s: %llu more not logged", what, (unsigned long long)skipped);
}
