/* Unit tests for daemon/policy.c: reading [policy] rules, and the pure
 * decision of who may attach as which entity; and the rules of
 * msgr_accept_modes(3): which modes an entity accepts from whom. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/policy.h"
#include "msgr.h"
#include "tests/unit/unit.h"

static char err[512];

/* Ids, not names, so the test does not depend on this host's users;
 * "root" is the one name every system has. */
static void load(struct msgr__policy *p)
{
	static const char *const rules[][2] = {
		{ "client.admin", "root" },                 /* uid 0 */
		{ "osd.*", "user:1001, group:2001" },        /* ceph, or group ceph-osd */
		{ "mds.[ab]", "group:root" },               /* gid 0 */
		{ "mon.?", "1003" },                         /* a bare id is a uid */
		{ "client.open*", "*" },                    /* anyone */
		{ "client.*", "group:2000,user:1002" },     /* two kinds */
	};

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		ck_assert_msg(msgr__policy_add(p, rules[i][0], rules[i][1], err, sizeof(err)) == 0,
			      "%s = %s: %s", rules[i][0], rules[i][1], err);
	ck_assert_uint_eq(p->n, 6);
}

static const gid_t g2000[] = { 2000 }, g2001_0[] = { 5, 2001, 0 };

static const struct {
	const char *entity;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	int want;  /* 0 or -EPERM */
	int rule;  /* the rule that decides, or -1 */
} cases[] = {
	{ "client.admin", 0, 0, NULL, 0, 0, 0 },
	{ "client.admin", 1002, 2000, g2000, 1, -EPERM, 0 },   /* first match decides: not client.* */
	{ "osd.3", 1001, 100, NULL, 0, 0, 1 },
	{ "osd.3", 0, 0, NULL, 0, -EPERM, 1 },                /* root is not implied */
	{ "osd.3", 1500, 2001, NULL, 0, 0, 1 },               /* primary group */
	{ "osd.3", 1500, 100, g2001_0, 3, 0, 1 },             /* supplementary group */
	{ "osd.3", 1500, 100, g2000, 1, -EPERM, 1 },
	{ "osdx.1", 1500, 100, NULL, 0, 0, -1 },              /* the '.' is literal */
	{ "mds.a", 7, 7, g2001_0, 3, 0, 2 },                  /* gid 0 among the groups */
	{ "mds.c", 7, 7, NULL, 0, 0, -1 },                    /* no rule: anyone */
	{ "mds.a", 7, 7, NULL, 0, -EPERM, 2 },
	{ "mon.x", 1003, 1, NULL, 0, 0, 3 },
	{ "mon.xy", 1003, 1, NULL, 0, 0, -1 },                /* '?' is one character */
	{ "mon.x", 1004, 1003, NULL, 0, -EPERM, 3 },          /* a uid rule ignores gids */
	{ "client.open1", 4242, 4242, NULL, 0, 0, 4 },
	{ "client.x", 1002, 1, NULL, 0, 0, 5 },
	{ "client.x", 77, 1, g2000, 1, 0, 5 },
	{ "client.x", 77, 1, NULL, 0, -EPERM, 5 },
	{ "rgw.1", 77, 1, NULL, 0, 0, -1 },
};

START_TEST(test_check_table)
{
	struct msgr__policy p;

	load(&p);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msgr__policy_cred c = { cases[i].uid, cases[i].gid, cases[i].groups,
					       cases[i].ngroups };
		int got = msgr__policy_check(&p, cases[i].entity, &c);
		int rule = msgr__policy_find(&p, cases[i].entity);
		ck_assert_msg(got == cases[i].want, "case %zu (%s uid %u): got %d, want %d", i,
			      cases[i].entity, (unsigned)cases[i].uid, got, cases[i].want);
		ck_assert_msg(rule == cases[i].rule, "case %zu (%s): rule %d, want %d", i,
			      cases[i].entity, rule, cases[i].rule);
	}
}
END_TEST

/* No rules: everyone may be anyone, the documented default. */
START_TEST(test_empty)
{
	struct msgr__policy p;
	struct msgr__policy_cred c = { 12345, 12345, NULL, 0 };

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(msgr__policy_check(&p, "osd.0", &c), 0);
	ck_assert_int_eq(msgr__policy_find(&p, "osd.0"), -1);
}
END_TEST

