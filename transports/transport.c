/*
 * transport.c - the registry: the transports built into this msgrd, by name.
 *
 * net.transport names one of them; config.c checks the name here, main.c
 * starts the one it names. The fault interceptor (fault.c) is no entry: it
 * is not a way to reach a peer but a wrapper around one of these.
 */
#include <stdio.h>
#include <string.h>

#include "transports/transport.h"

static const struct msgr__transport_ops *const registry[] = {
	&msgr__tcp_ops,
	&msgr__rdma_ops,
	&msgr__rdma_fake_ops,
};
#define NREG (sizeof(registry) / sizeof(registry[0]))

const struct msgr__transport_ops *msgr__transport_find(const char *name)
{
	for (size_t i = 0; i < NREG; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

void msgr__transport_names(char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = 0;
	for (size_t i = 0; i < NREG && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", registry[i]->name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
