/*
 * test_rdma_verbs.c - the verbs shim (transports/rdma_verbs.c) on a machine
 * that may have no RDMA device: open() must then fail with a negative
 * errno and one line saying so, which is what lets msgrd carry on over
 * TCP. With a device present that case cannot be made, and the test says
 * SKIP. The shim's pure decisions (status and event mappings) and the
 * HOST:PORT <-> sockaddr helpers it uses are checked everywhere.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "common/addr.h"
#include "transports/rdma_shim.h"
#include "transports/rdma_verbs.h"
#include "tests/unit/unit.h"

/* 1 if libibverbs lists at least one device. */
static int device_present(void)
{
	int n = 0;
	struct ibv_device **l = ibv_get_device_list(&n);

	if (!l)
		return 0;
	ibv_free_device_list(l);
	return n > 0;
}

START_TEST(test_no_device)
{
	const struct msgr__rshim_conf conf = { .max_send_wr = 64, .max_recv_wr = 64 };
	struct msgr__rshim *s = (struct msgr__rshim *)&s; /* open must clear it */
	char err[256] = "";
	int r;

	if (device_present()) {
		printf("SKIP: an RDMA device is present\n");
		return;
	}
	r = msgr__rshim_verbs_ops.open(&s, &conf, err, sizeof(err));
	printf("open without a device: %d, \"%s\"\n", r, err);
	ck_assert_int_lt(r, 0);
	ck_assert_ptr_null(s);
	ck_assert_msg(!strncmp(err, "no RDMA device (", 16), "err is \"%s\"", err);
	ck_assert_msg(err[strlen(err) - 1] == ')', "err is \"%s\"", err);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_bad_conf)
{
	const struct msgr__rshim_conf conf = { .max_send_wr = 0, .max_recv_wr = 64 };
	struct msgr__rshim *s = NULL;
	char err[256] = "";

	ck_assert_int_eq(msgr__rshim_verbs_ops.open(&s, &conf, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_str_ne(err, "");
}
END_TEST

START_TEST(test_ops_table)
{
	const struct msgr__rshim_ops *o = &msgr__rshim_verbs_ops;

	ck_assert_str_eq(o->name, "verbs");
	ck_assert(o->open && o->close && o->fd && o->listen && o->dial && o->create_qp && o->connect &&
		  o->accept && o->reject && o->disconnect && o->destroy && o->get_event && o->poll &&
		  o->reg_mr && o->dereg_mr && o->post_recv && o->post_send && o->addr && o->stats);
}
END_TEST

START_TEST(test_wc_status)
{
	static const struct {
		enum ibv_wc_status in;
		enum msgr__rshim_wc_status out;
	} t[] = {
		{ IBV_WC_SUCCESS, MSGR__RSHIM_WC_OK },
		{ IBV_WC_WR_FLUSH_ERR, MSGR__RSHIM_WC_FLUSH },
		{ IBV_WC_RNR_RETRY_EXC_ERR, MSGR__RSHIM_WC_RNR },
		{ IBV_WC_RETRY_EXC_ERR, MSGR__RSHIM_WC_RETRY },
		{ IBV_WC_LOC_LEN_ERR, MSGR__RSHIM_WC_LEN },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_int_eq(msgr__rverbs_wc_status(t[i].in), t[i].out);
	/* everything else is OTHER, never OK: an error must not pass for data */
	for (int st = IBV_WC_SUCCESS; st <= IBV_WC_TM_RNDV_INCOMPLETE + 8; st++) {
		int named = 0;
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			named |= (int)t[i].in == st;
		if (!named)
			ck_assert_msg(msgr__rverbs_wc_status((enum ibv_wc_status)st) == MSGR__RSHIM_WC_OTHER,
				      "status %d", st);
	}
}
END_TEST

START_TEST(test_cm_event_type)
{
	static const struct {
		enum rdma_cm_event_type in;
		int out;
	} t[] = {
		{ RDMA_CM_EVENT_ADDR_RESOLVED, MSGR__RVERBS_CM_RESOLVE_ROUTE },
		{ RDMA_CM_EVENT_ADDR_ERROR, MSGR__RSHIM_EV_UNREACHABLE },
		{ RDMA_CM_EVENT_ROUTE_RESOLVED, MSGR__RSHIM_EV_ROUTE_READY },
		{ RDMA_CM_EVENT_ROUTE_ERROR, MSGR__RSHIM_EV_UNREACHABLE },
		{ RDMA_CM_EVENT_CONNECT_REQUEST, MSGR__RSHIM_EV_CONNECT_REQUEST },
		{ RDMA_CM_EVENT_CONNECT_RESPONSE, MSGR__RVERBS_CM_IGNORE },
		{ RDMA_CM_EVENT_CONNECT_ERROR, MSGR__RSHIM_EV_UNREACHABLE },
		{ RDMA_CM_EVENT_UNREACHABLE, MSGR__RSHIM_EV_UNREACHABLE },
		{ RDMA_CM_EVENT_REJECTED, MSGR__RSHIM_EV_REJECTED },
		{ RDMA_CM_EVENT_ESTABLISHED, MSGR__RSHIM_EV_ESTABLISHED },
		{ RDMA_CM_EVENT_DISCONNECTED, MSGR__RSHIM_EV_DISCONNECTED },
		{ RDMA_CM_EVENT_DEVICE_REMOVAL, MSGR__RSHIM_EV_DEVICE_REMOVAL },
		{ RDMA_CM_EVENT_MULTICAST_JOIN, MSGR__RVERBS_CM_IGNORE },
		{ RDMA_CM_EVENT_MULTICAST_ERROR, MSGR__RVERBS_CM_IGNORE },
		{ RDMA_CM_EVENT_ADDR_CHANGE, MSGR__RVERBS_CM_IGNORE },
		{ RDMA_CM_EVENT_TIMEWAIT_EXIT, MSGR__RVERBS_CM_IGNORE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(msgr__rverbs_cm_event_type(t[i].in) == t[i].out, "%s",
			      rdma_event_str(t[i].in));
	/* the shim never makes up QP_ERROR from a CM event */
	for (int e = RDMA_CM_EVENT_ADDR_RESOLVED; e <= RDMA_CM_EVENT_TIMEWAIT_EXIT + 4; e++)
		ck_assert_int_ne(msgr__rverbs_cm_event_type((enum rdma_cm_event_type)e), MSGR__RSHIM_EV_QP_ERROR);
}
END_TEST

START_TEST(test_cm_status)
{
	/* the CM's own errno passes */
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_UNREACHABLE, -ETIMEDOUT), -ETIMEDOUT);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_ADDR_ERROR, -ENETUNREACH), -ENETUNREACH);
	/* librdmacm's bare -1, or no reason at all: which step failed */
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_ADDR_ERROR, -1), -EHOSTUNREACH);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_ROUTE_ERROR, -1), -ENETUNREACH);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_CONNECT_ERROR, -1), -ECONNABORTED);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_UNREACHABLE, 0), -ETIMEDOUT);
	/* an unreachable-class event always says why */
	ck_assert_int_lt(msgr__rverbs_cm_status(RDMA_CM_EVENT_CONNECT_ERROR, 0), 0);
	/* a reject keeps the IB CM's reason; other events their status */
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_REJECTED, 28), 28);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_REJECTED, 8), 8);
	ck_assert_int_eq(msgr__rverbs_cm_status(RDMA_CM_EVENT_ESTABLISHED, 0), 0);
}
END_TEST

