/*
 * ctl_cmds.h - the control socket's commands: `status`, `clients`, `conns`,
 * `sessions`, `perf dump|schema`, `counter dump|schema`, `metrics`,
 * `config ...`, `log level|flush|reopen`, `inject`, `help`, and Ceph's
 * `get_command_descriptions`.
 *
 * Commands read the layers below through struct msgr__ctl_env, and reach
 * what only the loop can do (the configuration) through its hooks. The
 * socket side (ctl.h) hands each request here and writes the reply back.
 * Loop thread only.
 */
#ifndef MSGR_DAEMON_CTL_CMDS_H
#define MSGR_DAEMON_CTL_CMDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/loopstat.h"

struct msgr__registry;
struct msgr__chan_stats;
struct msgr__net_stats;
struct msgr__net;

/* Counters of the control socket, shown by `perf dump`. Owned by the loop. */
struct msgr__ctl_stats {
	uint64_t timeouts; /* control connections closed: no request within global.ctl_timeout */
};

/* What only the loop can do for a command, registered by it. Each returns
 * 0 or a negative errno; ctx is the loop's and outlives the control socket. */
struct msgr__ctl_hooks {
	/* The value of configuration key "section.key", as text; -ENOENT for
	 * a key that does not exist. */
	int (*config_get)(void *ctx, const char *key, char *val, size_t len);
	/* Set a key on the running daemon. -ENOENT: no such key; -EROFS: it
	 * cannot change while msgrd runs; -EINVAL: a bad value, said in msg.
	 * On success msg says what changed. */
	int (*config_set)(void *ctx, const char *key, const char *value, char *msg, size_t len);
	/* The i-th entry of `config show`, in order from 0 (every key, then
	 * the [policy] rules as "policy.PATTERN"); -ENOENT past the last. */
	int (*config_entry)(void *ctx, size_t i, char *name, size_t nlen, char *val, size_t vlen);
	/* The built-in default of key "section.key" as text (as config_get
	 * writes values), and whether it may change at run time; -ENOENT for
	 * no such key. For `config diff` and `config help`. */
	int (*config_default)(void *ctx, const char *key, char *val, size_t len, int *live);
	/* its type, range in units, default and when it may change, in a line */
	int (*config_help)(void *ctx, const char *key, char *buf, size_t len);
	void *ctx;
};

/* What the commands see. Value type, filled by the loop; every pointer is
 * lent for the control socket's life. */
struct msgr__ctl_env {
	struct msgr__registry *reg;   /* attached clients, with the clients layer's
					 settings and counters; inject detach
					 drops one */
	const struct msgr__chan_stats *chan_stats; /* counters of each layer */
	const struct msgr__net_stats *net_stats;
	const struct msgr__ctl_stats *ctl_stats;
	const struct msgr__loop_stats *loop_stats; /* the loop's turns (common/loopstat.h) */
	const int *inject;            /* global.inject (start-up only): allows `inject` */
	uint64_t started_ns;          /* CLOCK_MONOTONIC at the daemon's start */
	double started_unix_s;        /* CLOCK_REALTIME then: process_start_time_seconds */
	struct msgr__net *const *net; /* the loop's handle on the network side (net.h;
					 NULL before it starts): sessions, kill-link */
	struct msgr__ctl_hooks hooks;
};

/* Run one request (text: the JSON the requester sent) for a requester who
 * may run "rw" commands if privileged (pid and uid name it in the log).
 * Returns the reply payload, malloc'd, or NULL when out of memory. */
char *msgr__ctl_run(const struct msgr__ctl_env *env, const char *text, int privileged, int pid,
		    int uid);

/* The reply {"error": "..."} for fmt with one %s argument, malloc'd or NULL;
 * the message is escaped as the log is. */
char *msgr__ctl_error_reply(const char *fmt, const char *arg);

#endif
