/* Unit tests for common/vec.c and common/list.h: growth keeps every element
 * where its owner looks for it, whatever the wrap, and unlink leaves the
 * rest of a list intact from either end. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/list.h"
#include "common/vec.h"
#include "tests/unit/unit.h"

START_TEST(test_vec_reserve)
{
	uint32_t *v = NULL;
	size_t cap = 0, n = 0;

	ck_assert_int_eq(msgr__vec_reserve(&v, &cap, 0, sizeof(*v), 4), 0);
	ck_assert_ptr_null(v); /* nothing needed, nothing allocated */
	for (uint32_t i = 0; i < 1000; i++) {
		ck_assert_int_eq(msgr__vec_reserve(&v, &cap, n + 1, sizeof(*v), 4), 0);
		ck_assert_uint_ge(cap, n + 1);
		v[n++] = i;
	}
	ck_assert_uint_eq(cap, 1024); /* 4, doubled */
	for (uint32_t i = 0; i < 1000; i++)
		ck_assert_uint_eq(v[i], i);
	/* a jump past twice the capacity doubles until it fits */
	ck_assert_int_eq(msgr__vec_reserve(&v, &cap, 5000, sizeof(*v), 4), 0);
	ck_assert_uint_eq(cap, 8192);
	ck_assert_uint_eq(v[999], 999);
	free(v);
}
END_TEST

START_TEST(test_vec_reserve_overflow)
{
	char *p = NULL;
	uint64_t *q = NULL;
	size_t cap = 0, qcap = 0;

	/* sizes no allocation can have fail cleanly and change nothing */
	ck_assert_int_eq(msgr__vec_reserve(&p, &cap, SIZE_MAX, 1, 8), -ENOMEM);
	ck_assert_uint_eq(cap, 0);
	ck_assert_int_eq(msgr__vec_reserve(&q, &qcap, SIZE_MAX / 4, sizeof(*q), 8), -ENOMEM);
	ck_assert_uint_eq(qcap, 0);
	ck_assert_ptr_null(q);
}
END_TEST

/* A FIFO against a counter: pops and pushes in every phase of the wrap,
 * with growth at each, and the order must hold throughout. */
START_TEST(test_fifo_order)
{
	uint64_t *q = NULL, next_in = 0, next_out = 0;
	size_t cap = 0, head = 0, len = 0;
	unsigned seed = 1;

	for (int round = 0; round < 20000; round++) {
		int push = rand_r(&seed) % 3 != 0 || len == 0; /* grows on the whole */
		if (push) {
			size_t old = cap;
			ck_assert_int_eq(msgr__fifo_reserve(&q, &cap, head, len, sizeof(*q), 2), 0);
			ck_assert(len < cap);
			ck_assert(cap == old || len == old); /* grows only when full */
			q[msgr__fifo_at(head, len++, cap)] = next_in++;
		} else {
			ck_assert_uint_eq(q[head], next_out++);
			head = msgr__fifo_at(head, 1, cap);
			len--;
		}
		if (round % 997 == 0) /* every element where msgr__fifo_at says */
			for (size_t i = 0; i < len; i++)
				ck_assert_uint_eq(q[msgr__fifo_at(head, i, cap)], next_out + i);
	}
	while (len) {
		ck_assert_uint_eq(q[head], next_out++);
		head = msgr__fifo_at(head, 1, cap);
		len--;
	}
	ck_assert_uint_eq(next_out, next_in);
	free(q);
}
END_TEST

/* Growth with the queue wrapped at every possible place. */
START_TEST(test_fifo_grow_each_head)
{
	for (size_t h = 0; h < 8; h++) {
		int *q = NULL;
		size_t cap = 0;

		ck_assert_int_eq(msgr__vec_reserve(&q, &cap, 8, sizeof(*q), 8), 0);
		for (size_t i = 0; i < 8; i++)
			q[msgr__fifo_at(h, i, cap)] = (int)i;
		ck_assert_int_eq(msgr__fifo_reserve(&q, &cap, h, 8, sizeof(*q), 8), 0);
		ck_assert_uint_eq(cap, 16);
		for (size_t i = 0; i < 8; i++)
			ck_assert_int_eq(q[msgr__fifo_at(h, i, cap)], (int)i);
		free(q);
	}
}
END_TEST

struct node {
	struct node *prev, *next;
	int v;
};

/* Build 0..n-1 in order, unlink the ones in mask, and check what is left
 * both ways and the head and tail. */
static void unlink_case(int n, unsigned mask, int with_tail)
{
	struct node nodes[6], *head = NULL, *tail = NULL;
	int left[6], nleft = 0, i;

	for (i = 0; i < n; i++) {
		nodes[i].v = i;
		nodes[i].prev = i ? &nodes[i - 1] : NULL;
		nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
	}
	head = n ? &nodes[0] : NULL;
	tail = n ? &nodes[n - 1] : NULL;
	for (i = 0; i < n; i++) {
		if (!(mask & (1u << i))) {
			left[nleft++] = i;
			continue;
		}
		if (with_tail)
			msgr__list_unlink_tail(&head, &tail, &nodes[i]);
		else
			msgr__list_unlink(&head, &nodes[i]);
	}
	i = 0;
	for (struct node *k = head; k; k = k->next) {
		ck_assert_int_lt(i, nleft);
		ck_assert_int_eq(k->v, left[i++]);
	}
	ck_assert_int_eq(i, nleft);
	if (with_tail) {
		ck_assert_ptr_eq(tail, nleft ? &nodes[left[nleft - 1]] : NULL);
		for (struct node *k = tail; k; k = k->prev)
			ck_assert_int_eq(k->v, left[--i]);
		ck_assert_int_eq(i, 0);
	}
}

START_TEST(test_list_unlink)
{
	for (int n = 1; n <= 6; n++)
		for (unsigned mask = 0; mask < (1u << n); mask++) {
			unlink_case(n, mask, 0);
			unlink_case(n, mask, 1);
		}
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("vec", &tc);

	tcase_add_test(tc, test_vec_reserve);
	tcase_add_test(tc, test_vec_reserve_overflow);
	tcase_add_test(tc, test_fifo_order);
	tcase_add_test(tc, test_fifo_grow_each_head);
	tcase_add_test(tc, test_list_unlink);
	return unit_run(s);
}
