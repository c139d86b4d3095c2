#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
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

/* Split a checked HOST:PORT into the host without brackets and the port. */
static void hostport_parts(const char *in, char host[MSGR__HOSTPORT_MAX], const char **port)
{
	const char *colon = in[0] == '[' ? strchr(in, ']') + 1 : strrchr(in, ':');
	size_t hl = (size_t)(colon - in) - (in[0] == '[' ? 2 : 0);

	memcpy(host, in + (in[0] == '['), hl);
	host[hl] = 0;
	*port = colon + 1;
}

/* A binary address and port, as its canonical HOST:PORT. */
static int canon_put(int af, const void *a, const char *port, char out[MSGR__HOSTPORT_MAX])
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(af, a, ip, sizeof(ip)))
		return -EINVAL;
	snprintf(out, MSGR__HOSTPORT_MAX, af == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
	return 0;
}

int msgr__hostport_canon(const char *in, char out[MSGR__HOSTPORT_MAX])
{
	char host[MSGR__HOSTPORT_MAX];
	unsigned char a[16];
	const char *port;

	if (msgr__hostport_check(in))
		return -EINVAL;
	hostport_parts(in, host, &port);
	if (in[0] == '[')
		return inet_pton(AF_INET6, host, a) == 1 ? canon_put(AF_INET6, a, port, out) : -EINVAL;
	/* inet_pton takes only the dotted quad (not 127.1 or 0x7f.0.0.1),
	 * so every IPv4 address has one spelling */
	return inet_pton(AF_INET, host, a) == 1 ? canon_put(AF_INET, a, port, out) : -EINVAL;
}

int msgr__hostport_sockaddr(const char *hostport, struct sockaddr_storage *ss)
{
	char host[MSGR__HOSTPORT_MAX];
	const char *port;
	in_port_t nport;

	if (msgr__hostport_check(hostport))
		return -EINVAL;
	hostport_parts(hostport, host, &port);
	nport = htons((in_port_t)atoi(port)); /* checked: 1..65535, digits only */
	memset(ss, 0, sizeof(*ss));
	if (hostport[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = nport;
		return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = nport;
	/* the dotted quad only, as msgr__hostport_canon takes it */
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -EINVAL;
}

int msgr__sockaddr_hostport(const struct sockaddr *sa, char *buf, size_t len)
{
	char port[8], out[MSGR__HOSTPORT_MAX];
	const void *a;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		a = &a6->sin6_addr;
		snprintf(port, sizeof(port), "%u", (unsigned)ntohs(a6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		a = &a4->sin_addr;
		snprintf(port, sizeof(port), "%u", (unsigned)ntohs(a4->sin_port));
	} else {
		return -EAFNOSUPPORT;
	}
	if (canon_put(sa->sa_family, a, port, out))
		return -EINVAL;
	if (strlen(out) >= len)
		return -ENOSPC;
	strcpy(buf, out);
	return 0;
}

int msgr__hostport_resolve(const char *in, char out[MSGR__HOSTPORT_MAX], char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char host[MSGR__HOSTPORT_MAX];
	const char *port;
	int rc;

	if (msgr__hostport_check(in)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT (IPv6 as [ADDR]:PORT)", in);
		return -EINVAL;
	}
	if (!msgr__hostport_canon(in, out))
		return 0;
	hostport_parts(in, host, &port);
	if (in[0] == '[') {
		snprintf(err, errlen, "'%s': '%s' is not an IPv6 address", in, host);
		return -EINVAL;
	}
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "'%s': cannot resolve host name '%s': %s", in, host,
			 rc ? gai_strerror(rc) : "no address");
		return -ENOENT;
	}
	rc = res->ai_family == AF_INET6
		     ? canon_put(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, port, out)
		     : canon_put(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, port, out);
	freeaddrinfo(res);
	if (rc)
		snprintf(err, errlen, "'%s': '%s' resolved to no usable address", in, host);
	return rc;
}

int msgr__hostport_unspecified(const char *canon)
{
	return !strncmp(canon, "0.0.0.0:", 8) || !strncmp(canon, "[::]:", 5);
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
