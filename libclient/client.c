/*
 * client.c - libmsgr: attach, the event path, and the TX pool.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/bits.h"
#include "internal.h"
#include "shm/attach_msg.h"
#include "shm/wake.h"

#define DEFAULT_POLL_US 0 /* spinning pays only with a free core; see msgr-bench */


void msgr__backoff(unsigned *us)
{
	struct timespec ts = { 0, (long)*us * 1000 };

	nanosleep(&ts, NULL);
	if (*us < 1000)
		*us *= 2;
}

void msgr__wake_daemon(msgr_client *c, _Atomic uint32_t *flag)
{
	static const uint64_t one = 1;

	if (msgr__wake_take(flag))
		(void)!write(c->efd_daemon, &one, sizeof(one));
}

/* Pop everything the daemon has given back. Under c->lock. */
static void drain_txdone(msgr_client *c)
{
	struct msgr__free_desc f;

	while (msgr__ring_pop_sc(&c->txdone, &f) == 0) {
		uint64_t ch = f.off >> c->params.chunk_shift;
		if (msgr__pool_free(&c->txp, f.off) == 0) /* the daemon is trusted here */
			msgr__bit_clear(c->tx_sent, ch);
	}
}

int msgr__daemon_gone(msgr_client *c)
{
	char b;
	ssize_t r;

	if (atomic_load_explicit(&c->daemon_lost, memory_order_relaxed))
		return 1;
	/* the attach socket never carries data: EOF or an error is the daemon's
	 * death, seen here by threads that wait without msgr_next */
	r = recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		atomic_store(&c->daemon_lost, 1);
		return 1;
	}
	return 0;
}

int msgr__tx_alloc(msgr_client *c, size_t len, uint64_t *off)
{
	unsigned us = 20;
	int err;

	if (len > c->max_message)
		return -EMSGSIZE;
	for (;;) {
		if (atomic_load_explicit(&c->daemon_lost, memory_order_relaxed))
			return -ENOTCONN;
		pthread_mutex_lock(&c->lock);
		drain_txdone(c);
		err = msgr__pool_alloc(&c->txp, len, off);
		pthread_mutex_unlock(&c->lock);
		if (err != -ENOBUFS)
			return err;
		if (!c->send_blocking)
			return -EAGAIN;
		if (msgr__daemon_gone(c))
			return -ENOTCONN;
		msgr__backoff(&us);
	}
}

void msgr__tx_free(msgr_client *c, uint64_t off)
{
	pthread_mutex_lock(&c->lock);
	(void)msgr__pool_free(&c->txp, off);
	pthread_mutex_unlock(&c->lock);
}

