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
#include "channel.h"
#include "client.h"
#include "ctl.h"
#include "link.h"
#include "policy.h"

/* Value type; owned by whoever declares it (main.c holds the daemon's).
 * Each layer's settings are a struct of that layer's, lent to it. */
struct msgr__conf {
	struct msgr__net_conf net;       /* links and sessions (link.h) */
	struct msgr__chan_conf chan;     /* channels (channel.h) */
	struct msgr__client_conf client; /* attached clients (client.h) */
	struct msgr__ctl_conf ctl;       /* the control socket (ctl.h) */
	int log_level;                   /* global.log_level */
	char log_file[108];              /* global.log_file: log here instead of stderr or
					    the journal; "" for none */
	char metrics_listen[MSGR__HOSTPORT_MAX]; /* global.metrics_listen: HTTP /metrics;
					    "" for off; start-up only */
	int inject;                      /* global.inject: allow `msgrctl inject`; start-up only,
					    so the control socket cannot switch it on */
	struct msgr__policy policy;      /* [policy]: who may attach as which entity; not in
					    the key table (its keys are patterns), set
					    through msgr__conf_set like the rest */
};


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
/* What key i takes, for help: its type, range in units ("64K..1G"), default,
 * and whether it changes at run time. */
void msgr__conf_key_help(size_t i, char *buf, size_t len);

#endif
