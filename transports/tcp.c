/*
 * tcp.c - the TCP transport: transport.h on libuv streams.
 *
 * One uv_tcp_t per connection. A send is one uv_write; bytes are read into
 * the one buffer the core posted (libuv's alloc callback hands it out), and
 * with no buffer posted the connection stops reading, which is the back
 * pressure. Every call into the core comes from a libuv callback, never from
 * the call that started it, and closed() comes from the uv_close callback,
 * which libuv runs after every write callback: so closed() is always the last
 * word on a connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/list.h"
#include "common/log.h"
#include "transports/transport.h"

#define TCP_BACKLOG 128

/* Owned by the core from init to fini. fini only starts the teardown: the
 * listener and the connections are libuv handles whose memory must outlive their
 * uv_close, so the last close callback frees the transport. */
struct msgr__transport {
	uv_loop_t *loop;                         /* borrowed; outlives us */
	const struct msgr__transport_events *ev; /* borrowed from the core */
	void *core;                              /* passed back in every event */
	uv_tcp_t listener;      /* initialised at init so fini can always close it */
	int listening;          /* listen() succeeded; there is one listener */
	struct tcp_conn *conns; /* every connection not yet freed, for fini to abort */
	unsigned handles;       /* listener + connections not yet freed; 0 frees us */
};

/* Allocated by dial() or for an accepted connection; freed by on_close()
 * once closed() has returned, since the core may use pub until then. */
struct tcp_conn {
	struct msgr__tconn pub; /* first: the core's pointer is a cast away */
	uv_tcp_t h;             /* h.data points back here */
	uv_connect_t conn;      /* the dial; libuv holds it until on_connect */
	uv_shutdown_t shut;     /* the graceful close; held until on_shutdown */
	struct msgr__transport *t;
	struct tcp_conn *prev, *next; /* t->conns */
	void *rbuf;             /* the core's posted receive buffer, or NULL */
	size_t rlen;
	int err;                /* why the connection went down, for closed() */
	unsigned up : 1;        /* connected: reads and writes are possible */
	unsigned reading : 1;   /* uv_read_start is in effect */
	unsigned closing : 1;   /* close() was asked or the connection failed */
	unsigned uvclosed : 1;  /* uv_close was called; err is final */
	unsigned silent : 1;    /* never shown to the core, so no closed() */
};

/* One send, freed in on_write. The uv_buf_t array shares the allocation so
 * a send costs one malloc; libuv copies the array, the bytes stay borrowed. */
struct tcp_wreq {
	uv_write_t req;  /* first: on_write casts back */
	void *cookie;    /* the core's, returned in sent() */
	uv_buf_t bufs[];
};

static void release(struct msgr__transport *t)
{
	if (--t->handles == 0)
		free(t);
}

static void on_close(uv_handle_t *h)
{
	struct tcp_conn *l = h->data;
	struct msgr__transport *t = l->t;

	if (!l->silent)
		t->ev->closed(t->core, &l->pub, l->err);
	msgr__list_unlink(&t->conns, l);
	free(l);
	release(t);
}

/* Close the handle now, remembering why. rst: the core aborted, so end with
 * a RST rather than a FIN. uv_tcp_close_reset refuses while a shutdown is in
 * flight (a guard for other platforms), but an abort that overtakes a
 * graceful close still means "at once", so set the zero linger by hand. */
