/*
 * ini_comment.h - the end-of-line comments of msgrd.conf, for the two
 * programs that read it (msgrd, and msgrctl for its socket and keyring).
 *
 * inih ends a value at a ';' that follows a blank, but not at a '#'; Ceph's
 * own files write both ("ms_bind_port_min = 6800   # public network").
 * Header-only so that each program's reader shares one rule without a new
 * object in every link line.
 */
#ifndef MSGR_COMMON_INI_COMMENT_H
#define MSGR_COMMON_INI_COMMENT_H

#include <stdio.h>

/* value without a trailing comment: from a '#' or ';' that starts it or
 * follows a blank, and the blanks before it. Returns value itself when it
 * has none, else buf (len bytes; a longer value is cut, and then fails
 * whatever length check its key has). No key takes a value with a blank
 * then '#' or ';' in it. */
static inline const char *msgr__ini_strip_comment(const char *value, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *p = value; *p; p++, n++)
		if ((*p == '#' || *p == ';') && (p == value || p[-1] == ' ' || p[-1] == '\t'))
			break;
	if (!value[n])
		return value;
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	snprintf(buf, len, "%.*s", (int)n, value);
	return buf;
}

#endif
