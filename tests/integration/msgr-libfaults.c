/*
 * msgr-libfaults - libmsgr's own error paths, each a regression test for a
 * fault found in review (issue 9).
 *
 *   msgr-libfaults attach-fds      a fake daemon refuses attaches in every way
 *                                  the handshake checks, sending fds with each
 *                                  refusal: msgr_attach fails and leaves no fd
 *                                  behind (no daemon needed)
 *   msgr-libfaults sendv-overflow  iovec lengths whose sum overflows size_t get
 *                                  -EMSGSIZE, never a short copy
 *   msgr-libfaults accept-nomem    the handle for an ACCEPTED connection cannot
 *                                  be allocated: the library tells the daemon,
 *                                  so the connecting side gets RESET and the
 *                                  acceptor's next connection works
 *
 * It is its own program, apart from msgr-itest, because it replaces calloc
 * (accept-nomem) and that should not touch other scenarios.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "msgr.h"
#include "shm/attach_msg.h"

#define ITEST_PROG "msgr-libfaults"
#include "itest.h"

/* calloc that fails while fail_calloc is set. libmsgr's calls reach this
 * one, the executable's, before libc's. Built on malloc so free() and the
 * sanitizers' allocators stay consistent; memset through a volatile
 * pointer, or the compiler makes malloc and memset a call to calloc. */
static _Atomic int fail_calloc;
static void *(*volatile zero_fill)(void *, int, size_t) = memset;

void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (fail_calloc || __builtin_mul_overflow(n, size, &total))
		return NULL;
	p = malloc(total);
	if (p)
		zero_fill(p, 0, total);
	return p;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	CHECK(d, "/proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the DIR's own */
}

/* How the fake daemon answers. */
enum refusal { R_STATUS, R_MAGIC, R_VERSION, R_SHORT, R_NOFDS_TWO, R_FOUR_FDS, R_COUNT };
static const char *const refusal_name[R_COUNT] = { "status -EPERM", "bad magic", "bad version",
						    "short reply", "two fds", "four fds" };

struct fake {
	int lfd;
	enum refusal how;
};

/* Accept one attach, read its request, refuse it the way f->how says, with
 * fds attached, and close. */
static void *fake_daemon(void *arg)
{
	struct fake *f = arg;
	struct msgr__attach_req req;
	struct msgr__attach_rep rep;
	int fds[4], nfds = f->how == R_NOFDS_TWO ? 2 : f->how == R_FOUR_FDS ? 4 : 3;
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { &rep, sizeof(rep) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *cm;
	int s = accept(f->lfd, NULL, NULL);

	CHECK(s >= 0, "accept: %s", strerror(errno));
	CHECK(recv(s, &req, sizeof(req), 0) == sizeof(req), "fake daemon: no request");
	memset(&rep, 0, sizeof(rep));
	memset(cbuf, 0, sizeof(cbuf));
	rep.magic = f->how == R_MAGIC ? 0xdeadbeef : MSGR__ATTACH_MAGIC;
	rep.version = f->how == R_VERSION ? MSGR__ATTACH_VERSION + 1 : MSGR__ATTACH_VERSION;
	rep.status = f->how == R_STATUS ? -EPERM : 0;
	if (f->how == R_SHORT)
		iov.iov_len = sizeof(rep) / 2;
	for (int i = 0; i < nfds; i++)
		CHECK((fds[i] = eventfd(0, EFD_CLOEXEC)) >= 0, "eventfd");
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	CHECK(sendmsg(s, &mh, 0) >= 0, "sendmsg: %s", strerror(errno));
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	/* keep the socket open until the client is done with it, so its
	 * error comes from the reply, not from a hang-up */
	char b;
	(void)!recv(s, &b, 1, 0);
	close(s);
	return NULL;
}

static int sc_attach_fds(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/msgr-libfaults.XXXXXX";

	CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	for (int how = 0; how < R_COUNT; how++) {
		struct msgr_attach_opts o = { .socket_path = sa.sun_path };
		struct fake f = { .how = (enum refusal)how };
		msgr_client *c = NULL;
		pthread_t t;
		int before, after, err;

		unlink(sa.sun_path);
		f.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		CHECK(f.lfd >= 0 && !bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)) && !listen(f.lfd, 1),
		      "fake daemon socket: %s", strerror(errno));
		pthread_create(&t, NULL, fake_daemon, &f);
		before = count_fds();
		err = msgr_attach("client.leak", &o, &c);
		/* the fake daemon closes its own copies only after sendmsg, and
		 * holds its end until we hang up, which msgr_attach did */
		pthread_join(t, NULL);
		after = count_fds();
		CHECK(err < 0, "%s: attach succeeded", refusal_name[how]);
		CHECK(after == before, "%s: attach failed with %s but left %d fds open", refusal_name[how],
		      msgr_strerror(err), after - before);
		printf("%s: %s, no fd left\n", refusal_name[how], msgr_strerror(err));
		close(f.lfd);
	}
	unlink(sa.sun_path);
	rmdir(dir);
	printf("ok\n");
	return 0;
}

