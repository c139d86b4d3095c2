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

/* Reserve n consecutive positions for a _mp producer: their start in *pos,
 * or -ENOBUFS. The consumer frees slots in order, so the last of the n being
 * free for its lap means every one before it is too. */
static int reserve_mp(struct msgr__ring *r, uint32_t n, uint64_t *pos)
{
	uint64_t p = atomic_load_explicit(&r->shm->head, memory_order_relaxed);

	for (;;) {
		struct slot_hdr *s = slot_at(r, p + n - 1);
		/* acquire: pairs with the consumer's release in pop_sc, so the
		 * consumer's read of these slots is done before we overwrite them. */
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - lap(r, p + n - 1));
		if (dif == 0) {
			/* relaxed: the CAS only arbitrates among producers; the
			 * slots' seq words carry all ordering. */
			if (atomic_compare_exchange_weak_explicit(&r->shm->head, &p, p + n,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return -ENOBUFS;
		} else {
			p = atomic_load_explicit(&r->shm->head, memory_order_relaxed);
		}
	}
	*pos = p;
	return 0;
}

/* Fill n reserved slots from pos and publish them, the first last. */
static void publish_n(struct msgr__ring *r, uint64_t pos, const void *payloads, uint32_t n)
{
	const unsigned char *src = payloads;

	for (uint32_t i = n; i-- > 0;) {
		struct slot_hdr *s = slot_at(r, pos + i);
		memcpy(s + 1, src + (size_t)i * r->payload_size, r->payload_size);
		/* release: pairs with the consumer's acquire in pop_sc/ready_sc;
		 * publishes the payload written just above and, for the first
		 * slot, every later slot of the unit published before it. */
		atomic_store_explicit(&s->seq, lap(r, pos + i) + 1, memory_order_release);
	}
}

int msgr__ring_push_mp(struct msgr__ring *r, const void *desc)
{
	return msgr__ring_push_n_mp(r, desc, 1);
}

int msgr__ring_push_n_mp(struct msgr__ring *r, const void *payloads, uint32_t n)
{
	uint64_t pos;

	if (n == 0 || n > r->mask + 1)
		return -EINVAL;
	if (reserve_mp(r, n, &pos))
		return -ENOBUFS;
	publish_n(r, pos, payloads, n);
	return 0;
}

int msgr__ring_push_n_sp(struct msgr__ring *r, const void *payloads, uint32_t n)
{
	if (n == 0 || n > r->mask + 1)
		return -EINVAL;
	if (!msgr__ring_writable_n_sp(r, n))
		return -ENOBUFS;
	publish_n(r, r->pos, payloads, n);
	r->pos += n;
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
	return msgr__ring_writable_n_sp(r, 1);
}

int msgr__ring_writable_n_sp(const struct msgr__ring *r, uint32_t n)
{
	const struct slot_hdr *s;

	if (n == 0 || n > r->mask + 1)
		return 0;
	/* the last of the n free means all are: the consumer frees in order */
	s = slot_at(r, r->pos + n - 1);
	/* acquire: pairs with the consumer's release in pop_sc. */
	return atomic_load_explicit(&((struct slot_hdr *)s)->seq, memory_order_acquire) ==
	       lap(r, r->pos + n - 1);
}
