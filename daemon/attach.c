#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "cmd.h"
#include "common/list.h"
#include "common/log.h"
#include "policy.h"
#include "registry.h"
#include "shm/attach_msg.h"

/* Attach connections that have not sent their request yet: at most this
 * many. libmsgr sends its request right after connecting, so it is nearly
 * always there when we accept and is served at once; only a silent or
 * very slow connection waits here. Past the cap, or when file descriptors
 * run out, the one that has waited longest is closed to make room. So
 * silent connections hold at most this many fds, and never stop an honest
 * attach from being served. */
#define PENDING_MAX 64
#define PENDING_TIMEOUT_MS 5000 /* a connection that never speaks is closed */
#define ACCEPT_BATCH 64         /* accepts per wakeup: a connect storm shares the loop */
#define ACCEPT_PAUSE_MS 100     /* out of fds, spare gone: look again after this */
#define ATTACH_LOG_MS 10000     /* at most one line per condition this often */

/* One accepted connection before its request has arrived. Owned by the
 * listener's pending list until pending_close(), then by itself: freed
 * from its last close callback. */
struct msgr__pending {
	struct msgr__attach *a;
	struct msgr__pending *prev, *next; /* the listener's list, oldest first */
	int fd;
	uv_poll_t poll;
	uv_timer_t timer; /* a peer that never speaks is dropped */
	int closing;
};

/* The attach listener. Owned by the loop, from msgr__attach_listen() to
 * msgr__attach_close(); then by itself, freed when its handles have
 * closed. */
struct msgr__attach {
	struct msgr__registry *reg;      /* where clients go; its settings are
					    global.socket and the attach limits */
	const struct msgr__policy *policy; /* [policy], lent by the loop (read at
					    every attach: a reload changes it) */
	const int *stopping;             /* the loop's: shutting down, refuse attaches */
	int fd;                          /* listening SOCK_SEQPACKET socket */
	uv_poll_t poll;                  /* readability of fd */
	struct msgr__pending *pending, *pending_last; /* connections waiting for
					    their request, oldest first; owned */
	uint32_t npending;
	int spare;                       /* an fd on /dev/null, given up to accept and
					    refuse one attach when we are out of
					    fds; -1 if lost */
	uv_timer_t pause;                /* out of fds altogether: accepting resumes
					    when it fires */
	int closing;                     /* handles not yet closed, after close */
	struct msgr__ratelimit nofd_rl, shed_rl; /* lines an attacker could repeat
					    at will */
};

static void pending_closed(uv_handle_t *h)
{
	struct msgr__pending *p = h->data;

	if (--p->closing == 0)
		free(p);
}

/* uv_close() takes the fd out of epoll at once, so it must come before the
 * fd is closed or handed to a client's own poll handle. */
static void pending_close(struct msgr__pending *p, int close_fd)
{
	struct msgr__attach *a = p->a;

	msgr__list_unlink_tail(&a->pending, &a->pending_last, p);
	a->npending--;
	p->closing = 2;
	uv_close((uv_handle_t *)&p->poll, pending_closed);
	uv_close((uv_handle_t *)&p->timer, pending_closed);
	if (close_fd)
		close(p->fd);
}

/* Close the connection that has waited longest for its request, to give
 * its fd to someone else. why: what ran short, for the log. 0 if there was
 * none. */
static int shed_oldest(struct msgr__attach *a, const char *why)
{
	uint64_t held;
	char note[64];

	if (!a->pending)
		return 0;
	a->reg->stats->attach_shed++;
	if (msgr__ratelimit(&a->shed_rl, ATTACH_LOG_MS, &held))
		msgr__warn("attach socket: %s; closing the one that has waited longest "
			   "without sending its request%s", why,
			   msgr__ratelimit_note(held, note, sizeof(note)));
	pending_close(a->pending, 1);
	return 1;
}