void msgr__flush_closes(msgr_client *c)
{
	int pushed = 0;

	if (!atomic_load_explicit(&c->ncloses, memory_order_relaxed))
		return;
	pthread_mutex_lock(&c->lock);
	while (c->closes) {
		struct msgr__desc d = { .op = MSGR__OP_CLOSE, .conn = c->closes->id };
		if (msgr__ring_push_mp(&c->cmd, &d))
			break;
		/* unlinked before the lock goes, so the CLOSED event, which
		 * frees the handle under the lock, finds it off the list */
		c->closes = c->closes->close_next;
		atomic_fetch_sub_explicit(&c->ncloses, 1, memory_order_relaxed);
		pushed = 1;
	}
	while (!c->closes && c->norphans) {
		struct msgr__desc d = { .op = MSGR__OP_CLOSE, .conn = c->orphans[c->norphans - 1] };
		if (msgr__ring_push_mp(&c->cmd, &d))
			break;
		c->norphans--;
		atomic_fetch_sub_explicit(&c->ncloses, 1, memory_order_relaxed);
		pushed = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (pushed)
		msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
}

int msgr__cmd_push(msgr_client *c, const struct msgr__desc *d)
{
	return msgr__cmd_push_n(c, d, 1);
}

int msgr__cmd_push_n(msgr_client *c, const struct msgr__desc *d, uint32_t n)
{
	unsigned us = 20;

	msgr__flush_closes(c);
	while (msgr__ring_push_n_mp(&c->cmd, d, n)) {
		if (atomic_load_explicit(&c->daemon_lost, memory_order_relaxed))
			return -ENOTCONN;
		/* without send_blocking a full ring fails fast, as a full
		 * pool does: an application that never reads its events
		 * would wait here for ever once the daemon holds its
		 * commands back (CLOSE never waits: msgr_conn_close) */
		if (!c->send_blocking)
			return -EAGAIN;
		if (msgr__daemon_gone(c))
			return -ENOTCONN;
		msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
		msgr__backoff(&us);
	}
	msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
	return 0;
}

/* The attach socket, and where its name came from (for error texts). */
static const char *default_socket(const struct msgr_attach_opts *o, const char **from)
{
	const char *env;

	*from = "msgr_attach_opts.socket_path";
	if (o && o->socket_path)
		return o->socket_path;
	env = getenv("MSGR_SOCKET");
	*from = "$MSGR_SOCKET";
	if (env && *env)
		return env;
	*from = "the default";
	return MSGR_DEFAULT_SOCKET;
}

/* msgr_attach's failures in words: what an admin reads first. */
static int attach_fail(int err, const char *entity, const char *path, const char *from)
{
	switch (-err) {
	case ENOENT:
	case ENOTDIR:
		return msgr__fail(err, "no msgrd socket at %s (%s): is msgrd running? Start it "
				  "(systemctl start msgrd), or point $MSGR_SOCKET at its global.socket",
				  path, from);
	case ECONNREFUSED:
		return msgr__fail(err, "msgrd is not running at %s (%s): the socket is left from "
				  "one that stopped; start msgrd", path, from);
	case EACCES:
		return msgr__fail(err, "may not use msgrd's socket %s (%s): permission denied; "
				  "run as root or as a member of msgrd's group", path, from);
	case EPERM:
		return msgr__fail(err, "msgrd at %s refused to let this user attach as %s (its "
				  "[policy] in msgrd.conf names who may)", path, entity);
	case EADDRINUSE:
		return msgr__fail(err, "%s is already attached to this msgrd (%s); detach it "
				  "first, or attach under another name", entity, path);
	case EUSERS:
		return msgr__fail(err, "msgrd at %s has as many clients as it takes "
				  "(global.max_clients)", path);
	case E2BIG:
		return msgr__fail(err, "pool_size is larger than msgrd at %s allows "
				  "(global.max_pool_size)", path);
	case ESHUTDOWN:
		return msgr__fail(err, "msgrd at %s is shutting down", path);
	case ETIMEDOUT:
		return msgr__fail(err, "msgrd at %s did not answer the attach within 10 s", path);
	case EPROTONOSUPPORT:
	case EPROTO:
		return msgr__fail(err, "%s does not speak this libmsgr's attach protocol: is it "
				  "msgrd's global.socket (not its control socket), and from the same "
				  "release as libmsgr?", path);
	default:
		return msgr__fail(err, "attach to msgrd at %s (%s) as %s: %s", path, from, entity,
				  msgr_strerror(err));
	}
}

/* Take the fds of an SCM_RIGHTS reply: the three we expect into fds, or
 * none. The kernel installs every fd that came on receipt, so any other
 * count, or a second message of fds, is closed here: they are ours now. */
static void take_fds(struct msghdr *mh, int fds[3])
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (n == 3 && fds[0] < 0) {
			memcpy(fds, CMSG_DATA(cm), 3 * sizeof(int));
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

static void close_fds(int fds[3])
{
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* 0 and the three fds of the reply, or a negative errno and none: an error
 * return closes what the daemon sent with its refusal. */
static int handshake(int sock, const char *entity, size_t pool_size,
		     struct msgr__attach_rep *rep, int fds[3])
{
	struct msgr__attach_req req;
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = { rep, sizeof(*rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct timeval tv = { 10, 0 };
	int send_err = 0, err;
	ssize_t n;

	fds[0] = fds[1] = fds[2] = -1;
	memset(&req, 0, sizeof(req));
	req.magic = MSGR__ATTACH_MAGIC;
	req.version = MSGR__ATTACH_VERSION;
	req.pid = getpid();
	req.pool_size = pool_size;
	strcpy(req.entity, entity);
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		/* A daemon out of file descriptors answers and closes at once,
		 * maybe before our request went: its answer says why. */
		send_err = errno;
		if (send_err != EPIPE && send_err != ECONNRESET)
			return -send_err;
	}
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == ECONNRESET) {
		/* the daemon closed with our request unread: the reset comes
		 * first, but an answer sent before it is still queued */
		mh.msg_controllen = sizeof(cbuf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0)
			errno = ECONNRESET;
	}
	if (n < 0)
		return send_err ? -send_err : errno == EAGAIN ? -ETIMEDOUT : -errno;
	take_fds(&mh, fds);
	if (send_err && n != sizeof(*rep))
		err = -send_err;
	else if (n != sizeof(*rep) || rep->magic != MSGR__ATTACH_MAGIC)
		err = -EPROTO;
	else if (rep->version != MSGR__ATTACH_VERSION)
		err = -EPROTONOSUPPORT;
	else if (rep->status)
		err = rep->status < 0 ? rep->status : -EPROTO;
	else if (fds[0] < 0 || (mh.msg_flags & MSG_CTRUNC))
		err = -EPROTO;
	else
		err = 0;
	if (err) {
		close_fds(fds);
		return err;
	}
	tv.tv_sec = 0;
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

int msgr_attach(const char *entity, const struct msgr_attach_opts *opts, msgr_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *from, *path = default_socket(opts, &from);
	struct msgr__attach_rep rep;
	struct msgr__seg_layout lo;
	struct epoll_event ee;
	struct stat st;
	msgr_client *c;
	int fds[3] = { -1, -1, -1 }, err;

	if (!entity || !out)
		return msgr__fail(-EINVAL, "msgr_attach: the entity name and out must not be NULL");
	if (msgr__entity_check(entity))
		return msgr__fail(-EINVAL, "'%.*s' is not an entity name: TYPE.ID, where TYPE is "
				  "a lower-case letter, then lower-case letters, digits or '_', and ID "
				  "is letters, digits, '_' or '-'; %d bytes at most (osd.3, client.admin)",
				  MSGR__ENTITY_MAX * 2, entity, MSGR__ENTITY_MAX - 1);
	if (strlen(path) >= sizeof(sa.sun_path))
		return msgr__fail(-ENAMETOOLONG, "socket path %s (%s) is longer than %zu bytes",
				  path, from, sizeof(sa.sun_path) - 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return msgr__fail(-ENOMEM, "msgr_attach: out of memory");
	c->sock = c->efd_daemon = c->efd_client = c->epfd = -1;
	c->poll_us = opts ? opts->poll_us : DEFAULT_POLL_US;
	c->send_blocking = opts ? opts->send_blocking : 0;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->connect_lock, NULL);
	pthread_mutex_init(&c->rules_lock, NULL);
	c->next_id = 1;
	strcpy(sa.sun_path, path);
	c->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->sock < 0 || connect(c->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto fail;
	}
	err = handshake(c->sock, entity, opts ? opts->pool_size : 0, &rep, fds);
	if (err)
		goto fail;
	c->efd_daemon = fds[1];
	c->efd_client = fds[2];
	err = -EPROTO;
	if (msgr__seg_params_check(&rep.params) || fstat(fds[0], &st) ||
	    (uint64_t)st.st_size != rep.seg_size)
		goto fail;
	msgr__seg_layout(&rep.params, &lo);
	if (lo.size != rep.seg_size)
		goto fail;
	c->base = mmap(NULL, lo.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (c->base == MAP_FAILED) {
		c->base = NULL;
		err = -errno;
		goto fail;
	}
	c->size = lo.size;
	err = msgr__seg_check(c->base, c->size, &rep.params);
	if (err)
		goto fail;
	c->hdr = c->base;
	c->params = rep.params;
	c->pool_size = (uint64_t)rep.params.pool_chunks << rep.params.chunk_shift;
	c->max_message = rep.max_message < c->pool_size ? rep.max_message : c->pool_size;
	{
		unsigned char *b = c->base;
		msgr__ring_open(&c->cmd, b + lo.cmd, rep.params.cmd_slots, sizeof(struct msgr__desc));
		msgr__ring_open(&c->evt, b + lo.evt, rep.params.evt_slots, sizeof(struct msgr__desc));
		msgr__ring_open(&c->txdone, b + lo.txdone, rep.params.free_slots,
				sizeof(struct msgr__free_desc));
		msgr__ring_open(&c->rxfree, b + lo.rxfree, rep.params.free_slots,
				sizeof(struct msgr__free_desc));
		c->txpool = b + lo.txpool;
		c->rxpool = b + lo.rxpool;
		c->credits = (_Atomic uint64_t *)(b + lo.credits);
	}
	c->window = rep.channel_window ? rep.channel_window : UINT64_MAX;
	err = msgr__pool_init(&c->txp, rep.params.pool_chunks, rep.params.chunk_shift);
	if (err)
		goto fail;
	c->tx_sent = calloc((rep.params.pool_chunks + 63) / 64, sizeof(uint64_t));
	if (!c->tx_sent) {
		err = -ENOMEM;
		goto fail;
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		err = -errno;
		goto fail;
	}
	ee.events = EPOLLIN;
	ee.data.u32 = 0;
	epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->efd_client, &ee);
	ee.events = EPOLLIN | EPOLLRDHUP;
	ee.data.u32 = 1;
	epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->sock, &ee);
	close(fds[0]);
	c->nonce = rep.nonce;
	snprintf(c->entity, sizeof(c->entity), "%s", entity);
	rep.addr[sizeof(rep.addr) - 1] = 0;
	snprintf(c->addr, sizeof(c->addr), "%s", rep.addr);
	atomic_store_explicit(&c->hdr->client_heartbeat_ns, msgr__now_ns(), memory_order_relaxed);
	*out = c;
	return 0;
fail:
	if (fds[0] >= 0)
		close(fds[0]);
	msgr_detach(c);
	return attach_fail(err, entity, path, from);
}

int msgr_detach(msgr_client *c)
{
	if (!c)
		return msgr__fail_call(-EINVAL, "msgr_detach", NULL);
	/* Closing the socket is the detach: the daemon resets our channels. */
	if (c->sock >= 0)
		close(c->sock);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->efd_daemon >= 0)
		close(c->efd_daemon);
	if (c->efd_client >= 0)
		close(c->efd_client);
	if (c->base)
		munmap(c->base, c->size);
	for (int b = 0; b < CONN_BUCKETS; b++)
		while (c->conns[b]) {
			struct msgr_conn *k = c->conns[b];
			c->conns[b] = k->hnext;
			free(k);
		}
	msgr__pool_destroy(&c->txp);
	free(c->tx_sent);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->connect_lock);
	pthread_mutex_destroy(&c->rules_lock);
	free(c);
	return 0;
}

const char *msgr_addr(const msgr_client *c)
{
	return c ? c->addr : NULL;
}

int msgr_fd(const msgr_client *c)
{
	return c ? c->epfd : -EINVAL;
}

static void rx_release(msgr_client *c, uint64_t off)
{
	struct msgr__free_desc f = { .off = off };

	/* Never full: it has a slot per RX chunk and we hold each once. */
	(void)msgr__ring_push_mp(&c->rxfree, &f);
	msgr__wake_daemon(c, &c->hdr->daemon_wants_rx);
}

/* An ACCEPTED connection we could make no handle for: no application can
 * ever close it, so we close it for it, or the daemon would keep the
 * channel (and the peer its connection) until we detach. The daemon's
 * CLOSED answer finds no handle and is dropped, as are any messages for the
 * id before it. Never waits, as msgr_conn_close does not. */
static void close_orphan(msgr_client *c, uint32_t id)
{
	struct msgr__desc d = { .op = MSGR__OP_CLOSE, .conn = id };

	msgr__flush_closes(c);
	if (msgr__ring_push_mp(&c->cmd, &d)) {
		pthread_mutex_lock(&c->lock);
		if (c->norphans < MSGR__ORPHANS_MAX) {
			c->orphans[c->norphans++] = id;
			atomic_fetch_add_explicit(&c->ncloses, 1, memory_order_relaxed);
		}
		pthread_mutex_unlock(&c->lock);
	}
	msgr__wake_daemon(c, &c->hdr->daemon_sleeping);
}

/* An error event, in words, for msgr_last_error() on the thread that reads
 * it. CONNECT_FAILED's errno tells the causes apart (msgr_connect(3)):
 * ENXIO, no such entity at a daemon that answered; ECONNREFUSED from
 * another host, no daemon listening there (or the entity there at its
 * connection limit); from our own daemon, only that limit. */
static void event_text(const msgr_client *c, const struct msgr_event *ev)
{
	const char *peer = ev->conn->peer, *slash = strrchr(peer, '/');
	int hp = slash ? (int)(slash - peer) : (int)strlen(peer);
	const char *ent = slash ? slash + 1 : peer;
	int local = !strncmp(peer, c->addr, (size_t)hp) && c->addr[hp] == '/';

	if (ev->type == MSGR_EV_REMOTE_RESET) {
		msgr__fail(ev->error, "%s restarted (a new instance): the connection to it ended, "
			   "with what was in flight", peer);
		return;
	}
	if (ev->type == MSGR_EV_RESET) {
		msgr__fail(ev->error, "the connection to %s was reset: %s", peer,
			   msgr_strerror(ev->error));
		return;
	}
	switch (-ev->error) {
	case ENXIO:
		msgr__fail(ev->error, "connect to %s: no entity %s is attached to the msgrd at %.*s",
			   peer, ent, hp, peer);
		break;
	case ECONNREFUSED:
		if (local)
			msgr__fail(ev->error, "connect to %s: %s holds as many connections as it may "
				   "(global.max_conns_per_client)", peer, ent);
		else
			msgr__fail(ev->error, "connect to %s: no msgrd answers at %.*s (connection "
				   "refused), or %s there holds as many connections as it may", peer,
				   hp, peer, ent);
		break;
	case ETIMEDOUT:
		msgr__fail(ev->error, "connect to %s: the msgrd at %.*s did not answer within "
			   "net.connect_timeout", peer, hp, peer);
		break;
	case EPROTONOSUPPORT:
		msgr__fail(ev->error, "connect to %s: %s does not accept this mode from %s "
			   "(msgr_accept_modes)", peer, ent, c->entity);
		break;
	case EMFILE:
		msgr__fail(ev->error, "connect to %s: %s holds as many connections as it may "
			   "(global.max_conns_per_client)", peer, c->entity);
		break;
	default:
		msgr__fail(ev->error, "connect to %s: %s", peer, msgr_strerror(ev->error));
	}
}

/* Turn one descriptor into an event. 1 if ev is filled, 0 if it was
 * consumed silently (a closed handle, a CLOSED confirmation). */
static int translate(msgr_client *c, const struct msgr__desc *d, struct msgr_event *ev)
{
	struct msgr_conn *k;
	char peer[MSGR__ADDR_MAX];
	int orphan = 0;

	if (d->op == MSGR__EV_MESSAGE && (d->off >= c->pool_size || d->len > c->pool_size - d->off))
		return 0; /* cannot happen with a sane daemon; drop it */
	/* the address follows in the ring (segment.h: control texts); one
	 * that does not fit or parse cannot come from a sane daemon */
	if (d->op == MSGR__EV_ACCEPTED && msgr__text_take(&c->evt, d->len, sizeof(peer) - 1, peer))
		return 0;
	pthread_mutex_lock(&c->lock);
	k = msgr__conn_lookup(c, d->conn);
	if (d->op == MSGR__EV_ACCEPTED) {
		if (k)
			k = NULL; /* an id we hold already: a daemon bug; ignored */
		else if (!(k = msgr__conn_new(c, d->conn, (enum msgr_mode)d->mode, peer, CONN_OPEN)))
			orphan = 1;
		if (k && d->msg_type >= MSGR__CREDIT_SPLIT && d->msg_type < MSGR__CREDIT_SLOTS)
			atomic_store(&k->credit_slot, d->msg_type);
	} else if (d->op == MSGR__EV_CLOSED && k) {
		msgr__conn_forget(c, k);
		k = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (orphan)
		close_orphan(c, d->conn);
	if (!k || atomic_load_explicit(&k->closed, memory_order_relaxed)) {
		if (d->op == MSGR__EV_MESSAGE)
			rx_release(c, d->off);
		return 0;
	}
	memset(ev, 0, sizeof(*ev));
	ev->conn = k;
	switch (d->op) {
	case MSGR__EV_MESSAGE:
		ev->type = MSGR_EV_MESSAGE;
		ev->msg_type = d->msg_type;
		ev->data = c->rxpool + d->off;
		ev->len = d->len;
		return 1;
	case MSGR__EV_ACCEPTED:
		ev->type = MSGR_EV_ACCEPTED;
		return 1;
	case MSGR__EV_CONNECTED:
		atomic_store(&k->state, CONN_OPEN);
		ev->type = MSGR_EV_CONNECTED;
		return 1;
	case MSGR__EV_RESET:
	case MSGR__EV_REMOTE_RESET:
	case MSGR__EV_CONNECT_FAILED:
		atomic_store(&k->state, CONN_RESET);
		ev->type = d->op == MSGR__EV_RESET ? MSGR_EV_RESET
			   : d->op == MSGR__EV_REMOTE_RESET ? MSGR_EV_REMOTE_RESET
							     : MSGR_EV_CONNECT_FAILED;
		ev->error = d->error < 0 ? d->error : -ECONNRESET;
		event_text(c, ev);
		return 1;
	}
	return 0;
}

/* 1 and an event, or 0 when the ring is empty. */
static int poll_ring(msgr_client *c, struct msgr_event *ev)
{
	struct msgr__desc d;

	while (msgr__ring_pop_sc(&c->evt, &d) == 0) {
		msgr__wake_daemon(c, &c->hdr->daemon_wants_rx);
		if (translate(c, &d, ev))
			return 1;
	}
	return 0;
}

static int64_t now_ms(void)
{
	return (int64_t)(msgr__now_ns() / 1000000);
}

int msgr_next(msgr_client *c, struct msgr_event *ev, int timeout_ms)
{
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;

	if (!c || !ev)
		return msgr__fail_call(-EINVAL, "msgr_next", NULL);
	for (;;) {
		struct epoll_event ee[2];
		uint64_t spin_end;
		int n, wait;

		/* reading events is what lets the daemon take commands again
		 * when our events piled up: closes that waited for room go now */
		msgr__flush_closes(c);
		if (poll_ring(c, ev))
			return 0;
		if (atomic_load_explicit(&c->daemon_lost, memory_order_relaxed)) {
			if (c->lost_reported)
				return msgr__fail_call(-ENOTCONN, "msgr_next", NULL);
			c->lost_reported = 1;
			memset(ev, 0, sizeof(*ev));
			ev->type = MSGR_EV_DAEMON_LOST;
			ev->error = msgr__fail_call(-ENOTCONN, "msgr_next", NULL);
			return 0;
		}
		if (timeout_ms != 0) {
			spin_end = msgr__now_ns() + (uint64_t)c->poll_us * 1000;
			while (msgr__now_ns() < spin_end)
				if (msgr__ring_ready_sc(&c->evt))
					break;
			if (msgr__ring_ready_sc(&c->evt))
				continue;
		}
		atomic_store_explicit(&c->hdr->client_heartbeat_ns, msgr__now_ns(),
				      memory_order_relaxed);
		msgr__wake_arm(&c->hdr->client_sleeping);
		if (msgr__ring_ready_sc(&c->evt)) {
			msgr__wake_disarm(&c->hdr->client_sleeping);
			continue;
		}
		if (timeout_ms < 0)
			wait = -1;
		else if (timeout_ms == 0)
			wait = 0;
		else {
			int64_t left = deadline - now_ms();
			wait = left > 0 ? (int)left : 0;
		}
		/* nothing tells us when the command ring has room again: look
		 * every millisecond while closes wait for it */
		if (atomic_load_explicit(&c->ncloses, memory_order_relaxed) && (wait < 0 || wait > 1))
			wait = 1;
		n = epoll_wait(c->epfd, ee, 2, wait);
		for (int i = 0; i < n; i++) {
			if (ee[i].data.u32 == 0) {
				uint64_t v;
				(void)!read(c->efd_client, &v, sizeof(v));
			} else {
				char b;
				ssize_t r = recv(c->sock, &b, 1, MSG_DONTWAIT | MSG_PEEK);
				if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
					atomic_store(&c->daemon_lost, 1);
			}
		}
		if (n > 0)
			msgr__wake_disarm(&c->hdr->client_sleeping);
		if (n == 0 && !msgr__ring_ready_sc(&c->evt)) {
			/* For msgr_fd() users the flag stays armed so the daemon
			 * signals the fd; a blocking caller re-arms next time. */
			if (timeout_ms == 0 || wait == 0)
				return msgr__fail_const(-EAGAIN, "msgr_next: no event within the timeout");
		}
		if (n < 0 && errno != EINTR)
			return msgr__fail_call(-errno, "msgr_next", NULL);
	}
}

void msgr_event_release(msgr_client *c, struct msgr_event *ev)
{
	if (!c || !ev || ev->type != MSGR_EV_MESSAGE || !ev->data)
		return;
	rx_release(c, (uint64_t)((const unsigned char *)ev->data - c->rxpool));
	ev->data = NULL;
}

int msgr_buf_alloc(msgr_client *c, size_t len, void **buf)
{
	uint64_t off;
	int err;

	if (!c || !buf)
		return msgr__fail_call(-EINVAL, "msgr_buf_alloc", NULL);
	err = msgr__tx_alloc(c, len, &off);
	if (err == -EMSGSIZE)
		return msgr__fail(err, "msgr_buf_alloc: %zu bytes is larger than msgrd takes from "
				  "this client (%llu bytes: the daemon's global.max_message, or the pool)",
				  len, (unsigned long long)c->max_message);
	if (err)
		return msgr__fail_call(err, "msgr_buf_alloc", NULL);
	*buf = c->txpool + off;
	return 0;
}

int msgr_buf_free(msgr_client *c, void *buf)
{
	unsigned char *p = buf;
	int err;

	if (!c || !p || p < c->txpool || p >= c->txpool + c->pool_size)
		return msgr__fail(-EINVAL, "msgr_buf_free: not a buffer of this client's pool");
	uint64_t off = (uint64_t)(p - c->txpool), ch = off >> c->params.chunk_shift;

	pthread_mutex_lock(&c->lock);
	if (msgr__bit_test(c->tx_sent, ch))
		err = -EBUSY; /* sent: the daemon gives it back, not the caller */
	else
		err = msgr__pool_free(&c->txp, off);
	pthread_mutex_unlock(&c->lock);
	if (err == -EBUSY)
		return msgr__fail(err, "msgr_buf_free: the buffer was sent; msgrd gives it back");
	return err ? msgr__fail_call(err, "msgr_buf_free", NULL) : 0;
}
