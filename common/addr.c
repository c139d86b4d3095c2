#include "addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int msgr__entity_check(const char *s)
{
	const char *dot = strchr(s, '.');
	size_t n = strlen(s);

	if (!dot || n >= MSGR__ENTITY_MAX || dot == s || !dot[1])
		return -EINVAL;
	if (!islower((unsigned char)s[0]))
		return -EINVAL;
	for (const char *p = s; p < dot; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
			return -EINVAL;
	for (const char *p = dot + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return -EINVAL;
	return 0;
}

int msgr__hostport_check(const char *s)
{
	const char *colon;
	char *end;
	long port;

	if (strlen(s) >= MSGR__HOSTPORT_MAX)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb == s + 1 || rb[1] != ':')
			return -EINVAL;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
	}
	for (const char *p = s; p < colon; p++)
		if (!isgraph((unsigned char)*p) || *p == '/')
			return -EINVAL; /* also keeps control bytes out of logs */
	/* one spelling per port: sessions are named by these strings */
	if (!isdigit((unsigned char)colon[1]) || colon[1] == '0')
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -EINVAL;
	return 0;
}

int msgr__addr_split(const char *addr, char hostport[MSGR__HOSTPORT_MAX],
		     char entity[MSGR__ENTITY_MAX])
{
	const char *slash = strchr(addr, '/');
	size_t hl;

	if (!slash)
		return -EINVAL;
	hl = (size_t)(slash - addr);
	if (hl >= MSGR__HOSTPORT_MAX || strlen(slash + 1) >= MSGR__ENTITY_MAX)
		return -EINVAL;
	memcpy(hostport, addr, hl);
	hostport[hl] = 0;
	strcpy(entity, slash + 1);
	if (msgr__hostport_check(hostport) || msgr__entity_check(entity))
		return -EINVAL;
	return 0;
}
