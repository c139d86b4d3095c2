/*
 * path_msgrd.c - msgrd, msgrd-net, msgrd-net-secure and msgrd-net-lossy:
 * libmsgr entity -> msgrd (-> TCP session -> msgrd) -> libmsgr entity.
 *
 * Sends are non-blocking, as an application with other work would use them:
 * a full TX pool, command ring or window means "let the daemon and the peer
 * run" (sched_yield, then again). The receiver checks msg_type against the
 * expected sequence number, and the stamp in the payload.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

msgr_client *bench_mc_attach(const char *what, size_t pool_size, int blocking)
{
	struct msgr_attach_opts o = { .socket_path = bench_attach_sock,
				      .poll_us = bench_wait_poll_us,
				      .pool_size = pool_size,
				      .send_blocking = blocking };
	char ent[64];
	msgr_client *c;
	int err;

	snprintf(ent, sizeof(ent), "bench.%s-%d", what, (int)getpid());
	err = msgr_attach(ent, &o, &c);
	if (err)
		bench_die("attach %s to %s: %s", ent, o.socket_path, msgr_strerror(err));
	return c;
}

void bench_mc_next(msgr_client *c, struct msgr_event *ev)
{
	int err = msgr_next(c, ev, BENCH_IDLE_MS);

	if (err == -EAGAIN || err == -ETIMEDOUT)
		bench_die("nothing from msgrd for %d ms (message lost?)", BENCH_IDLE_MS);
	if (err)
		bench_die("msgr_next: %s", msgr_strerror(err));
	switch (ev->type) {
	case MSGR_EV_DAEMON_LOST:
		bench_die("msgrd went away");
	case MSGR_EV_RESET:
	case MSGR_EV_REMOTE_RESET:
	case MSGR_EV_CONNECT_FAILED:
		bench_die("connection to %s: event %d: %s", ev->conn ? msgr_conn_peer(ev->conn) : "?",
			  (int)ev->type, msgr_strerror(ev->error));
	default:
		break;
	}
}

void bench_mc_send(msgr_conn *k, uint32_t type, const void *p, size_t len, struct bench_side *s)
{
	for (;;) {
		int err = msgr_send(k, type, p, len);
		if (!err)
			return;
		if (err != -EAGAIN)
			bench_die("msgr_send: %s", msgr_strerror(err));
		if (s)
			s->eagain++;
		sched_yield();
	}
}

/* Connect to addr once *ready says the other end has published it. */
msgr_conn *bench_mc_connect(msgr_client *c, const char *addr, _Atomic int *ready)
{
	struct msgr_event ev;
	msgr_conn *k;
	int err;

	if (bench_wait_flag(ready, 10000))
		bench_die("the receiving process never attached");
	err = msgr_connect(c, addr, bench_conn_mode, &k);
	if (err)
		bench_die("msgr_connect %s: %s", addr, msgr_strerror(err));
	bench_mc_next(c, &ev);
	if (ev.type != MSGR_EV_CONNECTED)
		bench_die("expected CONNECTED, got event %d", (int)ev.type);
	return k;
}

/* The receiving end: attach and tell the other process where to connect. */
msgr_client *bench_mc_listen(const char *what, char *addr, size_t addrlen, _Atomic int *ready,
			     size_t pool_size)
{
	msgr_client *c = bench_mc_attach(what, pool_size, 0);

	snprintf(addr, addrlen, "%s", msgr_addr(c));
	atomic_store(ready, 1);
	return c;
}

/* The receiving end's next data message, skipping ACCEPTED; 0 when it is
 * the end marker (still to be released). */
int bench_mc_next_data(msgr_client *c, struct msgr_event *ev)
{
	for (;;) {
		bench_mc_next(c, ev);
		if (ev->type == MSGR_EV_ACCEPTED)
			continue;
		if (ev->type != MSGR_EV_MESSAGE)
			bench_die("unexpected event %d", (int)ev->type);
		return ev->msg_type != BENCH_END_SEQ;
	}
}

