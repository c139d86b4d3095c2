#include "handshake.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "link.h"

void msgr__hs_hello(struct msgr__handshake *hs, const struct msgr__hello *m)
{
	uint8_t *p = hs->mine;

	p += msgr__put_uint(p, m->nonce, 8);
	p += msgr__put_uint(p, m->auth_mode, 1);
	p += msgr__put_uint(p, m->max_msg, 4);
	p += msgr__put_uint(p, m->window, 8);
	p += msgr__put_uint(p, m->link_id, 8);
	p += msgr__put_uint(p, m->lost, 8);
	memcpy(p, m->chal, MSGR__CHALLENGE_LEN);
	p += MSGR__CHALLENGE_LEN;
	p += msgr__put_str(p, m->listen, MSGR__HOSTPORT_MAX);
	hs->mine_len = (size_t)(p - hs->mine);
}

int msgr__hs_parse(struct msgr__handshake *hs, const uint8_t *p, size_t n, int outbound,
		   struct msgr__hello *t, const char **bad)
{
	struct msgr__rd r = { p, n, 0 };
	char canon[MSGR__HOSTPORT_MAX];

	*bad = "length";
	if (n > sizeof(hs->theirs))
		return -EPROTO;
	memcpy(hs->theirs, p, n);
	hs->theirs_len = n;
	t->nonce = msgr__rd_uint(&r, 8);
	t->auth_mode = (unsigned)msgr__rd_uint(&r, 1);
	t->max_msg = (uint32_t)msgr__rd_uint(&r, 4);
	t->window = msgr__rd_uint(&r, 8);
	t->link_id = msgr__rd_uint(&r, 8);
	t->lost = msgr__rd_uint(&r, 8);
	msgr__rd_bytes(&r, t->chal, MSGR__CHALLENGE_LEN);
	msgr__rd_str(&r, t->listen, sizeof(t->listen));
	/* Every field in its range: nothing a peer says may lift our bounds
	 * (the window sizes what we buffer for its channels). */
	if (r.bad || r.n)
		return -EPROTO;
	*bad = !t->nonce ? "nonce (0)"
	       : t->auth_mode > MSGR__AUTH_SECURE ? "auth mode"
	       : t->max_msg < MSGR__MAXMSG_MIN || t->max_msg > MSGR__MAXMSG_MAX ? "max message"
	       : t->window < MSGR__WINDOW_MIN || t->window > MSGR__WINDOW_MAX ? "channel window"
	       : msgr__hostport_canon(t->listen, canon) || strcmp(canon, t->listen)
		       ? "listen address (not a numeric HOST:PORT in its one spelling)"
	       /* the dialler names the link; an acceptor names nothing */
	       : (outbound ? t->link_id || t->lost : !t->link_id) ? "link id"
	       : NULL;
	return *bad ? -EPROTO : 0;
}

void msgr__hs_transcript(struct msgr__handshake *hs, int outbound,
			 const uint8_t their_banner[MSGR__BANNER_LEN])
{
	struct msgr__banner b = { MSGR__WIRE_VERSION, MSGR__WIRE_VERSION, 0 };
	uint8_t mine[MSGR__BANNER_LEN];

	msgr__banner_encode(mine, &b);
	if (outbound)
		msgr__auth_transcript(mine, their_banner, hs->mine, hs->mine_len, hs->theirs,
				      hs->theirs_len, hs->h);
	else
		msgr__auth_transcript(their_banner, mine, hs->theirs, hs->theirs_len, hs->mine,
				      hs->mine_len, hs->h);
}

int msgr__hs_key(const struct msgr__handshake *hs, enum msgr__role from, uint8_t out[MSGR__KEY_LEN])
{
	return msgr__auth_derive(hs->dial_key, hs->h, from, out);
}

void msgr__hs_wipe(struct msgr__handshake *hs)
{
	OPENSSL_cleanse(hs, sizeof(*hs));
}

const char *msgr__auth_mode_name(int mode)
{
	static const char *const names[] = { "none", "hmac", "secure" };

	return mode >= 0 && mode <= MSGR__AUTH_SECURE ? names[mode] : "unknown";
}
