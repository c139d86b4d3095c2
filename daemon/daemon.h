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

/* Process-wide counters, shown by `msgrctl status`. */
struct msgr__stats {
	uint64_t attaches;      /* successful attaches since start */
	uint64_t attach_errors; /* refused attaches */
	uint64_t attach_shed;   /* attach connections closed before their request
				   came, to make room (attach.c) */
	uint64_t attach_nofd;   /* accepts that failed for want of a file descriptor */
	uint64_t conns_refused; /* connects refused: global.max_conns_per_client */
	uint64_t detaches;      /* clients gone, for any reason */
	uint64_t violations;    /* clients disconnected for a bad segment or descriptor */
	uint64_t msgs_local;    /* messages delivered between local entities */
	uint64_t bytes_local;   /* their payload bytes */
	uint64_t msgs_dropped;  /* sends on a reset channel, given back unsent */
	uint64_t wakeups_sent;  /* eventfd writes to clients */
	uint64_t wakeups_recv;  /* eventfd wakeups from clients */
	/* network (session.c, channel.c) */
	uint64_t links_dialled;     /* outbound links started */
	uint64_t links_accepted;    /* inbound links accepted */
	uint64_t links_refused;     /* inbound links closed at once: too many in handshake */
	uint64_t dial_failures;     /* dials that never connected */
	uint64_t link_errors;       /* links ended by an error (reset, timeout, bad input) */
	uint64_t handshake_timeouts;/* links with no session in time (connect_timeout, handshake_timeout) */
	uint64_t keepalive_timeouts;/* links silent for net.keepalive_timeout */
	uint64_t auth_failures;     /* authentication refused, either way */
	uint64_t races;             /* connection races resolved */
	uint64_t bad_banner;        /* wrong magic before anything else */
	uint64_t no_version;        /* no protocol version in common */
	uint64_t bad_header_crc;    /* frame header CRC mismatch */
	uint64_t bad_type;          /* unknown frame type, flags or reserved bits */
	uint64_t oversized;         /* frame over its type's size limit */
	uint64_t bad_payload_crc;   /* payload CRC mismatch (channel reset) */
	uint64_t bad_tag;           /* secure mode: a record that does not authenticate */
	uint64_t protocol_errors;   /* frames out of place or malformed */
	uint64_t msgs_net_out;      /* messages sent to peer daemons */
	uint64_t bytes_net_out;
	uint64_t msgs_net_in;       /* messages received from peer daemons */
	uint64_t bytes_net_in;
	uint64_t msgs_net_dropped;  /* received for a channel already gone, or out of order */
	uint64_t window_overruns;   /* channels reset: the peer sent past any window */
	uint64_t injected_failures; /* links reset by the fault interceptor (transports/fault.c):
				       net.inject_socket_failures and inject kill-link */
	/* control socket (ctl.c) */
	uint64_t ctl_timeouts;      /* connections closed: no request within global.ctl_timeout */
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
