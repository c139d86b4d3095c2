/*
 * conntab.c - a client's connection ids and credit slots (conntab.h).
 */
#include "conntab.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/bits.h"
#include "common/log.h"
#include "common/vec.h"

struct msgr__dconn *msgr__dconn_find(struct msgr__dclient *c, uint32_t id)
{
	for (struct msgr__dconn *k = c->conns[id % MSGR__CONN_BUCKETS]; k; k = k->hnext)
		if (k->id == id)
			return k;
	return NULL;
}

struct msgr__dconn *msgr__dconn_add(struct msgr__dclient *c, uint32_t id, uint16_t mode,
				    const char *peer, uint32_t slot)
{
	struct msgr__dconn *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (slot == MSGR__CREDIT_NONE) {
		if (c->nfree_slots)
			slot = c->free_slots[--c->nfree_slots];
		else if (c->next_slot < MSGR__CREDIT_SLOTS - MSGR__CREDIT_SPLIT)
			slot = MSGR__CREDIT_SPLIT + c->next_slot++;
		else {
			free(k);
			return NULL;
		}
	}
	k->credit_slot = slot;
	if (slot < MSGR__CREDIT_SPLIT)
		msgr__bit_set(c->slot_used, slot);
	atomic_store_explicit(&c->credits[k->credit_slot], 0, memory_order_relaxed);
	k->id = id;
	k->end.mode = mode;
	k->end.peer = k->peer;
	k->end.owner = &c->owner;
	k->client = c;
	k->end.created_ns = msgr__now_ns();
	snprintf(k->peer, sizeof(k->peer), "%s", peer);
	k->hnext = c->conns[id % MSGR__CONN_BUCKETS];
	c->conns[id % MSGR__CONN_BUCKETS] = k;
	c->nconns++;
	return k;
}

void msgr__dconn_remove(struct msgr__dclient *c, struct msgr__dconn *k)
{
	struct msgr__dconn **pp = &c->conns[k->id % MSGR__CONN_BUCKETS];

	while (*pp != k)
		pp = &(*pp)->hnext;
	*pp = k->hnext;
	c->nconns--;
	/* zero before the CLOSED event goes out: whoever gets the slot next
	 * starts from nothing */
	atomic_store_explicit(&c->credits[k->credit_slot], 0, memory_order_relaxed);
	if (k->credit_slot < MSGR__CREDIT_SPLIT) {
		msgr__bit_clear(c->slot_used, k->credit_slot);
		free(k);
		return;
	}
	if (!msgr__vec_reserve(&c->free_slots, &c->cap_free_slots, c->nfree_slots + 1,
			       sizeof(*c->free_slots), 64))
		c->free_slots[c->nfree_slots++] = k->credit_slot; /* else the slot is lost, harmlessly */
	free(k);
}

/* Our copy of a connection's counter goes to the segment; the daemon never
 * reads the shared word back. */
static void credit_publish(struct msgr__dconn *k)
{
	/* release: pairs with the acquire in libmsgr's window check */
	atomic_store_explicit(&k->client->credits[k->credit_slot], k->credit, memory_order_release);
}

void msgr__dconn_credit_add(struct msgr__dconn *k, uint64_t bytes)
{
	k->credit += bytes;
	credit_publish(k);
}

void msgr__dconn_credit_reset(struct msgr__dconn *k)
{
	k->credit |= MSGR__CREDIT_RESET;
	credit_publish(k);
}

int msgr__dconn_room(struct msgr__dclient *c, uint32_t others, const char *from,
		     const char *to, int opener)
{
	struct msgr__registry *reg = c->reg;
	uint64_t held;
	char note[64];

	/* An opener's application picks its credit slot (below the split),
	 * so it cannot open more than that; we pick an acceptor's, from the
	 * split up. Without one free, accepting failed as "out of memory". */
	int slot = opener || c->nfree_slots || c->next_slot < MSGR__CREDIT_SLOTS - MSGR__CREDIT_SPLIT;
	static struct msgr__ratelimit slots_rl; /* loop thread only */

	if (others < reg->conf->max_conns_per_client && slot)
		return 1;
	reg->stats->conns_refused++;
	/* one line for connectors at their limit, another for targets at
	 * theirs, and one for targets out of slots, so none hides another */
	if (!msgr__ratelimit(opener ? &reg->conns_rl : slot ? &reg->peer_conns_rl : &slots_rl, 10000,
			     &held))
		return 0;
	if (slot)
		msgr__logt(MSGR__LOG_WARN, &(struct msgr__log_tags){ .entity = c->entity, .peer = opener ? to : from },
			   "connect from %s to %s refused: %s holds %u connections "
			   "(global.max_conns_per_client = %llu)%s", from, to, c->entity, others,
			   (unsigned long long)reg->conf->max_conns_per_client,
			   msgr__ratelimit_note(held, note, sizeof(note)));
	else
		msgr__logt(MSGR__LOG_WARN, &(struct msgr__log_tags){ .entity = c->entity, .peer = from },
			   "connect from %s to %s refused: %s has accepted %u connections, the most "
			   "one entity can accept%s", from, to, c->entity,
			   MSGR__CREDIT_SLOTS - MSGR__CREDIT_SPLIT,
			   msgr__ratelimit_note(held, note, sizeof(note)));
	return 0;
}
