/*
 * metrics.h - the daemon's counters and gauges, and the forms they are read
 * in: `perf dump` and `perf schema` (flat, the names other tests and tools
 * use), `counter dump` and `counter schema` (Ceph's labelled form, which
 * ceph-exporter reads), and the Prometheus text exposition (`metrics` on
 * the control socket, GET /metrics over HTTP: metrics_http.h).
 *
 * A reader like the control socket: it reads the layers below through the
 * struct msgr__ctl_env the loop fills, and changes nothing. Loop thread
 * only (every reader of a counter runs on the loop, so none is torn).
 */
#ifndef MSGR_DAEMON_METRICS_H
#define MSGR_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_cmds.h"

struct json_object;

/* One counter or gauge as `perf dump` names it. Value type; the strings
 * are static. */
struct msgr__metric {
	const char *name;   /* perf dump name: never renamed (tests and tools use it) */
	const char *help;
	const char *type;   /* "counter" or "gauge" */
	const char *reason; /* a link close reason: in /metrics, a sample of
			       msgrd_link_closes_total{reason=...} instead of a
			       metric of its own; NULL otherwise */
	uint64_t value;
};

#define MSGR__MAX_METRICS 96

/* Fill m (room for max) with every counter and gauge, in a fixed order;
 * returns how many. */
size_t msgr__metrics_collect(const struct msgr__ctl_env *e, struct msgr__metric *m, size_t max);

/* `perf dump`: {"msgrd": {name: value, ...}}. */
struct json_object *msgr__metrics_perf_dump(const struct msgr__ctl_env *e);

/* `perf schema`: {"msgrd": {name: {type, metric_type, value_type,
 * description, nick, priority, units}}}, Ceph's perf schema form. */
struct json_object *msgr__metrics_perf_schema(const struct msgr__ctl_env *e);

/* `counter dump` / `counter schema`: Ceph's labelled form, man/msgrctl.8
 * documents it. {"msgrd": [{"labels": {}, "counters": {...}}],
 * "msgrd_peer": [{"labels": {"peer": P}, "counters": {...}}, ...],
 * "msgrd_link_close": [{"labels": {"reason": R}, "counters": {"links": N}}]};
 * the schema has the same shape with each counter's perf schema entry as
 * its value. */
struct json_object *msgr__metrics_counter_dump(const struct msgr__ctl_env *e, int schema);

/* The Prometheus text exposition format 0.0.4, malloc'd, in *out (its
 * length in *len). 0 or -ENOMEM. */
int msgr__metrics_text(const struct msgr__ctl_env *e, char **out, size_t *len);

#endif
