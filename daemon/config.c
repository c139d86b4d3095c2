#include "config.h"

#include <errno.h>
#include <limits.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/edit_distance.h"
#include "common/ini_comment.h"
#include "common/log.h"
#include "common/paths.h"
#include "transports/transport.h"

/* K_SIZE is bytes, K_MS milliseconds and K_US microseconds: each key's own
 * unit, which a bare number is in and which the field holds. No key is
 * K_US yet: global.poll_us stays a plain number (its name gives the unit),
 * so that its errors and `config get` read as they always have. */
enum ktype { K_HOSTPORT, K_PATH, K_U64, K_SIZE, K_LOGLEVEL, K_BOOL, K_MS, K_US, K_AUTH, K_TRANSPORT };

struct key {
	const char *section, *name;
	enum ktype type;
	size_t off;     /* offsetof in struct msgr__conf */
	size_t size;    /* field size for strings */
	uint64_t min, max;
	const char *def;
	int live;       /* may change at run time (SIGHUP, config set) */
};

#define F(f) offsetof(struct msgr__conf, f), sizeof(((struct msgr__conf *)0)->f)

static const struct key keys[] = {
	{ "global", "listen", K_HOSTPORT, F(net.listen), 0, 0, "127.0.0.1:6800", 0 },
	{ "global", "bind", K_HOSTPORT, F(net.bind), 0, 0, "", 0 },
	{ "global", "socket", K_PATH, F(client.socket), 0, 0, "/run/msgrd/msgrd.sock", 0 },
	{ "global", "ctl_socket", K_PATH, F(ctl.socket), 0, 0, "/run/msgrd/msgrd.asok", 0 },
	{ "global", "poll_us", K_U64, F(client.poll_us), 0, 1000000, "0", 1 },
	{ "global", "pool_size", K_SIZE, F(client.pool_size), 64 << 10, 1ULL << 30, "32M", 1 },
	{ "global", "max_pool_size", K_SIZE, F(client.max_pool_size), 64 << 10, 1ULL << 30, "256M", 1 },
	{ "global", "max_message", K_SIZE, F(net.max_message), MSGR__MAXMSG_MIN, MSGR__MAXMSG_MAX, "16M", 1 },
	{ "global", "max_clients", K_U64, F(client.max_clients), 1, 65536, "1024", 1 },
	{ "global", "max_conns_per_client", K_U64, F(client.max_conns_per_client), 1, 65536, "16384", 1 },
	{ "global", "channel_window", K_SIZE, F(net.channel_window), MSGR__WINDOW_MIN, MSGR__WINDOW_MAX, "4M", 1 },
	{ "global", "log_level", K_LOGLEVEL, F(log_level), 0, 0, "info", 1 },
	{ "global", "inject", K_BOOL, F(inject), 0, 0, "false", 0 },
	{ "global", "ctl_timeout", K_MS, F(ctl.timeout_ms), 100, 600000, "5s", 1 },
	{ "global", "ctl_max_conns", K_U64, F(ctl.max_conns), 1, 1024, "16", 1 },
	{ "global", "metrics_listen", K_HOSTPORT, F(metrics_listen), 0, 0, "", 0 },
	{ "global", "log_file", K_PATH, F(log_file), 0, 0, "", 1 },
	{ "net", "connect_timeout", K_MS, F(net.connect_timeout_ms), 100, 600000, "5s", 1 },
	{ "net", "handshake_timeout", K_MS, F(net.handshake_timeout_ms), 100, 600000, "2s", 1 },
	{ "net", "session_buffer", K_SIZE, F(chan.session_buffer), 1 << 20, 1ULL << 40, "256M", 1 },
	{ "net", "receive_buffer", K_SIZE, F(chan.receive_buffer), 1 << 20, 1ULL << 40, "1G", 1 },
	{ "net", "send_backlog", K_SIZE, F(net.send_backlog), 64 << 10, 64 << 20, "256K", 1 },
	{ "net", "keepalive_interval", K_MS, F(net.keepalive_interval_ms), 100, 600000, "1s", 1 },
	{ "net", "keepalive_timeout", K_MS, F(net.keepalive_timeout_ms), 200, 3600000, "10s", 1 },
	{ "net", "reconnect_backoff_min", K_MS, F(net.reconnect_backoff_min_ms), 10, 60000, "100ms", 1 },
	{ "net", "reconnect_backoff_max", K_MS, F(net.reconnect_backoff_max_ms), 10, 600000, "5s", 1 },
	{ "net", "resume_timeout", K_MS, F(chan.resume_timeout_ms), 100, 86400000, "5m", 1 },
	{ "net", "links_per_session", K_U64, F(net.links_per_session), 1, 1, "1", 0 },
	{ "net", "transport", K_TRANSPORT, F(net.transport), 0, 0, "tcp", 0 },
	{ "net", "inject_socket_failures", K_U64, F(net.fault.socket_failures), 0, 1000000000, "0", 1 },
	{ "net", "inject_delay", K_MS, F(net.fault.delay_ms), 0, 60000, "0", 1 },
	{ "rdma", "recv_depth", K_U64, F(net.tconf.rdma_recv_depth), 1, 1024, "32", 0 },
	{ "rdma", "recv_size", K_SIZE, F(net.tconf.rdma_recv_size), 4096, 1 << 20, "64K", 0 },
	{ "rdma", "send_slots", K_U64, F(net.tconf.rdma_send_slots), 1, 1024, "32", 0 },
	{ "rdma", "max_links", K_U64, F(net.tconf.rdma_max_links), 0, 65536, "64", 0 },
	{ "auth", "keyring", K_PATH, F(net.keyring), 0, 0, MSGR_SYSCONFDIR "/msgrd/keyring", 0 },
	{ "auth", "mode", K_AUTH, F(net.auth_mode), 0, 0, "hmac", 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct unit {
	const char *name;
	uint64_t mul; /* bytes, or microseconds */
};

/* Binary multiples, as Ceph and the shipped file have always meant them;
 * compared without case ("64k", "1GiB"). */
static const struct unit size_units[] = {
	{ "B", 1 },
	{ "K", 1ull << 10 }, { "KB", 1ull << 10 }, { "KiB", 1ull << 10 },
	{ "M", 1ull << 20 }, { "MB", 1ull << 20 }, { "MiB", 1ull << 20 },
	{ "G", 1ull << 30 }, { "GB", 1ull << 30 }, { "GiB", 1ull << 30 },
	{ "T", 1ull << 40 }, { "TB", 1ull << 40 }, { "TiB", 1ull << 40 },
};

/* Case matters: "m" is minutes, and nobody means megaseconds. */
static const struct unit time_units[] = {
	{ "us", 1 }, { "usec", 1 }, { "µs", 1 },
	{ "ms", 1000 }, { "msec", 1000 },
	{ "s", 1000000 }, { "sec", 1000000 }, { "secs", 1000000 }, { "second", 1000000 },
	{ "seconds", 1000000 },
	{ "m", 60000000 }, { "min", 60000000 }, { "mins", 60000000 }, { "minute", 60000000 },
	{ "minutes", 60000000 },
	{ "h", 3600000000ull }, { "hr", 3600000000ull }, { "hour", 3600000000ull },
	{ "hours", 3600000000ull },
	{ "d", 86400000000ull }, { "day", 86400000000ull }, { "days", 86400000000ull },
};

#define NUNITS(a) (sizeof(a) / sizeof((a)[0]))

/* A decimal number, optional blanks, then a unit from units or none: a
 * bare number is in base (the key's own unit, in the table's terms), so
 * no value written before units existed changes meaning. *out is in the
 * table's unit (bytes, microseconds). */
static int parse_units(const char *v, const struct unit *units, size_t nunits, int nocase,
		       uint64_t base, uint64_t *out)
{
	char *end;
	unsigned long long n;
	uint64_t mul = base;

	if (*v < '0' || *v > '9')
		return -EINVAL; /* strtoull would take "-1" and " 1" */
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	end += strspn(end, " \t");
	if (*end) {
		size_t i;
		for (i = 0; i < nunits; i++)
			if (!(nocase ? strcasecmp : strcmp)(end, units[i].name))
				break;
		if (i == nunits)
			return -EINVAL;
		mul = units[i].mul;
	}
	if (n > UINT64_MAX / mul)
		return -EINVAL;
	*out = n * mul;
	return 0;
}

/* n (in the table's unit) in the largest unit of units that divides it,
 * of those listed in order of size: "64K", "5m", "250ms". */
static void format_units(uint64_t n, const char *const *names, const uint64_t *muls, size_t k,
			 char *buf, size_t len)
{
	if (!n) {
		snprintf(buf, len, "0"); /* zero is zero in any unit */
		return;
	}
	for (size_t i = k; i-- > 1;)
		if (n && n % muls[i] == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(n / muls[i]), names[i]);
			return;
		}
	snprintf(buf, len, "%llu%s", (unsigned long long)(n / muls[0]), names[0]);
}

/* A value of key type t, held in the key's own unit, as an admin writes it. */
static void format_value(enum ktype t, uint64_t n, char *buf, size_t len)
{
	static const char *const sz[] = { "", "K", "M", "G", "T" };
	static const uint64_t szm[] = { 1, 1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40 };
	static const char *const tm[] = { "us", "ms", "s", "m", "h" };
	static const uint64_t tmm[] = { 1, 1000, 1000000, 60000000, 3600000000ull };

	if (t == K_SIZE)
		format_units(n, sz, szm, 5, buf, len);
	else if (t == K_MS) /* a whole number of milliseconds: never "us" */
		format_units(n * 1000, tm + 1, tmm + 1, 4, buf, len);
	else if (t == K_US)
		format_units(n, tm, tmm, 5, buf, len);
	else
		snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* What a value of the type looks like, for errors and help. */
static const char *type_hint(enum ktype t)
{
	switch (t) {
	case K_SIZE: return "size (bytes, or with a unit: 64K, 16M, 1G; powers of 1024)";
	case K_MS: return "duration (milliseconds, or with a unit: 500ms, 5s, 2m, 1h)";
	case K_US: return "duration (microseconds, or with a unit: 50us, 1ms, 1s)";
	default: return "number";
	}
}

static int set_key(struct msgr__conf *c, const struct key *k, const char *v, char *err,
		   size_t errlen)
{
	void *field = (char *)c + k->off;
	uint64_t n;
	int lvl;

	/* a key that is off by default (an empty default) can be set off again */
	if (!*v && !*k->def && (k->type == K_HOSTPORT || k->type == K_PATH)) {
		*(char *)field = 0;
		return 0;
	}
	switch (k->type) {
	case K_HOSTPORT: {
		/* One numeric spelling: peers and the race arbiter compare
		 * listen addresses byte for byte. A host name is resolved once,
		 * here, at start-up. */
		char canon[MSGR__HOSTPORT_MAX], why[200];
		if (!*v && !*k->def) { /* global.bind unset: the listen address */
			*(char *)field = 0;
			return 0;
		}
		if (msgr__hostport_resolve(v, canon, why, sizeof(why))) {
			snprintf(err, errlen, "%s.%s: %s", k->section, k->name, why);
			return -EINVAL;
		}
		memcpy(field, canon, strlen(canon) + 1);
		return 0;
	}
	case K_PATH:
		if (v[0] != '/' || strlen(v) >= k->size) {
			snprintf(err, errlen, "%s.%s: '%s' is not an absolute path under %zu bytes",
				 k->section, k->name, v, k->size);
			return -EINVAL;
		}
		break;
	case K_U64:
	case K_SIZE:
	case K_MS:
	case K_US: {
		/* numbers, sizes and durations differ only in how they are
		 * written; the range is checked in the key's unit alike and
		 * printed in units ("64K..1G") */
		char lo[32], hi[32];
		int bad;
		if (k->type == K_SIZE)
			bad = parse_units(v, size_units, NUNITS(size_units), 1, 1, &n);
		else if (k->type == K_MS || k->type == K_US) {
			uint64_t base = k->type == K_MS ? 1000 : 1;
			bad = parse_units(v, time_units, NUNITS(time_units), 0, base, &n);
			if (!bad && n % base) {
				snprintf(err, errlen, "%s.%s: '%s' is not a whole number of milliseconds",
					 k->section, k->name, v);
				return -EINVAL;
			}
			n /= base;
		} else
			bad = parse_units(v, NULL, 0, 0, 1, &n);
		if (bad) {
			snprintf(err, errlen, "%s.%s: '%s' is not a %s", k->section, k->name, v,
				 type_hint(k->type));
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			format_value(k->type, k->min, lo, sizeof(lo));
			format_value(k->type, k->max, hi, sizeof(hi));
			snprintf(err, errlen, "%s.%s: %s is out of range %s..%s", k->section, k->name, v,
				 lo, hi);
			return -EINVAL;
		}
		*(uint64_t *)field = n;
		return 0;
	}
	case K_TRANSPORT:
		if (!msgr__transport_find(v)) {
			char names[128];
			msgr__transport_names(names, sizeof(names));
			snprintf(err, errlen, "%s.%s: '%s' is not a transport built into msgrd (known: %s)",
				 k->section, k->name, v, names);
			return -EINVAL;
		}
		break; /* a registered name fits: they are short */
	case K_AUTH:
		if (!strcmp(v, "hmac"))
			*(int *)field = MSGR__AUTH_HMAC;
		else if (!strcmp(v, "secure"))
			*(int *)field = MSGR__AUTH_SECURE;
		else if (!strcmp(v, "none"))
			*(int *)field = MSGR__AUTH_NONE;
		else {
			snprintf(err, errlen, "%s.%s: '%s' is not hmac, secure or none", k->section,
				 k->name, v);
			return -EINVAL;
		}
		return 0;
	case K_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
			*(int *)field = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
			*(int *)field = 0;
		else {
			snprintf(err, errlen, "%s.%s: '%s' is not true or false", k->section, k->name, v);
			return -EINVAL;
		}
		return 0;
	case K_LOGLEVEL:
		lvl = msgr__log_level_parse(v);
		if (lvl < 0) {
			snprintf(err, errlen,
				 "%s.%s: '%s' is not one of error, warning, notice, info, debug",
				 k->section, k->name, v);
			return -EINVAL;
		}
		*(int *)field = lvl;
		return 0;
	}
	memcpy(field, v, strlen(v) + 1);
	return 0;
}

/* The message for a key that is no row of the table: where a key of that
 * name lives, or the key a typo or two away ("did you mean"). A key before
 * any [section] line comes with section "" from inih. */
static void unknown_key(const char *section, const char *key, char *err, size_t errlen)
{
	char full[160], best[160] = "";
	size_t bestd = SIZE_MAX;

	snprintf(full, sizeof(full), "%s.%s", section, key);
	for (size_t i = 0; i < NKEYS; i++) {
		char name[160];
		size_t d;
		snprintf(name, sizeof(name), "%s.%s", keys[i].section, keys[i].name);
		/* the right key in the wrong section is the likeliest slip */
		d = !strcmp(keys[i].name, key) ? 0 : msgr__edit_distance(full, name);
		if (d < bestd) {
			bestd = d;
			snprintf(best, sizeof(best), "%s", name);
		}
	}
	/* a typo or two, not a different word: at most a third of the name */
	if (bestd > 2 && bestd * 3 > strlen(full))
		best[0] = 0;
	if (!*section) {
		if (*best && bestd == 0)
			snprintf(err, errlen, "key '%s' is outside any section (it belongs in [%.*s])", key,
				 (int)strcspn(best, "."), best);
		else
			snprintf(err, errlen,
				 "key '%s' is outside any section (every key belongs under a [section] line, such as [global])",
				 key);
		return;
	}
	if (*best)
		snprintf(err, errlen, "unknown key '%s' (did you mean %s?)", full, best);
	else
		snprintf(err, errlen, "unknown key '%s'", full);
}

void msgr__conf_defaults(struct msgr__conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++)
		if (set_key(c, &keys[i], keys[i].def, err, sizeof(err)))
			abort(); /* a bad built-in default is a programming error */
}

int msgr__conf_set(struct msgr__conf *c, const char *section, const char *key,
		   const char *value, char *err, size_t errlen)
{
	/* [policy] has free-form keys (entity name patterns), so it is no
	 * row of the table; the INI file and --set reach it here alike */
	if (!strcmp(section, "policy"))
		return msgr__policy_add(&c->policy, key, value, err, errlen);
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, key))
			return set_key(c, &keys[i], value, err, errlen);
	unknown_key(section, key, err, errlen);
	return -ENOENT;
}