static void conn_down(struct tcp_conn *l, int err, int rst)
{
	struct linger lg = { 1, 0 };
	uv_os_fd_t fd;

	if (l->uvclosed)
		return;
	l->err = err;
	l->closing = l->uvclosed = 1;
	l->reading = 0;
	if (rst && uv_tcp_close_reset(&l->h, on_close) == 0)
		return;
	if (rst && uv_fileno((uv_handle_t *)&l->h, &fd) == 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	uv_close((uv_handle_t *)&l->h, on_close);
}

static struct tcp_conn *conn_new(struct msgr__transport *t)
{
	struct tcp_conn *l = calloc(1, sizeof(*l));

	if (!l || uv_tcp_init(t->loop, &l->h)) {
		free(l);
		return NULL;
	}
	l->h.data = l;
	l->t = t;
	l->pub.ops = &msgr__tcp_ops;
	l->pub.via = "tcp";
	l->next = t->conns;
	if (t->conns)
		t->conns->prev = l;
	t->conns = l;
	t->handles++;
	uv_tcp_nodelay(&l->h, 1); /* frames are small and latency-bound */
	return l;
}

/* A connection is up: the kernel keeps at most NOTSENT_LOWAT bytes it has
 * not sent yet (TCP_NOTSENT_LOWAT) and the rest waits above, where the
 * session serves its channels in turn (net.send_backlog). Without it the
 * kernel's send buffer (megabytes on a fast link) queues ahead of every
 * small message the session lets go. A failure only costs that. */
#define NOTSENT_LOWAT (128 << 10)
static void conn_up(struct tcp_conn *l)
{
	int fd, lowat = NOTSENT_LOWAT;

	l->up = 1;
	if (uv_fileno((uv_handle_t *)&l->h, &fd) == 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

/* ---- receiving ---------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *l = h->data;

	/* Length 0 (nothing posted) makes libuv report UV_ENOBUFS. */
	*buf = (uv_buf_t){ .base = l->rbuf, .len = l->rbuf ? l->rlen : 0 };
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tcp_conn *l = s->data;
	void *rbuf = l->rbuf;

	if (n == 0) /* EAGAIN: the buffer stays posted */
		return;
	if (n == UV_EOF) {
		/* libuv also reports EOF when a RST came in behind data it has
		 * just read (EPOLLHUP after a short read), so ask the socket. */
		int e = 0;
		socklen_t el = sizeof(e);
		uv_os_fd_t fd;

		if (uv_fileno((uv_handle_t *)s, &fd) ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el))
			e = 0;
		n = e ? -e : -ENOTCONN;
	}
	if (n < 0 && n != UV_ENOBUFS) {
		conn_down(l, (int)n, 0);
		return;
	}
	if (n > 0) {
		l->rbuf = NULL;
		l->t->ev->received(l->t->core, &l->pub, rbuf, (size_t)n);
	}
	if (!l->rbuf && l->reading) { /* nothing posted: back pressure */
		uv_read_stop(s);
		l->reading = 0;
	}
}

static int tcp_post_recv(struct msgr__tconn *pub, void *buf, size_t len)
{
	struct tcp_conn *l = (struct tcp_conn *)pub;
	int r = 0;

	if (l->closing)
		return -ENOTCONN;
	if (!buf || !len)
		return -EINVAL;
	l->rbuf = buf;
	l->rlen = len;
	if (l->up && !l->reading) { /* a dialled connection starts in on_connect */
		r = uv_read_start((uv_stream_t *)&l->h, on_alloc, on_read);
		l->reading = r == 0;
		if (r)
			l->rbuf = NULL;
	}
	return r;
}

/* ---- connection setup --------------------------------------------------- */

static int tcp_init(struct msgr__transport **out, uv_loop_t *loop,
		    const struct msgr__transport_args *args, const struct msgr__transport_events *ev, void *core, char *err, size_t errlen)
{
	struct msgr__transport *t = calloc(1, sizeof(*t));
	int r = -ENOMEM;

	if (!t)
		goto out;
	t->loop = loop;
	t->ev = ev;
	t->core = core;
	r = uv_tcp_init(loop, &t->listener);
	if (r)
		goto out;
	t->listener.data = t;
	t->handles = 1;
	*out = t;
	return 0;
out:
	free(t);
	snprintf(err, errlen, "tcp: %s", uv_strerror(r));
	return r;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct msgr__transport *t = server->data;
	struct tcp_conn *l;

	if (status < 0) {
		msgr__warn("tcp: accept: %s", uv_strerror(status));
		return;
	}
	/* Without a handle to accept into, libuv stops watching the listener
	 * until someone does: out of memory here stops accepting for good. */
	l = conn_new(t);
	if (!l) {
		msgr__err("tcp: accept: out of memory, no longer accepting");
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&l->h)) {
		l->silent = 1;
		conn_down(l, 0, 0);
		return;
	}
	conn_up(l);
	t->ev->accepted(t->core, &l->pub);
}

/* The socket is made and bound here rather than by uv_tcp_bind so that a
 * failure (most often EADDRINUSE) is reported at once and leaves the
 * listener untouched for a retry: libuv would keep the failed socket in the
 * handle, and only an asynchronous uv_close could clear it. */
static int tcp_listen(struct msgr__transport *t, const char *hostport)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = -1, one = 1, r;

	if (t->listening)
		return -EBUSY;
	r = msgr__hostport_sockaddr(hostport, &ss);
	if (r)
		goto out;
	sl = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, TCP_BACKLOG)) {
		r = -errno;
		goto out;
	}
	r = uv_tcp_open(&t->listener, fd);
	if (r)
		goto out;
	fd = -1; /* the handle owns it now; fini closes it */
	r = uv_listen((uv_stream_t *)&t->listener, TCP_BACKLOG, on_connection);
	t->listening = r == 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct tcp_conn *l = req->handle->data;

	/* A dial the core closed first gets no connected(): the core has given
	 * up on it and waits only for closed(). */
	if (l->closing)
		return;
	if (status < 0) {
		conn_down(l, status, 0); /* closed() follows connected() */
	} else {
		conn_up(l);
		if (l->rbuf) /* posted before the connection was up */
			l->reading = uv_read_start(req->handle, on_alloc, on_read) == 0;
	}
	l->t->ev->connected(l->t->core, &l->pub, status);
}

static int tcp_dial(struct msgr__transport *t, const char *hostport, struct msgr__tconn **out)
{
	struct sockaddr_storage ss;
	struct tcp_conn *l;
	int r = msgr__hostport_sockaddr(hostport, &ss);

	if (r)
		return r;
	l = conn_new(t);
	if (!l)
		return -ENOMEM;
	l->pub.outbound = 1;
	r = uv_tcp_connect(&l->conn, &l->h, (struct sockaddr *)&ss, on_connect);
	if (r) {
		l->silent = 1;
		conn_down(l, r, 0);
		return r;
	}
	*out = &l->pub;
	return 0;
}

