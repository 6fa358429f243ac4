/* SPDX-License-Identifier: ISC */
/*
 * tap.h - the smallest TAP producer the C unit tests need: ok(), is_int(),
 * is_str(), diag() and done_testing(), printed for prove.
 */
#ifndef NP_TAP_H
#define NP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_run, tap_failed;

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
}

static inline int ok(int passed, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int ok(int passed, const char *fmt, ...)
{
	va_list ap;
	tap_run++;
	if (!passed)
		tap_failed++;
	printf("%sok %d - ", passed ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\n", stdout);
	fflush(stdout);
	return passed;
}

#define is_int(got, expected, ...)                                              \
	do {                                                                        \
		long long got_ = (long long)(got), exp_ = (long long)(expected);        \
		if (!ok(got_ == exp_, __VA_ARGS__))                                     \
			diag("  got %lld, expected %lld", got_, exp_);                      \
	} while (0)

#define is_str(got, expected, ...)                                              \
	do {                                                                        \
		const char *got_ = (got), *exp_ = (expected);                           \
		int same_ = (got_ && exp_) ? strcmp(got_, exp_) == 0 : got_ == exp_;    \
		if (!ok(same_, __VA_ARGS__))                                            \
			diag("  got \"%s\", expected \"%s\"", got_ ? got_ : "(null)",      \
			     exp_ ? exp_ : "(null)");                                       \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed ? 1 : 0;
}

#endif
