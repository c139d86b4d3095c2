/*
 * test_addr.c - HOST:PORT in its one spelling (common/addr.c): sessions and
 * the race arbiter compare listen addresses byte for byte, so every way of
 * writing one address must come out the same, and nothing that is not an
 * address may pass.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "common/addr.h"
#include "tests/unit/unit.h"

START_TEST(test_canon_table)
{
	static const struct {
		const char *in, *out; /* out NULL: -EINVAL */
	} t[] = {
		{ "127.0.0.1:6800", "127.0.0.1:6800" },
		{ "[::1]:6800", "[::1]:6800" },
		{ "[0:0:0:0:0:0:0:1]:6800", "[::1]:6800" },
		{ "[0::1]:1", "[::1]:1" },
		{ "[2001:DB8::1]:7", "[2001:db8::1]:7" },          /* RFC 5952 4.3: lower case */
		{ "[2001:db8:0:0:1:0:0:1]:7", "[2001:db8::1:0:0:1]:7" }, /* 4.2.3: the first of equal runs */
		{ "[2001:db8:0:1:1:1:1:1]:7", "[2001:db8:0:1:1:1:1:1]:7" }, /* 4.2.2: one 0 group stays */
		{ "[::ffff:10.0.0.1]:9", "[::ffff:10.0.0.1]:9" },
		{ "[::]:6800", "[::]:6800" },
		{ "0.0.0.0:6800", "0.0.0.0:6800" },
		{ "localhost:6800", NULL },   /* a name: resolve, never canon */
		{ "127.1:6800", NULL },       /* inet_aton's shorthand is not one of them */
		{ "010.0.0.1:6800", NULL },   /* nor a leading zero (octal elsewhere) */
		{ "[127.0.0.1]:6800", NULL },
		{ "[::1:6800", NULL },
		{ "::1:6800", NULL },
		{ "127.0.0.1:0", NULL },
		{ "127.0.0.1:06800", NULL },
		{ "127.0.0.1:65536", NULL },
		{ "127.0.0.1", NULL },
	};
	char out[MSGR__HOSTPORT_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = msgr__hostport_canon(t[i].in, out);
		if (!t[i].out) {
			ck_assert_msg(rc == -EINVAL, "%s: %d, want -EINVAL", t[i].in, rc);
			continue;
		}
		ck_assert_msg(rc == 0, "%s: %d", t[i].in, rc);
		ck_assert_str_eq(out, t[i].out);
	}
}
END_TEST

START_TEST(test_resolve)
{
	char out[MSGR__HOSTPORT_MAX], err[256], again[MSGR__HOSTPORT_MAX];

	/* numeric: as canon, no resolver */
	ck_assert_int_eq(msgr__hostport_resolve("[0::1]:5", out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "[::1]:5");
	/* a name comes out numeric and canonical (localhost is in /etc/hosts) */
	ck_assert_int_eq(msgr__hostport_resolve("localhost:5", out, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__hostport_canon(out, again), 0);
	ck_assert_str_eq(out, again);
	ck_assert_msg(!strcmp(out, "127.0.0.1:5") || !strcmp(out, "[::1]:5"), "localhost: %s", out);
	/* what cannot be one says so */
	ck_assert_int_eq(msgr__hostport_resolve("no-such-host.invalid:5", out, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "cannot resolve host name 'no-such-host.invalid'"));
	ck_assert_int_eq(msgr__hostport_resolve("[nope]:5", out, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not an IPv6 address"));
	ck_assert_int_eq(msgr__hostport_resolve("host", out, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not HOST:PORT"));
}
END_TEST

START_TEST(test_unspecified)
{
	ck_assert(msgr__hostport_unspecified("0.0.0.0:1"));
	ck_assert(msgr__hostport_unspecified("[::]:1"));
	ck_assert(!msgr__hostport_unspecified("127.0.0.1:1"));
	ck_assert(!msgr__hostport_unspecified("[::1]:1"));
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("addr", &tc);

	tcase_add_test(tc, test_canon_table);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_unspecified);
	return unit_run(s);
}