/* ---- sending ------------------------------------------------------------ */

static void on_write(uv_write_t *req, int status)
{
	struct tcp_wreq *w = (struct tcp_wreq *)req;
	struct tcp_conn *l = req->handle->data;
	void *cookie = w->cookie;

	free(w);
	l->t->ev->sent(l->t->core, &l->pub, cookie, status);
	/* A failed write means a dead socket, even on a connection nobody reads. */
	if (status < 0)
		conn_down(l, status, 0);
}

static int tcp_send(struct msgr__tconn *pub, const struct iovec *iov, int n, void *cookie)
{
	struct tcp_conn *l = (struct tcp_conn *)pub;
	struct tcp_wreq *w;
	int r;

	if (l->closing || !l->up)
		return -ENOTCONN;
	if (n <= 0)
		return -EINVAL;
	w = malloc(sizeof(*w) + (size_t)n * sizeof(w->bufs[0]));
	if (!w)
		return -ENOMEM;
	for (int i = 0; i < n; i++) /* not uv_buf_init: its length is 32 bits */
		w->bufs[i] = (uv_buf_t){ .base = iov[i].iov_base, .len = iov[i].iov_len };
	w->cookie = cookie;
	r = uv_write(&w->req, (uv_stream_t *)&l->h, w->bufs, (unsigned)n, on_write);
	if (r)
		free(w);
	return r;
}

static size_t tcp_send_queued(struct msgr__tconn *pub)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&((struct tcp_conn *)pub)->h);
}

/* ---- the rest ----------------------------------------------------------- */

static int tcp_reg_mem(struct msgr__transport *t, void *base, size_t len)
{
	return 0; /* the kernel copies; there is nothing to register */
}

static int tcp_addr(struct msgr__tconn *pub, int peer, char *buf, size_t len)
{
	struct tcp_conn *l = (struct tcp_conn *)pub;
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	char ip[INET6_ADDRSTRLEN];
	int sl = sizeof(ss), r, n;

	r = peer ? uv_tcp_getpeername(&l->h, (struct sockaddr *)&ss, &sl)
		 : uv_tcp_getsockname(&l->h, (struct sockaddr *)&ss, &sl);
	if (r)
		return r;
	if (ss.ss_family == AF_INET && !(r = uv_ip4_name(a4, ip, sizeof(ip))))
		n = snprintf(buf, len, "%s:%u", ip, ntohs(a4->sin_port));
	else if (ss.ss_family == AF_INET6 && !(r = uv_ip6_name(a6, ip, sizeof(ip))))
		n = snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
	else
		return r ? r : -EAFNOSUPPORT;
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	char sink[4096];
	uv_os_fd_t fd;

	/* 0: all is in the kernel and the FIN is queued. But closing a socket
	 * with unread bytes makes the kernel send a RST and drop what it has
	 * not sent yet, so throw away what the peer sent since we stopped
	 * reading. (Bytes arriving after this still cause a RST; only a
	 * lingering close, reading until the peer's FIN, would avoid that.)
	 * UV_ECANCELED: an abort overtook us and conn_down does nothing. */
	if (status == 0 && uv_fileno((uv_handle_t *)req->handle, &fd) == 0)
		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	conn_down(req->handle->data, status, 0);
}

static void tcp_close(struct msgr__tconn *pub, int err)
{
	struct tcp_conn *l = (struct tcp_conn *)pub;

	if (err || !l->up) {
		conn_down(l, err, err != 0);
		return;
	}
	if (l->closing)
		return;
	l->closing = 1;
	if (l->reading) /* the core wants no more bytes on a connection it closes */
		uv_read_stop((uv_stream_t *)&l->h);
	l->reading = 0;
	if (uv_shutdown(&l->shut, (uv_stream_t *)&l->h, on_shutdown))
		conn_down(l, 0, 0);
}

static void on_listener_close(uv_handle_t *h)
{
	release(h->data);
}

static void tcp_fini(struct msgr__transport *t)
{
	uv_close((uv_handle_t *)&t->listener, on_listener_close);
	/* No callback runs from here, so the list holds still while we walk
	 * it; connections leave it in on_close. */
	for (struct tcp_conn *l = t->conns; l; l = l->next)
		tcp_close(&l->pub, -ECANCELED);
}

const struct msgr__transport_ops msgr__tcp_ops = {
	.name = "tcp",
	.init = tcp_init,
	.listen = tcp_listen,
	.dial = tcp_dial,
	.send = tcp_send,
	.send_queued = tcp_send_queued,
	.post_recv = tcp_post_recv,
	.reg_mem = tcp_reg_mem,
	.addr = tcp_addr,
	.close = tcp_close,
	.fini = tcp_fini,
};
