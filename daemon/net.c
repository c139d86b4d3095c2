#include "net.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

/* Owned by the loop; see net.h. */
struct msgr__net {
	uv_loop_t *loop;
	struct msgr__sessions *ss; /* owned */
	struct msgr__links *ls;    /* owned */
};

int msgr__net_start(struct msgr__net **out, uv_loop_t *loop, const struct msgr__net_conf *conf,
		    struct msgr__net_stats *stats, const struct msgr__transport_ops *ops, int inject,
		    void (*schedule)(void *), void *sctx, char *err, size_t errlen)
{
	struct msgr__net *n = calloc(1, sizeof(*n));
	int rc;

	if (!n || !(n->ss = msgr__sessions_new(loop, conf, stats, schedule, sctx))) {
		free(n);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n->loop = loop;
	rc = msgr__links_start(&n->ls, loop, conf, stats, ops, inject, &msgr__session_link_events,
			       n->ss, err, errlen);
	if (rc) {
		msgr__sessions_free(n->ss);
		free(n);
		return rc;
	}
	msgr__sessions_set_links(n->ss, n->ls);
	*out = n;
	return 0;
}

struct msgr__sessions *msgr__net_sessions(struct msgr__net *n)
{
	return n->ss;
}

int msgr__net_reload_keyring(struct msgr__net *n, char *err, size_t errlen)
{
	return n ? msgr__links_reload_keyring(n->ls, err, errlen) : 0;
}

void msgr__net_stop(struct msgr__net *n)
{
	if (!n)
		return;
	msgr__sessions_stop(n->ss);
	msgr__links_stop(n->ls, n->loop);
	msgr__sessions_free(n->ss);
	free(n);
}

void msgr__net_flush(struct msgr__net *n)
{
	if (n)
		msgr__sessions_flush(n->ss);
}

struct json_object *msgr__net_sessions_json(struct msgr__net *n)
{
	return n ? msgr__sessions_json(n->ss) : json_object_new_array();
}

struct msgr__tconn *msgr__net_active_link(struct msgr__net *n, const char *peer)
{
	struct msgr__link *l = n ? msgr__sessions_active(n->ss, peer) : NULL;

	return l ? msgr__link_tconn(l) : NULL;
}

const char *msgr__net_transport(const struct msgr__net *n)
{
	return n ? msgr__links_transport(n->ls) : "none";
}
