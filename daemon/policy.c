#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

/* The pattern's syntax (common/addr.h), with the section's name. */
static int pattern_check(const char *pat, char *err, size_t errlen)
{
	char why[160];
	int rc = msgr__entity_pattern_check(pat, why, sizeof(why));

	if (rc)
		snprintf(err, errlen, "policy: %s", why);
	return rc;
}

/* A decimal id, or -1. */
static long parse_id(const char *s)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > (long)UINT32_MAX - 1)
		return -1;
	return v;
}

/* One comma-separated item of a rule's value, already trimmed. */
static int parse_who(const char *pat, const char *item, struct msgr__policy_who *w, char *err,
		     size_t errlen)
{
	const char *name = item;
	int group = 0;
	long id;

	if (!strcmp(item, "*")) {
		w->kind = MSGR__WHO_ANYONE;
		w->id = 0;
		return 0;
	}
	if (!strncmp(item, "user:", 5)) {
		name = item + 5;
	} else if (!strncmp(item, "group:", 6)) {
		name = item + 6;
		group = 1;
	} else if (strchr(item, ':')) {
		snprintf(err, errlen, "policy.%s: '%s' is not NAME, user:NAME, group:NAME or *", pat,
			 item);
		return -EINVAL;
	}
	if (!*name) {
		snprintf(err, errlen, "policy.%s: '%s' names no %s", pat, item, group ? "group" : "user");
		return -EINVAL;
	}
	id = parse_id(name);
	if (id < 0) {
		/* resolved once, here: a rename later does not change who
		 * the rule means until the next reload */
		if (group) {
			struct group *gr = getgrnam(name);
			id = gr ? (long)gr->gr_gid : -1;
		} else {
			struct passwd *pw = getpwnam(name);
			id = pw ? (long)pw->pw_uid : -1;
		}
		if (id < 0) {
			snprintf(err, errlen, "policy.%s: no %s '%s'", pat, group ? "group" : "user", name);
			return -EINVAL;
		}
	}
	w->kind = group ? MSGR__WHO_GID : MSGR__WHO_UID;
	w->id = (uint32_t)id;
	return 0;
}

int msgr__policy_add(struct msgr__policy *p, const char *pattern, const char *value, char *err,
		     size_t errlen)
{
	struct msgr__policy_rule r;
	char buf[sizeof(r.text)], *item, *save = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = pattern_check(pattern, err, errlen);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < p->n; i++)
		if (!strcmp(p->rule[i].pattern, pattern)) {
			/* the first match decides, so a second rule for the
			 * same pattern could never apply */
			snprintf(err, errlen, "policy.%s: the pattern is given twice", pattern);
			return -EINVAL;
		}
	if (p->n == MSGR__POLICY_RULES) {
		snprintf(err, errlen, "policy.%s: more than %d rules", pattern, MSGR__POLICY_RULES);
		return -EINVAL;
	}
	if (strlen(value) >= sizeof(buf)) {
		snprintf(err, errlen, "policy.%s: the value is longer than %zu bytes", pattern,
			 sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(r.pattern, pattern);
	strcpy(buf, value);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *end = item + strlen(item);
		while (isspace((unsigned char)*item))
			item++;
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (!*item)
			continue;
		if (r.nwho == MSGR__POLICY_WHO) {
			snprintf(err, errlen, "policy.%s: more than %d users and groups", pattern,
				 MSGR__POLICY_WHO);
			return -EINVAL;
		}
		rc = parse_who(pattern, item, &r.who[r.nwho], err, errlen);
		if (rc)
			return rc;
		r.nwho++;
	}
	if (!r.nwho) {
		snprintf(err, errlen, "policy.%s: no user or group given", pattern);
		return -EINVAL;
	}
	snprintf(r.text, sizeof(r.text), "%s", value);
	p->rule[p->n++] = r;
	return 0;
}

int msgr__policy_find(const struct msgr__policy *p, const char *entity)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (fnmatch(p->rule[i].pattern, entity, 0) == 0)
			return (int)i;
	return -1;
}

static int who_matches(const struct msgr__policy_who *w, const struct msgr__policy_cred *c)
{
	switch (w->kind) {
	case MSGR__WHO_ANYONE:
		return 1;
	case MSGR__WHO_UID:
		return c->uid == w->id;
	case MSGR__WHO_GID:
		if (c->gid == w->id)
			return 1;
		for (size_t i = 0; i < c->ngroups; i++)
			if (c->groups[i] == w->id)
				return 1;
		return 0;
	}
	return 0;
}

