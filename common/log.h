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
