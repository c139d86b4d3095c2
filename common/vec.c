/*
 * vec.c - growable arrays and FIFO queues (vec.h).
 */
#include "vec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int msgr__vec_reserve(void *pp, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *p, *n;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / size)
		return -ENOMEM;
	/* through memcpy: pp points at a T *, which is not a void * */
	memcpy(&p, pp, sizeof(p));
	n = realloc(p, ncap * size);
	if (!n)
		return -ENOMEM;
	memcpy(pp, &n, sizeof(n));
	*cap = ncap;
	return 0;
}

int msgr__fifo_reserve(void *pp, size_t *cap, size_t head, size_t len, size_t size, size_t first)
{
	size_t old = *cap, wrapped;
	unsigned char *p;
	int err;

	if (len < old)
		return 0;
	err = msgr__vec_reserve(pp, cap, len + 1, size, first);
	if (err)
		return err;
	/* realloc kept slots [0, old). The queue is full (len == old), so the
	 * elements that wrapped to the front are slots [0, head); they go
	 * next to the old end, where (head + i) % *cap now finds them. The
	 * capacity at least doubled, so they fit. */
	wrapped = old ? head : 0;
	memcpy(&p, pp, sizeof(p));
	memcpy(p + old * size, p, wrapped * size);
	return 0;
}
