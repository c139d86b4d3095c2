/*
 * unit.h - what every Check test program shares: a suite of one test case
 * named like the program, and a run that exits 0 only if every test passed.
 */
#ifndef MSGR_TESTS_UNIT_H
#define MSGR_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/* A suite of one test case, both called name; the case goes to *tc. */
static inline Suite *unit_suite(const char *name, TCase **tc)
{
	Suite *s = suite_create(name);

	*tc = tcase_create(name);
	suite_add_tcase(s, *tc);
	return s;
}

static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
