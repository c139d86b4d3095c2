/*
 * itest.h - what the integration test programs share: a failure line that
 * names the program and the scenario, CHECK, and a millisecond clock. Each
 * program defines ITEST_PROG before including this, and sets scenario from
 * its command line.
 */
#ifndef MSGR_TESTS_ITEST_H
#define MSGR_TESTS_ITEST_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *scenario = "?";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: FAIL: ", ITEST_PROG, scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (getenv("ITEST_HANG_ON_FAIL")) /* leave the state for msgrctl to look at */
		sleep((unsigned)atoi(getenv("ITEST_HANG_ON_FAIL")));
	exit(1);
}

#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			fail(__VA_ARGS__); \
	} while (0)

/* Soft RLIMIT_NOFILE up to the hard one: a libmsgr client holds four
 * files per attached entity, so a login shell's 1024 allows 255. */
static inline void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
