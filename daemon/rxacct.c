#include "rxacct.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct msgr__rxacct *msgr__rxacct_total_new(void)
{
	struct msgr__rxacct *t = calloc(1, sizeof(*t));

	if (t)
		t->refs = 1;
	return t;
}

struct msgr__rxacct *msgr__rxacct_get(struct msgr__rxacct *total, const char *peer)
{
	struct msgr__rxacct *a;

	for (a = total->next; a; a = a->next)
		if (!strcmp(a->peer, peer)) {
			a->refs++;
			return a;
		}
	if (!(a = calloc(1, sizeof(*a))))
		return NULL;
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	a->refs = 1;
	a->total = total;
	total->refs++;
	a->next = total->next;
	a->prev = total;
	if (total->next)
		total->next->prev = a;
	total->next = a;
	return a;
}

int msgr__rxacct_charge(struct msgr__rxacct *a, uint64_t n, uint64_t peer_max, uint64_t total_max)
{
	if (a->bytes + n > peer_max)
		return -ENOBUFS;
	if (a->total->bytes + n > total_max)
		return -ENOSPC;
	a->bytes += n;
	a->total->bytes += n;
	a->refs++;
	return 0;
}

void msgr__rxacct_release(struct msgr__rxacct *a, uint64_t n)
{
	struct msgr__rxacct *total;

	if (!a)
		return;
	a->bytes -= n <= a->bytes ? n : a->bytes;
	if ((total = a->total))
		total->bytes -= n <= total->bytes ? n : total->bytes;
	if (--a->refs)
		return;
	if (total) {
		a->prev->next = a->next;
		if (a->next)
			a->next->prev = a->prev;
		msgr__rxacct_release(total, 0);
	}
	free(a);
}
