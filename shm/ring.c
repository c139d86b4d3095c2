#include "ring.h"

#include <errno.h>
#include <string.h>

struct slot_hdr {
	_Atomic uint64_t seq;
};

static inline struct slot_hdr *slot_at(const struct msgr__ring *r, uint64_t pos)
{
	return (struct slot_hdr *)(r->slots + (size_t)(pos & r->mask) * r->slot_size);
}

/* A slot's seq word holds Vyukov's sequence minus the slot's index, so
 * all-zero memory is an empty ring: a fresh mapping needs no formatting,
 * and an idle ring's pages are never touched. In those terms a producer at
 * pos waits for lap(pos), publishes lap(pos) + 1, and a consumer hands
 * the slot back as lap(pos) + nslots. */
static inline uint64_t lap(const struct msgr__ring *r, uint64_t pos)
{
	return pos & ~(uint64_t)r->mask;
}

size_t msgr__ring_mem_size(uint32_t nslots, uint32_t payload)
{
	return sizeof(struct msgr__ring_shm) + (size_t)nslots * ((size_t)payload + 8);
}

void msgr__ring_format(void *mem, uint32_t nslots, uint32_t payload)
{
	memset(mem, 0, msgr__ring_mem_size(nslots, payload)); /* zero is empty (lap) */
}

int msgr__ring_open(struct msgr__ring *r, void *mem, uint32_t nslots,
		    uint32_t payload)
{
	if (nslots < 2 || (nslots & (nslots - 1)) || payload == 0 || payload % 8 ||
	    payload > UINT32_MAX - 8)
		return -EINVAL;
	r->shm = mem;
	r->slots = (unsigned char *)mem + sizeof(*r->shm);
	r->pos = 0;
	r->mask = nslots - 1;
	r->payload_size = payload;
	r->slot_size = payload + 8;
	return 0;
}

int msgr__ring_push_mp(struct msgr__ring *r, const void *desc)
{
	uint64_t pos = atomic_load_explicit(&r->shm->head, memory_order_relaxed);
	struct slot_hdr *s;

	for (;;) {
		s = slot_at(r, pos);
		/* acquire: pairs with the consumer's release in pop_sc, so the
		 * consumer's read of this slot is done before we overwrite it. */
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - lap(r, pos));
		if (dif == 0) {
			/* relaxed: the CAS only arbitrates among producers; the
			 * slot's seq word carries all ordering. */
			if (atomic_compare_exchange_weak_explicit(&r->shm->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return -ENOBUFS;
		} else {
			pos = atomic_load_explicit(&r->shm->head, memory_order_relaxed);
		}
	}
	memcpy(s + 1, desc, r->payload_size);
	/* release: pairs with the consumer's acquire in pop_sc/ready_sc;
	 * publishes the payload written just above. */
	atomic_store_explicit(&s->seq, lap(r, pos) + 1, memory_order_release);
	return 0;
}

int msgr__ring_push_sp(struct msgr__ring *r, const void *desc)
{
	struct slot_hdr *s = slot_at(r, r->pos);

	/* acquire: pairs with the consumer's release in pop_sc. */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != lap(r, r->pos))
		return -ENOBUFS;
	memcpy(s + 1, desc, r->payload_size);
	/* release: pairs with the consumer's acquire in pop_sc/ready_sc. */
	atomic_store_explicit(&s->seq, lap(r, r->pos) + 1, memory_order_release);
	r->pos++;
	return 0;
}

int msgr__ring_pop_sc(struct msgr__ring *r, void *desc)
{
	struct slot_hdr *s = slot_at(r, r->pos);

	/* acquire: pairs with the producer's release in push_*; the payload
	 * is visible once seq says so. */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != lap(r, r->pos) + 1)
		return -EAGAIN;
	memcpy(desc, s + 1, r->payload_size);
	/* release: pairs with the producer's acquire in push_*; our copy of
	 * the payload happens before the slot is reused. */
	atomic_store_explicit(&s->seq, lap(r, r->pos) + r->mask + 1, memory_order_release);
	r->pos++;
	return 0;
}

int msgr__ring_peek_sc(const struct msgr__ring *r, void *desc)
{
	const struct slot_hdr *s = slot_at(r, r->pos);

	/* acquire: pairs with the producer's release in push_*, as in pop_sc;
	 * no release here, since the slot stays the producer's to reuse only
	 * after a pop. */
	if (atomic_load_explicit(&((struct slot_hdr *)s)->seq, memory_order_acquire) !=
	    lap(r, r->pos) + 1)
		return -EAGAIN;
	memcpy(desc, s + 1, r->payload_size);
	return 0;
}

int msgr__ring_ready_sc(const struct msgr__ring *r)
{
	const struct slot_hdr *s = slot_at(r, r->pos);

	/* acquire: pairs with the producer's release in push_*. */
	return atomic_load_explicit(&((struct slot_hdr *)s)->seq, memory_order_acquire) ==
	       lap(r, r->pos) + 1;
}

int msgr__ring_writable_sp(const struct msgr__ring *r)
{
	const struct slot_hdr *s = slot_at(r, r->pos);

	/* acquire: pairs with the consumer's release in pop_sc. */
	return atomic_load_explicit(&((struct slot_hdr *)s)->seq, memory_order_acquire) ==
	       lap(r, r->pos);
}
