/*
 * ctl.c - the control socket (ctl.h): accepting within global.ctl_max_conns,
 * who may ask, reading one request within global.ctl_timeout, and writing
 * its reply in the admin-socket framing. The commands are in ctl_cmds.c.
 */
#include "ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "common/log.h"
#include "common/vec.h"

#define CTL_REQ_MAX 65536

/* The control socket. Owned by the loop from msgr__ctl_listen() to
 * msgr__ctl_close(); then by its handle, freed from the close callback. */
struct msgr__ctl {
	uv_pipe_t srv;   /* listening socket; owned; first, so ctl_freed frees the struct */
	uv_loop_t *loop;
	const struct msgr__ctl_conf *conf; /* lent by the loop; live keys: read at every use */
	struct msgr__ctl_stats *stats;     /* lent by the loop */
	struct msgr__ctl_env env;          /* what the commands see */
	uint32_t nconns; /* connections open (not yet freed) */
	int held;        /* libuv holds an accepted connection we have not taken: we
			    were at global.ctl_max_conns; taken when one closes */
	int closed;      /* msgr__ctl_close ran: connections still open no longer
			    count, and nothing more is taken */
	uint64_t held_logged; /* uv_now when "the next waits" was last logged */
};

/* One control connection. Owned by itself; freed when both handles have
 * closed (conn_close). */
struct ctl_conn {
	uv_pipe_t pipe;
	uv_timer_t timer; /* global.ctl_timeout for the request, then for the reply */
	struct msgr__ctl *ctl; /* the listener; it outlives its connections */
	char *buf;        /* request bytes so far */
	size_t len, cap;
	int answered;     /* a reply is being written; ignore further input */
	int closing;      /* handles not yet closed; 0 while open */
	int privileged;   /* root or msgrd's user: may run "rw" commands */
	int pid, uid;     /* the peer, by SO_PEERCRED, for the log */
};

static void take(struct msgr__ctl *ctl);
static void ctl_maybe_free(struct msgr__ctl *ctl);

static void on_closed(uv_handle_t *h)
{
	struct ctl_conn *cc = h->data;
	struct msgr__ctl *ctl = cc->ctl;

	if (--cc->closing)
		return;
	ctl->nconns--;
	if (!ctl->closed && ctl->held && ctl->nconns < ctl->conf->max_conns) {
		ctl->held = 0;
		take(ctl);
	}
	free(cc->buf);
	free(cc);
	ctl_maybe_free(ctl);
}

/* Close both handles; safe to call again (a timeout during a write, then
 * the write's cancellation). */
static void conn_close(struct ctl_conn *cc)
{
	if (cc->closing)
		return;
	cc->closing = 2;
	uv_close((uv_handle_t *)&cc->pipe, on_closed);
	uv_close((uv_handle_t *)&cc->timer, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct ctl_conn *cc = w->data;

	free(w);
	conn_close(cc);
}

static void on_timeout(uv_timer_t *t)
{
	struct ctl_conn *cc = t->data;

	if (!cc->answered) {
		cc->ctl->stats->timeouts++;
		msgr__debug("control socket: pid %d sent no request within global.ctl_timeout; closed",
			    cc->pid);
	}
	conn_close(cc);
}

static void send_reply(struct ctl_conn *cc, const char *payload)
{
	size_t n = strlen(payload);
	uv_write_t *w = malloc(sizeof(*w) + 4 + n);
	unsigned char *p = (unsigned char *)(w + 1);
	uint32_t be = htonl((uint32_t)n);
	uv_buf_t b;

	cc->answered = 1;
	/* the reply gets its own deadline: a requester that does not read
	 * must not hold its slot either */
	uv_timer_start(&cc->timer, on_timeout, cc->ctl->conf->timeout_ms, 0);
	if (!w) {
		conn_close(cc);
		return;
	}
	memcpy(p, &be, 4);
	memcpy(p + 4, payload, n);
	b = uv_buf_init((char *)p, (unsigned)(n + 4));
	w->data = cc;
	if (uv_write(w, (uv_stream_t *)&cc->pipe, &b, 1, on_written)) {
		free(w);
		conn_close(cc);
	}
}

static void send_error(struct ctl_conn *cc, const char *fmt, const char *arg)
{
	char *reply = msgr__ctl_error_reply(fmt, arg);

	if (!reply) {
		conn_close(cc);
		return;
	}
	send_reply(cc, reply);
	free(reply);
}

static void handle_request(struct ctl_conn *cc, const char *text)
{
	char *reply = msgr__ctl_run(&cc->ctl->env, text, cc->privileged, cc->pid, cc->uid);

	if (!reply) {
		conn_close(cc);
		return;
	}
	send_reply(cc, reply);
	free(reply);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct ctl_conn *cc = h->data;

	if (msgr__vec_reserve(&cc->buf, &cc->cap, cc->len + 4096, 1, 8192)) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(cc->buf + cc->len, (unsigned)(cc->cap - cc->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct ctl_conn *cc = s->data;
	char *end;

	if (cc->answered)
		return;
	if (n < 0) {
		conn_close(cc);
		return;
	}
	cc->len += (size_t)n;
	cc->buf[cc->len] = 0;
	end = memchr(cc->buf, 0, cc->len);
	if (!end)
		end = memchr(cc->buf, '\n', cc->len);
	if (end) {
		*end = 0;
		uv_read_stop(s);
		handle_request(cc, cc->buf);
	} else if (cc->len > CTL_REQ_MAX) {
		uv_read_stop(s);
		send_error(cc, "request longer than %s bytes", "65536");
	}
}

/* The socket's mode already keeps others out; SO_PEERCRED makes it hold
 * even if the file's mode or the directory is loosened by mistake. */
static int peer_allowed(struct ctl_conn *cc)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&cc->pipe, &fd) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return 0;
	cc->pid = (int)cred.pid;
	cc->uid = (int)cred.uid;
	cc->privileged = cred.uid == 0 || cred.uid == geteuid();
	if (cc->privileged || cred.gid == getegid())
		return 1;
	{
		/* supplementary groups too: members of msgrd's group may ask */
		gid_t groups[256];
		socklen_t gl = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0)
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == getegid())
					return 1;
	}
	msgr__warn("control socket: refused pid %d (uid %d, gid %d)", (int)cred.pid, (int)cred.uid,
		   (int)cred.gid);
	return 0;
}

