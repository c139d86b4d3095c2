/*
 * link.h - the links layer: the core's state over one transport connection
 * (framing, handshake, keepalives), below sessions and above transports.
 *
 * This header also holds what the whole network side (links and sessions)
 * is configured by and counts: struct msgr__net_conf and struct
 * msgr__net_stats. The loop owns both (inside its configuration and its
 * counters) and lends them to the layers here for their whole life; the
 * configuration may change under them between loop turns (live keys), so
 * they read it afresh at every use and never copy it.
 */
#ifndef MSGR_DAEMON_LINK_H
#define MSGR_DAEMON_LINK_H

#include <stdint.h>

#include "common/addr.h"
#include "transports/fault.h"

/* Settings of the network side. Value type, owned by the loop's
 * configuration (config.h); the key each field comes from is named. */
struct msgr__net_conf {
	char listen[MSGR__HOSTPORT_MAX]; /* global.listen: HOST:PORT naming this daemon */
	uint64_t max_message;            /* global.max_message: largest payload */
	uint64_t channel_window;         /* global.channel_window: bytes per connection
					    waiting in the daemon before sends wait */
	uint64_t connect_timeout_ms;     /* net.connect_timeout: dial + handshake */
	uint64_t handshake_timeout_ms;   /* net.handshake_timeout: an accepted link's, to AUTH */
	uint64_t keepalive_interval_ms;  /* net.keepalive_interval: KEEPALIVE period */
	uint64_t keepalive_timeout_ms;   /* net.keepalive_timeout: silence that ends a link */
	uint64_t links_per_session;      /* net.links_per_session: 1 (the only value yet) */
	char transport[16];              /* net.transport: a registered name (transport.c) */
	struct msgr__fault_conf fault;   /* net.inject_socket_failures, net.inject_delay: the
					    fault interceptor reads them live; nonzero only
					    with global.inject (msgr__conf_check) */
	char keyring[108];               /* auth.keyring: cluster key file */
	int auth_mode;                   /* auth.mode: MSGR__AUTH_* */
};

/* auth.mode; the values are also HELLO's auth mode byte. */
enum { MSGR__AUTH_NONE = 0, MSGR__AUTH_HMAC = 1, MSGR__AUTH_SECURE = 2 };

/* Ranges of keys a peer's HELLO announces too, so they are checked there
 * against the same bounds as the configuration. */
#define MSGR__MAXMSG_MIN 1024ull
#define MSGR__MAXMSG_MAX (1ull << 30)
#define MSGR__WINDOW_MIN 4096ull
#define MSGR__WINDOW_MAX (1ull << 30)

/* Counters of the network side, shown by `perf dump`. Owned by the loop. */
struct msgr__net_stats {
	uint64_t links_dialled;     /* outbound links started */
	uint64_t links_accepted;    /* inbound links accepted */
	uint64_t links_refused;     /* inbound links closed at once: too many in handshake */
	uint64_t dial_failures;     /* dials that never connected */
	uint64_t link_errors;       /* links ended by an error (reset, timeout, bad input) */
	uint64_t handshake_timeouts;/* links with no session in time (connect_timeout, handshake_timeout) */
	uint64_t keepalive_timeouts;/* links silent for net.keepalive_timeout */
	uint64_t auth_failures;     /* authentication refused, either way */
	uint64_t races;             /* connection races resolved */
	uint64_t bad_banner;        /* wrong magic before anything else */
	uint64_t no_version;        /* no protocol version in common */
	uint64_t bad_header_crc;    /* frame header CRC mismatch */
	uint64_t bad_type;          /* unknown frame type, flags or reserved bits */
	uint64_t oversized;         /* frame over its type's size limit */
	uint64_t bad_payload_crc;   /* payload CRC mismatch (channel reset) */
	uint64_t bad_tag;           /* secure mode: a record that does not authenticate */
	uint64_t protocol_errors;   /* frames out of place or malformed */
	uint64_t injected_failures; /* links reset by the fault interceptor (transports/fault.c):
				       net.inject_socket_failures and inject kill-link */
};

#endif
