/*
 * config.h - msgrd.conf: the keys, their defaults, and how they are set.
 *
 * One table in config.c lists every key with its type, bounds and default;
 * the INI file, --set and (later) `msgrctl config set` all go through
 * msgr__conf_set(), so they accept and reject exactly the same things.
 */
#ifndef MSGR_DAEMON_CONFIG_H
#define MSGR_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "policy.h"
#include "transports/fault.h"

/* Value type; owned by whoever declares it (main.c holds the daemon's). */
struct msgr__conf {
	char listen[MSGR__HOSTPORT_MAX]; /* global.listen: HOST:PORT naming this daemon */
	char socket[108];                /* global.socket: attach socket path */
	char ctl_socket[108];            /* global.ctl_socket: control socket path */
	uint64_t poll_us;                /* global.poll_us: busy-poll before sleeping */
	uint64_t pool_size;              /* global.pool_size: default per-client pool */
	uint64_t max_pool_size;          /* global.max_pool_size: cap on requests */
	uint64_t max_message;            /* global.max_message: largest payload */
	uint64_t max_clients;            /* global.max_clients */
	uint64_t max_conns_per_client;   /* global.max_conns_per_client: connection ids
					    one client may hold, opened and accepted */
	uint64_t channel_window;         /* global.channel_window: bytes per connection
					    waiting in the daemon before sends wait */
	int log_level;                   /* global.log_level */
	int inject;                      /* global.inject: allow `msgrctl inject`; start-up only,
					    so the control socket cannot switch it on */
	uint64_t ctl_timeout_ms;         /* global.ctl_timeout: for a control request, and
					    again for its reply */
	uint64_t ctl_max_conns;          /* global.ctl_max_conns: open control connections */
	uint64_t connect_timeout_ms;     /* net.connect_timeout: dial + handshake */
	uint64_t handshake_timeout_ms;   /* net.handshake_timeout: an accepted link's, to AUTH */
	uint64_t session_buffer;         /* net.session_buffer: bytes one peer's messages
					    may take here, waiting for local receivers */
	uint64_t receive_buffer;         /* net.receive_buffer: the same, all peers together */
	uint64_t keepalive_interval_ms;  /* net.keepalive_interval: KEEPALIVE period */
	uint64_t keepalive_timeout_ms;   /* net.keepalive_timeout: silence that ends a link */
	uint64_t links_per_session;      /* net.links_per_session: 1 (the only value yet) */
	char transport[16];              /* net.transport: a registered name (transport.c) */
	struct msgr__fault_conf fault;   /* net.inject_socket_failures, net.inject_delay: the
					    fault interceptor reads them live; nonzero only
					    with global.inject (msgr__conf_check) */
	char keyring[108];               /* auth.keyring: cluster key file (network) */
	int auth_mode;                   /* auth.mode: MSGR__AUTH_* */
	struct msgr__policy policy;      /* [policy]: who may attach as which entity; not in
					    the key table (its keys are patterns), set
					    through msgr__conf_set like the rest */
};

/* auth.mode; the values are also HELLO's auth mode byte. */
enum { MSGR__AUTH_NONE = 0, MSGR__AUTH_HMAC = 1, MSGR__AUTH_SECURE = 2 };
const char *msgr__auth_mode_name(int mode);

/* Ranges of keys a peer's HELLO announces too, so they are checked there
 * against the same bounds. */
#define MSGR__MAXMSG_MIN 1024ull
#define MSGR__MAXMSG_MAX (1ull << 30)
#define MSGR__WINDOW_MIN 4096ull
#define MSGR__WINDOW_MAX (1ull << 30)

void msgr__conf_defaults(struct msgr__conf *c);

/* Set one key from text. 0, or -ENOENT (unknown key) / -EINVAL (bad value)
 * with a message in err. In section "policy" the key is an entity name
 * pattern and the rule is added to c->policy (see policy.h). */
int msgr__conf_set(struct msgr__conf *c, const char *section, const char *key,
		   const char *value, char *err, size_t errlen);

/* "SECTION.KEY=VALUE", as given to --set. */
int msgr__conf_set_arg(struct msgr__conf *c, const char *arg, char *err, size_t errlen);

/* Parse an INI file over c. On error, err holds "file:line: message". */
int msgr__conf_load(struct msgr__conf *c, const char *path, char *err, size_t errlen);

/* Rules between keys, checked once all are set: 0 or -EINVAL and err. */
int msgr__conf_check(const struct msgr__conf *c, char *err, size_t errlen);

/* The key table, by index, for reload, `config get` and `config set`. */
size_t msgr__conf_nkeys(void);
void msgr__conf_key_name(size_t i, char *buf, size_t len);      /* "section.key" */
void msgr__conf_key_value(const struct msgr__conf *c, size_t i, char *buf, size_t len);
int msgr__conf_key_live(size_t i);  /* may change while running */
void msgr__conf_key_copy(struct msgr__conf *dst, const struct msgr__conf *src, size_t i);
int msgr__conf_find(const char *name); /* index of "section.key", or -ENOENT */

#endif