int msgr__conf_set_arg(struct msgr__conf *c, const char *arg, char *err, size_t errlen)
{
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
	char section[64], key[64];

	if (!dot || !eq || dot > eq || (size_t)(dot - arg) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(key) || dot == arg || eq == dot + 1) {
		snprintf(err, errlen, "'%s' is not SECTION.KEY=VALUE", arg);
		return -EINVAL;
	}
	memcpy(section, arg, (size_t)(dot - arg));
	section[dot - arg] = 0;
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = 0;
	return msgr__conf_set(c, section, key, eq + 1, err, errlen);
}

struct load_ctx {
	struct msgr__conf *c;
	char msg[256];
	int failed;
};

static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	char msg[256], v[1024];

	value = msgr__ini_strip_comment(value, v, sizeof(v));
	if (msgr__conf_set(lc->c, section, name, value, msg, sizeof(msg))) {
		if (!lc->failed)
			memcpy(lc->msg, msg, sizeof(msg));
		lc->failed = 1;
		return 0;
	}
	return 1;
}

int msgr__conf_load(struct msgr__conf *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx lc = { .c = c };
	int line = ini_parse(path, on_ini_key, &lc);

	if (line == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -errno ? -errno : -ENOENT;
	}
	if (line == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (line > 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
			 lc.failed ? lc.msg : "syntax error (expected [section] or key = value)");
		return -EINVAL;
	}
	return 0;
}

