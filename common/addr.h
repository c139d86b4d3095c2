/*
 * addr.h - entity names ("TYPE.ID") and addresses ("HOST:PORT/TYPE.ID").
 *
 * Pure string functions with no state; used by the daemon and libmsgr alike.
 */
#ifndef MSGR_COMMON_ADDR_H
#define MSGR_COMMON_ADDR_H

#include <stddef.h>

#define MSGR__ENTITY_MAX 64  /* bytes including the NUL */
#define MSGR__HOSTPORT_MAX 128
#define MSGR__ADDR_MAX (MSGR__HOSTPORT_MAX + MSGR__ENTITY_MAX)

/* 0 if s is TYPE.ID: TYPE is [a-z][a-z0-9_]*, ID is [A-Za-z0-9_-]+, under
 * MSGR__ENTITY_MAX bytes in all. -EINVAL otherwise. */
int msgr__entity_check(const char *s);

/* 0 if pat is a glob over entity names: 1 to MSGR__ENTITY_MAX - 1 bytes of
 * entity name characters and the fnmatch(3) characters * ? and [...] (with
 * every bracket closed). -EINVAL otherwise, and, if err is not NULL, a line
 * in err saying what is wrong ("pattern 'osd.[0-9' has an unclosed '['").
 * Anything else could never match a valid name, so it is a typo. Used by
 * [policy] and msgr_accept_modes(3) alike. */
int msgr__entity_pattern_check(const char *pat, char *err, size_t errlen);

/* 0 if s is HOST:PORT with a port in 1..65535 (HOST may be [v6]). */
int msgr__hostport_check(const char *s);

/* The one spelling of a numeric HOST:PORT that sessions and the race
 * arbiter compare byte for byte: IPv4 dotted quad, IPv6 in brackets as
 * RFC 5952 writes it (inet_ntop: lower case, the longest run of zero groups
 * as ::). -EINVAL if HOST is not a numeric address (a host name). out has
 * MSGR__HOSTPORT_MAX bytes. */
int msgr__hostport_canon(const char *in, char out[MSGR__HOSTPORT_MAX]);

/* The same, but a HOST that is a name is resolved (getaddrinfo: blocking,
 * so for start-up only) to its first address of a family this host has.
 * -EINVAL (not HOST:PORT) or -ENOENT (no address for it), and a line in err
 * saying which. */
int msgr__hostport_resolve(const char *in, char out[MSGR__HOSTPORT_MAX], char *err, size_t errlen);

/* Whether a canonical HOST:PORT names no host: 0.0.0.0 or [::]. */
int msgr__hostport_unspecified(const char *canon);

/* The source a "HOST:PORT" (as a transport reports a peer's) counts as, for
 * limits per source: an IPv4 host as it is, an IPv6 host by its /64, which
 * one host commonly holds whole (an IPv4-mapped address counts as IPv4).
 * Writes a key that compares equal for the same source; out has
 * MSGR__HOSTPORT_MAX bytes. */
void msgr__source_key(const char *hostport, char out[MSGR__HOSTPORT_MAX]);

struct sockaddr;
struct sockaddr_storage;

/* A numeric HOST:PORT (IPv4 dotted quad, or [IPv6]) as a socket address,
 * for transports that hand the kernel a sockaddr themselves (rdma_cm).
 * 0, or -EINVAL if it is not one (a host name included: no resolver). */
int msgr__hostport_sockaddr(const char *hostport, struct sockaddr_storage *ss);

/* The canonical HOST:PORT (as msgr__hostport_canon spells it) of an
 * AF_INET or AF_INET6 address. 0, -EAFNOSUPPORT for another family (an
 * unresolved, all-zero one included), or -ENOSPC if len is too small. */
int msgr__sockaddr_hostport(const struct sockaddr *sa, char *buf, size_t len);

/* Split "HOST:PORT/TYPE.ID" into its two halves (copied into the buffers).
 * -EINVAL if either half is malformed. */
int msgr__addr_split(const char *addr, char hostport[MSGR__HOSTPORT_MAX],
		     char entity[MSGR__ENTITY_MAX]);

#endif
