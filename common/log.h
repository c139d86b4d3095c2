/*
 * log.h - leveled logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" syslog
 * priority prefix so the journal records the level; otherwise lines carry a
 * timestamp and the level name. Nothing is logged per message at the default
 * level (info).
 */
#ifndef MSGR_COMMON_LOG_H
#define MSGR_COMMON_LOG_H

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