int msgr__conf_check(const struct msgr__conf *c, char *err, size_t errlen)
{
	if (c->net.keepalive_timeout_ms <= c->net.keepalive_interval_ms) {
		snprintf(err, errlen,
			 "net.keepalive_timeout (%llums) must be longer than net.keepalive_interval (%llums)",
			 (unsigned long long)c->net.keepalive_timeout_ms,
			 (unsigned long long)c->net.keepalive_interval_ms);
		return -EINVAL;
	}
	if (c->net.reconnect_backoff_min_ms > c->net.reconnect_backoff_max_ms) {
		snprintf(err, errlen,
			 "net.reconnect_backoff_min (%llums) must not be longer than net.reconnect_backoff_max (%llums)",
			 (unsigned long long)c->net.reconnect_backoff_min_ms,
			 (unsigned long long)c->net.reconnect_backoff_max_ms);
		return -EINVAL;
	}
	/* fault injection is for test clusters: nobody turns it on by
	 * accident, nor from the control socket (global.inject is start-up
	 * only); 0, off, is the one value allowed without it */
	if (!c->inject && (c->net.fault.socket_failures || c->net.fault.delay_ms)) {
		snprintf(err, errlen, "%s: fault injection needs global.inject = true (set at start-up)",
			 c->net.fault.socket_failures ? "net.inject_socket_failures" : "net.inject_delay");
		return -EINVAL;
	}
	/* the fake verbs shim is a test device: it must never carry a real
	 * cluster's traffic by a typo */
	if (!c->inject && !strcmp(c->net.transport, "rdma-fake")) {
		snprintf(err, errlen, "net.transport = rdma-fake is for tests and needs global.inject = true "
			 "(set at start-up); real hardware is net.transport = rdma");
		return -EINVAL;
	}
	if (msgr__hostport_unspecified(c->net.listen)) {
		snprintf(err, errlen,
			 "global.listen = %s: this is the address peers dial, so it must name this host; "
			 "to accept on every address, set global.bind = %s and global.listen to an "
			 "address peers reach", c->net.listen, c->net.listen);
		return -EINVAL;
	}
	if (c->client.pool_size > c->client.max_pool_size) {
		snprintf(err, errlen, "global.pool_size (%llu) is larger than global.max_pool_size (%llu)",
			 (unsigned long long)c->client.pool_size, (unsigned long long)c->client.max_pool_size);
		return -EINVAL;
	}
	return 0;
}

