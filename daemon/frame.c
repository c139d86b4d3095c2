#include "frame.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"

enum { ST_BANNER, ST_HEADER, ST_PAYLOAD, ST_TRAILER, ST_SKIP, ST_FAILED };

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

void msgr__banner_encode(uint8_t out[MSGR__BANNER_LEN], const struct msgr__banner *b)
{
	memcpy(out, MSGR__WIRE_MAGIC, 8);
	put16(out + 8, b->vmin);
	put16(out + 10, b->vmax);
	put32(out + 12, b->features);
}

int msgr__banner_decode(const uint8_t in[MSGR__BANNER_LEN], struct msgr__banner *b)
{
	if (memcmp(in, MSGR__WIRE_MAGIC, 8))
		return -EPROTO;
	b->vmin = get16(in + 8);
	b->vmax = get16(in + 10);
	b->features = get32(in + 12);
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
	put16(out + 2, 0);
	put32(out + 4, h->channel);
	put64(out + 8, h->seq);
	put64(out + 16, h->ack);
	put32(out + 24, h->len);
	put32(out + 28, msgr__crc32c(0, out, 28));
}

int msgr__frame_hdr_decode(const uint8_t in[MSGR__FRAME_HDR_LEN], struct msgr__frame_hdr *h,
			   uint32_t max_msg)
{
	if (get32(in + 28) != msgr__crc32c(0, in, 28))
		return -EBADMSG;
	h->type = in[0];
	h->flags = in[1];
	h->channel = get32(in + 4);
	h->seq = get64(in + 8);
	h->ack = get64(in + 16);
	h->len = get32(in + 24);
	if (h->flags || get16(in + 2) || !msgr__frame_limit(h->type, max_msg))
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
			    deliver(d, get32(d->hbuf) == d->crc) < 0)
				return -1;
			break;
		}
	}
	return d->state == ST_FAILED ? -1 : 0;
}
