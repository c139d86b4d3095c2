/*
 * strerror.c - libmsgr's error texts: msgr_strerror() names an errno, and
 * msgr_last_error() says what went wrong in the calling thread's last
 * failed call, with the names, paths and keys involved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *msgr_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "Success";
	if (err > 0)
		err = -err;
	/* strerrordesc_np is thread-safe and never formats into a buffer */
	s = strerrordesc_np(-err);
	return s ? s : "Unknown error";
}

/* Per thread, as errno is: a thread's failure never overwrites what
 * another thread is about to read. text points at buf, or at a constant
 * for the failures a busy sender may hit in a loop (no formatting then). */
static _Thread_local char last_buf[512];
static _Thread_local const char *last_text;

const char *msgr_last_error(void)
{
	return last_text ? last_text : "";
}

int msgr__fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_buf, sizeof(last_buf), fmt, ap);
	va_end(ap);
	last_text = last_buf;
	return err;
}

int msgr__fail_const(int err, const char *text)
{
	last_text = text;
	return err;
}

/* The errors any call on a client or connection may return, in words. */
int msgr__fail_call(int err, const char *call, const msgr_conn *k)
{
	const char *peer = k ? k->peer : "?";

	switch (-err) {
	case EAGAIN:
		return msgr__fail_const(err, "no room to send now: the pool, or the connection's "
					"window (global.channel_window), is full; retry after msgr_next() "
					"has run, or attach with send_blocking");
	case ENOTCONN:
		return msgr__fail_const(err, "msgrd went away (stopped or restarted): every handle "
					"is dead; msgr_detach() and attach again");
	case ECONNRESET:
		return msgr__fail(err, "%s: the connection to %s was reset (its MSGR_EV_RESET says "
				  "why); msgr_connect() again for a new one", call, peer);
	case EBADF:
		return msgr__fail(err, "%s: the connection to %s was closed with msgr_conn_close()",
				  call, peer);
	case EMSGSIZE:
		return msgr__fail(err, "%s: the message is larger than msgrd takes from this client "
				  "(%llu bytes: the daemon's global.max_message, or the pool)", call,
				  k ? (unsigned long long)k->c->max_message : 0ull);
	case EINVAL:
		return msgr__fail(err, "%s: invalid argument (a NULL handle or pointer, or a bad "
				  "length, mode or mask)", call);
	default:
		return msgr__fail(err, "%s: %s", call, msgr_strerror(err));
	}
}