START_TEST(test_reject_pdata)
{
	ck_assert(msgr__rverbs_reject_pdata_valid(28));            /* IB: consumer defined */
	ck_assert(msgr__rverbs_reject_pdata_valid(-ECONNREFUSED)); /* iWARP */
	ck_assert(!msgr__rverbs_reject_pdata_valid(8));            /* invalid service id: nobody listens */
	ck_assert(!msgr__rverbs_reject_pdata_valid(10));           /* stale connection */
	ck_assert(!msgr__rverbs_reject_pdata_valid(0));
}
END_TEST

START_TEST(test_async_kind)
{
	static const struct {
		enum ibv_event_type in;
		enum msgr__rverbs_async out;
	} t[] = {
		{ IBV_EVENT_CQ_ERR, MSGR__RVERBS_ASYNC_CQ_ERROR },
		{ IBV_EVENT_QP_FATAL, MSGR__RVERBS_ASYNC_QP_ERROR },
		{ IBV_EVENT_QP_REQ_ERR, MSGR__RVERBS_ASYNC_QP_ERROR },
		{ IBV_EVENT_QP_ACCESS_ERR, MSGR__RVERBS_ASYNC_QP_ERROR },
		{ IBV_EVENT_PATH_MIG_ERR, MSGR__RVERBS_ASYNC_QP_ERROR },
		{ IBV_EVENT_COMM_EST, MSGR__RVERBS_ASYNC_COMM_EST },
		{ IBV_EVENT_DEVICE_FATAL, MSGR__RVERBS_ASYNC_DEVICE },
		{ IBV_EVENT_SQ_DRAINED, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_PATH_MIG, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_PORT_ACTIVE, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_PORT_ERR, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_LID_CHANGE, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_GID_CHANGE, MSGR__RVERBS_ASYNC_IGNORE },
		{ IBV_EVENT_QP_LAST_WQE_REACHED, MSGR__RVERBS_ASYNC_IGNORE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(msgr__rverbs_async_kind(t[i].in) == t[i].out, "%s",
			      ibv_event_type_str(t[i].in));
}
END_TEST

START_TEST(test_hostport_sockaddr)
{
	static const struct {
		const char *in, *canon; /* canon NULL: -EINVAL */
		int af;
		unsigned port;
	} t[] = {
		{ "10.1.2.3:6800", "10.1.2.3:6800", AF_INET, 6800 },
		{ "0.0.0.0:1", "0.0.0.0:1", AF_INET, 1 },
		{ "[::1]:65535", "[::1]:65535", AF_INET6, 65535 },
		{ "[2001:DB8:0:0::7]:7", "[2001:db8::7]:7", AF_INET6, 7 },
		{ "[::ffff:10.0.0.1]:9", "[::ffff:10.0.0.1]:9", AF_INET6, 9 },
		{ "[::]:6800", "[::]:6800", AF_INET6, 6800 },
		{ "localhost:6800", NULL, 0, 0 }, /* no resolver here */
		{ "127.1:6800", NULL, 0, 0 },
		{ "[127.0.0.1]:6800", NULL, 0, 0 },
		{ "::1:6800", NULL, 0, 0 },
		{ "[::1]", NULL, 0, 0 },
		{ "10.1.2.3:0", NULL, 0, 0 },
		{ "10.1.2.3:65536", NULL, 0, 0 },
		{ "10.1.2.3", NULL, 0, 0 },
		{ "", NULL, 0, 0 },
	};
	struct sockaddr_storage ss;
	char out[MSGR__HOSTPORT_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = msgr__hostport_sockaddr(t[i].in, &ss);
		if (!t[i].canon) {
			ck_assert_msg(r == -EINVAL, "%s: %d, want -EINVAL", t[i].in, r);
			continue;
		}
		ck_assert_msg(r == 0, "%s: %d", t[i].in, r);
		ck_assert_int_eq(ss.ss_family, t[i].af);
		ck_assert_uint_eq(ntohs(t[i].af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
							  : ((struct sockaddr_in6 *)&ss)->sin6_port),
				  t[i].port);
		/* and back, in the one spelling sessions compare */
		ck_assert_int_eq(msgr__sockaddr_hostport((struct sockaddr *)&ss, out, sizeof(out)), 0);
		ck_assert_str_eq(out, t[i].canon);
	}
}
END_TEST

START_TEST(test_sockaddr_hostport_limits)
{
	struct sockaddr_storage ss;
	char out[MSGR__HOSTPORT_MAX];

	ck_assert_int_eq(msgr__hostport_sockaddr("192.168.100.200:6800", &ss), 0);
	/* exactly fits (20 bytes and the NUL), one byte short does not */
	ck_assert_int_eq(msgr__sockaddr_hostport((struct sockaddr *)&ss, out, 21), 0);
	ck_assert_str_eq(out, "192.168.100.200:6800");
	ck_assert_int_eq(msgr__sockaddr_hostport((struct sockaddr *)&ss, out, 20), -ENOSPC);
	/* an id's address before resolution is all zeros: no family */
	memset(&ss, 0, sizeof(ss));
	ck_assert_int_eq(msgr__sockaddr_hostport((struct sockaddr *)&ss, out, sizeof(out)), -EAFNOSUPPORT);
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(msgr__sockaddr_hostport((struct sockaddr *)&ss, out, sizeof(out)), -EAFNOSUPPORT);
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("rdma_verbs", &tc);

	tcase_add_test(tc, test_no_device);
	tcase_add_test(tc, test_bad_conf);
	tcase_add_test(tc, test_ops_table);
	tcase_add_test(tc, test_wc_status);
	tcase_add_test(tc, test_cm_event_type);
	tcase_add_test(tc, test_cm_status);
	tcase_add_test(tc, test_reject_pdata);
	tcase_add_test(tc, test_async_kind);
	tcase_add_test(tc, test_hostport_sockaddr);
	tcase_add_test(tc, test_sockaddr_hostport_limits);
	return unit_run(s);
}
