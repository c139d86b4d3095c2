#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int msgr__log_level = MSGR__LOG_INFO;
static const char *log_ident = "msgr";
static int log_journal;

static const char *const names[] = {
	[MSGR__LOG_ERR] = "error", [MSGR__LOG_WARN] = "warning",
	[MSGR__LOG_NOTICE] = "notice", [MSGR__LOG_INFO] = "info",
	[MSGR__LOG_DEBUG] = "debug",
};

void msgr__log_init(const char *ident)
{
	log_ident = ident;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

int msgr__log_level_parse(const char *s)
{
	for (int i = MSGR__LOG_ERR; i <= MSGR__LOG_DEBUG; i++)
		if (!strcmp(s, names[i]))
			return i;
	if (!strcmp(s, "warn") || !strcmp(s, "err"))
		return s[0] == 'w' ? MSGR__LOG_WARN : MSGR__LOG_ERR;
	return -EINVAL;
}

const char *msgr__log_level_name(int level)
{
	if (level < MSGR__LOG_ERR || level > MSGR__LOG_DEBUG)
		return "?";
	return names[level];
}

size_t msgr__log_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!dstlen)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)src[i];
		if (b >= 0x20 && b < 0x7f && b != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)b;
		} else if (b == '\\') {
			if (o + 2 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[b >> 4];
			dst[o++] = hex[b & 15];
		}
	}
	dst[o] = 0;
	return o;
}

void msgr__log(int level, const char *fmt, ...)
{
	/* room for the prefix and a message whose every byte is escaped */
	char msg[1024], line[128 + 4 * sizeof(msg)];
	va_list ap;
	int n, m;

	if (level > msgr__log_level)
		return;
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s %s: ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
			     msgr__log_level_name(level));
	}
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	/* after formatting, so every argument is covered whatever its format */
	msgr__log_escape(line + n, sizeof(line) - (size_t)n, msg,
			 (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1);
	/* one write per line so lines from several processes do not interleave */
	fprintf(stderr, "%s\n", line);
}

int msgr__ratelimit(struct msgr__ratelimit *rl, unsigned interval_ms, uint64_t *held)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (now < rl->next_ns) {
		rl->held++;
		return 0;
	}
	rl->next_ns = now + (uint64_t)interval_ms * 1000000u;
	*held = rl->held;
	rl->held = 0;
	return 1;
}

const char *msgr__ratelimit_note(uint64_t held, char *buf, size_t len)
{
	if (!held)
		return "";
	snprintf(buf, len, " (%llu more since the last such line)", (unsigned long long)held);
	return buf;
}
