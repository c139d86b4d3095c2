/*
 * log.h - leveled logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog
 * priority prefix so the journal records the level; otherwise lines carry a
 * timestamp and the level name. Nothing is logged per message at the default
 * level (info).
 *
 * Messages often carry what clients and peers sent (entity names, addresses,
 * reasons), so msgr__log() escapes every message after formatting it: no
 * caller can forget, and no sender can start a line of its own (a forged
 * "<0>" priority under the journal, or a fake second entry elsewhere).
 */
#ifndef MSGR_COMMON_LOG_H
#define MSGR_COMMON_LOG_H

#include <stddef.h>
#include <stdint.h>

enum msgr__log_level {
	MSGR__LOG_ERR = 3,
	MSGR__LOG_WARN = 4,
	MSGR__LOG_NOTICE = 5,
	MSGR__LOG_INFO = 6,
	MSGR__LOG_DEBUG = 7,
};

extern int msgr__log_level; /* messages above this level are dropped */

void msgr__log_init(const char *ident);
int msgr__log_level_parse(const char *s); /* level, or -EINVAL */
const char *msgr__log_level_name(int level);
void msgr__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One log line per interval for a condition an attacker can repeat at will
 * (a refused connection, an exhausted limit), so it cannot flood the log.
 * Owned by the code that logs the condition; zero-initialised is ready. */
struct msgr__ratelimit {
	uint64_t next_ns;    /* CLOCK_MONOTONIC: no line before this */
	uint64_t held;       /* occurrences not logged since the last line */
};

/* Nonzero if the caller may log now; then *held is how many occurrences
 * were not logged since the last line (say so in the line). Zero counts
 * this occurrence as held back. */
int msgr__ratelimit(struct msgr__ratelimit *rl, unsigned interval_ms, uint64_t *held);

/* " (N more since the last such line)", or "" if held is 0, in buf. */
const char *msgr__ratelimit_note(uint64_t held, char *buf, size_t len);

/* Copy len bytes of src to dst as printable ASCII: a byte below 0x20, 0x7f
 * or a byte from 0x80 up becomes \xNN, and a backslash becomes \\, so the
 * text reads back unambiguously. UTF-8 is escaped too: names and addresses
 * are ASCII, and passing it would admit C1 controls and bidi overrides. An
 * escape is never cut in half; dst is NUL-terminated when dstlen > 0.
 * Returns the bytes written, not counting the NUL. Pure; any thread. */
size_t msgr__log_escape(char *dst, size_t dstlen, const char *src, size_t len);

#define msgr__err(...) msgr__log(MSGR__LOG_ERR, __VA_ARGS__)
#define msgr__warn(...) msgr__log(MSGR__LOG_WARN, __VA_ARGS__)
#define msgr__notice(...) msgr__log(MSGR__LOG_NOTICE, __VA_ARGS__)
#define msgr__info(...) msgr__log(MSGR__LOG_INFO, __VA_ARGS__)
#define msgr__debug(...)                                                  \
	do {                                                              \
		if (msgr__log_level >= MSGR__LOG_DEBUG)                   \
			msgr__log(MSGR__LOG_DEBUG, __VA_ARGS__);          \
	} while (0)

#endif