/* Take the connection libuv has accepted for us. */
static void take(struct msgr__ctl *ctl)
{
	struct ctl_conn *cc = calloc(1, sizeof(*cc));

	if (!cc) {
		/* leave it with libuv, as at the cap: tried again when a
		 * connection closes */
		msgr__err("control socket: out of memory; accepting again when a connection closes");
		ctl->held = 1;
		return;
	}
	cc->ctl = ctl;
	uv_pipe_init(ctl->loop, &cc->pipe, 0);
	uv_timer_init(ctl->loop, &cc->timer);
	cc->pipe.data = cc->timer.data = cc;
	ctl->nconns++;
	/* from accept, a request must arrive within global.ctl_timeout */
	uv_timer_start(&cc->timer, on_timeout, ctl->conf->timeout_ms, 0);
	if (uv_accept((uv_stream_t *)&ctl->srv, (uv_stream_t *)&cc->pipe)) {
		conn_close(cc);
		return;
	}
	if (!peer_allowed(cc)) {
		send_error(cc, "permission denied: %s", "not msgrd's user or group");
		return;
	}
	uv_read_start((uv_stream_t *)&cc->pipe, on_alloc, on_read);
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct msgr__ctl *ctl = srv->data;

	if (status < 0 || ctl->closed)
		return;
	if (ctl->nconns >= ctl->conf->max_conns) {
		/* Leave it with libuv: while it holds an accepted connection
		 * it stops watching the listening socket (uv__server_io), so
		 * the rest wait in the kernel's backlog, in order, without a
		 * busy loop; on_closed takes it when a slot frees. Logged once
		 * a minute at most: a crowd would repeat it at every slot. */
		if (!ctl->held_logged || uv_now(ctl->loop) - ctl->held_logged >= 60000) {
			ctl->held_logged = uv_now(ctl->loop);
			msgr__info("control socket: %u connections open (global.ctl_max_conns); the next waits",
				   ctl->nconns);
		}
		ctl->held = 1;
		return;
	}
	take(ctl);
}

static void ctl_freed(uv_handle_t *h)
{
	free(h);
}

int msgr__ctl_listen(uv_loop_t *loop, const struct msgr__ctl_conf *conf, struct msgr__ctl_stats *stats,
		     const struct msgr__ctl_env *env, struct msgr__ctl **out)
{
	struct msgr__ctl *ctl = calloc(1, sizeof(*ctl));
	int err, sfd;

	if (!ctl)
		return -ENOMEM;
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sfd < 0) {
		free(ctl);
		return -errno;
	}
	err = msgr__unix_bind(sfd, conf->socket);
	if (!err && chmod(conf->socket, 0660))
		err = -errno;
	if (err) {
		close(sfd);
		free(ctl);
		return err;
	}
	ctl->loop = loop;
	ctl->conf = conf;
	ctl->stats = stats;
	ctl->env = *env;
	uv_pipe_init(loop, &ctl->srv, 0);
	ctl->srv.data = ctl;
	err = uv_pipe_open(&ctl->srv, sfd);
	if (!err)
		err = uv_listen((uv_stream_t *)&ctl->srv, 64, on_connection);
	if (err) {
		uv_close((uv_handle_t *)&ctl->srv, ctl_freed);
		unlink(conf->socket);
		return err;
	}
	*out = ctl;
	return 0;
}

/* Freed once the listener has closed and the last connection with it. */
static void ctl_maybe_free(struct msgr__ctl *ctl)
{
	if (ctl->closed == 2 && ctl->nconns == 0)
		free(ctl);
}

static void srv_closed(uv_handle_t *h)
{
	struct msgr__ctl *ctl = h->data;

	ctl->closed = 2;
	ctl_maybe_free(ctl);
}

void msgr__ctl_close(struct msgr__ctl *ctl)
{
	if (!ctl || ctl->closed)
		return;
	ctl->closed = 1;
	uv_close((uv_handle_t *)&ctl->srv, srv_closed);
	unlink(ctl->conf->socket);
}
