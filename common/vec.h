/*
 * vec.h - growable arrays and FIFO queues, one allocation each.
 *
 * The owner keeps the pointer and its counts in its own struct, typed and
 * with its own field comments; these only grow the allocation. Capacity
 * doubles from `first`, so n pushes cost O(n) copies in all. On -ENOMEM
 * nothing has changed: the owner still has what it had.
 *
 * pp is the address of the owner's pointer (a T **, passed as void * so any
 * element type goes without a cast); size is sizeof(T).
 */
#ifndef MSGR_COMMON_VEC_H
#define MSGR_COMMON_VEC_H

#include <stddef.h>

/* Room for need elements in *pp, whose capacity is *cap (0 with *pp NULL
 * at first). first (> 0) is the capacity of the first allocation. */
int msgr__vec_reserve(void *pp, size_t *cap, size_t need, size_t size, size_t first);

/* A FIFO over an array used circularly: element i of the len queued, 0 the
 * oldest, is at msgr__fifo_at(head, i, cap). Room for one more: growing
 * keeps every element where msgr__fifo_at finds it, with head unchanged. */
int msgr__fifo_reserve(void *pp, size_t *cap, size_t head, size_t len, size_t size, size_t first);

static inline size_t msgr__fifo_at(size_t head, size_t i, size_t cap)
{
	return (head + i) % cap;
}

#endif
