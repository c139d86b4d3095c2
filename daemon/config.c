#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

enum ktype { K_HOSTPORT, K_PATH, K_U64, K_SIZE, K_LOGLEVEL };

struct key {
	const char *section, *name;
	enum ktype type;
	size_t off;     /* offsetof in struct msgr__conf */
	size_t size;    /* field size for strings */
	uint64_t min, max;
	const char *def;
};

#define F(f) offsetof(struct msgr__conf, f), sizeof(((struct msgr__conf *)0)->f)

static const struct key keys[] = {
	{ "global", "listen", K_HOSTPORT, F(listen), 0, 0, "127.0.0.1:6800" },
	{ "global", "socket", K_PATH, F(socket), 0, 0, "/run/msgrd/msgrd.sock" },
	{ "global", "ctl_socket", K_PATH, F(ctl_socket), 0, 0, "/run/msgrd/msgrd.asok" },
	{ "global", "poll_us", K_U64, F(poll_us), 0, 1000000, "0" },
	{ "global", "pool_size", K_SIZE, F(pool_size), 64 << 10, 1ULL << 30, "32M" },
	{ "global", "max_pool_size", K_SIZE, F(max_pool_size), 64 << 10, 1ULL << 30, "256M" },
	{ "global", "max_message", K_SIZE, F(max_message), 1024, 1ULL << 30, "16M" },
	{ "global", "max_clients", K_U64, F(max_clients), 1, 65536, "1024" },
	{ "global", "log_level", K_LOGLEVEL, F(log_level), 0, 0, "info" },
};

static int parse_size(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': n <<= 10; end++; break;
	case 'M': case 'm': n <<= 20; end++; break;
	case 'G': case 'g': n <<= 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	*out = n;
	return 0;
}

static int set_key(struct msgr__conf *c, const struct key *k, const char *v, char *err,
		   size_t errlen)
{
	void *field = (char *)c + k->off;
	uint64_t n;
	int lvl;

	switch (k->type) {
	case K_HOSTPORT:
		if (msgr__hostport_check(v)) {
			snprintf(err, errlen, "%s.%s: '%s' is not HOST:PORT", k->section, k->name, v);
			return -EINVAL;
		}
		break;
	case K_PATH:
		if (v[0] != '/' || strlen(v) >= k->size) {
			snprintf(err, errlen, "%s.%s: '%s' is not an absolute path under %zu bytes",
				 k->section, k->name, v, k->size);
			return -EINVAL;
		}
		break;
	case K_U64:
	case K_SIZE:
		if ((k->type == K_SIZE ? parse_size(v, &n) : parse_size(v, &n)) ||
		    (k->type == K_U64 && strspn(v, "0123456789") != strlen(v))) {
			snprintf(err, errlen, "%s.%s: '%s' is not a %s", k->section, k->name, v,
				 k->type == K_SIZE ? "size (bytes, or with K/M/G)" : "number");
			return -EINVAL;
		}
		if (n < k->min || n > k->max) {
			snprintf(err, errlen, "%s.%s: %s is out of range [%llu, %llu]", k->section,
				 k->name, v, (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		*(uint64_t *)field = n;
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

void msgr__conf_defaults(struct msgr__conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (set_key(c, &keys[i], keys[i].def, err, sizeof(err)))
			abort(); /* a bad built-in default is a programming error */
}

int msgr__conf_set(struct msgr__conf *c, const char *section, const char *key,
		   const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, key))
			return set_key(c, &keys[i], value, err, errlen);
	snprintf(err, errlen, "unknown key '%s.%s'", section, key);
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
	char msg[256];

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

size_t msgr__conf_dump(const struct msgr__conf *c, char *buf, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && n < len; i++) {
		const struct key *k = &keys[i];
		const void *f = (const char *)c + k->off;
		int w;
		if (k->type == K_U64 || k->type == K_SIZE)
			w = snprintf(buf + n, len - n, "%s.%s = %llu\n", k->section, k->name,
				     (unsigned long long)*(const uint64_t *)f);
		else if (k->type == K_LOGLEVEL)
			w = snprintf(buf + n, len - n, "%s.%s = %s\n", k->section, k->name,
				     msgr__log_level_name(*(const int *)f));
		else
			w = snprintf(buf + n, len - n, "%s.%s = %s\n", k->section, k->name,
				     (const char *)f);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	return n < len ? n : len;
}
