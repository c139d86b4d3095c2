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
#include "common/loopstat.h"
#include "config.h"

struct msgr__attach;
struct msgr__ctl;
struct msgr__metrics_http;
struct msgr__net;

/* Process-wide counters, shown by `msgrctl status` and `perf dump`: one
 * struct per layer, lent to that layer. */
struct msgr__stats {
	struct msgr__client_stats client; /* client.h */
	struct msgr__chan_stats chan;     /* channel.h */
	struct msgr__net_stats net;       /* link.h */
	struct msgr__ctl_stats ctl;       /* ctl_cmds.h */
};

struct msgr__daemon {
	uv_loop_t *loop;            /* the one event loop (workers = 1 for now) */
	struct msgr__conf conf;     /* current configuration */
	uint64_t started_ns;        /* CLOCK_MONOTONIC at start */
	struct msgr__registry reg;  /* the clients layer: attached clients (client.h) */
	struct msgr__attach *attach;/* attach socket, owned */
	struct msgr__ctl *ctl;      /* control socket, owned */
	struct msgr__metrics_http *metrics; /* GET /metrics (global.metrics_listen), owned; NULL when off */
	struct msgr__net *net;      /* sessions, links, transport (session.c), owned */
	uv_idle_t spin;             /* active while busy-polling client rings */
	uv_prepare_t turn;          /* once per loop turn, before the poll (on_turn) */
	struct msgr__loop_stats loop_stats; /* what on_turn measured */
	uint64_t last_work_ns;      /* when a poll pass last found work */
	uv_timer_t heartbeat;       /* writes daemon_heartbeat_ns into segments */
	int sigfd;                  /* signalfd of SIGINT, SIGTERM, SIGHUP, owned */
	uint64_t fd_warned_need, fd_warned_limit; /* fd_room's last warning */
	uv_poll_t sigpoll;          /* its watcher (main.c says why not uv_signal) */
	int stopping;               /* shutting down; refuse new attaches */
	const char *conf_path;      /* -c FILE (or the default if it existed), for SIGHUP */
	const char **sets;          /* --set overrides, re-applied on SIGHUP */
	int nsets;
	uv_timer_t watchdog;        /* WATCHDOG=1 to systemd, when it asks */
	uint32_t status_clients;    /* nclients last reported in STATUS= */
	struct msgr__stats stats;
};

/* Make sure a poll pass runs soon (work was created outside a pass); cheap
 * when already spinning. The clients layer gets this as its schedule hook;
 * session.c still calls it by name until it gets a hook of its own. */
void msgr__daemon_schedule(struct msgr__daemon *d);

#endif
