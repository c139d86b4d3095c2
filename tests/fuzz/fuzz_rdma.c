/*
 * fuzz_rdma - libFuzzer target for the RDMA engine's parsers and credit
 * arithmetic (transports/rdma_engine.c): everything a peer controls.
 *
 * Each input is used three ways:
 *   - as a hello's private data (what rdma_cm hands over, up to 196
 *     bytes): a hello accepted must be in range and survive a round trip;
 *   - as one received SEND for the header decoder: a header accepted must
 *     have a known type and the payload rule of its type;
 *   - as a script for a credits instance: two bytes pick the windows, then
 *     each op is a received header (any type and returns, as a hostile
 *     peer would send), a DATA or CREDIT we send (when can_send allows),
 *     or a repost. After every op the counts must stay within their
 *     windows; a refused header must leave them untouched; want_credit
 *     must never be true without a control credit.
 * Any broken invariant is an abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/rdma_engine.h"

static void check_counts(const struct msgr__rdma_credits *c)
{
	if (c->tx_data > c->peer_data || c->tx_ctrl > c->peer_ctrl || c->held_data > c->my_data ||
	    c->held_ctrl > c->my_ctrl || c->owe_data > c->held_data || c->owe_ctrl > c->held_ctrl)
		abort();
	if (c->thresh != c->my_data / 2 + 1)
		abort();
	if (msgr__rdma_cr_want_credit(c) && !msgr__rdma_cr_can_send(c, MSGR__RDMA_CREDIT))
		abort();
}

static void fuzz_hello(const uint8_t *data, size_t size)
{
	struct msgr__rdma_hello h, h2;
	uint8_t buf[MSGR__RSHIM_PDATA_ACCEPT];
	char err[128];
	size_t n = size < sizeof(buf) ? size : sizeof(buf);

	if (msgr__rdma_hello_decode(&h, data, n, err, sizeof(err)) != 0) {
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			abort(); /* a refusal always says why */
		return;
	}
	if (h.version != MSGR__RDMA_HELLO_VERSION || h.ctrl_depth < 1 || h.ctrl_depth > 64 ||
	    h.recv_depth < 1 || h.recv_depth > MSGR__RDMA_DEPTH_MAX ||
	    h.recv_size < MSGR__RDMA_SIZE_MIN || h.recv_size > MSGR__RDMA_SIZE_MAX)
		abort();
	if (msgr__rdma_hello_encode(&h, buf, sizeof(buf)) != MSGR__RDMA_HELLO_LEN)
		abort();
	if (msgr__rdma_hello_decode(&h2, buf, MSGR__RDMA_HELLO_LEN, NULL, 0) != 0 ||
	    h2.version != h.version || h2.ctrl_depth != h.ctrl_depth || h2.recv_depth != h.recv_depth ||
	    h2.recv_size != h.recv_size)
		abort();
}

static void fuzz_hdr(const uint8_t *data, size_t size)
{
	struct msgr__rdma_hdr h, h2;
	uint8_t buf[MSGR__RDMA_HDR_LEN];
	char err[128];

	if (msgr__rdma_hdr_decode(&h, data, size, err, sizeof(err)) != 0)
		return;
	if (size < MSGR__RDMA_HDR_LEN)
		abort();
	if (h.type == MSGR__RDMA_DATA) {
		if (size == MSGR__RDMA_HDR_LEN)
			abort();
	} else if (h.type == MSGR__RDMA_CREDIT) {
		if (size != MSGR__RDMA_HDR_LEN)
			abort();
	} else {
		abort();
	}
	/* the header's bytes are exactly what encode writes */
	msgr__rdma_hdr_encode(&h, buf);
	if (memcmp(buf, data, MSGR__RDMA_HDR_LEN) != 0)
		abort();
	if (msgr__rdma_hdr_decode(&h2, buf, h.type == MSGR__RDMA_DATA ? 9 : 8, NULL, 0) != 0)
		abort();
}

static void fuzz_credits(const uint8_t *data, size_t size)
{
	struct msgr__rdma_credits c, before;
	struct msgr__rdma_hdr h;
	size_t i = 4;
	char err[160];

	if (size < 4)
		return;
	/* small windows mostly, so that the ops reach their edges */
	msgr__rdma_cr_init(&c, 1 + data[0] % 8 + (data[0] >= 248 ? 1016 : 0), 1 + data[1] % 4,
			   1 + data[2] % 8 + (data[2] >= 248 ? 1016 : 0), 1 + data[3] % 64);
	check_counts(&c);
	while (i < size) {
		uint8_t op = data[i++];

		switch (op % 5) {
		case 0: /* a received SEND, header as the peer pleases */
			if (size - i < 5)
				return;
			h.type = data[i];
			h.data_ret = (uint16_t)(data[i + 1] | data[i + 2] << 8);
			h.ctrl_ret = (uint16_t)(data[i + 3] | data[i + 4] << 8);
			/* small returns are the interesting ones: they may be legal */
			if (op & 0x80) {
				h.data_ret %= 4;
				h.ctrl_ret %= 4;
			}
			if (op & 0x40)
				h.type = (op & 0x20) ? MSGR__RDMA_CREDIT : MSGR__RDMA_DATA;
			i += 5;
			before = c;
			if (msgr__rdma_cr_on_recv(&c, &h, err, sizeof(err)) != 0) {
				if (memcmp(&before, &c, sizeof(c)) != 0 || !err[0])
					abort();
			} else if (h.type == MSGR__RDMA_CREDIT && (op & 0x10)) {
				msgr__rdma_cr_reposted(&c, MSGR__RDMA_CREDIT); /* as on_wc does */
			}
			break;
		case 1:
		case 2: { /* we send */
			enum msgr__rdma_type t = op % 5 == 1 ? MSGR__RDMA_DATA : MSGR__RDMA_CREDIT;
			uint32_t od = c.owe_data, oc = c.owe_ctrl, hd = c.held_data, hc = c.held_ctrl;
			uint32_t tx = t == MSGR__RDMA_DATA ? c.tx_data : c.tx_ctrl;

			if (!msgr__rdma_cr_can_send(&c, t))
				break;
			msgr__rdma_cr_take(&c, t, &h);
			if (h.type != t || h.data_ret != od || h.ctrl_ret != oc || c.owe_data ||
			    c.owe_ctrl || c.held_data != hd - od || c.held_ctrl != hc - oc ||
			    (t == MSGR__RDMA_DATA ? c.tx_data : c.tx_ctrl) != tx - 1)
				abort();
			break;
		}
		case 3:
			msgr__rdma_cr_reposted(&c, MSGR__RDMA_DATA);
			break;
		case 4:
			msgr__rdma_cr_reposted(&c, MSGR__RDMA_CREDIT);
			break;
		}
		check_counts(&c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_hello(data, size);
	fuzz_hdr(data, size);
	fuzz_credits(data, size);
	return 0;
}
