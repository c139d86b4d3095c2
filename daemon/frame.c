#include "frame.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"

enum { ST_BANNER, ST_HEADER, ST_PAYLOAD, ST_TRAILER, ST_SKIP, ST_FAILED };

size_t msgr__put_uint(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return (size_t)bytes;
}

uint64_t msgr__get_uint(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t msgr__put_str(uint8_t *p, const char *s, size_t max)
{
	size_t len = strnlen(s, max);

	msgr__put_uint(p, len, 2);
	memcpy(p + 2, s, len);
	return len + 2;
}

uint64_t msgr__rd_uint(struct msgr__rd *r, int bytes)
{
	uint64_t v;

	if (r->bad || r->n < (size_t)bytes) {
		r->bad = 1;
		return 0;
	}
	v = msgr__get_uint(r->p, bytes);
	r->p += bytes;
	r->n -= (size_t)bytes;
	return v;
}

void msgr__rd_bytes(struct msgr__rd *r, void *out, size_t n)
{
	if (r->bad || r->n < n) {
		r->bad = 1;
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->n -= n;
}

void msgr__rd_str(struct msgr__rd *r, char *out, size_t cap)
{
	size_t len = (size_t)msgr__rd_uint(r, 2);

	if (r->bad || len >= cap || len > r->n || memchr(r->p, 0, len)) {
		r->bad = 1;
		out[0] = 0;
		return;
	}
	memcpy(out, r->p, len);
	out[len] = 0;
	r->p += len;
	r->n -= len;
}

void msgr__banner_encode(uint8_t out[MSGR__BANNER_LEN], const struct msgr__banner *b)
{
	memcpy(out, MSGR__WIRE_MAGIC, 8);
	msgr__put_uint(out + 8, b->vmin, 2);
	msgr__put_uint(out + 10, b->vmax, 2);
	msgr__put_uint(out + 12, b->features, 4);
}

int msgr__banner_decode(const uint8_t in[MSGR__BANNER_LEN], struct msgr__banner *b)
{
	if (memcmp(in, MSGR__WIRE_MAGIC, 8))
		return -EPROTO;
	b->vmin = (uint16_t)msgr__get_uint(in + 8, 2);
	b->vmax = (uint16_t)msgr__get_uint(in + 10, 2);
	b->features = (uint32_t)msgr__get_uint(in + 12, 4);
	return 0;
}

int msgr__version_pick(const struct msgr__banner *mine, const struct msgr__banner *theirs)
{
	uint16_t hi = mine->vmax < theirs->vmax ? mine->vmax : theirs->vmax;
	uint16_t lo = mine->vmin > theirs->vmin ? mine->vmin : theirs->vmin;

	if (theirs->vmin > theirs->vmax || hi < lo)
		return -EPROTONOSUPPORT;
	return hi;
}

uint32_t msgr__frame_limit(uint8_t type, uint32_t max_msg)
{
	switch (type) {
	case MSGR__F_HELLO: case MSGR__F_AUTH: case MSGR__F_AUTH_DONE:
	case MSGR__F_AUTH_FAIL: case MSGR__F_CLOSE:
		return 4096;
	case MSGR__F_OPEN: case MSGR__F_OPEN_OK: case MSGR__F_OPEN_FAIL: case MSGR__F_RESET:
		return 1024;
	case MSGR__F_ACK: case MSGR__F_KEEPALIVE: case MSGR__F_KEEPALIVE_ACK:
		return 64;
	case MSGR__F_MSG:
		return max_msg > UINT32_MAX - 4 ? UINT32_MAX : max_msg + 4;
	}
	return 0;
}

void msgr__frame_hdr_encode(uint8_t out[MSGR__FRAME_HDR_LEN], const struct msgr__frame_hdr *h)
{
	out[0] = h->type;
	out[1] = h->flags;
	msgr__put_uint(out + 2, 0, 2);
	msgr__put_uint(out + 4, h->channel, 4);
	msgr__put_uint(out + 8, h->seq, 8);
	msgr__put_uint(out + 16, h->ack, 8);
	msgr__put_uint(out + 24, h->len, 4);
	msgr__put_uint(out + 28, msgr__crc32c(0, out, 28), 4);
}

int msgr__frame_hdr_decode(const uint8_t in[MSGR__FRAME_HDR_LEN], struct msgr__frame_hdr *h,
			   uint32_t max_msg)
{
	if (msgr__get_uint(in + 28, 4) != msgr__crc32c(0, in, 28))
		return -EBADMSG;
	h->type = in[0];
	h->flags = in[1];
	h->channel = (uint32_t)msgr__get_uint(in + 4, 4);
	h->seq = msgr__get_uint(in + 8, 8);
	h->ack = msgr__get_uint(in + 16, 8);
	h->len = (uint32_t)msgr__get_uint(in + 24, 4);
	if (h->flags || msgr__get_uint(in + 2, 2) || !msgr__frame_limit(h->type, max_msg))
		return -EPROTO;
	if (h->len > msgr__frame_limit(h->type, max_msg))
		return -EMSGSIZE;
	return 0;
}

const char *msgr__dec_err_name(enum msgr__dec_err e)
{
	static const char *const names[MSGR__DEC_NERR] = {
		[MSGR__DEC_OK] = "ok",
		[MSGR__DEC_BAD_BANNER] = "bad banner",
		[MSGR__DEC_NO_VERSION] = "no common protocol version",
		[MSGR__DEC_BAD_HEADER_CRC] = "bad header CRC",
		[MSGR__DEC_BAD_TYPE] = "unknown frame type or flags",
		[MSGR__DEC_OVERSIZED] = "frame over its size limit",
		[MSGR__DEC_NO_BUFFER] = "no buffer for a payload",
		[MSGR__DEC_REFUSED] = "refused by the session",
	};
	return (unsigned)e < MSGR__DEC_NERR ? names[e] : "?";
}

void msgr__frame_dec_init(struct msgr__frame_dec *d, const struct msgr__banner *mine,
			  uint32_t max_msg, const struct msgr__frame_ops *ops, void *owner)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->owner = owner;
	d->mine = *mine;
	d->max_msg = max_msg;
	d->state = ST_BANNER;
}

static int fail(struct msgr__frame_dec *d, enum msgr__dec_err e)
{
	d->state = ST_FAILED;
	d->err = e;
	return -1;
}

/* A whole frame is in: hand it over and get ready for the next. */
static int deliver(struct msgr__frame_dec *d, int payload_ok)
{
	int stop = d->ops->on_frame(d->owner, &d->hdr, d->payload, payload_ok);

	d->state = ST_HEADER;
	d->have = 0;
	d->payload = NULL;
	return stop ? fail(d, MSGR__DEC_REFUSED) : 0;
}

int msgr__frame_dec_feed(struct msgr__frame_dec *d, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len && d->state != ST_FAILED) {
		size_t want, n;
		switch (d->state) {
		case ST_BANNER:
		case ST_HEADER:
			want = (d->state == ST_BANNER ? MSGR__BANNER_LEN : MSGR__FRAME_HDR_LEN) - d->have;
			n = len < want ? len : want;
			memcpy(d->hbuf + d->have, p, n);
			d->have += n;
			p += n;
			len -= n;
			if (n < want)
				break;
			d->have = 0;
			if (d->state == ST_BANNER) {
				struct msgr__banner theirs;
				int v;
				if (msgr__banner_decode(d->hbuf, &theirs))
					return fail(d, MSGR__DEC_BAD_BANNER);
				v = msgr__version_pick(&d->mine, &theirs);
				if (v < 0)
					return fail(d, MSGR__DEC_NO_VERSION);
				d->version = (uint16_t)v;
				d->state = ST_HEADER;
				break;
			}
			switch (msgr__frame_hdr_decode(d->hbuf, &d->hdr, d->max_msg)) {
			case -EBADMSG: return fail(d, MSGR__DEC_BAD_HEADER_CRC);
			case -EPROTO: return fail(d, MSGR__DEC_BAD_TYPE);
			case -EMSGSIZE:
				/* one message too big for us must not cost every
				 * channel on the link: skip it, its channel goes */
				if (d->hdr.type != MSGR__F_MSG || !d->ops->on_skip ||
				    d->hdr.len > MSGR__SKIP_MAX)
					return fail(d, MSGR__DEC_OVERSIZED);
				if (d->ops->on_skip(d->owner, &d->hdr))
					return fail(d, MSGR__DEC_REFUSED);
				d->skip = (uint64_t)d->hdr.len + MSGR__FRAME_TRAILER_LEN;
				d->state = ST_SKIP;
				continue;
			}
			d->crc = 0;
			if (d->hdr.len) {
				d->payload = d->ops->get_buf(d->owner, &d->hdr);
				if (!d->payload)
					return fail(d, MSGR__DEC_NO_BUFFER);
			}
			d->state = d->hdr.len ? ST_PAYLOAD : ST_TRAILER;
			break;
		case ST_PAYLOAD:
			want = d->hdr.len - d->have;
			n = len < want ? len : want;
			memcpy(d->payload + d->have, p, n);
			d->crc = msgr__crc32c(d->crc, p, n);
			d->have += n;
			p += n;
			len -= n;
			if (d->have == d->hdr.len) {
				d->have = 0;
				d->state = ST_TRAILER;
			}
			break;
		case ST_SKIP:
			n = len < d->skip ? len : (size_t)d->skip;
			d->skip -= n;
			p += n;
			len -= n;
			if (!d->skip)
				d->state = ST_HEADER;
			break;
		case ST_TRAILER:
			want = MSGR__FRAME_TRAILER_LEN - d->have;
			n = len < want ? len : want;
			memcpy(d->hbuf + d->have, p, n);
			d->have += n;
			p += n;
			len -= n;
			if (d->have == MSGR__FRAME_TRAILER_LEN &&
			    deliver(d, msgr__get_uint(d->hbuf, 4) == d->crc) < 0)
				return -1;
			break;
		}
	}
	return d->state == ST_FAILED ? -1 : 0;
}
