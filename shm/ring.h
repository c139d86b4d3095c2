/*
 * ring.h - bounded ring of fixed-size descriptors in shared memory.
 *
 * Each slot carries a sequence word next to its payload (the scheme of
 * Vyukov's bounded queue): a producer may write slot (pos & mask) only when
 * its seq == pos, and a consumer may read it only when seq == pos + 1. The
 * word stores seq minus the slot's index, so all-zero memory is an empty
 * ring (no formatting pass over a fresh mapping's slots). So
 * neither side has to publish its position, and the consumer's and the
 * single producer's positions live in private memory where the other process
 * cannot corrupt them. The only shared index is `head`, used by the
 * many-producer push to reserve a slot.
 *
 * Concurrency contracts are in the function names:
 *   _mp  many producers at once (threads of one process)
 *   _sp  exactly one producer
 *   _sc  exactly one consumer
 * A ring is either _mp or _sp on the producer side for its whole life.
 *
 * Trust: the daemon never trusts what it reads. A peer that scribbles on the
 * seq words can only make the ring look full or empty to itself, or hand over
 * garbage payloads, which the reader validates after copying them out.
 */
#ifndef MSGR_SHM_RING_H
#define MSGR_SHM_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MSGR__CACHELINE 64

/* Shared part, at the start of the ring's memory. Slots follow it. */
struct msgr__ring_shm {
	_Alignas(MSGR__CACHELINE) _Atomic uint64_t head; /* _mp reservation counter */
	char pad[MSGR__CACHELINE - sizeof(uint64_t)];
};

/* Private handle. Owned by whichever side opened it; lifetime is that of the
 * mapping it points into. Never placed in shared memory. */
struct msgr__ring {
	struct msgr__ring_shm *shm; /* shared header (head only) */
	unsigned char *slots;       /* first slot */
	uint64_t pos;               /* private position: _sp producer or _sc consumer */
	uint32_t mask;              /* nslots - 1 */
	uint32_t slot_size;         /* bytes per slot, seq word included */
	uint32_t payload_size;      /* slot_size - 8 */
};

/* Bytes of shared memory a ring of nslots slots of payload bytes needs.
 * nslots must be a power of two; payload a multiple of 8. */
size_t msgr__ring_mem_size(uint32_t nslots, uint32_t payload);

/* Write a fresh ring into mem: zeroes it. All-zero memory already is an
 * empty ring, so a fresh mapping needs no call (and its slot pages stay
 * untouched until used). */
void msgr__ring_format(void *mem, uint32_t nslots, uint32_t payload);

/* Open a handle on formatted memory. Does not read the memory. */
int msgr__ring_open(struct msgr__ring *r, void *mem, uint32_t nslots,
		    uint32_t payload);

/* 0, or -ENOBUFS when full. desc has payload_size bytes. */
int msgr__ring_push_mp(struct msgr__ring *r, const void *desc);
int msgr__ring_push_sp(struct msgr__ring *r, const void *desc);

/* Push n consecutive slots as one unit (a descriptor and the slots of
 * text that follow it): payloads holds n payloads back to back. The slots
 * after the first are published before the first, so a consumer that has
 * popped the first finds the others ready; one that does not was handed a
 * broken unit by a hostile producer. 0; -ENOBUFS when fewer than n slots
 * are free; -EINVAL if n is 0 or more than the ring holds. */
int msgr__ring_push_n_mp(struct msgr__ring *r, const void *payloads, uint32_t n);
int msgr__ring_push_n_sp(struct msgr__ring *r, const void *payloads, uint32_t n);

/* Nonzero when a push_sp would succeed now. Single producer only. */
int msgr__ring_writable_sp(const struct msgr__ring *r);
/* Nonzero when a push_n_sp of n slots would succeed now. */
int msgr__ring_writable_n_sp(const struct msgr__ring *r, uint32_t n);

/* 0 and a copy of the descriptor in desc, or -EAGAIN when empty. */
int msgr__ring_pop_sc(struct msgr__ring *r, void *desc);

/* 0 and a copy of the next descriptor, without taking it; -EAGAIN when
 * empty. Consumer side only. A _mp producer may not change a published
 * slot, but a hostile one can: a reader that acts on a peeked field must
 * check it again in what pop_sc returns. */
int msgr__ring_peek_sc(const struct msgr__ring *r, void *desc);

/* Nonzero when a pop would succeed now. Consumer side only. */
int msgr__ring_ready_sc(const struct msgr__ring *r);

#endif