static msgr_client *attach(const char *entity)
{
	struct msgr_attach_opts o = { .pool_size = 1 << 20 };
	msgr_client *c;
	int err = msgr_attach(entity, &o, &c);

	CHECK(!err, "attach %s: %s", entity, msgr_strerror(err));
	return c;
}

static void expect(msgr_client *c, struct msgr_event *ev, enum msgr_event_type t)
{
	int err = msgr_next(c, ev, 5000);

	CHECK(!err, "waiting for event %d: %s", t, msgr_strerror(err));
	CHECK(ev->type == t, "expected event %d, got %d (error %d)", t, ev->type, ev->error);
}

static int sc_sendv_overflow(void)
{
	msgr_client *c = attach("client.ov");
	struct msgr_event ev;
	char x[2] = "xy";
	/* sums to 1 (and to 0) modulo 2^64: a wrapped sum would copy from
	 * these few bytes for ever */
	struct iovec one[2] = { { x, SIZE_MAX }, { x, 2 } };
	struct iovec zero[2] = { { x, SIZE_MAX / 2 + 1 }, { x, SIZE_MAX / 2 + 1 } };
	msgr_conn *k;
	int err;

	CHECK(!msgr_connect(c, msgr_addr(c), MSGR_LOSSY, &k), "connect to self");
	err = msgr_sendv(k, 1, one, 2);
	CHECK(err == -EMSGSIZE, "sum past SIZE_MAX to 1: %d (%s)", err, msgr_strerror(err));
	err = msgr_sendv(k, 1, zero, 2);
	CHECK(err == -EMSGSIZE, "sum past SIZE_MAX to 0: %d (%s)", err, msgr_strerror(err));
	/* the connection is still good */
	CHECK(!msgr_sendv(k, 7, one + 1, 1), "a good sendv after the bad ones");
	for (int seen = 0; seen < 3; seen++) {
		err = msgr_next(c, &ev, 5000);
		CHECK(!err, "msgr_next: %s", msgr_strerror(err));
		if (ev.type == MSGR_EV_MESSAGE) {
			CHECK(ev.msg_type == 7 && ev.len == 2, "message %u of %zu bytes", ev.msg_type, ev.len);
			msgr_event_release(c, &ev);
		}
	}
	msgr_detach(c);
	printf("ok\n");
	return 0;
}

static int sc_accept_nomem(void)
{
	msgr_client *ca = attach("client.nm"), *cb = attach("osd.nm");
	struct msgr_event ev;
	msgr_conn *a, *b;
	int err;

	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &a), "connect");
	CHECK(!msgr_send(a, 1, "x", 1), "send");
	expect(ca, &ev, MSGR_EV_CONNECTED);
	/* the acceptor cannot make a handle for it: nothing it is given may
	 * name the connection, and the daemon must hear that nobody owns it */
	fail_calloc = 1;
	err = msgr_next(cb, &ev, 300);
	fail_calloc = 0;
	CHECK(err == -EAGAIN, "acceptor without memory got event %d (%s)", err ? 0 : ev.type,
	      msgr_strerror(err));
	err = msgr_next(ca, &ev, 5000);
	CHECK(!err && ev.type == MSGR_EV_RESET && ev.conn == a,
	      "the connecting side was not reset: %s, event %d", msgr_strerror(err), err ? 0 : ev.type);
	CHECK(msgr_send(a, 1, "x", 1) == -ECONNRESET, "send after RESET");
	err = msgr_next(cb, &ev, 300);
	CHECK(err == -EAGAIN, "acceptor got event %d for the closed connection", err ? 0 : ev.type);
	msgr_conn_close(a);
	/* with memory again, the next one is accepted as usual */
	CHECK(!msgr_connect(ca, msgr_addr(cb), MSGR_LOSSY, &a), "connect again");
	CHECK(!msgr_send(a, 2, "y", 1), "send again");
	expect(cb, &ev, MSGR_EV_ACCEPTED);
	b = ev.conn;
	expect(cb, &ev, MSGR_EV_MESSAGE);
	CHECK(ev.conn == b && ev.msg_type == 2, "message on the accepted handle");
	msgr_event_release(cb, &ev);
	msgr_detach(ca);
	msgr_detach(cb);
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2)
		fail("usage: msgr-libfaults SCENARIO");
	scenario = argv[1];
	if (!strcmp(scenario, "attach-fds"))
		return sc_attach_fds();
	if (!strcmp(scenario, "sendv-overflow"))
		return sc_sendv_overflow();
	if (!strcmp(scenario, "accept-nomem"))
		return sc_accept_nomem();
	fail("unknown scenario");
	return 1;
}
