#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int msgr__log_level = MSGR__LOG_INFO;
static const char *log_ident = "msgr";
static int log_journal;
static msgr__log_sink_fn log_sink;  /* under the journal: the daemon's */
static int log_fd = -1;             /* the log file, or -1 for stderr */
static char log_path[256];          /* its path, for reopening */

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

void msgr__log_set_sink(msgr__log_sink_fn sink)
{
	log_sink = sink;
}

int msgr__log_file(const char *path)
{
	int fd;

	if (!path || !*path) {
		if (log_fd >= 0)
			close(log_fd);
		log_fd = -1;
		log_path[0] = 0;
		return 0;
	}
	if (strlen(path) >= sizeof(log_path))
		return -ENAMETOOLONG;
	/* O_APPEND: logrotate's copytruncate, and several writers, stay sane */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	snprintf(log_path, sizeof(log_path), "%s", path);
	return 0;
}

int msgr__log_reopen(void)
{
	char path[sizeof(log_path)];

	if (log_fd < 0)
		return 0;
	memcpy(path, log_path, sizeof(path));
	return msgr__log_file(path);
}

int msgr__log_flush(void)
{
	if (log_fd >= 0 && fdatasync(log_fd))
		return -errno;
	return 0;
}

const char *msgr__log_path(void)
{
	return log_path;
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

static void log_v(int level, const struct msgr__log_tags *t, const char *fmt, va_list ap)
{
	/* room for the prefix and a message whose every byte is escaped */
	char msg[1024], line[128 + 4 * sizeof(msg)];
	int n = 0, m;
	size_t len;

	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if (log_fd < 0 && log_journal && log_sink) {
		/* escaped as any line is: the journal keeps it whole, and a
		 * reader's terminal must not see what a client sent raw */
		msgr__log_escape(line, sizeof(line), msg, (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1);
		if (log_sink(level, log_ident, t, line) == 0)
			return;
	}
	if (log_journal && log_fd < 0) {
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
	/* after formatting, so every argument is covered whatever its format */
	len = (size_t)n + msgr__log_escape(line + n, sizeof(line) - (size_t)n - 1, msg,
					   (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1);
	line[len++] = '\n';
	/* one write per line so lines from several processes do not interleave */
	if (write(log_fd >= 0 ? log_fd : 2, line, len) < 0 && log_fd >= 0) {
		/* a full or gone log disk: say so where someone may see it */
		line[len - 1] = 0;
		fprintf(stderr, "%s (log file %s: %s)\n", line, log_path, strerror(errno));
	}
}

void msgr__log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > msgr__log_level)
		return;
	va_start(ap, fmt);
	log_v(level, NULL, fmt, ap);
	va_end(ap);
}

void msgr__logt(int level, const struct msgr__log_tags *t, const char *fmt, ...)
{
	va_list ap;

	if (level > msgr__log_level)
		return;
	va_start(ap, fmt);
	log_v(level, t, fmt, ap);
	va_end(ap);
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