static void reply(int fd, const struct msgr__attach_rep *rep, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { (void *)rep, sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	/* A fresh SEQPACKET socket has room for one small datagram; if the
	 * peer is already gone the send fails and the hang-up handles it. */
	(void)sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static int check_req(struct msgr__attach *a, const struct msgr__attach_req *req, ssize_t n)
{
	if (n != (ssize_t)sizeof(*req) || req->magic != MSGR__ATTACH_MAGIC)
		return -EPROTO;
	if (req->version != MSGR__ATTACH_VERSION)
		return -EPROTONOSUPPORT;
	if (req->flags || memchr(req->entity, 0, sizeof(req->entity)) == NULL ||
	    msgr__entity_check(req->entity))
		return -EINVAL;
	if (req->pool_size > a->reg->conf->max_pool_size)
		return -E2BIG;
	if (*a->stopping)
		return -ESHUTDOWN;
	if (a->reg->nclients >= a->reg->conf->max_clients)
		return -EUSERS;
	if (msgr__dclient_find(a->reg, req->entity))
		return -EADDRINUSE;
	return 0;
}

/* A refused attach's reason, in the words msgr_last_error() uses. */
static const char *refusal(int err)
{
	switch (-err) {
	case EADDRINUSE: return "already attached to this msgrd";
	case EINVAL: return "Invalid argument (an entity name is TYPE.ID, like osd.3)";
	case EUSERS: return "global.max_clients are attached";
	case E2BIG: return "its pool_size is over global.max_pool_size";
	default: return strerror(-err);
	}
}

static int fd_shortage(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

/* Read and answer the attach request on fd. p is fd's pending entry, or
 * NULL if it has none yet. -EAGAIN if the request has not arrived, and fd
 * (and p) stay as they were; otherwise fd is consumed: it is a client's
 * socket now, or it was answered and closed, and p is closed. */
static int serve(struct msgr__attach *a, int fd, struct msgr__pending *p)
{
	struct msgr__attach_req req;
	struct msgr__attach_rep rep;
	struct msgr__dclient *c;
	int fds[3], err;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	n = recv(fd, &req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (p)
		pending_close(p, 0); /* from here on fd is ours alone */
	if (n <= 0) {
		close(fd);
		return 0;
	}
	memset(&rep, 0, sizeof(rep));
	rep.magic = MSGR__ATTACH_MAGIC;
	rep.version = MSGR__ATTACH_VERSION;
	err = check_req(a, &req, n);
	if (!err) /* [policy]: may this process's user take this name? */
		err = msgr__policy_attach(a->policy, fd, req.entity);
	if (!err) {
		uint64_t pool = req.pool_size ? req.pool_size : a->reg->conf->pool_size;
		err = msgr__dclient_create(a->reg, fd, req.entity, pool, &c, fds);
		/* the segment and its two eventfds take three fds: silent
		 * connections give theirs up before an honest client goes
		 * without */
		if (fd_shortage(err)) {
			int shed = 0;
			while (shed < 3 && shed_oldest(a, "out of file descriptors for a new client"))
				shed++;
			if (shed)
				err = msgr__dclient_create(a->reg, fd, req.entity, pool, &c, fds);
		}
	}
	if (err) {
		a->reg->stats->attach_errors++;
		msgr__info("attach refused for '%s': %s",
			   n == (ssize_t)sizeof(req) && memchr(req.entity, 0, sizeof(req.entity))
				   ? req.entity : "(malformed request)",
			   refusal(err));
		rep.status = err;
		reply(fd, &rep, NULL, 0);
		close(fd);
		return 0;
	}
	a->reg->stats->attaches++;
	msgr__dclient_start(c);
	rep.nonce = c->nonce;
	rep.seg_size = c->size;
	rep.max_message = c->max_message;
	rep.channel_window = c->window;
	rep.params = c->params;
	snprintf(rep.addr, sizeof(rep.addr), "%s", c->addr);
	reply(fd, &rep, fds, 3);
	close(fds[0]); /* the memfd: our mapping keeps the memory */
	msgr__logt(MSGR__LOG_INFO, &(struct msgr__log_tags){ .entity = c->entity },
		   "client %s attached (pid %d, pool %llu KiB)", c->entity, (int)c->pid,
		   (unsigned long long)(c->pool_bytes >> 10));
	return 0;
}

static void on_request(uv_poll_t *h, int status, int events)
{
	struct msgr__pending *p = h->data;

	(void)serve(p->a, p->fd, p);
}

static void on_timeout(uv_timer_t *t)
{
	pending_close(t->data, 1);
}

/* fd was accepted without its request: wait for it, within the cap. */
static void wait_request(struct msgr__attach *a, int fd)
{
	struct msgr__pending *p;

	if (a->npending >= PENDING_MAX)
		shed_oldest(a, "too many connections wait for their attach request");
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return;
	}
	p->a = a;
	p->fd = fd;
	p->prev = a->pending_last;
	if (a->pending_last)
		a->pending_last->next = p;
	else
		a->pending = p;
	a->pending_last = p;
	a->npending++;
	uv_poll_init(a->reg->loop, &p->poll, fd);
	uv_timer_init(a->reg->loop, &p->timer);
	p->poll.data = p->timer.data = p;
	uv_poll_start(&p->poll, UV_READABLE, on_request);
	uv_timer_start(&p->timer, on_timeout, PENDING_TIMEOUT_MS, 0);
}

static void on_accept(uv_poll_t *h, int status, int events);

static void on_resume(uv_timer_t *t)
{
	struct msgr__attach *a = t->data;

	if (a->spare < 0)
		a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uv_poll_start(&a->poll, UV_READABLE, on_accept);
}

/* Stop accepting for ACCEPT_PAUSE_MS: the listening socket stays readable,
 * and libuv would call on_accept again at once, for as long as accept()
 * keeps failing. Connections wait in the backlog meanwhile. */
static void pause_accepting(struct msgr__attach *a)
{
	uv_poll_stop(&a->poll);
	uv_timer_start(&a->pause, on_resume, ACCEPT_PAUSE_MS, 0);
}

/* accept() failed with err (EMFILE or ENFILE) while a connection waits:
 * libuv would call us again at once, so make an fd free, cheapest first.
 * Close the connection that has waited longest without a request; or give
 * up the spare fd to accept one connection and refuse it with the error,
 * so the client hears why at once instead of waiting; or, with neither,
 * stop accepting for ACCEPT_PAUSE_MS. 1 if accept may be tried again now. */
static int out_of_fds(struct msgr__attach *a, int err)
{
	uint64_t held;
	char note[64];
	int fd;

	a->reg->stats->attach_nofd++;
	if (msgr__ratelimit(&a->nofd_rl, ATTACH_LOG_MS, &held))
		msgr__warn("attach socket: out of file descriptors (%s): silent attach "
			   "connections are closed, then new ones refused, until fds are "
			   "free%s", strerror(err), msgr__ratelimit_note(held, note, sizeof(note)));
	if (shed_oldest(a, "out of file descriptors"))
		return 1;
	if (a->spare >= 0) {
		int aerr;
		close(a->spare);
		fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		aerr = errno;
		if (fd >= 0) {
			struct msgr__attach_rep rep = { .magic = MSGR__ATTACH_MAGIC,
							.version = MSGR__ATTACH_VERSION,
							.status = -err };
			struct msgr__attach_req req;
			a->reg->stats->attach_errors++;
			/* take the request if it came: closing a socket with
			 * unread data resets the peer, which would then see
			 * ECONNRESET before our answer */
			(void)!recv(fd, &req, sizeof(req), MSG_DONTWAIT);
			reply(fd, &rep, NULL, 0);
			close(fd);
		}
		a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && a->spare >= 0)
			return 1;
		if (fd < 0 && (aerr == EAGAIN || aerr == ECONNABORTED) && a->spare >= 0)
			return 0; /* nobody waits after all */
	}
	pause_accepting(a);
	return 0;
}

/* Nonzero if a connection waits to be accepted. accept() takes its fd
 * before it looks at the queue, so EMFILE says nothing about the queue. */
static int someone_waits(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct msgr__attach *a = h->data;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EAGAIN)
				return;
			if (err == EMFILE || err == ENFILE) {
				if (someone_waits(a->fd) && out_of_fds(a, err))
					continue;
				return;
			}
			/* ENOBUFS, ENOMEM: no fd to give back, but the same pause */
			uint64_t held;
			char note[64];
			if (msgr__ratelimit(&a->nofd_rl, ATTACH_LOG_MS, &held))
				msgr__warn("attach socket: accept: %s; accepting again in %d ms%s",
					   strerror(err), ACCEPT_PAUSE_MS,
					   msgr__ratelimit_note(held, note, sizeof(note)));
			pause_accepting(a);
			return;
		}
		if (serve(a, fd, NULL) == -EAGAIN)
			wait_request(a, fd);
	}
}

