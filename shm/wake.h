/*
 * wake.h - the needs-wakeup protocol between a sleeping consumer and its
 * producers, so a producer pays for a signal only when the consumer sleeps.
 *
 *   consumer                         producer
 *   --------                         --------
 *   poll the ring for poll_us        push to the ring
 *   msgr__wake_arm(flag)             if (msgr__wake_take(flag))
 *   if ring not empty: disarm, run       write(eventfd)
 *   else sleep on the eventfd
 *
 * The two seq_cst fences make this Dekker-style pair safe: either the
 * consumer's re-check sees the pushed slot, or the producer sees the flag.
 * A flag is shared memory, so the daemon tolerates any value in the flags it
 * reads: a lying client can at worst miss its own wakeups or cost the daemon
 * one eventfd write per push.
 */
#ifndef MSGR_SHM_WAKE_H
#define MSGR_SHM_WAKE_H

#include <stdatomic.h>
#include <stdint.h>

static inline void msgr__wake_arm(_Atomic uint32_t *flag)
{
	atomic_store_explicit(flag, 1, memory_order_relaxed);
	/* seq_cst fence: pairs with the fence in msgr__wake_take; orders our
	 * flag store before the caller's re-check of the ring. */
	atomic_thread_fence(memory_order_seq_cst);
}

static inline void msgr__wake_disarm(_Atomic uint32_t *flag)
{
	atomic_store_explicit(flag, 0, memory_order_relaxed);
}

/* Nonzero if the caller must signal the consumer. Only one of several
 * concurrent producers gets nonzero per sleep. */
static inline int msgr__wake_take(_Atomic uint32_t *flag)
{
	/* seq_cst fence: pairs with the fence in msgr__wake_arm; orders the
	 * caller's ring push before our read of the flag. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(flag, memory_order_relaxed))
		return 0;
	return atomic_exchange_explicit(flag, 0, memory_order_relaxed) != 0;
}

#endif
