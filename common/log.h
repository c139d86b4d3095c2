/*
 * log.h - leveled logging: to stderr, to a log file, or to the journal.
 *
 * Lines go to the log file when one is set (msgr__log_file(); msgrd's
 * global.log_file), reopened on request for logrotate. Otherwise, under
 * systemd (JOURNAL_STREAM set), to the sink the daemon registers
 * (msgr__log_set_sink(): sd-journal with structured fields), and failing
 * that to stderr with a "<N>" syslog priority prefix so the journal records
 * the level; elsewhere to stderr with a timestamp and the level name.
 * Nothing is logged per message at the default level (info). One thread:
 * the log's state (file, sink) belongs to the process's main thread.
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

/* What a line is about, for structured logging (the journal's ENTITY=,
 * PEER= and CONN= fields, so `journalctl ENTITY=osd.1` finds its lines).
 * Value type, lent for the call; NULL members and conn 0 are left out. */
struct msgr__log_tags {
	const char *entity; /* the attached entity, TYPE.ID */
	const char *peer;   /* the remote entity or daemon (HOST:PORT) */
	uint64_t conn;      /* the connection's id, as `conns` shows it */
};

/* A sink for lines under the journal: 0 if it took the line, or a
 * negative errno (then the line goes to stderr). msg is escaped already;
 * t may be NULL. */
typedef int (*msgr__log_sink_fn)(int level, const char *ident, const struct msgr__log_tags *t,
				 const char *msg);

void msgr__log_init(const char *ident);
void msgr__log_set_sink(msgr__log_sink_fn sink);

/* Log to path from now on (append, created 0640), or to stderr for ""
 * or NULL. 0, or a negative errno with the log left where it was. Calling
 * it again with the same path reopens the file: what logrotate's
 * postrotate wants after it moved the file away. */
int msgr__log_file(const char *path);
/* Reopen the log file (SIGHUP, `log reopen`); 0 with no file. */
int msgr__log_reopen(void);
/* Push what was logged to stable storage (`log flush`): every line is
 * written at once with one write(2), so this is fdatasync of the file. */
int msgr__log_flush(void);
/* The log file's path, or "" for none. */
const char *msgr__log_path(void);
int msgr__log_level_parse(const char *s); /* level, or -EINVAL */
const char *msgr__log_level_name(int level);
void msgr__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* msgr__log with structured fields (t may be NULL). */
void msgr__logt(int level, const struct msgr__log_tags *t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