size_t msgr__conf_nkeys(void)
{
	return NKEYS;
}

void msgr__conf_key_name(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", keys[i].section, keys[i].name);
}

int msgr__conf_key_live(size_t i)
{
	return keys[i].live;
}

void msgr__conf_key_value(const struct msgr__conf *c, size_t i, char *buf, size_t len)
{
	const struct key *k = &keys[i];
	const void *f = (const char *)c + k->off;

	/* sizes in bytes and poll_us bare, as `config get` has always shown them */
	if (k->type == K_U64 || k->type == K_SIZE || k->type == K_US)
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)f);
	else if (k->type == K_LOGLEVEL)
		snprintf(buf, len, "%s", msgr__log_level_name(*(const int *)f));
	else if (k->type == K_BOOL)
		snprintf(buf, len, "%s", *(const int *)f ? "true" : "false");
	else if (k->type == K_AUTH)
		snprintf(buf, len, "%s", msgr__auth_mode_name(*(const int *)f));
	else if (k->type == K_MS) {
		uint64_t ms = *(const uint64_t *)f;
		if (ms && ms % 60000 == 0)
			snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
		else if (ms && ms % 1000 == 0)
			snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
		else
			snprintf(buf, len, "%llums", (unsigned long long)ms);
	}
	else
		snprintf(buf, len, "%s", (const char *)f);
}

void msgr__conf_key_copy(struct msgr__conf *dst, const struct msgr__conf *src, size_t i)
{
	memcpy((char *)dst + keys[i].off, (const char *)src + keys[i].off, keys[i].size);
}

int msgr__conf_find(const char *name)
{
	char full[160];

	for (size_t i = 0; i < NKEYS; i++) {
		msgr__conf_key_name(i, full, sizeof(full));
		if (!strcmp(full, name))
			return (int)i;
	}
	return -ENOENT;
}

void msgr__conf_key_help(size_t i, char *buf, size_t len)
{
	const struct key *k = &keys[i];
	char lo[32], hi[32];

	switch (k->type) {
	case K_U64:
	case K_SIZE:
	case K_MS:
	case K_US:
		format_value(k->type, k->min, lo, sizeof(lo));
		format_value(k->type, k->max, hi, sizeof(hi));
		snprintf(buf, len, "%s, %s..%s; default %s%s", type_hint(k->type), lo, hi, k->def,
			 k->live ? "; run time" : "; start-up only");
		return;
	default:
		snprintf(buf, len, "default %s%s", k->def, k->live ? "; run time" : "; start-up only");
	}
}
