/*
 * client.c - what every part of the clients layer needs of one client:
 * its references, finding it by name, dooming it, and the allocations of
 * its TX pool that we hold.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/bits.h"

void msgr__dclient_ref(struct msgr__dclient *c)
{
	c->refs++;
}

void msgr__dclient_unref(struct msgr__dclient *c)
{
	if (--c->refs > 0)
		return;
	if (c->base)
		munmap(c->base, c->size);
	if (c->efd_client >= 0)
		close(c->efd_client);
	msgr__pool_destroy(&c->rxp);
	free(c->tx_held);
	free(c->free_slots);
	free(c->slot_used);
	free(c->q);
	free(c);
}

struct msgr__dclient *msgr__dclient_find(struct msgr__registry *reg, const char *entity)
{
	for (struct msgr__dclient *c = reg->clients; c; c = c->next)
		if (!strcmp(c->entity, entity))
			return c;
	return NULL;
}

void msgr__dclient_doom(struct msgr__dclient *c, const char *reason)
{
	if (c->dropped || c->doomed)
		return;
	c->doomed = 1;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	msgr__dclient_activate(c);
}

/* ---- the TX pool: buffers the application lent us ---- */

int msgr__dclient_tx_claim(struct msgr__dclient *c, uint64_t off, uint64_t len)
{
	uint64_t chunk = off >> c->params.chunk_shift;

	if (off & (((uint64_t)1 << c->params.chunk_shift) - 1) || off >= c->pool_bytes ||
	    len > c->pool_bytes - off)
		return -EFAULT;
	if (msgr__bit_test(c->tx_held, chunk))
		return -EBUSY;
	msgr__bit_set(c->tx_held, chunk);
	return 0;
}

void msgr__dclient_tx_done(struct msgr__dclient *c, uint64_t off)
{
	uint64_t chunk = off >> c->params.chunk_shift;
	struct msgr__free_desc f = { .off = off };

	msgr__bit_clear(c->tx_held, chunk);
	if (c->dropped)
		return;
	/* The ring has a slot per pool chunk and we hold each allocation once,
	 * so it can be full only if the client lied about its buffers. */
	if (msgr__ring_push_sp(&c->txdone, &f))
		msgr__dclient_doom(c, "txdone ring full: the client corrupted it");
}

/* ---- active and parked clients (the poll pass: cmd.c) ---- */

void msgr__dclient_activate(struct msgr__dclient *c)
{
	struct msgr__registry *reg = c->reg;

	if (!c->aprev && !c->dropped) {
		c->anext = reg->active;
		c->aprev = &reg->active;
		if (reg->active)
			reg->active->aprev = &c->anext;
		reg->active = c;
		c->last_work_ns = msgr__now_ns();
	}
	msgr__registry_schedule(reg);
}

void msgr__dclient_deactivate(struct msgr__dclient *c)
{
	if (!c->aprev)
		return;
	*c->aprev = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	c->aprev = NULL;
}
