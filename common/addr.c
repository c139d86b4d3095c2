#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
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

#define PAT_ERR(...)                                         \
	do {                                                 \
		if (err)                                     \
			snprintf(err, errlen, __VA_ARGS__);  \
		return -EINVAL;                              \
	} while (0)

int msgr__entity_pattern_check(const char *pat, char *err, size_t errlen)
{
	size_t n = strnlen(pat, MSGR__ENTITY_MAX);

	if (!n || n >= MSGR__ENTITY_MAX)
		PAT_ERR("pattern '%.*s' is empty or longer than %d bytes", MSGR__ENTITY_MAX - 1, pat,
			MSGR__ENTITY_MAX - 1);
	for (const char *p = pat; *p; p++) {
		if (*p == '[') {
			/* a bracket expression: "[!" or "[^", at least one
			 * character, then "]"; an unclosed one would make
			 * fnmatch match the '[' literally, never a name */
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				PAT_ERR("pattern '%s' has an unclosed '['", pat);
			for (const char *r = p + 1; r < q; r++)
				if (!isalnum((unsigned char)*r) && !strchr("_.-!^]", *r))
					PAT_ERR("pattern '%s': '%c' cannot be in an entity name", pat,
						isprint((unsigned char)*r) ? *r : '?');
			p = q;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !strchr("_.-*?", *p))
			PAT_ERR("pattern '%s': '%c' cannot be in an entity name", pat,
				isprint((unsigned char)*p) ? *p : '?');
	}
	return 0;
}

#undef PAT_ERR

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

void msgr__source_key(const char *hostport, char out[MSGR__HOSTPORT_MAX])
{
	const char *colon = strrchr(hostport, ':');
	size_t hlen = colon ? (size_t)(colon - hostport) : strlen(hostport);
	char host[MSGR__HOSTPORT_MAX];
	unsigned char a[16];

	if (hlen >= sizeof(host))
		hlen = sizeof(host) - 1;
	memcpy(host, hostport, hlen);
	host[hlen] = 0;
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, a) == 1) {
			static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };
			if (!memcmp(a, mapped, sizeof(mapped)))
				snprintf(out, MSGR__HOSTPORT_MAX, "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
			else
				snprintf(out, MSGR__HOSTPORT_MAX, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
					 a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
			return;
		}
		host[hlen - 1] = ']';
	}
	snprintf(out, MSGR__HOSTPORT_MAX, "%s", host);
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
