/*
 * test_loopstat.c - msgr__loop_turn (common/loopstat.h): a turn's work is
 * its wall time less its sleep, by table.
 */
#include "common/loopstat.h"
#include "unit.h"

#define MS 1000000ull

/* One call: the clock and the idle total given, and what the counters
 * must say after it. */
struct step {
	uint64_t now, idle;
	uint64_t stalls, max;
};

static void run_steps(const struct step *st, size_t n)
{
	struct msgr__loop_stats s = { 0 };

	for (size_t i = 0; i < n; i++) {
		msgr__loop_turn(&s, st[i].now, st[i].idle);
		ck_assert_msg(s.stalls == st[i].stalls && s.busy_max_ns == st[i].max,
			      "step %zu: stalls %llu max %llu, want %llu %llu", i,
			      (unsigned long long)s.stalls, (unsigned long long)s.busy_max_ns,
			      (unsigned long long)st[i].stalls, (unsigned long long)st[i].max);
	}
}

START_TEST(test_sleep_is_not_work)
{
	static const struct step st[] = {
		{ 5 * MS, 0, 0, 0 },               /* the first call only starts */
		{ 1005 * MS, 999 * MS, 0, 1 * MS },  /* slept 999 of 1000 ms */
		{ 3005 * MS, 2999 * MS, 0, 1 * MS }, /* slept 2 s, worked 0 */
	};
	run_steps(st, sizeof(st) / sizeof(st[0]));
}
END_TEST

START_TEST(test_stalls_over_1ms)
{
	static const struct step st[] = {
		{ 0, 0, 0, 0 },
		{ 1 * MS, 0, 0, 1 * MS },               /* exactly 1 ms: not over */
		{ 2 * MS + 1, 0, 1, 1 * MS + 1 },        /* just over */
		{ 802 * MS + 1, 0, 2, 800 * MS },        /* a held loop */
		{ 803 * MS + 1, 1 * MS, 2, 800 * MS },   /* asleep the whole turn */
	};
	run_steps(st, sizeof(st) / sizeof(st[0]));
}
END_TEST

START_TEST(test_clocks_going_back)
{
	static const struct step st[] = {
		{ 10 * MS, 5 * MS, 0, 0 },
		{ 9 * MS, 5 * MS, 0, 0 },   /* wall clock back: no work */
		{ 20 * MS, 4 * MS, 1, 11 * MS }, /* idle total back: counts as no sleep */
		{ 21 * MS, 30 * MS, 1, 11 * MS }, /* more sleep than wall: no work */
	};
	run_steps(st, sizeof(st) / sizeof(st[0]));
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("loopstat", &tc);

	tcase_add_test(tc, test_sleep_is_not_work);
	tcase_add_test(tc, test_stalls_over_1ms);
	tcase_add_test(tc, test_clocks_going_back);
	return unit_run(s);
}
