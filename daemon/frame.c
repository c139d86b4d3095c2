#include "frame.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "seal.h"

enum { ST_BANNER, ST_HEADER, ST_PAYLOAD, ST_BORROW, ST_TRAILER, ST_TAG, ST_SKIP, ST_FAILED };

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
	case MSGR__F_AUTH_FAIL: case MSGR__F_CLOSE: case MSGR__F_RESUME: case MSGR__F_ACK:
		return 4096;
	case MSGR__F_OPEN: case MSGR__F_OPEN_OK: case MSGR__F_OPEN_FAIL: case MSGR__F_RESET:
		return 1024;
	case MSGR__F_KEEPALIVE: case MSGR__F_KEEPALIVE_ACK: case MSGR__F_RESUME_END:
		return 64;
	case MSGR__F_MSG:
		return max_msg > UINT32_MAX - 4 ? UINT32_MAX : max_msg + 4;
	}
	return 0;
}

/* The header's fields; crc goes in the last four bytes as it is. */
static void hdr_put(uint8_t out[MSGR__FRAME_HDR_LEN], const struct msgr__frame_hdr *h, uint32_t crc)
{
	out[0] = h->type;
	out[1] = h->flags;
	msgr__put_uint(out + 2, 0, 2);
	msgr__put_uint(out + 4, h->channel, 4);
	msgr__put_uint(out + 8, h->seq, 8);
	msgr__put_uint(out + 16, h->ack, 8);
	msgr__put_uint(out + 24, h->len, 4);
	msgr__put_uint(out + 28, crc, 4);
}

void msgr__frame_hdr_encode(uint8_t out[MSGR__FRAME_HDR_LEN], const struct msgr__frame_hdr *h)
{
	hdr_put(out, h, 0);
	msgr__put_uint(out + 28, msgr__crc32c(0, out, 28), 4);
}

size_t msgr__frame_wire_len(size_t len, int sealed)
{
	if (sealed)
		return MSGR__FRAME_HDR_LEN + MSGR__TAG_LEN + len + (len ? MSGR__TAG_LEN : 0);
	return MSGR__FRAME_HDR_LEN + len + MSGR__FRAME_TRAILER_LEN;
}

int msgr__frame_encode(uint8_t *out, struct msgr__seal *tx, const struct msgr__frame_hdr *h,
		       const struct iovec *parts, int nparts)
{
	uint8_t *p = out + MSGR__FRAME_HDR_LEN;
	uint32_t crc = 0;
	int err;

	if (!tx) {
		msgr__frame_hdr_encode(out, h);
		for (int i = 0; i < nparts; i++) {
			memcpy(p, parts[i].iov_base, parts[i].iov_len);
			crc = msgr__crc32c(crc, p, parts[i].iov_len); /* over our copy */
			p += parts[i].iov_len;
		}
		msgr__put_uint(p, crc, 4);
		return 0;
	}
	hdr_put(out, h, 0); /* no CRC: the tag protects the header instead */
	if ((err = msgr__seal_begin(tx)) || (err = msgr__seal_update(tx, out, out, MSGR__FRAME_HDR_LEN)) ||
	    (err = msgr__seal_end(tx, p)))
		return err;
	if (!h->len)
		return 0;
	p += MSGR__TAG_LEN;
	if ((err = msgr__seal_begin(tx)))
		return err;
	for (int i = 0; i < nparts; i++) {
		if ((err = msgr__seal_update(tx, p, parts[i].iov_base, parts[i].iov_len)))
			return err;
		p += parts[i].iov_len;
	}
	return msgr__seal_end(tx, p);
}

/* The fields and their limits; the CRC field is the caller's. */
static int hdr_fields(const uint8_t in[MSGR__FRAME_HDR_LEN], struct msgr__frame_hdr *h,
		      uint32_t max_msg)
{
	h->type = in[0];
	h->flags = in[1];
	h->channel = (uint32_t)msgr__get_uint(in + 4, 4);
	h->seq = msgr__get_uint(in + 8, 8);
	h->ack = msgr__get_uint(in + 16, 8);
	h->len = (uint32_t)msgr__get_uint(in + 24, 4);
	if ((h->flags & ~(h->type == MSGR__F_MSG ? MSGR__FL_MORE | MSGR__FL_CONT | MSGR__FL_BATCH : 0u)) ||
	    msgr__get_uint(in + 2, 2) || !msgr__frame_limit(h->type, max_msg))
		return -EPROTO;
	if (h->len > msgr__frame_limit(h->type, max_msg))
		return -EMSGSIZE;
	return 0;
}