/* What policy_add refuses, and the message each gets. */
START_TEST(test_add_errors)
{
	static const struct {
		const char *pattern, *value, *msg;
	} bad[] = {
		{ "osd.*", "no-such-user-here", "policy.osd.*: no user 'no-such-user-here'" },
		{ "osd.*", "group:no-such-group-here", "policy.osd.*: no group 'no-such-group-here'" },
		{ "osd.*", "", "policy.osd.*: no user or group given" },
		{ "osd.*", " , ,", "policy.osd.*: no user or group given" },
		{ "osd.*", "user:", "policy.osd.*: 'user:' names no user" },
		{ "osd.*", "uid:0", "policy.osd.*: 'uid:0' is not NAME, user:NAME, group:NAME or *" },
		{ "osd.[0-9", "root", "policy: pattern 'osd.[0-9' has an unclosed '['" },
		{ "osd/3", "root", "policy: pattern 'osd/3': '/' cannot be in an entity name" },
		{ "osd 3", "root", "policy: pattern 'osd 3': ' ' cannot be in an entity name" },
		{ "osd.[a/]", "root", "policy: pattern 'osd.[a/]': '/' cannot be in an entity name" },
		{ "", "root", "policy: pattern '' is empty or longer than 63 bytes" },
		{ "client.admin", "root", "policy.client.admin: the pattern is given twice" },
	};
	struct msgr__policy p;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(msgr__policy_add(&p, "client.admin", "root", err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(msgr__policy_add(&p, bad[i].pattern, bad[i].value, err, sizeof(err)),
				 -EINVAL);
		ck_assert_msg(!strcmp(err, bad[i].msg), "%s = %s: got '%s'", bad[i].pattern,
			      bad[i].value, err);
	}
	ck_assert_uint_eq(p.n, 1); /* a refused rule adds nothing */
	/* brackets that are fine: ranges, negation, a leading ']' */
	ck_assert_int_eq(msgr__policy_add(&p, "osd.[0-9]*", "root", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__policy_add(&p, "osd.[!0-9]*", "root", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__policy_add(&p, "mds.[]a]", "root", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__policy_add(&p, "*", "root, group:root, 0, group:0, *", err, sizeof(err)), 0);
	ck_assert_uint_eq(p.rule[4].nwho, 5);
	ck_assert_str_eq(p.rule[4].text, "root, group:root, 0, group:0, *");
	/* at most MSGR__POLICY_RULES rules */
	for (int i = (int)p.n; i < MSGR__POLICY_RULES; i++) {
		char pat[32];
		snprintf(pat, sizeof(pat), "x%d.*", i);
		ck_assert_int_eq(msgr__policy_add(&p, pat, "root", err, sizeof(err)), 0);
	}
	ck_assert_int_eq(msgr__policy_add(&p, "y.*", "root", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "policy.y.*: more than 64 rules");
}
END_TEST

/* [policy] in a file: through the same INI callback as every key, so an
 * error has the file and line; and through --set. */
START_TEST(test_conf_file)
{
	struct msgr__conf c;
	char path[] = "/tmp/msgr-policy-XXXXXX";
	FILE *f;

	close(mkstemp(path));
	f = fopen(path, "w");
	fputs("[global]\npoll_us = 1\n\n[policy]\nclient.admin = root\nosd.* = group:root ; comment\n"
	      "*            = root, group:root\n", f);
	fclose(f);
	msgr__conf_defaults(&c);
	ck_assert_int_eq(msgr__conf_load(&c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.policy.n, 3);
	ck_assert_str_eq(c.policy.rule[1].pattern, "osd.*");
	ck_assert_str_eq(c.policy.rule[1].text, "group:root");
	ck_assert_str_eq(c.policy.rule[2].pattern, "*");
	ck_assert_uint_eq(c.policy.rule[2].nwho, 2);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "policy.mds.*=root", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.policy.n, 4);

	f = fopen(path, "w");
	fputs("[policy]\nclient.admin = root\n\nosd.* = cepth\n", f);
	fclose(f);
	msgr__conf_defaults(&c);
	ck_assert_int_eq(msgr__conf_load(&c, path, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, ":4: policy.osd.*: no user 'cepth'"), "%s", err);
	unlink(path);
}
END_TEST

#define L MSGR_MODE_BIT(MSGR_LOSSY)
#define LL MSGR_MODE_BIT(MSGR_LOSSLESS)
#define P MSGR_MODE_BIT(MSGR_PEER)

/* The example, and the first match deciding. */
START_TEST(test_accept_table)
{
	struct msgr__accept_rules r;
	static const struct {
		const char *from;
		unsigned mode;
		int want, rule;
	} table[] = {
		{ "client.x", MSGR_LOSSY, 0, 1 },
		{ "client.x", MSGR_LOSSLESS, -EPROTONOSUPPORT, 1 },
		{ "client.x", MSGR_PEER, -EPROTONOSUPPORT, 1 },
		{ "client.admin", MSGR_LOSSLESS, 0, 0 },  /* an earlier rule wins */
		{ "client.admin", MSGR_LOSSY, -EPROTONOSUPPORT, 0 },
		{ "osd.1", MSGR_PEER, 0, 2 },
		{ "osd.1", MSGR_LOSSY, -EPROTONOSUPPORT, 2 },
		{ "osd.12", MSGR_LOSSLESS, -EPROTONOSUPPORT, 2 },
		{ "mds.a", MSGR_LOSSY, -EPROTONOSUPPORT, 3 },   /* a rule of no modes */
		{ "mon.a", MSGR_LOSSY, -EPROTONOSUPPORT, -1 },  /* no rule: refused */
		{ "osd", MSGR_PEER, -EPROTONOSUPPORT, -1 },
		{ "client.x", 0, -EPROTONOSUPPORT, 1 },         /* not a mode */
		{ "client.x", 4, -EPROTONOSUPPORT, 1 },
		{ "client.x", 99, -EPROTONOSUPPORT, 1 },
	};
	int rule;

	memset(&r, 0, sizeof(r));
	/* no rule: everything from everyone */
	ck_assert_int_eq(msgr__accept_rules_check(&r, "anyone.1", MSGR_PEER, &rule), 0);
	ck_assert_int_eq(rule, -1);
	ck_assert_int_eq(msgr__accept_rules_add(&r, "client.admin", LL, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__accept_rules_add(&r, "client.*", L, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__accept_rules_add(&r, "osd.*", P, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__accept_rules_add(&r, "mds.[ab]", 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 4);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		ck_assert_msg(msgr__accept_rules_check(&r, table[i].from, table[i].mode, &rule) ==
				      table[i].want,
			      "%s in mode %u: want %d", table[i].from, table[i].mode, table[i].want);
		ck_assert_msg(rule == table[i].rule, "%s in mode %u: rule %d, want %d", table[i].from,
			      table[i].mode, rule, table[i].rule);
	}
	/* the same pattern again changes that rule's modes, in its place */
	ck_assert_int_eq(msgr__accept_rules_add(&r, "client.*", L | LL, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_int_eq(msgr__accept_rules_check(&r, "client.x", MSGR_LOSSLESS, &rule), 0);
	ck_assert_int_eq(rule, 1);
	ck_assert_int_eq(msgr__accept_rules_add(&r, "*", MSGR_MODES_ALL, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__accept_rules_check(&r, "mon.a", MSGR_LOSSY, &rule), 0);
	ck_assert_int_eq(rule, 4);
}
END_TEST

/* What accept_rules_add refuses, with -EINVAL or -ENOSPC, and what it says. */
START_TEST(test_accept_errors)
{
	struct msgr__accept_rules r;
	static const struct {
		const char *pattern;
		uint32_t modes;
		int rc;
		const char *msg;
	} bad[] = {
		{ "", L, -EINVAL, "pattern '' is empty or longer than 63 bytes" },
		{ "osd.[0-9", L, -EINVAL, "pattern 'osd.[0-9' has an unclosed '['" },
		{ "osd/3", L, -EINVAL, "pattern 'osd/3': '/' cannot be in an entity name" },
		{ "osd.\x01", L, -EINVAL, "pattern 'osd.\x01': '?' cannot be in an entity name" },
		{ "osd.*", 1, -EINVAL, "accept modes for 'osd.*': bad mode bits 0x1" },
		{ "osd.*", 0x10, -EINVAL, "accept modes for 'osd.*': bad mode bits 0x10" },
		{ "osd.*", 0x8000000e, -EINVAL, "accept modes for 'osd.*': bad mode bits 0x8000000e" },
	};
	char longpat[MSGR__ENTITY_MAX + 1];

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(msgr__accept_rules_add(&r, bad[i].pattern, bad[i].modes, err,
							sizeof(err)), bad[i].rc);
		ck_assert_msg(!strcmp(err, bad[i].msg), "%s: got '%s'", bad[i].pattern, err);
	}
	memset(longpat, 'a', sizeof(longpat) - 1);
	longpat[sizeof(longpat) - 1] = 0;
	ck_assert_int_eq(msgr__accept_rules_add(&r, longpat, L, err, sizeof(err)), -EINVAL);
	longpat[MSGR__ENTITY_MAX - 1] = 0; /* 63 bytes: the longest */
	ck_assert_int_eq(msgr__accept_rules_add(&r, longpat, L, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__entity_pattern_check("osd.[", NULL, 0), -EINVAL); /* no message */
	for (int i = (int)r.n; i < MSGR__ACCEPT_RULES; i++) {
		char pat[32];
		snprintf(pat, sizeof(pat), "x%d.*", i);
		ck_assert_int_eq(msgr__accept_rules_add(&r, pat, P, err, sizeof(err)), 0);
	}
	ck_assert_int_eq(msgr__accept_rules_add(&r, "y.*", P, err, sizeof(err)), -ENOSPC);
	ck_assert_str_eq(err, "accept modes for 'y.*': more than 32 rules");
	/* changing a rule that is there needs no room */
	ck_assert_int_eq(msgr__accept_rules_add(&r, "x5.*", L, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, MSGR__ACCEPT_RULES);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("policy", &tc);

	tcase_add_test(tc, test_check_table);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_add_errors);
	tcase_add_test(tc, test_conf_file);
	tcase_add_test(tc, test_accept_table);
	tcase_add_test(tc, test_accept_errors);
	return unit_run(s);
}