int msgr__unix_bind(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0) {
			int type = SOCK_STREAM;
			socklen_t tl = sizeof(type);
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
			close(probe);
			probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
			if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				close(probe);
				return -EADDRINUSE;
			}
			if (probe >= 0)
				close(probe);
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	return 0;
}

int msgr__attach_listen(struct msgr__registry *reg, const struct msgr__policy *policy,
			const int *stopping, struct msgr__attach **out)
{
	const char *path = reg->conf->socket;
	struct msgr__attach *a;
	int fd, err;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(a);
		return -errno;
	}
	err = msgr__unix_bind(fd, path);
	if (!err && chmod(path, 0660))
		err = -errno;
	if (!err && listen(fd, 128))
		err = -errno;
	if (err) {
		close(fd);
		free(a);
		return err;
	}
	a->reg = reg;
	a->policy = policy;
	a->stopping = stopping;
	a->fd = fd;
	a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uv_poll_init(reg->loop, &a->poll, fd);
	uv_timer_init(reg->loop, &a->pause);
	a->poll.data = a->pause.data = a;
	uv_poll_start(&a->poll, UV_READABLE, on_accept);
	*out = a;
	return 0;
}

static void attach_closed(uv_handle_t *h)
{
	struct msgr__attach *a = h->data;

	if (--a->closing == 0)
		free(a);
}

void msgr__attach_close(struct msgr__attach *a)
{
	if (!a)
		return;
	while (a->pending)
		pending_close(a->pending, 1);
	a->closing = 2;
	uv_close((uv_handle_t *)&a->poll, attach_closed);
	uv_close((uv_handle_t *)&a->pause, attach_closed);
	if (a->spare >= 0)
		close(a->spare);
	close(a->fd);
	unlink(a->reg->conf->socket);
}
