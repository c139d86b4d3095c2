/*
 * loopstat.h - how long the daemon's event loop works between two sleeps,
 * for the loop_stalls and loop_busy_max_us counters.
 *
 * A loop turn runs every callback that is due (clients' rings, sockets,
 * timers) one after another; while one runs, nothing else moves. The loop
 * calls msgr__loop_turn once per turn, just before it may sleep, with the
 * wall clock and the time libuv has spent asleep in the kernel's poll so
 * far (uv_metrics_idle_time); the difference of the differences is the
 * turn's work. libuv loses the idle time of a poll that a signal handler
 * interrupts, which is why the daemon takes its signals on a signalfd
 * (main.c).
 */
#ifndef MSGR_COMMON_LOOPSTAT_H
#define MSGR_COMMON_LOOPSTAT_H

#include <stdint.h>

#define MSGR__LOOP_STALL_NS 1000000ull /* a turn with more work than this is a stall */

/* Owned by the loop (main.c) for the process's life; the counters read it. */
struct msgr__loop_stats {
	uint64_t stalls;      /* turns whose work took over MSGR__LOOP_STALL_NS */
	uint64_t busy_max_ns; /* the most work one turn took */
	uint64_t at_ns;       /* the last call's wall clock ... */
	uint64_t idle_ns;     /*   and time asleep until then */
	int started;          /* there was a last call */
};

/* A turn ended at now_ns, with idle_ns asleep in all so far. Either clock
 * going back (it should not) counts as no work. */
static inline void msgr__loop_turn(struct msgr__loop_stats *s, uint64_t now_ns, uint64_t idle_ns)
{
	if (s->started) {
		uint64_t wall = now_ns > s->at_ns ? now_ns - s->at_ns : 0;
		uint64_t idle = idle_ns > s->idle_ns ? idle_ns - s->idle_ns : 0;
		uint64_t busy = wall > idle ? wall - idle : 0;

		if (busy > MSGR__LOOP_STALL_NS)
			s->stalls++;
		if (busy > s->busy_max_ns)
			s->busy_max_ns = busy;
	}
	s->started = 1;
	s->at_ns = now_ns;
	s->idle_ns = idle_ns;
}

#endif
