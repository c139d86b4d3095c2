/*
 * daemon.h - the msgrd process: one libuv loop and what hangs off it.
 *
 * There is one struct msgr__daemon per process, owned by main.c and living
 * until exit. Everything below runs on its loop thread; nothing here is
 * touched from any other thread.
 */
#ifndef MSGR_DAEMON_DAEMON_H
#define MSGR_DAEMON_DAEMON_H

#include <stdint.h>
#include <uv.h>

#include "common/log.h"
#include "config.h"

struct msgr__dclient;
struct msgr__pending;
struct msgr__ctl;
struct msgr__net;

/* Process-wide counters, shown by `msgrctl status` and `perf dump`: one
 * struct per layer, lent to that layer. */
struct msgr__stats {
	struct msgr__client_stats client; /* client.h */
	struct msgr__chan_stats chan;     /* channel.h */
	struct msgr__net_stats net;       /* link.h */
	uint64_t ctl_timeouts;      /* control connections closed: no request within global.ctl_timeout */
};

struct msgr__daemon {
	uv_loop_t *loop;            /* the one event loop (workers = 1 for now) */
	struct msgr__conf conf;     /* current configuration */
	uint64_t started_ns;        /* CLOCK_MONOTONIC at start */
	int attach_fd;              /* listening SOCK_SEQPACKET socket */
	uv_poll_t attach_poll;      /* readability of attach_fd */
	struct msgr__pending *pending, *pending_last; /* attach connections waiting
					for their request, oldest first (attach.c) */
	uint32_t npending;
	int attach_spare;           /* an fd on /dev/null, given up to accept and refuse
				       one attach when we are out of fds; -1 if lost */
	uv_timer_t attach_pause;    /* out of fds altogether: accepting resumes
				       when it fires */
	struct msgr__ratelimit nofd_rl, shed_rl, conns_rl, peer_conns_rl; /* lines an attacker
				       could repeat at will */
	struct msgr__ctl *ctl;      /* control socket, owned */
	struct msgr__net *net;      /* sessions, links, transport (session.c), owned */
	struct msgr__dclient *clients; /* registry: attached clients, owned */
	uint32_t nclients;          /* entries in clients */
	uint32_t next_client_id;    /* for msgrctl's client ids */
	uv_idle_t spin;             /* active while busy-polling client rings */
	uint64_t last_work_ns;      /* when a poll pass last found work */
	uv_timer_t heartbeat;       /* writes daemon_heartbeat_ns into segments */
	uv_signal_t sigs[3];        /* SIGINT, SIGTERM, SIGHUP */
	int stopping;               /* shutting down; refuse new attaches */
	const char *conf_path;      /* -c FILE (or the default if it existed), for SIGHUP */
	const char **sets;          /* --set overrides, re-applied on SIGHUP */
	int nsets;
	uv_timer_t watchdog;        /* WATCHDOG=1 to systemd, when it asks */
	uint32_t status_clients;    /* nclients last reported in STATUS= */
	struct msgr__stats stats;
};

/* Start busy-polling client rings now (a client signalled, or new work). */
void msgr__daemon_kick(struct msgr__daemon *d);

/* Apply "SECTION.KEY=VALUE" to the running daemon (keys that may change at
 * run time only). On success msg says what changed; on error, why not. */
int msgr__daemon_set(struct msgr__daemon *d, const char *arg, char *msg, size_t len);

/* Make sure a poll pass runs soon (work was created outside a pass, such as
 * events posted when a client hangs up); cheap when already spinning. */
void msgr__daemon_schedule(struct msgr__daemon *d);

#endif
