/*
 * policy.h - [policy] in msgrd.conf: which users may attach as which
 * entities; and the rules of msgr_accept_modes(3): which modes an entity
 * accepts from which peers.
 *
 * Each rule maps an fnmatch(3) pattern over entity names to the users and
 * groups that may take those names:
 *
 *   [policy]
 *   client.admin = root
 *   osd.*        = user:ceph, group:ceph-osd
 *   *            = group:msgr
 *
 * The first rule, in file order, whose pattern matches the name decides;
 * a name that no rule matches may be taken by anyone who can connect to the
 * attach socket, as when there is no [policy] at all. Users and groups are
 * resolved to ids when the file is read, so an unknown name is a
 * configuration error, and the attaching process is checked by the kernel's
 * credentials (SO_PEERCRED, SO_PEERGROUPS), never by what it says.
 *
 * struct msgr__policy is a value type inside struct msgr__conf, so it is
 * copied, reloaded and compared along with the rest of the configuration.
 */
#ifndef MSGR_DAEMON_POLICY_H
#define MSGR_DAEMON_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"
#include "shm/segment.h"

#define MSGR__POLICY_RULES 64 /* rules in [policy] */
#define MSGR__POLICY_WHO 16   /* users and groups in one rule */

enum msgr__policy_kind {
	MSGR__WHO_ANYONE = 1, /* "*": whoever can connect */
	MSGR__WHO_UID,        /* "NAME", "user:NAME" or "user:UID" */
	MSGR__WHO_GID,        /* "group:NAME" or "group:GID" */
};

struct msgr__policy_who {
	uint32_t kind; /* enum msgr__policy_kind */
	uint32_t id;   /* uid or gid; 0 for MSGR__WHO_ANYONE */
};

struct msgr__policy_rule {
	char pattern[MSGR__ENTITY_MAX];  /* fnmatch(3) pattern, checked by policy_add */
	char text[192];                  /* the value as written, for logs and config show */
	struct msgr__policy_who who[MSGR__POLICY_WHO];
	uint32_t nwho;                   /* entries in who, at least 1 */
};

/* Value type: owned by the struct msgr__conf that holds it. */
struct msgr__policy {
	struct msgr__policy_rule rule[MSGR__POLICY_RULES]; /* in file order */
	uint32_t n;                                        /* rules in use; 0: no policy */
};

/* The credentials of an attaching process, as the kernel gives them. */
struct msgr__policy_cred {
	uid_t uid;               /* effective ids */
	gid_t gid;
	const gid_t *groups;     /* supplementary groups, not owned */
	size_t ngroups;
};

/* Add the rule "pattern = value", resolving user and group names now.
 * 0, or -EINVAL with a message in err (bad pattern, unknown user or group,
 * a pattern given twice, too many rules or names). */
int msgr__policy_add(struct msgr__policy *p, const char *pattern, const char *value, char *err,
		     size_t errlen);

/* The index of the rule that decides for entity, or -1 if none matches. */
int msgr__policy_find(const struct msgr__policy *p, const char *entity);

/* Whether cred may attach as entity: 0, or -EPERM. Pure. */
int msgr__policy_check(const struct msgr__policy *p, const char *entity,
		       const struct msgr__policy_cred *cred);

/* The check at attach: reads the credentials of fd's peer and applies
 * msgr__policy_check, logging the reason for a refusal. 0, -EPERM, or a
 * negative errno if the credentials cannot be read (also refused). */
int msgr__policy_attach(const struct msgr__policy *p, int fd, const char *entity);

/* ---- accepted modes (msgr_accept_modes(3)) ---- */

/* The mode bits a rule may hold: (1 << MSGR_LOSSY) | (1 << MSGR_LOSSLESS) |
 * (1 << MSGR_PEER), as msgr.h's MSGR_MODE_BIT. */
#define MSGR__ACCEPT_MODES_ALL 0x0eu

/* MSGR__ACCEPT_RULES (shm/segment.h): the rules one client may hold. */
struct msgr__accept_rule {
	char pattern[MSGR__ENTITY_MAX]; /* glob over the connecting entity's name */
	uint32_t modes;                 /* mode bits it may connect with; 0: none */
};

/* Value type, owned by the client it belongs to. No rule: every mode is
 * accepted from everyone. Otherwise the first rule, in the order added,
 * whose pattern matches the connecting entity decides, and an entity that
 * no rule matches is refused. */
struct msgr__accept_rules {
	struct msgr__accept_rule rule[MSGR__ACCEPT_RULES];
	uint32_t n;
};

/* Add the rule "pattern: modes", or change the modes of the rule already
 * there with that pattern (keeping its place). 0; -EINVAL (a bad pattern or
 * mode bits), -ENOSPC (MSGR__ACCEPT_RULES rules already), with a line in err. */
int msgr__accept_rules_add(struct msgr__accept_rules *r, const char *pattern, uint32_t modes,
			   char *err, size_t errlen);

/* Whether an entity named `from` may connect in `mode` (enum msgr_mode):
 * 0, or -EPROTONOSUPPORT. *rule gets the index of the deciding rule, or -1
 * (no rule matched: accepted if there are no rules). Pure. */
int msgr__accept_rules_check(const struct msgr__accept_rules *r, const char *from, unsigned mode,
			     int *rule);

#endif
