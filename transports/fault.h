/*
 * fault.h - the fault interceptor: a transport that wraps another one and
 * breaks it on purpose, the way Aeron's loss interceptor wraps its UDP
 * transport. Nothing inside the core or inside tcp.c knows about faults;
 * msgrd runs its transport through this only when global.inject = true.
 *
 * What it injects, read afresh at every decision (so `config set` applies
 * at once):
 *   - socket_failures = N: about one in N sends, and one in N receive
 *     callbacks of the inner transport, abort the link with a reset (the
 *     inner link is closed with -ECONNRESET, so TCP sends a RST and the core
 *     gets closed(-ECONNRESET), as from a network fault). An aborted
 *     receive's bytes are dropped.
 *   - delay_ms: each received buffer is copied into a delay line and handed
 *     to the core up to delay_ms later (a uniform draw), in the order it
 *     arrived. The inner link keeps reading into the interceptor's own
 *     buffer meanwhile, up to a cap, so a delay raises latency without
 *     starving throughput. With delay 0 and nothing held, receives pass
 *     straight through into the core's buffer, without a copy.
 *   - msgr__fault_kill(): one reset now (msgrctl inject kill-link).
 *
 * The transport.h contract holds through the interceptor unchanged: one
 * closed() per link and last, every sent() before it (sends pass through
 * and the inner transport keeps that order), and no callback from inside
 * the call that started it (held buffers and late closed()s go out from a
 * timer). Delays are cancelled when the core closes the link or it is
 * reset; bytes held when the peer ends the link in order (EOF) are still
 * delivered, then closed() follows.
 */
#ifndef MSGR_TRANSPORTS_FAULT_H
#define MSGR_TRANSPORTS_FAULT_H

#include <stdint.h>

#include "transports/transport.h"

/* What to inject. Value type; the interceptor borrows the caller's (msgrd's
 * configuration holds it: net.inject_socket_failures, net.inject_delay) for
 * its whole life and reads it at every decision. */
struct msgr__fault_conf {
	uint64_t socket_failures; /* abort about one in N sends and receives; 0: never */
	uint64_t delay_ms;        /* hold each received buffer up to this long; 0: never */
};

/* The interceptor's ops: what the core calls. Its init cannot know what to
 * wrap and fails; start it with msgr__fault_init instead. */
extern const struct msgr__transport_ops msgr__fault_ops;

/* Like inner->init, with the interceptor in between: the core's events come
 * from the interceptor, and it is the interceptor's ops (msgr__fault_ops)
 * the core must call. conf and injected (the counter of injected failures,
 * kills included) are borrowed until fini has finished. */
int msgr__fault_init(struct msgr__transport **t, const struct msgr__transport_ops *inner,
		     const struct msgr__fault_conf *conf, uint64_t *injected, uv_loop_t *loop,
		     const struct msgr__transport_args *args, const struct msgr__transport_events *ev, void *core, char *err, size_t errlen);

/* Reset link l now, as the network would. 0; -EINVAL if l is not the
 * interceptor's; -ENOTCONN if it is closing or gone already. Its closed()
 * comes later, from the loop. */
int msgr__fault_kill(struct msgr__tconn *l);

#endif
