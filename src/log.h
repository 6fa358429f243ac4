/* SPDX-License-Identifier: ISC */
/*
 * log.h - the daemon's one logging call, to stderr or syslog, plus a rate
 * limiter for lines a flood could otherwise repeat without end.
 */
#ifndef NP_LOG_H
#define NP_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

enum np_log_target { NP_LOG_TO_STDERR, NP_LOG_TO_SYSLOG };

/* The level names, as -l, logLevel and the log lines spell them. */
#define NP_LOG_LEVEL_WORDS "error, warning, notice, info, debug"

/* Called once, before threads start (and again only from the main thread
 * while no other thread logs, e.g. right after the configuration loaded). */
/* facility: a syslog facility (LOG_DAEMON, LOG_LOCAL0...), for syslog. */
void np_log_setup(enum np_log_target target, int level, const char *ident, int facility);

/* -D: until the daemon is ready, errors go to this fd (the terminal it
 * was started from) as well; -1 stops that.  Returns the fd it replaces
 * (the caller's to close), or -1. */
int np_log_echo_errors(int fd);

bool np_log_enabled(int level);
/* A reload's logLevel: lines from then on. */
void np_log_set_level(int level);
int np_log_level(void);

/* level is a syslog priority: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
 * LOG_DEBUG. */
void np_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* At most one line per interval for one kind of event; the lines skipped
 * are counted and reported with the next one that passes. */
struct np_ratelimit {
	_Atomic int64_t next_ms;
	_Atomic uint64_t suppressed;
	int interval_ms;
};

#define NP_RATELIMIT_INIT(interval) { 0, 0, (interval) }

/* What a rate limit held back, told once its interval has passed with
 * nothing else logged: "WHAT: N more not logged".  For a periodic tick. */
void np_log_ratelimit_flush(struct np_ratelimit *rl, int level, const char *what);

void np_log_ratelimited(struct np_ratelimit *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

const char *np_log_level_name(int level);
/* The syslog priority of a level name (any case), or -1. */
int np_log_level_parse(const char *name);

#endif
