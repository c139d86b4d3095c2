#include "attach.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "common/log.h"
#include "daemon.h"
#include "shm/attach.h"

/* One accepted connection before its request has arrived. Owned by itself:
 * freed from its close callback. */
struct pending {
	struct msgr__daemon *d;
	int fd;
	uv_poll_t poll;
	uv_timer_t timer; /* a peer that never speaks is dropped */
	int closing;
};

static void pending_closed(uv_handle_t *h)
{
	struct pending *p = h->data;

	if (--p->closing == 0)
		free(p);
}

/* uv_close() takes the fd out of epoll at once, so it must come before the
 * fd is closed or handed to a client's own poll handle. */
static void pending_close(struct pending *p, int close_fd)
{
	p->closing = 2;
	uv_close((uv_handle_t *)&p->poll, pending_closed);
	uv_close((uv_handle_t *)&p->timer, pending_closed);
	if (close_fd)
		close(p->fd);
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

static int check_req(struct msgr__daemon *d, const struct msgr__attach_req *req, ssize_t n)
{
	if (n != (ssize_t)sizeof(*req) || req->magic != MSGR__ATTACH_MAGIC)
		return -EPROTO;
	if (req->version != MSGR__ATTACH_VERSION)
		return -EPROTONOSUPPORT;
	if (req->flags || memchr(req->entity, 0, sizeof(req->entity)) == NULL ||
	    msgr__entity_check(req->entity))
		return -EINVAL;
	if (req->pool_size > d->conf.max_pool_size)
		return -E2BIG;
	if (d->stopping)
		return -ESHUTDOWN;
	if (d->nclients >= d->conf.max_clients)
		return -EUSERS;
	if (msgr__dclient_find(d, req->entity))
		return -EADDRINUSE;
	return 0;
}

static void on_request(uv_poll_t *h, int status, int events)
{
	struct pending *p = h->data;
	struct msgr__daemon *d = p->d;
	struct msgr__attach_req req;
	struct msgr__attach_rep rep;
	struct msgr__dclient *c;
	int fds[3], err, fd = p->fd;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	n = recv(p->fd, &req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	memset(&rep, 0, sizeof(rep));
	rep.magic = MSGR__ATTACH_MAGIC;
	rep.version = MSGR__ATTACH_VERSION;
	if (n <= 0) {
		pending_close(p, 1);
		return;
	}
	pending_close(p, 0); /* from here on fd is ours alone */
	err = check_req(d, &req, n);
	if (!err) /* [policy]: may this process's user take this name? */
		err = msgr__policy_attach(&d->conf.policy, fd, req.entity);
	if (!err)
		err = msgr__dclient_create(d, fd, req.entity,
					   req.pool_size ? req.pool_size : d->conf.pool_size, &c, fds);
	if (err) {
		d->stats.attach_errors++;
		msgr__info("attach refused for '%s': %s",
			   n == (ssize_t)sizeof(req) && memchr(req.entity, 0, sizeof(req.entity))
				   ? req.entity : "(malformed request)",
			   strerror(-err));
		rep.status = err;
		reply(fd, &rep, NULL, 0);
		close(fd);
		return;
	}
	d->stats.attaches++;
	rep.nonce = c->nonce;
	rep.seg_size = c->size;
	rep.max_message = c->max_message;
	rep.channel_window = c->window;
	rep.params = c->params;
	snprintf(rep.addr, sizeof(rep.addr), "%s", c->addr);
	reply(fd, &rep, fds, 3);
	close(fds[0]); /* the memfd: our mapping keeps the memory */
	msgr__info("client %s attached (pid %d, pool %llu KiB)", c->entity, (int)c->pid,
		   (unsigned long long)(c->pool_bytes >> 10));
}

static void on_timeout(uv_timer_t *t)
{
	pending_close(t->data, 1);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct msgr__daemon *d = h->data;

	for (;;) {
		int fd = accept4(d->attach_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct pending *p;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				msgr__warn("attach socket: accept: %s", strerror(errno));
			return;
		}
		p = calloc(1, sizeof(*p));
		if (!p) {
			close(fd);
			continue;
		}
		p->d = d;
		p->fd = fd;
		uv_poll_init(d->loop, &p->poll, fd);
		uv_timer_init(d->loop, &p->timer);
		p->poll.data = p->timer.data = p;
		uv_poll_start(&p->poll, UV_READABLE, on_request);
		uv_timer_start(&p->timer, on_timeout, 5000, 0);
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

int msgr__attach_listen(struct msgr__daemon *d)
{
	int fd, err;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = msgr__unix_bind(fd, d->conf.socket);
	if (!err && chmod(d->conf.socket, 0660))
		err = -errno;
	if (!err && listen(fd, 128))
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	d->attach_fd = fd;
	uv_poll_init(d->loop, &d->attach_poll, fd);
	d->attach_poll.data = d;
	uv_poll_start(&d->attach_poll, UV_READABLE, on_accept);
	return 0;
}

void msgr__attach_close(struct msgr__daemon *d)
{
	if (d->attach_fd < 0)
		return;
	uv_close((uv_handle_t *)&d->attach_poll, NULL);
	close(d->attach_fd);
	unlink(d->conf.socket);
	d->attach_fd = -1;
}