void bench_msgrd_sender(struct bench_run *ru)
{
	msgr_client *c = bench_mc_attach("tx", 0, 0);
	msgr_conn *k = bench_mc_connect(c, bench_sh->addr, &bench_sh->ready);
	unsigned char *buf = malloc(ru->size);
	struct bench_side *s = &bench_sh->side[0];
	uint64_t t0 = 0, n = 0;

	if (!buf)
		bench_die("out of memory");
	bench_fill(buf, ru->size);
	while (bench_sending(n, &t0)) {
		n++;
		bench_stamp(buf, (uint32_t)n);
		bench_mc_send(k, (uint32_t)n, buf, ru->size, s);
	}
	bench_window_end(0);
	bench_mc_send(k, BENCH_END_SEQ, buf, ru->size, s);
	bench_sh->sent = n - bench_oneway_warm;
	/* detaching now would reset the channel under messages still queued */
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the receiver did not finish");
	msgr_detach(c);
}

void bench_msgrd_receiver(struct bench_run *ru)
{
	msgr_client *c = bench_mc_listen("rx", bench_sh->addr, sizeof(bench_sh->addr),
					 &bench_sh->ready, 0);
	struct msgr_event ev;
	uint64_t n = 0, bytes = 0;

	while (bench_mc_next_data(c, &ev)) {
		bench_check(ev.msg_type, (uint32_t)(n + 1), ev.data, ev.len, ru->size);
		bench_received(++n, ev.len, &bytes);
		msgr_event_release(c, &ev);
	}
	bench_receiver_done(n, bytes);
	msgr_event_release(c, &ev);
	atomic_store(&bench_sh->done, 1);
	msgr_detach(c);
}

void bench_msgrd_pinger(struct bench_run *ru)
{
	msgr_client *c = bench_mc_attach("ping", 0, 0);
	msgr_conn *k = bench_mc_connect(c, bench_sh->addr, &bench_sh->ready);
	uint64_t warm = bench_warmup_rounds(), total = warm + bench_opt.rtt_count;
	uint64_t *lat = malloc(bench_opt.rtt_count * sizeof(*lat));
	unsigned char *buf = malloc(ru->size);
	struct bench_side *s = &bench_sh->side[0];
	struct msgr_event ev;

	if (!lat || !buf)
		bench_die("out of memory");
	bench_fill(buf, ru->size);
	bench_window_start(0);
	for (uint64_t i = 0; i < total; i++) {
		uint32_t seq = (uint32_t)(i + 1);
		uint64_t t0 = bench_now_ns();
		bench_stamp(buf, seq);
		bench_mc_send(k, seq, buf, ru->size, s);
		bench_mc_next(c, &ev);
		if (ev.type != MSGR_EV_MESSAGE)
			bench_die("expected a reply, got event %d", (int)ev.type);
		bench_check(ev.msg_type, seq, ev.data, ev.len, ru->size);
		msgr_event_release(c, &ev);
		if (i >= warm)
			lat[i - warm] = bench_now_ns() - t0;
	}
	bench_window_end(0);
	bench_mc_send(k, BENCH_END_SEQ, buf, ru->size, s);
	bench_sh->rounds = total;
	bench_rtt_stats(lat, bench_opt.rtt_count);
	if (bench_wait_flag(&bench_sh->done, 60000))
		bench_die("the echoing process did not finish");
	msgr_detach(c);
}

/* The echo: every message goes back as it came. */
void bench_msgrd_ponger(struct bench_run *ru)
{
	msgr_client *c = bench_mc_listen("pong", bench_sh->addr, sizeof(bench_sh->addr),
					 &bench_sh->ready, 0);
	struct bench_side *s = &bench_sh->side[1];
	struct msgr_event ev;
	uint32_t want = 1;

	while (bench_mc_next_data(c, &ev)) {
		bench_check(ev.msg_type, want, ev.data, ev.len, ru->size);
		if (atomic_load_explicit(&bench_sh->echo_on, memory_order_relaxed)) {
			atomic_store(&bench_sh->echo_ns, bench_now_ns());
			atomic_store(&bench_sh->echo_seq, ev.msg_type); /* seq_cst: after the stamp */
		}
		bench_mc_send(ev.conn, ev.msg_type, ev.data, ev.len, s);
		msgr_event_release(c, &ev);
		if (want++ == 1)
			bench_window_start(1);
	}
	bench_window_end(1);
	msgr_event_release(c, &ev);
	atomic_store(&bench_sh->done, 1);
	msgr_detach(c);
}