int msgr__policy_check(const struct msgr__policy *p, const char *entity,
		       const struct msgr__policy_cred *cred)
{
	int i = msgr__policy_find(p, entity);

	if (i < 0)
		return 0;
	for (uint32_t k = 0; k < p->rule[i].nwho; k++)
		if (who_matches(&p->rule[i].who[k], cred))
			return 0;
	return -EPERM;
}

/* fd's peer's supplementary groups into *out (malloc'd, or NULL when there
 * are none; the caller frees it). SO_PEERGROUPS gives them as the process
 * had them when it connected; a kernel without it (before 4.13) leaves the
 * user's groups from the group database. */
static int peer_groups(int fd, const struct ucred *uc, gid_t **out, size_t *n)
{
	socklen_t len = 0;
	gid_t *g = NULL;
	int rc = 0;

	*out = NULL;
	*n = 0;
	/* an empty buffer gets ERANGE and the length the groups need */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0)
		goto out; /* none */
	if (errno == ERANGE) {
		g = malloc(len);
		if (!g) {
			rc = -ENOMEM;
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len)) {
			rc = -errno;
			goto out;
		}
		*n = len / sizeof(gid_t);
	} else if (errno == ENOPROTOOPT) {
		struct passwd *pw = getpwuid(uc->uid);
		int ng = 1024;
		g = malloc((size_t)ng * sizeof(gid_t));
		if (!g) {
			rc = -ENOMEM;
			goto out;
		}
		/* no passwd entry: no groups besides the gid */
		if (pw && getgrouplist(pw->pw_name, uc->gid, g, &ng) >= 0)
			*n = (size_t)ng;
	} else {
		rc = -errno;
	}
out:
	if (rc) {
		free(g);
		g = NULL;
		*n = 0;
	}
	*out = g;
	return rc;
}

int msgr__policy_attach(const struct msgr__policy *p, int fd, const char *entity)
{
	struct msgr__policy_cred cred = { 0 };
	gid_t *groups = NULL;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	int rc, i;

	if (!p->n)
		return 0; /* no policy: whoever can connect may be anyone */
	i = msgr__policy_find(p, entity);
	if (i < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len)) {
		rc = -errno;
		msgr__warn("attach as '%s': cannot read the peer's credentials: %s", entity,
			   strerror(errno));
		goto out;
	}
	rc = peer_groups(fd, &uc, &groups, &cred.ngroups);
	if (rc) {
		msgr__warn("attach as '%s' (pid %d, uid %u): cannot read the peer's groups: %s", entity,
			   (int)uc.pid, (unsigned)uc.uid, strerror(-rc));
		goto out;
	}
	cred.uid = uc.uid;
	cred.gid = uc.gid;
	cred.groups = groups;
	rc = msgr__policy_check(p, entity, &cred);
	if (rc)
		msgr__warn("attach as '%s' refused by [policy] %s = %s: pid %d, uid %u, gid %u", entity,
			   p->rule[i].pattern, p->rule[i].text, (int)uc.pid, (unsigned)uc.uid,
			   (unsigned)uc.gid);
out:
	free(groups);
	return rc;
}

/* ---- accepted modes ---- */

int msgr__accept_rules_add(struct msgr__accept_rules *r, const char *pattern, uint32_t modes,
			   char *err, size_t errlen)
{
	int rc = msgr__entity_pattern_check(pattern, err, errlen);

	if (rc)
		return rc;
	if (modes & ~MSGR__ACCEPT_MODES_ALL) {
		snprintf(err, errlen, "accept modes for '%s': bad mode bits 0x%x", pattern,
			 (unsigned)modes);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (!strcmp(r->rule[i].pattern, pattern)) {
			r->rule[i].modes = modes;
			return 0;
		}
	if (r->n == MSGR__ACCEPT_RULES) {
		snprintf(err, errlen, "accept modes for '%s': more than %d rules", pattern,
			 MSGR__ACCEPT_RULES);
		return -ENOSPC;
	}
	snprintf(r->rule[r->n].pattern, sizeof(r->rule[r->n].pattern), "%s", pattern);
	r->rule[r->n].modes = modes;
	r->n++;
	return 0;
}

int msgr__accept_rules_check(const struct msgr__accept_rules *r, const char *from, unsigned mode,
			     int *rule)
{
	*rule = -1;
	if (!r->n)
		return 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (fnmatch(r->rule[i].pattern, from, 0) == 0) {
			*rule = (int)i;
			return mode < 32 && (r->rule[i].modes >> mode) & 1 ? 0 : -EPROTONOSUPPORT;
		}
	return -EPROTONOSUPPORT;
}
