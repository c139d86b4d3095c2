/*
 * msgr.h - libmsgr, the client library of the msgrd messenger daemon.
 *
 * This is the only installed header. Every function returns 0 (or a
 * non-negative value where documented) on success and a negative errno on
 * failure; msgr_strerror() names it. See msgr(3).
 */
#ifndef MSGR_H
#define MSGR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MSGR_VERSION_MAJOR 0
#define MSGR_VERSION_MINOR 1
#define MSGR_VERSION_STRING "0.1.0"

/* An entity attached to the local msgrd. Owned by the application from
 * msgr_attach() until msgr_detach(). */
typedef struct msgr_client msgr_client;

/* A Connection handle to one peer entity. Owned by its msgr_client; valid
 * until msgr_conn_close() or msgr_detach(). */
typedef struct msgr_conn msgr_conn;

enum msgr_mode {
	MSGR_LOSSY = 1,    /* client/server lossy: reset on any fault */
	MSGR_LOSSLESS = 2, /* client/server lossless: connecting side reconnects */
	MSGR_PEER = 3,     /* lossless peer: either side reconnects */
};

/* A mode's bit in the mask of msgr_accept_modes(). */
#define MSGR_MODE_BIT(m) (1u << (m))
#define MSGR_MODES_ALL (MSGR_MODE_BIT(MSGR_LOSSY) | MSGR_MODE_BIT(MSGR_LOSSLESS) | \
			MSGR_MODE_BIT(MSGR_PEER))

enum msgr_event_type {
	MSGR_EV_MESSAGE = 1,
	MSGR_EV_ACCEPTED,       /* a peer connected to us; ev.conn is the new handle */
	MSGR_EV_CONNECTED,      /* our msgr_connect() reached the peer */
	MSGR_EV_RESET,          /* the channel is gone; sends fail with -ECONNRESET */
	MSGR_EV_REMOTE_RESET,   /* the peer restarted (new instance) */
	MSGR_EV_CONNECT_FAILED, /* the peer could not be reached; ev.error says why */
	MSGR_EV_DAEMON_LOST,    /* msgrd went away; every handle is dead */
};

struct msgr_event {
	enum msgr_event_type type;
	msgr_conn *conn;     /* NULL for DAEMON_LOST */
	uint32_t msg_type;   /* MESSAGE: the sender's type tag */
	const void *data;    /* MESSAGE: payload, valid until msgr_event_release() */
	size_t len;          /* MESSAGE: payload length */
	int error;           /* negative errno for RESET / CONNECT_FAILED */
};

/* Options for msgr_attach(). Zero-fill it (or pass NULL) for defaults. */
struct msgr_attach_opts {
	const char *socket_path; /* NULL: $MSGR_SOCKET, then MSGR_DEFAULT_SOCKET */
	size_t pool_size;        /* bytes per direction; 0: the daemon's global.pool_size */
	unsigned poll_us;        /* µs to busy-poll in msgr_next before sleeping; 0: never */
	int send_blocking;       /* nonzero: msgr_send waits for pool space */
};

#define MSGR_DEFAULT_SOCKET "/run/msgrd/msgrd.sock"

int msgr_attach(const char *entity, const struct msgr_attach_opts *opts,
		msgr_client **out);
int msgr_detach(msgr_client *c);
const char *msgr_addr(const msgr_client *c);
int msgr_connect(msgr_client *c, const char *peer, enum msgr_mode mode,
		 msgr_conn **out);
/* Accept connections from entities whose name matches peer_pattern (a glob,
 * "osd.*") only in the modes of the mask. The first rule added that matches
 * decides; once there is a rule, an entity no rule matches is refused. */
int msgr_accept_modes(msgr_client *c, const char *peer_pattern, unsigned modes);
int msgr_send(msgr_conn *conn, uint32_t msg_type, const void *data, size_t len);
int msgr_sendv(msgr_conn *conn, uint32_t msg_type, const struct iovec *iov,
	       int iovcnt);
int msgr_buf_alloc(msgr_client *c, size_t len, void **buf);
int msgr_buf_free(msgr_client *c, void *buf); /* give back an unsent buffer */
int msgr_send_buf(msgr_conn *conn, uint32_t msg_type, void *buf, size_t len);
int msgr_next(msgr_client *c, struct msgr_event *ev, int timeout_ms);
void msgr_event_release(msgr_client *c, struct msgr_event *ev);
int msgr_fd(const msgr_client *c);
void msgr_conn_close(msgr_conn *conn);
const char *msgr_conn_peer(const msgr_conn *conn);
const char *msgr_strerror(int err);
/* What the calling thread's last failed call (or error event from
 * msgr_next) was about, in words: names, paths, keys. Never NULL; "" until
 * something failed. As with errno, success leaves it alone; it stays valid
 * until the thread's next failure. */
const char *msgr_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* MSGR_H */