int msgr__frame_hdr_decode(const uint8_t in[MSGR__FRAME_HDR_LEN], struct msgr__frame_hdr *h,
			   uint32_t max_msg)
{
	if (msgr__get_uint(in + 28, 4) != msgr__crc32c(0, in, 28))
		return -EBADMSG;
	return hdr_fields(in, h, max_msg);
}

/* A sealed header: its tag checked, its CRC field must be 0. */
static int hdr_open(struct msgr__frame_dec *d)
{
	if (msgr__seal_begin(d->rx) || msgr__seal_update(d->rx, d->hbuf, d->hbuf, MSGR__FRAME_HDR_LEN) ||
	    msgr__seal_end(d->rx, d->hbuf + MSGR__FRAME_HDR_LEN))
		return -EACCES;
	if (msgr__get_uint(d->hbuf + 28, 4))
		return -EPROTO;
	return hdr_fields(d->hbuf, &d->hdr, d->max_msg);
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
		[MSGR__DEC_BAD_TAG] = "a sealed record does not authenticate",
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

/* Take up to want - d->have bytes into d->hbuf; whether it is now full. */
static int take(struct msgr__frame_dec *d, const uint8_t **p, size_t *len, size_t want)
{
	size_t n = *len < want - d->have ? *len : want - d->have;

	memcpy(d->hbuf + d->have, *p, n);
	d->have += n;
	*p += n;
	*len -= n;
	if (d->have < want)
		return 0;
	d->have = 0;
	return 1;
}

static int on_banner(struct msgr__frame_dec *d)
{
	struct msgr__banner theirs;
	int v;

	memcpy(d->their_banner, d->hbuf, MSGR__BANNER_LEN);
	if (msgr__banner_decode(d->hbuf, &theirs))
		return fail(d, MSGR__DEC_BAD_BANNER);
	v = msgr__version_pick(&d->mine, &theirs);
	if (v < 0)
		return fail(d, MSGR__DEC_NO_VERSION);
	d->version = (uint16_t)v;
	d->state = ST_HEADER;
	return 0;
}

/* avail: the bytes fed after the header, in this feed. */
static int on_header(struct msgr__frame_dec *d, size_t avail)
{
	int sealed = d->rx && msgr__seal_on(d->rx);

	switch (sealed ? hdr_open(d) : msgr__frame_hdr_decode(d->hbuf, &d->hdr, d->max_msg)) {
	case 0:
		break;
	case -EACCES: return fail(d, MSGR__DEC_BAD_TAG);
	case -EBADMSG: return fail(d, MSGR__DEC_BAD_HEADER_CRC);
	case -EPROTO: return fail(d, MSGR__DEC_BAD_TYPE);
	case -EMSGSIZE:
		/* one message too big for us must not cost every channel on
		 * the link: skip it, its channel goes */
		if (d->hdr.type != MSGR__F_MSG || !d->ops->on_skip || d->hdr.len > MSGR__SKIP_MAX)
			return fail(d, MSGR__DEC_OVERSIZED);
		if (d->ops->on_skip(d->owner, &d->hdr))
			return fail(d, MSGR__DEC_REFUSED);
		/* sealed, it is still opened (into nothing) and its tag
		 * checked: the record counter must stay in step, and a
		 * tampered stream must not pass anywhere */
		d->skip = (uint64_t)d->hdr.len + (sealed ? 0 : MSGR__FRAME_TRAILER_LEN);
		if (sealed && msgr__seal_begin(d->rx))
			return fail(d, MSGR__DEC_BAD_TAG);
		d->state = ST_SKIP;
		return 0;
	}
	d->crc = 0;
	if (d->hdr.len && !sealed && d->ops->borrow &&
	    avail >= (size_t)d->hdr.len + MSGR__FRAME_TRAILER_LEN && d->ops->borrow(d->owner, &d->hdr)) {
		d->state = ST_BORROW;
	} else if (d->hdr.len) {
		d->payload = d->ops->get_buf(d->owner, &d->hdr);
		if (!d->payload)
			return fail(d, MSGR__DEC_NO_BUFFER);
		if (sealed && msgr__seal_begin(d->rx))
			return fail(d, MSGR__DEC_BAD_TAG);
		d->state = ST_PAYLOAD;
	} else {
		d->state = ST_TRAILER;
		if (sealed)
			return deliver(d, 1); /* no payload record */
	}
	return 0;
}

/* The channels of the next two plain frames in p[0..len), for ops->ahead;
 * their lengths are read unchecked, within len. */
static void ahead(struct msgr__frame_dec *d, const uint8_t *p, size_t len)
{
	uint64_t wire = MSGR__FRAME_HDR_LEN + msgr__get_uint(p + 24, 4) + MSGR__FRAME_TRAILER_LEN;
	uint32_t after = 0;

	if (wire <= len && len - wire >= MSGR__FRAME_HDR_LEN)
		after = (uint32_t)msgr__get_uint(p + wire + 4, 4);
	d->ops->ahead(d->owner, (uint32_t)msgr__get_uint(p + 4, 4), after);
}

int msgr__frame_dec_feed(struct msgr__frame_dec *d, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len && d->state != ST_FAILED) {
		int sealed = d->rx && msgr__seal_on(d->rx);
		size_t want, n;
		switch (d->state) {
		case ST_BANNER:
			if (take(d, &p, &len, MSGR__BANNER_LEN) && on_banner(d) < 0)
				return -1;
			break;
		case ST_HEADER:
			want = MSGR__FRAME_HDR_LEN + (sealed ? MSGR__TAG_LEN : 0);
			if (take(d, &p, &len, want) && on_header(d, len) < 0)
				return -1;
			break;
		case ST_BORROW:
			/* on_header saw all of it in this feed */
			d->payload = (uint8_t *)p; /* read only: see frame.h */
			d->crc = msgr__crc32c(0, p, d->hdr.len);
			p += d->hdr.len;
			len -= d->hdr.len;
			n = msgr__get_uint(p, 4) == d->crc;
			p += MSGR__FRAME_TRAILER_LEN;
			len -= MSGR__FRAME_TRAILER_LEN;
			if (d->ops->ahead && len >= MSGR__FRAME_HDR_LEN)
				ahead(d, p, len);
			if (deliver(d, (int)n) < 0)
				return -1;
			break;
		case ST_PAYLOAD:
			want = d->hdr.len - d->have;
			n = len < want ? len : want;
			if (sealed)
				msgr__seal_update(d->rx, d->payload + d->have, p, n);
			else {
				memcpy(d->payload + d->have, p, n);
				d->crc = msgr__crc32c(d->crc, p, n);
			}
			d->have += n;
			p += n;
			len -= n;
			if (d->have == d->hdr.len) {
				d->have = 0;
				d->state = sealed ? ST_TAG : ST_TRAILER;
			}
			break;
		case ST_SKIP:
			n = len < d->skip ? len : (size_t)d->skip;
			if (sealed) {
				uint8_t scratch[4096];
				n = n < sizeof(scratch) ? n : sizeof(scratch);
				msgr__seal_update(d->rx, scratch, p, n);
			}
			d->skip -= n;
			p += n;
			len -= n;
			if (!d->skip) {
				d->state = sealed ? ST_TAG : ST_HEADER;
				d->skipping = sealed;
			}
			break;
		case ST_TRAILER:
			if (take(d, &p, &len, MSGR__FRAME_TRAILER_LEN) &&
			    deliver(d, msgr__get_uint(d->hbuf, 4) == d->crc) < 0)
				return -1;
			break;
		case ST_TAG:
			if (!take(d, &p, &len, MSGR__TAG_LEN))
				break;
			if (msgr__seal_end(d->rx, d->hbuf))
				return fail(d, MSGR__DEC_BAD_TAG);
			if (d->skipping) {
				d->skipping = 0;
				d->state = ST_HEADER;
			} else if (deliver(d, 1) < 0) {
				return -1;
			}
			break;
		}
	}
	return d->state == ST_FAILED ? -1 : 0;
}
