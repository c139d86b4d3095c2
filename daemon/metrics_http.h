/*
 * metrics_http.h - GET /metrics over HTTP for Prometheus
 * (global.metrics_listen), through Debian's libmicrohttpd.
 *
 * The HTTP server runs on the daemon's loop: libmicrohttpd in its external
 * mode, driven by a uv_poll on its epoll fd and a uv_timer for its
 * timeouts, so a scrape reads the counters on the loop thread, as the
 * control socket does, with no lock and no copy handed between threads.
 * Only GET (and HEAD) of /metrics is served; any other request gets a
 * short error status. A request is bounded in size, time and count.
 */
#ifndef MSGR_DAEMON_METRICS_HTTP_H
#define MSGR_DAEMON_METRICS_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "ctl_cmds.h"

/* The HTTP listener and its connections. Owned by the loop from
 * msgr__metrics_http_listen() to msgr__metrics_http_close(); freed once its
 * handles have closed. Private to metrics_http.c. */
struct msgr__metrics_http;

/* Listen on HOST:PORT (a host name, an IPv4 address or [IPv6]). env is
 * copied (what it points at is lent for the listener's life). 0 and *out,
 * or a negative errno with the reason in err ("global.metrics_listen =
 * 127.0.0.1:80: bind: Address already in use"). */
int msgr__metrics_http_listen(uv_loop_t *loop, const char *hostport, const struct msgr__ctl_env *env,
			      struct msgr__metrics_http **out, char *err, size_t errlen);

/* Stop serving: close the listening socket and every connection at once.
 * NULL is allowed. */
void msgr__metrics_http_close(struct msgr__metrics_http *m);

#endif
