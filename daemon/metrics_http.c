/*
 * metrics_http.c - GET /metrics over HTTP (metrics_http.h).
 *
 * Why libmicrohttpd's external mode on our loop, not its own thread: the
 * counters live in structures only the loop thread touches, and the
 * sessions' figures come from walking live sessions. A thread of MHD's
 * would need a snapshot handed over under a lock on every change, or a
 * cross-thread request per scrape; driving MHD from the loop (MHD_USE_EPOLL
 * without an internal thread: one epoll fd for uv_poll, MHD_get_timeout for
 * a uv_timer) reads them where they are, as the control socket does. MHD
 * never blocks in MHD_run() in this mode, and a scrape is one small
 * response written as the socket takes it.
 *
 * We bind the socket ourselves (MHD_OPTION_LISTEN_SOCKET) so a bad address
 * or a port in use is reported as a configuration error that names the
 * key; MHD parses HTTP.
 */
#include "metrics_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "metrics.h"

/* Bounds on what a scraper may hold: Prometheus keeps one connection per
 * target; a few more let curl and a second server in. */
#define HTTP_MAX_CONNS 16
#define HTTP_MAX_PER_IP 8
#define HTTP_TIMEOUT_S 10       /* an idle or slow connection is closed */
#define HTTP_MEMORY_LIMIT 16384 /* per connection: request line and headers
				   beyond this get 431/414 from MHD */

struct msgr__metrics_http {
	struct MHD_Daemon *mhd;    /* owned; NULL once stopped */
	uv_poll_t poll;            /* on MHD's epoll fd (it owns the fd) */
	uv_timer_t timer;          /* MHD's next timeout */
	struct msgr__ctl_env env;  /* what a scrape reads (copied; lent pointers) */
	int closed;                /* handles closed so far (2: free) */
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *msg, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(msg), (void *)msg,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Called by MHD once the headers are in (first call per request). We
 * answer at once: /metrics takes no body, so none is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct msgr__metrics_http *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;
	size_t len;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served\n", "GET, HEAD");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: msgrd serves /metrics only\n", NULL);
	if (msgr__metrics_text(&m->env, &text, &len))
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	/* the text exposition format's content type */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* MHD's own messages (a client that broke the protocol, a failed accept):
 * debug only, since any scraper or port scanner can cause them. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	if (msgr__log_level < MSGR__LOG_DEBUG)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	msgr__debug("metrics http: %s", msg);
}

static void on_timer(uv_timer_t *t);

/* Let MHD do what its sockets allow, then wait for its next deadline. */
static void pump(struct msgr__metrics_http *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(m->mhd);
	/* 0 when MHD has work in hand that no fd will announce (edge-triggered
	 * sockets it has not drained): the timer runs it on the next turn */
	if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
		uv_timer_start(&m->timer, on_timer, ms, 0);
	else
		uv_timer_stop(&m->timer);
}

static void on_timer(uv_timer_t *t)
{
	pump(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	pump(p->data);
}

/* Bind and listen on hostport; the fd, or a negative errno with err set. */
static int bind_hostport(const char *hostport, char *err, size_t errlen)
{
	char host[MSGR__HOSTPORT_MAX];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int fd = -1, rc, one = 1;

	if (msgr__hostport_check(hostport)) {
		snprintf(err, errlen, "global.metrics_listen = %s: not HOST:PORT", hostport);
		return -EINVAL;
	}
	snprintf(host, sizeof(host), "%s", hostport[0] == '[' ? hostport + 1 : hostport);
	*strrchr(host, ':') = 0;
	port = strrchr(hostport, ':') + 1;
	if (hostport[0] == '[')
		host[strlen(host) - 1] = 0; /* the ']' */
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "global.metrics_listen = %s: %s", hostport, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "global.metrics_listen = %s: socket: %s", hostport, strerror(-rc));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, HTTP_MAX_CONNS)) {
		rc = -errno;
		snprintf(err, errlen, "global.metrics_listen = %s: cannot listen there: %s", hostport,
			 strerror(-rc));
		close(fd);
		fd = -1;
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(res);
	return rc;
}

int msgr__metrics_http_listen(uv_loop_t *loop, const char *hostport, const struct msgr__ctl_env *env,
			      struct msgr__metrics_http **out, char *err, size_t errlen)
{
	struct msgr__metrics_http *m;
	const union MHD_DaemonInfo *info;
	int fd, rc;

	fd = bind_hostport(hostport, err, errlen);
	if (fd < 0)
		return fd;
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		snprintf(err, errlen, "global.metrics_listen: out of memory");
		return -ENOMEM;
	}
	m->env = *env;
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				  MHD_OPTION_END);
	if (!m->mhd || !(info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD))) {
		snprintf(err, errlen, "global.metrics_listen = %s: libmicrohttpd would not start", hostport);
		rc = -EIO;
		if (m->mhd)
			MHD_stop_daemon(m->mhd); /* closes fd */
		else
			close(fd);
		free(m);
		return rc;
	}
	uv_poll_init(loop, &m->poll, info->epoll_fd);
	m->poll.data = m;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	uv_poll_start(&m->poll, UV_READABLE, on_poll);
	*out = m;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct msgr__metrics_http *m = h->data;

	if (++m->closed == 2)
		free(m);
}

void msgr__metrics_http_close(struct msgr__metrics_http *m)
{
	if (!m)
		return;
	/* stop watching the epoll fd before MHD closes it */
	uv_close((uv_handle_t *)&m->poll, on_closed);
	uv_close((uv_handle_t *)&m->timer, on_closed);
	MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
}
